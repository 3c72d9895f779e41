package clientdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Contact is a user we talk to: their username and account, the devices we
// last knew of, and their unidentified access key when they told us.
type Contact struct {
	Username  string
	AccountID [16]byte
	Devices   []uint32
	AccessKey []byte
	Updated   time.Time
}

// PutContact inserts or replaces a contact. A different username that held
// the same account id is removed first.
func (s *Store) PutContact(ctx context.Context, c Contact) error {
	var devs []string
	for _, d := range c.Devices {
		devs = append(devs, strconv.FormatUint(uint64(d), 10))
	}
	if _, err := s.q.ExecContext(ctx, `DELETE FROM contacts WHERE account_id = ? AND username != ?`, c.AccountID[:], c.Username); err != nil {
		return fmt.Errorf("clientdb: put contact: %w", err)
	}
	_, err := s.q.ExecContext(ctx, `INSERT INTO contacts (username, account_id, devices, access_key, updated) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (username) DO UPDATE SET account_id = excluded.account_id, devices = excluded.devices,
		access_key = COALESCE(excluded.access_key, contacts.access_key), updated = excluded.updated`,
		c.Username, c.AccountID[:], strings.Join(devs, ","), c.AccessKey, c.Updated.UnixMilli())
	if err != nil {
		return fmt.Errorf("clientdb: put contact: %w", err)
	}
	return nil
}

// SetContactAccessKey records a contact's unidentified access key.
func (s *Store) SetContactAccessKey(ctx context.Context, account [16]byte, key []byte) error {
	return s.exec(ctx, "set access key", `UPDATE contacts SET access_key = ? WHERE account_id = ?`, key, account[:])
}

// ContactByName returns the contact with the username, or ErrNotFound.
func (s *Store) ContactByName(ctx context.Context, username string) (Contact, error) {
	return s.contact(ctx, `WHERE username = ?`, username)
}

// ContactByAccount returns the contact with the account id, or ErrNotFound.
func (s *Store) ContactByAccount(ctx context.Context, account [16]byte) (Contact, error) {
	return s.contact(ctx, `WHERE account_id = ?`, account[:])
}

// Contacts lists every contact by username.
func (s *Store) Contacts(ctx context.Context) ([]Contact, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT username, account_id, devices, access_key, updated FROM contacts ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("clientdb: contacts: %w", err)
	}
	defer rows.Close()
	var out []Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ContactsByName returns the contacts with these usernames, by username,
// in one read (a few for very many names); names with no contact are
// absent.
func (s *Store) ContactsByName(ctx context.Context, usernames []string) (map[string]Contact, error) {
	out := make(map[string]Contact, len(usernames))
	const chunk = 500 // well under SQLite's bound on a statement's parameters
	for len(usernames) > 0 {
		part := usernames[:min(len(usernames), chunk)]
		usernames = usernames[len(part):]
		args := make([]any, len(part))
		for i, n := range part {
			args[i] = n
		}
		q := `SELECT username, account_id, devices, access_key, updated FROM contacts WHERE username IN (` +
			strings.TrimSuffix(strings.Repeat("?,", len(part)), ",") + `)`
		if err := func() error {
			rows, err := s.q.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				c, err := scanContact(rows)
				if err != nil {
					return err
				}
				out[c.Username] = c
			}
			return rows.Err()
		}(); err != nil {
			return nil, fmt.Errorf("clientdb: contacts by name: %w", err)
		}
	}
	return out, nil
}

func (s *Store) contact(ctx context.Context, where string, arg any) (Contact, error) {
	row := s.q.QueryRowContext(ctx, `SELECT username, account_id, devices, access_key, updated FROM contacts `+where, arg)
	c, err := scanContact(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, ErrNotFound
	}
	return c, err
}

