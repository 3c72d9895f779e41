-- 7: decaying counters shared by every node (relay.SharedCounters), such as
-- the recent registrations that set the proof of work asked. UNLOGGED, as
-- rate_buckets: a crash empties it, which each node's own count covers.
CREATE UNLOGGED TABLE counters (
	key   bytea PRIMARY KEY,
	value double precision NOT NULL,
	at    bigint NOT NULL -- Unix nanoseconds the value was brought up to
);
