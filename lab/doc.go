// Package lab runs the censorship lab: it builds a world from a scenario
// (lab/scenario) — an address plan drawn from real cloud prefixes, a censor
// model, the virtual network, one relay fleet per strategy (lab/fleet),
// bystander services and real clients — drives it with one tick loop on lab
// time, measures what each strategy's users and the censor's bystanders
// went through, and returns the report (lab/report).
//
// Determinism: the address plan, the censor's scheduled entries, the
// operator's moves and the censor's list, escalate and enumerate events
// happen only in the tick loop, at lab times k*Tick, from pure censor
// queries; with the same seed they are the same in every run. Client
// timing (dials, messages, reconnects), active probes and what the
// fully-encrypted heuristic flags depend on the scheduler and vary.
//
// Safety: every socket the lab opens is on 127.0.0.0/8; vnet refuses, and
// counts, anything else, and Run reports that count as an invariant.
package lab
