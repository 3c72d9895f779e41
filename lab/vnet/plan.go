package vnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"sync"

	"samizdat/lab/labdata"
)

// Prefix is a real provider prefix that virtual addresses are drawn
// from, with the labels (provider, region, service) the censor's
// escalation and the collateral accounting need. It is labdata's type.
type Prefix = labdata.Prefix

// DefaultPrefixes returns the plan's default prefixes: the EC2 IPv4
// prefixes AWS published on 5 April 2018, eleven days before the block,
// each once.
func DefaultPrefixes() []Prefix {
	seen := map[netip.Prefix]bool{}
	var out []Prefix
	for _, p := range labdata.AWS2018() {
		if p.Service == "EC2" && !seen[p.Prefix] {
			seen[p.Prefix] = true
			out = append(out, p)
		}
	}
	return out
}

// Roles of virtual addresses (Addr.Role); any string is allowed.
const (
	RoleRelay     = "relay"
	RoleMirror    = "mirror"
	RoleDoH       = "doh"
	RoleCDN       = "cdn"
	RoleBystander = "bystander"
)

// Addr is one allocated virtual public address.
type Addr struct {
	Addr netip.Addr
	Role string // "relay", "mirror", "doh", "cdn", "bystander", ...
	Name string // a label for reports
	From Prefix // the prefix it was drawn from
}

// Errors returned by the address plan.
var (
	ErrNoPrefix   = errors.New("vnet: no prefix matches")
	ErrExhausted  = errors.New("vnet: prefix exhausted")
	ErrBadPrefix  = errors.New("vnet: bad prefix")
	ErrNotVirtual = errors.New("vnet: address is not in the plan")
)

// Plan allocates virtual public addresses from real prefixes,
// deterministically for a seed: the same seed and the same sequence of
// calls give the same addresses. It is safe for concurrent use (though
// concurrent callers make the order, and so the result, racy).
type Plan struct {
	mu       sync.Mutex
	rng      *rand.Rand
	prefixes []Prefix
	used     map[netip.Addr]Addr
	order    []netip.Addr
}

// NewPlan returns a plan over prefixes. Prefixes must be valid; IPv4 and
// IPv6 are both accepted. Overlapping prefixes are allowed (the AWS file
// lists AMAZON supersets of service ranges); PrefixOf picks the longest.
func NewPlan(seed uint64, prefixes []Prefix) (*Plan, error) {
	if len(prefixes) == 0 {
		return nil, fmt.Errorf("%w: empty prefix list", ErrBadPrefix)
	}
	ps := make([]Prefix, 0, len(prefixes))
	for _, p := range prefixes {
		if !p.Prefix.IsValid() {
			return nil, fmt.Errorf("%w: invalid prefix", ErrBadPrefix)
		}
		p.Prefix = p.Prefix.Masked()
		if p.Prefix.Addr().IsLoopback() {
			return nil, fmt.Errorf("%w: %v is loopback", ErrBadPrefix, p.Prefix)
		}
		ps = append(ps, p)
	}
	return &Plan{
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		prefixes: ps,
		used:     make(map[netip.Addr]Addr),
	}, nil
}

// Alloc draws a fresh address for role from a prefix chosen uniformly
// among those for which match returns true (all of them when match is
// nil), uniformly within the prefix, skipping the prefix's first and
// last address.
func (p *Plan) Alloc(role, name string, match func(Prefix) bool) (Addr, error) {
	return p.alloc(p.rng, role, name, match)
}

// AllocWith is Alloc drawing from rng instead of the plan's own
// generator, so that a caller with draws of its own (an operator's
// standby addresses) leaves every other draw of the plan as it would have
// been.
func (p *Plan) AllocWith(rng *rand.Rand, role, name string, match func(Prefix) bool) (Addr, error) {
	return p.alloc(rng, role, name, match)
}

// alloc is Alloc drawing from rng.
func (p *Plan) alloc(rng *rand.Rand, role, name string, match func(Prefix) bool) (Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var cand []Prefix
	for _, pr := range p.prefixes {
		if match == nil || match(pr) {
			cand = append(cand, pr)
		}
	}
	if len(cand) == 0 {
		return Addr{}, ErrNoPrefix
	}
	for range 8 {
		pr := cand[rng.IntN(len(cand))]
		if a, err := p.allocFrom(rng, pr, pr.Prefix, role, name); err == nil {
			return a, nil
		}
	}
	// fall back to trying every candidate in order
	for _, pr := range cand {
		if a, err := p.allocFrom(rng, pr, pr.Prefix, role, name); err == nil {
			return a, nil
		}
	}
	return Addr{}, ErrExhausted
}

