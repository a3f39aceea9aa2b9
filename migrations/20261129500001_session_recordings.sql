-- Recording controls of call sessions (seed 001, part 2). One control row per session: what the
-- recording is (`status`), what was asked and not yet confirmed (`requested`), the consent
-- notice, and the last refusal. `seq` numbers the controls so each Twilio request has its own
-- outbox key (exactly once each).
CREATE TABLE session_recording_control (
    session_id          uuid        PRIMARY KEY REFERENCES call_session (id),
    tenant_id           uuid        NOT NULL REFERENCES tenant (id),
    status              text        NOT NULL DEFAULT 'stopped' CHECK (status IN ('stopped', 'recording', 'paused')),
    requested           text        CHECK (requested IN ('stopped', 'recording', 'paused')),
    -- The recording being controlled (never shown to anyone).
    current_sid         text,
    seq                 integer     NOT NULL DEFAULT 0,
    notice_requested_at timestamptz,
    notice_played_at    timestamptz,
    error_code          bigint,
    updated_at          timestamptz NOT NULL
);

-- Each recording of a session, from the start's answer and the RecordingStatusCallback. The SID
-- and the media URL are private: the API shows the id and signed links only.
CREATE TABLE session_recording (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenant (id),
    session_id       uuid        NOT NULL REFERENCES call_session (id),
    sid              text        NOT NULL UNIQUE,
    party            text        NOT NULL CHECK (party IN ('client', 'reader')),
    status           text        NOT NULL CHECK (status IN ('in_progress', 'completed', 'absent', 'failed')),
    duration_sec     integer,
    channels         integer,
    started_at       timestamptz,
    ended_at         timestamptz,
    notice_played_at timestamptz,
    media_url        text,
    deleted_at       timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX session_recording_session_idx ON session_recording (tenant_id, session_id, created_at);

ALTER TABLE session_recording_control ENABLE ROW LEVEL SECURITY;
CREATE POLICY session_recording_control_isolation ON session_recording_control TO switchboard_app
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE session_recording ENABLE ROW LEVEL SECURITY;
CREATE POLICY session_recording_isolation ON session_recording TO switchboard_app
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());

-- Days a tenant keeps its session recordings (null: until deleted by hand); the
-- `recording-retention` worker deletes older ones, at Twilio too.
ALTER TABLE tenant ADD COLUMN recording_retention_days integer CHECK (recording_retention_days BETWEEN 1 AND 3650);
CREATE INDEX session_recording_retention_idx ON session_recording (created_at) WHERE deleted_at IS NULL;
