// Package censor models a national censor for the samizdat lab: the
// blocking system Russia turned on Telegram in April 2018, and the stronger
// ones that followed (the TSPU's DPI, the GFW's fully-encrypted-traffic
// heuristic and active probing, whitelist shutdowns). It is pure logic: no
// sockets, no wall clock, no global randomness. The lab's virtual network
// (lab/vnet) asks a Decider about every flow and DNS query and enforces
// the verdict on loopback connections; the lab feeds the censor what its own
// clients learn (Enumerate) and runs its probes (RunProbes with a Prober).
//
// # The model
//
// A Registry holds entries (address, subnet, domain, domain mask, SNI
// suffix or substring), each with the lab time it was listed and, perhaps,
// unlisted. The registry publishes a version every RegistryInterval; each
// ISP enforces the version published Delay earlier, applies a seeded
// fraction (Compliance) of its entries, and enforces them by its Method:
// silent drop, reset or block page, plus DNS poisoning (PoisonDNS) and, with
// DPI, SNI/Host matching and first-packet rules. Escalation widens single
// addresses to the /14 and then the /11 around them after K moves inside
// one network of a provider (its announced prefix, or a /16 of it), under a
// cap on the total. Relief unlists networks when the collateral damage the
// lab measures passes a threshold, as the regulator did in April 2018. Every decision is a function of the
// seed, the lab time passed in and the order of state-changing calls.
//
// # The 2018 facts the presets are tuned to
//
// The court order came on 13 April 2018. On 16 April the regulator listed
// Telegram's own subnets (more than 9,000 addresses) and operators applied
// them within hours; next came ~600 thousand Amazon addresses, then
// Google's. About 16 M addresses were blocked by 17 April, 18 M before
// 19 April and close to 20 M at the peak, against ~38 thousand in all the
// years before. Operators must apply registry updates within 24 hours; the
// registry was updated about twice a day (its 2012–2014 public mirror saw a
// median of 4 h between dumps). Collateral damage included Viber,
// Odnoklassniki, online schools, game networks, payment services, retail
// tills and, on 22 April, Google. About 2.7 M Amazon addresses were unblocked
// in January 2019; the ban was lifted on 18 June 2020. RKN2018 encodes this
// with time compressed (DefaultHour: one hour is 250 ms of lab time); the
// data behind it is embedded in lab/labdata.
//
// Later capabilities are tuned to published measurements: Russia's March
// 2021 throttling of Twitter to ~150 kbit/s by SNI substring; the GFW's
// fully-encrypted-traffic heuristic of 2021–2023 (Wu et al., USENIX Security
// 2023: popcount and printable-byte exemptions, ~26% of flagged flows
// blocked, 180 s residual blocking); active probing with replays; QUIC
// blocking; and mobile whitelists (Russia, 2025).
//
// # Not flattering the client
//
// The defaults are the censor's realistic strength, not a strawman: large
// ISPs apply lists within an hour of publication and in full, escalation
// eats whole cloud prefixes, enumerated endpoints die within hours, and the
// DPI presets recognise a length-prefixed Noise IK first message (what
// samizdat's noisechan sends) with a rule any DPI vendor could write.
// Connection-scale mechanisms (residual blocks, probe delays) are not
// compressed.
package censor
