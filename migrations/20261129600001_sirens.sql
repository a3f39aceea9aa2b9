-- Sirens (seed 001, part 3): an alert raised on a call session that the monitor team
-- acknowledges and resolves; an emergency left active escalates to the duty officers by text.
-- And the subject in the database: request transactions of client and reader keys set
-- `switchboard.role` and `switchboard.subject` (transaction-local, like the tenant), and the
-- policies below let a client see the sessions of its subject, a reader those assigned to it,
-- and every other role (and the system paths, which set no role) the tenant's.

ALTER TABLE call_session ADD COLUMN siren_triggered boolean NOT NULL DEFAULT false;
ALTER TABLE tenant ADD COLUMN siren_escalate_after_secs integer NOT NULL DEFAULT 120
    CHECK (siren_escalate_after_secs BETWEEN 10 AND 86400);

CREATE TABLE siren (
    id                uuid        PRIMARY KEY,
    tenant_id         uuid        NOT NULL REFERENCES tenant (id),
    session_id        uuid        NOT NULL REFERENCES call_session (id),
    alert_type        text        NOT NULL CHECK (alert_type IN ('emergency', 'quality_issue',
                          'technical_problem', 'inappropriate_behavior')),
    reason            text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('active', 'acknowledged', 'resolved', 'false_alarm')),
    -- Who raised it: `operator:{key id}`, and the key's role.
    triggered_by      text        NOT NULL,
    triggered_role    text        NOT NULL,
    acknowledged_by   text,
    acknowledged_at   timestamptz,
    resolved_by       text,
    resolved_at       timestamptz,
    resolution_note   text,
    -- An active emergency's escalation time (null once acknowledged, resolved or escalated).
    -- Claimed with FOR UPDATE SKIP LOCKED; each officer's text is an effect keyed by siren and officer.
    escalate_at       timestamptz,
    escalated_at      timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX siren_session_idx ON siren (session_id, created_at);
CREATE INDEX siren_list_idx ON siren (tenant_id, created_at, id);
CREATE INDEX siren_escalate_idx ON siren (escalate_at) WHERE escalate_at IS NOT NULL;

-- Whether the current request may see a session with these parties: a client key the sessions
-- of its subject, a reader key those assigned to it; superadmin, admin and monitor keys, and the
-- system paths (workers, webhooks: no role set), the tenant's. Any other role sees nothing.
CREATE FUNCTION session_subject_visible(client text, reader text) RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT CASE coalesce(current_setting('switchboard.role', true), '')
        WHEN '' THEN true
        WHEN 'superadmin' THEN true
        WHEN 'admin' THEN true
        WHEN 'monitor' THEN true
        WHEN 'client' THEN client = current_setting('switchboard.subject', true)
        WHEN 'reader' THEN reader = current_setting('switchboard.subject', true)
        ELSE false
    END
$$;

DROP POLICY call_session_isolation ON call_session;
CREATE POLICY call_session_isolation ON call_session TO switchboard_app
    USING (tenant_id = current_tenant_id() AND session_subject_visible(client_subject, reader_subject))
    WITH CHECK (tenant_id = current_tenant_id() AND session_subject_visible(client_subject, reader_subject));

-- A leg (and a siren) is visible when its session is: the subquery runs under call_session's
-- own policy.
DROP POLICY call_session_leg_isolation ON call_session_leg;
CREATE POLICY call_session_leg_isolation ON call_session_leg TO switchboard_app
    USING (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM call_session s WHERE s.id = session_id))
    WITH CHECK (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM call_session s WHERE s.id = session_id));

ALTER TABLE siren ENABLE ROW LEVEL SECURITY;
CREATE POLICY siren_isolation ON siren TO switchboard_app
    USING (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM call_session s WHERE s.id = session_id))
    WITH CHECK (tenant_id = current_tenant_id() AND EXISTS (SELECT 1 FROM call_session s WHERE s.id = session_id));
