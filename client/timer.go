package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"samizdat/client/clientdb"
	"samizdat/client/internal/contentpb"
)

// Disappearing messages, as Signal has them: a timer per conversation,
// set by either side. Setting it tells the other side and one's own other
// devices end to end (ExpireTimer); every text then carries the timer its
// sender had (Content.expire_timer), and every device that stores it, on
// both sides, deletes it that long after it stored it. The relay sees
// none of it (its own retention applies to what waits in mailboxes).
// Groups have no timer yet: their texts travel under a Sender Key that
// carries group texts only.

// MaxTimer bounds a timer.
const MaxTimer = 28 * 24 * time.Hour

// ErrTimerGroup refuses a timer on a group.
var ErrTimerGroup = errors.New("client: disappearing messages are for conversations with one user; groups have no timer yet")

// FormatTimer writes a timer as the timer command takes it: "off", or the
// largest whole unit of d (4w, 3d, 1h, 5m, 30s).
func FormatTimer(d time.Duration) string {
	if d <= 0 {
		return "off"
	}
	for _, u := range []struct {
		d time.Duration
		s string
	}{{7 * 24 * time.Hour, "w"}, {24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if d%u.d == 0 {
			return fmt.Sprintf("%d%s", d/u.d, u.s)
		}
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// ParseTimer reads what FormatTimer writes, and Go durations ("90m").
func ParseTimer(s string) (time.Duration, error) {
	if s == "off" || s == "0" {
		return 0, nil
	}
	var d time.Duration
	var err error
	switch {
	case strings.HasSuffix(s, "w") || strings.HasSuffix(s, "d"):
		var n int
		if _, err = fmt.Sscanf(s[:len(s)-1], "%d", &n); err == nil && fmt.Sprint(n) == s[:len(s)-1] {
			d = time.Duration(n) * 24 * time.Hour
			if strings.HasSuffix(s, "w") {
				d *= 7
			}
		} else {
			err = errors.New("not a number")
		}
	default:
		d, err = time.ParseDuration(s)
	}
	if err != nil || d < time.Second || d > MaxTimer || d%time.Second != 0 {
		return 0, fmt.Errorf("client: a timer is off, or whole seconds from 1s to %s such as 30s, 5m, 1h, 1d, 1w", FormatTimer(MaxTimer))
	}
	return d, nil
}

// Timer returns the timer of the conversation with name (0: off).
func (c *Client) Timer(ctx context.Context, name string) (time.Duration, error) {
	return c.db.Store().Timer(ctx, NormalizeUsername(name))
}

// SetTimer sets the timer of the conversation with name (0 turns it off)
// and tells them and this account's other devices; it returns once the
// relay stored that (as Send).
func (c *Client) SetTimer(ctx context.Context, name string, d time.Duration) error {
	name = NormalizeUsername(name)
	if d < 0 || d > MaxTimer || d%time.Second != 0 {
		return fmt.Errorf("client: a timer is whole seconds up to %s", FormatTimer(MaxTimer))
	}
	if _, err := c.db.Store().GroupByName(ctx, name); err == nil {
		return ErrTimerGroup
	} else if !errors.Is(err, clientdb.ErrNotFound) {
		return err
	}
	if _, err := c.contact(ctx, name, false); err != nil {
		return err // no such user, or the relay is out of reach
	}
	secs := uint32(d / time.Second)
	err := c.db.Tx(ctx, func(s *clientdb.Store) error {
		if err := s.SetTimer(ctx, name, d); err != nil {
			return err
		}
		if name != c.username {
			if err := c.enqueue(ctx, s, name, &contentpb.Content{Body: &contentpb.Content_ExpireTimerUpdate{
				ExpireTimerUpdate: &contentpb.ExpireTimer{Seconds: secs}}}); err != nil {
				return err
			}
		}
		if others, err := c.otherDevices(ctx, s); err != nil || !others {
			return err
		}
		return c.enqueue(ctx, s, c.username, &contentpb.Content{Body: &contentpb.Content_ExpireTimerUpdate{
			ExpireTimerUpdate: &contentpb.ExpireTimer{Seconds: secs, Conversation: name}}})
	})
	if err != nil {
		return err
	}
	_, err = c.Flush(ctx)
	return err
}

// outgoingTimer returns the timer a text to peer carries, in seconds.
func (c *Client) outgoingTimer(ctx context.Context, peer string) (uint32, error) {
	if _, ok := clientdb.ParseGroupPeer(peer); ok {
		return 0, nil
	}
	d, err := c.db.Store().Timer(ctx, peer)
	return uint32(d / time.Second), err
}

// expireStored makes the message id, stored now, disappear after the
// timer its content carries.
func (c *Client) expireStored(ctx context.Context, s *clientdb.Store, id int64, content *contentpb.Content) error {
	return c.expireAfter(ctx, s, id, content.GetExpireTimer())
}

// expireAfter makes the message id disappear secs seconds from now (never
// when 0; at most MaxTimer).
func (c *Client) expireAfter(ctx context.Context, s *clientdb.Store, id int64, secs uint32) error {
	d := min(time.Duration(secs)*time.Second, MaxTimer)
	if d <= 0 {
		return nil
	}
	return s.ExpireAt(ctx, id, c.cfg.Now().Add(d))
}

// storeTimer applies an ExpireTimer from peer: the timer of the
// conversation with them, or from one's own account, with the
// conversation it names.
func (c *Client) storeTimer(ctx context.Context, s *clientdb.Store, fromSelf bool, peer string, t *contentpb.ExpireTimer) ([]Event, error) {
	conv := peer
	if fromSelf {
		conv = t.GetConversation()
		if conv == "" || NormalizeUsername(conv) != conv {
			return nil, nil
		}
	}
	d := time.Duration(t.GetSeconds()) * time.Second
	if d > MaxTimer {
		return []Event{{Kind: EventRefused, Peer: peer, Err: fmt.Errorf("client: a timer over %s", FormatTimer(MaxTimer))}}, nil
	}
	if err := s.SetTimer(ctx, conv, d); err != nil {
		return nil, err
	}
	return []Event{{Kind: EventTimer, Peer: conv, Text: FormatTimer(d)}}, nil
}

// deleteExpired deletes the messages whose timer ran out, and the files
// saved for them (under HOME/files or where --files put them) that are
// still as they were saved: a file the user has since changed or replaced
// (another size or modification time) is theirs and stays, and so does
// a copy they made elsewhere. The files go first, so that a crash between
// the two leaves a message to delete again, never a file nothing tracks.
func (c *Client) deleteExpired(ctx context.Context) error {
	now := c.cfg.Now()
	files, err := c.db.Store().ExpiredFiles(ctx, now)
	if err != nil {
		return err
	}
	for _, f := range files {
		fi, err := os.Lstat(f.Path)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != f.Size || !fi.ModTime().Equal(f.MTime) {
			continue
		}
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	n, err := c.db.Store().DeleteExpired(ctx, now)
	if n > 0 {
		c.cfg.Logger.Debug("disappearing messages deleted", "count", n)
	}
	return err
}
