package censor_test

import (
	"fmt"
	"net/netip"
	"time"

	"samizdat/censor"
)

// The 2018 censor meets a relay its own clients found on Amazon.
func Example() {
	hour := censor.DefaultHour
	c, err := censor.New(censor.RKN2018(1, hour))
	if err != nil {
		panic(err)
	}
	relay := netip.MustParseAddrPort("52.58.1.10:443")
	f := censor.Flow{Client: "c1", ISP: "national", Dst: relay}
	fmt.Println(c.Decide(0, f).Action)

	c.Enumerate(0, relay.Addr()) // listed 2 h later, published at 12 h, applied 1 h after that
	for _, h := range []int{11, 13} {
		fmt.Println(h, "h:", c.Decide(time.Duration(h)*hour, f).Action)
	}
	// Output:
	// allow
	// 11 h: allow
	// 13 h: drop
}
