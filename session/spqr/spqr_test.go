package spqr

import (
	"bytes"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"testing"
)

var testAuthKey = bytes.Repeat([]byte{41}, 32)

type party struct {
	t     testing.TB
	name  string
	state []byte
}

func newParty(t testing.TB, name string, dir Direction, v, minV Version, cp ChainParams) *party {
	t.Helper()
	st, err := InitialState(Params{AuthKey: testAuthKey, Version: v, MinVersion: minV, Direction: dir, Chain: cp})
	if err != nil {
		t.Fatalf("%s: InitialState: %v", name, err)
	}
	return &party{t: t, name: name, state: st}
}

func (p *party) send() (msg, key []byte) {
	p.t.Helper()
	st, msg, key, err := Send(p.state, rand.Reader)
	if err != nil {
		p.t.Fatalf("%s: Send: %v", p.name, err)
	}
	p.state = st
	return msg, key
}

func (p *party) recv(msg []byte) []byte {
	p.t.Helper()
	st, key, err := Recv(p.state, msg)
	if err != nil {
		p.t.Fatalf("%s: Recv: %v", p.name, err)
	}
	p.state = st
	return key
}

func (p *party) epoch() uint64 {
	st, err := decodeState(p.state)
	if err != nil || st.GetV1() == nil {
		return 0
	}
	s, err := v1FromPB(st.GetV1())
	if err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	return s.epoch
}

func v1Pair(t testing.TB, cp ChainParams) (a, b *party) {
	return newParty(t, "alex", A2B, V1, V1, cp), newParty(t, "blake", B2A, V1, V1, cp)
}

// TestRatchet mirrors the crate's `ratchet` test: a ping-pong, then random
// sends with 30% of messages lost.
func TestRatchet(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    Version
	}{{"v1", V1}, {"v0", V0}} {
		t.Run(tc.name, func(t *testing.T) {
			a := newParty(t, "alex", A2B, tc.v, tc.v, ChainParams{})
			b := newParty(t, "blake", B2A, tc.v, tc.v, ChainParams{})
			m, ka := a.send()
			if kb := b.recv(m); !bytes.Equal(ka, kb) {
				t.Fatal("first A2B keys differ")
			}
			if tc.v == V1 && ka == nil {
				t.Fatal("min version V1 must yield a key at once")
			}
			m, kb := b.send()
			if ka := a.recv(m); !bytes.Equal(ka, kb) {
				t.Fatal("first B2A keys differ")
			}
			rng := mrand.New(mrand.NewPCG(1, 2))
			for range 600 {
				if rng.IntN(2) == 0 {
					m, ka := a.send()
					if rng.IntN(10) < 7 {
						if kb := b.recv(m); !bytes.Equal(ka, kb) {
							t.Fatal("A2B keys differ")
						}
					}
				}
				if rng.IntN(2) == 0 {
					m, kb := b.send()
					if rng.IntN(10) < 7 {
						if ka := a.recv(m); !bytes.Equal(ka, kb) {
							t.Fatal("B2A keys differ")
						}
					}
				}
			}
			if tc.v == V1 && (a.epoch() < 3 || b.epoch() < 3) {
				t.Errorf("epochs did not advance: %d %d", a.epoch(), b.epoch())
			}
			if tc.v == V0 && (len(a.state) != 0 || len(b.state) != 0) {
				t.Error("V0 states not empty")
			}
		})
	}
}

// TestEmptyStatesAreV0 checks that nil states behave as V0.
func TestEmptyStatesAreV0(t *testing.T) {
	for _, st := range [][]byte{nil, {}} {
		ns, msg, key, err := Send(st, rand.Reader)
		if err != nil || ns != nil || msg != nil || key != nil {
			t.Fatalf("Send(empty) = %x %x %x %v", ns, msg, key, err)
		}
		ns, key, err = Recv(st, nil)
		if err != nil || ns != nil || key != nil {
			t.Fatalf("Recv(empty, empty) = %x %x %v", ns, key, err)
		}
		// A V0 party ignores V1 messages.
		a, _ := v1Pair(t, ChainParams{})
		m, _ := a.send()
		ns, key, err = Recv(st, m)
		if err != nil || ns != nil || key != nil {
			t.Fatalf("Recv(empty, v1) = %x %x %v", ns, key, err)
		}
		v, _, neg, err := CurrentVersion(st)
		if err != nil || v != V0 || neg {
			t.Fatalf("CurrentVersion(empty) = %v %v %v", v, neg, err)
		}
	}
}

