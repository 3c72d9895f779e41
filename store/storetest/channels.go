package storetest

import (
	"bytes"
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"samizdat/relay"
)

func channelID(n int) relay.ChannelID {
	var id relay.ChannelID
	id[0] = 0xc4
	id[14], id[15] = byte(n>>8), byte(n)
	return id
}

func testChannel(n int) relay.Channel {
	ch := relay.Channel{ID: channelID(n), AdminKey: bytes.Repeat([]byte{byte(n)}, 32), Created: epoch}
	ch.TokenHash[0], ch.TokenHash[31] = 0x7a, byte(n)
	return ch
}

func post(ch relay.ChannelID, n int) relay.ChannelPost {
	p := relay.ChannelPost{Channel: ch, Content: bytes.Repeat([]byte{byte(n)}, 100+n), Signature: bytes.Repeat([]byte{0x51, byte(n)}, 32)}
	p.ID[0], p.ID[14], p.ID[15] = 0xb0, byte(n>>8), byte(n)
	return p
}

func mustCreateChannel(t *testing.T, s relay.Store, n int) relay.Channel {
	t.Helper()
	ch := testChannel(n)
	if err := s.CreateChannel(context.Background(), ch); err != nil {
		t.Fatalf("CreateChannel: %v", err)
	}
	return ch
}

func testChannels(t *testing.T, open Opener) {
	s, _ := openDefault(t, open)
	ctx := context.Background()
	ch := mustCreateChannel(t, s, 1)
	got, err := s.ChannelByID(ctx, ch.ID)
	if err != nil {
		t.Fatalf("ChannelByID: %v", err)
	}
	if got.ID != ch.ID || !bytes.Equal(got.AdminKey, ch.AdminKey) || got.TokenHash != ch.TokenHash || !got.Created.Equal(ch.Created) {
		t.Fatalf("ChannelByID = %+v, want %+v", got, ch)
	}
	got.AdminKey[0] ^= 0xff // the caller's copy
	if again, _ := s.ChannelByID(ctx, ch.ID); !bytes.Equal(again.AdminKey, ch.AdminKey) {
		t.Fatal("changing a returned channel changed the stored one")
	}
	other := testChannel(2)
	other.ID = ch.ID
	if err := s.CreateChannel(ctx, other); !errors.Is(err, relay.ErrConflict) {
		t.Fatalf("CreateChannel of a taken id = %v, want ErrConflict", err)
	}
	if again, _ := s.ChannelByID(ctx, ch.ID); !bytes.Equal(again.AdminKey, ch.AdminKey) || again.TokenHash != ch.TokenHash {
		t.Fatal("a refused CreateChannel changed the channel")
	}
	if _, err := s.ChannelByID(ctx, channelID(9)); !errors.Is(err, relay.ErrNotFound) {
		t.Fatalf("ChannelByID of an unknown id = %v, want ErrNotFound", err)
	}
	p := post(channelID(9), 1)
	if err := s.AppendPost(ctx, &p); !errors.Is(err, relay.ErrNotFound) {
		t.Fatalf("AppendPost to an unknown channel = %v, want ErrNotFound", err)
	}
	if posts, head, err := s.ChannelPosts(ctx, channelID(9), 0, 10); err != nil || len(posts) != 0 || head != 0 {
		t.Fatalf("ChannelPosts of an unknown channel = %d posts, head %d, %v", len(posts), head, err)
	}
}

func equalPost(a, b relay.ChannelPost) bool {
	return a.Channel == b.Channel && a.ID == b.ID && a.Seq == b.Seq && bytes.Equal(a.Content, b.Content) &&
		bytes.Equal(a.Signature, b.Signature) && a.ServerTime.Equal(b.ServerTime)
}

