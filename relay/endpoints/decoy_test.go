package endpoints_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"samizdat/relay/endpoints"
)

// seededRand is a deterministic random source, different for each label.
func seededRand(label string) io.Reader {
	var seed [32]byte
	copy(seed[:], label)
	return mrand.NewChaCha8(seed)
}

// answer is what one probe saw.
type answer struct {
	status int
	header http.Header
	body   string
}

// probes are what a scanner asks every address it finds, the same for
// every relay: the home page, robots.txt, a login page, a POST, a
// WebSocket upgrade without a token, and a HEAD.
var probes = []struct{ name, method, path string }{
	{"home", "GET", "/"},
	{"robots", "GET", "/robots.txt"},
	{"missing page", "GET", "/wp-login.php"},
	{"post", "POST", "/"},
	{"upgrade", "GET", "/ws"},
	{"head", "HEAD", "/"},
}

// probeWSS sends the probes to a wss endpoint as a scanner does (SNI
// www.example.org) and returns the answers and the certificate chain.
func probeWSS(t *testing.T, addr string) (map[string]answer, []*x509.Certificate) {
	t.Helper()
	var chain []*x509.Certificate
	tr := &http.Transport{
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "www.example.org", InsecureSkipVerify: true})
			if err == nil {
				chain = c.ConnectionState().PeerCertificates
			}
			return c, err
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	return probeHTTP(t, &http.Client{Transport: tr}, "https://www.example.org"), chain
}

