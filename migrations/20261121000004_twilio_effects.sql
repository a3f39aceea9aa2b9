-- Twilio effects (DESIGN.md §5 "Twilio effects are exactly-once by construction").

-- One attempt to create a call or message at Twilio. Its token is in every callback URL we give
-- Twilio, so the first callback proves the create happened and binds the SID, even when the
-- create's answer was lost.
CREATE TABLE twilio_attempt (
    token            text        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenant (id),
    kind             text        NOT NULL CHECK (kind IN ('call', 'message')),
    owner_domain     text        NOT NULL,
    owner_id         text        NOT NULL,
    outbox_id        uuid        NOT NULL UNIQUE REFERENCES outbox_message (id),
    request          jsonb       NOT NULL,
    -- queued: not sent; sending: sent, answer not yet saved (a crash here is an unknown outcome);
    -- created: SID bound; unknown: timeout/5xx, waiting for a callback or reconciliation;
    -- failed: Twilio refused it; parked: ambiguous, for an operator; cancelled: not wanted/vetoed.
    state            text        NOT NULL
                     CHECK (state IN ('queued', 'sending', 'created', 'unknown', 'failed', 'parked', 'cancelled')),
    sid              text        UNIQUE,
    sent_at          timestamptz,
    reconcile_after  timestamptz,
    -- A create that reconciliation proved absent is retried once; after that, doubt parks it.
    retried          boolean     NOT NULL DEFAULT false,
    last_error       text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- The one ledger of calls, keyed by SID, shared by every domain.
CREATE TABLE twilio_call (
    sid              text        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenant (id),
    parent_sid       text,
    direction        text,
    from_address     text,
    to_address       text,
    status           text        NOT NULL,
    -- Fallback precedence when a callback has no SequenceNumber: queued < ringing < in-progress < ended.
    status_rank      smallint    NOT NULL,
    -- Voice callbacks carry a 0-based SequenceNumber: a lower one never overwrites a higher one.
    sequence_number  integer,
    answered_by      text,
    duration_secs    integer,
    owner_domain     text,
    owner_id         text,
    attempt_token    text        REFERENCES twilio_attempt (token),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX twilio_call_owner_idx ON twilio_call (owner_domain, owner_id);
CREATE INDEX twilio_call_parent_idx ON twilio_call (parent_sid);

-- The ledger of messages. Message callbacks have no sequence: status rank decides.
CREATE TABLE twilio_message (
    sid              text        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenant (id),
    status           text        NOT NULL,
    status_rank      smallint    NOT NULL,
    error_code       integer,
    owner_domain     text,
    owner_id         text,
    attempt_token    text        REFERENCES twilio_attempt (token),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX twilio_message_owner_idx ON twilio_message (owner_domain, owner_id);

-- Recordings of calls in the ledger.
CREATE TABLE twilio_recording (
    sid              text        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenant (id),
    call_sid         text,
    status           text        NOT NULL,
    duration_secs    integer,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- Account-wide pacing: one token bucket per kind, shared by every replica.
CREATE TABLE twilio_pace (
    kind        text             PRIMARY KEY CHECK (kind IN ('call', 'message')),
    tokens      double precision NOT NULL,
    updated_at  timestamptz      NOT NULL
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['twilio_attempt', 'twilio_call', 'twilio_message', 'twilio_recording'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO switchboard_app USING (tenant_id = current_tenant_id())
                        WITH CHECK (tenant_id = current_tenant_id())', t || '_isolation', t);
    END LOOP;
END
$$;
