package bridge

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samizdat/manifest"
	"samizdat/manifest/channel/channeltest"
	"samizdat/transport/wss"
	"samizdat/transport/wss/wsstest"
)

// network is a test network: its key and a way to sign its manifests.
type network struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newNetwork(t testing.TB) network {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return network{pub, priv}
}

// sign signs a manifest of serial whose one relay is at the tcp addresses.
func (n network) sign(t testing.TB, serial uint64, addrs ...string) []byte {
	t.Helper()
	return n.signWith(t, serial, nil, addrs...)
}

// signWith is sign with channels.
func (n network) signWith(t testing.TB, serial uint64, channels []manifest.Channel, addrs ...string) []byte {
	t.Helper()
	m := &manifest.Manifest{Network: "net", Serial: serial, Issued: time.Now().Add(-time.Hour), Expires: time.Now().Add(30 * 24 * time.Hour),
		Relays: []manifest.Relay{{ID: "relay-1", NoiseKey: [32]byte{1}}}, Channels: channels}
	for _, a := range addrs {
		m.Relays[0].Endpoints = append(m.Relays[0].Endpoints, manifest.Endpoint{Transport: "tcp", Address: a})
	}
	blob, err := manifest.Sign(m, n.priv)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

func (n network) credential(t testing.TB, blob []byte) Credential {
	t.Helper()
	c, err := NewCredential(n.pub, blob, 0, "", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// upgrade sends one upgrade request for path with tok to the bridge of
// iss at addr and returns the status (101: a tunnel; 404: the decoy).
func upgrade(t *testing.T, iss Issuer, addr, path, tok string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	status, _, err := wsstest.Upgrade(ctx, addr, iss.SNI, iss.Pin, path, tok)
	if err != nil {
		t.Fatal(err)
	}
	return status
}

func token(t *testing.T, secret []byte, path string) string {
	t.Helper()
	tok, err := wss.Cookie(secret, path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestBridgeKnowsNoNames: the bridge keeps no list of callers. An offer
// its key issued opens a tunnel, even on a bridge started afresh; a path
// it never issued, a wrong secret, an expired label, a label that lasts
// too long, a denied label and a replayed token get the decoy.
func TestBridgeKnowsNoNames(t *testing.T) {
	relay := echoRelay(t)
	s := startBridgeTo(t, Config{}, relay)
	addr := s.Addrs()[0].String()
	iss := s.Issuer()
	exp := time.Now().Add(time.Hour)
	alice, aliceLabel := allow(t, s, addr, exp)
	c, err := dialOffer(alice)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "alice")
	c.Close()

	// The same key on a bridge started afresh (another listener, the
	// same TLS key) takes the same offer: nothing was stored.
	again, err := Start(Config{Listen: []string{"127.0.0.1:0"}, Identity: s.cfg.Identity, Key: s.cfg.Key, Upstream: s.cfg.Upstream})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	moved := alice
	moved.Address = again.Addrs()[0].String()
	if c, err := dialOffer(moved); err != nil {
		t.Fatalf("an offer on the restarted bridge: %v", err)
	} else {
		roundTrip(t, c, "alice again")
		c.Close()
	}

	stranger, _ := NewLabel(rand.Reader)
	strangerPath := newKeys(s.cfg.Key).path(stranger, exp.Unix())
	expired, _ := allow(t, s, addr, time.Now().Add(-time.Minute))
	tooLong, _ := allow(t, s, addr, time.Now().Add(MaxLifetime+2*time.Hour))
	replayed := token(t, alice.Secret, alice.Path)
	if got := upgrade(t, iss, addr, alice.Path, replayed); got != http.StatusSwitchingProtocols {
		t.Fatalf("a fresh token: status %d", got)
	}
	for _, tc := range []struct {
		name, path, tok string
	}{
		{"a path never issued, a guessed secret", strangerPath, token(t, bytes.Repeat([]byte{7}, SecretSize), strangerPath)},
		{"a wrong secret", alice.Path, token(t, bytes.Repeat([]byte{7}, SecretSize), alice.Path)},
		{"an expired label", expired.Path, token(t, expired.Secret, expired.Path)},
		{"a label lasting too long", tooLong.Path, token(t, tooLong.Secret, tooLong.Path)},
		{"a replayed token", alice.Path, replayed},
		{"a mangled path", alice.Path[:len(alice.Path)-1], token(t, alice.Secret, alice.Path[:len(alice.Path)-1])},
		{"the control path of a bridge with no control", newKeys(s.cfg.Key).control, token(t, newKeys(s.cfg.Key).controlSecret(), newKeys(s.cfg.Key).control)},
	} {
		if got := upgrade(t, iss, addr, tc.path, tc.tok); got != http.StatusNotFound {
			t.Errorf("%s: status %d, want the decoy", tc.name, got)
		}
	}
	s.Deny(Denial{Label: aliceLabel, Until: exp})
	if _, err := dialOffer(alice); !errors.Is(err, wss.ErrRejected) {
		t.Fatalf("a denied label: %v", err)
	}
	if d := s.Denied(); len(d) != 1 || d[0].Label != aliceLabel {
		t.Fatalf("deny list %v", d)
	}
	// A denial ends with the label's last offer; the list is the
	// home's whole list each time.
	if n := s.SetDenied([]Denial{{Label: aliceLabel, Until: time.Now().Add(-time.Second)}}); n != 0 {
		t.Fatalf("an ended denial is kept: %d", n)
	}
}

// startAbroad starts a bridge from cred with its state in dir.
func startAbroad(t *testing.T, cred Credential, dir string) *Abroad {
	t.Helper()
	a, err := StartAbroad(AbroadConfig{Credential: cred, Listen: []string{"127.0.0.1:0"}, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// TestAbroad: a bridge run from a credential alone forwards to the relay
// of its manifest; the home's update brings a newer manifest (the relay
// moved) and a deny list, which outlives a restart; an update with a
// manifest of another network changes no manifest and says why.
func TestAbroad(t *testing.T) {
	n := newNetwork(t)
	oldRelay, stopOld := stoppableEcho(t)
	defer stopOld()
	newRelay := echoRelay(t)
	cred := n.credential(t, n.sign(t, 1, oldRelay))
	iss, err := cred.Issuer()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "state")
	a := startAbroad(t, cred, dir)
	addr := a.Addrs()[0].String()
	exp := time.Now().Add(time.Hour)
	alice, _ := NewLabel(rand.Reader)
	bob, _ := NewLabel(rand.Reader)
	offer := func(l Label) Offer {
		o, err := iss.Offer(l, "net", "relay-1", addr, exp)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	c, err := dialOffer(offer(alice))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "through the old relay")
	c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ack, err := Push(ctx, iss, addr, nil, Update{Manifest: n.sign(t, 2, newRelay), Denied: []Denial{{Label: bob, Until: exp}}})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Serial != 2 || ack.Denied != 1 || ack.Refused != "" || a.Serial() != 2 {
		t.Fatalf("ack %+v, serial %d", ack, a.Serial())
	}
	if _, err := dialOffer(offer(bob)); !errors.Is(err, wss.ErrRejected) {
		t.Fatalf("a denied label: %v", err)
	}
	other := newNetwork(t)
	ack, err = Push(ctx, iss, addr, nil, Update{Manifest: other.sign(t, 3, oldRelay), Denied: []Denial{{Label: bob, Until: exp}}})
	if err != nil || ack.Serial != 2 || ack.Refused == "" {
		t.Fatalf("a foreign manifest: %+v, %v", ack, err)
	}
	// A wrong key gets no control tunnel.
	wrong := iss
	wrong.Key = bytes.Repeat([]byte{1}, KeySize)
	if _, err := Push(ctx, wrong, addr, nil, Update{}); !errors.Is(err, wss.ErrRejected) {
		t.Fatalf("a push with the wrong key: %v", err)
	}

	// Restarted from the same credential and state: the newer manifest
	// and the deny list are still there, and the old relay is gone.
	stopOld()
	a.Close()
	a = startAbroad(t, cred, dir)
	addr = a.Addrs()[0].String()
	if a.Serial() != 2 {
		t.Fatalf("serial %d after a restart", a.Serial())
	}
	c, err = dialOffer(offer(alice))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "through the new relay")
	c.Close()
	if _, err := dialOffer(offer(bob)); !errors.Is(err, wss.ErrRejected) {
		t.Fatalf("a denied label after a restart: %v", err)
	}
	// What the machine holds names no one: the credential and the state
	// are keys, a manifest and labels.
	for _, f := range []string{abroadManifestFile, abroadStateFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("state file %s: %v", f, err)
		}
	}
}

// TestCredential: a credential survives its text form; a damaged one, or
// one whose manifest another key signed or that names another network,
// is refused with the reason.
func TestCredential(t *testing.T) {
	n := newNetwork(t)
	cred := n.credential(t, n.sign(t, 1, "127.0.0.1:1"))
	text, err := MarshalCredential(cred)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "samizdat bridge --credential") {
		t.Errorf("the credential says nothing of its use:\n%s", text)
	}
	got, err := ParseCredential(text)
	if err != nil {
		t.Fatal(err)
	}
	if got.Network != "net" || !bytes.Equal(got.Key, cred.Key) || !bytes.Equal(got.TLSKey, cred.TLSKey) || got.SNI != SNIFor(cred.Key) || got.ID() != cred.ID() {
		t.Fatalf("round trip: %+v", got)
	}
	other := newNetwork(t)
	for _, tc := range []struct {
		name string
		mod  func(*Credential)
		want string
	}{
		{"short key", func(c *Credential) { c.Key = c.Key[:16] }, "bridge key of 16 bytes"},
		{"another network's key", func(c *Credential) { c.NetworkKey = other.pub }, "signature"},
		{"another network's name", func(c *Credential) { c.Network = "elsewhere" }, "for the network"},
		{"no tls key", func(c *Credential) { c.TLSKey = nil }, "no private key"},
		{"bad server name", func(c *Credential) { c.SNI = "a b" }, "server name"},
	} {
		c := cred
		tc.mod(&c)
		if _, err := MarshalCredential(c); !errors.Is(err, ErrBadCredential) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, bad := range []string{"", "hello", strings.Replace(string(text), "BRIDGE CREDENTIAL", "INVITE", 2)} {
		if _, err := ParseCredential([]byte(bad)); !errors.Is(err, ErrBadCredential) {
			t.Errorf("parsed %.40q: %v", bad, err)
		}
	}
}

// TestAbroadRefreshes: when no relay endpoint answers, a bridge abroad
// asks its manifest's channels for a newer one by itself, and carries the
// next tunnel to the relay's new address.
func TestAbroadRefreshes(t *testing.T) {
	n := newNetwork(t)
	gone, stop := stoppableEcho(t)
	stop()
	mirror := channeltest.NewMirror("mirror.example")
	defer mirror.Close()
	channels := []manifest.Channel{{Kind: "https", URL: mirror.URL("/m"), TLSPin: mirror.Pin()}}
	mirror.Put("/m", n.signWith(t, 2, channels, echoRelay(t)))
	cred := n.credential(t, n.signWith(t, 1, channels, gone))
	iss, err := cred.Issuer()
	if err != nil {
		t.Fatal(err)
	}
	a := startAbroad(t, cred, t.TempDir())
	l, _ := NewLabel(rand.Reader)
	o, err := iss.Offer(l, "net", "relay-1", a.Addrs()[0].String(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := dialOffer(o); err == nil {
		c.Write([]byte("x")) // the relay is gone: the tunnel ends, and the bridge looks for it
		c.SetReadDeadline(time.Now().Add(time.Minute))
		c.Read(make([]byte, 1))
		c.Close()
	}
	deadline := time.Now().Add(time.Minute)
	for a.Serial() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge still forwards by serial %d", a.Serial())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, err := dialOffer(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "to the relay's new address")
}
