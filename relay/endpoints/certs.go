package endpoints

import (
	"crypto/tls"
	"slices"
)

// Certificates is a source of CA-issued certificates for some names (an
// ACME manager: relay/acmecert). A wss endpoint whose SNI it manages
// presents its certificate, and is announced without a pin unless its spec
// names one: clients verify the chain.
type Certificates interface {
	// Manages says whether the source has, or is obtaining, a certificate
	// for name.
	Manages(name string) bool
	// TLSConfig is a server config that presents the managed names'
	// certificates and answers ACME TLS-ALPN-01 challenges (ALPN
	// "acme-tls/1").
	TLSConfig() *tls.Config
}

// acmeALPN is the ALPN protocol of ACME's TLS-ALPN-01 challenge (RFC 8737).
const acmeALPN = "acme-tls/1"

// withCertificates returns a server config that presents src's
// certificate for the names it manages and self's for any other name (a
// probe by address, say), and hands challenge handshakes to src.
func withCertificates(self *tls.Config, src Certificates) *tls.Config {
	ca := src.TLSConfig()
	return &tls.Config{
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if hello.ServerName != "" && src.Manages(hello.ServerName) {
				return ca.GetCertificate(hello)
			}
			return self.GetCertificate(hello)
		},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if slices.Contains(hello.SupportedProtos, acmeALPN) {
				return ca, nil
			}
			return nil, nil
		},
	}
}
