// Package bridgepb holds the protobuf encoding of a bridge's credential
// and of the updates a user's home sends its bridge abroad
// (bridge.proto); package bridge owns the rules.
//
// Regenerate with `go generate ./bridge/internal/bridgepb`.
package bridgepb

//go:generate sh -c "protoc --go_out=. --go_opt=paths=source_relative *.proto"
