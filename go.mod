module samizdat

go 1.26.8

require google.golang.org/protobuf v1.36.12

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/cloudflare/circl v1.6.5 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
