// Package e2etest holds end-to-end tests that run samizdat as processes:
// the relay is built from cmd/samizdat, started, killed with SIGKILL and
// restarted while clients (package client, in process) send through it.
// It has no code outside its tests, which run on Linux (they read /proc
// and tie the relay process to the test binary with Pdeathsig).
package e2etest
