// Package manifestpb holds the protobuf encoding of signed manifests and
// invites; package manifest owns the rules.
package manifestpb

//go:generate sh -c "protoc --go_out=. --go_opt=paths=source_relative *.proto"
