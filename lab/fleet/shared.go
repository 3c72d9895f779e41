package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"samizdat/censor"
	"samizdat/lab/labdata"
	"samizdat/lab/vnet"
	"samizdat/manifest/channel/channeltest"
	"samizdat/transport/front/cdntest"
)

// Names of the shared services. They resolve through the censor
// (Censor.SetName), so a censor that lists them poisons them too.
const (
	DoHName    = "doh.shared-dns.lab"     // the DoH resolver's host name
	MirrorName = "mirror.shared-host.lab" // the mirror host's name
	// CDNMirrorHost is the Host the CDN edge routes to the mirror's
	// origin, for fetches of manifests through a front.
	CDNMirrorHost = "manifests.cdn-origin.lab"
	// DefaultFrontDomain is the innocuous SNI of fronted connections when
	// the edge hosts no bystander site to borrow a name from.
	DefaultFrontDomain = "static.cdn-edge.lab"
)

// SharedConfig configures the shared infrastructure.
type SharedConfig struct {
	Net    *vnet.Net
	Plan   *vnet.Plan
	Censor *censor.Censor
	// CDNBystanders are the names of ordinary sites the CDN edge serves
	// (port 80, plain HTTP); the first is also the front domain fronted
	// connections show in SNI.
	CDNBystanders []string
	Logger        *slog.Logger
}

// Shared is the infrastructure every strategy shares: the CDN edge,
// the DoH resolver and the mirror host.
type Shared struct {
	cfg SharedConfig

	cdn        *cdntest.CDN
	cdnAddr    netip.AddrPort // :443
	doh        *channeltest.DoH
	dohAddr    netip.AddrPort
	mirror     *channeltest.Mirror
	mirrorAddr netip.AddrPort
	origin     *blobServer // the mirror's plain-HTTP origin behind the CDN
	bys        *vnet.Bystanders
	targets    []vnet.ProbeTarget

	closeOnce sync.Once
}

// StartShared allocates the shared services' addresses from the plan,
// starts them on loopback and maps them onto the virtual network.
func StartShared(ctx context.Context, cfg SharedConfig) (_ *Shared, err error) {
	if cfg.Net == nil || cfg.Plan == nil || cfg.Censor == nil {
		return nil, errors.New("fleet: shared infrastructure needs a net, a plan and a censor")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Shared{cfg: cfg}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	cdnA, err := allocPreferring(cfg.Plan, vnet.RoleCDN, "cdn-edge", googleFrontEnd)
	if err != nil {
		return nil, err
	}
	dohA, err := allocPreferring(cfg.Plan, vnet.RoleDoH, "doh-resolver", googleFrontEnd)
	if err != nil {
		return nil, err
	}
	mirA, err := cfg.Plan.Alloc(vnet.RoleMirror, "mirror-host", nil)
	if err != nil {
		return nil, fmt.Errorf("fleet: mirror address: %w", err)
	}
	s.cdnAddr = netip.AddrPortFrom(cdnA.Addr, 443)
	s.dohAddr = netip.AddrPortFrom(dohA.Addr, 443)
	s.mirrorAddr = netip.AddrPortFrom(mirA.Addr, 443)

	cdnLn, err := cfg.Net.ListenLoopback("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fleet: cdn edge: %w", err)
	}
	if s.cdn, err = cdntest.Start("", cdntest.Config{Listener: cdnLn, DialContext: cfg.Net.DialLoopback}); err != nil {
		return nil, fmt.Errorf("fleet: cdn edge: %w", err)
	}
	if err = mapTo(cfg.Net, s.cdnAddr, s.cdn.Addr()); err != nil {
		return nil, err
	}
	dohLn, err := cfg.Net.ListenLoopback("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fleet: doh resolver: %w", err)
	}
	s.doh = channeltest.NewDoHOn(dohLn, DoHName)
	if err = mapTo(cfg.Net, s.dohAddr, s.doh.Addr()); err != nil {
		return nil, err
	}
	mirLn, err := cfg.Net.ListenLoopback("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fleet: mirror host: %w", err)
	}
	s.mirror = channeltest.NewMirrorOn(mirLn, MirrorName)
	if err = mapTo(cfg.Net, s.mirrorAddr, s.mirror.Addr()); err != nil {
		return nil, err
	}
	if s.origin, err = startBlobServer(cfg.Net); err != nil {
		return nil, err
	}
	if err = s.cdn.Route(CDNMirrorHost, "http://"+s.origin.addr()); err != nil {
		return nil, fmt.Errorf("fleet: cdn route: %w", err)
	}
	cfg.Censor.SetName(DoHName, dohA.Addr)
	cfg.Censor.SetName(MirrorName, mirA.Addr)

	if len(cfg.CDNBystanders) > 0 {
		web := netip.AddrPortFrom(cdnA.Addr, 80)
		addrs := make([]netip.AddrPort, len(cfg.CDNBystanders))
		for i, name := range cfg.CDNBystanders {
			addrs[i] = web
			cfg.Censor.SetName(name, cdnA.Addr)
		}
		if s.bys, err = cfg.Net.StartBystanders(addrs, cfg.CDNBystanders); err != nil {
			return nil, fmt.Errorf("fleet: cdn bystanders: %w", err)
		}
		s.targets = s.bys.Targets()
	}
	cfg.Logger.Info("shared infrastructure up", "cdn", s.cdnAddr, "doh", s.dohAddr, "mirror", s.mirrorAddr,
		"cdn_sites", len(cfg.CDNBystanders))
	return s, nil
}

