-- The one ordering rule for a call's status callbacks (src/twilio/order.rs, whose property tests
-- describe it; a test holds the two equal): an ended call (rank 4) never moves; with sequence
-- numbers on both sides the later callback wins; otherwise the higher rank does. Used by the
-- conditional updates of twilio_call and inbound_call, so a row changes in one statement.
CREATE FUNCTION call_status_supersedes(current_rank smallint, current_seq integer,
                                       new_rank smallint, new_seq integer)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT current_rank < 4 AND CASE WHEN new_seq IS NOT NULL AND current_seq IS NOT NULL
                                   THEN new_seq > current_seq
                                   ELSE new_rank > current_rank END
$$;
