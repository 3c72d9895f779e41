package regwork

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
)

func TestSolveCheck(t *testing.T) {
	relay, device, other := [32]byte{1}, [32]byte{2}, [32]byte{3}
	for _, want := range []int{0, 1, 8, 14} {
		w, err := Solve(context.Background(), relay, device, want)
		if err != nil {
			t.Fatal(err)
		}
		if !Check(relay, device, w, want) {
			t.Fatalf("%d bits: its own proof does not check", want)
		}
		if want >= 8 {
			// Another key or relay: the proof is worthless (a chance
			// of 2^-want that it holds by luck).
			if Check(relay, other, w, want) || Check(other, device, w, want) {
				t.Errorf("%d bits: the proof holds for another device or relay", want)
			}
		}
	}
	if Check(relay, device, make([]byte, MaxLen+1), 0) || Check(relay, device, nil, 0) {
		t.Error("a proof longer than MaxLen, or an empty one, checks")
	}
	if _, err := Solve(context.Background(), relay, device, MaxBits+1); !errors.Is(err, ErrTooHard) {
		t.Errorf("asked for %d bits: %v", MaxBits+1, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Solve(ctx, relay, device, MaxBits); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

func TestZeros(t *testing.T) {
	for _, tc := range []struct {
		h    [sha256.Size]byte
		want int
	}{
		{[sha256.Size]byte{0x80}, 0},
		{[sha256.Size]byte{0x01}, 7},
		{[sha256.Size]byte{0, 0x40}, 9},
		{[sha256.Size]byte{}, 256},
	} {
		if got := zeros(tc.h); got != tc.want {
			t.Errorf("zeros(%x...) = %d, want %d", tc.h[:2], got, tc.want)
		}
	}
}

// FuzzCheck: Check never panics on any proof, and a proof checks for a
// number of bits exactly when its hash has that many leading zeros.
func FuzzCheck(f *testing.F) {
	f.Add([]byte{}, 0)
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 4)
	f.Add(make([]byte, MaxLen+1), 1)
	f.Fuzz(func(t *testing.T, work []byte, want int) {
		relay, device := [32]byte{9}, [32]byte{10}
		got := Check(relay, device, work, want)
		if len(work) == 0 || len(work) > MaxLen {
			if got {
				t.Fatalf("a proof of %d bytes checked", len(work))
			}
			return
		}
		if got != (zeros(sum(relay, device, work)) >= want) {
			t.Fatal("Check disagrees with the hash")
		}
	})
}
