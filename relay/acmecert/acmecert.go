// Package acmecert obtains and renews certificates from an ACME CA (Let's
// Encrypt, or any other) for the public names of a relay's wss endpoints,
// with certmagic: TLS-ALPN-01 answered by the endpoints themselves, HTTP-01
// by a listener of its own when given one.
//
// A CA-issued certificate lets clients verify the endpoint's chain like a
// browser would, and lets a probe see an ordinary certificate; but every
// name it is issued for is published in Certificate Transparency logs,
// which a censor reads. Use it for names meant to be public; names that
// must not be listed keep the relay's self-signed, pinned certificate.
//
// Certificates, keys and the ACME account live in the storage directory
// (mode 0700). The private key is reused across renewals, so that an
// operator may pin it. Nothing here logs a key.
package acmecert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Config configures a Manager.
type Config struct {
	// Email is the ACME account's contact. Required.
	Email string
	// CA is the ACME directory URL; Let's Encrypt's production one if
	// empty.
	CA string
	// CARoots are the roots that the ACME server's own HTTPS certificate
	// chains to; the system's if nil (a test CA such as Pebble needs its
	// own).
	CARoots *x509.CertPool
	// Storage is the directory certificates, keys and the account are
	// kept in. Required.
	Storage string
	// TLSALPNAddr is the HOST:PORT the wss endpoints listen on, where the
	// CA's TLS-ALPN-01 validation (to port 443 of the name) arrives; empty
	// disables TLS-ALPN-01.
	TLSALPNAddr string
	// HTTPAddr, if set, is where the Manager listens for the CA's HTTP-01
	// validation (port 80 of the name); empty disables HTTP-01.
	HTTPAddr string
	// RenewCheck is how often certificates are checked for renewal
	// (certmagic's default, 10 minutes, if zero). A certificate is renewed
	// once a third of its lifetime is left.
	RenewCheck time.Duration
	// Names are the names to keep certificates for, from Start on.
	Names []string
	// Logger gets what happens to certificates; slog.Default() if nil.
	Logger *slog.Logger
}

// Manager keeps certificates for a set of names. Close stops it.
type Manager struct {
	log   *slog.Logger
	cache *certmagic.Cache
	magic *certmagic.Config
	tls   *tls.Config
	http  *http.Server
	done  chan struct{} // closed when the HTTP-01 server has stopped

	mu    sync.Mutex
	names []string // guarded by mu: the names managed

	closeOnce sync.Once
}

// New returns a Manager that manages no name yet, listening on
// cfg.HTTPAddr if set.
func New(cfg Config) (*Manager, error) {
	if cfg.Email == "" || cfg.Storage == "" {
		return nil, errors.New("acmecert: an email address and a storage directory are needed")
	}
	if cfg.TLSALPNAddr == "" && cfg.HTTPAddr == "" {
		return nil, errors.New("acmecert: no challenge can be answered: give a wss endpoint on port 443 or an HTTP-01 address")
	}
	if err := os.MkdirAll(cfg.Storage, 0o700); err != nil {
		return nil, fmt.Errorf("acmecert: %w", err)
	}
	m := &Manager{log: cfg.Logger, done: make(chan struct{}), names: slices.Clone(cfg.Names)}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		RenewCheckInterval: cfg.RenewCheck,
		Logger:             zap.NewNop(),
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		Storage:          &certmagic.FileStorage{Path: cfg.Storage},
		ReusePrivateKeys: true,
		// Stapling would fetch OCSP responses from the CA's responder;
		// clients do not ask for them.
		OCSP:    certmagic.OCSPConfig{DisableStapling: true},
		Logger:  zap.NewNop(),
		OnEvent: m.event,
	})
	issuer := certmagic.ACMEIssuer{
		CA: cfg.CA, Email: cfg.Email, Agreed: true, TrustedRoots: cfg.CARoots, Logger: zap.NewNop(),
		DisableHTTPChallenge: cfg.HTTPAddr == "", DisableTLSALPNChallenge: cfg.TLSALPNAddr == "",
	}
	if issuer.CA == "" {
		issuer.CA = certmagic.LetsEncryptProductionCA
	}
	// certmagic answers a challenge with a listener of its own unless the
	// address is in use: point it at the wss endpoints and the HTTP-01
	// listener, which answer it.
	if cfg.TLSALPNAddr != "" {
		host, port, err := splitPort(cfg.TLSALPNAddr)
		if err != nil {
			return nil, err
		}
		issuer.ListenHost, issuer.AltTLSALPNPort = host, port
	}
	var ln net.Listener
	if cfg.HTTPAddr != "" {
		host, port, err := splitPort(cfg.HTTPAddr)
		if err != nil {
			return nil, err
		}
		if cfg.TLSALPNAddr == "" {
			issuer.ListenHost = host
		}
		issuer.AltHTTPPort = port
		if ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("acmecert: HTTP-01 listener: %w", err)
		}
	}
	acme := certmagic.NewACMEIssuer(m.magic, issuer)
	m.magic.Issuers = []certmagic.Issuer{acme}
	m.tls = m.magic.TLSConfig()
	if ln == nil {
		close(m.done)
		return m, nil
	}
	// Anything but a challenge gets a 404, like a server with no site.
	m.http = &http.Server{Handler: acme.HTTPChallengeHandler(http.NotFoundHandler()), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(m.done)
		m.http.Serve(ln)
	}()
	return m, nil
}

func splitPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("acmecert: %q is not HOST:PORT", addr)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("acmecert: %q is not HOST:PORT", addr)
	}
	return host, port, nil
}

// event logs what happens to certificates: names and outcomes, no keys.
func (m *Manager) event(_ context.Context, event string, data map[string]any) error {
	switch event {
	case "cert_obtained":
		m.log.Info("certificate obtained from the ACME CA", "name", data["identifier"], "renewal", data["renewal"])
	case "cert_failed":
		m.log.Warn("could not obtain a certificate from the ACME CA", "name", data["identifier"], "renewal", data["renewal"], "err", data["error"])
	}
	return nil
}

// Start obtains certificates for the names of the Config, in the
// background, and keeps them renewed. Call it once whatever answers
// TLS-ALPN-01 challenges listens.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	names := slices.Clone(m.names)
	m.mu.Unlock()
	if err := m.magic.ManageAsync(ctx, names); err != nil {
		return fmt.Errorf("acmecert: %w", err)
	}
	return nil
}

// Manage obtains certificates for names it does not manage yet, in the
// background, and keeps them renewed.
func (m *Manager) Manage(ctx context.Context, names []string) error {
	m.mu.Lock()
	var add []string
	for _, n := range names {
		if !slices.Contains(m.names, n) {
			m.names = append(m.names, n)
			add = append(add, n)
		}
	}
	m.mu.Unlock()
	if len(add) == 0 {
		return nil
	}
	if err := m.magic.ManageAsync(ctx, add); err != nil {
		return fmt.Errorf("acmecert: %w", err)
	}
	return nil
}

// Manages says whether name is one the Manager keeps a certificate for.
func (m *Manager) Manages(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Contains(m.names, name)
}

// TLSConfig returns the server config that presents the managed names'
// certificates and answers TLS-ALPN-01 challenges ("acme-tls/1").
func (m *Manager) TLSConfig() *tls.Config { return m.tls }

// Close stops renewing and the HTTP-01 listener; it is safe to call twice.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		if m.http != nil {
			m.http.Close()
		}
		<-m.done
		m.cache.Stop()
	})
	return nil
}
