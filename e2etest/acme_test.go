//go:build linux

package e2etest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"samizdat/manifest"
)

// pebbleLifetime is how long the certificates of the test's Pebble are
// valid: short, so that the relay renews one while the test watches.
const pebbleLifetime = 45 * time.Second

// pebble is a Pebble ACME server (letsencrypt/pebble, a go tool of this
// module) on loopback.
type pebble struct {
	dir     string // its ACME directory URL
	caRoot  string // PEM file of the roots of its own HTTPS certificate
	issued  *x509.CertPool
	mgmt    string
	httpsCA *x509.CertPool
}

// startPebble builds and starts Pebble, validating TLS-ALPN-01 on tlsPort
// and HTTP-01 on httpPort of the names it is asked for (resolved by the
// system: "localhost" is loopback).
func startPebble(t *testing.T, tlsPort, httpPort string) *pebble {
	t.Helper()
	bin := filepath.Join(binDir, "pebble")
	if _, err := os.Stat(bin); err != nil {
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/letsencrypt/pebble/v2/cmd/pebble").CombinedOutput(); err != nil {
			t.Fatalf("building pebble: %v\n%s", err, out)
		}
	}
	modDir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/letsencrypt/pebble/v2").Output()
	if err != nil {
		t.Fatalf("finding pebble's module: %v", err)
	}
	certs := filepath.Join(strings.TrimSpace(string(modDir)), "test", "certs")
	listen, mgmt := freeAddr(t), freeAddr(t)
	var tp, hp int
	fmt.Sscan(tlsPort, &tp)
	fmt.Sscan(httpPort, &hp)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": filepath.Join(certs, "localhost", "cert.pem"), "privateKey": filepath.Join(certs, "localhost", "key.pem"),
		"httpPort": hp, "tlsPort": tp, "ocspResponderURL": "", "externalAccountBindingRequired": false,
		"profiles": map[string]any{"default": map[string]any{"description": "short-lived, for renewal", "validityPeriod": int(pebbleLifetime / time.Second)}},
	}}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(t.TempDir(), "pebble.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfgPath)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var log lockedBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("pebble's log:\n%s", log.String())
		}
	})
	p := &pebble{dir: "https://" + listen + "/dir", caRoot: filepath.Join(certs, "pebble.minica.pem"), mgmt: mgmt}
	pem, err := os.ReadFile(p.caRoot)
	if err != nil {
		t.Fatal(err)
	}
	p.httpsCA = x509.NewCertPool()
	p.httpsCA.AppendCertsFromPEM(pem)
	// The root Pebble issues under is made at start: fetch it.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.httpsCA}}}
	waitUntil(t, "pebble's issuing root", func() bool {
		resp, err := hc.Get("https://" + mgmt + "/roots/0")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		root, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			return false
		}
		p.issued = x509.NewCertPool()
		return p.issued.AppendCertsFromPEM(root)
	})
	return p
}

// verifiedLeaf connects to addr as a client without a pin would, verifying
// the chain against the CA's root for name, and returns the leaf.
func verifiedLeaf(addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots, MinVersion: tls.VersionTLS13})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// TestACMERelay runs relays that get their wss certificates from a real
// ACME server (Pebble) on loopback: one by TLS-ALPN-01 on its endpoint,
// renewing it before it expires; one by HTTP-01. Clients verify the chain
// without a pin, and the manifest announces none.
func TestACMERelay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and Pebble and runs them")
	}
	bin := buildBinary(t)
	tlsAddr, httpAddr := freeAddr(t), freeAddr(t)
	_, tlsPort, _ := net.SplitHostPort(tlsAddr)
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	ca := startPebble(t, tlsPort, httpPort)
	acme := []string{"--acme-email", "operator@example.org", "--acme-ca", ca.dir, "--acme-ca-root", ca.caRoot, "--acme-renew-check", "1s"}

	// TLS-ALPN-01: the CA's validation reaches the wss endpoint itself.
	data := filepath.Join(t.TempDir(), "relay")
	startRelayArgs(t, bin, data, tlsAddr, append([]string{"--listen", "wss://" + tlsAddr + "?sni=localhost"}, acme...)...)
	var first *x509.Certificate
	var lastErr error
	if !eventually(func() bool { first, lastErr = verifiedLeaf(tlsAddr, "localhost", ca.issued); return lastErr == nil }) {
		t.Fatalf("no CA-issued certificate on the wss endpoint: %v", lastErr)
	}
	inv, err := manifest.ReadInvite(filepath.Join(data, "invite.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Verify(inv.Manifest, inv.NetworkKey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if e := m.Relays[0].Endpoints[0]; e.Transport != "wss" || e.SNI != "localhost" || len(e.TLSPin) != 0 {
		t.Errorf("announced endpoint %+v; want a wss endpoint without a pin", e)
	}
	// A probe without the name still gets the self-signed certificate.
	if _, err := verifiedLeaf(tlsAddr, "", ca.issued); err == nil {
		t.Error("a handshake without SNI verified against the CA")
	}
	// Renewal: a new certificate before the first expires.
	var second *x509.Certificate
	if !eventually(func() bool {
		second, lastErr = verifiedLeaf(tlsAddr, "localhost", ca.issued)
		return lastErr == nil && second.SerialNumber.Cmp(first.SerialNumber) != 0
	}) {
		t.Fatalf("the certificate (valid until %v) was not renewed: %v", first.NotAfter, lastErr)
	}
	if !second.NotAfter.After(first.NotAfter) {
		t.Errorf("renewed certificate valid until %v, the first until %v", second.NotAfter, first.NotAfter)
	}
	t.Logf("TLS-ALPN-01: certificate until %v renewed by one until %v", first.NotAfter.Format(time.TimeOnly), second.NotAfter.Format(time.TimeOnly))

	// HTTP-01: the endpoint is not where the CA's TLS-ALPN-01 validation
	// goes, so only the HTTP-01 listener can prove the name.
	otherAddr := freeAddr(t)
	startRelayArgs(t, bin, filepath.Join(t.TempDir(), "relay2"), otherAddr,
		append([]string{"--listen", "wss://" + otherAddr + "?sni=localhost", "--acme-http", httpAddr}, acme...)...)
	if !eventually(func() bool { _, lastErr = verifiedLeaf(otherAddr, "localhost", ca.issued); return lastErr == nil }) {
		t.Fatalf("no CA-issued certificate by HTTP-01: %v", lastErr)
	}
}
