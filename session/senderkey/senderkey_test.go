package senderkey

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"samizdat/session/curve"
)

var (
	alice = SenderAddress{Name: "9d0652a3-dcc3-4d11-975f-74d61598733f", DeviceID: 1}
	dist  = [16]byte{0xd1, 0xd1, 0xd1, 0xd1, 0x70, 0x00, 0x11, 0xeb, 0xb3, 0x2a, 0x33, 0xb8, 0xa8, 0xa4, 0x87, 0xa6}
)

// pair sets up alice's sending chain and bob's copy of it.
func pair(t testing.TB) (ctx context.Context, a, b *MemoryStore) {
	t.Helper()
	ctx = context.Background()
	a, b = &MemoryStore{}, &MemoryStore{}
	skdm, err := Create(ctx, a, alice, dist, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseDistributionMessage(skdm.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := Process(ctx, b, alice, parsed); err != nil {
		t.Fatal(err)
	}
	return ctx, a, b
}

func encrypt(t *testing.T, ctx context.Context, s Store, pt string) []byte {
	t.Helper()
	ct, err := Encrypt(ctx, s, alice, dist, []byte(pt), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func mustDecrypt(t *testing.T, ctx context.Context, s Store, ct []byte, want string) {
	t.Helper()
	pt, err := Decrypt(ctx, s, alice, ct)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	if string(pt) != want {
		t.Fatalf("decrypt = %q, want %q", pt, want)
	}
}

func TestRoundTrip(t *testing.T) {
	ctx, a, b := pair(t)
	for _, pt := range []string{"", "smert shpionam", string(bytes.Repeat([]byte{'x'}, 16)), string(bytes.Repeat([]byte{'y'}, 4096))} {
		ct := encrypt(t, ctx, a, pt)
		mustDecrypt(t, ctx, b, ct, pt)
	}
	// Create again returns the same chain, at its current iteration.
	skdm, err := Create(ctx, a, alice, dist, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if skdm.Iteration() != 4 {
		t.Errorf("iteration = %d, want 4", skdm.Iteration())
	}
	if got := fmt.Sprintf("%v %+v %#v %x", skdm, skdm, *skdm, *skdm); bytes.Contains([]byte(got), []byte(fmt.Sprintf("%x", skdm.ChainKey()))) {
		t.Error("distribution message prints its chain key")
	}
}

func TestOutOfOrder(t *testing.T) {
	ctx, a, b := pair(t)
	var cts [][]byte
	for i := range 10 {
		cts = append(cts, encrypt(t, ctx, a, fmt.Sprint("m", i)))
	}
	for _, i := range []int{9, 0, 5, 1, 8, 2, 7, 3, 6, 4} {
		mustDecrypt(t, ctx, b, cts[i], fmt.Sprint("m", i))
	}
	for i := range cts {
		if _, err := Decrypt(ctx, b, alice, cts[i]); !errors.Is(err, ErrDuplicateMessage) {
			t.Fatalf("replay %d: err = %v, want ErrDuplicateMessage", i, err)
		}
	}
}

func TestDuplicate(t *testing.T) {
	ctx, a, b := pair(t)
	ct := encrypt(t, ctx, a, "once")
	mustDecrypt(t, ctx, b, ct, "once")
	if _, err := Decrypt(ctx, b, alice, ct); !errors.Is(err, ErrDuplicateMessage) {
		t.Fatalf("err = %v, want ErrDuplicateMessage", err)
	}
}

func TestErrors(t *testing.T) {
	ctx, a, b := pair(t)
	ct := encrypt(t, ctx, a, "hello")
	mod := func(f func([]byte) []byte) []byte { return f(bytes.Clone(ct)) }
	other := SenderAddress{Name: "other", DeviceID: 1}
	tests := []struct {
		name   string
		sender SenderAddress
		in     []byte
		want   error
	}{
		{"empty", alice, nil, ErrTruncated},
		{"short", alice, ct[:64], ErrTruncated},
		{"legacy version", alice, mod(func(b []byte) []byte { b[0] = 0x22; return b }), ErrVersion},
		{"future version", alice, mod(func(b []byte) []byte { b[0] = 0x43; return b }), ErrVersion},
		{"bad signature", alice, mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrBadSignature},
		{"tampered ciphertext", alice, mod(func(b []byte) []byte { b[len(b)-SignatureSize-1] ^= 1; return b }), ErrBadSignature},
		{"garbage body", alice, append([]byte{0x33, 0xff, 0xff}, make([]byte, 64)...), ErrMalformed},
		{"missing fields", alice, append([]byte{0x33}, make([]byte, 64)...), ErrMalformed},
		{"unknown sender", other, ct, ErrNoSenderKeyState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decrypt(ctx, b, tt.sender, tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// The real message still decrypts after all that.
	mustDecrypt(t, ctx, b, ct, "hello")

	if _, err := Encrypt(ctx, b, other, dist, []byte("x"), rand.Reader); !errors.Is(err, ErrNoSenderKeyState) {
		t.Errorf("encrypt without chain: err = %v", err)
	}
	// Bob holds alice's chain without its private signing key.
	if _, err := Encrypt(ctx, b, alice, dist, []byte("x"), rand.Reader); !errors.Is(err, ErrInvalidState) {
		t.Errorf("encrypt on received chain: err = %v", err)
	}
	// A message on a chain bob never got.
	c := &MemoryStore{}
	if _, err := Create(ctx, c, alice, dist, rand.Reader); err != nil {
		t.Fatal(err)
	}
	ct2, err := Encrypt(ctx, c, alice, dist, []byte("x"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decrypt(ctx, b, alice, ct2); !errors.Is(err, ErrNoSenderKeyState) {
		t.Errorf("unknown chain: err = %v", err)
	}
}

// advance moves alice's own chain forward n iterations without sending.
func advance(t *testing.T, ctx context.Context, s Store, n int) {
	t.Helper()
	r, err := s.LoadSenderKey(ctx, alice, dist)
	if err != nil || r == nil {
		t.Fatal(r, err)
	}
	st, _ := r.current()
	ck, _ := stateChainKey(st)
	for range n {
		if ck, err = ck.next(); err != nil {
			t.Fatal(err)
		}
	}
	setStateChainKey(st, ck)
	if err := s.StoreSenderKey(ctx, alice, dist, r); err != nil {
		t.Fatal(err)
	}
}

func TestTooFarInFuture(t *testing.T) {
	ctx, a, b := pair(t)
	advance(t, ctx, a, MaxForwardJumps+1)
	ct := encrypt(t, ctx, a, "you got the plan?")
	if _, err := Decrypt(ctx, b, alice, ct); !errors.Is(err, ErrTooFarInFuture) {
		t.Fatalf("err = %v, want ErrTooFarInFuture", err)
	}
	// Exactly MaxForwardJumps ahead is fine.
	ctx, a, b = pair(t)
	advance(t, ctx, a, MaxForwardJumps)
	mustDecrypt(t, ctx, b, encrypt(t, ctx, a, "ok"), "ok")
}

func TestMessageKeyLimit(t *testing.T) {
	// As libsignal's group_message_key_limit: of 2010 messages, decrypting
	// #1000 and #2009 keeps 2000 skipped keys, so #0 is gone.
	ctx, a, b := pair(t)
	first := encrypt(t, ctx, a, "m0")
	second := encrypt(t, ctx, a, "m1")
	advance(t, ctx, a, 998)
	mid := encrypt(t, ctx, a, "m1000")
	advance(t, ctx, a, 1008)
	last := encrypt(t, ctx, a, "m2009")
	mustDecrypt(t, ctx, b, mid, "m1000")
	mustDecrypt(t, ctx, b, last, "m2009")
	if _, err := Decrypt(ctx, b, alice, first); !errors.Is(err, ErrDuplicateMessage) {
		t.Fatalf("err = %v, want ErrDuplicateMessage", err)
	}
	r, _ := b.LoadSenderKey(ctx, alice, dist)
	if n := len(r.states[0].SenderMessageKeys); n != MaxMessageKeys {
		t.Errorf("%d skipped keys kept, want %d", n, MaxMessageKeys)
	}
	_ = second // iteration 1 was evicted too
	if _, err := Decrypt(ctx, b, alice, second); !errors.Is(err, ErrDuplicateMessage) {
		t.Fatalf("err = %v, want ErrDuplicateMessage", err)
	}
}

func TestRotate(t *testing.T) {
	ctx, a, b := pair(t)
	old := encrypt(t, ctx, a, "before")
	first, _ := Create(ctx, a, alice, dist, rand.Reader)
	var chains []uint32
	chains = append(chains, first.ChainID())
	for i := range MaxStates {
		skdm, err := Rotate(ctx, a, alice, dist, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if skdm.ChainID() == chains[len(chains)-1] || skdm.Iteration() != 0 {
			t.Fatalf("rotation %d did not make a fresh chain", i)
		}
		chains = append(chains, skdm.ChainID())
		if err := Process(ctx, b, alice, skdm); err != nil {
			t.Fatal(err)
		}
		mustDecrypt(t, ctx, b, encrypt(t, ctx, a, "after"), "after")
		if i == 0 {
			// A message from before the rotation still decrypts.
			mustDecrypt(t, ctx, b, old, "before")
			old = nil
		}
	}
	r, _ := b.LoadSenderKey(ctx, alice, dist)
	if got := r.ChainIDs(); len(got) != MaxStates || got[0] != chains[len(chains)-1] {
		t.Fatalf("chains %v after rotations %v", got, chains)
	}
	own, _ := a.LoadSenderKey(ctx, alice, dist)
	if len(own.states) != 1 {
		t.Errorf("sender keeps %d chains, want 1", len(own.states))
	}
}

func key(t *testing.T) curve.PublicKey {
	kp, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return kp.Public
}

func seed(i byte) []byte { return bytes.Repeat([]byte{i}, 32) }

// Ported behaviour of libsignal's add_sender_key_state tests.
func TestAddState(t *testing.T) {
	t.Run("same chain and key keeps the first data and moves it to the front", func(t *testing.T) {
		r := &Record{}
		k1, k2 := key(t), key(t)
		r.addState(3, 1, 1, seed(1), k1, nil)
		r.addState(3, 2, 1, seed(2), k2, nil)
		r.addState(3, 1, 1, seed(3), k1, nil)
		if got := r.ChainIDs(); fmt.Sprint(got) != "[1 2]" {
			t.Fatalf("order %v", got)
		}
		if !bytes.Equal(r.states[0].SenderChainKey.Seed, seed(1)) {
			t.Error("existing state's chain key replaced")
		}
	})
	t.Run("same chain, other key replaces", func(t *testing.T) {
		r := &Record{}
		r.addState(3, 1, 1, seed(1), key(t), nil)
		k2 := key(t)
		r.addState(3, 1, 1, seed(2), k2, nil)
		if len(r.states) != 1 || !bytes.Equal(r.states[0].SenderChainKey.Seed, seed(2)) {
			t.Fatal("state not replaced")
		}
	})
	t.Run("oldest evicted", func(t *testing.T) {
		r := &Record{}
		for i := range uint32(6) {
			r.addState(3, i+1, 1, seed(byte(i)), key(t), nil)
		}
		if got := r.ChainIDs(); fmt.Sprint(got) != "[6 5 4 3 2]" {
			t.Fatalf("order %v", got)
		}
	})
}

func TestRecordRoundTrip(t *testing.T) {
	ctx, a, b := pair(t)
	for range 3 {
		encrypt(t, ctx, a, "x")
	}
	mustDecrypt(t, ctx, b, encrypt(t, ctx, a, "y"), "y")
	r, _ := b.LoadSenderKey(ctx, alice, dist)
	raw, err := r.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	r2, err := ParseRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	raw2, _ := r2.Bytes()
	if !bytes.Equal(raw, raw2) || len(r2.states[0].SenderMessageKeys) != 3 {
		t.Fatal("record did not round-trip")
	}
	if _, err := ParseRecord([]byte{0xff}); !errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v", err)
	}
	if s := fmt.Sprintf("%v %+v %#v %s %x", r, r, *r, *r, *r); bytes.Contains([]byte(s), r.states[0].SenderChainKey.Seed) ||
		strings.Contains(s, fmt.Sprintf("%x", r.states[0].SenderChainKey.Seed)) {
		t.Error("record prints keys")
	}
}

func TestDistributionMessageParse(t *testing.T) {
	ctx := context.Background()
	skdm, err := Create(ctx, &MemoryStore{}, alice, dist, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw := skdm.Bytes()
	if raw[0] != 0x33 {
		t.Fatalf("version byte %#x", raw[0])
	}
	p, err := ParseDistributionMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.DistributionID() != dist || p.ChainID() != skdm.ChainID() || p.ChainID()>>31 != 0 || !p.SigningKey().Equal(skdm.SigningKey()) || !bytes.Equal(p.ChainKey(), skdm.ChainKey()) {
		t.Fatal("fields differ")
	}
	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"short", raw[:64], ErrTruncated},
		{"legacy", append([]byte{0x23}, raw[1:]...), ErrVersion},
		{"future", append([]byte{0x43}, raw[1:]...), ErrVersion},
		{"garbage", append([]byte{0x33}, bytes.Repeat([]byte{0xff}, 70)...), ErrMalformed},
	} {
		if _, err := ParseDistributionMessage(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// Go's protobuf runtime files a known field with the wrong wire type under
// unknown fields; libsignal's decoder refuses it, and so do we.
func TestWrongWireType(t *testing.T) {
	skdm, err := Create(context.Background(), &MemoryStore{}, alice, dist, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// Append field 2 (chain_id) as a length-delimited field.
	bad := append(bytes.Clone(skdm.Bytes()), 0x12, 0x01, 0x00)
	if _, err := ParseDistributionMessage(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	// Unknown field numbers are still fine.
	ok := append(bytes.Clone(skdm.Bytes()), 0x62, 0x01, 0x00)
	if _, err := ParseDistributionMessage(ok); err != nil {
		t.Fatalf("unknown field: %v", err)
	}
}

func TestProcessRefusesUnparsedMessages(t *testing.T) {
	ctx := context.Background()
	s := &MemoryStore{}
	for _, m := range []*DistributionMessage{nil, {}} {
		if err := Process(ctx, s, alice, m); !errors.Is(err, ErrMalformed) {
			t.Errorf("Process(%v): %v, want ErrMalformed", m, err)
		}
	}
	if r, err := s.LoadSenderKey(ctx, alice, dist); err != nil || r != nil {
		t.Errorf("refused messages were stored: %v, %v", r, err)
	}
}
