package lab

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"samizdat/client"
	"samizdat/manifest"
	"samizdat/relay"
	"samizdat/store/sqlite"
	"samizdat/transport/tcp"
)

// BenchmarkClientInit measures what one lab client costs to set up: a
// client.Init (identity, Noise key, a small prekey batch, registration)
// against a real relay on loopback, with every client kept open as the lab
// keeps them. It reports the live heap per open client beside the usual
// figures. Run: go test -run XXX -bench ClientInit -benchtime=200x ./lab
func BenchmarkClientInit(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys, err := relay.GenerateKeys(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "relay.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	unlimited := relay.Rate{Burst: -1}
	srv, err := relay.New(relay.Config{
		Store: st, NoiseKey: keys.Noise,
		ServerCertificate: keys.ServerCertificate, ServerCertificateKey: keys.ServerCertificateKey,
		Limits: relay.Limits{Registrations: unlimited, PreKeyUploads: unlimited},
	})
	if err != nil {
		b.Fatal(err)
	}
	l, err := tcp.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, l) }()
	defer func() { cancel(); srv.Close(); <-done }()
	inv, err := keys.Invite("bench", []manifest.Endpoint{{Transport: "tcp", Address: l.Addr().String()}}, time.Now(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	clients := make([]*client.Client, 0, b.N)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg := client.Config{Home: filepath.Join(dir, fmt.Sprint(i)), PreKeyBatch: 5}
		c, err := client.Init(ctx, cfg, inv, fmt.Sprintf("user%d", i))
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
	}
	b.StopTimer()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N)/1024, "heapKiB/client")
}
