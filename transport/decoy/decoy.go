// Package decoy is the web site that wss and front endpoints show to
// anything that does not present a valid token: probes, scanners and
// browsers that wander in. Three kinds:
//
//   - Static serves the operator's own files (a directory) as a plain
//     static web server would: each file with its real size and
//     modification time, a content type by extension, ETag and
//     Last-Modified, conditional and range requests, index.html for a
//     directory, a redirect for a directory named without its slash, 403
//     for a directory without an index, 404 otherwise, and the operator's
//     own 404.html (and the like) when the directory has them.
//   - Proxy forwards every such request to a real web site and returns its
//     answer, as Trojan and NaïveProxy fall back.
//   - Generate makes a small site of its own (a blog of a drawn name and
//     subject, its pages, dates and sizes), to be written to disk once and
//     served by Static.
//
// A Profile is how the server looks beyond its files: the server software
// it resembles (nginx, Apache, Caddy, lighttpd, OpenResty) and with it the
// Server header, error pages, ETag format and content types, extra
// headers, and the shape of the TLS certificate (selfsigned.Shape). Draw
// makes one from a random seed, so that no two deployments share a
// constant: header values, bodies, sizes, dates, error pages and
// certificate fields all come from the seed.
//
// Limits: the operator's own site (Static on real content, or Proxy to a
// real site) is the stronger choice. A generated site's text comes from
// one generator, which a prober who studies it can learn to recognise;
// the HTTP server is Go's, which orders and capitalises headers its own
// way, sends no "Connection: keep-alive" and answers some malformed
// requests differently from the server it resembles; and the TLS server
// is Go's, with Go's cipher suites and extensions. An active prober
// comparing behaviour in depth can still tell it from the real thing.
package decoy

import (
	"fmt"
	"hash/fnv"
	"html"
	"io"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"samizdat/transport/selfsigned"
)

// Styles: the server software a profile resembles.
const (
	Nginx     = "nginx"
	OpenResty = "openresty"
	Apache    = "apache"
	Caddy     = "caddy"
	Lighttpd  = "lighttpd"
)

// Header is one extra response header.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Profile is how a decoy server looks beyond its files. It is plain data,
// kept as JSON by whoever drew it, so that a deployment looks the same
// after a restart.
type Profile struct {
	// Style is the server software resembled (Nginx, Apache, ...): error
	// pages, ETags, redirects and content types follow it.
	Style string `json:"style"`
	// Server is the Server header; empty sends none.
	Server string `json:"server,omitempty"`
	// Charset, if set, is added to text/html and text/plain content
	// types ("utf-8" makes "text/html; charset=utf-8").
	Charset string `json:"charset,omitempty"`
	// Headers are added to every answer that is not an error, in order.
	Headers []Header `json:"headers,omitempty"`
	// Signature names the server and host on error pages (Apache's
	// ServerSignature).
	Signature bool `json:"signature,omitempty"`
	// Cert is the shape of the TLS certificates.
	Cert selfsigned.Shape `json:"cert"`
}

// Draw makes a profile from a seed read from r (nil: crypto/rand), drawn
// around now (the certificates' dates).
func Draw(r io.Reader, now time.Time) Profile {
	d := newDice(r)
	p := Profile{Style: pick(d, []string{Nginx, Nginx, Nginx, Apache, Apache, Caddy, Lighttpd, OpenResty})}
	p.Server = pick(d, servers[p.Style])
	switch p.Style {
	case Caddy:
		p.Charset = "utf-8"
	case Apache:
		p.Charset = pick(d, []string{"", "", "UTF-8", "utf-8"})
		p.Signature = p.Server != "Apache" && d.chance(0.6)
	default:
		p.Charset = pick(d, []string{"", "", "", "utf-8"})
	}
	for _, h := range some(d, extraHeaders, 0, 4) {
		p.Headers = append(p.Headers, Header{h.name, pick(d, h.values)})
	}
	p.Cert = drawShape(d, now)
	return p
}