func testChannelPosts(t *testing.T, open Opener) {
	s, clock := openDefault(t, open)
	ctx := context.Background()
	a, b := mustCreateChannel(t, s, 1).ID, mustCreateChannel(t, s, 2).ID
	var stored []relay.ChannelPost
	for i := 1; i <= 5; i++ {
		p := post(a, i)
		if err := s.AppendPost(ctx, &p); err != nil {
			t.Fatalf("AppendPost %d: %v", i, err)
		}
		if p.Seq != uint64(i) || !p.ServerTime.Equal(clock.Now()) {
			t.Fatalf("post %d: Seq %d, ServerTime %v; want %d, %v", i, p.Seq, p.ServerTime, i, clock.Now())
		}
		stored = append(stored, p)
		clock.Advance(time.Second)
	}
	// The other channel's log is its own.
	pb := post(b, 1)
	pb.ID = stored[0].ID // post ids are per channel
	if err := s.AppendPost(ctx, &pb); err != nil || pb.Seq != 1 {
		t.Fatalf("first post of another channel: Seq %d, %v", pb.Seq, err)
	}
	// A retry is stored once and answered with the first copy's Seq.
	dup := post(a, 2)
	dup.Content = []byte("other bytes")
	if err := s.AppendPost(ctx, &dup); err != nil || dup.Seq != 2 || !dup.ServerTime.Equal(stored[1].ServerTime) {
		t.Fatalf("AppendPost of a stored id: Seq %d, time %v, %v; want 2, %v", dup.Seq, dup.ServerTime, err, stored[1].ServerTime)
	}
	for _, c := range []struct {
		after      uint64
		limit      int
		first, num int
	}{
		{0, 10, 0, 5}, {0, 2, 0, 2}, {2, 2, 2, 2}, {4, 10, 4, 1}, {5, 10, 0, 0}, {6, 10, 0, 0},
		{math.MaxUint64, 10, 0, 0}, {0, 0, 0, 0}, {0, -1, 0, 0},
	} {
		posts, head, err := s.ChannelPosts(ctx, a, c.after, c.limit)
		if err != nil || head != 5 || len(posts) != c.num {
			t.Fatalf("ChannelPosts(after %d, limit %d) = %d posts, head %d, %v; want %d, head 5", c.after, c.limit, len(posts), head, err, c.num)
		}
		for i, p := range posts {
			if !equalPost(p, stored[c.first+i]) {
				t.Fatalf("ChannelPosts(after %d): post %d is %+v, want %+v", c.after, i, p, stored[c.first+i])
			}
		}
	}
	posts, _, _ := s.ChannelPosts(ctx, a, 0, 1)
	posts[0].Content[0] ^= 0xff
	if again, _, _ := s.ChannelPosts(ctx, a, 0, 1); !equalPost(again[0], stored[0]) {
		t.Fatal("changing a returned post changed the stored one")
	}
	if posts, head, err := s.ChannelPosts(ctx, b, 0, 10); err != nil || head != 1 || len(posts) != 1 || !equalPost(posts[0], pb) {
		t.Fatalf("the other channel: %d posts, head %d, %v", len(posts), head, err)
	}
}

func testChannelPostsConcurrent(t *testing.T, open Opener) {
	s, _ := openDefault(t, open)
	ctx := context.Background()
	ch := mustCreateChannel(t, s, 1).ID
	const writers, each = 8, 10
	seqs := make([][]uint64, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p := post(ch, w*each+i)
				if err := s.AppendPost(ctx, &p); err != nil {
					errs <- err
					return
				}
				seqs[w] = append(seqs[w], p.Seq)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AppendPost: %v", err)
	}
	seen := make(map[uint64]bool)
	for _, ws := range seqs {
		for i, q := range ws {
			if seen[q] || q < 1 || q > writers*each || (i > 0 && q <= ws[i-1]) {
				t.Fatalf("Seq %d repeated, out of range or out of order", q)
			}
			seen[q] = true
		}
	}
	posts, head, err := s.ChannelPosts(ctx, ch, 0, 1000)
	if err != nil || head != writers*each || len(posts) != writers*each {
		t.Fatalf("ChannelPosts = %d posts, head %d, %v", len(posts), head, err)
	}
}
