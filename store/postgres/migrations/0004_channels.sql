-- 4: broadcast channels and their logs of posts. A channel's last_seq is
-- taken with a row lock by each post, so posts of one channel get
-- consecutive seqs across writers and nodes.
CREATE TABLE channels (
	id         bytea PRIMARY KEY,
	admin_key  bytea NOT NULL,
	token_hash bytea NOT NULL,
	created    bigint NOT NULL,
	last_seq   bigint NOT NULL DEFAULT 0
);

CREATE TABLE channel_posts (
	channel     bytea NOT NULL,
	seq         bigint NOT NULL,
	id          bytea NOT NULL,
	content     bytea NOT NULL,
	signature   bytea NOT NULL,
	server_time bigint NOT NULL,
	PRIMARY KEY (channel, seq),
	UNIQUE (channel, id)
);