// AllocIn draws a fresh address for role uniformly inside pr, which need
// not be one of the plan's prefixes (bystanders live anywhere in a
// provider's published ranges); it is not loopback.
func (p *Plan) AllocIn(pr Prefix, role, name string) (Addr, error) {
	if !pr.Prefix.IsValid() || pr.Prefix.Addr().IsLoopback() {
		return Addr{}, fmt.Errorf("%w: %v", ErrBadPrefix, pr.Prefix)
	}
	pr.Prefix = pr.Prefix.Masked()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allocIn(pr, pr.Prefix, role, name)
}

// ErrTaken means an address Claim was given is allocated already.
var ErrTaken = errors.New("vnet: address already allocated")

// Claim records a, drawn by the caller inside pr (which need not be one of
// the plan's prefixes), as allocated for role, leaving the plan's own
// draws as they would have been: an address drawn from the caller's own
// generator (a residential pool) does not move every later one.
func (p *Plan) Claim(pr Prefix, a netip.Addr, role, name string) (Addr, error) {
	pr.Prefix = pr.Prefix.Masked()
	if !pr.Prefix.Contains(a) || a.IsLoopback() {
		return Addr{}, fmt.Errorf("%w: %v is not in %v", ErrBadPrefix, a, pr.Prefix)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, taken := p.used[a]; taken {
		return Addr{}, fmt.Errorf("%w: %v", ErrTaken, a)
	}
	out := Addr{Addr: a, Role: role, Name: name, From: pr}
	p.used[a] = out
	p.order = append(p.order, a)
	return out, nil
}

// Near draws a fresh address inside the /bits block around a (as an
// operator moving an endpoint within its provider does). a must be in the
// plan's prefixes; the block is clipped to the prefix a belongs to.
func (p *Plan) Near(a netip.Addr, bits int, role, name string) (Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr, ok := p.prefixOf(a)
	if !ok {
		return Addr{}, ErrNotVirtual
	}
	if bits < pr.Prefix.Bits() {
		bits = pr.Prefix.Bits()
	}
	blk, err := a.Prefix(bits)
	if err != nil {
		return Addr{}, fmt.Errorf("%w: %v", ErrBadPrefix, err)
	}
	return p.allocIn(pr, blk, role, name)
}

// allocIn picks a random unused host address in blk (a subset of pr).
func (p *Plan) allocIn(pr Prefix, blk netip.Prefix, role, name string) (Addr, error) {
	return p.allocFrom(p.rng, pr, blk, role, name)
}

// allocFrom is allocIn drawing from rng.
func (p *Plan) allocFrom(rng *rand.Rand, pr Prefix, blk netip.Prefix, role, name string) (Addr, error) {
	hostBits := blk.Addr().BitLen() - blk.Bits()
	if hostBits > 62 {
		hostBits = 62
	}
	size := uint64(1) << hostBits
	if size <= 2 {
		return Addr{}, ErrExhausted
	}
	for range 64 {
		off := 1 + rng.Uint64N(size-2)
		ad := addOffset(blk.Addr(), off)
		if _, taken := p.used[ad]; taken || !blk.Contains(ad) {
			continue
		}
		out := Addr{Addr: ad, Role: role, Name: name, From: pr}
		p.used[ad] = out
		p.order = append(p.order, ad)
		return out, nil
	}
	return Addr{}, ErrExhausted
}

// addOffset adds off to the low 64 bits of base.
func addOffset(base netip.Addr, off uint64) netip.Addr {
	b := base.AsSlice()
	carry := off
	for i := len(b) - 1; i >= 0 && carry > 0; i-- {
		s := uint64(b[i]) + carry&0xff
		b[i] = byte(s)
		carry = carry>>8 + s>>8
	}
	out, _ := netip.AddrFromSlice(b)
	return out
}

// PrefixOf returns the longest plan prefix containing a.
func (p *Plan) PrefixOf(a netip.Addr) (Prefix, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.prefixOf(a)
}

func (p *Plan) prefixOf(a netip.Addr) (Prefix, bool) {
	best, found := Prefix{}, false
	for _, pr := range p.prefixes {
		if pr.Prefix.Contains(a) && (!found || pr.Prefix.Bits() > best.Prefix.Bits()) {
			best, found = pr, true
		}
	}
	return best, found
}

// Lookup returns the allocation of a, if a was allocated.
func (p *Plan) Lookup(a netip.Addr) (Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.used[a]
	return v, ok
}

// Addrs returns all allocated addresses in allocation order, optionally
// only those of one role ("" for all).
func (p *Plan) Addrs(role string) []Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Addr
	for _, a := range p.order {
		if v := p.used[a]; role == "" || v.Role == role {
			out = append(out, v)
		}
	}
	return out
}

// Providers returns the distinct provider labels, sorted.
func (p *Plan) Providers() []string {
	seen := map[string]bool{}
	var out []string
	for _, pr := range p.prefixes {
		if !seen[pr.Provider] {
			seen[pr.Provider] = true
			out = append(out, pr.Provider)
		}
	}
	sort.Strings(out)
	return out
}
