package lab

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"

	"samizdat/bridge"
	"samizdat/censor"
	"samizdat/client"
	"samizdat/lab/report"
	"samizdat/lab/scenario"
	"samizdat/lab/vnet"
	"samizdat/transport/selfsigned"
)

// Contacts as bridges (issue 10, scenario.Bridges): some of samizdat's
// users run a real bridge (package bridge, as `samizdat bridge` does) at
// home, on an address of their ISP's residential pool, forwarding through
// their own client; others have a friend abroad running one from their
// bridge credential, on a foreign address, forwarding from outside the
// censored network. Every user accepts its partner and a few other users
// as contacts at setup, so the bridges' offers travel to them end to end
// with the outbox, as in the product; a client cut off from every relay
// address dials the bridges it holds by itself. The censor's enumeration
// accounts are befriended by a few users, modelled without a socket: the
// addresses of the bridges those users offer are enumerated.

// Residential pools: synthetic prefixes, disjoint from every cloud range
// of lab/labdata (TestResidentialPools checks it), so the registry lists
// a home's address only when the censor learns it. ISP i of the
// scenario's list (ISPShares order) has 95.(8i).0.0/13; the one foreign
// pool is 85.0.0.0/8.
var abroadPool = netip.MustParsePrefix("85.0.0.0/8")

func domesticPool(isp int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{95, byte(isp * 8), 0, 0}), 13)
}

// Roles of the residential addresses in the plan.
const (
	roleHomeBridge   = "home-bridge"
	roleAbroadBridge = "abroad-bridge"
)

// residential draws an address for the user id from pool, with a
// generator of its own (seeded with the run's seed and id), and claims it
// in the plan: the plan's own draws, and so every other address of the
// run, stay what they are without bridges.
func (w *world) residential(pool netip.Prefix, role, id string) (vnet.Addr, error) {
	h := fnv.New64a()
	h.Write([]byte("residential " + id))
	rng := mrand.New(mrand.NewPCG(uint64(w.seed), h.Sum64()))
	size := uint64(1) << (32 - pool.Bits())
	base := binary.BigEndian.Uint32(pool.Addr().AsSlice())
	var err error
	for range 64 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+uint32(1+rng.Uint64N(size-2)))
		var a vnet.Addr
		if a, err = w.plan.Claim(vnet.Prefix{Prefix: pool, Provider: "residential"}, netip.AddrFrom4(b), role, id); err == nil {
			return a, nil
		}
	}
	return vnet.Addr{}, err
}

// bridgePort is where every lab bridge listens: 443 looks most like an
// ordinary web server (docs/bridges.md).
const bridgePort = 443

// labBridge is one running bridge of a user.
type labBridge struct {
	owner  *labClient
	abroad bool
	addr   netip.AddrPort // virtual, residential
	sni    string         // the server name its offers tell callers to send
	close  func() error
}

// bridgeSetup is what startBridges set up for one strategy, for the
// report.
type bridgeSetup struct {
	bridges     []*labBridge
	offers      int // offers the bridges' owners sent at setup
	undelivered int // of them, not held by their contact when the run began
	enumerated  int // bridges offered to the censor's accounts
}

// bridgeDraw is the seeded draw of one strategy's bridges and contacts:
// which users run a bridge at home and abroad, each user's contacts
// besides its partner, and the users who befriend each censor account.
type bridgeDraw struct {
	home, abroad []int
	contacts     [][]int // by user
	friends      [][]int // by censor account
}

// drawBridges makes the draw for n users paired 2i, 2i+1, with the
// seed: the same in every run of a seed.
func drawBridges(b scenario.Bridges, seed int64, n, accounts int) bridgeDraw {
	h := fnv.New64a()
	h.Write([]byte("bridges"))
	rng := mrand.New(mrand.NewPCG(uint64(seed), h.Sum64()))
	perm := rng.Perm(n)
	nHome := int(math.Round(b.BridgeShare * float64(n)))
	nAbroad := min(int(math.Round(b.AbroadShare*float64(n))), n-nHome)
	d := bridgeDraw{home: slices.Sorted(slices.Values(perm[:nHome])), abroad: slices.Sorted(slices.Values(perm[nHome : nHome+nAbroad]))}
	d.contacts = contactGraph(n, b.Contacts, rng)
	for range accounts {
		d.friends = append(d.friends, slices.Sorted(slices.Values(rng.Perm(n)[:min(b.FriendsPerAccount(n), n)])))
	}
	return d
}

