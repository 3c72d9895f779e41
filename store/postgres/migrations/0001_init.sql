-- 1: accounts, devices, prekeys, mailboxes. The same tables as store/sqlite's
-- first schema version; times are Unix nanoseconds (0 = the zero time), ids
-- and keys are bytea, and the username is bytea so that it is compared and
-- stored byte for byte, whatever its encoding.

CREATE TABLE accounts (
	id              bytea PRIMARY KEY,
	username        bytea NOT NULL UNIQUE,
	identity_key    bytea NOT NULL,
	ua_key          bytea,
	ua_unrestricted boolean NOT NULL,
	created         bigint NOT NULL
);

CREATE TABLE devices (
	account         bytea NOT NULL,
	id              bigint NOT NULL,
	registration_id bigint NOT NULL,
	noise_key       bytea NOT NULL UNIQUE,
	created         bigint NOT NULL,
	spk_id          bigint,
	spk             bytea,
	spk_sig         bytea,
	kyber_lr_id     bigint,
	kyber_lr        bytea,
	kyber_lr_sig    bytea,
	PRIMARY KEY (account, id)
);

CREATE TABLE ec_prekeys (
	account    bytea NOT NULL,
	device     bigint NOT NULL,
	id         bigint NOT NULL,
	public_key bytea NOT NULL,
	PRIMARY KEY (account, device, id)
);

CREATE TABLE kyber_prekeys (
	account    bytea NOT NULL,
	device     bigint NOT NULL,
	id         bigint NOT NULL,
	public_key bytea NOT NULL,
	signature  bytea NOT NULL,
	PRIMARY KEY (account, device, id)
);

-- seq comes from a sequence, so it is never reused, even after the newest
-- envelope is deleted: a device's cursor (Fetch after) stays valid.
CREATE TABLE mailbox (
	seq            bigint GENERATED ALWAYS AS IDENTITY,
	account        bytea NOT NULL,
	device         bigint NOT NULL,
	id             bytea NOT NULL,
	type           bigint NOT NULL,
	source_account bytea NOT NULL,
	source_device  bigint NOT NULL,
	sealed         boolean NOT NULL,
	timestamp      bigint NOT NULL,
	server_time    bigint NOT NULL,
	content        bytea NOT NULL,
	PRIMARY KEY (account, device, seq)
);
CREATE UNIQUE INDEX mailbox_by_id ON mailbox (account, device, id);
CREATE INDEX mailbox_by_time ON mailbox (server_time);

-- What each device's mailbox holds, for the quota. Every change to a
-- device's envelopes holds this row's lock (see the package doc).
CREATE TABLE mailbox_usage (
	account bytea NOT NULL,
	device  bigint NOT NULL,
	count   bigint NOT NULL,
	bytes   bigint NOT NULL,
	PRIMARY KEY (account, device)
) WITH (fillfactor = 50);
