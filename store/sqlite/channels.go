package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"samizdat/relay"
)

// CreateChannel implements relay.Channels.
func (s *Store) CreateChannel(ctx context.Context, ch relay.Channel) error {
	return s.submit(ctx, func(w *writer) error {
		res, err := w.insChannel.Exec(ch.ID[:], nonNil(ch.AdminKey), ch.TokenHash[:], nanos(ch.Created))
		if err != nil {
			return writeErr("create channel", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return writeErr("create channel", err)
		} else if n == 0 {
			return conflict("channel id")
		}
		return nil
	})
}

// ChannelByID implements relay.Channels.
func (s *Store) ChannelByID(ctx context.Context, id relay.ChannelID) (relay.Channel, error) {
	if err := s.checkOpen(); err != nil {
		return relay.Channel{}, err
	}
	ch := relay.Channel{ID: id}
	var hash []byte
	var created int64
	if err := s.rs.channel.QueryRowContext(ctx, id[:]).Scan(&ch.AdminKey, &hash, &created); err != nil {
		return relay.Channel{}, readErr("channel", err)
	}
	if len(hash) != len(ch.TokenHash) {
		return relay.Channel{}, readErr("channel", errors.New("malformed channel row"))
	}
	copy(ch.TokenHash[:], hash)
	ch.Created = fromNanos(created)
	return ch, nil
}

// AppendPost implements relay.Channels: one write takes the channel's next
// Seq and inserts the post.
func (s *Store) AppendPost(ctx context.Context, p *relay.ChannelPost) error {
	if p.ServerTime.IsZero() {
		p.ServerTime = s.opts.Now()
	}
	var seq, at int64
	err := s.submit(ctx, func(w *writer) error {
		switch err := w.postByID.QueryRow(p.Channel[:], p.ID[:]).Scan(&seq, &at); {
		case err == nil:
			return nil // stored already
		case !errors.Is(err, sql.ErrNoRows):
			return writeErr("append post", err)
		}
		switch err := w.nextSeq.QueryRow(p.Channel[:]).Scan(&seq); {
		case errors.Is(err, sql.ErrNoRows):
			return notFound("channel")
		case err != nil:
			return writeErr("append post", err)
		}
		at = nanos(p.ServerTime)
		if _, err := w.insPost.Exec(p.Channel[:], seq, p.ID[:], nonNil(p.Content), nonNil(p.Signature), at); err != nil {
			return writeErr("append post", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.Seq, p.ServerTime = uint64(seq), fromNanos(at)
	return nil
}

// ChannelPosts implements relay.Channels. The head is read first: posts are
// never changed once stored, so the posts up to it are the same in any
// later snapshot.
func (s *Store) ChannelPosts(ctx context.Context, id relay.ChannelID, after uint64, limit int) ([]relay.ChannelPost, uint64, error) {
	if err := s.checkOpen(); err != nil {
		return nil, 0, err
	}
	out := []relay.ChannelPost{}
	var head int64
	switch err := s.rs.channelHead.QueryRowContext(ctx, id[:]).Scan(&head); {
	case errors.Is(err, sql.ErrNoRows):
		return out, 0, nil
	case err != nil:
		return nil, 0, readErr("channel posts", err)
	}
	if limit <= 0 || after >= uint64(head) {
		return out, uint64(head), nil
	}
	rows, err := s.rs.channelPosts.QueryContext(ctx, id[:], int64(after), head, limit)
	if err != nil {
		return nil, 0, readErr("channel posts", err)
	}
	defer rows.Close()
	for rows.Next() {
		p := relay.ChannelPost{Channel: id}
		var pid []byte
		var seq, at int64
		if err := rows.Scan(&seq, &pid, &p.Content, &p.Signature, &at); err != nil {
			return nil, 0, readErr("channel posts", err)
		}
		if len(pid) != len(p.ID) {
			return nil, 0, readErr("channel posts", fmt.Errorf("malformed post row"))
		}
		copy(p.ID[:], pid)
		p.Seq, p.ServerTime = uint64(seq), fromNanos(at)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, readErr("channel posts", err)
	}
	return out, uint64(head), nil
}
