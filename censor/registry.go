package censor

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrBadEntry is returned for a registry entry that cannot be matched.
var ErrBadEntry = errors.New("censor: bad registry entry")

// Kind is the type of a registry entry.
type Kind uint8

// Registry entry kinds. The Russian registry of 2012–2018 held IP addresses,
// subnets, domains, domain masks ("*.example.org") and URLs; SNI suffix and
// substring rules are the DPI-era additions (2021 throttling of Twitter
// matched the substring "t.co").
const (
	KindIP           Kind = iota + 1 // one address (Prefix is a /32 or /128)
	KindCIDR                         // a subnet
	KindDomain                       // a name and nothing beneath it
	KindDomainMask                   // "*.example.org": the name and everything beneath it
	KindSNI                          // SNI suffix rule (label-aligned, like a mask)
	KindSNISubstring                 // SNI substring rule (crude, and prone to collateral)
)

// String returns the kind's lowercase name.
func (k Kind) String() string {
	switch k {
	case KindIP:
		return "ip"
	case KindCIDR:
		return "cidr"
	case KindDomain:
		return "domain"
	case KindDomainMask:
		return "mask"
	case KindSNI:
		return "sni"
	case KindSNISubstring:
		return "sni-substring"
	}
	return "unknown"
}

// Entry is one line of the registry.
type Entry struct {
	Kind   Kind
	Prefix netip.Prefix // KindIP and KindCIDR
	Name   string       // the other kinds; lowercase, without a trailing dot
	// Listed is when the regulator listed the entry. It reaches ISPs with
	// the first registry version published at or after Listed, and each
	// ISP applies that version after its own delay.
	Listed Time
	// Unlisted is when the entry was removed (0: never). In January 2019
	// about 2.7 M Amazon addresses were unlisted.
	Unlisted Time
	Reason   string // who asked, for reports: "regulator", "enumeration", "probe", "escalation"
}

func (e Entry) key() string {
	if e.Kind == KindIP || e.Kind == KindCIDR {
		return e.Kind.String() + ":" + e.Prefix.String()
	}
	return e.Kind.String() + ":" + e.Name
}

func (e Entry) activeAt(t Time) bool {
	return e.Listed <= t && (e.Unlisted == 0 || e.Unlisted > t)
}

// IPEntry returns a KindIP entry for addr listed at t.
func IPEntry(addr netip.Addr, t Time, reason string) Entry {
	return Entry{Kind: KindIP, Prefix: netip.PrefixFrom(addr, addr.BitLen()), Listed: t, Reason: reason}
}

// CIDREntry returns a KindCIDR entry for p (masked) listed at t.
func CIDREntry(p netip.Prefix, t Time, reason string) Entry {
	return Entry{Kind: KindCIDR, Prefix: p.Masked(), Listed: t, Reason: reason}
}

// NameEntry returns a name-based entry (domain, mask, sni, sni-substring).
// A mask may be written "*.example.org" or "example.org".
func NameEntry(k Kind, name string, t Time, reason string) Entry {
	return Entry{Kind: k, Name: name, Listed: t, Reason: reason}
}

func (e *Entry) normalize() error {
	switch e.Kind {
	case KindIP:
		if !e.Prefix.IsValid() || e.Prefix.Bits() != e.Prefix.Addr().BitLen() {
			return fmt.Errorf("%w: ip entry needs a single address", ErrBadEntry)
		}
	case KindCIDR:
		if !e.Prefix.IsValid() {
			return fmt.Errorf("%w: cidr entry needs a prefix", ErrBadEntry)
		}
		e.Prefix = e.Prefix.Masked()
	case KindDomain, KindDomainMask, KindSNI, KindSNISubstring:
		n := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(e.Name)), ".")
		if e.Kind == KindDomainMask || e.Kind == KindSNI {
			n = strings.TrimPrefix(n, "*.")
		}
		if n == "" || strings.ContainsAny(n, "* \t\r\n") {
			return fmt.Errorf("%w: %s entry needs a name", ErrBadEntry, e.Kind)
		}
		e.Name = n
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrBadEntry, e.Kind)
	}
	if e.Unlisted != 0 && e.Unlisted <= e.Listed {
		return fmt.Errorf("%w: unlisted before listed", ErrBadEntry)
	}
	return nil
}

// matchName reports whether entry e matches the host name (lowercase).
func (e Entry) matchName(host string) bool {
	if host == "" {
		return false
	}
	switch e.Kind {
	case KindDomain:
		return host == e.Name
	case KindDomainMask, KindSNI:
		return host == e.Name || strings.HasSuffix(host, "."+e.Name)
	case KindSNISubstring:
		return strings.Contains(host, e.Name)
	}
	return false
}

// Registry is the regulator's list. It publishes numbered versions every
// Interval of lab time; an ISP only ever sees published versions. In
// 2012–2014 the public mirror of the Russian registry saw a median of 4 h
// between dumps (quartiles 1–19 h); in 2018 it was updated about twice a day.
//
// A Registry is not safe for concurrent use on its own; Censor guards it.
type Registry struct {
	Interval Time // 0: every change is published at once
	entries  []Entry
	byKey    map[string]int // latest listing of each key
}

// Add lists e. Listing the same key again while an earlier listing is
// still in force is a no-op.
func (r *Registry) Add(e Entry) error {
	if err := e.normalize(); err != nil {
		return err
	}
	k := e.key()
	if i, ok := r.byKey[k]; ok && r.entries[i].Unlisted == 0 && r.entries[i].Listed <= e.Listed {
		return nil
	}
	if r.byKey == nil {
		r.byKey = make(map[string]int)
	}
	r.byKey[k] = len(r.entries)
	r.entries = append(r.entries, e)
	return nil
}

// Remove unlists, at t, every entry in force for which match returns true,
// and returns how many.
func (r *Registry) Remove(t Time, match func(Entry) bool) int {
	n := 0
	for i := range r.entries {
		e := &r.entries[i]
		if e.Unlisted == 0 && match(*e) {
			if e.Listed >= t {
				e.Unlisted = e.Listed + 1
			} else {
				e.Unlisted = t
			}
			n++
		}
	}
	return n
}

// Published returns the number and the publication time of the version in
// force at t. Version n is published at n*Interval.
func (r *Registry) Published(t Time) (version int64, at Time) {
	if t < 0 {
		t = 0
	}
	if r.Interval <= 0 {
		return int64(t), t
	}
	n := int64(t / r.Interval)
	return n, Time(n) * r.Interval
}

// Version returns the entries of the version in force at t.
func (r *Registry) Version(t Time) []Entry {
	_, at := r.Published(t)
	var out []Entry
	for _, e := range r.entries {
		if e.activeAt(at) {
			out = append(out, e)
		}
	}
	return out
}

// Entries returns every entry ever listed, in listing order.
func (r *Registry) Entries() []Entry { return append([]Entry(nil), r.entries...) }

// Len returns the number of entries ever listed.
func (r *Registry) Len() int { return len(r.entries) }
