package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"samizdat/session"
)

// bundleVariants are the bundle shapes a server may hand out.
var bundleVariants = []struct {
	name string
	opts BundleOptions
}{
	{"one-time-prekeys", BundleOptions{}},
	{"no-one-time-ec-prekey", BundleOptions{NoPreKey: true}},
	{"last-resort-kyber", BundleOptions{LastResortKyber: true}},
	{"no-ec-prekey-last-resort-kyber", BundleOptions{NoPreKey: true, LastResortKyber: true}},
}

// exchange sends rounds messages alternately, starting with first, and
// checks each one decrypts to what was sent, that the first message is a
// PreKey message and that every Whisper message carries SPQR data.
func exchange(t *testing.T, ctx context.Context, d *Driver, first, second endpoint, rounds int) {
	t.Helper()
	for i := range rounds {
		from, to := first, second
		if i%2 == 1 {
			from, to = second, first
		}
		msg := payload(from.label()+"->"+to.label(), i, 64+i)
		ct, err := from.encrypt(ctx, to.peer(), msg)
		if err != nil {
			t.Fatalf("round %d: %s encrypt: %v", i, from.label(), err)
		}
		if i == 0 && ct.Type != session.TypePreKey {
			t.Fatalf("round 0: %s sent type %d, want PreKey (3)", from.label(), ct.Type)
		}
		if i > 0 && ct.Type != session.TypeWhisper {
			t.Fatalf("round %d: %s sent type %d, want Whisper (2)", i, from.label(), ct.Type)
		}
		info, err := d.Inspect(ctx, ct)
		if err != nil {
			t.Fatalf("round %d: libsignal cannot parse %s's message: %v", i, from.label(), err)
		}
		if info.Version != 4 {
			t.Errorf("round %d: %s sent version %d, want 4", i, from.label(), info.Version)
		}
		if ct.Type == session.TypeWhisper && info.PQRatchetLen == 0 {
			t.Errorf("round %d: %s sent no SPQR data (libsignal 0.103 requires it)", i, from.label())
		}
		got, err := to.decrypt(ctx, from.peer(), ct)
		if err != nil {
			t.Fatalf("round %d: %s cannot decrypt %s's message: %v", i, to.label(), from.label(), err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("round %d: %s decrypted %q, want %q", i, to.label(), got, msg)
		}
	}
}

// TestSessionGoInitiates: the Go library opens a session from a libsignal
// bundle and both sides talk.
func TestSessionGoInitiates(t *testing.T) {
	interopCase(t)
	d := harness(t)
	for _, v := range bundleVariants {
		t.Run(v.name, func(t *testing.T) {
			ctx := ctxFor(t)
			g := newGoParty(t, 1)
			bob := newLsParty(t, ctx, d, "ls-bob", PartyOptions{DeviceID: 2})
			b, err := bob.Bundle(ctx, v.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.processBundle(ctx, bob.Peer(), b); err != nil {
				t.Fatalf("Go rejects libsignal's bundle: %v", err)
			}
			exchange(t, ctx, d, g, lsEndpoint{bob}, 8)
		})
	}
}

// TestSessionLibsignalInitiates: libsignal opens a session from a Go bundle.
func TestSessionLibsignalInitiates(t *testing.T) {
	interopCase(t)
	d := harness(t)
	for _, v := range bundleVariants {
		t.Run(v.name, func(t *testing.T) {
			ctx := ctxFor(t)
			g := newGoParty(t, 3)
			alice := newLsParty(t, ctx, d, "ls-alice", PartyOptions{})
			if err := alice.ProcessBundle(ctx, g.peer(), g.bundle(t, v.opts)); err != nil {
				t.Fatalf("libsignal rejects Go's bundle: %v", err)
			}
			exchange(t, ctx, d, lsEndpoint{alice}, g, 8)
		})
	}
}

// inflight is a message on its way, with what it must decrypt to.
type inflight struct {
	from, to  endpoint
	seq       int
	plaintext []byte
	ct        Ciphertext
	age       int // sends by the same sender since this one
	at        int // the receiver's delivery count when this was delivered
}

// conversation is a lossy, reordering, duplicating network between two
// endpoints. Every delivered message must decrypt to exactly what was sent,
// and every duplicate must be rejected.
type conversation struct {
	t        *testing.T
	ctx      context.Context
	rng      *mrand.Rand
	a, b     endpoint
	pending  []*inflight
	seen     []*inflight // delivered once, candidates for duplicates
	received map[endpoint]int
	stats    struct{ sent, delivered, dropped, duplicates int }

	loggedLSDup  bool
	oldDupErrors map[string]int // how old duplicates were rejected, by side
}

func (c *conversation) send(from, to endpoint, seq int) {
	c.t.Helper()
	// Keep reordering within libsignal's limits: a message may wait while
	// its sender sends at most 3 more (so at most a few ratchet steps).
	var keep []*inflight
	var due []*inflight
	for _, m := range c.pending {
		if m.from == from {
			m.age++
			if m.age > 3 {
				due = append(due, m)
				continue
			}
		}
		keep = append(keep, m)
	}
	c.pending = keep
	for _, m := range due {
		c.deliver(m)
	}
	msg := payload(fmt.Sprintf("%s->%s", from.label(), to.label()), seq, 32+c.rng.IntN(1200))
	ct, err := from.encrypt(c.ctx, to.peer(), msg)
	if err != nil {
		c.t.Fatalf("%s encrypt #%d: %v", from.label(), seq, err)
	}
	c.stats.sent++
	m := &inflight{from: from, to: to, seq: seq, plaintext: msg, ct: ct}
	// Drop 5%, but never a side's first message (the other side could not
	// answer a session it never saw).
	if seq > 0 && c.rng.IntN(100) < 5 {
		c.stats.dropped++
		return
	}
	c.pending = append(c.pending, m)
}

func (c *conversation) deliver(m *inflight) {
	c.t.Helper()
	got, err := m.to.decrypt(c.ctx, m.from.peer(), m.ct)
	if err != nil {
		c.t.Fatalf("%s cannot decrypt %s's message #%d (type %d): %v", m.to.label(), m.from.label(), m.seq, m.ct.Type, err)
	}
	if !bytes.Equal(got, m.plaintext) {
		c.t.Fatalf("%s decrypted %s's message #%d wrongly", m.to.label(), m.from.label(), m.seq)
	}
	c.stats.delivered++
	c.received[m.to]++
	m.at = c.received[m.to]
	c.seen = append(c.seen, m)
}

func (c *conversation) deliverRandom() {
	if len(c.pending) == 0 {
		return
	}
	i := c.rng.IntN(len(c.pending))
	m := c.pending[i]
	c.pending = append(c.pending[:i], c.pending[i+1:]...)
	c.deliver(m)
}

func (c *conversation) duplicate() {
	c.t.Helper()
	if len(c.seen) == 0 {
		return
	}
	m := c.seen[c.rng.IntN(len(c.seen))]
	_, err := m.to.decrypt(c.ctx, m.from.peer(), m.ct)
	if err == nil {
		c.t.Fatalf("%s accepted a duplicate of %s's message #%d", m.to.label(), m.from.label(), m.seq)
	}
	// A recent duplicate must be reported as one. An old one may belong to a
	// receiving chain the session has since dropped (it keeps
	// MaxReceiverChains); then both libsignal and Go treat it as a message on
	// an unknown chain and reject it otherwise (SPQR refuses its old epoch).
	recent := c.received[m.to]-m.at < 3
	if _, isGo := m.to.(*goParty); isGo && recent && !errors.Is(err, session.ErrDuplicateMessage) {
		c.t.Errorf("Go rejected a recent duplicate with %v, want ErrDuplicateMessage", err)
	}
	if _, isGo := m.to.(*goParty); !isGo && recent && !c.loggedLSDup {
		c.t.Logf("libsignal rejects a recent duplicate with: %v", err)
		c.loggedLSDup = true
	}
	if !recent {
		kind := "other error"
		if errors.Is(err, session.ErrDuplicateMessage) || strings.Contains(err.Error(), "DuplicatedMessage") {
			kind = "duplicate error"
		}
		c.oldDupErrors[m.to.label()+": "+kind]++
	}
	c.stats.duplicates++
}

// run makes each side send n messages, interleaved at random with
// deliveries and duplicates, then delivers the rest.
func (c *conversation) run(n int) {
	c.t.Helper()
	sentA, sentB := 0, 0
	for sentA < n || sentB < n {
		switch r := c.rng.IntN(100); {
		case r < 30 && sentA < n:
			c.send(c.a, c.b, sentA)
			sentA++
		case r < 60 && sentB < n && c.received[c.b] > 0:
			// b answers only once it has a session (it never initiates).
			c.send(c.b, c.a, sentB)
			sentB++
		case r < 95:
			c.deliverRandom()
		default:
			c.duplicate()
		}
	}
	for len(c.pending) > 0 {
		c.deliverRandom()
	}
	for range 10 {
		c.duplicate()
	}
}

// TestSessionLongConversation: 200 messages each way between Go and
// libsignal, interleaved, reordered, with drops and duplicates; once with
// each side opening the session.
func TestSessionLongConversation(t *testing.T) {
	interopCase(t)
	d := harness(t)
	for _, goFirst := range []bool{true, false} {
		name := "go-initiates"
		if !goFirst {
			name = "libsignal-initiates"
		}
		t.Run(name, func(t *testing.T) {
			ctx := ctxFor(t)
			g := newGoParty(t, 1)
			ls := newLsParty(t, ctx, d, "ls-conv", PartyOptions{})
			var a, b endpoint
			if goFirst {
				goOpens(t, ctx, g, ls)
				a, b = g, lsEndpoint{ls}
			} else {
				lsOpens(t, ctx, ls, g)
				a, b = lsEndpoint{ls}, g
			}
			c := &conversation{t: t, ctx: ctx, rng: seeded(t), a: a, b: b, received: map[endpoint]int{}, oldDupErrors: map[string]int{}}
			c.run(200)
			t.Logf("sent %d, delivered %d, dropped %d, duplicates rejected %d (old ones: %v)",
				c.stats.sent, c.stats.delivered, c.stats.dropped, c.stats.duplicates, c.oldDupErrors)
		})
	}
}

// restart: a and b talk; messages of that session are in flight both ways
// when restarter opens a new session from a fresh bundle of the other side.
// The new session's first message arrives first, then the old in-flight
// ones; all must decrypt, and the conversation goes on both ways.
func restart(t *testing.T, ctx context.Context, d *Driver, restarter, other endpoint, freshBundle func() error) {
	t.Helper()
	exchange(t, ctx, d, restarter, other, 4)
	var oldFromRestarter, oldFromOther []*inflight
	for i := range 3 {
		for _, dir := range []struct {
			from, to endpoint
			q        *[]*inflight
		}{{restarter, other, &oldFromRestarter}, {other, restarter, &oldFromOther}} {
			msg := payload("old "+dir.from.label(), i, 80)
			ct, err := dir.from.encrypt(ctx, dir.to.peer(), msg)
			if err != nil {
				t.Fatal(err)
			}
			*dir.q = append(*dir.q, &inflight{from: dir.from, to: dir.to, seq: i, plaintext: msg, ct: ct})
		}
	}
	if err := freshBundle(); err != nil {
		t.Fatalf("%s cannot process the new bundle: %v", restarter.label(), err)
	}
	check := func(m *inflight, what string) {
		t.Helper()
		got, err := m.to.decrypt(ctx, m.from.peer(), m.ct)
		if err != nil {
			t.Fatalf("%s: %s cannot decrypt %s's message: %v", what, m.to.label(), m.from.label(), err)
		}
		if !bytes.Equal(got, m.plaintext) {
			t.Fatalf("%s: wrong plaintext", what)
		}
	}
	newMsg := []byte("first message of the new session")
	ct, err := restarter.encrypt(ctx, other.peer(), newMsg)
	if err != nil {
		t.Fatal(err)
	}
	if ct.Type != session.TypePreKey {
		t.Fatalf("new session's first message has type %d, want PreKey", ct.Type)
	}
	check(&inflight{from: restarter, to: other, plaintext: newMsg, ct: ct}, "new session")
	// Old messages arrive late, in reverse order, both ways.
	for i := len(oldFromOther) - 1; i >= 0; i-- {
		check(oldFromOther[i], fmt.Sprintf("old message %d to the restarter", i))
		check(oldFromRestarter[i], fmt.Sprintf("old message %d from the restarter", i))
	}
	// And the conversation continues.
	for i := range 6 {
		from, to := other, restarter
		if i%2 == 1 {
			from, to = restarter, other
		}
		msg := payload("after restart "+from.label(), i, 100)
		ct, err := from.encrypt(ctx, to.peer(), msg)
		if err != nil {
			t.Fatal(err)
		}
		check(&inflight{from: from, to: to, plaintext: msg, ct: ct}, fmt.Sprintf("after restart, round %d", i))
	}
}

// TestSessionRestartGo: the Go side restarts from a new libsignal bundle.
func TestSessionRestartGo(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	g := newGoParty(t, 1)
	ls := newLsParty(t, ctx, d, "ls-restart", PartyOptions{})
	goOpens(t, ctx, g, ls)
	restart(t, ctx, d, g, lsEndpoint{ls}, func() error {
		nb, err := ls.Bundle(ctx, BundleOptions{NewSignedPreKey: true})
		if err != nil {
			return err
		}
		return g.processBundle(ctx, ls.Peer(), nb)
	})
}

// TestSessionRestartLibsignal: libsignal restarts from a new Go bundle.
func TestSessionRestartLibsignal(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	g := newGoParty(t, 1)
	ls := newLsParty(t, ctx, d, "ls-restart", PartyOptions{})
	lsOpens(t, ctx, ls, g)
	restart(t, ctx, d, lsEndpoint{ls}, g, func() error {
		return ls.ProcessBundle(ctx, g.peer(), g.bundle(t, BundleOptions{NewSignedPreKey: true}))
	})
}

// TestSessionSimultaneousInitiation: both sides open a session from the
// other's bundle at the same time; their PreKey messages (two each) cross.
// Both must decrypt the other's first messages and go on talking both
// ways, whichever side answers first: each side's current session is then
// the peer's, and the first answers land on the receiver's archived
// session, behind a current one whose SPQR already used the same indexes.
func TestSessionSimultaneousInitiation(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	for _, goFirst := range []bool{true, false} {
		name := "libsignal answers first"
		if goFirst {
			name = "go answers first"
		}
		t.Run(name, func(t *testing.T) {
			g := newGoParty(t, 1)
			ls := newLsParty(t, ctx, d, "ls-race", PartyOptions{})
			goOpens(t, ctx, g, ls)
			lsOpens(t, ctx, ls, g)
			var fromGo, fromLs []Ciphertext
			for i := range 2 {
				ct, err := g.encrypt(ctx, ls.Peer(), []byte(fmt.Sprint("hello from go ", i)))
				if err != nil {
					t.Fatal(err)
				}
				fromGo = append(fromGo, ct)
				if ct, err = ls.Encrypt(ctx, g.peer(), []byte(fmt.Sprint("hello from libsignal ", i))); err != nil {
					t.Fatal(err)
				}
				fromLs = append(fromLs, ct)
			}
			for i := range 2 {
				if fromGo[i].Type != session.TypePreKey || fromLs[i].Type != session.TypePreKey {
					t.Fatalf("crossing messages %d have types %d and %d, want PreKey", i, fromGo[i].Type, fromLs[i].Type)
				}
				if pt, err := g.decrypt(ctx, ls.Peer(), fromLs[i]); err != nil || string(pt) != fmt.Sprint("hello from libsignal ", i) {
					t.Fatalf("Go decrypting crossing PreKey message %d: %q, %v", i, pt, err)
				}
				if pt, err := ls.Decrypt(ctx, g.peer(), fromGo[i]); err != nil || string(pt) != fmt.Sprint("hello from go ", i) {
					t.Fatalf("libsignal decrypting crossing PreKey message %d: %q, %v", i, pt, err)
				}
			}
			for i := range 8 {
				var from, to endpoint = g, lsEndpoint{ls}
				if (i%4 >= 2) == goFirst {
					from, to = to, from
				}
				roundTrip(t, ctx, from, to, payload("after the race "+from.label(), i, 50), fmt.Sprintf("message %d after the race", i))
			}
		})
	}
}

// TestSessionMessageSizes: empty, block-boundary and large messages, both
// ways.
func TestSessionMessageSizes(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)
	g := newGoParty(t, 1)
	ls := newLsParty(t, ctx, d, "ls-sizes", PartyOptions{})
	goOpens(t, ctx, g, ls)
	exchange(t, ctx, d, g, lsEndpoint{ls}, 2)
	for _, size := range []int{0, 1, 15, 16, 17, 31, 32, 33, 4096, 65536, 256 << 10} {
		for _, dir := range [][2]endpoint{{g, lsEndpoint{ls}}, {lsEndpoint{ls}, g}} {
			msg := make([]byte, size)
			for i := range msg {
				msg[i] = byte(i*7 + size)
			}
			roundTrip(t, ctx, dir[0], dir[1], msg, fmt.Sprintf("%d bytes", size))
		}
	}
}
