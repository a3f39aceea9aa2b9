-- Tenancy and access (DESIGN.md §5 "Roles and row-level security").
--
-- The application connects as the schema owner (it runs these migrations). Request-scoped
-- transactions switch to switchboard_app (SET LOCAL ROLE), a NOLOGIN role without BYPASSRLS, and
-- set switchboard.tenant_id; tenant tables have RLS ENABLED (not FORCED), so the owner remains the
-- explicit system path while switchboard_app sees only the current tenant's rows — and nothing at
-- all when no tenant is set.

-- Roles are cluster-wide and parallel test databases migrate at once: create it idempotently and
-- tolerate losing the race.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'switchboard_app') THEN
        BEGIN
            CREATE ROLE switchboard_app NOLOGIN NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT switchboard_app TO %I', current_user);
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO switchboard_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO switchboard_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO switchboard_app;

-- The tenant of the current request transaction, or NULL. NULLIF matters: on a pooled connection
-- the setting reads '' after an earlier transaction set it locally.
CREATE FUNCTION current_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('switchboard.tenant_id', true), '')::uuid $$;

-- A business.
CREATE TABLE tenant (
    id                      uuid        PRIMARY KEY,
    slug                    text        NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name                    text        NOT NULL,
    status                  text        NOT NULL CHECK (status IN ('active', 'suspended')),
    timezone                text        NOT NULL,
    owner_number            text,
    dial_timeout_secs       integer     NOT NULL CHECK (dial_timeout_secs BETWEEN 5 AND 600),
    -- {"mon": [["09:00","17:00"]], …}; NULL = open around the clock.
    business_hours          jsonb,
    holidays                date[]      NOT NULL DEFAULT '{}',
    after_hours             text        NOT NULL CHECK (after_hours IN ('voicemail', 'message', 'forward')),
    screen_forwarded_calls  boolean     NOT NULL,
    text_back_enabled       boolean     NOT NULL,
    text_back_template      text        NOT NULL,
    text_back_window_hours  integer     NOT NULL CHECK (text_back_window_hours > 0),
    duty_officers           text[]      NOT NULL DEFAULT '{}',
    approval_risk_threshold double precision NOT NULL CHECK (approval_risk_threshold BETWEEN 0 AND 5),
    approval_timeout_secs   integer     NOT NULL CHECK (approval_timeout_secs > 0),
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL
);
CREATE INDEX tenant_created_idx ON tenant (created_at, id);
ALTER TABLE tenant ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant TO switchboard_app
    USING (id = current_tenant_id()) WITH CHECK (id = current_tenant_id());

-- A business's phone numbers. The primary key makes a number belong to one tenant at most.
CREATE TABLE tenant_number (
    number      text        PRIMARY KEY,
    tenant_id   uuid        NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
    role        text        NOT NULL CHECK (role IN ('primary', 'secondary')),
    status      text        NOT NULL CHECK (status IN ('provisioning', 'active', 'released')),
    label       text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX tenant_number_tenant_idx ON tenant_number (tenant_id, created_at);
-- One primary number per tenant (the caller id of calls and texts we create).
CREATE UNIQUE INDEX tenant_number_one_primary ON tenant_number (tenant_id) WHERE role = 'primary';
ALTER TABLE tenant_number ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_number_isolation ON tenant_number TO switchboard_app
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());

-- Operator API keys. Only the SHA-256 of the token is kept; the token is shown once.
CREATE TABLE api_key (
    id            uuid        PRIMARY KEY,
    tenant_id     uuid        REFERENCES tenant (id) ON DELETE CASCADE,
    role          text        NOT NULL CHECK (role IN ('superadmin', 'admin', 'monitor', 'client', 'reader')),
    subject       text,
    name          text        NOT NULL,
    token_hash    bytea       NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    -- A superadmin key belongs to no tenant; every other key to exactly one.
    CHECK ((role = 'superadmin') = (tenant_id IS NULL)),
    -- Clients and readers see only their own orders: they need a subject.
    CHECK (role NOT IN ('client', 'reader') OR subject IS NOT NULL)
);
CREATE INDEX api_key_tenant_idx ON api_key (tenant_id, created_at);
ALTER TABLE api_key ENABLE ROW LEVEL SECURITY;
CREATE POLICY api_key_isolation ON api_key TO switchboard_app
    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());

-- Idempotent creates: the first answer to (caller key, Idempotency-Key) within 24 h is replayed.
-- Claimed with INSERT … ON CONFLICT in the creating transaction, so racing repeats wait for the
-- first and then read its answer.
CREATE TABLE idempotent_request (
    api_key_id   uuid        NOT NULL REFERENCES api_key (id) ON DELETE CASCADE,
    key          text        NOT NULL,
    tenant_id    uuid,
    fingerprint  bytea       NOT NULL,
    status       smallint    NOT NULL,
    location     text,
    body         bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, key)
);
CREATE INDEX idempotent_request_created_idx ON idempotent_request (created_at);
ALTER TABLE idempotent_request ENABLE ROW LEVEL SECURITY;
CREATE POLICY idempotent_request_isolation ON idempotent_request TO switchboard_app
    USING (tenant_id IS NOT DISTINCT FROM current_tenant_id())
    WITH CHECK (tenant_id IS NOT DISTINCT FROM current_tenant_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON tenant, tenant_number, api_key, idempotent_request TO switchboard_app;
GRANT EXECUTE ON FUNCTION current_tenant_id() TO switchboard_app;