func scanContact(r interface{ Scan(...any) error }) (Contact, error) {
	var c Contact
	var id, ak []byte
	var devs string
	var updated int64
	if err := r.Scan(&c.Username, &id, &devs, &ak, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return c, err
		}
		return c, fmt.Errorf("clientdb: contact: %w", err)
	}
	copy(c.AccountID[:], id)
	c.AccessKey = ak
	c.Updated = time.UnixMilli(updated)
	for _, f := range strings.Split(devs, ",") {
		if f == "" {
			continue
		}
		d, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return c, fmt.Errorf("clientdb: contact devices: %w", err)
		}
		c.Devices = append(c.Devices, uint32(d))
	}
	return c, nil
}

// Message status values.
const (
	StatusQueued    = 0 // outgoing, not yet acknowledged by the relay
	StatusSent      = 1 // outgoing, durable at the relay
	StatusDelivered = 2 // outgoing, the recipient's device confirmed it
	StatusReceived  = 3 // incoming
	StatusNotice    = 4 // a group's membership change, as a line of its history
	StatusRead      = 5 // incoming, shown to the user (here or on another of the account's devices)
	StatusSeen      = 6 // outgoing, the recipient showed it (a read receipt)
)

// Message is one line of history.
type Message struct {
	ID         int64
	EnvelopeID [16]byte
	Peer       string // the other user's username, or the group's key (GroupPeer)
	Sender     string // in a group: the member who wrote it
	Outgoing   bool
	Body       string
	SentAt     time.Time // the sender's clock
	At         time.Time // when stored here
	Status     int
}

