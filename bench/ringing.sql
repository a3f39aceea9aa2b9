-- The rows the ringing webhook commits per call (the routing is cached): the call and its
-- call.incoming notification, as two inserts in one transaction per call (the server writes the
-- same rows for a whole batch in one statement). :tenant is set by bench/run.
\set num random(0, 4)
BEGIN;
INSERT INTO inbound_call (call_sid, tenant_id, from_address, to_number, status, status_rank, after_hours, screened,
  started_at, created_at, updated_at)
VALUES ('CA' || md5(random()::text || clock_timestamp()::text), :tenant::uuid, '+12025550177', '+1202555010' || :num,
  'ringing', 1, false, false, now(), now(), now())
ON CONFLICT (call_sid) DO NOTHING;
INSERT INTO outbox_message (id, tenant_id, kind, destination, payload, idempotency_key, owner_domain, owner_id, priority,
  status, next_attempt_at, created_at, updated_at)
VALUES (gen_random_uuid(), :tenant::uuid, 'call.incoming', 'call_service',
  '{"call_sid": "CA0", "from": "+12025550177", "to": "+12025550100", "tenant_id": "x", "status": "ringing", "direction": "inbound", "at": "2026-11-23T15:00:00.000Z"}'::jsonb,
  'call.incoming:' || md5(random()::text || clock_timestamp()::text), NULL, NULL, 5, 'pending', now(), now(), now())
ON CONFLICT (idempotency_key) DO NOTHING;
COMMIT;
