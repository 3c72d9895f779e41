package clientdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Upload is a file being uploaded to a peer (a user or GroupPeer): its key
// and the relay's blob, kept so that the next send of the same file (same
// path, size and modification time) resumes where this one stopped.
type Upload struct {
	Peer   string
	Path   string // absolute
	Size   int64
	MTime  time.Time
	Key    []byte
	BlobID []byte // nil until the relay created the blob
}

// UploadFor returns the upload of path to peer, or ErrNotFound.
func (s *Store) UploadFor(ctx context.Context, peer, path string) (Upload, error) {
	u := Upload{Peer: peer, Path: path}
	var mtime int64
	err := s.q.QueryRowContext(ctx, `SELECT size, mtime, file_key, blob_id FROM uploads WHERE peer = ? AND path = ?`, peer, path).
		Scan(&u.Size, &mtime, &u.Key, &u.BlobID)
	if errors.Is(err, sql.ErrNoRows) {
		return u, ErrNotFound
	}
	if err != nil {
		return u, fmt.Errorf("clientdb: upload: %w", err)
	}
	u.MTime = time.Unix(0, mtime)
	return u, nil
}

// PutUpload stores (replaces) an upload.
func (s *Store) PutUpload(ctx context.Context, u Upload) error {
	return s.exec(ctx, "put upload", `INSERT OR REPLACE INTO uploads (peer, path, size, mtime, file_key, blob_id) VALUES (?, ?, ?, ?, ?, ?)`,
		u.Peer, u.Path, u.Size, u.MTime.UnixNano(), u.Key, u.BlobID)
}

// DeleteUpload forgets an upload (its message is queued).
func (s *Store) DeleteUpload(ctx context.Context, peer, path string) error {
	return s.exec(ctx, "delete upload", `DELETE FROM uploads WHERE peer = ? AND path = ?`, peer, path)
}

// Download is a received file not saved yet: the message it came with and
// how far its download got.
type Download struct {
	EnvelopeID [16]byte
	Peer       string // the sender, or the group (GroupPeer)
	Sender     string // in a group: the member who sent it
	Body       string // the text that came with it
	SentAt     time.Time
	Pointer    []byte // the attachment pointer, marshalled
	Dir        string // where the partial file is ("" before the first chunk)
	Done       int64  // plaintext bytes written and synced there
	State      []byte // attachment.Opener state after Done bytes
}

// AddDownload records a received file to download.
func (s *Store) AddDownload(ctx context.Context, d Download) error {
	return s.exec(ctx, "add download", `INSERT OR IGNORE INTO downloads (envelope_id, peer, sender, body, sent_at, pointer) VALUES (?, ?, ?, ?, ?, ?)`,
		d.EnvelopeID[:], d.Peer, d.Sender, d.Body, d.SentAt.UnixMilli(), d.Pointer)
}

// Downloads returns the files waiting to be downloaded, oldest first.
func (s *Store) Downloads(ctx context.Context) ([]Download, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT envelope_id, peer, sender, body, sent_at, pointer, dir, done, state FROM downloads ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("clientdb: downloads: %w", err)
	}
	defer rows.Close()
	var out []Download
	for rows.Next() {
		var d Download
		var eid []byte
		var sent int64
		if err := rows.Scan(&eid, &d.Peer, &d.Sender, &d.Body, &sent, &d.Pointer, &d.Dir, &d.Done, &d.State); err != nil {
			return nil, fmt.Errorf("clientdb: downloads: %w", err)
		}
		copy(d.EnvelopeID[:], eid)
		d.SentAt = time.UnixMilli(sent)
		out = append(out, d)
	}
	return out, rows.Err()
}

// SetDownloadProgress records how far a download got.
func (s *Store) SetDownloadProgress(ctx context.Context, eid [16]byte, dir string, done int64, state []byte) error {
	return s.exec(ctx, "download progress", `UPDATE downloads SET dir = ?, done = ?, state = ? WHERE envelope_id = ?`, dir, done, state, eid[:])
}

// DeleteDownload forgets a download (saved, or refused).
func (s *Store) DeleteDownload(ctx context.Context, eid [16]byte) error {
	return s.exec(ctx, "delete download", `DELETE FROM downloads WHERE envelope_id = ?`, eid[:])
}