// cloudRanges are Google Cloud's customer prefixes (labdata.GCP).
var cloudRanges = sync.OnceValue(labdata.GCP)

// googleFrontEnd matches Google's own address space outside Google
// Cloud's customer ranges: where Google's front ends and resolvers live
// (dns.google, the edge a fronted request enters). goog.json includes
// the cloud ranges, which censors list wholesale (the 2018 block listed
// Google Cloud on its second day); Google's front ends went only when
// Russia broke Google itself, on 22 April 2018.
func googleFrontEnd(p vnet.Prefix) bool {
	return p.Provider == "Google" && !slices.ContainsFunc(cloudRanges(), func(c labdata.Prefix) bool {
		return c.Prefix.Overlaps(p.Prefix)
	})
}

// allocPreferring draws an address from prefixes that match, or from any
// prefix if the plan has none that does.
func allocPreferring(p *vnet.Plan, role, name string, match func(vnet.Prefix) bool) (vnet.Addr, error) {
	a, err := p.Alloc(role, name, match)
	if errors.Is(err, vnet.ErrNoPrefix) {
		a, err = p.Alloc(role, name, nil)
	}
	if err != nil {
		return vnet.Addr{}, fmt.Errorf("fleet: %s address: %w", role, err)
	}
	return a, nil
}

// mapTo maps virt onto the loopback listener at real (host:port).
func mapTo(n *vnet.Net, virt netip.AddrPort, real string) error {
	r, err := netip.ParseAddrPort(real)
	if err != nil {
		return fmt.Errorf("fleet: bad loopback address: %w", err)
	}
	if err := n.Map("tcp", virt, r); err != nil {
		return fmt.Errorf("fleet: mapping %s: %w", virt, err)
	}
	return nil
}

// CDNAddr is the CDN edge's virtual HTTPS address (port 443).
func (s *Shared) CDNAddr() netip.AddrPort { return s.cdnAddr }

// DoHAddr is the DoH resolver's virtual address (port 443).
func (s *Shared) DoHAddr() netip.AddrPort { return s.dohAddr }

// MirrorAddr is the mirror host's virtual address (port 443).
func (s *Shared) MirrorAddr() netip.AddrPort { return s.mirrorAddr }

// Bystanders returns the sites the CDN edge hosts, as probe targets (by
// name, at the edge's port 80).
func (s *Shared) Bystanders() []vnet.ProbeTarget {
	return append([]vnet.ProbeTarget(nil), s.targets...)
}

