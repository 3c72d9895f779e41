// Package labdata embeds the real address data the censor lab is built on
// and parses it: AWS ip-ranges.json of April 2018 (before and nine days
// into the Russian block of Telegram), Google Cloud's cloud.json and
// Google's goog.json, the ranges blocked in Russia in April–May 2018, and
// per-dump statistics of the Russian registry mirror 2012–2014.
// README.md beside this file gives each file's provenance.
//
// The data are only ever used to place virtual addresses and count
// collateral damage; nothing here is dialled. Loaders reject malformed
// input with ErrFormat and never panic.
package labdata

import (
	"bytes"
	"embed"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed *.json *.csv
var files embed.FS

// ErrFormat is returned for input that does not parse.
var ErrFormat = errors.New("labdata: malformed input")

// Embedded file names.
const (
	AWS20180405   = "aws-ip-ranges-2018-04-05.json"
	AWS20180425   = "aws-ip-ranges-2018-04-25.json"
	GCP20250724   = "gcp-cloud-2025-07-24.json"
	Goog20240425  = "google-goog-2024-04-25.json"
	RKN2018       = "rkn-2018-telegram-ranges.csv"
	ZIHistoryStat = "zi-history-2012-2014-stats.csv"
)

// Prefix is one IPv4 prefix of a provider.
type Prefix struct {
	Prefix   netip.Prefix
	Provider string // "AWS", "Google Cloud", "Google", "Telegram"
	Region   string // AWS region or GCP scope, if known
	Service  string // AWS service (AMAZON, EC2, ...), if known
}

// Size returns the number of addresses in p.
func (p Prefix) Size() uint64 { return PrefixSize(p.Prefix) }

// PrefixSize returns the number of IPv4 addresses in p (0 for IPv6 or invalid).
func PrefixSize(p netip.Prefix) uint64 {
	if !p.IsValid() || !p.Addr().Is4() {
		return 0
	}
	return 1 << (32 - p.Bits())
}

// UnionSize returns the number of IPv4 addresses covered by ps, counting
// overlaps once (IPv6 prefixes are ignored).
func UnionSize(ps []netip.Prefix) uint64 {
	type span struct{ lo, hi uint64 }
	ss := make([]span, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() || !p.Addr().Is4() {
			continue
		}
		b := p.Masked().Addr().As4()
		lo := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		ss = append(ss, span{lo, lo + PrefixSize(p)})
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].lo < ss[j].lo })
	var n, end uint64
	for _, s := range ss {
		if s.hi <= end {
			continue
		}
		n += s.hi - max(s.lo, end)
		end = s.hi
	}
	return n
}

// Prefixes returns the bare prefixes of ps.
func Prefixes(ps []Prefix) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = p.Prefix
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%w: bad ipv4 prefix %q", ErrFormat, s)
	}
	return p.Masked(), nil
}

// ParseAWS parses an AWS ip-ranges.json document (IPv4 prefixes only).
// The same prefix may appear once per service (AMAZON and EC2, say).
func ParseAWS(b []byte) ([]Prefix, error) {
	var doc struct {
		Prefixes []struct {
			IPPrefix string `json:"ip_prefix"`
			Region   string `json:"region"`
			Service  string `json:"service"`
		} `json:"prefixes"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: aws json: %v", ErrFormat, err)
	}
	out := make([]Prefix, 0, len(doc.Prefixes))
	for _, x := range doc.Prefixes {
		p, err := parsePrefix(x.IPPrefix)
		if err != nil {
			return nil, err
		}
		out = append(out, Prefix{Prefix: p, Provider: "AWS", Region: x.Region, Service: x.Service})
	}
	return out, nil
}

// ParseGoogle parses Google's cloud.json or goog.json (IPv4 prefixes only;
// IPv6 entries are skipped). provider names the result ("Google Cloud" or
// "Google").
func ParseGoogle(b []byte, provider string) ([]Prefix, error) {
	var doc struct {
		Prefixes []struct {
			IPv4    string `json:"ipv4Prefix"`
			IPv6    string `json:"ipv6Prefix"`
			Service string `json:"service"`
			Scope   string `json:"scope"`
		} `json:"prefixes"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: google json: %v", ErrFormat, err)
	}
	var out []Prefix
	for _, x := range doc.Prefixes {
		if x.IPv4 == "" {
			if x.IPv6 == "" {
				return nil, fmt.Errorf("%w: google prefix without address", ErrFormat)
			}
			continue
		}
		p, err := parsePrefix(x.IPv4)
		if err != nil {
			return nil, err
		}
		out = append(out, Prefix{Prefix: p, Provider: provider, Region: x.Scope, Service: x.Service})
	}
	return out, nil
}

