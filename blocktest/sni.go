package blocktest

import (
	"encoding/binary"
	"errors"
	"strings"
)

// errNotClientHello means the bytes are not (the start of) a TLS
// ClientHello; errShort means more bytes are needed.
var (
	errNotClientHello = errors.New("blocktest: not a tls client hello")
	errShort          = errors.New("blocktest: client hello incomplete")
)

// maxHello bounds how many bytes of handshake records ParseSNI looks at.
const maxHello = 64 << 10

// ParseSNI extracts the server name from the TLS ClientHello at the start
// of b, which may span several TLS records. It returns "" and no error
// for a ClientHello without a server_name extension, errShort (wrapped)
// when b stops before the ClientHello ends, and an error for anything
// that is not a ClientHello. It never panics.
func ParseSNI(b []byte) (string, error) {
	hs, err := handshakeBytes(b)
	if err != nil {
		return "", err
	}
	return parseClientHello(hs)
}

// handshakeBytes reassembles the first handshake message from the
// records at the start of b.
func handshakeBytes(b []byte) ([]byte, error) {
	var hs []byte
	for {
		if len(b) < 5 {
			return nil, errShort
		}
		if b[0] != 22 || b[1] != 3 { // handshake record, TLS 1.x
			return nil, errNotClientHello
		}
		n := int(binary.BigEndian.Uint16(b[3:5]))
		if n == 0 || n > 1<<14+2048 {
			return nil, errNotClientHello
		}
		if len(b) < 5+n {
			return nil, errShort
		}
		hs = append(hs, b[5:5+n]...)
		b = b[5+n:]
		if len(hs) >= 4 {
			if hs[0] != 1 { // client_hello
				return nil, errNotClientHello
			}
			msgLen := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
			if msgLen > maxHello {
				return nil, errNotClientHello
			}
			if len(hs) >= 4+msgLen {
				return hs[4 : 4+msgLen], nil
			}
		}
		if len(hs) > maxHello {
			return nil, errNotClientHello
		}
	}
}

// reader is a bounds-checked cursor.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad = true
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() int {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (r *reader) u16() int {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

func parseClientHello(body []byte) (string, error) {
	r := &reader{b: body}
	r.bytes(2)       // legacy_version
	r.bytes(32)      // random
	r.bytes(r.u8())  // legacy_session_id
	r.bytes(r.u16()) // cipher_suites
	r.bytes(r.u8())  // legacy_compression_methods
	if r.bad {
		return "", errNotClientHello
	}
	if len(r.b) == 0 {
		return "", nil // no extensions
	}
	exts := &reader{b: r.bytes(r.u16())}
	if r.bad {
		return "", errNotClientHello
	}
	for len(exts.b) > 0 {
		typ := exts.u16()
		data := exts.bytes(exts.u16())
		if exts.bad {
			return "", errNotClientHello
		}
		if typ != 0 { // server_name
			continue
		}
		d := &reader{b: data}
		list := &reader{b: d.bytes(d.u16())}
		if d.bad {
			return "", errNotClientHello
		}
		for len(list.b) > 0 {
			nameType := list.u8()
			name := list.bytes(list.u16())
			if list.bad {
				return "", errNotClientHello
			}
			if nameType == 0 { // host_name
				if len(name) == 0 || len(name) > 255 {
					return "", errNotClientHello
				}
				return strings.ToLower(string(name)), nil
			}
		}
		return "", nil
	}
	return "", nil
}

// matchSNI reports whether name is pattern or a subdomain of it, as a
// censor blocking a domain blocks its subdomains. Both are compared
// lowercase; a leading "*." in the pattern is ignored.
func matchSNI(pattern, name string) bool {
	pattern = strings.ToLower(strings.TrimPrefix(pattern, "*."))
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if pattern == "" || name == "" {
		return false
	}
	return name == pattern || strings.HasSuffix(name, "."+pattern)
}
