package decoy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzStatic sends requests with arbitrary paths, methods and Range and
// conditional headers to a static site: it never panics, answers only
// with the statuses a static server gives, never serves a hidden file,
// and a partial answer is exactly the part of the file its Content-Range
// names.
func FuzzStatic(f *testing.F) {
	mod := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	body := "0123456789abcdefghij"
	h := Static(FS([]File{
		{Path: "index.html", Body: []byte("home"), ModTime: mod},
		{Path: "a/data.txt", Body: []byte(body), ModTime: mod},
		{Path: ".secret", Body: []byte("hidden"), ModTime: mod},
		{Path: "b/.git/config", Body: []byte("hidden"), ModTime: mod},
	}), Profile{Style: Apache, Server: "Apache", Signature: true})
	f.Add("GET", "/a/data.txt", "bytes=2-5", "")
	f.Add("GET", "/a/data.txt", "bytes=-3", "")
	f.Add("HEAD", "/a", "", "")
	f.Add("GET", "/a/../.secret", "bytes=0-", "\"x\"")
	f.Add("POST", "/b/.git/config", "bytes=5-1", "*")
	f.Fuzz(func(t *testing.T, method, path, rng, inm string) {
		req := httptest.NewRequest(http.MethodGet, "http://example.org/", nil)
		req.Method, req.URL.Path = method, path
		req.Header.Set("Range", rng)
		req.Header.Set("If-None-Match", inm)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 206, 301, 304, 400, 403, 404, 405, 416:
		default:
			t.Fatalf("status %d", w.Code)
		}
		if strings.Contains(w.Body.String(), "hidden") {
			t.Fatalf("served a hidden file for %q", path)
		}
		if w.Code == 206 {
			var a, b, size int
			cr := w.Header().Get("Content-Range")
			if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &a, &b, &size); err != nil || size != len(body) || w.Body.String() != body[a:b+1] {
				t.Fatalf("Content-Range %q with %q", cr, w.Body.String())
			}
			if w.Header().Get("Content-Length") != strconv.Itoa(b-a+1) {
				t.Fatalf("Content-Length %s for %q", w.Header().Get("Content-Length"), cr)
			}
		}
	})
}
