package relay_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"samizdat/manifest"
	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/session/curve"
	"samizdat/session/kem"
	"samizdat/session/sealed"
	"samizdat/store/memstore"
	"samizdat/transport/tcp"
)

// patience bounds every wait for something that must happen: a response,
// a push, a closed connection. A wait ends as soon as it happens, so only a
// failing test waits this long; a busy machine can take seconds.
const patience = time.Minute

// env is a relay on loopback TCP with an in-memory store.
type env struct {
	t         testing.TB
	srv       *relay.Server
	store     relay.Store
	addr      string
	relayKey  [32]byte
	trustRoot curve.KeyPair
}

// newEnv starts a relay; mod may adjust the config before New.
func newEnv(t testing.TB, mod func(*relay.Config)) *env {
	t.Helper()
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	return newEnvStore(t, st, mod)
}

func newEnvStore(t testing.TB, st relay.Store, mod func(*relay.Config)) *env {
	t.Helper()
	return startEnv(t, st, mod, false)
}

// newFrontedEnv is newEnv whose listener is a shared proxy's
// (relay.ProxiedListener), as a fronted origin's: every client's loopback
// address plays the CDN edge's, which all fronted users share.
func newFrontedEnv(t testing.TB, mod func(*relay.Config)) *env {
	t.Helper()
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	return startEnv(t, st, mod, true)
}