// servers are Server header values by style.
var servers = map[string][]string{
	Nginx: {"nginx", "nginx", "nginx", "nginx/1.14.2", "nginx/1.18.0", "nginx/1.18.0 (Ubuntu)", "nginx/1.20.1",
		"nginx/1.22.1", "nginx/1.24.0", "nginx/1.24.0 (Ubuntu)", "nginx/1.25.5", "nginx/1.26.2", "nginx/1.26.3", "nginx/1.27.4", "nginx/1.28.0"},
	OpenResty: {"openresty", "openresty/1.21.4.1", "openresty/1.21.4.3", "openresty/1.25.3.1", "openresty/1.27.1.1"},
	Apache: {"Apache", "Apache", "Apache/2.4.6 (CentOS)", "Apache/2.4.41 (Ubuntu)", "Apache/2.4.52 (Ubuntu)",
		"Apache/2.4.58 (Ubuntu)", "Apache/2.4.57 (Debian)", "Apache/2.4.62 (Debian)", "Apache/2.4.62 (Rocky Linux)", "Apache/2.4.63 (Unix)"},
	Caddy:    {"Caddy"},
	Lighttpd: {"lighttpd", "lighttpd/1.4.59", "lighttpd/1.4.64", "lighttpd/1.4.69", "lighttpd/1.4.76"},
}

// extraHeaders are headers sites commonly add, with the values they use.
var extraHeaders = []struct {
	name   string
	values []string
}{
	{"X-Frame-Options", []string{"SAMEORIGIN", "DENY", "sameorigin"}},
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"Strict-Transport-Security", []string{"max-age=31536000", "max-age=63072000", "max-age=15768000",
		"max-age=31536000; includeSubDomains", "max-age=63072000; includeSubDomains; preload", "max-age=2592000"}},
	{"Referrer-Policy", []string{"no-referrer", "same-origin", "strict-origin-when-cross-origin", "no-referrer-when-downgrade"}},
	{"Cache-Control", []string{"max-age=3600", "max-age=86400", "public, max-age=600", "max-age=604800", "no-cache"}},
	{"Vary", []string{"Accept-Encoding"}},
	{"X-XSS-Protection", []string{"1; mode=block", "0"}},
	{"Permissions-Policy", []string{"interest-cohort=()", "geolocation=(), microphone=(), camera=()"}},
}

// setServer sets the Server header, if any.
func (p *Profile) setServer(h http.Header) {
	if p.Server != "" {
		h.Set("Server", p.Server)
	}
}

// setExtra sets the extra headers.
func (p *Profile) setExtra(h http.Header) {
	for _, x := range p.Headers {
		h.Set(x.Name, x.Value)
	}
}

// etag is the ETag the style gives a file of size bytes modified at mod;
// empty for none.
func (p *Profile) etag(size int64, mod time.Time) string {
	switch p.Style {
	case Apache:
		return fmt.Sprintf(`"%x-%x"`, size, mod.UnixMicro())
	case Caddy:
		return `"` + strconv.FormatInt(mod.UnixNano(), 36) + strconv.FormatInt(size, 36) + `"`
	case Lighttpd:
		h := fnv.New32a()
		fmt.Fprintf(h, "%d-%d", size, mod.Unix())
		return `"` + strconv.FormatUint(uint64(h.Sum32()), 10) + `"`
	default:
		return fmt.Sprintf(`"%x-%x"`, mod.Unix(), size)
	}
}

// redirectStatus is how the style sends a browser from a directory named
// without its slash to the directory.
func (p *Profile) redirectStatus() int {
	if p.Style == Caddy {
		return http.StatusPermanentRedirect
	}
	return http.StatusMovedPermanently
}

// exactIMS says If-Modified-Since must equal the file's time (nginx's
// default), not merely be no earlier.
func (p *Profile) exactIMS() bool { return p.Style == Nginx || p.Style == OpenResty }

// contentType is the style's content type for a file name.
func (p *Profile) contentType(name string) string {
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
	charset := func(t string) string {
		if p.Charset != "" {
			return t + "; charset=" + p.Charset
		}
		return t
	}
	switch ext {
	case "html", "htm":
		return charset("text/html")
	case "txt":
		return charset("text/plain")
	case "css":
		if p.Style == Caddy {
			return "text/css; charset=utf-8"
		}
		return "text/css"
	case "js", "mjs":
		if p.Style == Nginx || p.Style == OpenResty {
			return "application/javascript"
		}
		return "text/javascript"
	case "xml":
		if p.Style == Nginx || p.Style == OpenResty || p.Style == Lighttpd {
			return "text/xml"
		}
		return "application/xml"
	case "ico":
		if p.Style == Nginx || p.Style == OpenResty {
			return "image/x-icon"
		}
		return "image/vnd.microsoft.icon"
	}
	if t, ok := plainTypes[ext]; ok {
		return t
	}
	return "application/octet-stream"
}

