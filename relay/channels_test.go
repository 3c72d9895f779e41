package relay_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"

	"samizdat/broadcast"
	"samizdat/relay"
	"samizdat/relay/wire"
)

// testChannel is a channel's keys on the test's side.
type testChannel struct {
	code  broadcast.Code
	id    broadcast.ID
	token broadcast.Token
}

func newTestChannel(t testing.TB) *testChannel {
	t.Helper()
	code, err := broadcast.NewChannel(broadcast.NetworkTag{}, "news", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testChannel{code: code, id: code.ID(), token: broadcast.ReadToken(code.ContentKey, code.ID())}
}

func (ch *testChannel) createReq() *wire.Request {
	h := broadcast.TokenHash(ch.token)
	return &wire.Request{Op: &wire.Request_CreateChannel{CreateChannel: &wire.CreateChannel{
		AdminKey: ch.code.AdminKey, TokenHash: h[:], Signature: broadcast.SignCreate(ch.code.Admin, h)}}}
}

// postReq seals text as post n, signed by signer (the admin key, or
// another to forge).
func (ch *testChannel) postReq(t testing.TB, n int, text string, signer ed25519.PrivateKey) *wire.Request {
	t.Helper()
	pid := broadcast.PostID{byte(n >> 8), byte(n)}
	ct, err := broadcast.Seal(ch.code.ContentKey, ch.id, pid, broadcast.Body{SentAt: 1, Text: text}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.Request{Op: &wire.Request_PostToChannel{PostToChannel: &wire.PostToChannel{
		ChannelId: ch.id[:], PostId: pid[:], Content: ct, Signature: broadcast.SignPost(signer, ch.id, pid, ct)}}}
}

func (ch *testChannel) readReq(after uint64, subscribe bool) *wire.Request {
	return &wire.Request{Op: &wire.Request_ReadChannel{ReadChannel: &wire.ReadChannel{
		ChannelId: ch.id[:], ReadToken: ch.token[:], After: after, Subscribe: subscribe}}}
}

// texts decrypts and checks the posts of a read.
func (ch *testChannel) texts(t testing.TB, posts []*wire.ChannelPost) []string {
	t.Helper()
	var out []string
	for _, p := range posts {
		pid := broadcast.PostID(p.PostId)
		if !broadcast.VerifyPost(ch.code.AdminKey, ch.id, pid, p.Content, p.Signature) {
			t.Fatalf("post %d: bad signature", p.Seq)
		}
		b, err := broadcast.Open(ch.code.ContentKey, ch.id, pid, p.Content)
		if err != nil {
			t.Fatalf("post %d: %v", p.Seq, err)
		}
		out = append(out, b.Text)
	}
	return out
}

func TestChannelPostAndRead(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.register("admin", 1)
	ch := newTestChannel(t)
	admin.dev1().mustOK(ch.createReq())
	admin.dev1().mustOK(ch.createReq()) // a retry succeeds

	// A reader needs no account: an anonymous connection with the token.
	reader := e.dial(newKey(t))
	if r := reader.mustOK(ch.readReq(0, false)).GetChannelPosts(); r == nil || r.Head != 0 || len(r.Posts) != 0 {
		t.Fatalf("empty channel read: %v", r)
	}
	for i, text := range []string{"one", "two", "three"} {
		r := admin.dev1().mustOK(ch.postReq(t, i+1, text, ch.code.Admin))
		if r.GetChannelPosted().GetSeq() != uint64(i+1) {
			t.Fatalf("post %q: seq %d", text, r.GetChannelPosted().GetSeq())
		}
	}
	// A retry of a post is stored once.
	if r := admin.dev1().mustOK(ch.postReq(t, 2, "two", ch.code.Admin)); r.GetChannelPosted().GetSeq() != 2 {
		t.Fatalf("retried post: seq %d", r.GetChannelPosted().GetSeq())
	}
	r := reader.mustOK(ch.readReq(0, false)).GetChannelPosts()
	if got := ch.texts(t, r.Posts); fmt.Sprint(got) != "[one two three]" || r.Head != 3 {
		t.Fatalf("read from 0: %v, head %d", got, r.Head)
	}
	r = reader.mustOK(ch.readReq(2, false)).GetChannelPosts()
	if got := ch.texts(t, r.Posts); fmt.Sprint(got) != "[three]" || r.Posts[0].Seq != 3 {
		t.Fatalf("read from 2: %v", got)
	}
	if r := reader.mustOK(ch.readReq(3, false)).GetChannelPosts(); len(r.Posts) != 0 || r.Head != 3 {
		t.Fatalf("read from the head: %v", r)
	}
}

func TestChannelRefusals(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.register("admin", 1)
	ch := newTestChannel(t)
	admin.dev1().mustOK(ch.createReq())
	admin.dev1().mustOK(ch.postReq(t, 1, "real", ch.code.Admin))
	other := newTestChannel(t)
	anon := e.dial(newKey(t))

	wrongToken := ch.readReq(0, false)
	wrongToken.GetReadChannel().ReadToken = other.token[:]
	forged := ch.postReq(t, 2, "forged", other.code.Admin)
	badCreate := other.createReq()
	badCreate.GetCreateChannel().Signature = bytes.Repeat([]byte{1}, 64)
	otherToken := ch.createReq()
	h := broadcast.TokenHash(other.token)
	otherToken.GetCreateChannel().TokenHash = h[:]
	otherToken.GetCreateChannel().Signature = broadcast.SignCreate(ch.code.Admin, h)
	short := ch.readReq(0, false)
	short.GetReadChannel().ChannelId = ch.id[:8]
	for _, c := range []struct {
		name string
		from *client
		req  *wire.Request
		want wire.Status
	}{
		{"post signed by another key", admin.dev1(), forged, wire.Status_UNAUTHORIZED},
		{"anonymous forged post", anon, ch.postReq(t, 3, "forged", other.code.Admin), wire.Status_UNAUTHORIZED},
		{"wrong read token", anon, wrongToken, wire.Status_UNAUTHORIZED},
		{"unknown channel read", anon, other.readReq(0, false), wire.Status_NOT_FOUND},
		{"unknown channel post", admin.dev1(), other.postReq(t, 1, "x", other.code.Admin), wire.Status_NOT_FOUND},
		{"anonymous create", anon, other.createReq(), wire.Status_UNAUTHENTICATED},
		{"bad create signature", admin.dev1(), badCreate, wire.Status_UNAUTHORIZED},
		{"create again with another token", admin.dev1(), otherToken, wire.Status_CONFLICT},
		{"short channel id", anon, short, wire.Status_BAD_REQUEST},
		{"empty post", admin.dev1(), &wire.Request{Op: &wire.Request_PostToChannel{PostToChannel: &wire.PostToChannel{ChannelId: ch.id[:]}}}, wire.Status_BAD_REQUEST},
		{"empty create", admin.dev1(), &wire.Request{Op: &wire.Request_CreateChannel{CreateChannel: &wire.CreateChannel{}}}, wire.Status_BAD_REQUEST},
	} {
		if r := c.from.call(c.req); r.Status != c.want {
			t.Errorf("%s: status %v (%s), want %v", c.name, r.Status, r.Reason, c.want)
		}
	}
	// Nothing refused was stored, and both connections still work.
	posts, head, err := e.store.ChannelPosts(context.Background(), relay.ChannelID(ch.id), 0, 10)
	if err != nil || head != 1 || len(posts) != 1 {
		t.Fatalf("the log after the refusals: %d posts, head %d, %v", len(posts), head, err)
	}
	if _, err := e.store.ChannelByID(context.Background(), relay.ChannelID(other.id)); err == nil {
		t.Fatal("a refused creation was stored")
	}
	if got := ch.texts(t, anon.mustOK(ch.readReq(0, false)).GetChannelPosts().Posts); fmt.Sprint(got) != "[real]" {
		t.Fatalf("read after the refusals: %v", got)
	}
	admin.dev1().mustOK(&wire.Request{Op: &wire.Request_Ping{Ping: &wire.Ping{}}})
}

func TestChannelNotice(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.register("admin", 1)
	sub := e.register("sub", 1)
	ch := newTestChannel(t)
	admin.dev1().mustOK(ch.createReq())
	sub.dev1().mustOK(&wire.Request{Op: &wire.Request_StartDelivery{StartDelivery: &wire.StartDelivery{}}})
	sub.dev1().mustOK(ch.readReq(0, true))
	anon := e.dial(newKey(t)) // no account, no delivery: notices all the same
	anon.mustOK(ch.readReq(0, true))
	admin.dev1().mustOK(ch.postReq(t, 1, "news", ch.code.Admin))
	for _, c := range []*client{sub.dev1(), anon} {
		for {
			p := c.nextPush()
			if n := p.GetChannel(); n != nil {
				if !bytes.Equal(n.ChannelId, ch.id[:]) || n.Seq != 1 {
					t.Fatalf("notice %v", n)
				}
				break
			}
		}
	}
	if got := ch.texts(t, sub.dev1().mustOK(ch.readReq(0, false)).GetChannelPosts().Posts); fmt.Sprint(got) != "[news]" {
		t.Fatalf("read after the notice: %v", got)
	}
}

// TestChannelPages: a log longer than a page is read page by page, and
// the cache of the latest posts answers what the store would.
func TestChannelPages(t *testing.T) {
	e := newEnv(t, func(c *relay.Config) {
		c.Limits.ChannelPage = 4
		c.Limits.ChannelPosts = relay.Unlimited
	})
	admin := e.register("admin", 1)
	ch := newTestChannel(t)
	admin.dev1().mustOK(ch.createReq())
	reader := e.dial(newKey(t))
	var want []string
	for i := 1; i <= 30; i++ {
		text := fmt.Sprintf("post %d", i)
		admin.dev1().mustOK(ch.postReq(t, i, text, ch.code.Admin))
		want = append(want, text)
		if i%7 == 0 { // reads between posts fill the cache
			reader.mustOK(ch.readReq(uint64(i-1), false))
		}
	}
	for start := range 30 {
		var got []string
		for after := uint64(start); ; {
			r := reader.mustOK(ch.readReq(after, false)).GetChannelPosts()
			if len(r.Posts) > 4 || r.Head != 30 {
				t.Fatalf("a page of %d posts, head %d", len(r.Posts), r.Head)
			}
			if len(r.Posts) == 0 {
				break
			}
			for i, p := range r.Posts {
				if p.Seq != after+uint64(i)+1 {
					t.Fatalf("after %d: post %d has seq %d", after, i, p.Seq)
				}
			}
			got = append(got, ch.texts(t, r.Posts)...)
			after = r.Posts[len(r.Posts)-1].Seq
		}
		if fmt.Sprint(got) != fmt.Sprint(want[start:]) {
			t.Fatalf("read from %d: %v", start, got)
		}
	}
}
