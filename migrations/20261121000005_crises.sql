-- Crisis approvals (seed 000): every crisis is its own durable record, every officer call is tied
-- to exactly one crisis, and the decision is taken once, under the crisis's row lock.
CREATE TABLE crisis (
    id                 uuid             PRIMARY KEY,
    tenant_id          uuid             NOT NULL REFERENCES tenant (id),
    type               text             NOT NULL,
    description        text             NOT NULL,
    location           text             NOT NULL,
    risk_score         double precision NOT NULL CHECK (risk_score BETWEEN 0 AND 5),
    decision           jsonb            NOT NULL,
    status             text             NOT NULL
                       CHECK (status IN ('pending_approval', 'dispatched', 'dispatch_skipped', 'rejected', 'expired')),
    approval_deadline  timestamptz,
    decided_at         timestamptz,
    decided_by         text,
    decision_reason    text,
    -- Which duty officer is being called (0-based), and whether every one was tried.
    officer_index      integer          NOT NULL DEFAULT 0,
    escalation_exhausted boolean        NOT NULL DEFAULT false,
    created_at         timestamptz      NOT NULL,
    updated_at         timestamptz      NOT NULL
);
CREATE INDEX crisis_deadline_idx ON crisis (approval_deadline) WHERE status = 'pending_approval';
CREATE INDEX crisis_list_idx ON crisis (tenant_id, created_at, id);

-- Each call to a duty officer: the attempt token ties it to exactly one crisis.
CREATE TABLE approval_call (
    attempt_token   text        PRIMARY KEY,
    crisis_id       uuid        NOT NULL REFERENCES crisis (id),
    tenant_id       uuid        NOT NULL REFERENCES tenant (id),
    officer_number  text        NOT NULL,
    officer_index   integer     NOT NULL,
    call_sid        text        UNIQUE,
    status          text        NOT NULL DEFAULT 'requested',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (crisis_id, officer_index)
);

ALTER TABLE crisis ENABLE ROW LEVEL SECURITY;
CREATE POLICY crisis_isolation ON crisis TO switchboard_app
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE approval_call ENABLE ROW LEVEL SECURITY;
CREATE POLICY approval_call_isolation ON approval_call TO switchboard_app
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
