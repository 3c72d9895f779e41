package decoy

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"samizdat/transport/selfsigned"
)

// seeded is a deterministic random source for deployment i.
func seeded(i int) io.Reader {
	var seed [32]byte
	copy(seed[:], fmt.Sprintf("decoy test seed %d", i))
	return mrand.NewChaCha8(seed)
}

var testNow = time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)

// TestGeneratedSiteServes: a generated site written to disk is a working
// site: every link on its home page answers, with the size and date of
// the file behind it, and post directories named without their slash
// redirect.
func TestGeneratedSiteServes(t *testing.T) {
	for i := range 12 {
		dir := t.TempDir()
		files := Generate(seeded(i), testNow)
		if err := WriteSite(dir, files); err != nil {
			t.Fatal(err)
		}
		h := rootFS(t, dir)
		_, index := serve(h, "GET", "http://example.org/")
		links := regexp.MustCompile(`(?:href)="(/[^"]*)"`).FindAllStringSubmatch(index, -1)
		if len(links) < 5 {
			t.Fatalf("site %d: %d links on the home page", i, len(links))
		}
		for _, l := range links {
			resp, body := serve(h, "GET", "http://example.org"+l[1])
			if resp.StatusCode != 200 {
				t.Errorf("site %d: %s: %d", i, l[1], resp.StatusCode)
				continue
			}
			name := strings.TrimPrefix(l[1], "/")
			if name == "" || strings.HasSuffix(name, "/") {
				name += "index.html"
			}
			st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(body)) != st.Size() || resp.Header.Get("Last-Modified") != st.ModTime().UTC().Format(http.TimeFormat) {
				t.Errorf("site %d: %s: %d bytes of %v, file %d of %v", i, l[1], len(body), resp.Header.Get("Last-Modified"), st.Size(), st.ModTime())
			}
			if !st.ModTime().Before(testNow) {
				t.Errorf("site %d: %s dated %v, after now", i, name, st.ModTime())
			}
			if dirURL := strings.TrimSuffix(l[1], "/"); dirURL != l[1] && dirURL != "" {
				if resp, _ := serve(h, "GET", "http://example.org"+dirURL); resp.StatusCode != 301 {
					t.Errorf("site %d: %s: %d, want a redirect", i, dirURL, resp.StatusCode)
				}
			}
		}
	}
}