func startEnv(t testing.TB, st relay.Store, mod func(*relay.Config), proxied bool) *env {
	t.Helper()
	nk, err := noisechan.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := sealed.NewServerCertificate(1, signer.Public, root.Private, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	cfg := relay.Config{
		Store:                st,
		NoiseKey:             nk,
		ServerCertificate:    cert,
		ServerCertificateKey: signer.Private,
		Logger:               slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Limits: relay.Limits{
			Registrations: relay.Unlimited,
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tcp.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	l := relay.NamedListener(ln, "tcp")
	if proxied {
		l = relay.ProxiedListener(ln, "front")
	}
	go func() { served <- srv.Serve(context.Background(), l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, relay.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return &env{t: t, srv: srv, store: st, addr: ln.Addr().String(), relayKey: nk.Public, trustRoot: root}
}

// client is a raw protocol client: a Noise channel and a reader goroutine
// that routes responses by id and queues pushes.
type client struct {
	t      testing.TB
	key    noisechan.KeyPair
	nc     *noisechan.Conn
	mu     sync.Mutex
	nextID uint64
	waits  map[uint64]chan *wire.Response
	pushes chan *wire.Push
	done   chan struct{}
	err    error // read error, set before done is closed
}

func (e *env) dial(key noisechan.KeyPair) *client {
	e.t.Helper()
	return e.dialFrom(key, nil)
}

// dialFrom is dial from the local address from (nil: any), such as
// another 127.0.0.x to play another source.
func (e *env) dialFrom(key noisechan.KeyPair, from *net.TCPAddr) *client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	d := tcp.Dialer{}
	if from != nil {
		d.Dialer.LocalAddr = from
	}
	raw, err := d.Dial(ctx, e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	nc, err := noisechan.Client(ctx, raw, key, e.relayKey, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &client{t: e.t, key: key, nc: nc, waits: make(map[uint64]chan *wire.Response),
		pushes: make(chan *wire.Push, 4096), done: make(chan struct{})}
	go c.readLoop()
	e.t.Cleanup(func() { nc.Close(); <-c.done })
	return c
}

func newKey(t testing.TB) noisechan.KeyPair {
	k, err := noisechan.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (c *client) readLoop() {
	defer close(c.done)
	for {
		f, err := wire.ReadFrame(c.nc)
		if err != nil {
			c.err = err
			return
		}
		switch b := f.Body.(type) {
		case *wire.Frame_Response:
			c.mu.Lock()
			ch := c.waits[b.Response.Id]
			delete(c.waits, b.Response.Id)
			c.mu.Unlock()
			if ch != nil {
				ch <- b.Response
			}
		case *wire.Frame_Push:
			c.pushes <- b.Push
		}
	}
}

// start sends req with a fresh id and returns where its response arrives.
func (c *client) start(req *wire.Request) <-chan *wire.Response {
	ch := make(chan *wire.Response, 1)
	c.mu.Lock()
	c.nextID++
	req.Id = c.nextID
	c.waits[req.Id] = ch
	c.mu.Unlock()
	if err := wire.WriteFrame(c.nc, &wire.Frame{Body: &wire.Frame_Request{Request: req}}); err != nil {
		c.t.Errorf("write request: %v", err)
	}
	return ch
}

// call sends req and waits for its response.
func (c *client) call(req *wire.Request) *wire.Response {
	c.t.Helper()
	ch := c.start(req)
	select {
	case r := <-ch:
		return r
	case <-c.done:
		// The read loop passes an answer on before it ends: a relay that
		// answers and then closes has answered.
		select {
		case r := <-ch:
			return r
		default:
		}
		c.t.Fatalf("connection closed while waiting for a response: %v", c.err)
	case <-time.After(patience):
		c.t.Fatal("no response")
	}
	return nil
}

// mustOK calls and fails the test unless the status is OK.
func (c *client) mustOK(req *wire.Request) *wire.Response {
	c.t.Helper()
	r := c.call(req)
	if r.Status != wire.Status_OK {
		c.t.Fatalf("%T: status %v (%s)", req.Op, r.Status, r.Reason)
	}
	return r
}

// nextPush waits for one push.
func (c *client) nextPush() *wire.Push {
	c.t.Helper()
	select {
	case p := <-c.pushes:
		return p
	case <-time.After(patience):
		c.t.Fatal("no push")
	}
	return nil
}

// noPush checks that nothing is pushed for d.
func (c *client) noPush(d time.Duration) {
	c.t.Helper()
	select {
	case p := <-c.pushes:
		c.t.Fatalf("unexpected push %v", p)
	case <-time.After(d):
	}
}

// waitClosed waits for the relay to end the connection and returns the
// Closing reason, if one came.
func (c *client) waitClosed() string {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(patience):
		c.t.Fatal("connection not closed")
	}
	reason := ""
	for {
		select {
		case p := <-c.pushes:
			if cl := p.GetClosing(); cl != nil {
				reason = cl.Reason
			}
		default:
			return reason
		}
	}
}

// user is a registered account's key material.
type user struct {
	name     string
	identity curve.KeyPair
	uak      []byte
	account  []byte
	slot     manifest.Slot // the cohort slot the relay assigned
	devices  map[uint32]*device
}

type device struct {
	id    uint32
	regID uint32
	noise noisechan.KeyPair
	c     *client
}

func signed(t testing.TB, ik curve.KeyPair, id uint32) *wire.SignedPreKey {
	k, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ik.Private.Sign(rand.Reader, k.Public.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return &wire.SignedPreKey{Id: id, PublicKey: k.Public.Bytes(), Signature: sig}
}

func kyber(t testing.TB, ik curve.KeyPair, id uint32) *wire.KyberPreKey {
	k, err := kem.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ik.Private.Sign(rand.Reader, k.Public.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return &wire.KyberPreKey{Id: id, PublicKey: k.Public.Bytes(), Signature: sig}
}

func oneTime(t testing.TB, id uint32) *wire.OneTimePreKey {
	k, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.OneTimePreKey{Id: id, PublicKey: k.Public.Bytes()}
}

// registerReq builds a valid Register for a fresh identity with n one-time
// keys of each kind (ids 1..n; the last-resort Kyber key has id 1000).
func registerReq(t testing.TB, name string, ik curve.KeyPair, noise noisechan.KeyPair, uak []byte, n int) *wire.Register {
	r := &wire.Register{
		Username:              name,
		IdentityKey:           ik.Public.Bytes(),
		RegistrationId:        1234,
		NoiseStaticKey:        noise.Public[:],
		SignedPreKey:          signed(t, ik, 1),
		LastResortKyberPreKey: kyber(t, ik, 1000),
		UnidentifiedAccessKey: uak,
	}
	for i := 1; i <= n; i++ {
		r.PreKeys = append(r.PreKeys, oneTime(t, uint32(i)))
		r.KyberPreKeys = append(r.KyberPreKeys, kyber(t, ik, uint32(i)))
	}
	return r
}

// register creates a user with one device (connected) and n one-time keys.
func (e *env) register(name string, n int) *user {
	e.t.Helper()
	ik, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	uak := make([]byte, 16)
	rand.Read(uak)
	noise := newKey(e.t)
	c := e.dial(noise)
	r := c.mustOK(&wire.Request{Op: &wire.Request_Register{Register: registerReq(e.t, name, ik, noise, uak, n)}})
	reg := r.GetRegistered()
	if reg == nil || len(reg.AccountId) != 16 || reg.DeviceId != 1 {
		e.t.Fatalf("register: bad result %v", r)
	}
	return &user{name: name, identity: ik, uak: uak, account: reg.AccountId, slot: manifest.Slot(reg.Slot),
		devices: map[uint32]*device{1: {id: 1, regID: 1234, noise: noise, c: c}}}
}

// dev1 is the user's first device's connection.
func (u *user) dev1() *client { return u.devices[1].c }

func sendReq(to *user, envID []byte, content string, devs ...uint32) *wire.Request {
	s := &wire.SendMessages{Recipient: to.account, Timestamp: 42, EnvelopeId: envID}
	if len(devs) == 0 {
		for id := range to.devices {
			devs = append(devs, id)
		}
	}
	for _, d := range devs {
		reg := uint32(0)
		if dd := to.devices[d]; dd != nil {
			reg = dd.regID
		}
		s.Messages = append(s.Messages, &wire.OutgoingMessage{DeviceId: d, RegistrationId: reg, Type: 2, Content: []byte(content)})
	}
	return &wire.Request{Op: &wire.Request_Send{Send: s}}
}

func envID(i int) []byte {
	b := make([]byte, 16)
	copy(b, fmt.Sprintf("env-%d", i))
	return b
}

// newMemstore returns an in-memory store whose mailboxes hold max envelopes.
func newMemstore(t testing.TB, max int) relay.Store {
	st := memstore.New(memstore.Options{MaxMessages: max})
	t.Cleanup(func() { st.Close() })
	return st
}
