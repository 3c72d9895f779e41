package censor

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strings"
)

// Fingerprint recognises a protocol from the first bytes a client sends.
type Fingerprint struct {
	Name   string
	Match  func(first []byte) bool
	Action Action // what to do on a match (Allow: only note it, e.g. to probe)
	Probe  bool   // schedule an active probe of the endpoint after such a flow
}

// IsTLSClientHello reports whether b starts with a TLS handshake record
// carrying a ClientHello.
func IsTLSClientHello(b []byte) bool {
	return len(b) >= 6 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04 && b[5] == 0x01
}

var httpMethods = []string{"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ", "PATCH ", "TRACE "}

// IsHTTPRequest reports whether b starts like an HTTP/1.x request.
func IsHTTPRequest(b []byte) bool {
	for _, m := range httpMethods {
		if bytes.HasPrefix(b, []byte(m)) {
			return true
		}
	}
	return false
}

// HTTPHost returns the lowercase Host header of an HTTP/1.x request start,
// without a port, or "".
func HTTPHost(b []byte) string {
	if !IsHTTPRequest(b) {
		return ""
	}
	for _, line := range strings.Split(string(b), "\r\n")[1:] {
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "host") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(v))
		if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h, "]") {
			h = h[:i]
		}
		return strings.TrimSuffix(h, ".")
	}
	return ""
}

// LooksLikeNoiseIK recognises the first message of a length-prefixed Noise
// IK handshake such as samizdat's noisechan: a 2-byte big-endian length equal
// to the bytes that follow (or more, if the capture is cut short), at least
// 96 bytes (32 ephemeral + 48 encrypted static + 16 tag; samizdat's adds an
// 8-byte timestamp, 104) and at most 1024,
// and a body whose bits look random (average popcount per byte between 2.5
// and 5.5, far wider than the fully-encrypted exemptions, so a genuine
// handshake is never missed by chance). A DPI vendor writes this rule in an
// afternoon; the lab assumes the censor has it.
func LooksLikeNoiseIK(b []byte) bool {
	if len(b) < 2+64 {
		return false
	}
	n, body := int(binary.BigEndian.Uint16(b)), b[2:]
	if n < 96 || n > 1024 || len(body) > n || len(body) < min(n, 64) {
		return false
	}
	ones := 0
	for _, c := range body {
		ones += bits.OnesCount8(c)
	}
	avg := float64(ones) / float64(len(body))
	return avg >= 2.5 && avg <= 5.5
}

// FullyEncrypted configures the heuristic the Great Firewall of China has
// used since November 2021 against fully encrypted proxies (Wu et al.,
// "How the Great Firewall of China Detects and Blocks Fully Encrypted
// Traffic", USENIX Security 2023). A TCP flow's first data packet is exempt
// if its average popcount per byte is ≤ 3.4 or ≥ 4.6, if its first 6 bytes
// are printable ASCII, if more than half of it is printable, if it has a run
// of more than 20 printable bytes, or if it looks like TLS or HTTP. Other
// flows are blocked with probability BlockFraction (≈ 26% measured), and
// then every flow from the same client to the same address and port is
// dropped for Residual (180 s measured).
type FullyEncrypted struct {
	Enabled       bool
	BlockFraction float64
	Residual      Time
	Probe         bool // schedule active probes of flagged endpoints
}

// feExempt applies the exemptions of Wu et al. 2023 to a first packet.
func feExempt(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	ones := 0
	printable, run, maxRun := 0, 0, 0
	for _, c := range b {
		ones += bits.OnesCount8(c)
		if c >= 0x20 && c <= 0x7e {
			printable++
			run++
			maxRun = max(maxRun, run)
		} else {
			run = 0
		}
	}
	avg := float64(ones) / float64(len(b))
	switch {
	case avg <= 3.4 || avg >= 4.6: // Ex1
		return true
	case len(b) >= 6 && isPrintable(b[:6]): // Ex2
		return true
	case printable*2 > len(b): // Ex3
		return true
	case maxRun > 20: // Ex4
		return true
	case IsTLSClientHello(b) || IsHTTPRequest(b): // Ex5
		return true
	}
	return false
}

// FullyEncryptedSuspect reports whether the GFW-2023 heuristic would
// consider a first packet fully encrypted (not exempt).
func FullyEncryptedSuspect(first []byte) bool { return !feExempt(first) }

func isPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
