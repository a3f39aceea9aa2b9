#!/usr/bin/env bash
# The ceilings of the rows every replica shares by design (docs/scaling.md, "What is serialized"):
# the pacing bucket (one twilio_pace row per kind, every Twilio create takes a token from it) and
# a tenant's audit head (every audited action of one tenant appends through it). pgbench against
# a throwaway, durable (fsync on) PostgreSQL with the application's schema, with the statements
# Switchboard runs (src/effects/pacing.rs, src/audit/mod.rs), in these shapes:
#   pace            every client takes a token from the same bucket (rate high enough never to wait)
#   audit-1-tenant  every client appends to one tenant's chain
#   audit-n-tenants each client appends to its own tenant's chain (the same work, not serialized)
#
#   bench/scaling/serialized.sh [clients (8)] [seconds (15)]
set -euo pipefail
cd "$(dirname "$0")/../.."
clients=${1:-8}
secs=${2:-15}
target=${CARGO_TARGET_DIR:-target}
tmp=$(mktemp -d /tmp/switchboard-serialized.XXXXXX)
chmod 755 "$tmp"
cleanup() { SWITCHBOARD_DEV_DB_DIR=$tmp/db scripts/dev-db stop >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
# Twice: dev-db's free-port probe can pick a port a lingering socket still holds.
url=$( (SWITCHBOARD_DEV_DB_DIR=$tmp/db scripts/dev-db || SWITCHBOARD_DEV_DB_DIR=$tmp/db scripts/dev-db) | tail -n 1)
url=${url#DATABASE_URL=}
DATABASE_URL=$url "$target/debug/switchboard" migrate >/dev/null
psql -q "$url" -v ON_ERROR_STOP=1 <<SQL
INSERT INTO tenant (id, slug, name, status, timezone, dial_timeout_secs, after_hours, screen_forwarded_calls,
    text_back_enabled, text_back_template, text_back_window_hours, approval_risk_threshold, approval_timeout_secs,
    created_at, updated_at)
SELECT ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid, 'bench-' || n, 'Bench ' || n, 'active', 'UTC',
       20, 'voicemail', false, false, 'x', 24, 3.0, 60, now(), now()
  FROM generate_series(0, $clients) n;
SQL
cat >"$tmp/pace.sql" <<'SQL'
INSERT INTO twilio_pace (kind, tokens, updated_at) VALUES ('call', 1e9, now()) ON CONFLICT (kind) DO NOTHING;
UPDATE twilio_pace
   SET tokens = LEAST(1e9, tokens + GREATEST(0, EXTRACT(EPOCH FROM (now() - updated_at))) * 1e9) - 1,
       updated_at = GREATEST(updated_at, now())
 WHERE kind = 'call' AND LEAST(1e9, tokens + GREATEST(0, EXTRACT(EPOCH FROM (now() - updated_at))) * 1e9) >= 1
 RETURNING tokens;
SQL
audit() { # $1: the tenant number expression
cat <<SQL
\set t $1
BEGIN;
INSERT INTO audit_head (tenant_id, sequence, hash, occurred_at)
     VALUES (('00000000-0000-0000-0000-' || lpad(:t::text, 12, '0'))::uuid, 0, '\\x00', 'epoch')
     ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id RETURNING sequence AS seq \gset
INSERT INTO audit_event (id, tenant_id, sequence, occurred_at, actor_kind, actor_id, action, entity_type, entity_id,
                         data, prev_hash, hash)
     VALUES (gen_random_uuid(), ('00000000-0000-0000-0000-' || lpad(:t::text, 12, '0'))::uuid, :seq + 1, now(),
             'system', 'bench', 'bench.append', 'bench', 'x', '{"n": 1}', '\\x00', sha256(random()::text::bytea));
UPDATE audit_head SET sequence = :seq + 1, occurred_at = now()
 WHERE tenant_id = ('00000000-0000-0000-0000-' || lpad(:t::text, 12, '0'))::uuid;
COMMIT;
SQL
}
audit 0 >"$tmp/audit-1.sql"
audit ':client_id + 1' >"$tmp/audit-n.sql"
for shape in pace:pace.sql audit-1-tenant:audit-1.sql audit-n-tenants:audit-n.sql; do
  name=${shape%%:*}
  tps=$(pgbench -n -c "$clients" -j 2 -T "$secs" -f "$tmp/${shape#*:}" "$url" 2>&1 | grep -E "^tps|latency average|failed" | tr '\n' ' ')
  echo "$name, $clients clients, $secs s: $tps"
done
