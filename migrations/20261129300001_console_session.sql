-- Operator console sessions (issue 19). The operator pastes an API key once; the console keeps
-- only a random session token's SHA-256 here, tied to that key: revoking the key ends every
-- session made with it (the look-up joins api_key and requires revoked_at IS NULL), and a
-- session also ends at expires_at or when its operator signs out (ended_at).
-- Not tenant-scoped: like api_key, it is looked up by hash before the tenant is known (system path).
CREATE TABLE console_session (
    id          uuid        PRIMARY KEY,
    token_hash  bytea       NOT NULL UNIQUE,
    key_id      uuid        NOT NULL REFERENCES api_key (id) ON DELETE CASCADE,
    -- Compared with the `csrf` field of every state-changing form.
    csrf_token  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    ended_at    timestamptz
);
CREATE INDEX console_session_key_idx ON console_session (key_id);
-- Only the system path reads or writes sessions; the request role never needs them.
REVOKE ALL ON console_session FROM switchboard_app;
