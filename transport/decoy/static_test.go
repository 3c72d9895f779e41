package decoy

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serve sends one request to h and returns the response and body.
func serve(h http.Handler, method, target string, hdr ...string) (*http.Response, string) {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	resp := w.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// writeTree writes files (path: body) under a new directory, each dated
// mod, and returns the directory.
func writeTree(t *testing.T, mod time.Time, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, body := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(full, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// withTree adds to files a home page, a directory with an index, one
// without, and a hidden directory.
func withTree(files map[string]string) map[string]string {
	files["index.html"] = "<html>home</html>\n"
	files["notes/index.html"] = "<html>notes</html>\n"
	files["empty/readme.txt"] = "no index here\n"
	files[".git/config"] = "[core]\n"
	return files
}

func rootFS(t *testing.T, dir string) http.Handler {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return Static(root.FS(), Profile{Style: Nginx, Server: "nginx/1.26.2", Headers: []Header{{"X-Frame-Options", "DENY"}}})
}

// TestStaticServesRealMetadata: sizes, dates, types and ETags come from
// the files themselves.
func TestStaticServesRealMetadata(t *testing.T) {
	mod := time.Date(2022, 10, 3, 14, 5, 9, 0, time.UTC)
	dir := writeTree(t, mod, withTree(map[string]string{
		"css/site.css": "body{}\n",
		"img/a.png":    "\x89PNG....",
		"data.bin":     strings.Repeat("x", 3000),
	}))
	// a file with a time of its own
	later := mod.Add(400 * 24 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "data.bin"), later, later); err != nil {
		t.Fatal(err)
	}
	h := rootFS(t, dir)
	for _, tc := range []struct {
		path, ctype string
		size        int
		mod         time.Time
	}{
		{"/", "text/html", 18, mod},
		{"/index.html", "text/html", 18, mod},
		{"/notes/", "text/html", 19, mod},
		{"/css/site.css", "text/css", 7, mod},
		{"/img/a.png", "image/png", 8, mod},
		{"/empty/readme.txt", "text/plain", 14, mod},
		{"/data.bin", "application/octet-stream", 3000, later},
	} {
		resp, body := serve(h, "GET", "http://example.org"+tc.path)
		if resp.StatusCode != 200 || len(body) != tc.size {
			t.Errorf("%s: %d, %d bytes; want 200, %d", tc.path, resp.StatusCode, len(body), tc.size)
			continue
		}
		want := map[string]string{
			"Content-Type":    tc.ctype,
			"Content-Length":  strconv.Itoa(tc.size),
			"Last-Modified":   tc.mod.Format(http.TimeFormat),
			"ETag":            `"` + strconv.FormatInt(tc.mod.Unix(), 16) + "-" + strconv.FormatInt(int64(tc.size), 16) + `"`,
			"Server":          "nginx/1.26.2",
			"Accept-Ranges":   "bytes",
			"X-Frame-Options": "DENY",
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", tc.path, k, got, v)
			}
		}
	}
}

// TestStaticLikeAStaticServer: directories, missing files, hidden files,
// methods, conditional and range requests.
func TestStaticLikeAStaticServer(t *testing.T) {
	mod := time.Date(2021, 4, 1, 9, 0, 0, 0, time.UTC)
	dir := writeTree(t, mod, withTree(map[string]string{"data.txt": "0123456789", ".env": "SECRET=1\n"}))
	h := rootFS(t, dir)
	etag := `"` + strconv.FormatInt(mod.Unix(), 16) + `-a"`
	for _, tc := range []struct {
		name, method, path string
		hdr                []string
		status             int
		body               string // "" means the style's error page
		check              map[string]string
	}{
		{"directory without its slash", "GET", "/notes?x=1", nil, 301, "", map[string]string{"Location": "http://example.org/notes/?x=1"}},
		{"directory without an index", "GET", "/empty/", nil, 403, "", nil},
		{"missing", "GET", "/wp-login.php", nil, 404, "", nil},
		{"file with a slash", "GET", "/data.txt/", nil, 404, "", nil},
		{"hidden file", "GET", "/.env", nil, 404, "", nil},
		{"hidden directory", "GET", "/.git/config", nil, 404, "", nil},
		{"dot segments", "GET", "/notes/../.env", nil, 404, "", nil},
		{"POST to a file", "POST", "/data.txt", nil, 405, "", nil},
		{"POST to nothing", "POST", "/api/login", nil, 404, "", nil},
		{"PUT", "PUT", "/data.txt", nil, 405, "", nil},
		{"If-None-Match", "GET", "/data.txt", []string{"If-None-Match", etag}, 304, "-", map[string]string{"ETag": etag}},
		{"If-None-Match, another", "GET", "/data.txt", []string{"If-None-Match", `"1-2"`}, 200, "0123456789", nil},
		{"If-Modified-Since, exact", "GET", "/data.txt", []string{"If-Modified-Since", mod.Format(http.TimeFormat)}, 304, "-", nil},
		{"If-Modified-Since, later (nginx wants it exact)", "GET", "/data.txt", []string{"If-Modified-Since", mod.Add(time.Hour).Format(http.TimeFormat)}, 200, "0123456789", nil},
		{"range", "GET", "/data.txt", []string{"Range", "bytes=2-4"}, 206, "234", map[string]string{"Content-Range": "bytes 2-4/10", "Content-Length": "3"}},
		{"suffix range", "GET", "/data.txt", []string{"Range", "bytes=-3"}, 206, "789", map[string]string{"Content-Range": "bytes 7-9/10"}},
		{"open range", "GET", "/data.txt", []string{"Range", "bytes=8-"}, 206, "89", nil},
		{"range past the end", "GET", "/data.txt", []string{"Range", "bytes=20-30"}, 416, "", map[string]string{"Content-Range": "bytes */10"}},
		{"stale If-Range", "GET", "/data.txt", []string{"Range", "bytes=2-4", "If-Range", `"old"`}, 200, "0123456789", nil},
		{"HEAD", "HEAD", "/data.txt", nil, 200, "-", map[string]string{"Content-Length": "10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := serve(h, tc.method, "http://example.org"+tc.path, tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			switch tc.body {
			case "":
				title := strconv.Itoa(tc.status) + " "
				if !strings.Contains(body, "<title>"+title) || !strings.Contains(body, "<center>nginx/1.26.2</center>") {
					t.Errorf("not the error page: %q", body)
				}
			case "-":
				if body != "" {
					t.Errorf("body %q, want none", body)
				}
			default:
				if body != tc.body {
					t.Errorf("body %q, want %q", body, tc.body)
				}
			}
			if resp.Header.Get("Server") != "nginx/1.26.2" {
				t.Errorf("Server %q", resp.Header.Get("Server"))
			}
			for k, v := range tc.check {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestStaticUsesTheSitesErrorPage: a 404.html at the top is the 404 page.
func TestStaticUsesTheSitesErrorPage(t *testing.T) {
	h := rootFS(t, writeTree(t, time.Now(), map[string]string{"index.html": "home", "404.html": "<p>lost?</p>"}))
	resp, body := serve(h, "GET", "http://example.org/nope")
	if resp.StatusCode != 404 || body != "<p>lost?</p>" || resp.Header.Get("Content-Type") != "text/html" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = serve(h, "POST", "http://example.org/index.html")
	if resp.StatusCode != 405 || !strings.Contains(body, "405 Not Allowed") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

// TestStyles: each style answers with its own error pages, ETags,
// redirects and content types.
func TestStyles(t *testing.T) {
	mod := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	files := FS([]File{{Path: "index.html", Body: []byte("home"), ModTime: mod}, {Path: "a/b.js", Body: []byte("x"), ModTime: mod}})
	for _, tc := range []struct {
		p                   Profile
		etag, js, redirect  string
		notFound, pageCType string
	}{
		{Profile{Style: Nginx, Server: "nginx"}, `"65937d25-4"`, "application/javascript", "301", "<center>nginx</center>", "text/html"},
		{Profile{Style: OpenResty, Server: "openresty"}, `"65937d25-4"`, "application/javascript", "301", "<center>openresty</center>", "text/html"},
		{Profile{Style: Apache, Server: "Apache/2.4.62 (Debian)", Signature: true}, `"4-60dedc04dd340"`, "text/javascript", "301",
			"<address>Apache/2.4.62 (Debian) Server at example.org Port 443</address>", "text/html; charset=iso-8859-1"},
		{Profile{Style: Caddy, Server: "Caddy", Charset: "utf-8"}, `"cy3vy63hrojk4"`, "text/javascript", "308", "", ""},
		{Profile{Style: Lighttpd, Server: "lighttpd/1.4.76"}, "", "text/javascript", "301", "<h1>404 Not Found</h1>", "text/html"},
	} {
		t.Run(tc.p.Style, func(t *testing.T) {
			h := Static(files, tc.p)
			resp, _ := serve(h, "GET", "http://example.org/")
			if tc.etag != "" && resp.Header.Get("ETag") != tc.etag {
				t.Errorf("ETag %q, want %q", resp.Header.Get("ETag"), tc.etag)
			}
			if resp.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
			if resp, _ := serve(h, "GET", "http://example.org/a/b.js"); resp.Header.Get("Content-Type") != tc.js {
				t.Errorf("js: %q", resp.Header.Get("Content-Type"))
			}
			if resp, _ := serve(h, "GET", "http://example.org/a"); strconv.Itoa(resp.StatusCode) != tc.redirect {
				t.Errorf("redirect %d", resp.StatusCode)
			}
			resp, body := serve(h, "GET", "http://example.org/missing")
			if resp.StatusCode != 404 || !strings.Contains(body, tc.notFound) || resp.Header.Get("Content-Type") != tc.pageCType {
				t.Errorf("404: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if tc.notFound == "" && body != "" {
				t.Errorf("404 body %q, want none", body)
			}
		})
	}
}

// TestStaticClosesWhatItOpens: whatever the request, every file Static
// opens (a directory, its index, an error page) is closed by the time it
// has answered.
func TestStaticClosesWhatItOpens(t *testing.T) {
	mod := time.Date(2021, 4, 1, 9, 0, 0, 0, time.UTC)
	fsys := &countingFS{FS: FS([]File{
		{Path: "index.html", Body: []byte("home"), ModTime: mod},
		{Path: "data.txt", Body: []byte("0123456789"), ModTime: mod},
		{Path: "notes/index.html", Body: []byte("notes"), ModTime: mod},
		{Path: "odd/index.html/page.html", Body: []byte("an index that is a directory"), ModTime: mod},
		{Path: "404.html", Body: []byte("not here"), ModTime: mod},
	})}
	h := Static(fsys, Profile{Style: Nginx, Server: "nginx"})
	for _, p := range []string{"/", "/data.txt", "/data.txt/", "/notes", "/notes/", "/odd/", "/odd", "/missing"} {
		for _, method := range []string{"GET", "HEAD", "POST"} {
			serve(h, method, "http://example.org"+p)
			if fsys.open != 0 {
				t.Fatalf("%s %s: %d files left open", method, p, fsys.open)
			}
		}
	}
}

// countingFS counts the files opened and not yet closed.
type countingFS struct {
	fs.FS
	open int
}

func (c *countingFS) Open(name string) (fs.File, error) {
	f, err := c.FS.Open(name)
	if err != nil {
		return nil, err
	}
	c.open++
	return countedFile{f, c}, nil
}

type countedFile struct {
	fs.File
	c *countingFS
}

func (f countedFile) Close() error {
	f.c.open--
	return f.File.Close()
}
