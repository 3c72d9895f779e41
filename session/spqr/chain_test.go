package spqr

import (
	"bytes"
	"errors"
	mrand "math/rand/v2"
	"testing"
)

// The tests in this file port the spqr crate's chain tests.

func TestChainDirectionsMatch(t *testing.T) {
	a2b := newChain([]byte("1"), A2B, ChainParams{})
	b2a := newChain([]byte("1"), B2A, ChainParams{})
	idx, k, err := a2b.sendKey(0)
	if err != nil || idx != 1 {
		t.Fatalf("sendKey = %d, %v", idx, err)
	}
	if r, err := b2a.recvKey(0, 1); err != nil || !bytes.Equal(r, k) {
		t.Fatalf("recvKey(0,1) differs: %v", err)
	}
	if a2b.addEpoch(1, []byte{2}) != nil || b2a.addEpoch(1, []byte{2}) != nil {
		t.Fatal("addEpoch failed")
	}
	idx, k, _ = a2b.sendKey(1)
	if idx != 1 {
		t.Fatalf("index %d, want 1", idx)
	}
	if r, err := b2a.recvKey(1, 1); err != nil || !bytes.Equal(r, k) {
		t.Fatalf("recvKey(1,1) differs: %v", err)
	}
	for range 8 {
		a2b.sendKey(1)
	}
	idx, k, _ = a2b.sendKey(1)
	if idx != 10 {
		t.Fatalf("index %d, want 10", idx)
	}
	if r, err := b2a.recvKey(1, 10); err != nil || !bytes.Equal(r, k) {
		t.Fatalf("recvKey(1,10) differs: %v", err)
	}
}

func TestChainRejectsMalformedNext(t *testing.T) {
	c := newChain([]byte("1"), A2B, ChainParams{})
	p := c.toPB()
	p.Links[0].Send.Next = make([]byte, 31)
	if _, err := chainFromPB(p); !errors.Is(err, ErrStateDecode) {
		t.Fatalf("err = %v, want ErrStateDecode", err)
	}
}

func TestChainPreviouslyReturnedKey(t *testing.T) {
	c := newChain([]byte("1"), A2B, ChainParams{})
	if _, err := c.recvKey(0, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.recvKey(0, 2); !errors.Is(err, ErrKeyAlreadyRequested) {
		t.Fatalf("err = %v, want ErrKeyAlreadyRequested", err)
	}
}

func TestChainVeryOldKeysAreTrimmed(t *testing.T) {
	c := newChain([]byte("1"), A2B, ChainParams{MaxJump: 10, MaxOOOKeys: 10})
	if _, err := c.recvKey(0, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := c.recvKey(0, 12); err != nil {
		t.Fatal(err)
	}
	if _, err := c.recvKey(0, 1); !errors.Is(err, ErrKeyTrimmed) {
		t.Fatalf("err = %v, want ErrKeyTrimmed", err)
	}
}

func TestChainOutOfOrderKeys(t *testing.T) {
	a2b := newChain([]byte("1"), A2B, ChainParams{})
	b2a := newChain([]byte("1"), B2A, ChainParams{})
	type ik struct {
		i uint32
		k []byte
	}
	var keys []ik
	for range DefaultMaxOOOKeys {
		i, k, err := a2b.sendKey(0)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, ik{i, k})
	}
	mrand.New(mrand.NewPCG(7, 8)).Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, x := range keys {
		if k, err := b2a.recvKey(0, x.i); err != nil || !bytes.Equal(k, x.k) {
			t.Fatalf("index %d: %v", x.i, err)
		}
	}
}

func TestChainClearOldSendKeys(t *testing.T) {
	c := newChain([]byte("1"), A2B, ChainParams{})
	c.sendKey(0)
	c.sendKey(0)
	c.addEpoch(1, []byte{2})
	if _, _, err := c.sendKey(1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.sendKey(0); !errors.Is(err, ErrSendKeyEpochDecreased) {
		t.Fatalf("err = %v, want ErrSendKeyEpochDecreased", err)
	}
}

// TestChainRecvModel checks one receive chain against a simple model of
// which indexes are available, with small limits (as the crate's prop test).
func TestChainRecvModel(t *testing.T) {
	cp := ChainParams{MaxJump: 5, MaxOOOKeys: 3}
	rng := mrand.New(mrand.NewPCG(9, 10))
	for range 300 {
		d := chainDir{next: bytes.Repeat([]byte{1}, 32)}
		used := map[uint32]bool{0: true}
		var top uint32
		for range 25 {
			var at uint32
			switch rng.IntN(3) {
			case 0:
				at = top + 1 + uint32(rng.IntN(7))
			default:
				if top == 0 {
					continue
				}
				at = uint32(rng.IntN(int(top) + 1))
			}
			_, err := d.key(at, cp)
			var want error
			switch {
			case at > top && at-top > 5:
				want = ErrKeyJump
			case at <= top && used[at]:
				want = ErrKeyAlreadyRequested
			case at < top && at+3 < top:
				want = ErrKeyTrimmed
			}
			// Keys that fell off before a jump are reported as already
			// requested or trimmed; both mean "gone".
			if want == nil && err != nil {
				t.Fatalf("key(%d) with top %d: unexpected %v", at, top, err)
			}
			if want != nil && err == nil {
				t.Fatalf("key(%d) with top %d: got a key, want %v", at, top, want)
			}
			if err == nil {
				used[at] = true
				if at > top {
					top = at
				}
			}
		}
	}
}
