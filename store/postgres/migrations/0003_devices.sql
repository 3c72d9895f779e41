-- 3: device names (sealed by the account's devices) and last-seen days;
-- the noise keys of removed devices, refused for good.
ALTER TABLE devices ADD COLUMN name bytea;
ALTER TABLE devices ADD COLUMN last_seen bigint NOT NULL DEFAULT 0;

CREATE TABLE removed_devices (
	noise_key bytea PRIMARY KEY,
	account   bytea NOT NULL,
	device    bigint NOT NULL,
	removed   bigint NOT NULL
);
