package vnet

import (
	"bytes"
	"context"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"samizdat/censor"
)

// ProberOptions configures the censor's active prober.
type ProberOptions struct {
	// Timeout bounds each probe connection (default 1s).
	Timeout time.Duration
	// RandomLen is how many random bytes the second probe sends
	// (default 221, a length the GFW favoured against Shadowsocks).
	RandomLen int
	// SilentIsProxy makes an endpoint that swallows random data without
	// answering or closing count as a proxy (a stricter censor; plain
	// servers rarely hold such a connection open).
	SilentIsProxy bool
	// Seed makes the random probes reproducible.
	Seed uint64
}

// Prober returns the censor's active prober: it connects to an endpoint
// from the censor's own vantage point (not subject to the censor's
// blocking, but still only on loopback), first replaying a client's first
// bytes, then sending random data, and reports whether the endpoint
// answered like a proxy: it answered the replay or the random data with
// anything other than a plain web server's reply (an HTTP status line or
// a TLS alert). It implements censor.Prober.
func (n *Net) Prober(opt ProberOptions) censor.Prober {
	if opt.Timeout <= 0 {
		opt.Timeout = time.Second
	}
	if opt.RandomLen <= 0 {
		opt.RandomLen = 221
	}
	return &prober{n: n, opt: opt}
}

type prober struct {
	n   *Net
	opt ProberOptions
}

// reaction is how an endpoint answered one probe.
type reaction uint8

const (
	silent  reaction = iota // no answer before the timeout, not closed
	closed                  // closed (FIN or RST) without answering
	plain                   // answered like an ordinary server
	answer                  // answered with anything else
	noRoute                 // not mapped or not reachable
)

func (p *prober) Probe(dst netip.AddrPort, first []byte) bool {
	p.n.st.probes.Add(1)
	h := fnv.New64a()
	b, _ := dst.MarshalBinary()
	h.Write(b)
	rng := rand.New(rand.NewPCG(p.opt.Seed, h.Sum64()))
	random := make([]byte, p.opt.RandomLen)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	proxy := false
	if len(first) > 0 {
		if r := p.try(dst, first); r == answer {
			proxy = true
		}
	}
	if !proxy {
		switch p.try(dst, random) {
		case answer:
			proxy = true
		case silent:
			proxy = p.opt.SilentIsProxy
		}
	}
	if proxy {
		p.n.st.probeHits.Add(1)
	}
	return proxy
}

// try sends payload on a fresh connection to dst and classifies the reply.
func (p *prober) try(dst netip.AddrPort, payload []byte) reaction {
	real, ok := p.n.Lookup("tcp", dst)
	if !ok {
		return noRoute
	}
	ctx, cancel := p.n.clk.WithTimeout(context.Background(), p.opt.Timeout)
	defer cancel()
	c, err := p.n.dialLoopback(ctx, false, real)
	if err != nil {
		return noRoute
	}
	defer c.Close()
	c.SetDeadline(p.n.clk.Now().Add(p.opt.Timeout))
	if _, err := c.Write(payload); err != nil {
		return closed
	}
	buf := make([]byte, 512)
	k, err := io.ReadAtLeast(c, buf, 1)
	if k == 0 {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return silent
		}
		return closed
	}
	if plainReply(buf[:k]) {
		return plain
	}
	return answer
}

// plainReply reports whether b starts like an ordinary server's answer to
// a request it did not understand: an HTTP status line or a TLS alert.
func plainReply(b []byte) bool {
	return bytes.HasPrefix(b, []byte("HTTP/1.")) || bytes.HasPrefix(b, []byte("HTTP/2")) ||
		len(b) >= 3 && b[0] == 21 && b[1] == 3
}
