package censor_test

import (
	"context"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"samizdat/censor"
	"samizdat/noisechan"
)

// The DPI presets must recognise what samizdat's own plain-TCP transport
// sends first: the lab must not flatter us.
func TestRecognisesNoisechanFirstMessage(t *testing.T) {
	local, err := noisechan.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	relay, err := noisechan.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	flagged := 0
	const runs = 20
	for range runs {
		cli, srv := net.Pipe()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		done := make(chan struct{})
		go func() {
			defer close(done)
			noisechan.Client(ctx, cli, local, relay.Public, []byte("lab"))
		}()
		buf := make([]byte, 1024)
		srv.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := srv.Read(buf)
		cancel()
		srv.Close()
		cli.Close()
		<-done
		if err != nil {
			t.Fatal(err)
		}
		first := buf[:n]
		if !censor.LooksLikeNoiseIK(first) {
			t.Fatalf("noise ik fingerprint misses noisechan's first message (%d bytes)", n)
		}
		if censor.FullyEncryptedSuspect(first) {
			flagged++
		}
	}
	// The body is uniformly random after the 2-byte length; a few draws may
	// fall inside an exemption, most must not.
	if flagged < runs*3/4 {
		t.Errorf("fully-encrypted heuristic flagged %d of %d first messages", flagged, runs)
	}
}