// TestLockstep mirrors lockstep_run_with_logging: strict alternation.
func TestLockstep(t *testing.T) {
	a, b := v1Pair(t, ChainParams{})
	for i := range 60 {
		m, ka := a.send()
		if kb := b.recv(m); !bytes.Equal(ka, kb) || ka == nil {
			t.Fatalf("step %d A2B keys differ or missing", i)
		}
		m, kb := b.send()
		if ka := a.recv(m); !bytes.Equal(ka, kb) || kb == nil {
			t.Fatalf("step %d B2A keys differ or missing", i)
		}
	}
	if a.epoch() < 2 || b.epoch() < 2 {
		t.Errorf("epochs did not advance: %d %d", a.epoch(), b.epoch())
	}
}

// TestEmptyKeyUntilVersionNegotiation ports the crate test of the same name:
// with min version V0, keys appear only after the first receipt, and
// delayed messages still decrypt.
func TestEmptyKeyUntilVersionNegotiation(t *testing.T) {
	a := newParty(t, "alex", A2B, V1, V0, ChainParams{})
	b := newParty(t, "blake", B2A, V1, V0, ChainParams{})
	var am, ak, bm, bk [6][]byte
	for i := 1; i <= 3; i++ {
		am[i], ak[i] = a.send()
	}
	for i := 1; i <= 3; i++ {
		bm[i], bk[i] = b.send()
	}
	for i := 1; i <= 3; i++ {
		if ak[i] != nil || bk[i] != nil {
			t.Fatalf("key %d before negotiation", i)
		}
	}
	if k := a.recv(bm[2]); k != nil {
		t.Fatal("key for pre-negotiation message")
	}
	am[4], ak[4] = a.send()
	am[5], ak[5] = a.send()
	if ak[4] == nil || ak[5] == nil {
		t.Fatal("no key after negotiation")
	}
	if k := b.recv(am[1]); k != nil {
		t.Fatal("key for pre-negotiation message")
	}
	bm[4], bk[4] = b.send()
	bm[5], bk[5] = b.send()
	if bk[4] == nil || bk[5] == nil {
		t.Fatal("no key after negotiation")
	}
	for _, i := range []int{3, 4, 2, 5} {
		if k := b.recv(am[i]); !bytes.Equal(k, ak[i]) {
			t.Fatalf("blake: key of a%d differs", i)
		}
	}
	for _, i := range []int{1, 3, 4, 5} {
		if k := a.recv(bm[i]); !bytes.Equal(k, bk[i]) {
			t.Fatalf("alex: key of b%d differs", i)
		}
	}
}

func TestMinVersionV1AlwaysCreatesKeys(t *testing.T) {
	for _, strictA := range []bool{true, false} {
		minA, minB := V0, V1
		if strictA {
			minA, minB = V1, V0
		}
		a := newParty(t, "alex", A2B, V1, minA, ChainParams{})
		b := newParty(t, "blake", B2A, V1, minB, ChainParams{})
		strict, lax := b, a
		if strictA {
			strict, lax = a, b
		}
		m, k := strict.send()
		if k == nil {
			t.Fatal("strict side: no key")
		}
		if _, k := lax.send(); k != nil {
			t.Fatal("lax side: key before receipt")
		}
		lax.recv(m)
		if _, k := lax.send(); k == nil {
			t.Fatal("lax side: no key after receipt")
		}
	}
}

func TestNegotiateToV0(t *testing.T) {
	for _, v1IsA := range []bool{true, false} {
		va, vb := V1, V0
		if !v1IsA {
			va, vb = V0, V1
		}
		a := newParty(t, "alex", A2B, va, V0, ChainParams{})
		b := newParty(t, "blake", B2A, vb, V0, ChainParams{})
		hi := a
		if !v1IsA {
			hi = b
		}
		if v, mv, neg, err := CurrentVersion(hi.state); err != nil || v != V1 || mv != V0 || !neg {
			t.Fatalf("CurrentVersion = %v %v %v %v", v, mv, neg, err)
		}
		m, _ := a.send()
		b.recv(m)
		m, _ = b.send()
		a.recv(m)
		for _, p := range []*party{a, b} {
			if v, _, neg, err := CurrentVersion(p.state); err != nil || v != V0 || neg {
				t.Fatalf("%s: CurrentVersion = %v %v %v", p.name, v, neg, err)
			}
			if len(p.state) != 0 {
				t.Fatalf("%s: state not empty after downgrade", p.name)
			}
		}
	}
}

