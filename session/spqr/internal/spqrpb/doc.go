// Package spqrpb holds the protobuf messages in which package spqr persists
// its ratchet state. The state never leaves the device; its format is ours.
// It holds secret keys (chain keys, the authenticator's keys, decapsulation
// keys), so it must be stored as a secret.
//
// Regenerate with `go generate ./session/spqr/internal/spqrpb` (needs protoc
// and protoc-gen-go); the generated file is committed.
package spqrpb

//go:generate sh -c "protoc --go_out=. --go_opt=paths=source_relative *.proto"
