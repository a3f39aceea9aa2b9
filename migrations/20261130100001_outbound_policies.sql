-- Outbound policies (seed 003, part 2): calling windows, retries by outcome, answering machines,
-- and the business's do-not-call list.

-- A run's policies as the API gave them: {"calling_window": …, "retry": …, "machine": …}; absent
-- keys take their defaults (the tenant's business hours, no retries, no machine detection).
ALTER TABLE outbound_run ADD COLUMN policy jsonb NOT NULL DEFAULT '{}';

-- `deferred`: waiting for `next_attempt_at` (the calling window's next opening, or a retry's delay).
ALTER TABLE outbound_job DROP CONSTRAINT outbound_job_status_check;
ALTER TABLE outbound_job ADD CONSTRAINT outbound_job_status_check
    CHECK (status IN ('queued', 'deferred', 'in_progress', 'completed', 'failed', 'cancelled', 'skipped', 'duplicate'));
ALTER TABLE outbound_job
    ADD COLUMN next_attempt_at timestamptz,
    -- The outcome of the latest attempt (the final one is `outcome`).
    ADD COLUMN last_outcome    text,
    -- Retries made per outcome: {"busy": 1, "no_answer": 1}.
    ADD COLUMN retries         jsonb NOT NULL DEFAULT '{}',
    -- Answering machine detection's verdict for the current attempt (its TwiML fetch).
    ADD COLUMN answered_by     text;
CREATE INDEX outbound_job_deferred_idx ON outbound_job (next_attempt_at) WHERE status = 'deferred';

-- The business's do-not-call list (besides numbers that texted STOP).
CREATE TABLE outbound_dnc (
    tenant_id   uuid        NOT NULL REFERENCES tenant (id),
    number      text        NOT NULL,
    reason      text,
    -- The API key that added it.
    created_by  uuid        NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, number)
);
ALTER TABLE outbound_dnc ENABLE ROW LEVEL SECURITY;
CREATE POLICY outbound_dnc_isolation ON outbound_dnc TO switchboard_app
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