// contactGraph gives each of n users (paired 2i, 2i+1) k contacts besides
// its partner, mutually: a circulant graph (each user linked to the k/2
// next on either side, and for odd k the one opposite) over a seeded
// order of the users, drawn again until no link joins partners; after
// many draws, links between partners are dropped (fewer contacts for
// those users, which only a tiny world needs).
func contactGraph(n, k int, rng *mrand.Rand) [][]int {
	out := make([][]int, n)
	if k <= 0 || n < 3 {
		return out
	}
	partner := func(i int) int { return i ^ 1 }
	for try := 0; ; try++ {
		order := rng.Perm(n)
		var links [][2]int
		for pos := range n {
			for off := 1; off <= k/2; off++ {
				links = append(links, [2]int{order[pos], order[(pos+off)%n]})
			}
			if k%2 == 1 && pos < n/2 {
				links = append(links, [2]int{order[pos], order[pos+n/2]})
			}
		}
		clash := slices.ContainsFunc(links, func(l [2]int) bool { return partner(l[0]) == l[1] })
		if clash && try < 1000 {
			continue
		}
		for _, l := range links {
			a, b := l[0], l[1]
			if partner(a) == b || slices.Contains(out[a], b) {
				continue
			}
			out[a], out[b] = append(out[a], b), append(out[b], a)
		}
		for i := range out {
			slices.Sort(out[i])
		}
		return out
	}
}

// startBridges sets up the scenario's bridges and contacts for every
// strategy that has them (samizdat), at lab time 0 while the censor lets
// everything through: contacts accepted, bridges started, their offers
// sent and (within onlineTimeout) delivered, and the bridges offered to
// the censor's accounts enumerated. It appends the bridges' closers.
func (w *world) startBridges(ctx context.Context, closers *[]func() error) error {
	b := w.sc.Bridges
	if !b.On() {
		return nil
	}
	for _, s := range w.strategies {
		if s.name != scenario.Samizdat {
			continue
		}
		var users []*labClient
		for _, lc := range s.clients {
			if !lc.cold && lc.c != nil {
				users = append(users, lc)
			}
		}
		d := drawBridges(b, w.seed, len(users), w.enumClients())
		for i, lc := range users {
			if lc.partner != nil {
				lc.contacts = append(lc.contacts, lc.partner)
			}
			for _, j := range d.contacts[i] {
				lc.contacts = append(lc.contacts, users[j])
			}
			for _, ct := range lc.contacts {
				if err := lc.c.Accept(ctx, ct.name); err != nil {
					return fmt.Errorf("lab: %s accepting %s: %w", lc.id, ct.name, err)
				}
			}
		}
		setup := &bridgeSetup{}
		s.bridges = setup
		for _, group := range []struct {
			idx    []int
			abroad bool
		}{{d.home, false}, {d.abroad, true}} {
			for _, i := range group.idx {
				lb, err := w.startBridge(ctx, users[i], group.abroad)
				if err != nil {
					return err
				}
				*closers = append(*closers, lb.close)
				setup.bridges = append(setup.bridges, lb)
				users[i].bridge = lb
			}
		}
		s.mu.Lock()
		s.bridgeAddrs = map[string]*labBridge{}
		for _, lb := range setup.bridges {
			s.bridgeAddrs[lb.addr.String()] = lb
		}
		s.mu.Unlock()
		if err := w.offerBridges(ctx, setup); err != nil {
			return err
		}
		// The censor's accounts: each befriended by FriendsPerAccount users,
		// who offer it their bridges as they offer them to every contact.
		seen := map[*labBridge]bool{}
		for _, friends := range d.friends {
			for _, i := range friends {
				if lb := users[i].bridge; lb != nil && !seen[lb] {
					seen[lb] = true
					// The offer tells the account the bridge's address and the
					// server name its callers send: both go on the list.
					w.cen.Enumerate(w.clock.Now(), lb.addr.Addr())
					w.cen.EnumerateName(w.clock.Now(), lb.sni)
					setup.enumerated++
				}
			}
		}
	}
	return nil
}

