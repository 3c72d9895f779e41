package channel

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"samizdat/manifest"
	"samizdat/transport"
)

// DNS TXT encoding of a blob.
//
// The blob is base64 (standard alphabet, padded) and cut into chunks of at
// most TXTChunk characters; chunk i of n (1-based) is the TXT record whose
// character-strings, concatenated, read "i/n:" followed by the chunk, the
// strings being at most 255 bytes each (the DNS limit). The prefix orders
// the records, which DNS does not. A single record holding only base64,
// without a prefix, is also accepted (easier to publish by hand).
const (
	// TXTChunk is how many base64 characters one TXT record carries.
	TXTChunk = 4000
	// MaxTXTRecords bounds the records of one blob (and so its size:
	// about 48 KB, under the 64 KB DNS message limit).
	MaxTXTRecords = 16
	// maxDNSMessage bounds a DoH response.
	maxDNSMessage = 65535
	txtStringLen  = 255
)

// SplitTXT encodes blob as TXT records, each a list of character-strings
// (see the format above). It fails if blob needs more than MaxTXTRecords.
func SplitTXT(blob []byte) ([][]string, error) {
	enc := base64.StdEncoding.EncodeToString(blob)
	n := (len(enc) + TXTChunk - 1) / TXTChunk
	if n == 0 {
		n = 1
	}
	if n > MaxTXTRecords {
		return nil, fmt.Errorf("channel: blob of %d bytes needs %d TXT records (max %d)", len(blob), n, MaxTXTRecords)
	}
	recs := make([][]string, 0, n)
	for i := 0; i < n; i++ {
		chunk := enc[i*TXTChunk : min((i+1)*TXTChunk, len(enc))]
		text := strconv.Itoa(i+1) + "/" + strconv.Itoa(n) + ":" + chunk
		var strs []string
		for len(text) > txtStringLen {
			strs = append(strs, text[:txtStringLen])
			text = text[txtStringLen:]
		}
		strs = append(strs, text)
		recs = append(recs, strs)
	}
	return recs, nil
}

// JoinTXT reassembles a blob from TXT records in any order (see SplitTXT).
// Identical duplicates are tolerated; records that disagree, are missing
// or do not decode are ErrBadResponse. Records that carry no prefix and no
// base64 (other TXT records at the same name, such as site verification
// strings) are ignored.
func JoinTXT(records [][]string) ([]byte, error) {
	var (
		n      int
		chunks []string
		bare   []string
	)
	for _, strs := range records {
		text := strings.Join(strs, "")
		prefix, chunk, ok := strings.Cut(text, ":")
		if !ok {
			if _, ok := decodeBase64Text([]byte(text)); ok && text != "" {
				bare = append(bare, text)
			}
			continue
		}
		is, ns, ok := strings.Cut(prefix, "/")
		if !ok {
			continue // not ours
		}
		i, err1 := strconv.Atoi(is)
		cnt, err2 := strconv.Atoi(ns)
		if err1 != nil || err2 != nil {
			continue // not ours
		}
		if cnt < 1 || cnt > MaxTXTRecords || i < 1 || i > cnt {
			return nil, fmt.Errorf("%w: txt record prefix %.20q", ErrBadResponse, prefix)
		}
		if n == 0 {
			n = cnt
			chunks = make([]string, n)
		} else if cnt != n {
			return nil, fmt.Errorf("%w: txt records disagree on their count (%d and %d)", ErrBadResponse, n, cnt)
		}
		if chunks[i-1] != "" && chunks[i-1] != chunk {
			return nil, fmt.Errorf("%w: two different txt records %d/%d", ErrBadResponse, i, n)
		}
		if chunk == "" {
			return nil, fmt.Errorf("%w: empty txt record %d/%d", ErrBadResponse, i, n)
		}
		chunks[i-1] = chunk
	}
	var enc string
	switch {
	case n > 0:
		for i, c := range chunks {
			if c == "" {
				return nil, fmt.Errorf("%w: txt record %d/%d missing", ErrBadResponse, i+1, n)
			}
		}
		enc = strings.Join(chunks, "")
	case len(bare) == 1:
		enc = bare[0]
	case len(bare) > 1:
		return nil, fmt.Errorf("%w: %d unnumbered txt records", ErrBadResponse, len(bare))
	default:
		return nil, fmt.Errorf("%w: no manifest in txt records", ErrNotFound)
	}
	if len(enc) > base64.StdEncoding.EncodedLen(manifest.MaxBlobSize) {
		return nil, fmt.Errorf("%w: %d base64 characters in txt records", ErrBadResponse, len(enc))
	}
	blob, ok := decodeBase64Text([]byte(enc))
	if !ok || len(blob) == 0 {
		return nil, fmt.Errorf("%w: txt records are not base64", ErrBadResponse)
	}
	return blob, nil
}

