package censor

// Method is how an ISP enforces the registry on flows.
type Method uint8

// Methods. Russian ISPs in 2018 mostly dropped packets to listed addresses
// (the user saw a timeout); some reset connections, and HTTP was sent to a
// stub page.
const (
	MethodDrop      Method = iota // silent drop: the client times out
	MethodReset                   // TCP RST
	MethodBlockPage               // HTTP block page / TLS alert
)

func (m Method) action() Action {
	switch m {
	case MethodReset:
		return Reset
	case MethodBlockPage:
		return BlockPage
	}
	return Drop
}

// String returns the method's lowercase name.
func (m Method) String() string { return m.action().String() }

// ISP is one operator between clients and the internet.
type ISP struct {
	Name string
	// Delay is how long after a registry version is published the ISP
	// enforces it. Russian law gives operators 24 hours; in April 2018 the
	// large operators applied Telegram's subnets within hours.
	Delay Time
	// Compliance is the fraction of registry entries the ISP actually
	// applies, chosen per entry with the scenario's seed (1: all).
	Compliance float64
	// Method enforces address entries, and domain/SNI entries found by DPI.
	Method Method
	// PoisonDNS makes the ISP's resolver answer listed names with the
	// censor's stub address. Russian operators did this alongside IP blocking.
	PoisonDNS bool
	// DPI makes the ISP inspect first packets: SNI and HTTP Host against
	// name entries, protocol fingerprints and the fully-encrypted-traffic
	// heuristic (when the scenario enables them).
	DPI bool
}
