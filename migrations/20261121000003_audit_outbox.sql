-- Audit log and outbox (DESIGN.md §5).

-- An insert-only, hash-chained record of every decision, written in the acting transaction.
-- hash = sha256(prev_hash || canonical(event as stored)); `switchboard audit verify` recomputes it.
CREATE TABLE audit_event (
    id           uuid        PRIMARY KEY,
    tenant_id    uuid        NOT NULL REFERENCES tenant (id),
    -- Per tenant, from 1, without gaps: assigned under the tenant's audit_head row lock.
    sequence     bigint      NOT NULL,
    -- From the application clock, strictly increasing within a tenant.
    occurred_at  timestamptz NOT NULL,
    actor_kind   text        NOT NULL CHECK (actor_kind IN ('operator', 'twilio', 'system')),
    actor_id     text        NOT NULL,
    action       text        NOT NULL,
    entity_type  text        NOT NULL,
    entity_id    text        NOT NULL,
    request_id   text,
    data         jsonb       NOT NULL,
    prev_hash    bytea       NOT NULL,
    hash         bytea       NOT NULL,
    UNIQUE (tenant_id, sequence)
);
CREATE INDEX audit_event_entity_idx ON audit_event (tenant_id, entity_type, entity_id, sequence);
CREATE INDEX audit_event_action_idx ON audit_event (tenant_id, action, sequence);

CREATE FUNCTION audit_event_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is insert-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_insert_only();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_insert_only();

-- The head of each tenant's chain. Locking this row serializes appends per tenant (and only per
-- tenant: other tenants append concurrently).
CREATE TABLE audit_head (
    tenant_id    uuid        PRIMARY KEY REFERENCES tenant (id),
    sequence     bigint      NOT NULL,
    hash         bytea       NOT NULL,
    occurred_at  timestamptz NOT NULL
);

ALTER TABLE audit_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_event_isolation ON audit_event TO switchboard_app
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
ALTER TABLE audit_head ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_head_isolation ON audit_head TO switchboard_app
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT ON audit_event TO switchboard_app;
GRANT SELECT, INSERT, UPDATE ON audit_head TO switchboard_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM switchboard_app;

-- Every effect outside the database, written in the acting transaction and delivered at least once
-- by the outbox worker with a stable id (the webhook-id receivers deduplicate on).
CREATE TABLE outbox_message (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL REFERENCES tenant (id),
    kind             text        NOT NULL,
    destination      text        NOT NULL,
    payload          jsonb       NOT NULL,
    -- Enqueueing the same effect twice is a no-op (ON CONFLICT DO NOTHING).
    idempotency_key  text        NOT NULL UNIQUE,
    -- The domain and entity that asked, consulted before delivery ("still wanted?").
    owner_domain     text,
    owner_id         text,
    -- Higher first (an officer call before a dialer batch).
    priority         smallint    NOT NULL DEFAULT 0,
    status           text        NOT NULL
                     CHECK (status IN ('pending', 'delivering', 'delivered', 'parked', 'dead', 'cancelled')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    -- Who holds the delivery and until when; an expired lease is redelivered (crash recovery).
    lease_id         uuid,
    lease_expires_at timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    delivered_at     timestamptz
);
CREATE INDEX outbox_due_idx ON outbox_message (tenant_id, priority DESC, next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_lease_idx ON outbox_message (lease_expires_at) WHERE status = 'delivering';
CREATE INDEX outbox_list_idx ON outbox_message (tenant_id, created_at, id);

ALTER TABLE outbox_message ENABLE ROW LEVEL SECURITY;
CREATE POLICY outbox_message_isolation ON outbox_message TO switchboard_app
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT, UPDATE ON outbox_message TO switchboard_app;
