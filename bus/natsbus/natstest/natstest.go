// Package natstest runs a NATS server inside a test process (the real
// nats-server, embedded) on loopback, for the natsbus tests and the
// multi-node end-to-end test. Only tests import it; no samizdat binary
// links the NATS server.
package natstest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is an embedded NATS server.
type Server struct {
	ns   *server.Server
	port int
}

// Start runs a NATS server on 127.0.0.1:port (0 picks a free port) and
// waits until it accepts connections.
func Start(port int) (*Server, error) {
	if port == 0 {
		port = -1 // the server's "random port"
	}
	ns, err := server.NewServer(&server.Options{
		Host:   "127.0.0.1",
		Port:   port,
		NoLog:  true,
		NoSigs: true,
		// No monitoring, clustering, JetStream or system account: core
		// NATS is all the relay uses.
		NoSystemAccount: true,
	})
	if err != nil {
		return nil, fmt.Errorf("natstest: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("natstest: server did not start")
	}
	_, p, err := net.SplitHostPort(ns.Addr().String())
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("natstest: %w", err)
	}
	s := &Server{ns: ns}
	s.port, _ = strconv.Atoi(p)
	return s, nil
}

// URL is the server's client URL, nats://127.0.0.1:PORT.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Port is the port the server listens on; Start(Port()) after Close brings
// a server back at the same URL.
func (s *Server) Port() int { return s.port }

// Subscriptions is how many subscriptions the server holds.
func (s *Server) Subscriptions() int { return int(s.ns.NumSubscriptions()) }

// Close shuts the server down, dropping every client, and waits for it.
// It is safe to call more than once.
func (s *Server) Close() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
