package interop

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"samizdat/session"
)

// Speed of the Go library next to libsignal, measured in the same run. The
// figures are reported, never asserted: the machine is shared and noisy.
// libsignal's side is timed inside the harness process, so the JSON pipe is
// not part of its figure.

const (
	benchMsgSize = 1024
	benchEncN    = 300 // encrypt+decrypt round trips
	benchSetupN  = 30  // session setups
)

// goPair returns two Go parties with an established session (a opened it,
// b answered once).
func goPair(tb testing.TB) (a, b *goParty) {
	tb.Helper()
	ctx := context.Background()
	a, b = newGoParty(tb, 1), newGoParty(tb, 1)
	if err := a.processBundle(ctx, b.peer(), b.bundle(tb, BundleOptions{})); err != nil {
		tb.Fatal(err)
	}
	for _, dir := range [][2]*goParty{{a, b}, {b, a}} {
		ct, err := dir[0].encrypt(ctx, dir[1].peer(), []byte("hi"))
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := dir[1].decrypt(ctx, dir[0].peer(), ct); err != nil {
			tb.Fatal(err)
		}
	}
	return a, b
}

// goEncryptDecrypt times n round trips of a size-byte message from a to b.
// It also reports whether the Go messages carried SPQR data.
func goEncryptDecrypt(tb testing.TB, n, size int) (time.Duration, bool) {
	tb.Helper()
	ctx := context.Background()
	a, b := goPair(tb)
	msg := bytes.Repeat([]byte{'a'}, size)
	spqr := false
	start := time.Now()
	for i := range n {
		ct, err := a.encrypt(ctx, b.peer(), msg)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := b.decrypt(ctx, a.peer(), ct); err != nil {
			tb.Fatal(err)
		}
		if i == 0 {
			if m, err := session.ParseSignalMessage(ct.Body); err == nil {
				spqr = len(m.PQRatchet()) > 0
			}
		}
	}
	return time.Since(start), spqr
}

// goSetup times n session setups: a fresh Go party processes a fresh bundle
// of bob's, encrypts one size-byte PreKey message, bob decrypts it. Key
// generation is outside the timing, as in the harness.
func goSetup(tb testing.TB, n, size int) time.Duration {
	tb.Helper()
	run := prepareGoSetup(tb, n, size)
	start := time.Now()
	run()
	return time.Since(start)
}

// prepareGoSetup generates the parties and bundles for n setups and returns
// the function that performs them.
func prepareGoSetup(tb testing.TB, n, size int) func() {
	tb.Helper()
	ctx := context.Background()
	bob := newGoParty(tb, 1)
	alices := make([]*goParty, n)
	bundles := make([]*session.PreKeyBundle, n)
	for i := range n {
		alices[i] = newGoParty(tb, 1)
		sb, err := toSessionBundle(bob.bundle(tb, BundleOptions{}))
		if err != nil {
			tb.Fatal(err)
		}
		bundles[i] = sb
	}
	msg := bytes.Repeat([]byte{'a'}, size)
	return func() {
		for i, a := range alices {
			if err := session.ProcessPreKeyBundle(ctx, a.store.Stores(), a.addr, bob.addr, bundles[i], time.Now(), randReader); err != nil {
				tb.Fatal(err)
			}
			ct, err := a.encrypt(ctx, bob.peer(), msg)
			if err != nil {
				tb.Fatal(err)
			}
			if _, err := bob.decrypt(ctx, a.peer(), ct); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// TestBenchmarkRatios prints Go's and libsignal's times side by side with
// their ratio (Go / libsignal; below 1 means Go is faster).
func TestBenchmarkRatios(t *testing.T) {
	interopCase(t)
	d := harness(t)
	ctx := ctxFor(t)

	lsEnc, err := d.BenchEncrypt(ctx, benchEncN, benchMsgSize)
	if err != nil {
		t.Fatal(err)
	}
	lsSetup, err := d.BenchSetup(ctx, benchSetupN, benchMsgSize)
	if err != nil {
		t.Fatal(err)
	}
	goEnc, spqr := goEncryptDecrypt(t, benchEncN, benchMsgSize)
	goSet := goSetup(t, benchSetupN, benchMsgSize)

	rows := []struct {
		what         string
		n            int
		goPer, lsPer time.Duration
	}{
		{"1 KiB encrypt+decrypt", benchEncN, goEnc / benchEncN, lsEnc.PerOp()},
		{"session setup (PQXDH + 1st msg)", benchSetupN, goSet / benchSetupN, lsSetup.PerOp()},
	}
	fmt.Printf("interop: bench %-32s %6s %12s %12s %8s\n", "operation", "n", "go/op", "libsignal/op", "go/ls")
	for _, r := range rows {
		line := fmt.Sprintf("interop: bench %-32s %6d %12s %12s %8.2f", r.what, r.n, r.goPer, r.lsPer, float64(r.goPer)/float64(r.lsPer))
		fmt.Println(line)
		t.Log(line)
	}
	if !spqr {
		fmt.Println("interop: bench note: Go messages carry no SPQR data, so the Go figures leave out the post-quantum ratchet")
	}
}

func BenchmarkGoEncryptDecrypt1KiB(b *testing.B) {
	a, c := goPair(b)
	ctx := context.Background()
	msg := bytes.Repeat([]byte{'a'}, benchMsgSize)
	b.SetBytes(benchMsgSize)
	b.ResetTimer()
	for b.Loop() {
		ct, err := a.encrypt(ctx, c.peer(), msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.decrypt(ctx, a.peer(), ct); err != nil {
			b.Fatal(err)
		}
	}
}

// The libsignal benchmarks run b.N iterations inside the harness and report
// the harness's own timing as ns/op, leaving out the pipe and the setup.

func BenchmarkLibsignalEncryptDecrypt1KiB(b *testing.B) {
	d := harness(b)
	r, err := d.BenchEncrypt(context.Background(), b.N, benchMsgSize)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(r.ElapsedNs)/float64(b.N), "ns/op")
}

func BenchmarkGoSessionSetup(b *testing.B) {
	b.StopTimer()
	run := prepareGoSetup(b, b.N, benchMsgSize)
	b.StartTimer()
	run()
}

func BenchmarkLibsignalSessionSetup(b *testing.B) {
	d := harness(b)
	r, err := d.BenchSetup(context.Background(), b.N, benchMsgSize)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(r.ElapsedNs)/float64(b.N), "ns/op")
}
