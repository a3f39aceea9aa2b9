-- Parked messages are looked up by reason and owning domain: a replica releases the ones parked as
-- `unknown_owner_domain` whose domain it knows (rolling deploys). Parked rows are few; the
-- partial index keeps that look-up off the delivered history.
CREATE INDEX outbox_parked_idx ON outbox_message (owner_domain) WHERE status = 'parked';
