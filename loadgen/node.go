package loadgen

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/session/curve"
	"samizdat/transport/tcp"
)

// node is one relay under test: a fresh store, a relay.Server and its
// loopback listeners.
type node struct {
	store  relay.Store
	srv    *relay.Server
	key    noisechan.KeyPair
	addrs  []string // listener addresses
	served chan error
	nsrv   int
	proc   *relayChild // the relay runs in this child process (srv is nil)
}

// unlimited is the relay's limits with every rate limit off, for the
// capacity scenarios (as relay/bench_test.go does): a rate limit would
// measure the limit, not the relay.
func unlimited() relay.Limits {
	u := relay.Unlimited
	return loopbackSources(relay.Limits{ConnFrames: u, Messages: u, SealedMessages: u, RecipientBytes: u,
		ProxiedSealed: u, Registrations: u, PreKeyUploads: u, PreKeyFetches: u, Lookups: u})
}

// loopbackSources lifts the relay's per-source connection caps from l:
// every peer here comes from a few loopback addresses, which would
// otherwise be capped as one user each.
func loopbackSources(l relay.Limits) relay.Limits {
	l.HandshakesPerSource, l.AnonymousPerSource = -1, -1
	return l
}

// startNode opens a fresh store for scenario name and starts a relay on
// listen (loopback addresses with port 0 for any).
func (r *runner) startNode(ctx context.Context, name string, lim relay.Limits, listen []string) (*node, error) {
	st, err := r.cfg.Store(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	nk, err := noisechan.GenerateKeyPair(rand.Reader)
	if err != nil {
		st.Close()
		return nil, err
	}
	srv, err := relay.New(relay.Config{Store: st, NoiseKey: nk, Limits: lim, Logger: r.log})
	if err != nil {
		st.Close()
		return nil, err
	}
	n := &node{store: st, srv: srv, key: nk, served: make(chan error, len(listen))}
	for _, a := range listen {
		ln, err := tcp.Listen(ctx, a)
		if err != nil {
			n.close()
			return nil, fmt.Errorf("listen: %w", err)
		}
		n.addrs = append(n.addrs, ln.Addr().String())
		n.serve(ln)
	}
	return n, nil
}

// serve serves the relay on l too (closed by close).
func (n *node) serve(l net.Listener) {
	n.nsrv++
	go func() { n.served <- n.srv.Serve(context.Background(), l) }()
}

// close stops the relay and closes the store.
func (n *node) close() error {
	var errs []error
	if n.proc != nil {
		errs = append(errs, n.proc.stop())
	} else {
		n.srv.Close()
	}
	for range n.nsrv {
		if err := <-n.served; err != nil && !errors.Is(err, relay.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	storeLocations.Delete(n.store)
	errs = append(errs, n.store.Close())
	return errors.Join(errs...)
}

// ident is a registered device's identity as the load clients know it.
type ident struct {
	account  relay.AccountID
	dev      uint32
	regID    uint32
	noise    noisechan.KeyPair
	uak      []byte          // the account's unidentified access key (random)
	ik       curve.PublicKey // the account's identity key
	username string
}

// deviceKey derives the Noise key of load device i of a run from seed, so
// that a client process can rebuild the keys from (seed, i) alone.
func deviceKey(seed uint64, i int) (noisechan.KeyPair, error) {
	var s [32]byte
	binary.BigEndian.PutUint64(s[:], seed)
	binary.BigEndian.PutUint64(s[8:], uint64(i))
	s = sha256.Sum256(s[:])
	return noisechan.GenerateKeyPair(mrand.NewChaCha8(s))
}

// provision registers n devices (one account each) directly in the store,
// concurrently. The relay authenticates them by their Noise keys like any
// device registered over the wire; going around the wire only saves the
// prekey generation that registration requires and these scenarios never
// use.
func provision(ctx context.Context, st relay.Store, seed uint64, first, n int) ([]ident, error) {
	ik, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		return nil, err
	}
	return provisionAs(ctx, st, seed, first, n, ik.Public)
}

// provisionAs is provision with the identity key ik for every account.
func provisionAs(ctx context.Context, st relay.Store, seed uint64, first, n int, ik curve.PublicKey) ([]ident, error) {
	out := make([]ident, n)
	err := parallel(ctx, n, 64, func(ctx context.Context, i int) error {
		k, err := deviceKey(seed, first+i)
		if err != nil {
			return err
		}
		var a relay.Account
		binary.BigEndian.PutUint64(a.ID[:], seed)
		binary.BigEndian.PutUint64(a.ID[8:], uint64(first+i))
		a.Username = fmt.Sprintf("lg%x_%d", seed&0xffffff, first+i)
		a.IdentityKey = ik.Bytes()
		a.UnidentifiedAccessKey = make([]byte, 16)
		if _, err := rand.Read(a.UnidentifiedAccessKey); err != nil {
			return err
		}
		reg := uint32(1 + (first+i)%0x3ffe)
		d := relay.Device{Account: a.ID, ID: 1, RegistrationID: reg, NoiseKey: k.Public, Created: time.Now()}
		if err := st.CreateAccount(ctx, a, d); err != nil {
			return fmt.Errorf("provision device %d: %w", first+i, err)
		}
		out[i] = ident{account: a.ID, dev: 1, regID: reg, noise: k, uak: a.UnidentifiedAccessKey, ik: ik, username: a.Username}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// newSeed returns a random run seed, so runs against a shared database
// never collide.
func newSeed() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// loopAddr returns the i-th address in 127.1.0.0/16 onwards, skipping
// network and broadcast-looking last octets.
func loopAddr(base byte, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, base, byte(i / 250), byte(1 + i%250)})
}

// connectAll dials one peer per ident on the node (round robin over its
// addresses), with at most 64 handshakes at once. With onPush, each peer
// acknowledges deliveries (onPush must queue them on p.acks).
func connectAll(ctx context.Context, n *node, ids []ident, onPush pushFunc) ([]*peer, error) {
	return connectFrom(ctx, n, ids, onPush, nil)
}

// connectFrom is connectAll with peer i dialling from the local address
// from(i) (nil from: any).
func connectFrom(ctx context.Context, n *node, ids []ident, onPush pushFunc, from func(i int) *net.TCPAddr) ([]*peer, error) {
	peers := make([]*peer, len(ids))
	err := parallel(ctx, len(ids), 64, func(ctx context.Context, i int) error {
		var local *net.TCPAddr
		if from != nil {
			local = from(i)
		}
		p, err := dialPeer(ctx, n.addrs[i%len(n.addrs)], local, ids[i].noise, n.key.Public, onPush, onPush != nil)
		if err != nil {
			return err
		}
		peers[i] = p
		return nil
	})
	if err != nil {
		closeAll(peers)
		return nil, err
	}
	return peers, nil
}

func closeAll(peers []*peer) {
	var wg sync.WaitGroup
	for _, p := range peers {
		if p != nil {
			wg.Go(func() { p.close() })
		}
	}
	wg.Wait()
}

// tcpAddr is the dialer's local address for source address a (any port).
func tcpAddr(a netip.Addr) *net.TCPAddr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0))
}

// parallel runs f(ctx, i) for i in [0, n) with at most limit at once and
// returns the first error; after an error the remaining calls are skipped
// and ctx passed to the running ones is canceled.
func parallel(ctx context.Context, n, limit int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(ctx, i); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}
