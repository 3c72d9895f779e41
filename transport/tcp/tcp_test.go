package tcp

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"samizdat/transport/transporttest"
)

func TestDialListen(t *testing.T) {
	ctx := context.Background()
	l, err := Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c) // echo until the client closes
		done <- err
	}()
	c, err := Dialer{}.Dial(ctx, l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("echo: %q, %v", buf, err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDialCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&Dialer{}).Dial(ctx, "127.0.0.1:1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestDialRefused(t *testing.T) {
	l, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := (Dialer{}).Dial(ctx, addr); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}

func TestConformance(t *testing.T) {
	l, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	transporttest.Run(t, l, Dialer{}, l.Addr().String())
}

// BenchmarkRoundTrip is the baseline the other transports' benchmarks
// compare against: 1 KiB echo round trips over loopback TCP.
func BenchmarkRoundTrip(b *testing.B) {
	l, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ns := transporttest.BenchRoundTrip(b, l, func() (net.Conn, error) {
		return Dialer{}.Dial(context.Background(), l.Addr().String())
	}, b.N)
	b.ReportMetric(ns, "ns/roundtrip")
	b.ReportMetric(1, "x-tcp")
}
