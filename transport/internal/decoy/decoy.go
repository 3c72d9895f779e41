// Package decoy is the small, ordinary-looking web site that the wss and
// front endpoints serve to anything that does not present a valid token:
// probes, scanners and browsers that wander in. It answers like a plain
// nginx serving static files: an index page, robots.txt, favicon 404s and
// nginx-style error pages, with the usual headers. Nothing in it names
// the software behind it.
//
// Limits: it does not reproduce nginx byte for byte (Go's HTTP server
// orders and capitalises headers its own way and answers some malformed
// requests differently), so an active prober comparing behaviour in
// depth can still tell it from a real nginx.
package decoy

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Site is the decoy handler; the zero value serves the built-in site.
type Site struct {
	// Title names the site on its index page; empty means a default.
	Title string
}

// Handler returns the built-in decoy site.
func Handler() http.Handler { return Site{} }

// modified is a fixed, plausible Last-Modified date.
var modified = time.Date(2024, 3, 11, 9, 42, 17, 0, time.UTC)

const index = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s</title>
<style>
body { font-family: Georgia, serif; max-width: 40em; margin: 3em auto; padding: 0 1em; color: #333; line-height: 1.5; }
h1 { font-weight: normal; }
footer { margin-top: 3em; font-size: 0.8em; color: #888; }
</style>
</head>
<body>
<h1>%s</h1>
<p>Notes on gardening, small repairs and slow cooking, written down so they are not forgotten.</p>
<h2>Recent</h2>
<ul>
<li>Pruning tomatoes in a cool summer</li>
<li>Fixing a dripping mixer tap</li>
<li>Bean stew for a crowd</li>
</ul>
<footer>Last updated March 2024.</footer>
</body>
</html>
`

const robots = "User-agent: *\nDisallow:\n"

func errorPage(code int) string {
	text := strconv.Itoa(code) + " " + http.StatusText(code)
	return "<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text +
		"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
}

func (s Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Server", "nginx")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	default:
		s.fail(w, r, http.StatusMethodNotAllowed)
		return
	}
	var body, ctype string
	switch r.URL.Path {
	case "/", "/index.html":
		title := s.Title
		if title == "" {
			title = "Kitchen and garden"
		}
		body, ctype = fmt.Sprintf(index, title, title), "text/html"
	case "/robots.txt":
		body, ctype = robots, "text/plain"
	default:
		s.fail(w, r, http.StatusNotFound)
		return
	}
	etag := fmt.Sprintf(`"%x-%x"`, modified.Unix(), len(body))
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		h.Set("ETag", etag)
		h.Set("Last-Modified", modified.Format(http.TimeFormat))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Last-Modified", modified.Format(http.TimeFormat))
	h.Set("ETag", etag)
	h.Set("Accept-Ranges", "bytes")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte(body))
	}
}

func (Site) fail(w http.ResponseWriter, r *http.Request, code int) {
	body := errorPage(code)
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write([]byte(body))
	}
}
