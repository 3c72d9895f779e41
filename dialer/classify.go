package dialer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"samizdat/noisechan"
)

// FailureClass says how an attempt failed, as far as the client can tell
// from its side of the wire. The classes are coarse on purpose: they are
// what a censor's action looks like from the client (an injected reset,
// a blackholed address, a refused TLS name), and they are remembered per
// network to order later attempts.
type FailureClass string

// Failure classes.
const (
	// ClassDNS: the name did not resolve (*net.DNSError).
	ClassDNS FailureClass = "dns"
	// ClassTimeout: nothing came back in time, while connecting or during
	// the handshake: packets are being dropped (a blackholed address, a
	// silently filtered port).
	ClassTimeout FailureClass = "tcp-timeout"
	// ClassReset: the connection was reset (ECONNRESET, EPIPE), as by an
	// injected RST.
	ClassReset FailureClass = "reset"
	// ClassRefused: the connection was refused (ECONNREFUSED): nothing
	// listens there, or a firewall answers for it.
	ClassRefused FailureClass = "refused"
	// ClassTLS: the TLS handshake failed (an alert, a bad record, a
	// certificate that does not verify or does not match the pin).
	ClassTLS FailureClass = "tls"
	// ClassHTTP: an HTTP-level failure (unexpected status, bad upgrade),
	// reported by the wss and front transports.
	ClassHTTP FailureClass = "http"
	// ClassHandshake: the transport worked but the Noise handshake did
	// not: the peer closed, spoke garbage or holds another key.
	ClassHandshake FailureClass = "handshake"
	// ClassProbeLike: the endpoint answered like an ordinary web site (a
	// decoy) instead of a relay: a wrong secret, or something in the path
	// that rewrites traffic.
	ClassProbeLike FailureClass = "probe-like"
	// ClassCanceled: the attempt was cancelled, because another won the
	// race or the caller gave up. Not held against the candidate.
	ClassCanceled FailureClass = "canceled"
	// ClassDropped: an established connection died (the keepalive or the
	// peer ended it). Used by Run for the candidate it was on.
	ClassDropped FailureClass = "dropped"
	// ClassUnsupported: no dial function for the endpoint's transport.
	ClassUnsupported FailureClass = "unsupported"
	// ClassOther: anything else.
	ClassOther FailureClass = "other"
)

// Classed is implemented by errors that know their class, so that a
// transport can classify its own failures (an HTTP status, a decoy page).
type Classed interface {
	error
	FailureClass() FailureClass
}

// ClassError wraps an error with an explicit class; transports and tests
// may return one.
type ClassError struct {
	Class FailureClass
	Err   error
}

func (e *ClassError) Error() string              { return string(e.Class) + ": " + e.Err.Error() }
func (e *ClassError) Unwrap() error              { return e.Err }
func (e *ClassError) FailureClass() FailureClass { return e.Class }

// Classify maps err from a dial or handshake attempt to its class. It
// looks at the error's chain, most specific first.
func Classify(err error) FailureClass {
	if err == nil {
		return ""
	}
	var ce Classed
	if errors.As(err, &ce) {
		return ce.FailureClass()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, errLostRace) {
		return ClassCanceled
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsTimeout {
			return ClassTimeout
		}
		return ClassDNS
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED):
		return ClassReset
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, syscall.ETIMEDOUT):
		return ClassTimeout
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return ClassRefused
	}
	if isTLS(err) {
		return ClassTLS
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ClassTimeout
	}
	if errors.Is(err, noisechan.ErrHandshake) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ClassHandshake
	}
	// Many crypto/tls failures (and TLS pin checks) are plain errors whose
	// text starts with "tls: "; nothing else to go on.
	if strings.Contains(err.Error(), "tls: ") {
		return ClassTLS
	}
	return ClassOther
}

func isTLS(err error) bool {
	var (
		alert     tls.AlertError
		recHdr    tls.RecordHeaderError
		verify    *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		echReject *tls.ECHRejectionError
	)
	return errors.As(err, &alert) || errors.As(err, &recHdr) || errors.As(err, &verify) ||
		errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &echReject)
}
