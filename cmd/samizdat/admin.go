package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"samizdat/relay"
	"samizdat/relay/metrics"
)

// Optional abilities of a relay store that the metrics use
// (store/sqlite has both).
type (
	commitReporter interface {
		ObserveCommits(relay.CommitObserver)
	}
	depthReporter interface {
		MailboxDepth(ctx context.Context) (envelopes, bytes int64, err error)
	}
)

// listenAdmin opens the admin listener for --admin addr before the relay
// creates anything, so that a refused address fails early; "" returns nil.
// Unless anyAddress, addr must be on loopback.
func listenAdmin(addr string, anyAddress bool) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	l, err := metrics.ListenAdmin(addr, anyAddress)
	if errors.Is(err, metrics.ErrNotLoopback) {
		return nil, fmt.Errorf("--admin %s is not a loopback address; add --admin-any-address to serve metrics there: %w", addr, errUsage)
	}
	return l, err
}

// serveAdmin serves the relay's metrics (/metrics) and health check
// (/healthz) on l until stop is called; a nil l returns a nil Observer.
// The store's commits and mailbox depth are measured when it can report
// them; the health check asks the store a question it must answer.
func serveAdmin(l net.Listener, st relay.Store, stdout io.Writer, log *slog.Logger) (obs relay.Observer, stop func()) {
	if l == nil {
		return nil, func() {}
	}
	var depth metrics.DepthFunc
	if d, ok := st.(depthReporter); ok {
		depth = d.MailboxDepth
	}
	m := metrics.New(depth)
	if c, ok := st.(commitReporter); ok {
		c.ObserveCommits(m)
	}
	health := func(ctx context.Context) error {
		_, err := st.AccountByID(ctx, relay.AccountID{})
		if errors.Is(err, relay.ErrNotFound) {
			return nil
		}
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := metrics.Serve(ctx, l, m.Handler(health, log)); err != nil {
			log.Error("admin listener stopped", "err", err)
		}
	}()
	log.Info("admin listening", "addr", l.Addr().String())
	fmt.Fprintf(stdout, "admin (metrics, health) on http://%s\n", l.Addr())
	return m, func() {
		if c, ok := st.(commitReporter); ok {
			c.ObserveCommits(nil)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
	}
}