// deployment is what a prober sees of one drawn decoy, by feature.
func deployment(t *testing.T, i int) map[string]string {
	t.Helper()
	r := seeded(i)
	p := Draw(r, testNow)
	h := Static(FS(Generate(r, testNow)), p)
	f := map[string]string{}
	resp, body := serve(h, "GET", "https://www.example.org/")
	f["server"] = resp.Header.Get("Server")
	f["index type"] = resp.Header.Get("Content-Type")
	f["index size"] = resp.Header.Get("Content-Length")
	f["index body"] = body
	f["index etag"] = resp.Header.Get("ETag")
	f["index date"] = resp.Header.Get("Last-Modified")
	var extra []string
	for k, v := range resp.Header {
		switch k {
		case "Server", "Content-Type", "Content-Length", "Etag", "Last-Modified", "Accept-Ranges":
		default:
			extra = append(extra, k+": "+strings.Join(v, ","))
		}
	}
	sort.Strings(extra)
	f["other headers"] = strings.Join(extra, "\n")
	resp, body = serve(h, "GET", "https://www.example.org/wp-login.php")
	f["404 page"] = resp.Header.Get("Content-Type") + "\n" + body
	_, f["robots"] = serve(h, "GET", "https://www.example.org/robots.txt")
	css := regexp.MustCompile(`stylesheet" href="([^"]+)"`).FindStringSubmatch(f["index body"])
	if css == nil {
		t.Fatalf("deployment %d: no style sheet", i)
	}
	_, f["style"] = serve(h, "GET", "https://www.example.org"+css[1])

	id, err := selfsigned.LoadShape(filepath.Join(t.TempDir(), "key.pem"), p.Cert, seeded(1000+i), func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	c, err := id.Config("").GetCertificate(&tls.ClientHelloInfo{ServerName: "www.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	f["cert key"] = hex.EncodeToString(spki[:])
	f["cert key type"] = leaf.PublicKeyAlgorithm.String() + strconv.Itoa(len(leaf.RawSubjectPublicKeyInfo))
	f["cert issuer"] = leaf.Issuer.String()
	f["cert subject"] = leaf.Subject.String()
	f["cert start"] = leaf.NotBefore.String()
	f["cert validity"] = leaf.NotAfter.Sub(leaf.NotBefore).String()
	f["cert serial length"] = strconv.Itoa(len(leaf.SerialNumber.Bytes()))
	f["cert serial"] = leaf.SerialNumber.String()
	f["cert chain"] = strconv.Itoa(len(c.Certificate))
	return f
}

// TestNothingConstantAcrossDeployments draws 40 deployments and checks
// every feature a prober sees: none has one value in most of them, and
// bodies, dates, ETags, keys and serials are each deployment's own.
func TestNothingConstantAcrossDeployments(t *testing.T) {
	const n = 40
	values := map[string][]string{}
	for i := range n {
		for k, v := range deployment(t, i) {
			values[k] = append(values[k], v)
		}
	}
	unique := []string{"index body", "index etag", "index date", "style", "cert key", "cert start", "cert serial"}
	for k, vs := range values {
		count := map[string]int{}
		for _, v := range vs {
			count[v]++
		}
		top, topV := 0, ""
		for v, c := range count {
			if c > top {
				top, topV = c, v
			}
		}
		if top > n*3/4 {
			t.Errorf("%s: %q in %d of %d deployments", k, topV, top, n)
		}
		if slices.Contains(unique, k) && len(count) != n {
			t.Errorf("%s: %d distinct values in %d deployments", k, len(count), n)
		}
		t.Logf("%-18s %2d values, the commonest in %2d", k, len(count), top)
	}
}

// TestHandlerIsEachProcesss: the default decoy is drawn anew.
func TestHandlerIsEachProcesss(t *testing.T) {
	r1, b1 := serve(Handler(), "GET", "http://example.org/")
	r2, b2 := serve(Handler(), "GET", "http://example.org/")
	if b1 == b2 || r1.Header.Get("ETag") == r2.Header.Get("ETag") {
		t.Fatalf("two default decoys alike: %q", b1)
	}
}

// TestProxy: the real site's answer comes back unchanged, asked with its
// own Host and without the prober's address; an unreachable site gives
// the style's 502 page.
func TestProxy(t *testing.T) {
	var gotHost, gotXFF, gotPath string
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotXFF, gotPath = r.Host, r.Header.Get("X-Forwarded-For"), r.URL.RequestURI()
		w.Header().Set("Server", "ExampleServer/2")
		w.Header().Set("X-Site", "real")
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "the real site")
	}))
	defer site.Close()
	u, _ := url.Parse(site.URL)
	h, err := Proxy(u, Profile{Style: Nginx, Server: "nginx"})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := serve(h, "GET", "https://relay.example/some/page?q=1", "X-Forwarded-For", "198.51.100.7")
	if resp.StatusCode != http.StatusTeapot || body != "the real site" || resp.Header.Get("Server") != "ExampleServer/2" || resp.Header.Get("X-Site") != "real" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
	if gotHost != u.Host || gotXFF != "" || gotPath != "/some/page?q=1" {
		t.Fatalf("the site saw Host %q, X-Forwarded-For %q, path %q", gotHost, gotXFF, gotPath)
	}
	site.Close()
	resp, body = serve(h, "GET", "https://relay.example/")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "502 Bad Gateway") || resp.Header.Get("Server") != "nginx" {
		t.Fatalf("unreachable: %d %q", resp.StatusCode, body)
	}
	for _, bad := range []string{"ftp://example.org", "/relative", "http://user:pw@example.org"} {
		u, _ := url.Parse(bad)
		if _, err := Proxy(u, Profile{}); err == nil {
			t.Errorf("Proxy(%q) accepted", bad)
		}
	}
}

// TestMemFS: the in-memory site is a file system.
func TestMemFS(t *testing.T) {
	files := Generate(seeded(1), testNow)
	fsys := FS(files)
	for _, f := range files {
		got, err := fs.ReadFile(fsys, f.Path)
		if err != nil || !bytes.Equal(got, f.Body) {
			t.Fatalf("%s: %v", f.Path, err)
		}
	}
}
