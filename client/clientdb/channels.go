package clientdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrNameTaken means a name is in use in the home's one namespace of
// contacts and channels.
var ErrNameTaken = errors.New("clientdb: name taken")

// Channel is a broadcast channel this home joined (or created). Code holds
// its keys (broadcast.Code.Marshal): the content key, and the admin key
// when Admin is set. LastSeq is the seq of the newest post read.
type Channel struct {
	Name    string
	ID      [16]byte
	Code    []byte
	Admin   bool
	LastSeq uint64
	Joined  time.Time
}

// NameTaken reports whether name is taken in the home's one namespace:
// a contact (or someone who wrote to us), a group other than exceptGroup
// (nil: any), or a channel. It is the one place that decides.
func (s *Store) NameTaken(ctx context.Context, name string, exceptGroup []byte) (bool, error) {
	var taken int
	err := s.q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM contacts WHERE username = ?1)
		OR EXISTS (SELECT 1 FROM peer_state WHERE peer = ?1)
		OR EXISTS (SELECT 1 FROM groups WHERE name = ?1 AND id IS NOT ?2)
		OR EXISTS (SELECT 1 FROM channels WHERE name = ?1)`, name, exceptGroup).Scan(&taken)
	if err != nil {
		return false, fmt.Errorf("clientdb: name taken: %w", err)
	}
	return taken != 0, nil
}

// AddChannel records a channel. ErrNameTaken if NameTaken(ch.Name); an
// error if the channel is joined already under another name.
func (s *Store) AddChannel(ctx context.Context, ch Channel) error {
	if taken, err := s.NameTaken(ctx, ch.Name, nil); err != nil {
		return err
	} else if taken {
		return fmt.Errorf("%w: %s", ErrNameTaken, ch.Name)
	}
	return s.exec(ctx, "add channel", `INSERT INTO channels (name, id, code, admin, last_seq, joined) VALUES (?, ?, ?, ?, ?, ?)`,
		ch.Name, ch.ID[:], ch.Code, ch.Admin, int64(ch.LastSeq), ch.Joined.UnixMilli())
}

const channelCols = `SELECT name, id, code, admin, last_seq, joined FROM channels `

func scanChannel(row interface{ Scan(...any) error }) (Channel, error) {
	var ch Channel
	var id []byte
	var seq, joined int64
	if err := row.Scan(&ch.Name, &id, &ch.Code, &ch.Admin, &seq, &joined); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Channel{}, ErrNotFound
		}
		return Channel{}, fmt.Errorf("clientdb: channel: %w", err)
	}
	if len(id) != len(ch.ID) {
		return Channel{}, errors.New("clientdb: channel: malformed id")
	}
	copy(ch.ID[:], id)
	ch.LastSeq, ch.Joined = uint64(seq), time.UnixMilli(joined)
	return ch, nil
}

// ChannelByName returns the channel joined under name, or ErrNotFound.
func (s *Store) ChannelByName(ctx context.Context, name string) (Channel, error) {
	return scanChannel(s.q.QueryRowContext(ctx, channelCols+`WHERE name = ?`, name))
}

// ChannelByID returns the channel with this id, or ErrNotFound.
func (s *Store) ChannelByID(ctx context.Context, id [16]byte) (Channel, error) {
	return scanChannel(s.q.QueryRowContext(ctx, channelCols+`WHERE id = ?`, id[:]))
}

// Channels returns the channels joined, by name.
func (s *Store) Channels(ctx context.Context) ([]Channel, error) {
	rows, err := s.q.QueryContext(ctx, channelCols+`ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("clientdb: channels: %w", err)
	}
	defer rows.Close()
	var out []Channel
	for rows.Next() {
		ch, err := scanChannel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, rows.Err()
}

// MakeChannelAdmin replaces the keys of the channel id with code, which
// holds the admin key.
func (s *Store) MakeChannelAdmin(ctx context.Context, id [16]byte, code []byte) error {
	return s.exec(ctx, "make channel admin", `UPDATE channels SET code = ?, admin = 1 WHERE id = ?`, code, id[:])
}

// AddChannelPost records post seq of channel id, read (or posted) at at.
// It reports false, and changes nothing, if the post is recorded already.
// It leaves LastSeq alone: an admin's own post may come before others' it
// has not read yet.
func (s *Store) AddChannelPost(ctx context.Context, id [16]byte, seq uint64, body string, sentAt, at time.Time) (bool, error) {
	res, err := s.q.ExecContext(ctx, `INSERT INTO channel_posts (channel, seq, body, sent_at, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		id[:], int64(seq), body, sentAt.UnixMilli(), at.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("clientdb: add channel post: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// ChannelPosts returns the last limit posts recorded of channel id, oldest
// first, as messages: ID is the post's sequence number in the channel's
// log, Peer is empty, Status is StatusReceived.
func (s *Store) ChannelPosts(ctx context.Context, id [16]byte, limit int) ([]Message, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT seq, body, sent_at, at FROM (
		SELECT seq, body, sent_at, at FROM channel_posts WHERE channel = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq`, id[:], limit)
	if err != nil {
		return nil, fmt.Errorf("clientdb: channel posts: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var sentAt, at int64
		if err := rows.Scan(&m.ID, &m.Body, &sentAt, &at); err != nil {
			return nil, fmt.Errorf("clientdb: channel posts: %w", err)
		}
		m.SentAt, m.At, m.Status = time.UnixMilli(sentAt), time.UnixMilli(at), StatusReceived
		out = append(out, m)
	}
	return out, rows.Err()
}

// NoteOwnPost records that this home posts postID, before it goes to the
// relay: when it comes back in a channel's log it is not shown as news.
func (s *Store) NoteOwnPost(ctx context.Context, postID [16]byte, at time.Time) error {
	return s.exec(ctx, "note own post", `INSERT INTO channel_own_posts (post_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING`, postID[:], at.UnixMilli())
}

// OwnPost reports whether NoteOwnPost recorded postID.
func (s *Store) OwnPost(ctx context.Context, postID [16]byte) (bool, error) {
	var one int
	err := s.q.QueryRowContext(ctx, `SELECT 1 FROM channel_own_posts WHERE post_id = ?`, postID[:]).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("clientdb: own post: %w", err)
	}
	return true, nil
}

// AdvanceChannel moves the channel's LastSeq up to seq (never down).
func (s *Store) AdvanceChannel(ctx context.Context, id [16]byte, seq uint64) error {
	return s.exec(ctx, "advance channel", `UPDATE channels SET last_seq = max(last_seq, ?) WHERE id = ?`, int64(seq), id[:])
}

// RemoveChannel forgets the channel joined under name and its posts.
// ErrNotFound if there is none.
func (s *Store) RemoveChannel(ctx context.Context, name string) error {
	ch, err := s.ChannelByName(ctx, name)
	if err != nil {
		return err
	}
	if err := s.exec(ctx, "remove channel", `DELETE FROM channel_posts WHERE channel = ?`, ch.ID[:]); err != nil {
		return err
	}
	return s.exec(ctx, "remove channel", `DELETE FROM channels WHERE name = ?`, name)
}
