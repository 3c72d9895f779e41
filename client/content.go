package client

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/client/clientdb"
	"samizdat/client/internal/contentpb"
)

// paddingBlock is the padding granularity of plaintext contents, as Signal
// pads its message bodies.
const paddingBlock = 160

var errBadPadding = errors.New("client: bad content padding")

// pad appends 0x80 and zeros so that the result is one byte short of a
// multiple of paddingBlock (the cipher's own padding completes the block),
// as Signal's clients pad.
func pad(b []byte) []byte {
	parts := (len(b) + 2 + paddingBlock - 1) / paddingBlock
	out := make([]byte, parts*paddingBlock-1)
	copy(out, b)
	out[len(b)] = 0x80
	return out
}

// unpad removes the padding added by pad.
func unpad(b []byte) ([]byte, error) {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case 0:
			continue
		case 0x80:
			return b[:i], nil
		default:
			return nil, errBadPadding
		}
	}
	return nil, errBadPadding
}

// encodeContent serializes c (unpadded).
func encodeContent(c *contentpb.Content) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(c)
}

// decodeContent unpads and parses a received plaintext.
func decodeContent(b []byte) (*contentpb.Content, error) {
	raw, err := unpad(b)
	if err != nil {
		return nil, err
	}
	var c contentpb.Content
	if err := proto.Unmarshal(raw, &c); err != nil {
		return nil, errMalformedContent
	}
	return &c, nil
}

// enqueue stamps content with the time, our name and our access key,
// queues it for peer through s (a transaction, or the database) and kicks
// the outbox.
func (c *Client) enqueue(ctx context.Context, s *clientdb.Store, peer string, content *contentpb.Content) error {
	_, err := c.enqueueID(ctx, s, peer, content)
	return err
}

// enqueueID is enqueue, returning the envelope id of what it queued.
func (c *Client) enqueueID(ctx context.Context, s *clientdb.Store, peer string, content *contentpb.Content) ([16]byte, error) {
	now := c.cfg.Now()
	enc, err := c.stampContent(content, now)
	if err != nil {
		return [16]byte{}, err
	}
	var eid [16]byte
	if _, err := c.cfg.Rand.Read(eid[:]); err != nil {
		return [16]byte{}, err
	}
	if err := s.Enqueue(ctx, clientdb.Outgoing{EnvelopeID: eid, Peer: peer, Content: enc, Timestamp: now}); err != nil {
		return [16]byte{}, err
	}
	c.kickOutbox()
	return eid, nil
}

// stampContent stamps content with the time, our name and our access key
// and serializes it (unpadded).
func (c *Client) stampContent(content *contentpb.Content, now time.Time) ([]byte, error) {
	content.Timestamp = uint64(now.UnixMilli())
	content.SenderUsername = c.username
	content.AccessKey = c.accessKey
	return encodeContent(content)
}
