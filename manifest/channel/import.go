package channel

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"

	"samizdat/manifest"
)

// inviteMarker starts the block of an invite file.
var inviteMarker = []byte("-----BEGIN SAMIZDAT INVITE-----")

// Import extracts a signed manifest blob from what a user imports: an
// invite file (its manifest; the invite's own network key is ignored, the
// keeper checks the blob against the key it already trusts), a bare blob
// in base64 (standard or URL alphabet, padded or not, with any
// whitespace, as pasted from a chat or a QR code), or the raw blob. It
// does not verify the blob.
func Import(text []byte) ([]byte, error) {
	if len(text) > maxBody {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrBadImport, len(text), maxBody)
	}
	if bytes.Contains(text, inviteMarker) {
		inv, err := manifest.ParseInvite(text)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadImport, err)
		}
		return inv.Manifest, nil
	}
	if b, ok := decodeBase64Text(text); ok {
		if len(b) == 0 {
			return nil, fmt.Errorf("%w: empty", ErrBadImport)
		}
		if len(b) > manifest.MaxBlobSize {
			return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrBadImport, len(b), manifest.MaxBlobSize)
		}
		return b, nil
	}
	// A raw blob is a protobuf message, never all base64 characters (it
	// starts with the version field's tag, 0x08).
	if len(text) > 0 && text[0] == 0x08 && len(text) <= manifest.MaxBlobSize {
		return bytes.Clone(text), nil
	}
	return nil, fmt.Errorf("%w: neither an invite nor a manifest in base64", ErrBadImport)
}

// decodeBody is Import for what a web source returns.
func decodeBody(body []byte) ([]byte, error) {
	b, err := Import(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return b, nil
}

// decodeBase64Text decodes text if, without whitespace, it is base64 in
// either alphabet, padded or not.
func decodeBase64Text(text []byte) ([]byte, bool) {
	clean := make([]byte, 0, len(text))
	for _, c := range text {
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '-', c == '_', c == '=':
			clean = append(clean, c)
		default:
			return nil, false
		}
	}
	clean = bytes.TrimRight(clean, "=")
	if bytes.ContainsAny(clean, "=") {
		return nil, false
	}
	enc := base64.RawStdEncoding
	if bytes.ContainsAny(clean, "-_") {
		if bytes.ContainsAny(clean, "+/") {
			return nil, false
		}
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(string(clean))
	if err != nil {
		return nil, false
	}
	return b, true
}

// File returns a source that reads an invite file or a blob (raw or
// base64) from path.
func File(path string) Source { return fileSource(path) }

type fileSource string

func (s fileSource) Name() string { return "file:" + string(s) }

func (s fileSource) Fetch(ctx context.Context) ([]byte, error) {
	f, err := os.Open(string(s))
	if err != nil {
		return nil, fmt.Errorf("channel: %w", err)
	}
	defer f.Close()
	text, err := io.ReadAll(io.LimitReader(f, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("channel: %w", err)
	}
	return Import(text)
}

// Text returns a source for pasted text: an invite or a base64 blob.
func Text(text []byte) Source { return textSource(bytes.Clone(text)) }

type textSource []byte

func (s textSource) Name() string { return "pasted text" }

func (s textSource) Fetch(ctx context.Context) ([]byte, error) { return Import(s) }
