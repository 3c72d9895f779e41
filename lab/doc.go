// Package lab runs the censorship lab: it builds a world from a scenario
// (lab/scenario) — an address plan drawn from real cloud prefixes, a censor
// model, the virtual network, one relay fleet per strategy (lab/fleet),
// bystander services and real clients — drives it with one tick loop on lab
// time, measures what each strategy's users and the censor's bystanders
// went through, and returns the report (lab/report).
//
// # Lab time
//
// Lab time is frozen at 0 while the world is built (relays, fleets, the
// regular clients' registration and first connection), then runs as wall
// time. The censor lets everything through until then: users registered
// and were online before the censorship began, so its first moves hit
// live connections (Recheck at the first tick) rather than a crowd still
// dialling. The tick loop
// acts at lab times k*Tick: every fleet's operator step and the censor's
// enumeration (Fleet.Tick), Recheck of live flows (a new block cuts open
// connections), the censor's due active probes; every BystanderProbeEvery a
// round of bystander fetches from every ISP and from an uncensored control,
// with the censor's verdicts taken at the round's lab time (vnet.ProbeAt),
// for the report; the services the round's blocks broke, by the censor's
// own verdicts (Censor.Broken: their owners' complaints, which a busy
// machine cannot change), reach the regulator (censor.Relieve, which may
// unlist networks) at the next round's time, the loop waiting for the
// round if it is late; every second a timeline sample and a Progress
// report.
//
// # Contacts as bridges
//
// With the scenario's bridges block (scenario.Bridges; samizdat only),
// startBridges runs, at lab time 0 after every client connected, a real
// bridge for a seeded draw of users: at home (bridge.Start forwarding
// through the user's own client, as `samizdat bridge` does) on an address
// of the user's ISP's synthetic residential pool, or abroad (from the
// user's bridge credential, bridge.StartAbroad, dialling relays from
// outside the censor) on a foreign one; both are mapped by vnet like every
// other service. Every user accepts its partner and its drawn contacts;
// the offers go end to end with the outbox and the run begins once they
// are held. The bridges offered to the censor's enumeration accounts (by
// the users drawn to befriend them) are reported to Censor.Enumerate then.
// The report counts the reconnects that came back through a bridge, and
// says for every stranded client which bridges it held and what stood in
// their way.
//
// # What is measured
//
//   - sent: messages a client queued (one to its partner every
//     MessageEvery, jittered ±50% with the seed); delivered: distinct
//     messages the partner received (the message id travels in the text);
//     latency from queueing to receipt, over delivered messages.
//   - reconnect: from the moment the censor cut a client's live connection
//     to its relay (vnet's OnCut: a flow to the endpoint it is connected to,
//     which the client may notice only much later), or else the moment it
//     lost it (EventDisconnected), to its next EventConnected. A cut is set
//     aside if a message written after it still reaches the client (the
//     flow cut was another one, e.g. a sealed-send channel). Outages still
//     open at the end, noticed or not, count with the rest of the run as
//     their time; those that began before the drain are "unrecovered" (the
//     stranded clients), those that began during it are still healing.
//   - way back (report.Strategy.RecoveredBy): each completed reconnect by
//     the path it came back on (a contact's bridge, the same endpoint,
//     another endpoint by transport, "standby_" when listed in advance)
//     and what the client got while cut off (a channel's answer, a
//     contact's manifest).
//   - cold start: from a cold-start client's first Init attempt to the
//     relay's durable acknowledgement of its first message, written to an
//     established user (its inviter); it retries Init every second, as a user
//     would, until the sending time is over. The median is over every
//     cold-start client: one that never got a message through counts with
//     the rest of the run.
//   - availability: the mean, over the per-second samples while clients
//     send, of the fraction of started clients with a connection the censor
//     has not cut. Per cohort and per ISP (report.Group), the fraction of
//     the members' samples since each started in which it was connected.
//   - bystanders broken: services that the control reached and
//     subscribers of at least one ISP could not, in the last probe round
//     (and the maximum over rounds). A service the control did not reach
//     either is not measured in that round (a busy machine is not a
//     censor). An ISP fetch counts as failed only when the censor blocked
//     its flow (vnet's ProbeResult.Censored: poisoned DNS, or a blocking
//     verdict at connect, on the request or by Recheck) or when it failed
//     again on a retry after the round, the control having reached the
//     service (vnet.Net.Measure). Bystanders are placed anywhere in the published ranges of
//     AWS (April 2018) and Google, four in five on AWS (bystanderWeights),
//     not only in the prefixes the fleets use.
//
// # Determinism
//
// The address plan, the censor's scheduled entries, its list, escalate and
// enumerate events and the operators' moves happen only during setup (in a
// fixed order) or in the tick loop at lab times k*Tick, from pure censor
// queries and probe results read at fixed lab times; with the same seed
// they are the same in every run, whatever the machine's load, as long as
// a probe's outcome follows the censor's verdict (a loopback service
// answers within the probe timeout, which the control checks). Client timing (dials, messages, reconnects), active
// probes and what the fully-encrypted heuristic flags depend on the
// scheduler and vary. TestCI checks this on the "ci" scenario.
//
// Safety: every socket the lab opens is on 127.0.0.0/8; vnet refuses, and
// counts, anything else, and Run reports that count as an invariant.
package lab
