-- 6: attachments (relay.BlobStore): a record per blob and its sealed
-- chunks, stored in order (stored counts them). Chunks are random bytes:
-- kept out of line and uncompressed.
CREATE TABLE blobs (
	id         bytea PRIMARY KEY,
	owner      bytea NOT NULL,
	size       bigint NOT NULL,
	chunk_size integer NOT NULL,
	stored     integer NOT NULL DEFAULT 0,
	created    bigint NOT NULL
);
CREATE INDEX blobs_owner ON blobs (owner);
CREATE INDEX blobs_created ON blobs (created);

CREATE TABLE blob_chunks (
	blob bytea NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
	idx  integer NOT NULL,
	data bytea NOT NULL,
	PRIMARY KEY (blob, idx)
);
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
