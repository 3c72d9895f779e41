// Package pb holds the protobuf messages of the Signal protocol as samizdat
// speaks it: wire messages, sealed-sender certificates and envelopes,
// fingerprints and the storage records of sessions and keys.
//
// The field numbers and types match libsignal's, so the bytes interoperate.
// UnmarshalStrict (hand-written, strict.go) decodes as strictly as
// libsignal's decoder: parsers of untrusted bytes use it so that a known
// field with the wrong wire type is refused on both sides alike.
// Regenerate with `go generate ./session/internal/pb` (needs protoc and
// protoc-gen-go); the generated files are committed.
package pb

//go:generate sh -c "protoc --go_out=. --go_opt=paths=source_relative *.proto"
