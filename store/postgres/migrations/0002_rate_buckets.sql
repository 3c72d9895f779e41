-- 2: rate-limit buckets shared by every node (Options.SharedRateLimits).
-- UNLOGGED: they need no durability (a crash empties the table, which only
-- refills every bucket), and their updates write no WAL and wait for no
-- fsync.
CREATE UNLOGGED TABLE rate_buckets (
	key    bytea PRIMARY KEY,
	tokens double precision NOT NULL,
	last   bigint NOT NULL, -- Unix nanoseconds of the last refill
	burst  double precision NOT NULL,
	rate   double precision NOT NULL
);
