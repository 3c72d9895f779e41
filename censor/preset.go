package censor

import (
	"net/netip"
	"time"

	"samizdat/lab/labdata"
)

// DefaultHour is the lab duration of one real hour in the presets: the
// 2018 timeline (days) plays out in a lab run of minutes.
const DefaultHour Time = 250 * time.Millisecond

// Throttle2021 is the rate of the March 2021 throttling of Twitter in
// Russia, ~150 kbit/s, in bytes per second.
const Throttle2021 = 150_000 / 8

// ISPs2018 returns five ISPs modelled on Russia in April 2018, with delays
// in units of hour: the large operators applied Telegram's subnets within
// hours of the 16 April listing, the law allows 24 hours, small regional
// operators lagged and missed a few entries. Most dropped packets silently;
// names were also poisoned in DNS. None inspects SNI: the block of 2018 was
// by address and DNS, and SNI matching came with the TSPU boxes from 2019
// (SNIDPI turns it on).
func ISPs2018(hour Time) []ISP {
	return []ISP{
		{Name: "national", Delay: 1 * hour, Compliance: 1, Method: MethodDrop, PoisonDNS: true},
		{Name: "mobile-a", Delay: 2 * hour, Compliance: 1, Method: MethodReset, PoisonDNS: true},
		{Name: "mobile-b", Delay: 3 * hour, Compliance: 1, Method: MethodDrop, PoisonDNS: true},
		{Name: "regional", Delay: 8 * hour, Compliance: 0.98, Method: MethodBlockPage, PoisonDNS: true},
		{Name: "small", Delay: 20 * hour, Compliance: 0.95, Method: MethodDrop},
	}
}

// Providers2018 returns the provider prefixes the 2018 censor knew:
// AWS (5 April 2018 snapshot), Google Cloud, Google and Telegram's own
// ranges.
func Providers2018() []labdata.Prefix {
	ps := labdata.AWS2018()
	ps = append(ps, labdata.GCP()...)
	ps = append(ps, labdata.Goog()...)
	for _, b := range labdata.RKNBlocked() {
		if b.Group == "telegram_own" {
			ps = append(ps, b.Prefix)
		}
	}
	return ps
}

// Blocks2018 returns the 2018 block list as registry entries: Telegram's
// own subnets listed at 0 (16 April 2018) and the cloud blocks one day
// later (about 16 M addresses by 17 April).
func Blocks2018(hour Time) []Entry {
	var out []Entry
	for _, b := range labdata.RKNBlocked() {
		t, reason := Time(0), "regulator: telegram"
		if b.Group != "telegram_own" {
			t, reason = 24*hour, "regulator: cloud "+b.Provider
		}
		out = append(out, CIDREntry(b.Prefix.Prefix, t, reason))
	}
	return out
}

// Relief2018 is the share of services broken above which the 2018
// regulator unlists networks. It is an estimate, not a measurement: by 17
// April 2018, a day into the cloud blocks, banks, Viber, online schools,
// game networks and retail tills had reported outages and the list was
// cut from ~20 M to ~16 M addresses (a fifth of it); we take "a quarter of
// the cloud-hosted services people use are broken" as the point where the
// complaints forced that.
const Relief2018 = 0.25

// RKN2018 returns the default scenario censor, modelled on Russia's block
// of Telegram in April 2018 with time compressed so one real hour lasts
// hour (DefaultHour if 0):
//
//   - registry versions twice a day (12 h);
//   - the five ISPs of ISPs2018 (1–20 h delays, 95–100% compliance);
//   - Telegram's subnets listed at once, the 2018 cloud blocks a day later;
//   - enumeration: the censor's own clients learn endpoints and list them
//     2 h later; escalation after 3 addresses inside one network (the
//     provider's announced prefix, or the /16 around the address if that
//     is wider) to the /14 around each new one, after 6 to the /11,
//     capped at 20 M addresses (the 2018 peak);
//   - relief: when more than Relief2018 of the bystander services the
//     lab probes are broken, the regulator unlists the networks that
//     break the most of them;
//   - names learned by enumeration are poisoned in DNS (no ISP runs DPI,
//     so the SNI entries listed beside them stay dormant until a preset
//     with DPI, such as SNIDPI, enforces them).
//
// No fingerprints, fully-encrypted heuristic, probing, QUIC blocking,
// throttling or whitelist: 2018 Russia did not use them against Telegram.
// The other presets add them.
func RKN2018(seed int64, hour Time) Config {
	if hour <= 0 {
		hour = DefaultHour
	}
	return Config{
		Seed:             seed,
		Hour:             hour,
		RegistryInterval: 12 * hour,
		ISPs:             ISPs2018(hour),
		Initial:          Blocks2018(hour),
		Providers:        Providers2018(),
		Escalation:       Escalation{Enabled: true, K: 3, ScopeBits: 16, Levels: []int{14, 11}, MaxBlocked: 20_000_000},
		Enumeration:      Enumeration{Enabled: true, Delay: 2 * hour},
		Relief:           Relief{Enabled: true, Threshold: Relief2018},
		StubAddr:         netip.MustParseAddr("198.51.100.1"),
	}
}

// SNIDPI returns RKN2018 plus the DPI of the TSPU era (2019 on): the
// regulator runs the boxes itself, so every ISP inspects first packets and
// enforces within minutes, in full; a Noise IK fingerprint resets; QUIC is
// dropped; registry versions are published hourly.
func SNIDPI(seed int64, hour Time) Config {
	c := RKN2018(seed, hour)
	c.RegistryInterval = c.Hour
	for i := range c.ISPs {
		c.ISPs[i].DPI = true
		c.ISPs[i].Compliance = 1
		c.ISPs[i].Delay = c.Hour / 12
	}
	c.Fingerprints = []Fingerprint{{Name: "noise-ik", Match: LooksLikeNoiseIK, Action: Reset}}
	c.Relief = Relief{} // the TSPU-era regulator has not backed down
	c.QUIC = QUIC{Block: true}
	return c
}

// Probing2023 returns SNIDPI plus the GFW of 2023: the fully-encrypted
// heuristic (26% of flagged flows dropped, 180 s residual block) and active
// probing of flagged endpoints 1 s later (probe results are listed through
// the registry, published every 5 minutes of compressed time). The residual
// block and the probe delay act on connection time scales and are not
// compressed: they are lab seconds, which does not flatter the client.
func Probing2023(seed int64, hour Time) Config {
	c := SNIDPI(seed, hour)
	c.RegistryInterval = c.Hour / 12
	c.Fingerprints[0].Probe = true
	c.FullyEncrypted = FullyEncrypted{Enabled: true, BlockFraction: 0.26, Residual: 180 * time.Second, Probe: true}
	c.Probing = Probing{Enabled: true, Delay: time.Second}
	return c
}

// Whitelist2025 returns SNIDPI under a whitelist regime from from on: only
// destinations in allowed (and, for flows that show one, names in names)
// are reachable.
func Whitelist2025(seed int64, hour, from Time, allowed []netip.Prefix, names []string) Config {
	c := SNIDPI(seed, hour)
	c.Whitelist = Whitelist{Enabled: true, From: from, Prefixes: allowed, Names: names}
	return c
}
