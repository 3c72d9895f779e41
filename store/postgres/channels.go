package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"samizdat/relay"
)

// CreateChannel implements relay.Channels. A taken id is found with ON
// CONFLICT DO NOTHING, not as a unique violation in the server's log.
func (s *Store) CreateChannel(ctx context.Context, ch relay.Channel) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, "INSERT INTO channels (id, admin_key, token_hash, created) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
		ch.ID[:], nonNil(ch.AdminKey), ch.TokenHash[:], nanos(ch.Created))
	if err != nil {
		return dbErr("create channel", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create channel: %w", relay.ErrConflict)
	}
	return nil
}

// ChannelByID implements relay.Channels.
func (s *Store) ChannelByID(ctx context.Context, id relay.ChannelID) (relay.Channel, error) {
	if err := s.checkOpen(); err != nil {
		return relay.Channel{}, err
	}
	ch := relay.Channel{ID: id}
	var hash []byte
	var created int64
	if err := s.pool.QueryRow(ctx, "SELECT admin_key, token_hash, created FROM channels WHERE id = $1", id[:]).Scan(&ch.AdminKey, &hash, &created); err != nil {
		return relay.Channel{}, dbErr("channel", err)
	}
	if len(hash) != len(ch.TokenHash) {
		return relay.Channel{}, dbErr("channel", errors.New("malformed channel row"))
	}
	copy(ch.TokenHash[:], hash)
	ch.Created = fromNanos(created)
	return ch, nil
}

// appendPost is one statement: the stored copy of a retried post, or the
// channel's next seq (under the channel row's lock) and the post inserted
// with it. Two concurrent first tries of one post id: the second's insert
// violates (channel, id), the whole statement is undone and AppendPost
// runs it again, finding the first's copy.
const appendPost = `WITH dup AS (
	SELECT seq, server_time FROM channel_posts WHERE channel = $1 AND id = $2
), nxt AS (
	UPDATE channels SET last_seq = last_seq + 1 WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM dup) RETURNING last_seq
), ins AS (
	INSERT INTO channel_posts (channel, seq, id, content, signature, server_time)
	SELECT $1, last_seq, $2, $3, $4, $5 FROM nxt RETURNING seq, server_time
)
SELECT seq, server_time FROM dup UNION ALL SELECT seq, server_time FROM ins`

// AppendPost implements relay.Channels.
func (s *Store) AppendPost(ctx context.Context, p *relay.ChannelPost) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if p.ServerTime.IsZero() {
		p.ServerTime = s.opts.Now()
	}
	for try := 0; ; try++ {
		var seq, at int64
		err := s.pool.QueryRow(ctx, appendPost, p.Channel[:], p.ID[:], nonNil(p.Content), nonNil(p.Signature), nanos(p.ServerTime)).Scan(&seq, &at)
		switch {
		case err == nil:
			p.Seq, p.ServerTime = uint64(seq), fromNanos(at)
			return nil
		case errors.Is(err, pgx.ErrNoRows):
			return notFound("append post: channel")
		}
		if err = dbErr("append post", err); !errors.Is(err, relay.ErrConflict) || try > 0 {
			return err
		}
	}
}

// ChannelPosts implements relay.Channels: the head and the posts up to it
// in one statement (one snapshot).
func (s *Store) ChannelPosts(ctx context.Context, id relay.ChannelID, after uint64, limit int) ([]relay.ChannelPost, uint64, error) {
	if err := s.checkOpen(); err != nil {
		return nil, 0, err
	}
	out := []relay.ChannelPost{}
	rows, err := s.pool.Query(ctx, `SELECT c.last_seq, p.seq, p.id, p.content, p.signature, p.server_time
FROM channels c LEFT JOIN LATERAL (
	SELECT seq, id, content, signature, server_time FROM channel_posts
	WHERE channel = c.id AND seq > $2 AND seq <= c.last_seq ORDER BY seq LIMIT $3
) p ON true WHERE c.id = $1 ORDER BY p.seq`, id[:], int64(min(after, 1<<63-1)), max(limit, 0))
	if err != nil {
		return nil, 0, dbErr("channel posts", err)
	}
	defer rows.Close()
	var head uint64
	for rows.Next() {
		var last int64
		var seq, at *int64
		var pid, content, sig []byte
		if err := rows.Scan(&last, &seq, &pid, &content, &sig, &at); err != nil {
			return nil, 0, dbErr("channel posts", err)
		}
		head = uint64(last)
		if seq == nil {
			continue // no post: the LEFT JOIN's one row of the channel alone
		}
		p := relay.ChannelPost{Channel: id, Seq: uint64(*seq), Content: nonNil(content), Signature: nonNil(sig), ServerTime: fromNanos(*at)}
		if len(pid) != len(p.ID) {
			return nil, 0, dbErr("channel posts", errors.New("malformed post row"))
		}
		copy(p.ID[:], pid)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, dbErr("channel posts", err)
	}
	return out, head, nil
}
