package manifest

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
)

// DecodeBytes reads a secret, pin or key written by hand in a manifest
// source or relay endpoint config: hex first, then standard or URL-safe
// base64, padded or not. Both operator tools accept the same spellings.
func DecodeBytes(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("neither hex nor base64")
}
