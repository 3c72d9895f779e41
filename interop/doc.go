// Package interop checks samizdat's Signal-protocol library against libsignal
// itself, byte for byte, in both directions.
//
// libsignal runs in a separate Node.js process (node/harness.mjs, driving
// @signalapp/libsignal-client pinned in node/package.json). The process keeps
// named in-memory libsignal parties and answers JSON-line requests; Driver
// starts it and offers typed helpers. The package's tests make Go parties talk
// to libsignal parties: session setup, long out-of-order conversations,
// session restarts, sender-key groups, sealed sender and safety numbers, plus
// a side-by-side speed comparison.
//
// The harness is test tooling: it sees and prints nothing secret beyond what a
// test asks for, and nothing in this package belongs in a production binary.
package interop
