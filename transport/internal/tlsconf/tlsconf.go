// Package tlsconf builds the TLS client configuration shared by the
// tunnelling transports: TLS 1.3, the caller's server name in SNI, and
// either a pinned SubjectPublicKeyInfo hash or the system roots.
//
// The ClientHello is Go's crypto/tls one, which looks like any Go HTTPS
// client but not like a browser: a censor fingerprinting ClientHellos
// (JA3/JA4) can tell Go programs from browsers. Mimicking a browser needs a
// uTLS-style library, which this module does not use.
package tlsconf

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// ErrPinMismatch means the server's key does not match the pin.
var ErrPinMismatch = errors.New("tls: server key does not match the pin")

// Client returns a client config for serverName. With a pin (the SHA-256
// of the server certificate's SubjectPublicKeyInfo) only a leaf with that
// key is accepted, whatever its issuer and names; without one the chain is
// verified against the system roots for serverName. alpn lists the
// protocols offered.
func Client(serverName string, pin []byte, alpn []string) *tls.Config {
	cfg := &tls.Config{
		ServerName: serverName,
		MinVersion: tls.VersionTLS13,
		NextProtos: alpn,
	}
	if len(pin) > 0 {
		want := append([]byte(nil), pin...)
		cfg.InsecureSkipVerify = true // replaced by the pin check below
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrPinMismatch
			}
			if subtle.ConstantTimeCompare(SPKIHash(cs.PeerCertificates[0]), want) != 1 {
				return ErrPinMismatch
			}
			return nil
		}
	}
	return cfg
}

// SPKIHash returns the SHA-256 of cert's SubjectPublicKeyInfo, the value
// pinned by endpoints' TLSPin.
func SPKIHash(cert *x509.Certificate) []byte {
	h := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return h[:]
}
