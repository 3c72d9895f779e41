// Package scenario reads, validates and builds the censor lab's
// scenarios: JSON files that say who takes part in a run (clients per
// strategy, bystander services), for how long, against which censor (a
// preset of package censor plus overrides) and how each strategy's
// operator reacts. README.md in this directory documents every field with
// its unit, default and limits, and an example.
//
// # Format
//
// A scenario is one JSON object. Field names are snake_case; durations
// are strings in Go syntax with a unit ("90s", "250ms", "1m30s"); a bare
// number is rejected. Parse is strict: unknown fields, a key given twice,
// trailing data, a value of the wrong type, negative or absurd values
// (beyond the limits below) are errors that name the field, e.g.
// "scenario: censor.isps[1].compliance: 1.5 out of range [0, 1]". Absent
// or zero fields take the defaults.
//
//	name                   required; a-z, 0-9, '-', '_', '.'
//	description            what the scenario models, in words
//	seed                   int64; drives every seeded choice (default 0)
//	duration               how long clients send (100s; 1s..1h)
//	drain                  then no new sends, outboxes drain (10s; ..10m)
//	tick                   the runner's step (100ms; 10ms..10s)
//	clients                per strategy, even: 2i writes to 2i+1 (70; 2..5000)
//	message_every          per client, jittered ±50% (4s; 10ms..duration)
//	cold_start             extra clients per strategy, even (0)
//	cold_start_at          when they first run (before duration)
//	bystanders             ordinary services in the fleets' prefixes (200)
//	bystanders_behind_cdn  of those, behind the shared CDN edge (0)
//	bystander_probe_every  (2s; ≥100ms)
//	strategies             subset of static, telegram-2018, samizdat (all)
//	censor.preset          rkn-2018 | sni-dpi | probing | whitelist | none (rkn-2018)
//	censor.hour            lab duration of one real hour (250ms; 1ms..1h)
//	censor.registry_interval, censor.isps, censor.escalation,
//	censor.enumeration, censor.probing, censor.whitelist,
//	censor.block_built_in_at    overrides of the preset (see README.md)
//	censor.list_invite_at  the regulator lists every strategy's public
//	                       invite addresses at this time (none)
//	cdn.fronting, cdn.fronting_ends, cdn.why   the shared CDN provider's
//	                       policy on domain fronting (it fronts throughout)
//	operator.check_every   (500ms), operator.reaction_delay (1s),
//	operator.moves_per_minute   per strategy (30), operator.cohorts (4)
//	operator.standby       samizdat: a standby endpoint and mirror per cohort (false)
//	operators.STRATEGY     that strategy's own check_every, reaction_delay
//	                       or watch_registry, with "why": the fact behind it
//	censor.enumeration.spare_shared   the censor's accounts never report
//	                       the shared CDN, DoH and mirror hosts (false)
//	bridges.bridge_share, bridges.abroad_share   shares of samizdat users
//	                       running a bridge at home / abroad (0; 0..1)
//	bridges.contacts       accepted contacts besides the partner (0)
//	bridges.censor_friends users befriending each censor account (0)
//	bridges.censor_friend_share   the same as a share of the users (0; 0..1)
//
// Lab time is wall time since the run started. The censor's delays are
// lab time: the presets state them in real hours multiplied by
// censor.hour, so the 2018 timeline of days plays out in minutes while
// client timers, residual blocks and probe delays stay uncompressed.
//
// # Presets
//
// CensorConfig maps censor.preset to censor.RKN2018, censor.SNIDPI,
// censor.Probing2023 and censor.Whitelist2025 (SNIDPI plus the whitelist
// regime from censor.whitelist.from, allowing what the runner passes in);
// "none" keeps the 2018 ISPs so clients spread the same way but lists
// nothing. The overrides then replace only what they set. Defaults are the
// censor's realistic strength, not a strawman; see package censor for the
// facts each preset is tuned to.
//
// # Built-ins
//
// Builtin and Names give the scenarios embedded from builtin/*.json:
// rkn-2018, sni-dpi, probing, whitelist and cold-start (at least 200
// clients and 200 bystanders, 110 s of run time so that a run with setup
// and report finishes within 3 minutes on 2 cores), ci (25 s, a few
// clients, every mechanism; run by the lab's CI test) and quick (rkn-2018
// in 45 s, the `samizdat lab` showcase).
//
// # Determinism
//
// Parse, CensorConfig, ISPShares and ClientISPs are pure functions of
// their input: the same file and seed give the same censor configuration
// and the same spreading of clients over ISPs.
package scenario
