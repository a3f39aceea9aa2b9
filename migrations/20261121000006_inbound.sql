-- Inbound calls and SMS (seed 002).

-- A call to a business number, from the first ringing to its end.
CREATE TABLE inbound_call (
    call_sid          text        PRIMARY KEY,
    tenant_id         uuid        NOT NULL REFERENCES tenant (id),
    from_address      text        NOT NULL,
    to_number         text        NOT NULL,
    status            text        NOT NULL,
    -- queued/ringing < in-progress < ended: later callbacks never move a call backwards.
    status_rank       smallint    NOT NULL,
    sequence_number   integer,
    after_hours       boolean     NOT NULL DEFAULT false,
    screened          boolean     NOT NULL DEFAULT false,
    -- The owner pressed 1 on the screening prompt.
    accepted          boolean     NOT NULL DEFAULT false,
    -- answered or missed, from the dial result.
    outcome           text        CHECK (outcome IN ('answered', 'missed')),
    missed_reason     text,
    dial_duration_secs integer,
    duration_secs     integer,
    voicemail_recording_sid text,
    voicemail_url     text,
    voicemail_duration_secs integer,
    voicemail_status  text,
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX inbound_call_list_idx ON inbound_call (tenant_id, started_at, call_sid);

-- The sliding text-back window per caller: a row per (tenant, caller) holds the last text-back;
-- the conditional upsert is the exactly-once decision (no check-then-insert).
CREATE TABLE text_back_window (
    tenant_id     uuid        NOT NULL REFERENCES tenant (id),
    caller        text        NOT NULL,
    last_sent_at  timestamptz NOT NULL,
    call_sid      text        NOT NULL,
    PRIMARY KEY (tenant_id, caller)
);

-- One conversation per (tenant, customer).
CREATE TABLE conversation (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenant (id),
    customer         text        NOT NULL,
    -- The business number the customer last wrote to (replies go from it).
    business_number  text        NOT NULL,
    last_message_at  timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    UNIQUE (tenant_id, customer)
);
CREATE INDEX conversation_list_idx ON conversation (tenant_id, last_message_at DESC, id);

CREATE TABLE conversation_message (
    id               uuid        PRIMARY KEY,
    conversation_id  uuid        NOT NULL REFERENCES conversation (id),
    tenant_id        uuid        NOT NULL REFERENCES tenant (id),
    direction        text        NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- Inbound: Twilio's MessageSid (unique: a redelivered SMS is stored once).
    message_sid      text        UNIQUE,
    body             text        NOT NULL,
    media            jsonb       NOT NULL DEFAULT '[]',
    -- Outbound: queued, then the ledger's status.
    status           text        NOT NULL,
    error_code       integer,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX conversation_message_idx ON conversation_message (conversation_id, created_at, id);

-- Customers who texted STOP (or whose number Twilio refused with 21610), per tenant: they get no
-- text from any of the tenant's numbers.
CREATE TABLE opt_out (
    tenant_id    uuid        NOT NULL REFERENCES tenant (id),
    number       text        NOT NULL,
    source       text        NOT NULL,
    opted_out_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, number)
);

-- What Twilio reported when it fell back (ErrorCode/ErrorUrl), for operators.
CREATE TABLE call_fallback (
    id          uuid        PRIMARY KEY,
    tenant_id   uuid        REFERENCES tenant (id),
    call_sid    text,
    error_code  text,
    error_url   text,
    created_at  timestamptz NOT NULL
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['inbound_call', 'text_back_window', 'conversation', 'conversation_message', 'opt_out'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO switchboard_app USING (tenant_id = current_tenant_id())
                        WITH CHECK (tenant_id = current_tenant_id())', t || '_isolation', t);
    END LOOP;
END
$$;
