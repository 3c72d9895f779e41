package sealed

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// SentMessage is a parsed sealed sender v2 SentMessage, as a relay sees it:
// the recipients and their devices, and how to cut out each recipient's
// ReceivedMessage. It holds nothing about the sender.
type SentMessage struct {
	// Version is the version byte (0x22: ACI UUIDs; 0x23: service ids).
	Version byte
	// Recipients lists each recipient once, in order of first appearance;
	// devices of a recipient that appears more than once are merged.
	Recipients []SentRecipient
	index      map[ServiceID]int
	shared     []byte // E.pub || ciphertext
}

// SentRecipient is one recipient of a SentMessage.
type SentRecipient struct {
	ServiceID ServiceID
	// Devices is empty for an excluded recipient.
	Devices     []SentDevice
	keyMaterial []byte // C || AT, empty for an excluded recipient
}

// SentDevice is one device of a recipient.
type SentDevice struct {
	DeviceID       uint8  // 1..127
	RegistrationID uint16 // 14 bits
}

// Excluded reports whether the recipient was listed without devices.
func (r *SentRecipient) Excluded() bool { return len(r.Devices) == 0 }

// ParseSentMessage parses a v2 SentMessage with libsignal's rules (version
// 0x22 or 0x23, device ids 1..127, a recipient listed twice only if both
// times with devices).
func ParseSentMessage(b []byte) (*SentMessage, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	v := b[0]
	if v != v2UUIDFullVersion && v != v2ServiceIDFullVersion {
		return nil, fmt.Errorf("%w: %#02x", ErrUnknownVersion, v)
	}
	rest := b[1:]
	count, n := protowire.ConsumeVarint(rest)
	if n < 0 || count > math.MaxUint32 {
		return nil, fmt.Errorf("%w: recipient count", ErrMalformed)
	}
	rest = rest[n:]
	take := func(k int) ([]byte, error) {
		if len(rest) < k {
			return nil, fmt.Errorf("%w: sent message truncated", ErrMalformed)
		}
		p := rest[:k]
		rest = rest[k:]
		return p, nil
	}
	m := &SentMessage{Version: v, index: make(map[ServiceID]int)}
	for range count {
		var sid ServiceID
		if v == v2UUIDFullVersion {
			u, err := take(16)
			if err != nil {
				return nil, err
			}
			sid = NewServiceID(KindACI, [16]byte(u))
		} else {
			p, err := take(17)
			if err != nil {
				return nil, err
			}
			if p[0] != KindACI && p[0] != KindPNI {
				return nil, fmt.Errorf("%w: service id kind %d", ErrMalformed, p[0])
			}
			sid = ServiceID(p)
		}
		var devices []SentDevice
		for {
			p, err := take(1)
			if err != nil {
				return nil, err
			}
			id := p[0]
			if id == 0 {
				if len(devices) != 0 {
					return nil, fmt.Errorf("%w: device id 0", ErrMalformed)
				}
				break
			}
			if id > 127 {
				return nil, fmt.Errorf("%w: device id %d", ErrMalformed, id)
			}
			p, err = take(2)
			if err != nil {
				return nil, err
			}
			reg := uint16(p[0])<<8 | uint16(p[1])
			devices = append(devices, SentDevice{DeviceID: id, RegistrationID: reg & registrationIDMask})
			if reg&0x8000 == 0 {
				break
			}
		}
		var km []byte
		if len(devices) > 0 {
			var err error
			if km, err = take(v2MessageKeySize + v2AuthTagSize); err != nil {
				return nil, err
			}
		}
		if i, ok := m.index[sid]; ok {
			r := &m.Recipients[i]
			if len(r.Devices) == 0 || len(devices) == 0 {
				return nil, fmt.Errorf("%w: recipient redundantly encoded as empty", ErrMalformed)
			}
			r.Devices = append(r.Devices, devices...)
			continue
		}
		m.index[sid] = len(m.Recipients)
		m.Recipients = append(m.Recipients, SentRecipient{ServiceID: sid, Devices: devices, keyMaterial: km})
	}
	if len(rest) < v2PublicKeySize {
		return nil, fmt.Errorf("%w: sent message truncated", ErrMalformed)
	}
	m.shared = rest
	return m, nil
}

// Recipient returns the recipient with the given service id.
func (m *SentMessage) Recipient(id ServiceID) (*SentRecipient, bool) {
	i, ok := m.index[id]
	if !ok {
		return nil, false
	}
	return &m.Recipients[i], true
}

// ReceivedMessage returns the message to deliver to each of r's devices:
// version 0x22 || C || AT || E.pub || ciphertext. It returns nil for an
// excluded recipient.
func (m *SentMessage) ReceivedMessage(r *SentRecipient) []byte {
	if len(r.keyMaterial) == 0 {
		return nil
	}
	out := make([]byte, 0, 1+len(r.keyMaterial)+len(m.shared))
	out = append(out, v2UUIDFullVersion)
	out = append(out, r.keyMaterial...)
	return append(out, m.shared...)
}
