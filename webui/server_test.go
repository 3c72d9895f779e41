package webui

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"samizdat/client"
)

const testAddr = "127.0.0.1:4321"

// request runs one request through s with the given Host, cookie and
// headers.
func request(t *testing.T, s *Server, method, target, host string, cookie *http.Cookie, hdr map[string]string, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = host
	if cookie != nil {
		r.AddCookie(cookie)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Header().Get("Content-Security-Policy") != csp {
		t.Fatalf("%s %s: no Content-Security-Policy", method, target)
	}
	return w
}

// signIn opens the URL with the token and returns the cookie it sets.
func signIn(t *testing.T, s *Server) *http.Cookie {
	t.Helper()
	w := request(t, s, "GET", "/?token="+s.token, testAddr, nil, nil, "")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("the token URL: %d to %q, want a redirect to /", w.Code, w.Header().Get("Location"))
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("cookies: %v", cs)
	}
	c := cs[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Value != s.token || c.Name != "samizdat-4321" || c.Path != "/" {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, the token, named for the port", c)
	}
	return c
}

func TestAccessChecks(t *testing.T) {
	var setupCalls int
	s, err := New(Config{Addr: testAddr, Setup: func(ctx context.Context, invite []byte, name, device string) (*client.Client, error) {
		setupCalls++
		if string(invite) != "the invite" || name != "alice" || device != "laptop" {
			t.Errorf("setup got %q, %q, %q", invite, name, device)
		}
		return nil, errors.New("no relay here")
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := request(t, s, "GET", "/", testAddr, nil, nil, ""); w.Code != http.StatusForbidden {
		t.Fatalf("without the cookie: %d", w.Code)
	}
	if w := request(t, s, "GET", "/?token=nope", testAddr, nil, nil, ""); w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
		t.Fatalf("a wrong token: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	ck := signIn(t, s)
	wrong := &http.Cookie{Name: ck.Name, Value: "0" + ck.Value[1:]}
	if w := request(t, s, "GET", "/api/state", testAddr, wrong, nil, ""); w.Code != http.StatusForbidden {
		t.Fatalf("a wrong cookie: %d", w.Code)
	}
	for _, host := range []string{testAddr, "localhost:4321", "[::1]:4321", "LOCALHOST:4321"} {
		if w := request(t, s, "GET", "/", host, ck, nil, ""); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<script type="module" src="app.js">`) {
			t.Fatalf("Host %s: %d", host, w.Code)
		}
	}
	for _, host := range []string{"evil.example:4321", "127.0.0.1:4322", "127.0.0.1", "localhost.evil.example:4321"} {
		if w := request(t, s, "GET", "/", host, ck, nil, ""); w.Code != http.StatusMisdirectedRequest {
			t.Fatalf("Host %s: %d, want 421", host, w.Code)
		}
	}
	for origin, want := range map[string]int{
		"http://evil.example": http.StatusForbidden, "http://127.0.0.1:4322": http.StatusForbidden, "null": http.StatusForbidden,
		"https://127.0.0.1:4321": http.StatusForbidden, "http://127.0.0.1:4321": http.StatusOK, "http://localhost:4321": http.StatusOK,
	} {
		if w := request(t, s, "GET", "/api/state", testAddr, ck, map[string]string{"Origin": origin}, ""); w.Code != want {
			t.Fatalf("Origin %s: %d, want %d", origin, w.Code, want)
		}
	}
	for site, want := range map[string]int{"cross-site": http.StatusForbidden, "same-site": http.StatusForbidden, "same-origin": http.StatusOK, "none": http.StatusOK} {
		if w := request(t, s, "GET", "/api/state", testAddr, ck, map[string]string{"Sec-Fetch-Site": site}, ""); w.Code != want {
			t.Fatalf("Sec-Fetch-Site %s: %d, want %d", site, w.Code, want)
		}
	}
	// The token's exchange from another origin (the page --open writes):
	// the cookie, and a page of ours that navigates on, so that the
	// browser sends the SameSite=Strict cookie.
	w := request(t, s, "GET", "/?token="+s.token, testAddr, nil, map[string]string{"Sec-Fetch-Site": "cross-site"}, "")
	if cs := w.Result().Cookies(); w.Code != http.StatusOK || len(cs) != 1 || cs[0].Value != s.token ||
		!strings.Contains(w.Body.String(), `<meta http-equiv="refresh" content="0;url=/">`) {
		t.Fatalf("a cross-site token exchange: %d %q %v", w.Code, w.Body, cs)
	}
	if w := request(t, s, "GET", "/?token=nope", testAddr, nil, map[string]string{"Sec-Fetch-Site": "cross-site"}, ""); w.Code != http.StatusForbidden {
		t.Fatalf("a cross-site wrong token: %d", w.Code)
	}
	w = request(t, s, "GET", "/api/state", testAddr, ck, nil, "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"setup":true`) || !strings.Contains(w.Body.String(), s.csrf) {
		t.Fatalf("state before the first run: %d %s", w.Code, w.Body)
	}

	body := `{"name":"alice","device":"laptop","invite":"the invite"}`
	jsonCT := map[string]string{"Content-Type": "application/json"}
	if w := request(t, s, "POST", "/api/setup", testAddr, ck, jsonCT, body); w.Code != http.StatusForbidden {
		t.Fatalf("POST without the CSRF token: %d", w.Code)
	}
	if w := request(t, s, "POST", "/api/setup", testAddr, ck, map[string]string{"Content-Type": "application/json", "X-CSRF-Token": "x" + s.csrf[1:]}, body); w.Code != http.StatusForbidden {
		t.Fatalf("POST with a wrong CSRF token: %d", w.Code)
	}
	if w := request(t, s, "POST", "/api/setup", testAddr, ck, map[string]string{"Content-Type": "text/plain", "X-CSRF-Token": s.csrf}, body); w.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("POST of a form body: %d", w.Code)
	}
	if w := request(t, s, "PUT", "/api/setup", testAddr, ck, map[string]string{"Content-Type": "application/json", "X-CSRF-Token": s.csrf}, body); w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %d", w.Code)
	}
	if setupCalls != 0 {
		t.Fatal("a refused request reached the first run")
	}
	ok := map[string]string{"Content-Type": "application/json", "X-CSRF-Token": s.csrf}
	if w := request(t, s, "POST", "/api/setup", testAddr, ck, ok, `{"name":"alice","surprise":1}`); w.Code != http.StatusBadRequest {
		t.Fatalf("an unknown field: %d", w.Code)
	}
	w = request(t, s, "POST", "/api/setup", testAddr, ck, ok, body)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "no relay here") || setupCalls != 1 {
		t.Fatalf("the first run: %d %s (%d calls)", w.Code, w.Body, setupCalls)
	}
	// Before the first run, nothing else answers.
	if w := request(t, s, "GET", "/api/history?peer=bob", testAddr, ck, nil, ""); w.Code != http.StatusConflict {
		t.Fatalf("history before the first run: %d", w.Code)
	}
}

// TestAssetsSelfContained checks the bundle: small, nothing fetched from
// elsewhere, no inline script or style (the CSP would block it), and no
// HTML built from strings in the script.
func TestAssetsSelfContained(t *testing.T) {
	total := 0
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import|https?://`)
	err := fs.WalkDir(assets, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(path)
		if err != nil {
			return err
		}
		total += len(b)
		text := string(b)
		if m := external.FindString(text); m != "" {
			t.Errorf("%s refers to another site: %q", path, m)
		}
		switch filepath.Ext(path) {
		case ".html":
			if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(text) || strings.Contains(text, "<style") || regexp.MustCompile(`\son[a-z]+=`).MatchString(text) || strings.Contains(text, "style=") {
				t.Errorf("%s has inline script or style", path)
			}
		case ".js":
			for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
				if strings.Contains(text, bad) {
					t.Errorf("%s uses %s", path, bad)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total == 0 || total > 300<<10 {
		t.Fatalf("the bundle is %d bytes; want it under 300 KB", total)
	}
	t.Logf("bundle: %d bytes", total)
}

func TestStatusLine(t *testing.T) {
	for _, c := range []struct {
		p      pathSnapshot
		outbox int
		bridge string
		state  string
		line   string
	}{
		{pathSnapshot{}, 0, "", "connecting", "connecting…"},
		{pathSnapshot{}, 2, "", "connecting", "connecting…: 2 message(s) waiting to go out"},
		{pathSnapshot{up: true, everUp: true, transport: "wss"}, 0, "", "connected", "connected via wss, cohort 3"},
		{pathSnapshot{up: true, everUp: true, transport: "tcp", took: 2100 * time.Millisecond, failed: 4, lastClass: "reset"}, 0, "alice", "connected",
			"blocked on this network — reconnected through alice's bridge in 2.1 s"},
		{pathSnapshot{up: true, everUp: true, transport: "wss", took: 1500 * time.Millisecond, failed: 2, lastClass: "tcp-timeout"}, 0, "", "connected",
			"connected via wss, cohort 3, after 2 failed attempt(s) (tcp-timeout) in 1.5 s"},
		{pathSnapshot{everUp: true, failed: 1, lastClass: "refused"}, 3, "", "offline", "offline (last failure: refused): 3 message(s) waiting to go out"},
		{pathSnapshot{failed: 5, lastClass: "tls"}, 0, "", "offline", "offline (last failure: tls)"},
	} {
		st := statusOf(c.p, 3, c.outbox, c.bridge)
		if st.State != c.state || st.Line != c.line || st.Outbox != c.outbox {
			t.Errorf("%+v, outbox %d, bridge %q: %s %q; want %s %q", c.p, c.outbox, c.bridge, st.State, st.Line, c.state, c.line)
		}
	}
}

func TestUIStatePersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.json")
	var u uiState
	u.load(path)
	if err := u.markRead("contact:bob", 7); err != nil {
		t.Fatal(err)
	}
	if err := u.markRead("contact:bob", 5); err != nil { // never back
		t.Fatal(err)
	}
	if err := u.markVerified("bob", "12345 67890"); err != nil {
		t.Fatal(err)
	}
	var v uiState
	v.load(path)
	if v.seen("contact:bob") != 7 || v.seen("group:x") != 0 {
		t.Fatalf("read state after reload: %+v", v.data)
	}
	if !v.verified("bob", "12345 67890") || v.verified("bob", "12345 00000") || v.verified("carol", "") {
		t.Fatalf("verified after reload: %+v", v.data)
	}
}

// TestEventsCarryNoText checks the live updates: a message event says
// which conversation changed, never its text.
func TestEventsCarryNoText(t *testing.T) {
	s, err := New(Config{Addr: testAddr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ck := signIn(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	r := httptest.NewRequestWithContext(ctx, "GET", "/api/events", nil)
	r.Host = testAddr
	r.AddCookie(ck)
	w := &streamRecorder{header: http.Header{}, w: pw}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeHTTP(w, r)
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	if line, err := br.ReadString('\n'); err != nil || line != "retry: 1000\n" {
		t.Fatalf("stream starts with %q, %v", line, err)
	}
	// The subscription exists once the first bytes are out.
	s.Event(client.Event{Kind: client.EventMessage, Peer: "bob", Text: "the secret text"})
	s.Event(client.Event{Kind: client.EventGroupMessage, Peer: "bob", Group: "friends", Text: "the secret text"})
	s.Event(client.Event{Kind: client.EventIdentityChanged, Peer: "carol"})
	var got []string
	for len(got) < 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data: ") {
			got = append(got, strings.TrimSpace(strings.TrimPrefix(line, "data: ")))
		}
	}
	want := []string{`{"kind":"message","peer":"bob"}`, `{"kind":"message","peer":"friends"}`, `{"kind":"identity","peer":"carol"}`}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("update %d: %s, want %s", i, got[i], want[i])
		}
	}
	if w.header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("Content-Type %q", w.header.Get("Content-Type"))
	}
	cancel()
	<-done
}

// streamRecorder is a ResponseWriter that streams the body into a pipe.
type streamRecorder struct {
	header http.Header
	w      io.Writer
	code   int
}

func (r *streamRecorder) Header() http.Header         { return r.header }
func (r *streamRecorder) WriteHeader(code int)        { r.code = code }
func (r *streamRecorder) Write(b []byte) (int, error) { return r.w.Write(b) }
func (r *streamRecorder) Flush()                      {}
