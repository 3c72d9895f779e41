package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"samizdat/relay/acmecert"
	"samizdat/relay/endpoints"
)

// relayACMEAbout is the help of the relay's ACME flags.
const relayACMEAbout = `--acme-email gets the wss endpoints' public names (their sni) certificates from an ACME CA
(Let's Encrypt unless --acme-ca) and renews them: clients then verify the chain like a browser,
and no pin is announced unless the endpoint names one (tls_pin). The CA validates with
TLS-ALPN-01 on the wss endpoint (port 443 of the name must reach it) or, with --acme-http, with
HTTP-01 on port 80. Every name a CA certifies is published in Certificate Transparency logs,
which censors read: use it for names meant to be public; the default self-signed, pinned
certificate stays the choice for names that must not be listed.`

// acmeFlags are the relay's ACME flags.
type acmeFlags struct {
	email, ca, caRoot, http *string
	renewCheck              *time.Duration
}

func (a *acmeFlags) bind(fs *cmdFlags) {
	a.email = fs.String("acme-email", "", "get certificates for the wss endpoints' names from an ACME CA, with this contact `ADDRESS`")
	a.ca = fs.String("acme-ca", "", "the ACME CA's directory `URL` (default: Let's Encrypt)")
	a.caRoot = fs.String("acme-ca-root", "", "PEM `FILE` of the roots the ACME CA's own HTTPS certificate chains to (default: the system's)")
	a.http = fs.String("acme-http", "", "answer the CA's HTTP-01 challenges on `ADDR`, which port 80 of the names reaches (default: TLS-ALPN-01 only)")
	a.renewCheck = fs.Duration("acme-renew-check", 0, "how often certificates are checked for renewal (default 10m)")
}

// check checks the ACME flags without acting on them.
func (a *acmeFlags) check() error {
	if *a.email == "" && (*a.ca != "" || *a.caRoot != "" || *a.http != "") {
		return fmt.Errorf("--acme-ca, --acme-ca-root and --acme-http need --acme-email: %w", errUsage)
	}
	if *a.http != "" {
		if _, _, err := net.SplitHostPort(*a.http); err != nil {
			return fmt.Errorf("--acme-http %s is not HOST:PORT: %w", *a.http, errUsage)
		}
	}
	return nil
}

// manager returns the ACME manager for the wss endpoints of opts (those
// of the command line and of the config file), or nil without
// --acme-email.
func (a *acmeFlags) manager(opts endpoints.Options, dir string, log *slog.Logger) (*acmecert.Manager, error) {
	if err := a.check(); err != nil || *a.email == "" {
		return nil, err
	}
	specs := opts.Listen
	if opts.ConfigFile != "" {
		f, err := endpoints.ReadFile(opts.ConfigFile)
		if err != nil {
			return nil, err
		}
		specs = append(specs, f.Endpoints...)
	}
	var names []string
	alpn := ""
	for _, s := range specs {
		if s.Transport != endpoints.WSS || s.SNI == "" || net.ParseIP(s.SNI) != nil {
			continue
		}
		names = append(names, s.SNI)
		if _, port, _ := net.SplitHostPort(s.Listen); alpn == "" || port == "443" {
			alpn = s.Listen
		}
	}
	if len(names) == 0 {
		return nil, errors.New("--acme-email: no wss endpoint has a name (?sni=NAME) to get a certificate for")
	}
	cfg := acmecert.Config{Email: *a.email, CA: *a.ca, Storage: filepath.Join(dir, "acme"), TLSALPNAddr: alpn,
		HTTPAddr: *a.http, RenewCheck: *a.renewCheck, Names: names, Logger: log}
	if *a.caRoot != "" {
		b, err := os.ReadFile(*a.caRoot)
		if err != nil {
			return nil, fmt.Errorf("--acme-ca-root: %w", err)
		}
		cfg.CARoots = x509.NewCertPool()
		if !cfg.CARoots.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--acme-ca-root %s holds no PEM certificate", *a.caRoot)
		}
	}
	return acmecert.New(cfg)
}
