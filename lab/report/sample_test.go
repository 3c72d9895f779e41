package report

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// sampleReport builds a plausible three-strategy run (an rkn-2018-like
// story: the static relay dies at the first listing, telegram-2018 hops
// until escalation eats its prefixes, samizdat dips and recovers) so the
// page can be looked at and its golden file kept. Deterministic.
func sampleReport() *Report {
	rng := rand.New(rand.NewPCG(1, 2))
	const seconds = 90
	r := &Report{
		Scenario: "rkn-2018", Seed: 42, DurationMS: seconds * 1000,
		Strategies: map[string]Strategy{},
		Censor: Censor{
			BlockedAddresses: 15_900_000, BlockedPrefixes: 61, Bystanders: 200, BystandersBroken: 37, CollateralRatio: 37.0 / 200,
			MaxBystandersBroken: 52, ByISP: map[string]int{"big-1": 30, "big-2": 22, "small": 9}, Entries: 143,
		},
	}
	// Connected fraction per strategy per second.
	conn := func(name string, t int) float64 {
		switch name {
		case "static":
			if t < 12 {
				return 1
			}
			return 0
		case "telegram-2018":
			switch {
			case t < 12:
				return 1
			case t < 40:
				return 0.55 + 0.4*math.Abs(math.Sin(float64(t)/3))
			case t < 55:
				return 0.3 + 0.1*math.Sin(float64(t))
			default:
				return 0.08
			}
		default:
			switch {
			case t == 12 || t == 41:
				return 0.62
			case t == 13 || t == 42:
				return 0.9
			default:
				return 0.97 + 0.03*math.Sin(float64(t))
			}
		}
	}
	names := []string{"static", "telegram-2018", "samizdat"}
	delivered := map[string]int{}
	for t := 0; t <= seconds; t++ {
		smp := Sample{TMS: int64(t) * 1000, Connected: map[string]float64{}, Delivered: map[string]int{}}
		for _, n := range names {
			c := conn(n, t)
			smp.Connected[n] = c
			delivered[n] += int(c * 33)
			smp.Delivered[n] = delivered[n]
		}
		switch {
		case t < 12:
			smp.BlockedAddresses = 40_000
		case t < 30:
			smp.BlockedAddresses = 49_000 + uint64(t-12)*33_000
		case t < 45:
			smp.BlockedAddresses = 650_000 + uint64(t-30)*600_000
		default:
			smp.BlockedAddresses = 15_900_000
		}
		switch {
		case t >= 45:
			smp.BystandersBroken = min(52, 20+(t-45)*2)
			if t > 75 {
				smp.BystandersBroken = 37
			}
		case t >= 30:
			smp.BystandersBroken = 6 + (t-30)/2
		case t >= 12:
			smp.BystandersBroken = 2
		}
		r.Timeline = append(r.Timeline, smp)
	}
	lognormal := func(median, sigma float64) float64 { return median * math.Exp(sigma*rng.NormFloat64()) }
	var recSz, recTg, recSt []float64
	for range 140 {
		recSz = append(recSz, math.Round(lognormal(1100, 0.55)))
	}
	for range 80 {
		recTg = append(recTg, math.Round(lognormal(7500, 0.7)))
	}
	// Unrecovered outages count in the percentiles with the rest of the
	// run, but not in ReconnectMS.
	unrecTg := slices.Clone(recTg)
	for range 12 {
		unrecTg = append(unrecTg, 35_000)
	}
	for range 66 {
		recSt = append(recSt, 78_000)
	}
	cold := 3900.0
	mk := func(n string, sent, clients, moves int, lat50, lat99 float64, rec, all []float64, unrecovered int) {
		var sum float64
		for _, s := range r.Timeline {
			sum += s.Connected[n]
		}
		st := Strategy{
			Sent: sent, Delivered: delivered[n], LatencyP50MS: lat50, LatencyP99MS: lat99,
			ReconnectP50MS: Percentile(all, 50), ReconnectP99MS: Percentile(all, 99), Reconnects: len(rec),
			Unrecovered: unrecovered, ReconnectMS: rec, Clients: clients, Moves: moves,
			Availability: sum / float64(len(r.Timeline)),
		}
		st.DeliveryRatio = float64(st.Delivered) / float64(sent)
		r.Strategies[n] = st
	}
	mk("static", 3000, 66, 0, 180, 2400, nil, recSt, 66)
	mk("telegram-2018", 3000, 66, 23, 420, 31_000, recTg, unrecTg, 12)
	mk("samizdat", 3000, 66, 17, 240, 6100, recSz, recSz, 0)
	sz := r.Strategies["samizdat"]
	sz.ColdStartMS = &cold
	sz.ColdStartFailed = 1
	sz.Cohorts = []Cohort{
		{Cohort: 1, Joined: true, Group: Group{Clients: 4, Sent: 180, Delivered: 131, DeliveryRatio: 131.0 / 180, Availability: 0.912}},
		{Cohort: 2, Group: Group{Clients: 5, Sent: 230, Delivered: 230, DeliveryRatio: 1, Availability: 0.998}},
	}
	sz.RecoveredBy = map[string]int{"same_endpoint": 5, "wss": 6, "standby_wss_after_channel_refresh": 4, "front": 2}
	sz.ISPs = []ISP{{ISP: "mts", Group: Group{Clients: 9, Sent: 410, Delivered: 361, DeliveryRatio: 361.0 / 410, Availability: 0.96}}}
	r.Strategies["samizdat"] = sz
	// Two of telegram-2018's stranded clients, as the lab describes them.
	tg := r.Strategies["telegram-2018"]
	tg.Stranded = []Stranded{
		{Client: "telegram-2018/u3", ISP: "rostelecom", CohortJoined: true, DownAtMS: 21_400, DownBy: "cut 52.94.248.7:443 drop",
			LastFailure: "tcp-timeout", Refreshes: 9, RefreshesFailed: 9,
			Paths: []Paths{{Kind: "doh channel", State: "listed", ListedBy: "regulator", Count: 1},
				{Kind: "tcp", State: "listed", ListedBy: "enumeration", Count: 2}, {Kind: "tcp", State: "retired", Count: 4}}},
		{Client: "telegram-2018/u8", ISP: "mts", CohortJoined: true, DownAtMS: 30_050, DownBy: "disconnect",
			LastFailure: "refused", Refreshes: 4, RefreshesFailed: 3, Paths: []Paths{{Kind: "tcp", State: "retired", Count: 3}}},
	}
	tg.RecoveredBy = map[string]int{"tcp_after_channel_refresh": 20, "same_endpoint": 3}
	tg.ISPs = []ISP{
		{ISP: "mts", Group: Group{Clients: 33, Sent: 1500, Delivered: 1100, DeliveryRatio: 1100.0 / 1500, Unrecovered: 1, Availability: 0.61}},
		{ISP: "rostelecom", Group: Group{Clients: 33, Sent: 1500, Delivered: 1250, DeliveryRatio: 1250.0 / 1500, Unrecovered: 1, Availability: 0.55}},
	}
	r.Strategies["telegram-2018"] = tg

	// The censor: a first listing, the cloud lists, two escalations,
	// enumeration after each publish, a few probes; operators move.
	ev := func(ms int64, who, what, detail string) {
		r.Events = append(r.Events, Event{TMS: ms, Who: who, What: what, Detail: detail})
	}
	ev(11_750, "censor", "list", "149.154.160.0/20 (court order)")
	for i := range 40 {
		ev(12_000+int64(i)*450, "censor", "list", fmt.Sprintf("52.%d.0.0/16 (amazon)", 10+i))
	}
	ev(30_000, "censor", "escalate", "52.0.0.0/11 (k=3 moves inside amazon)")
	ev(44_500, "censor", "escalate", "35.184.0.0/13 (k=3 moves inside google)")
	for i := range 9 {
		ev(15_000+int64(i)*8000, "censor", "enumerate", fmt.Sprintf("54.%d.7.%d:443 (enumeration client)", 200+i, i+3))
	}
	for i := range 5 {
		ev(20_000+int64(i)*13_000, "censor", "probe", fmt.Sprintf("probe 18.%d.1.1:443 replay", i))
	}
	ev(70_000, "censor", "unlist", "52.95.0.0/16 (court appeal)")
	for i := range 23 {
		ev(13_000+int64(i)*1900, "telegram-2018", "move", fmt.Sprintf("tcp 52.%d.0.9:443 → 52.%d.1.9:443 (blocked at big-1)", 20+i, 21+i))
	}
	for i := range 17 {
		ev(12_600+int64(i)*4100, "samizdat", "move", fmt.Sprintf("wss 3.%d.0.4:443 → 3.%d.0.5:443 (blocked at big-2)", i, i))
	}
	slices.SortStableFunc(r.Events, func(a, b Event) int { return cmp.Compare(a.TMS, b.TMS) })
	r.Targets = []Target{
		{Name: "delivered", Strategy: "samizdat", Want: "≥ 99%", Got: sz.DeliveryRatio * 100, Unit: "%", Met: sz.DeliveryRatio >= 0.99},
		{Name: "reconnect median", Strategy: "samizdat", Want: "≤ 2s", Got: sz.ReconnectP50MS, Unit: "ms", Met: sz.ReconnectP50MS <= 2000},
		{Name: "reconnect p99", Strategy: "samizdat", Want: "≤ 10s", Got: sz.ReconnectP99MS, Unit: "ms", Met: sz.ReconnectP99MS <= 10_000},
		{Name: "cold start", Strategy: "samizdat", Want: "≤ 30s", Got: cold, Unit: "ms", Met: false},
	}
	r.Invariants = []Check{
		{Name: "static: delivered ≤ sent", OK: true, Detail: "delivered 396, sent 3000"},
		{Name: "samizdat: every message accounted for", OK: true, Detail: "sent 3000 = delivered 2880 + acknowledged 20 + queued 100"},
		{Name: "no dial outside loopback", OK: true, Detail: "vnet violations 0, loopback sockets 5121"},
		{Name: "telegram-2018: every message accounted for", OK: false, Detail: "unaccounted 2"},
	}
	r.Notes = []string{
		`samizdat missed the target "cold start": one cold-start client never got in.`,
		"The censor broke up to 52 of 200 bystander services (37 at the end) while blocking these strategies.",
	}
	return r
}
