// Package censor models a national censor of the kind Russia ran against
// Telegram in April 2018, for the samizdat lab. It is pure logic: no sockets,
// no wall clock, no global randomness. The lab's virtual network (lab/vnet)
// asks a Decider about every flow and DNS query and enforces the verdict on
// loopback connections.
package censor
