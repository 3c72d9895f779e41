// Package e2etest holds end-to-end tests that run samizdat as processes:
// the relay is built from cmd/samizdat, started, killed with SIGKILL and
// restarted while clients (package client, in process) send through it.
// It has no code outside its tests.
package e2etest