func TestNegotiationRefused(t *testing.T) {
	// A2B requires V1, B2A speaks V0.
	a := newParty(t, "alex", A2B, V1, V1, ChainParams{})
	b := newParty(t, "blake", B2A, V0, V0, ChainParams{})
	m, _ := a.send()
	b.recv(m)
	m, _ = b.send()
	if _, _, err := Recv(a.state, m); !errors.Is(err, ErrMinimumVersion) {
		t.Fatalf("a: err = %v, want ErrMinimumVersion", err)
	}
	// B2A requires V1, A2B speaks V0.
	a = newParty(t, "alex", A2B, V0, V0, ChainParams{})
	b = newParty(t, "blake", B2A, V1, V1, ChainParams{})
	m, _ = a.send()
	if _, _, err := Recv(b.state, m); !errors.Is(err, ErrMinimumVersion) {
		t.Fatalf("b: err = %v, want ErrMinimumVersion", err)
	}
}

func TestVersionMismatchAfterNegotiation(t *testing.T) {
	a, b := v1Pair(t, ChainParams{})
	m, _ := a.send()
	b.recv(m)
	if _, _, err := Recv(b.state, nil); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("err = %v, want ErrVersionMismatch", err)
	}
}

func TestNewerVersionIgnored(t *testing.T) {
	a, b := v1Pair(t, ChainParams{})
	m, _ := a.send()
	m[0] = 2
	st, key, err := Recv(b.state, m)
	if err != nil || key != nil || !bytes.Equal(st, b.state) {
		t.Fatalf("Recv(v2) = %v %x %v", bytes.Equal(st, b.state), key, err)
	}
}

// TestOneSideSendsMany: one side sends a long run before the other answers.
func TestOneSideSendsMany(t *testing.T) {
	a, b := v1Pair(t, ChainParams{})
	for i := range 300 {
		m, ka := a.send()
		if kb := b.recv(m); !bytes.Equal(ka, kb) {
			t.Fatalf("msg %d: keys differ", i)
		}
	}
	for i := range 300 {
		m, kb := b.send()
		if ka := a.recv(m); !bytes.Equal(ka, kb) {
			t.Fatalf("reply %d: keys differ", i)
		}
	}
	// Only one side talking cannot finish an epoch: the ek is sent only
	// after ct1 starts arriving and vice versa.
	if a.epoch() != 1 || b.epoch() != 1 {
		t.Errorf("epochs = %d %d, want 1 1", a.epoch(), b.epoch())
	}
}

func TestOutOfOrder(t *testing.T) {
	const n = 200
	a, b := v1Pair(t, ChainParams{})
	msgs, keys := make([][]byte, n), make([][]byte, n)
	for i := range n {
		msgs[i], keys[i] = a.send()
	}
	perm := mrand.New(mrand.NewPCG(3, 4)).Perm(n)
	for _, i := range perm {
		if k := b.recv(msgs[i]); !bytes.Equal(k, keys[i]) {
			t.Fatalf("msg %d: keys differ", i)
		}
	}
	// Replays are refused.
	if _, _, err := Recv(b.state, msgs[7]); !errors.Is(err, ErrKeyAlreadyRequested) {
		t.Fatalf("replay: err = %v, want ErrKeyAlreadyRequested", err)
	}
}

func TestLimits(t *testing.T) {
	cp := ChainParams{MaxJump: 20, MaxOOOKeys: 10}
	a, b := v1Pair(t, cp)
	var msgs, keys [][]byte
	for range 40 {
		m, k := a.send()
		msgs, keys = append(msgs, m), append(keys, k)
	}
	// msgs[i] has index i+1. Index 22 is 22 ahead of 0: beyond MaxJump.
	if _, _, err := Recv(b.state, msgs[21]); !errors.Is(err, ErrKeyJump) {
		t.Fatalf("jump: err = %v, want ErrKeyJump", err)
	}
	if k := b.recv(msgs[19]); !bytes.Equal(k, keys[19]) { // index 20: allowed
		t.Fatal("index 20: keys differ")
	}
	if k := b.recv(msgs[35]); !bytes.Equal(k, keys[35]) { // 36: 16 ahead
		t.Fatal("index 36: keys differ")
	}
	// Index 26 is exactly MaxOOOKeys behind 36: kept. Index 25 is trimmed.
	if k := b.recv(msgs[25]); !bytes.Equal(k, keys[25]) {
		t.Fatal("index 26: keys differ")
	}
	if _, _, err := Recv(b.state, msgs[24]); !errors.Is(err, ErrKeyTrimmed) {
		t.Fatalf("old: err = %v, want ErrKeyTrimmed", err)
	}
}

