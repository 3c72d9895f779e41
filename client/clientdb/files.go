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
	// Outgoing marks the copy of a file one of the account's other devices
	// sent to Peer (a sync): its message is in the history already.
	Outgoing bool
	// ExpireTimer is the disappearing-message timer the file came with,
	// in seconds (0: none); it runs from when the file is saved.
	ExpireTimer uint32
}

// AddDownload records a received file to download. (Outgoing and
// ExpireTimer live in a table of their own, download_options, so that a
// home of an older version gets it without a migration.)
func (s *Store) AddDownload(ctx context.Context, d Download) error {
	if err := s.exec(ctx, "add download", `INSERT OR IGNORE INTO downloads (envelope_id, peer, sender, body, sent_at, pointer) VALUES (?, ?, ?, ?, ?, ?)`,
		d.EnvelopeID[:], d.Peer, d.Sender, d.Body, d.SentAt.UnixMilli(), d.Pointer); err != nil {
		return err
	}
	if !d.Outgoing && d.ExpireTimer == 0 {
		return nil
	}
	return s.exec(ctx, "add download", `INSERT OR IGNORE INTO download_options (envelope_id, outgoing, expire_seconds) VALUES (?, ?, ?)`,
		d.EnvelopeID[:], d.Outgoing, d.ExpireTimer)
}

// Downloads returns the files waiting to be downloaded, oldest first.
func (s *Store) Downloads(ctx context.Context) ([]Download, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT d.envelope_id, d.peer, d.sender, d.body, d.sent_at, d.pointer, d.dir, d.done, d.state,
		COALESCE(o.outgoing, 0), COALESCE(o.expire_seconds, 0)
		FROM downloads d LEFT JOIN download_options o ON o.envelope_id = d.envelope_id ORDER BY d.rowid`)
	if err != nil {
		return nil, fmt.Errorf("clientdb: downloads: %w", err)
	}
	defer rows.Close()
	var out []Download
	for rows.Next() {
		var d Download
		var eid []byte
		var sent int64
		if err := rows.Scan(&eid, &d.Peer, &d.Sender, &d.Body, &sent, &d.Pointer, &d.Dir, &d.Done, &d.State, &d.Outgoing, &d.ExpireTimer); err != nil {
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
	if err := s.exec(ctx, "delete download", `DELETE FROM download_options WHERE envelope_id = ?`, eid[:]); err != nil {
		return err
	}
	return s.exec(ctx, "delete download", `DELETE FROM downloads WHERE envelope_id = ?`, eid[:])
}

// SavedFile is a file saved for a message: under a disappearing-message
// timer, deleted with the message if it is still as it was saved.
type SavedFile struct {
	Path  string
	Size  int64
	MTime time.Time
}

// AddSavedFile records the file saved for the message id.
func (s *Store) AddSavedFile(ctx context.Context, id int64, f SavedFile) error {
	return s.exec(ctx, "add saved file", `INSERT OR REPLACE INTO saved_files (message_id, path, size, mtime) VALUES (?, ?, ?, ?)`,
		id, f.Path, f.Size, f.MTime.UnixNano())
}

// ExpiredFiles returns the files saved for the messages whose time came by
// now (DeleteExpired forgets them with their messages).
func (s *Store) ExpiredFiles(ctx context.Context, now time.Time) ([]SavedFile, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT f.path, f.size, f.mtime FROM saved_files f JOIN expiring e ON e.message_id = f.message_id
		WHERE e.expires_at <= ?`, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("clientdb: expired files: %w", err)
	}
	defer rows.Close()
	var out []SavedFile
	for rows.Next() {
		var f SavedFile
		var mtime int64
		if err := rows.Scan(&f.Path, &f.Size, &mtime); err != nil {
			return nil, fmt.Errorf("clientdb: expired files: %w", err)
		}
		f.MTime = time.Unix(0, mtime)
		out = append(out, f)
	}
	return out, rows.Err()
}

// SavedFileOf returns the file saved for the message id (ErrNotFound if
// none).
func (s *Store) SavedFileOf(ctx context.Context, id int64) (SavedFile, error) {
	var f SavedFile
	var mtime int64
	err := s.q.QueryRowContext(ctx, `SELECT path, size, mtime FROM saved_files WHERE message_id = ?`, id).Scan(&f.Path, &f.Size, &mtime)
	if errors.Is(err, sql.ErrNoRows) {
		return f, ErrNotFound
	}
	if err != nil {
		return f, fmt.Errorf("clientdb: saved file: %w", err)
	}
	f.MTime = time.Unix(0, mtime)
	return f, nil
}