// probeHTTP sends the probes to base.
func probeHTTP(t *testing.T, hc *http.Client, base string) map[string]answer {
	t.Helper()
	out := map[string]answer{}
	for _, p := range probes {
		req, err := http.NewRequest(p.method, base+p.path, strings.NewReader(map[bool]string{true: "user=admin"}[p.method == "POST"]))
		if err != nil {
			t.Fatal(err)
		}
		if p.name == "upgrade" {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out[p.name] = answer{resp.StatusCode, resp.Header, string(b)}
	}
	return out
}

// wssListen returns the address of m's endpoint named name.
func listenOf(m *endpoints.Manager, name string) string {
	for _, i := range m.List() {
		if i.Name == name {
			return i.Listen
		}
	}
	return ""
}

// TestDecoyIsEachDeployments: two relays, each with its own data
// directory, probed the same way, share nothing drawn per deployment:
// no header value (the date and what HTTP fixes for the kind of answer
// aside), no body, no size, no error page, no certificate field. On a
// relay with a built-in decoy every one of these is the same.
//
// The relays draw from fixed seeds, so the test is deterministic. Fields
// drawn from a few values (the server's name, the key type, the serial's
// length) are left out: two deployments may share one, and how far a
// seed's draws reach them changes whenever first start draws something
// more; transport/decoy's TestNothingConstantAcrossDeployments shows over
// forty deployments that no field has one value in most.
func TestDecoyIsEachDeployments(t *testing.T) {
	var answers []map[string]answer
	var chains [][]*x509.Certificate
	for i, seed := range []string{"deployment one", "deployment two"} {
		r := newRelay(t)
		m := r.start(t, func(o *endpoints.Options) { o.Rand = seededRand(seed) }, "wss://127.0.0.1:0?name=w")
		a, chain := probeWSS(t, listenOf(m, "w"))
		for name, ans := range a {
			t.Logf("relay %d, %s: %d %v %d bytes", i, name, ans.status, ans.header, len(ans.body))
		}
		answers = append(answers, a)
		chains = append(chains, chain)
	}
	a, b := answers[0], answers[1]
	for _, p := range probes {
		x, y := a[p.name], b[p.name]
		if x.status != y.status {
			// the same request: the same status, as any web server gives
			t.Errorf("%s: status %d and %d", p.name, x.status, y.status)
		}
		if p.method != "HEAD" && x.body == y.body {
			t.Errorf("%s: the same body %q", p.name, x.body)
		}
		for k, v := range x.header {
			switch k {
			case "Date", "Accept-Ranges", "Content-Type", "Server":
				// the clock; what every static server sends with a file;
				// what the kind of file says (transport/decoy draws the
				// charset and the error pages' types); the server's name,
				// drawn from a few (two deployments may share one)
				continue
			}
			if w, ok := y.header[k]; ok && slices.Equal(v, w) {
				t.Errorf("%s: both send %s: %s", p.name, k, strings.Join(v, ","))
			}
		}
	}
	x, y := chains[0], chains[1]
	if len(x) == 0 || len(y) == 0 {
		t.Fatal("no certificates")
	}
	lx, ly := x[0], y[0]
	for _, f := range []struct {
		name string
		x, y any
	}{
		{"key", string(lx.RawSubjectPublicKeyInfo), string(ly.RawSubjectPublicKeyInfo)},
		{"issuer", lx.Issuer.String(), ly.Issuer.String()},
		{"subject", lx.Subject.String(), ly.Subject.String()},
		{"not before", lx.NotBefore, ly.NotBefore},
		{"validity", lx.NotAfter.Sub(lx.NotBefore), ly.NotAfter.Sub(ly.NotBefore)},
		{"serial", lx.SerialNumber.String(), ly.SerialNumber.String()},
	} {
		if f.x == f.y {
			t.Errorf("certificate %s: both %v", f.name, f.x)
		}
	}
}

// TestDecoyStaysAfterRestart: a relay restarted on its data directory
// looks the same: the same pages, headers, dates and certificate fields.
func TestDecoyStaysAfterRestart(t *testing.T) {
	r := newRelay(t)
	m := r.start(t, nil, "wss://127.0.0.1:0?name=w")
	addr := listenOf(m, "w")
	before, chain := probeWSS(t, addr)
	m.Close()
	// A restart listens where it did (an error page may name the port).
	m = r.start(t, nil, "wss://"+addr+"?name=w")
	after, chain2 := probeWSS(t, listenOf(m, "w"))
	for name, x := range before {
		y := after[name]
		x.header.Del("Date")
		y.header.Del("Date")
		if x.status != y.status || x.body != y.body || fmt.Sprint(x.header) != fmt.Sprint(y.header) {
			t.Errorf("%s changed: %d %v %q, then %d %v %q", name, x.status, x.header, x.body, y.status, y.header, y.body)
		}
	}
	lx, ly := chain[0], chain2[0]
	if lx.Issuer.String() != ly.Issuer.String() || lx.Subject.String() != ly.Subject.String() || !lx.NotBefore.Equal(ly.NotBefore) ||
		!lx.NotAfter.Equal(ly.NotAfter) || string(lx.RawSubjectPublicKeyInfo) != string(ly.RawSubjectPublicKeyInfo) || len(chain) != len(chain2) {
		t.Errorf("the certificate changed: %s by %s %v-%v, then %s by %s %v-%v",
			lx.Subject, lx.Issuer, lx.NotBefore, lx.NotAfter, ly.Subject, ly.Issuer, ly.NotBefore, ly.NotAfter)
	}
	for _, f := range []string{endpoints.DisguiseFile, endpoints.DecoySiteDir} {
		if _, err := os.Stat(filepath.Join(r.dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(r.dir, endpoints.DisguiseFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v", endpoints.DisguiseFile, err)
	}
}

// TestDecoyDir: with the operator's own directory, probes get its files,
// with their sizes and dates, on wss and front endpoints alike.
func TestDecoyDir(t *testing.T) {
	site := t.TempDir()
	mod := time.Date(2024, 6, 1, 10, 30, 0, 0, time.UTC)
	for name, body := range map[string]string{"index.html": "<h1>Our choir</h1>\n", "robots.txt": "User-agent: *\n"} {
		p := filepath.Join(site, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mod, mod)
	}
	r := newRelay(t)
	m := r.start(t, func(o *endpoints.Options) { o.DecoyDir = site }, "wss://127.0.0.1:0?name=w",
		"front://127.0.0.1:0?name=f&address=cdn.example:443&host=hidden.example")
	a, _ := probeWSS(t, listenOf(m, "w"))
	f := probeHTTP(t, http.DefaultClient, "http://"+listenOf(m, "f"))
	for _, got := range []map[string]answer{a, f} {
		home := got["home"]
		if home.status != 200 || home.body != "<h1>Our choir</h1>\n" || home.header.Get("Last-Modified") != mod.Format(http.TimeFormat) {
			t.Errorf("home: %d %q %v", home.status, home.body, home.header)
		}
		if got["missing page"].status != 404 || got["upgrade"].status != 404 || got["post"].status != 405 {
			t.Errorf("missing %d, upgrade %d, post %d", got["missing page"].status, got["upgrade"].status, got["post"].status)
		}
	}
	if _, err := os.Stat(filepath.Join(r.dir, endpoints.DecoySiteDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a site was generated although the operator gave one: %v", err)
	}
}

// TestDecoyProxy: with a proxy, probes get the real site's answers (a
// loopback server here).
func TestDecoyProxy(t *testing.T) {
	real := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "RealSite/1.0")
		fmt.Fprintf(w, "real page %s %s", r.Method, r.URL.Path)
	}))
	defer real.Close()
	r := newRelay(t)
	m := r.start(t, func(o *endpoints.Options) { o.DecoyProxy = real.URL }, "wss://127.0.0.1:0?name=w")
	a, _ := probeWSS(t, listenOf(m, "w"))
	for _, p := range probes {
		got := a[p.name]
		want := "real page " + p.method + " " + p.path
		if p.method == "HEAD" {
			want = ""
		}
		if got.status != 200 || got.body != want || got.header.Get("Server") != "RealSite/1.0" {
			t.Errorf("%s: %d %q %v", p.name, got.status, got.body, got.header)
		}
	}
}

// TestDecoyOptionErrors: decoy options that cannot work stop the start,
// with the reason.
func TestDecoyOptionErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct {
		name       string
		dir, proxy string
		want       string
	}{
		{"both", t.TempDir(), "https://www.example.org", "not both"},
		{"missing directory", filepath.Join(t.TempDir(), "nope"), "", "is not a directory"},
		{"a file", file, "", "is not a directory"},
		{"not a URL", "", "www.example.org", "must be an http:// or https:// URL"},
		{"another scheme", "", "ftp://www.example.org", "must be an http:// or https:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRelay(t)
			s, _ := endpoints.ParseURL("tcp://127.0.0.1:0")
			_, err := endpoints.Start(endpoints.Options{Dir: r.dir, Server: r.srv, Keys: r.keys, Network: "testnet",
				Listen: []endpoints.Spec{s}, DecoyDir: tc.dir, DecoyProxy: tc.proxy})
			if !errors.Is(err, endpoints.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrConfig saying %q", err, tc.want)
			}
		})
	}
}