// TestStateRoundTrip decodes and re-encodes states in every phase.
func TestStateRoundTrip(t *testing.T) {
	a, b := v1Pair(t, ChainParams{MaxJump: 77})
	seen := map[v1Kind]bool{}
	check := func(p *party) {
		st, err := decodeState(p.state)
		if err != nil {
			t.Fatal(err)
		}
		s, err := v1FromPB(st.GetV1())
		if err != nil {
			t.Fatal(err)
		}
		seen[s.kind] = true
		inner, err := s.toPB()
		if err != nil {
			t.Fatal(err)
		}
		if st.Chain != nil {
			c, err := chainFromPB(st.Chain)
			if err != nil {
				t.Fatal(err)
			}
			st.Chain = c.toPB()
		}
		st.Inner = nil
		st.Inner = newInner(inner)
		out, err := encodeState(st)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, p.state) {
			t.Fatalf("%s: state round trip differs in %d", p.name, s.kind)
		}
	}
	rng := mrand.New(mrand.NewPCG(5, 6))
	for range 400 {
		if rng.IntN(3) > 0 {
			m, _ := a.send()
			check(a)
			if rng.IntN(10) > 0 {
				b.recv(m)
				check(b)
			}
		}
		if rng.IntN(3) > 0 {
			m, _ := b.send()
			check(b)
			if rng.IntN(2) > 0 { // lossier, so that B may finish ek before A finishes ct1
				a.recv(m)
				check(a)
			}
		}
	}
	for k := kindKeysUnsampled; k <= kindCt2Sampled; k++ {
		if !seen[k] {
			t.Errorf("state %d not reached", k)
		}
	}
}

// TestChaos delivers messages late, out of order and not at all, as the
// crate's out-of-order orchestrator tests do. Every receipt must either
// yield the sender's key or fail with an error meaning "too old".
func TestChaos(t *testing.T) {
	a, b := v1Pair(t, ChainParams{MaxOOOKeys: 50})
	type inflight struct {
		msg, key []byte
	}
	var toA, toB []inflight
	rng := mrand.New(mrand.NewPCG(11, 12))
	deliver := func(p *party, q *[]inflight) {
		if len(*q) == 0 {
			return
		}
		i := rng.IntN(min(len(*q), 8)) // mostly recent, sometimes reordered
		if rng.IntN(4) == 0 {
			i = rng.IntN(len(*q)) // anything, however old
		}
		m := (*q)[i]
		*q = append((*q)[:i], (*q)[i+1:]...)
		st, key, err := Recv(p.state, m.msg)
		switch {
		case err == nil:
			if !bytes.Equal(key, m.key) {
				t.Fatalf("%s: keys differ", p.name)
			}
			p.state = st
		case errors.Is(err, ErrKeyTrimmed), errors.Is(err, ErrEpochOutOfRange):
		default:
			t.Fatalf("%s: %v", p.name, err)
		}
	}
	for range 3000 {
		switch rng.IntN(6) {
		case 0:
			m, k := a.send()
			toB = append(toB, inflight{m, k})
		case 1:
			m, k := b.send()
			toA = append(toA, inflight{m, k})
		case 2, 3:
			deliver(b, &toB)
		case 4, 5:
			deliver(a, &toA)
		}
		if rng.IntN(50) == 0 && len(toB) > 0 { // loss
			toB = toB[1:]
		}
	}
	if a.epoch() < 3 {
		t.Errorf("epochs did not advance: %d %d", a.epoch(), b.epoch())
	}
	t.Log(DescribeState(a.state))
	t.Log(DescribeState(b.state))
}

func TestSelfSessionMaxJump(t *testing.T) {
	// libsignal allows any jump within a session with oneself.
	c := newChain([]byte("1"), A2B, ChainParams{MaxJump: 1<<32 - 1, MaxOOOKeys: 2000})
	if _, err := c.recvKey(0, 3000); err != nil {
		t.Fatal(err)
	}
	if _, err := c.recvKey(0, 999); !errors.Is(err, ErrKeyTrimmed) { // 2001 behind
		t.Fatalf("err = %v, want ErrKeyTrimmed", err)
	}
	if _, err := c.recvKey(0, 1000); err != nil { // exactly 2000 behind: kept
		t.Fatal(err)
	}
}

func TestDescribe(t *testing.T) {
	a, b := v1Pair(t, ChainParams{})
	m, _ := a.send()
	b.recv(m)
	for _, tc := range []struct{ got, want string }{
		{DescribeMessage(m), "v1 epoch 1 index 1 hdr chunk 0"},
		{DescribeMessage(nil), "v0 (empty)"},
		{DescribeState(nil), "v0"},
		{DescribeState(a.state), "v1 negotiating(min v1) keys_sampled epoch 1 chain(dir 0, epoch 0, send epoch 0, links [send 1 recv 0 kept 0])"},
		{DescribeState(b.state), "v1 no_header_received epoch 1 chain(dir 1, epoch 0, send epoch 0, links [send 0 recv 1 kept 0])"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