// TXTQuery returns the DNS query message for the TXT records of name, as
// RFC 8484 asks: ID 0 (so that caches can share answers), recursion
// desired.
func TXTQuery(name string) ([]byte, error) {
	var q dns.Msg
	q.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	q.Id = 0
	q.RecursionDesired = true
	b, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("channel: dns query for %q: %w", name, err)
	}
	return b, nil
}

// ParseTXTResponse decodes a DNS response to a TXT query for name and
// returns the TXT records at name (or at the end of a CNAME chain from
// it), each as its list of character-strings. NXDOMAIN and an empty answer
// are ErrNotFound; anything else amiss is ErrBadResponse.
func ParseTXTResponse(msg []byte, name string) ([][]string, error) {
	if len(msg) > maxDNSMessage {
		return nil, fmt.Errorf("%w: dns message of %d bytes", ErrBadResponse, len(msg))
	}
	var r dns.Msg
	if err := r.Unpack(msg); err != nil {
		return nil, fmt.Errorf("%w: dns message: %v", ErrBadResponse, err)
	}
	if !r.Response {
		return nil, fmt.Errorf("%w: dns message is not a response", ErrBadResponse)
	}
	qname := dns.Fqdn(name)
	if len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, qname) || r.Question[0].Qtype != dns.TypeTXT {
		return nil, fmt.Errorf("%w: dns response to another question", ErrBadResponse)
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, fmt.Errorf("%w: nxdomain", ErrNotFound)
	default:
		return nil, fmt.Errorf("%w: dns rcode %s", ErrBadResponse, rcodeName(r.Rcode))
	}
	// Follow CNAMEs from qname, within the answer section.
	names := map[string]bool{strings.ToLower(qname): true}
	for range len(r.Answer) {
		grew := false
		for _, rr := range r.Answer {
			if c, ok := rr.(*dns.CNAME); ok && names[strings.ToLower(c.Hdr.Name)] && !names[strings.ToLower(c.Target)] {
				names[strings.ToLower(c.Target)] = true
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	var recs [][]string
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok && names[strings.ToLower(t.Hdr.Name)] {
			recs = append(recs, t.Txt)
		}
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: no txt records", ErrNotFound)
	}
	return recs, nil
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return strconv.Itoa(rc)
}

// DoH returns a source that looks up the TXT records of name through the
// DNS-over-HTTPS resolver at resolverURL (RFC 8484, GET with ?dns=) and
// reassembles the blob from them (see SplitTXT). pin, if not empty, pins
// the resolver's key; otherwise the system roots verify it.
func DoH(resolverURL, name string, pin []byte, netDial transport.NetDial) Source {
	return &dohSource{resolver: resolverURL, name: name, w: webFetch{netDial: netDial, pin: bytes.Clone(pin)}}
}

// DoHPost is DoH with RFC 8484's POST form (the query as an
// application/dns-message body), which some resolvers and filters treat
// differently.
func DoHPost(resolverURL, name string, pin []byte, netDial transport.NetDial) Source {
	return &dohSource{resolver: resolverURL, name: name, post: true, w: webFetch{netDial: netDial, pin: bytes.Clone(pin)}}
}

type dohSource struct {
	resolver, name string
	post           bool
	w              webFetch
}

func (s *dohSource) Name() string { return "doh:" + s.resolver + "#" + s.name }

const dnsMessageType = "application/dns-message"

func (s *dohSource) Fetch(ctx context.Context) ([]byte, error) {
	u, err := url.Parse(s.resolver)
	if err != nil || u.Scheme != "https" {
		return nil, fmt.Errorf("channel: %q is not an https url", s.resolver)
	}
	q, err := TXTQuery(s.name)
	if err != nil {
		return nil, err
	}
	var req *http.Request
	if s.post {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(q))
		if err == nil {
			req.Header.Set("Content-Type", dnsMessageType)
		}
	} else {
		v := u.Query()
		v.Set("dns", base64.RawURLEncoding.EncodeToString(q))
		u.RawQuery = v.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("channel: %w", err)
	}
	req.Header.Set("Accept", dnsMessageType)
	body, err := s.w.do(req, maxDNSMessage)
	if err != nil {
		return nil, err
	}
	recs, err := ParseTXTResponse(body, s.name)
	if err != nil {
		return nil, err
	}
	return JoinTXT(recs)
}
