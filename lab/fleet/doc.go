// Package fleet runs the censorship lab's relay fleets and the shared
// infrastructure they lean on, on the virtual network of lab/vnet.
//
// Shared infrastructure (StartShared), used by every strategy:
//
//   - a CDN edge: an HTTPS reverse proxy (transport/front/cdntest) that
//     terminates TLS for any SNI name and routes on the Host header, at a
//     virtual address on port 443; on port 80 of the same address it serves
//     the CDN-hosted bystander sites (plain HTTP, as vnet's prober expects),
//     so blocking the edge's address breaks them all;
//   - a DNS-over-HTTPS resolver (manifest/channel/channeltest) at its own
//     virtual address, answering TXT queries for the strategies' config
//     names with their signed manifests;
//   - an HTTPS mirror host serving every strategy's manifests by path.
//
// The edge and the resolver take addresses from Google prefixes of the plan
// when it has any (big shared prefixes: blocking them is costly, as on 16–22
// April 2018), else from any prefix; the mirror takes any prefix. Their
// names resolve through the censor (Censor.SetName), so poisoning counts.
//
// A Fleet (Start) is one strategy's network: a real relay.Server with a
// SQLite store in Config.Dir, its endpoints run by relay/endpoints (each
// listening on loopback and mapped onto a virtual public address with
// vnet.Net.Map before it is announced), manifests signed with the fleet's
// own network key, published to its channels, and an operator that moves
// blocked endpoints. The strategies:
//
//   - "static": one relay, one tcp endpoint, no channels; never moves.
//   - "telegram-2018": tcp endpoints only, every client sees every one;
//     address hopping as Telegram did in April 2018 (a new address in
//     another provider's ranges, else anywhere but the /16 of the old
//     one); config in DNS TXT through the shared resolver, plus the
//     relay's in-band push.
//   - "samizdat": cohorts (Operator.Cohorts, default 4); each cohort has a
//     tcp and a wss endpoint of its own, and every client shares a front
//     endpoint behind the CDN edge; per-cohort manifests over DoH TXT, the
//     shared mirror and a front to it, plus push; the client's racing dialer
//     with its per-network memory. New addresses are drawn from the whole
//     plan, spreading moves across providers. Each cohort also has a mirror
//     of its own (an HTTPS server with a pinned key, named by address) that
//     only its cohort's manifests list, drawn at start from a prefix where
//     the published registry lists no network; the shared channels still
//     serve clients whose cohort's mirror they do not know yet.
//
// Invites: Invite is the public manifest (samizdat: the front endpoint and
// the shared channels). New users are invited by existing ones, so
// InviteFor(n) is a personal invite from a user of the inviter's cohort
// (InviteCohort: a fixed hash of n) as the fleet started: the cohort's
// manifest (its endpoints, the shared channels and its own mirror) and an
// inviter token the relay sealed that places its holder in that cohort
// (relay/invitation), so the relay's cohort pushes reach it. Users who
// join through Invite are placed by the relay's keyed hash of their device
// key under Config.CohortKey (seeded). BuiltIn lists every endpoint address of
// every invite the fleet hands out (a regulator that collected invites),
// not the channels.
//
// The operator (Fleet.Tick) acts only at the lab times the runner passes
// in. It does not ask the censor what is blocked: every ProbeEvery its
// vantage points (a subscriber of each watched ISP and an uncensored
// control, vantage.go) probe every live endpoint and mirror through vnet
// with the censor's verdicts of that lab time (vnet.Net.Measure), and the
// findings reach it when the next round starts; with
// Operator.WatchRegistry it also reads the published registry (before
// ISPs enforce it: the 2018 registry leaked to a public mirror). A new
// address is known only by the registry until a round probes it.
// An endpoint blocked for ReactionDelay is replaced: a new address that
// the published registry (if watched) does not list is added (mapped before it is announced),
// then the old one is retired, at most MovesPerMinute new addresses per
// minute of lab time (0: never). When the budget is short, every cohort
// left with no unblocked endpoint gets one first, then blocked cohort
// mirrors move (like endpoints, to an address in a prefix the published
// registry lists no network in; a mirror listed again soon after each
// move waits longer each time, up to 64×3 s), and further moves keep
// one per cohort in reserve. If no unblocked address turns up in a few
// draws (a whitelist), the check ends there. Front
// endpoints share the edge's address; moving them cannot help, so the
// operator leaves them. Blocks by DPI (SNI, fingerprints) are invisible to
// this monitoring and a new address would not escape them. Nothing depends
// on client timing, so with the same censor state and times the moves are
// the same.
//
// The censor's enumeration clients (Config.EnumClients) are modelled
// without sockets: each joins through the relay's own invite, as any user
// may, and sits where the relay's keyed placement puts it (EnumCohorts;
// the censor cannot choose, so 16 accounts cover about 10 of 16 cohorts,
// not all), or in the only cohort; whenever the fleet publishes, reads its cohort's manifest as a
// user would get it and reports every address (Censor.Enumerate) and name
// (Censor.EnumerateName) it lists — endpoint addresses including the CDN
// edge's, SNI and Host names, and channel hosts and DNS names (its
// cohort's own mirror among them). Endpoints and mirrors of other cohorts
// stay unknown to it. This is literal on purpose: whether
// listing a shared address is worth the collateral is the censor's choice,
// and the lab's report shows the cost; Config.SpareShared models a censor
// that spares the shared services.
//
// With Operator.Standby (samizdat) every cohort also keeps a standby
// endpoint, marked in its manifests so that clients dial it after the
// others, and a second mirror, each drawn in another provider than the
// cohort's own where the plan has one (standby.go). They are listed
// before anything needs them and paid from MovesPerMinute like moves
// (Tick reports them as moves without an old address). When an endpoint
// of the cohort is due for a move and its standby is not blocked, the
// standby is promoted in its place (Move.Promoted: no new address, and
// the cohort's clients already know it) and a new standby is drawn. The
// standby draws come from a generator of their own (Config.Seed), so the
// plan's other draws stay as they were.
//
// Every socket is on 127.0.0.0/8: relays, the edge, the resolver and the
// mirrors listen there, and clients reach them only through vnet.
package fleet