// AddMessage appends m to the history and returns its id.
func (s *Store) AddMessage(ctx context.Context, m Message) (int64, error) {
	res, err := s.q.ExecContext(ctx, `INSERT INTO messages (envelope_id, peer, outgoing, body, sent_at, at, status) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		m.EnvelopeID[:], m.Peer, m.Outgoing, m.Body, m.SentAt.UnixMilli(), m.At.UnixMilli(), m.Status)
	if err != nil {
		return 0, fmt.Errorf("clientdb: add message: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil || m.Sender == "" {
		return id, err
	}
	return id, s.exec(ctx, "add message", `INSERT INTO group_senders (message_id, sender) VALUES (?, ?)`, id, m.Sender)
}

// messageColumns are what scanMessage reads, from messages m joined with
// group_senders g.
const messageColumns = `m.id, m.envelope_id, m.peer, m.outgoing, m.body, m.sent_at, m.at, m.status, COALESCE(g.sender, '')`

// messagesFrom is the table expression messageColumns read from.
const messagesFrom = `messages m LEFT JOIN group_senders g ON g.message_id = m.id`

// SetMessageStatus raises the status of the outgoing message with the
// envelope id (it never lowers it) and reports whether a row changed.
func (s *Store) SetMessageStatus(ctx context.Context, envelopeID [16]byte, status int) (bool, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE messages SET status = ? WHERE envelope_id = ? AND outgoing = 1 AND status < ?`,
		status, envelopeID[:], status)
	if err != nil {
		return false, fmt.Errorf("clientdb: message status: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// SetMessageBody replaces the body of the outgoing message with the
// envelope id (the label of a file once saved under its final name).
func (s *Store) SetMessageBody(ctx context.Context, envelopeID [16]byte, body string) error {
	return s.exec(ctx, "message body", `UPDATE messages SET body = ? WHERE envelope_id = ? AND outgoing = 1`, body, envelopeID[:])
}

// MessageByEnvelope returns the outgoing message sent with the envelope id.
func (s *Store) MessageByEnvelope(ctx context.Context, envelopeID [16]byte) (Message, error) {
	row := s.q.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM `+messagesFrom+` WHERE m.envelope_id = ? AND m.outgoing = 1`, envelopeID[:])
	m, err := scanMessage(row)
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrNotFound
	}
	return m, err
}

// History returns the last limit messages with peer (every peer when peer
// is empty), oldest first.
func (s *Store) History(ctx context.Context, peer string, limit int) ([]Message, error) {
	return s.messages(ctx, "history", `SELECT * FROM (SELECT `+messageColumns+` FROM `+messagesFrom+`
		WHERE ? = '' OR m.peer = ? ORDER BY m.id DESC LIMIT ?) ORDER BY 1`, peer, peer, limit)
}

// messages runs a query of messageColumns and scans its rows.
func (s *Store) messages(ctx context.Context, what, query string, args ...any) ([]Message, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("clientdb: %s: %w", what, err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func scanMessage(r interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var eid []byte
	var sent, at int64
	if err := r.Scan(&m.ID, &eid, &m.Peer, &m.Outgoing, &m.Body, &sent, &at, &m.Status, &m.Sender); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return m, err
		}
		return m, fmt.Errorf("clientdb: message: %w", err)
	}
	copy(m.EnvelopeID[:], eid)
	m.SentAt, m.At = time.UnixMilli(sent), time.UnixMilli(at)
	return m, nil
}

// Outgoing is one message in the outbox: the plaintext content to encrypt
// for every device of the peer, under an envelope id that retries reuse.
type Outgoing struct {
	Seq        int64
	EnvelopeID [16]byte
	Peer       string
	Content    []byte // serialized, unpadded content
	Timestamp  time.Time
	MessageID  int64 // the history row, 0 for receipts
	Attempts   int
	LastError  string
}

// Enqueue adds o to the outbox.
func (s *Store) Enqueue(ctx context.Context, o Outgoing) error {
	return s.exec(ctx, "enqueue", `INSERT INTO outbox (envelope_id, peer, content, timestamp, message_id) VALUES (?, ?, ?, ?, ?)`,
		o.EnvelopeID[:], o.Peer, o.Content, o.Timestamp.UnixMilli(), o.MessageID)
}

// Outbox lists the outbox in the order messages were queued.
func (s *Store) Outbox(ctx context.Context) ([]Outgoing, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT seq, envelope_id, peer, content, timestamp, message_id, attempts, last_error FROM outbox ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("clientdb: outbox: %w", err)
	}
	defer rows.Close()
	var out []Outgoing
	for rows.Next() {
		var o Outgoing
		var eid []byte
		var ts int64
		if err := rows.Scan(&o.Seq, &eid, &o.Peer, &o.Content, &ts, &o.MessageID, &o.Attempts, &o.LastError); err != nil {
			return nil, fmt.Errorf("clientdb: outbox: %w", err)
		}
		copy(o.EnvelopeID[:], eid)
		o.Timestamp = time.UnixMilli(ts)
		out = append(out, o)
	}
	return out, rows.Err()
}

// Dequeue removes the message with the envelope id from the outbox.
func (s *Store) Dequeue(ctx context.Context, envelopeID [16]byte) error {
	return s.exec(ctx, "dequeue", `DELETE FROM outbox WHERE envelope_id = ?`, envelopeID[:])
}

// NoteAttempt records a failed attempt to send the envelope and its reason
// (which must not hold secrets or plaintext).
func (s *Store) NoteAttempt(ctx context.Context, envelopeID [16]byte, reason string) error {
	return s.exec(ctx, "note attempt", `UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE envelope_id = ?`, reason, envelopeID[:])
}

// Seen reports whether an envelope with the id was already received.
func (s *Store) Seen(ctx context.Context, envelopeID [16]byte) (bool, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT count(*) FROM inbox_seen WHERE envelope_id = ?`, envelopeID[:]).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("clientdb: seen: %w", err)
	}
	return n > 0, nil
}

// MarkSeen records that the envelope id was received; it reports false if it
// already was.
func (s *Store) MarkSeen(ctx context.Context, envelopeID [16]byte, at time.Time) (bool, error) {
	res, err := s.q.ExecContext(ctx, `INSERT OR IGNORE INTO inbox_seen (envelope_id, at) VALUES (?, ?)`, envelopeID[:], at.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("clientdb: mark seen: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// PruneSeen forgets the envelope ids received before before (the relay
// expires envelopes long before, so none of them can come again) and
// reports how many it forgot.
func (s *Store) PruneSeen(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.q.ExecContext(ctx, `DELETE FROM inbox_seen WHERE at < ?`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("clientdb: prune seen: %w", err)
	}
	return res.RowsAffected()
}
