// Package webui is samizdat's local web client: an HTTP server on loopback
// that serves a single-page client embedded in the binary (plain ES modules
// and CSS, no external scripts, fonts or CDN: the page works while the
// internet is censored) and a small JSON API over a client.Client, with
// live updates as server-sent events.
//
// Only the person at the keyboard may use it, not other local users nor
// other web sites:
//
//   - a random token in the URL that `samizdat web` prints becomes an
//     HttpOnly, SameSite=Strict cookie (the page then redirects to strip it
//     from the address bar); a request without it is refused;
//   - the Host header must name the loopback address the server listens on
//     (DNS rebinding: a foreign name resolving to 127.0.0.1 is refused);
//   - a request whose Origin (or Sec-Fetch-Site) says it came from another
//     site is refused, but for the exchange of the token itself (the page
//     `samizdat web --open` writes is a local file, another origin);
//   - every state change is a POST with a JSON body and an X-CSRF-Token
//     header holding a secret only the page can read (from GET /api/state);
//   - a strict Content-Security-Policy (default-src 'self', no inline
//     script or style) and every string rendered as text by the page.
package webui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"samizdat/client"
)

// Setup is the first run: it creates the identity under name and
// registers it with the relay named in the invite (its text, as pasted or
// read from the file), naming this device device (may be empty), and
// returns the open client.
type Setup func(ctx context.Context, invite []byte, name, device string) (*client.Client, error)

// Config configures a Server.
type Config struct {
	// Addr is the host:port the server listens on (after Listen: the real
	// port). The Host header must name it, or localhost on its port.
	Addr string
	// Token is the secret in the URL; empty means a fresh random one.
	Token string
	// Setup runs the first run, when the home holds no identity yet (the
	// server was made without a client); nil refuses it.
	Setup Setup
	// Started, if set, is called once with the client Setup returned,
	// before the page learns of it (the caller starts receiving).
	Started func(*client.Client)
	// BlockHook, if set, runs after the user blocked name (the CLI's
	// block takes back bridge offers).
	BlockHook func(ctx context.Context, c *client.Client, name string)
	// StateFile keeps which messages were read (for the unread counts)
	// and which safety numbers were verified; empty keeps them in memory
	// only.
	StateFile string
	// FilesDir is where the client saves received files (HOME/files):
	// the only place the page downloads from. Empty: no downloads.
	FilesDir string
	// TempDir holds files the page uploads while they are sent; empty
	// refuses sending files.
	TempDir string
}

// Server is the web client's HTTP handler.
type Server struct {
	cfg    Config
	token  string
	csrf   string
	cookie string
	hosts  map[string]bool
	origin map[string]bool
	mux    *http.ServeMux

	mu     sync.Mutex
	c      *client.Client // guarded by mu; nil until the first run is done
	hub    hub
	net    netState
	state  uiState
	setupM sync.Mutex // one first run at a time
}

// New returns a server for cfg, with c the open client (nil: the page
// shows the first run, cfg.Setup).
func New(cfg Config, c *client.Client) (*Server, error) {
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, token: cfg.Token, c: c, hosts: map[string]bool{}, origin: map[string]bool{}}
	if s.token == "" {
		s.token = randomHex(16)
	}
	s.csrf = randomHex(16)
	s.cookie = "samizdat-" + port // cookies ignore ports: two servers on one host keep theirs apart
	for _, h := range []string{host, "localhost", "127.0.0.1", "::1"} {
		hp := net.JoinHostPort(h, port)
		s.hosts[hp] = true
		s.origin["http://"+hp] = true
	}
	s.state.load(cfg.StateFile)
	s.routes()
	return s, nil
}

// URL is the address to open, with the token; host:port is where the
// server listens.
func (s *Server) URL() string {
	return "http://" + s.cfg.Addr + "/?token=" + url.QueryEscape(s.token)
}

// SetClient gives the server the open client (when the home has an
// identity at start).
func (s *Server) SetClient(c *client.Client) {
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
	s.hub.publish(update{Kind: "setup"})
}

// client returns the open client, or nil before the first run.
func (s *Server) client() *client.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// csp is the Content-Security-Policy of every response: nothing but this
// server's own scripts, styles and images; no inline code, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ServeHTTP checks every request (Host, Origin, token, CSRF) before it
// reaches a handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	if !s.hosts[strings.ToLower(r.Host)] {
		http.Error(w, "wrong Host: open the address samizdat web printed", http.StatusMisdirectedRequest)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !s.origin[o] {
		http.Error(w, "request from another site refused", http.StatusForbidden)
		return
	}
	site := r.Header.Get("Sec-Fetch-Site")
	crossSite := site != "" && site != "same-origin" && site != "none"
	if tok := r.URL.Query().Get("token"); tok != "" && r.Method == http.MethodGet {
		// The token is the proof here, wherever the navigation came
		// from (the file --open writes is another origin).
		if !equal(tok, s.token) {
			http.Error(w, "wrong token: open the address samizdat web printed", http.StatusForbidden)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: s.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		q := r.URL.Query()
		q.Del("token")
		u := *r.URL
		u.RawQuery = q.Encode()
		if crossSite {
			// A redirect would stay in the cross-site chain, and the
			// browser would not send the SameSite=Strict cookie with it:
			// a page of ours navigates instead.
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><meta http-equiv="refresh" content="0;url=%s"><title>samizdat</title><a href="%s">Open samizdat</a>`,
				html.EscapeString(u.RequestURI()), html.EscapeString(u.RequestURI()))
			return
		}
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
		return
	}
	if crossSite {
		http.Error(w, "request from another site refused", http.StatusForbidden)
		return
	}
	if ck, err := r.Cookie(s.cookie); err != nil || !equal(ck.Value, s.token) {
		http.Error(w, "not signed in: open the address samizdat web printed (it holds the token)", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !equal(r.Header.Get("X-CSRF-Token"), s.csrf) {
			http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
			return
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") &&
			!(r.URL.Path == "/api/file" && ct == "application/octet-stream") {
			http.Error(w, "a JSON body is required", http.StatusUnsupportedMediaType)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// maxBody bounds a request body (an invite is a few KB).
const maxBody = 1 << 20

// decode reads r's JSON body into v.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("bad request body: " + err.Error())
	}
	return nil
}

// decodeOr400 reads r's JSON body into v, or answers 400 with the reason
// and returns false.
func decodeOr400(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decode(r, v); err != nil {
		fail(w, http.StatusBadRequest, err)
		return false
	}
	return true
}

// reply writes v as JSON.
func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// fail writes err as a JSON error with status code.
func fail(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