// startBridge starts lc's bridge: at home, forwarding through lc's own
// client (as `samizdat bridge --listen` does), or abroad from lc's bridge
// credential (as `samizdat bridge --credential` does), forwarding from
// outside the censored network. Its offers go with lc's outbox.
func (w *world) startBridge(ctx context.Context, lc *labClient, abroad bool) (*labBridge, error) {
	pool, role := abroadPool, roleAbroadBridge
	if !abroad {
		pool, role = domesticPool(w.ispIndex(lc.isp)), roleHomeBridge
	}
	a, err := w.residential(pool, role, lc.id)
	if err != nil {
		return nil, fmt.Errorf("lab: bridge address for %s: %w", lc.id, err)
	}
	lb := &labBridge{owner: lc, abroad: abroad, addr: netip.AddrPortFrom(a.Addr, bridgePort)}
	listen := func(context.Context, string) (net.Listener, error) { return w.net.Listen(lb.addr) }
	log := w.log.With("bridge", lc.id)
	if abroad {
		cred, err := lc.c.NewBridgeCredential(ctx, lb.addr.String(), bridge.SNIFor(w.bridgeKey(lc)))
		if err != nil {
			return nil, fmt.Errorf("lab: bridge credential of %s: %w", lc.id, err)
		}
		ab, err := bridge.StartAbroad(bridge.AbroadConfig{
			Credential: cred, Listen: []string{lb.addr.String()}, StateDir: filepath.Join(w.work, "abroad", lc.id),
			NetDial: w.net.ControlDialer(), Clock: w.sim, NetListen: listen, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("lab: bridge abroad of %s: %w", lc.id, err)
		}
		lb.close, lb.sni = ab.Close, cred.SNI
		return lb, nil
	}
	id, err := selfsigned.New(nil, w.sim.Now)
	if err != nil {
		return nil, err
	}
	srv, err := bridge.Start(bridge.Config{
		Listen: []string{lb.addr.String()}, Identity: id, Key: w.bridgeKey(lc), Upstream: lc.c.DialRelayRaw,
		Clock: w.sim, NetListen: listen, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("lab: bridge of %s: %w", lc.id, err)
	}
	lb.close, lb.sni = srv.Close, srv.Issuer().SNI
	if err := lc.c.ServeBridge(ctx, client.ServedBridge{Issuer: srv.Issuer(), Address: lb.addr.String(), Deny: srv.SetDenied}); err != nil {
		srv.Close()
		return nil, fmt.Errorf("lab: serving the bridge of %s: %w", lc.id, err)
	}
	return lb, nil
}

// bridgeKey is the key of lc's bridge: drawn from the seed, so that the
// server name bridge.SNIFor derives from it, which the censor lists when
// one of its accounts is offered the bridge, is the same in every run of
// a seed. (A bridge abroad keeps its credential's own key and is given
// this name.)
func (w *world) bridgeKey(lc *labClient) []byte {
	h := fnv.New64a()
	h.Write([]byte("bridge key " + lc.id))
	rng := mrand.New(mrand.NewPCG(uint64(w.seed), h.Sum64()))
	key := make([]byte, bridge.KeySize)
	for i := 0; i < len(key); i += 8 {
		binary.LittleEndian.PutUint64(key[i:], rng.Uint64())
	}
	return key
}

// offerBridges has every bridge's owner send its offers (all at once, as
// the owners would) and waits, up to onlineTimeout, until every contact
// holds the offers meant for it.
func (w *world) offerBridges(ctx context.Context, setup *bridgeSetup) error {
	owners := map[*labClient]bool{}
	for _, lb := range setup.bridges {
		owners[lb.owner] = true
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		want    = map[*labClient][]string{} // contact -> owners whose offers it should hold
		firstEr error
	)
	for lc := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent, err := lc.c.AnnounceBridges(ctx)
			if err == nil {
				fctx, cancel := w.sim.WithTimeout(ctx, onlineTimeout)
				_, err = lc.c.Flush(fctx)
				cancel()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstEr == nil {
				firstEr = fmt.Errorf("lab: %s offering its bridges: %w", lc.id, err)
			}
			for _, o := range sent {
				for _, ct := range lc.contacts {
					if ct.name == o.Peer {
						want[ct] = append(want[ct], lc.name)
					}
				}
				setup.offers++
			}
		}()
	}
	wg.Wait()
	if firstEr != nil {
		return firstEr
	}
	var err error
	setup.undelivered, err = w.waitSetup(ctx, "bridge offers", func() (int, error) {
		missing := 0
		for ct, from := range want {
			_, peers, err := ct.c.BridgeOffers(ctx)
			if err != nil {
				return 0, fmt.Errorf("lab: %s's bridge offers: %w", ct.id, err)
			}
			for _, o := range from {
				if !slices.Contains(peers, o) {
					missing++
				}
			}
		}
		return missing, nil
	})
	return err
}

// ispIndex is the index of isp in the scenario's ISP list (0 if absent).
func (w *world) ispIndex(isp string) int {
	for i, sh := range w.sc.ISPShares() {
		if sh.Name == isp {
			return i
		}
	}
	return 0
}

// bridgePaths adds to groups, for each bridge lc holds an offer of at
// end, what stood in its way then: a registry entry its ISP enforced, the
// bridge owner's own outage (a bridge at home forwards over its owner's
// direct paths), or nothing; it returns how many offers lc held.
func (w *world) bridgePaths(lc *labClient, end censor.Time, groups map[report.Paths]int) int {
	offers, _, err := lc.c.BridgeOffers(context.Background())
	if err != nil {
		groups[report.Paths{Kind: "bridge", State: "unreadable"}]++
		return 0
	}
	s := lc.s
	for _, o := range offers {
		g := report.Paths{Kind: "bridge", State: "open"}
		host, _, _ := net.SplitHostPort(o.Address)
		s.mu.Lock()
		lb := s.bridgeAddrs[o.Address]
		// A bridge at home forwards over its owner's direct paths only
		// (never through another bridge): an owner cut off, or connected
		// only through a contact's bridge, forwards nothing.
		ownerDown := lb != nil && !lb.abroad && (lb.owner.outage() >= 0 || s.bridgeAddrs[lb.owner.endpoint] != nil)
		s.mu.Unlock()
		if e, ok := w.cen.Listing(end, lc.isp, host); ok {
			g.State, g.ListedBy = "listed", e.Reason
		} else if ownerDown {
			g.State = "owner cut off"
		}
		groups[g]++
	}
	return len(offers)
}

// bridgeNote sums up, in words, a strategy's bridges: how many ran,
// whether their offers reached the contacts before the run began, how
// many the censor learned through its accounts, and how many reconnects
// came back through one.
func bridgeNote(s *strategyRun, st report.Strategy) string {
	b := s.bridges
	if b == nil {
		return ""
	}
	abroad := 0
	for _, lb := range b.bridges {
		if lb.abroad {
			abroad++
		}
	}
	late := ""
	if b.undelivered > 0 {
		late = fmt.Sprintf(" (%d not yet held when the run began)", b.undelivered)
	}
	holding := 0
	for _, x := range st.Stranded {
		if x.BridgeOffers > 0 {
			holding++
		}
	}
	return fmt.Sprintf("%s's users ran %d bridges (%d at home, %d abroad) and sent %d offers at setup%s; %d bridges were offered to the censor's accounts and reported to it; %d of %d reconnects came back through a contact's bridge; %d of the %d clients still cut off at the end held a bridge offer.",
		s.name, len(b.bridges), len(b.bridges)-abroad, abroad, b.offers, late, b.enumerated, st.ReconnectsViaBridge, st.Reconnects, holding, len(st.Stranded))
}
