package sealed

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Service id kinds, the first byte of the fixed-width binary form.
const (
	KindACI = 0
	KindPNI = 1
)

// ServiceID is a Signal service id in its fixed-width binary form: a kind
// byte (KindACI or KindPNI) and a UUID.
type ServiceID [17]byte

// NewServiceID returns the service id of the given kind and UUID.
func NewServiceID(kind byte, uuid [16]byte) ServiceID {
	var s ServiceID
	s[0] = kind
	copy(s[1:], uuid[:])
	return s
}

// ParseServiceID parses a service id string: a hyphenated UUID for an ACI,
// "PNI:" and a hyphenated UUID for a PNI.
func ParseServiceID(s string) (ServiceID, error) {
	kind := byte(KindACI)
	if rest, ok := strings.CutPrefix(s, "PNI:"); ok {
		kind, s = KindPNI, rest
	}
	u, err := parseUUID(s)
	if err != nil {
		return ServiceID{}, err
	}
	return NewServiceID(kind, u), nil
}

// Kind returns the kind byte.
func (s ServiceID) Kind() byte { return s[0] }

// UUID returns the UUID.
func (s ServiceID) UUID() [16]byte { return [16]byte(s[1:]) }

// String returns the service id string form.
func (s ServiceID) String() string {
	u := formatUUID(s.UUID())
	switch s[0] {
	case KindACI:
		return u
	case KindPNI:
		return "PNI:" + u
	}
	return fmt.Sprintf("kind%d:%s", s[0], u)
}

func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%w: not a hyphenated uuid", ErrInvalidRecipient)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("%w: not a hyphenated uuid", ErrInvalidRecipient)
	}
	return u, nil
}
