-- Webhook idempotency (DESIGN.md §2.3, TWILIO.md "Timing, retries, duplicates").
-- Twilio retries and duplicates webhooks, and a retry may land on another replica. The first
-- delivery claims its key here with INSERT … ON CONFLICT DO NOTHING in the same transaction as
-- its effects, and stores the answer it gave; a duplicate reads that answer back and runs no
-- effect. Rows older than 7 days are pruned by the receipt sweeper.
CREATE TABLE webhook_receipt (
    -- "<webhook kind>:<I-Twilio-Idempotency-Token>" or "<webhook kind>:<natural key>".
    key            text        PRIMARY KEY,
    kind           text        NOT NULL,
    response_status smallint   NOT NULL,
    content_type   text        NOT NULL,
    body           bytea       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- The sweeper deletes by age.
CREATE INDEX webhook_receipt_created_at_idx ON webhook_receipt (created_at);