// SetFronting sets the CDN provider's policy on domain fronting: with on
// false its edge refuses fronted requests and cuts those in flight
// (cdntest.CDN.SetFronting). Front endpoints and front channels then
// fail, while the sites behind the edge stay up.
func (s *Shared) SetFronting(on bool) { s.cdn.SetFronting(on) }

// Fronting reports whether the CDN edge serves fronted requests.
func (s *Shared) Fronting() bool { return s.cdn.Fronting() }

// Fronted counts the fronted requests the CDN edge served and refused
// (cdntest.CDN.Fronted).
func (s *Shared) Fronted() (served, refused int) { return s.cdn.Fronted() }

// frontDomain is the innocuous name fronted connections show in SNI.
func (s *Shared) frontDomain() string { return frontDomain(s.cfg.CDNBystanders) }

func frontDomain(cdnBystanders []string) string {
	if len(cdnBystanders) > 0 {
		return cdnBystanders[0]
	}
	return DefaultFrontDomain
}

// RoleNames returns the host names clients show (in SNI or DNS) when they
// use the shared service of role (vnet.RoleCDN, RoleDoH or RoleMirror) of
// a Shared started with cdnBystanders, for a whitelist that allows the
// service by name. It needs no running Shared, so a censor can be built
// first. Other roles have none.
func RoleNames(role string, cdnBystanders []string) []string {
	switch role {
	case vnet.RoleCDN:
		names := []string{frontDomain(cdnBystanders)}
		for _, n := range cdnBystanders {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		return names
	case vnet.RoleDoH:
		return []string{DoHName}
	case vnet.RoleMirror:
		return []string{MirrorName}
	}
	return nil
}

// dohURL is the resolver's RFC 8484 URL, by name.
func (s *Shared) dohURL() string { return "https://" + DoHName + channeltest.DoHPath }

// mirrorURL is the https URL of path on the mirror host, by name.
func (s *Shared) mirrorURL(path string) string { return "https://" + MirrorName + path }

// publish serves blob at path on the mirror (directly and behind the CDN)
// and, if txtName is set, as TXT records at txtName on the resolver.
func (s *Shared) publish(path, txtName string, blob []byte) error {
	if path != "" {
		s.mirror.Put(path, blob)
		s.origin.put(path, blob)
	}
	if txtName != "" {
		if err := s.doh.SetBlob(txtName, blob); err != nil {
			return fmt.Errorf("fleet: publishing txt: %w", err)
		}
	}
	return nil
}

// Close stops the shared services. The virtual addresses stay mapped (to
// closed listeners).
func (s *Shared) Close() error {
	s.closeOnce.Do(func() {
		if s.bys != nil {
			s.bys.Close()
		}
		if s.cdn != nil {
			s.cdn.Close()
		}
		if s.doh != nil {
			s.doh.Close()
		}
		if s.mirror != nil {
			s.mirror.Close()
		}
		if s.origin != nil {
			s.origin.close()
		}
	})
	return nil
}

// blobServer serves blobs by path over plain HTTP on loopback: the
// mirror's origin, which the CDN edge forwards fronted fetches to.
type blobServer struct {
	ln  net.Listener
	srv *http.Server

	mu    sync.Mutex
	files map[string][]byte // guarded by mu
}

func startBlobServer(n *vnet.Net) (*blobServer, error) {
	ln, err := n.ListenLoopback("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fleet: mirror origin: %w", err)
	}
	b := &blobServer{ln: ln, files: map[string][]byte{}}
	b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go b.srv.Serve(ln)
	return b, nil
}

func (b *blobServer) addr() string { return b.ln.Addr().String() }

func (b *blobServer) put(path string, blob []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.files[path] = append([]byte(nil), blob...)
}

func (b *blobServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	blob, ok := b.files[r.URL.Path]
	b.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(blob)
}

func (b *blobServer) close() { b.srv.Close() }
