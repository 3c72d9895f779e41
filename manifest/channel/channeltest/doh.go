package channeltest

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"samizdat/manifest/channel"
)

// DoH is a DNS-over-HTTPS resolver (RFC 8484, GET with ?dns= and POST)
// on loopback. It answers TXT queries for the names it was given and
// NXDOMAIN for the rest; it can be told to answer with an rcode, an HTTP
// error or garbage instead, as a failing or poisoning resolver would.
type DoH struct {
	server

	mu      sync.Mutex
	txt     map[string][][]string // guarded by mu; by lowercased FQDN
	rcode   map[string]int        // guarded by mu
	status  int                   // guarded by mu
	garbage []byte                // guarded by mu
}

// DoHPath is where the resolver listens, as usual.
const DoHPath = "/dns-query"

// NewDoH starts a resolver on loopback whose certificate names names
// (plus 127.0.0.1). Close it when done.
func NewDoH(names ...string) *DoH { return NewDoHOn(nil, names...) }

// NewDoHOn is NewDoH serving on ln (an in-memory listener, say); nil
// means a new loopback listener.
func NewDoHOn(ln net.Listener, names ...string) *DoH {
	d := &DoH{txt: map[string][][]string{}, rcode: map[string]int{}}
	d.start(ln, http.HandlerFunc(d.serve), names)
	return d
}

// URL returns the resolver's RFC 8484 URL.
func (d *DoH) URL() string { return d.srv.URL + DoHPath }

// SetBlob publishes blob as TXT records at name (see channel.SplitTXT).
func (d *DoH) SetBlob(name string, blob []byte) error {
	recs, err := channel.SplitTXT(blob)
	if err != nil {
		return err
	}
	d.SetTXT(name, recs)
	return nil
}

// SetTXT sets the TXT records at name, each a list of character-strings
// (nil removes the name: NXDOMAIN). Anything goes, to poison.
func (d *DoH) SetTXT(name string, records [][]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := strings.ToLower(dns.Fqdn(name))
	if records == nil {
		delete(d.txt, key)
	} else {
		d.txt[key] = records
	}
}

// SetRcode makes queries for name answer with rcode (e.g.
// dns.RcodeServerFailure, dns.RcodeRefused); 0 answers normally again.
func (d *DoH) SetRcode(name string, rcode int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := strings.ToLower(dns.Fqdn(name))
	if rcode == 0 {
		delete(d.rcode, key)
	} else {
		d.rcode[key] = rcode
	}
}

// FailHTTP makes every request answer with an HTTP status (0 serves
// normally again).
func (d *DoH) FailHTTP(status int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status = status
}

// Garbage makes every request answer 200 with body as the DNS message (nil
// serves normally again).
func (d *DoH) Garbage(body []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.garbage = body
}

func (d *DoH) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != DoHPath {
		http.NotFound(w, r)
		return
	}
	var query []byte
	var err error
	switch r.Method {
	case http.MethodGet:
		query, err = base64.RawURLEncoding.DecodeString(r.URL.Query().Get("dns"))
	case http.MethodPost:
		if r.Header.Get("Content-Type") != "application/dns-message" {
			http.Error(w, "unsupported media type", http.StatusUnsupportedMediaType)
			return
		}
		query, err = io.ReadAll(io.LimitReader(r.Body, 65535))
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var q dns.Msg
	if err != nil || len(query) == 0 || q.Unpack(query) != nil || len(q.Question) != 1 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	status, garbage := d.status, d.garbage
	key := strings.ToLower(q.Question[0].Name)
	recs, found := d.txt[key]
	rcode := d.rcode[key]
	d.mu.Unlock()
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if garbage != nil {
		w.Header().Set("Content-Type", "application/dns-message")
		w.Write(garbage)
		return
	}
	var resp dns.Msg
	resp.SetReply(&q)
	resp.RecursionAvailable = true
	switch {
	case rcode != 0:
		resp.Rcode = rcode
	case !found:
		resp.Rcode = dns.RcodeNameError
	case q.Question[0].Qtype == dns.TypeTXT:
		for _, strs := range recs {
			resp.Answer = append(resp.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
				Txt: strs,
			})
		}
	}
	out, err := resp.Pack()
	if err != nil {
		http.Error(w, "server failure", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/dns-message")
	w.Header().Set("Cache-Control", "max-age=300")
	w.Write(out)
}
