package wss

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"samizdat/transport/decoy/decoytest"
	"samizdat/transport/internal/testcert"
	"samizdat/transport/internal/tlsconf"
	"samizdat/transport/internal/token"
	"samizdat/transport/tcp"
	"samizdat/transport/transporttest"
	"samizdat/transport/wss/wsstest"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

const path = "/static/app/ws"

func start(t testing.TB) (net.Listener, ClientConfig, *testcert.Cert) {
	t.Helper()
	cert, err := testcert.New("www.example.com")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen(context.Background(), "127.0.0.1:0", ServerConfig{
		TLS: cert.ServerConfig(), Path: path, Secret: secret, Decoy: decoytest.Handler(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return l, ClientConfig{
		Address: l.Addr().String(), SNI: "www.example.com", Path: path,
		Secret: secret, TLSPin: cert.Pin,
	}, cert
}

func TestConformance(t *testing.T) {
	l, cfg, _ := start(t)
	transporttest.Run(t, l, Dialer{Config: cfg}, cfg.Address)
}

func TestDialErrors(t *testing.T) {
	l, cfg, _ := start(t)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	wrongPin := make([]byte, 32)
	for _, tc := range []struct {
		name string
		edit func(*ClientConfig)
		want error
	}{
		{"wrong secret", func(c *ClientConfig) { c.Secret = []byte("nope") }, ErrRejected},
		{"wrong path", func(c *ClientConfig) { c.Path = "/static/app/wt" }, ErrRejected},
		{"wrong pin", func(c *ClientConfig) { c.TLSPin = wrongPin }, tlsconf.ErrPinMismatch},
		{"no pin, self-signed", func(c *ClientConfig) { c.TLSPin = nil }, nil},
		{"no secret", func(c *ClientConfig) { c.Secret = nil }, ErrConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfg
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

func TestNetDialUsed(t *testing.T) {
	l, cfg, _ := start(t)
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	real := cfg.Address
	var dialed []string
	cfg.Address = "203.0.113.7:443" // virtual; mapped below
	cfg.NetDial = func(ctx context.Context, network, address string) (net.Conn, error) {
		dialed = append(dialed, network+" "+address)
		var d net.Dialer
		return d.DialContext(ctx, network, real)
	}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(dialed) != 1 || dialed[0] != "tcp 203.0.113.7:443" {
		t.Fatalf("dialed %q", dialed)
	}
}

// probe makes an HTTPS request to the endpoint the way a censor's scanner
// would, without the secret (or with the given cookie).
func probe(t *testing.T, addr string, req *http.Request) (*http.Response, string) {
	t.Helper()
	tr := &http.Transport{
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return tls.Dial("tcp", addr, &tls.Config{ServerName: "www.example.com", InsecureSkipVerify: true})
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func checkDecoy(t *testing.T, resp *http.Response, body string, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d", resp.StatusCode, status)
	}
	if got := resp.Header.Get("Server"); got != decoytest.Profile.Server {
		t.Errorf("Server %q", got)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Date") == "" || resp.ContentLength <= 0 {
		t.Errorf("headers %v", resp.Header)
	}
	if !strings.Contains(body, "</html>") {
		t.Errorf("body is not a page: %q", body)
	}
	all := strings.ToLower(body)
	for k, v := range resp.Header {
		all += strings.ToLower(k + ": " + strings.Join(v, ",") + "\n")
	}
	for _, bad := range []string{"samizdat", "websocket", "go-http", "golang"} {
		if strings.Contains(all, bad) {
			t.Errorf("decoy mentions %q", bad)
		}
	}
}

func upgradeRequest(t *testing.T, p, tok string) *http.Request {
	cookie := ""
	if tok != "" {
		cookie = cookieName + "=" + tok
	}
	req, err := wsstest.Request("www.example.com", p, cookie)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestProbeGetsDecoy(t *testing.T) {
	l, cfg, _ := start(t)
	defer l.Close()
	addr := cfg.Address
	get := func(p string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, "https://www.example.com"+p, nil)
		return req
	}
	t.Run("index", func(t *testing.T) {
		resp, body := probe(t, addr, get("/"))
		checkDecoy(t, resp, body, 200)
	})
	t.Run("unknown page", func(t *testing.T) {
		resp, body := probe(t, addr, get("/wp-login.php"))
		checkDecoy(t, resp, body, 404)
	})
	t.Run("tunnel path, plain GET", func(t *testing.T) {
		resp, body := probe(t, addr, get(path))
		checkDecoy(t, resp, body, 404)
	})
	t.Run("upgrade without token", func(t *testing.T) {
		resp, body := probe(t, addr, upgradeRequest(t, path, ""))
		checkDecoy(t, resp, body, 404)
	})
	t.Run("upgrade with a forged token", func(t *testing.T) {
		tok, _ := token.New([]byte("guess"), path, time.Now(), rand.Reader)
		resp, body := probe(t, addr, upgradeRequest(t, path, tok))
		checkDecoy(t, resp, body, 404)
	})
	t.Run("upgrade with an old token", func(t *testing.T) {
		tok, _ := token.New(secret, path, time.Now().Add(-time.Hour), rand.Reader)
		resp, body := probe(t, addr, upgradeRequest(t, path, tok))
		checkDecoy(t, resp, body, 404)
	})
	t.Run("wrong path with a good token", func(t *testing.T) {
		tok, _ := token.New(secret, path, time.Now(), rand.Reader)
		resp, body := probe(t, addr, upgradeRequest(t, path+"x", tok))
		checkDecoy(t, resp, body, 404)
	})
	t.Run("replayed token", func(t *testing.T) {
		tok, _ := token.New(secret, path, time.Now(), rand.Reader)
		// the first use opens a tunnel ...
		go func() {
			if c, err := l.Accept(); err == nil {
				c.Close()
			}
		}()
		resp, _ := probe(t, addr, upgradeRequest(t, path, tok))
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("first use: status %d", resp.StatusCode)
		}
		// ... the replay gets the decoy
		resp, body := probe(t, addr, upgradeRequest(t, path, tok))
		checkDecoy(t, resp, body, 404)
	})
	t.Run("POST", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, "https://www.example.com/", strings.NewReader("x"))
		resp, body := probe(t, addr, req)
		checkDecoy(t, resp, body, 405)
	})
}

// BenchmarkRoundTrip measures 1 KiB echo round trips over wss, with plain
// tcp in the same run as the baseline (reported as ratio).
func BenchmarkRoundTrip(b *testing.B) {
	tcpL, err := tcp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer tcpL.Close()
	tcpNs := transporttest.BenchRoundTrip(b, tcpL, func() (net.Conn, error) {
		return tcp.Dialer{}.Dial(context.Background(), tcpL.Addr().String())
	}, 2000)
	l, cfg, _ := start(b)
	defer l.Close()
	b.ResetTimer()
	ns := transporttest.BenchRoundTrip(b, l, func() (net.Conn, error) {
		return Dial(context.Background(), cfg)
	}, b.N)
	b.ReportMetric(ns, "ns/roundtrip")
	b.ReportMetric(ns/tcpNs, "x-tcp")
}
