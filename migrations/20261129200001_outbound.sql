-- The outbound queue (seed 003, part 1): runs of leads dialled at a per-business cap.

-- A business's cap on live outbound calls, across every replica and every run.
ALTER TABLE tenant ADD COLUMN outbound_max_concurrent integer NOT NULL DEFAULT 3
    CHECK (outbound_max_concurrent BETWEEN 1 AND 1000);

-- One row per business that has dialled: the lock that serializes slot taking for that business
-- across replicas (SELECT … FOR UPDATE), and its turn for the shared pace: round robin by
-- last_turn (a sequence, not a time: ties under one clock tick still take turns).
CREATE SEQUENCE outbound_turn;
CREATE TABLE outbound_business (
    tenant_id     uuid        PRIMARY KEY REFERENCES tenant (id),
    last_turn     bigint      NOT NULL DEFAULT 0
);

CREATE TABLE outbound_run (
    id                uuid        PRIMARY KEY,
    tenant_id         uuid        NOT NULL REFERENCES tenant (id),
    name              text        NOT NULL,
    from_number       text        NOT NULL,
    -- {"say": "…"} | {"connect": "+1…"} | {"twiml_url": "https://…"}
    script            jsonb       NOT NULL,
    max_concurrent    integer     NOT NULL CHECK (max_concurrent BETWEEN 1 AND 1000),
    status            text        NOT NULL CHECK (status IN ('pending', 'running', 'paused', 'completed',
                                                             'cancelled', 'stopped', 'failed')),
    cancel_requested  boolean     NOT NULL DEFAULT false,
    failure_reason    text,
    -- When a started run begins dialling (start now, or `{"at"}`).
    start_at          timestamptz,
    started_at        timestamptz,
    ended_at          timestamptz,
    -- The API key that created it.
    created_by        uuid        NOT NULL,
    next_seq          bigint      NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX outbound_run_list_idx ON outbound_run (tenant_id, created_at, id);
CREATE INDEX outbound_run_active_idx ON outbound_run (status) WHERE status IN ('pending', 'running');

-- One lead of a run. A job holds a slot of its business while `in_progress` (create queued, sent
-- or the call live); the slot is leased (slot_expires_at) so a lost callback or an ambiguous
-- create is settled by the worker instead of holding it forever.
CREATE TABLE outbound_job (
    id                uuid        PRIMARY KEY,
    tenant_id         uuid        NOT NULL REFERENCES tenant (id),
    run_id            uuid        NOT NULL REFERENCES outbound_run (id),
    lead_id           text        NOT NULL,
    number            text        NOT NULL,
    name              text,
    timezone          text,
    data              jsonb,
    -- Upload order: leads are dialled in it.
    seq               bigint      NOT NULL,
    status            text        NOT NULL CHECK (status IN ('queued', 'in_progress', 'completed', 'failed',
                                                             'cancelled', 'skipped', 'duplicate')),
    -- answered | busy | no_answer | failed | canceled | … (the call's end), or why it was skipped.
    outcome           text,
    reason            text,
    -- Attempts made (part 2 retries by outcome; each attempt is its own effect).
    attempts          integer     NOT NULL DEFAULT 0,
    attempt_token     text,
    call_sid          text,
    slot_expires_at   timestamptz,
    -- Stop-queue: hang the call up as soon as its SID is known.
    hangup_requested  boolean     NOT NULL DEFAULT false,
    dialled_at        timestamptz,
    ended_at          timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    UNIQUE (run_id, lead_id)
);
CREATE INDEX outbound_job_queue_idx ON outbound_job (run_id, seq) WHERE status = 'queued';
CREATE INDEX outbound_job_live_idx ON outbound_job (tenant_id, run_id) WHERE status = 'in_progress';
CREATE INDEX outbound_job_lease_idx ON outbound_job (slot_expires_at) WHERE status = 'in_progress';
CREATE INDEX outbound_job_number_idx ON outbound_job (run_id, number);
-- Upload order: the jobs list's keyset, and unique (positions are given under the run's lock).
CREATE UNIQUE INDEX outbound_job_seq_idx ON outbound_job (run_id, seq);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['outbound_business', 'outbound_run', 'outbound_job'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO switchboard_app USING (tenant_id = current_tenant_id())
                        WITH CHECK (tenant_id = current_tenant_id())', t || '_isolation', t);
    END LOOP;
END
$$;
