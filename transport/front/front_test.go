package front

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"samizdat/transport/decoy/decoytest"
	"samizdat/transport/front/cdntest"
	"samizdat/transport/tcp"
	"samizdat/transport/transporttest"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

const (
	tunnelPath  = "/api/v2/sync"
	frontDomain = "www.front.example"
	hiddenHost  = "relay.hidden.example"
)

type env struct {
	origin *Origin
	cdn    *cdntest.CDN
	srv    *http.Server
	cfg    ClientConfig
}

// setup starts an origin server on loopback behind a test CDN.
func setup(t testing.TB, buffer bool, mode Mode) *env {
	t.Helper()
	o := NewOrigin(OriginConfig{Path: tunnelPath, Secret: secret, Decoy: decoytest.Handler()})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: o, ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	cdn, err := cdntest.Start("127.0.0.1:0", cdntest.Config{Buffer: buffer})
	if err != nil {
		t.Fatal(err)
	}
	if err := cdn.Route(hiddenHost, "http://"+l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		o.Close()
		cdn.Close()
		srv.Close()
		<-served
	})
	return &env{origin: o, cdn: cdn, srv: srv, cfg: ClientConfig{
		Address: cdn.Addr(), SNI: frontDomain, Host: hiddenHost, Path: tunnelPath,
		Secret: secret, TLSPin: cdn.Pin(), Mode: mode,
	}}
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name   string
		buffer bool
		mode   Mode
	}{
		{"stream", false, Stream},
		{"poll", false, Poll},
		{"auto on a streaming cdn", false, Auto},
		{"auto on a buffering cdn", true, Auto},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, tc.buffer, tc.mode)
			transporttest.RunWith(t, e.origin, Dialer{Config: e.cfg}, e.cfg.Address, transporttest.Options{
				Settle: e.cdn.CloseIdleConnections,
			})
		})
	}
}

func TestFronting(t *testing.T) {
	e := setup(t, false, Stream)
	go func() {
		c, err := e.origin.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := Dial(context.Background(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("%q %v", buf, err)
	}
	reqs := e.cdn.Requests()
	if len(reqs) == 0 {
		t.Fatal("the cdn saw nothing")
	}
	for _, r := range reqs {
		if r.SNI != frontDomain {
			t.Errorf("cdn saw SNI %q, want the front domain %q", r.SNI, frontDomain)
		}
		if r.Host != hiddenHost {
			t.Errorf("cdn saw Host %q, want the hidden host %q", r.Host, hiddenHost)
		}
		if r.Path != tunnelPath || r.Method != http.MethodPost {
			t.Errorf("cdn saw %s %s", r.Method, r.Path)
		}
	}
}

func TestAutoPicksPollOnBufferingCDN(t *testing.T) {
	e := setup(t, true, Stream)
	ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
	defer cancel()
	// Stream mode cannot work through a buffering cdn: dialing stalls.
	// (Its session may still reach Accept, below, and be written to.)
	if c, err := Dial(ctx, e.cfg); err == nil {
		c.Close()
		t.Fatal("stream dial through a buffering cdn succeeded")
	}
	e.cfg.Mode = Auto
	go func() {
		for {
			c, err := e.origin.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello"))
			defer c.Close()
		}
	}()
	c, err := Dial(context.Background(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("%q %v", buf, err)
	}
	var polls int
	for _, r := range e.cdn.Requests() {
		if r.Status == http.StatusOK {
			polls++
		}
	}
	if polls == 0 {
		t.Fatal("no completed requests")
	}
}

func TestDialErrors(t *testing.T) {
	e := setup(t, false, Stream)
	go func() {
		for {
			c, err := e.origin.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, tc := range []struct {
		name string
		edit func(*ClientConfig)
		want error
	}{
		{"wrong secret", func(c *ClientConfig) { c.Secret = []byte("nope") }, ErrRejected},
		{"wrong path", func(c *ClientConfig) { c.Path = "/api/v2/synd" }, ErrRejected},
		{"unknown host", func(c *ClientConfig) { c.Host = "other.example" }, ErrRejected},
		{"wrong pin", func(c *ClientConfig) { c.TLSPin = make([]byte, 32) }, nil},
		{"no secret", func(c *ClientConfig) { c.Secret = nil }, ErrConfig},
	} {
		for _, mode := range []Mode{Stream, Poll, Auto} {
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				cfg := e.cfg
				cfg.Mode = mode
				tc.edit(&cfg)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				c, err := Dial(ctx, cfg)
				if err == nil {
					c.Close()
					t.Fatal("dial succeeded")
				}
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
			})
		}
	}
}

func TestProbeGetsDecoy(t *testing.T) {
	e := setup(t, false, Stream)
	tr := &http.Transport{
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return tlsDial(e.cdn.Addr(), frontDomain)
		},
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"index", "GET", "/", "", 200},
		{"tunnel path GET", "GET", tunnelPath, "", 404},
		// as to any path the site does not have
		{"tunnel path POST without token", "POST", tunnelPath, string(request{op: opOpen}.marshal()), 404},
		{"tunnel path POST garbage", "POST", tunnelPath, "hello", 404},
		{"POST to a page", "POST", "/", "hello", 405},
		{"other page", "GET", "/admin", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "https://"+hiddenHost+tc.path, strings.NewReader(tc.body))
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Server") != decoytest.Profile.Server ||
				!strings.Contains(string(body), "</html>") {
				t.Fatalf("status %d, headers %v, body %q", resp.StatusCode, resp.Header, body)
			}
		})
	}
}

// BenchmarkRoundTrip measures 1 KiB echo round trips through the CDN in
// each mode, with plain tcp in the same run as the baseline (x-tcp).
func BenchmarkRoundTrip(b *testing.B) {
	tcpL, err := tcp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer tcpL.Close()
	tcpNs := transporttest.BenchRoundTrip(b, tcpL, func() (net.Conn, error) {
		return tcp.Dialer{}.Dial(context.Background(), tcpL.Addr().String())
	}, 2000)
	for _, mode := range []Mode{Stream, Poll} {
		b.Run(mode.String(), func(b *testing.B) {
			e := setup(b, false, mode)
			ns := transporttest.BenchRoundTrip(b, e.origin, func() (net.Conn, error) {
				return Dial(context.Background(), e.cfg)
			}, b.N)
			b.ReportMetric(ns, "ns/roundtrip")
			b.ReportMetric(ns/tcpNs, "x-tcp")
		})
	}
}