// Blocked is one line of the 2018 block list.
type Blocked struct {
	Prefix
	Group string // "telegram_own" or "cloud_collateral"
}

// ParseRKN parses rkn-2018-telegram-ranges.csv: ';'-separated, '#' comments,
// columns cidr;addresses;group;owner_hint;aws_2018_regions;aws_2018_services;gcp_2025_scopes.
// The addresses column must agree with the prefix.
func ParseRKN(b []byte) ([]Blocked, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.Comma, r.Comment, r.FieldsPerRecord = ';', '#', 7
	var out []Blocked
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: rkn csv: %v", ErrFormat, err)
		}
		p, err := parsePrefix(rec[0])
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseUint(rec[1], 10, 64)
		if err != nil || n != PrefixSize(p) {
			return nil, fmt.Errorf("%w: rkn csv: address count %q disagrees with %s", ErrFormat, rec[1], p)
		}
		region := rec[4]
		if region == "" {
			region = rec[6]
		}
		out = append(out, Blocked{Prefix: Prefix{Prefix: p, Provider: rec[3], Region: region, Service: rec[5]}, Group: rec[2]})
	}
	return out, nil
}

// Dump is one published dump of the Russian registry mirror.
type Dump struct {
	Time            time.Time // commit time of the dump
	Records         int
	DistinctIPs     int
	DistinctDomains int
	Added, Removed  int
}

// ParseZIStats parses zi-history-2012-2014-stats.csv (with its header row).
func ParseZIStats(b []byte) ([]Dump, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = 10
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%w: zi csv: %v", ErrFormat, err)
	}
	if len(rows) == 0 || rows[0][0] != "commit" {
		return nil, fmt.Errorf("%w: zi csv: missing header", ErrFormat)
	}
	out := make([]Dump, 0, len(rows)-1)
	for _, rec := range rows[1:] {
		var n [7]int
		for i, col := range []int{1, 4, 5, 6, 7, 8, 9} {
			v, err := strconv.Atoi(rec[col])
			if err != nil || v < 0 {
				return nil, fmt.Errorf("%w: zi csv: bad number %q", ErrFormat, rec[col])
			}
			n[i] = v
		}
		out = append(out, Dump{Time: time.Unix(int64(n[0]), 0).UTC(), Records: n[1], DistinctIPs: n[2],
			DistinctDomains: n[3], Added: n[5], Removed: n[6]})
	}
	return out, nil
}

// MedianGap returns the median time between consecutive dumps (sorted by time).
func MedianGap(d []Dump) time.Duration {
	if len(d) < 2 {
		return 0
	}
	ts := make([]time.Time, len(d))
	for i := range d {
		ts[i] = d[i].Time
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	gaps := make([]time.Duration, 0, len(ts)-1)
	for i := 1; i < len(ts); i++ {
		gaps = append(gaps, ts[i].Sub(ts[i-1]))
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	return gaps[len(gaps)/2]
}

func mustLoad[T any](name string, parse func([]byte) (T, error)) T {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("labdata: embedded file missing: " + name)
	}
	v, err := parse(b)
	if err != nil {
		panic("labdata: embedded file broken: " + name + ": " + err.Error())
	}
	return v
}

// AWS2018 returns the AWS IPv4 prefixes of 5 April 2018, eleven days
// before the block (1,114 entries, ~30.9 M distinct addresses).
func AWS2018() []Prefix { return mustLoad(AWS20180405, ParseAWS) }

// AWS2018Late returns the AWS IPv4 prefixes of 25 April 2018, nine days
// into the block: 31 entries (21 distinct prefixes) newer than AWS2018 (a censor working from a
// snapshot falls behind).
func AWS2018Late() []Prefix { return mustLoad(AWS20180425, ParseAWS) }

// GCP returns Google Cloud's IPv4 prefixes (2025).
func GCP() []Prefix {
	return mustLoad(GCP20250724, func(b []byte) ([]Prefix, error) { return ParseGoogle(b, "Google Cloud") })
}

// Goog returns Google's own IPv4 address space (2024): blocking it broke
// Google's services in Russia on 22 April 2018.
func Goog() []Prefix {
	return mustLoad(Goog20240425, func(b []byte) ([]Prefix, error) { return ParseGoogle(b, "Google") })
}

// RKNBlocked returns the 2018 block list: Telegram's own ranges and 25
// large cloud blocks (~15.27 M addresses; approximate, see README.md).
func RKNBlocked() []Blocked { return mustLoad(RKN2018, ParseRKN) }

// ZIDumps returns the registry mirror's per-dump statistics (755 dumps,
// Nov 2012 – Apr 2014).
func ZIDumps() []Dump { return mustLoad(ZIHistoryStat, ParseZIStats) }
