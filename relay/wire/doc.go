// Package wire defines the relay protocol's frames (protobuf, wire.proto)
// and their codec: a frame travels as a 4-byte big-endian length followed by
// the protobuf bytes, inside a Noise channel that already encrypts and
// authenticates it.
//
// Regenerate with `go generate ./relay/wire` (needs protoc and
// protoc-gen-go); the generated file is committed.
package wire

//go:generate sh -c "cd ../.. && protoc --go_out=. --go_opt=paths=source_relative relay/wire/wire.proto"