// plainTypes are content types every style gives alike.
var plainTypes = map[string]string{
	"json": "application/json", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
	"gif": "image/gif", "svg": "image/svg+xml", "webp": "image/webp", "woff": "font/woff",
	"woff2": "font/woff2", "pdf": "application/pdf", "zip": "application/zip", "mp4": "video/mp4",
	"mp3": "audio/mpeg", "rss": "application/rss+xml", "atom": "application/atom+xml",
}

// statusText is the reason phrase the style's error pages use.
func (p *Profile) statusText(code int) string {
	if code == http.StatusMethodNotAllowed && (p.Style == Nginx || p.Style == OpenResty) {
		return "Not Allowed"
	}
	if code == http.StatusRequestedRangeNotSatisfiable {
		return "Requested Range Not Satisfiable"
	}
	return http.StatusText(code)
}

// errorPage returns the body and content type of the style's page for
// code, answering r.
func (p *Profile) errorPage(code int, r *http.Request) (body, ctype string) {
	title := strconv.Itoa(code) + " " + p.statusText(code)
	switch p.Style {
	case Caddy:
		return "", ""
	case Apache:
		var b strings.Builder
		b.WriteString("<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>" + title +
			"</title>\n</head><body>\n<h1>" + p.statusText(code) + "</h1>\n")
		b.WriteString(apacheMessage(code, r))
		if p.Signature {
			b.WriteString("<hr>\n<address>" + html.EscapeString(p.Server) + " Server at " +
				html.EscapeString(hostOnly(r.Host)) + " Port " + localPort(r) + "</address>\n")
		}
		b.WriteString("</body></html>\n")
		return b.String(), "text/html; charset=iso-8859-1"
	case Lighttpd:
		return "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n" +
			"<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n" +
			"         \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n" +
			"<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n" +
			" <head>\n  <title>" + title + "</title>\n </head>\n <body>\n  <h1>" + title + "</h1>\n </body>\n</html>\n", "text/html"
	default: // nginx, openresty
		return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
			"</h1></center>\r\n<hr><center>" + p.Server + "</center>\r\n</body>\r\n</html>\r\n", "text/html"
	}
}

// apacheMessage is the paragraph of Apache's page for code.
func apacheMessage(code int, r *http.Request) string {
	switch code {
	case http.StatusNotFound:
		return "<p>The requested URL was not found on this server.</p>\n"
	case http.StatusForbidden:
		return "<p>You don't have permission to access this resource.</p>\n"
	case http.StatusMethodNotAllowed:
		return "<p>The requested method " + html.EscapeString(r.Method) + " is not allowed for this URL.</p>\n"
	case http.StatusMovedPermanently:
		return "<p>The document has moved <a href=\"" + html.EscapeString(r.URL.Path) + "/\">here</a>.</p>\n"
	case http.StatusRequestedRangeNotSatisfiable:
		return "<p>None of the range-specifier values in the Range\nrequest-header field overlap the current extent\nof the selected resource.</p>\n"
	case http.StatusBadGateway:
		return "<p>The proxy server received an invalid\r\nresponse from an upstream server.<br />\r\n</p>\n"
	}
	return "<p>The server could not handle the request.</p>\n"
}

// hostOnly is the Host header without its port.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// localPort is the port the request came in on, 443 when unknown.
func localPort(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(a.String()); err == nil {
			return port
		}
	}
	return "443"
}

// fail answers r with the style's page for code.
func (p *Profile) fail(w http.ResponseWriter, r *http.Request, code int) {
	body, ctype := p.errorPage(code, r)
	h := w.Header()
	p.setServer(h)
	if ctype != "" {
		h.Set("Content-Type", ctype)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}
