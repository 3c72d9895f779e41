// Package wire defines the relay protocol's frames (protobuf, wire.proto)
// and their codec. A frame is one message of a noisechan channel, which
// delimits, encrypts and authenticates it; the codec only marshals, bounds
// the size (MaxFrameSize) and checks that a frame says what it is.
//
// Regenerate with `go generate ./relay/wire` (needs protoc and
// protoc-gen-go); the generated file is committed.
package wire

//go:generate sh -c "cd ../.. && protoc --go_out=. --go_opt=paths=source_relative relay/wire/wire.proto"
