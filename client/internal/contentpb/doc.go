// Package contentpb holds the generated protobuf types of the plaintext
// content samizdat clients exchange end to end (content.proto).
//
// Regenerate with `go generate ./client/internal/contentpb`.
package contentpb

//go:generate sh -c "protoc --go_out=. --go_opt=paths=source_relative *.proto"
