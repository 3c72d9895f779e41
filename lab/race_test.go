//go:build race

package lab

// race tells whether the race detector is on (tests then run a smaller
// world).
const race = true
