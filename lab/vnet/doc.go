// Package vnet is the censorship lab's virtual network. Relays, mirrors,
// resolvers, CDN edges and bystander services get virtual public
// addresses drawn from real cloud prefixes (Plan); each virtual address
// is mapped onto a listener on 127.0.0.0/8 (Net.Listen, Net.Map); and
// clients reach them only through a transport.NetDial (Net.Dialer) that
// asks a censor.Decider about every flow and enforces its verdict on the
// real loopback connection: silent drop, reset, block page or throttle.
//
// Safety property: nothing outside 127.0.0.0/8 is ever dialled. The
// dialer refuses any address that is not a mapped virtual address (with
// ErrUnmapped, without dialling), mappings only ever point at loopback
// addresses, and the one function that opens sockets checks the target
// again and refuses (and counts a violation) if it is not in 127.0.0.0/8.
// Names are resolved by the censor's Resolve, never by the system
// resolver.
//
// The package is for the lab and tests only; it is not a production path.
package vnet
