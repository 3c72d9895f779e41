// Package grouppb holds the generated protobuf types of the signed
// membership changes of private groups (group.proto).
//
// Regenerate with `go generate ./client/group/internal/grouppb`.
package grouppb

//go:generate sh -c "protoc --go_out=. --go_opt=paths=source_relative *.proto"
