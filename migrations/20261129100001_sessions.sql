-- Call sessions (seed 001, part 1): a scheduled two-party call (client and reader) held in a
-- Twilio conference. Recording controls (part 2) and sirens (part 3) hang off these rows: the
-- legs keep their CallSids, the session its conference SID and both parties' subjects.
CREATE TABLE call_session (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenant (id),
    order_id         text        NOT NULL,
    client_subject   text        NOT NULL,
    client_address   text        NOT NULL,
    reader_subject   text        NOT NULL,
    reader_address   text        NOT NULL,
    scheduled_at     timestamptz NOT NULL,
    -- The IANA zone the local time was given in (null when the time carried an offset).
    timezone         text,
    duration_minutes integer     NOT NULL CHECK (duration_minutes BETWEEN 1 AND 720),
    record           boolean     NOT NULL,
    auto_start       boolean     NOT NULL,
    status           text        NOT NULL CHECK (status IN ('scheduled', 'initiating', 'ringing', 'in_progress',
                         'completed', 'cancelled', 'no_answer', 'failed', 'dropped_by_monitor',
                         'dropped_by_reader', 'dropped_by_client')),
    ended_reason     text,
    initiated_by     text,
    -- Learned from the conference's events; every later conference request names it.
    conference_sid   text        UNIQUE,
    -- When the session worker next acts: the auto start, the dial timeout, the time-limit warning
    -- or the time limit (null when nothing is due). Claimed with FOR UPDATE SKIP LOCKED.
    deadline_at      timestamptz,
    started_at       timestamptz,
    connected_at     timestamptz,
    warned_at        timestamptz,
    ended_at         timestamptz,
    duration_sec     integer,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
-- One active session per order: a second booking is a 409, enforced here so two racing
-- requests cannot both win.
CREATE UNIQUE INDEX call_session_active_order_idx ON call_session (tenant_id, order_id)
    WHERE status IN ('scheduled', 'initiating', 'ringing', 'in_progress');
CREATE INDEX call_session_deadline_idx ON call_session (deadline_at) WHERE deadline_at IS NOT NULL;
CREATE INDEX call_session_list_idx ON call_session (tenant_id, scheduled_at, id);
CREATE INDEX call_session_client_idx ON call_session (tenant_id, client_subject);
CREATE INDEX call_session_reader_idx ON call_session (tenant_id, reader_subject);
CREATE INDEX call_session_order_idx ON call_session (tenant_id, order_id, created_at);

-- Each party's leg: the effects attempt that dials it, its CallSid once known, and when it
-- joined and left the conference.
CREATE TABLE call_session_leg (
    session_id    uuid        NOT NULL REFERENCES call_session (id),
    party         text        NOT NULL CHECK (party IN ('client', 'reader')),
    tenant_id     uuid        NOT NULL REFERENCES tenant (id),
    attempt_token text        NOT NULL UNIQUE,
    call_sid      text        UNIQUE,
    status        text        NOT NULL DEFAULT 'requested',
    joined_at     timestamptz,
    left_at       timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (session_id, party)
);

ALTER TABLE call_session ENABLE ROW LEVEL SECURITY;
CREATE POLICY call_session_isolation ON call_session TO switchboard_app
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE call_session_leg ENABLE ROW LEVEL SECURITY;
CREATE POLICY call_session_leg_isolation ON call_session_leg TO switchboard_app
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
