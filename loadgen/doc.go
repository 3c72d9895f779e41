// Package loadgen measures a samizdat relay under load: a real
// relay.Server over real Noise connections on loopback, driven by
// wire-level clients that authenticate as registered devices. It runs
// named scenarios (idle connections, 1:1 durable throughput, group-style
// fan-out, a broadcast channel's post read by many, a real client's group
// texts, backlog drain, prekey fetches, a flood beside ordinary chats) and, where one exists, a baseline measured by the same tool on the same
// store and disk (the store's raw Append, Fetch+Ack and TakeBundle rates),
// so every relay figure comes with a ratio to what the storage alone can do.
//
// Every scenario checks that its counts add up: each accepted message is
// delivered exactly once and no one-time prekey is handed out twice. A
// Result carries the figures, the design targets met or not, and those
// checks; Report.Table prints them in 100 columns, Report.WideTable one
// row per scenario, and the JSON encoding is the machine-readable form
// written by `samizdat bench --json`. Design targets are set for the full
// size; a smaller run records those that depend on the size without
// judging them ("full scale only").
//
// Idle connections are held by separate client processes (RunIdleClients,
// started through Config.IdleCommand), so the memory and CPU measured in
// the relay's process are the relay's alone.
//
// The group scenario's sender and one of its members are real
// client.Clients (client.Init against the relay, homes in a temporary
// directory); its other members are wire-level devices.
//
// The throughput, fanout, channel and group scenarios run the relay itself in a
// process of its own (RunRelayProcess, started through
// Config.RelayCommand) on the scenario's store, so that its CPU per
// message is measured apart from the load clients'.
//
// The load clients send only to loopback addresses. Message bodies are
// random-free filler with a send timestamp; nothing secret is logged.
package loadgen
