package session

import (
	"encoding/hex"
	"strconv"
	"strings"
)

// Address names one device of one account: libsignal's ProtocolAddress.
// Name is usually a Signal service ID string (an ACI UUID, or "PNI:" and a
// UUID); when it is, messages that open a session carry both addresses
// under their MAC exactly as libsignal does.
type Address struct {
	Name     string
	DeviceID uint32
}

// String returns "name.device", as libsignal prints addresses.
func (a Address) String() string {
	return a.Name + "." + strconv.FormatUint(uint64(a.DeviceID), 10)
}

// serviceIDBinary parses a service ID string into libsignal's 17-byte
// fixed-width form (kind byte, then the UUID). ok is false for names that
// are not service IDs.
func serviceIDBinary(name string) (out [17]byte, ok bool) {
	kind := byte(0) // ACI
	if rest, found := strings.CutPrefix(name, "PNI:"); found {
		kind = 1
		name = rest
	}
	if len(name) != 36 {
		return out, false
	}
	var hexDigits [32]byte
	j := 0
	for i := 0; i < 36; i++ {
		c := name[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return out, false
			}
			continue
		}
		hexDigits[j] = c
		j++
	}
	out[0] = kind
	if _, err := hex.Decode(out[1:], hexDigits[:]); err != nil {
		return out, false
	}
	return out, true
}

// addressesBinary is the value of SignalMessage.addresses for a message
// from sender to recipient, or nil when either is not a service ID or has
// a device ID libsignal would not accept.
func addressesBinary(sender, recipient Address) []byte {
	s, ok1 := serviceIDBinary(sender.Name)
	r, ok2 := serviceIDBinary(recipient.Name)
	if !ok1 || !ok2 || !validDeviceID(sender.DeviceID) || !validDeviceID(recipient.DeviceID) {
		return nil
	}
	b := make([]byte, 0, 36)
	b = append(b, s[:]...)
	b = append(b, byte(sender.DeviceID))
	b = append(b, r[:]...)
	b = append(b, byte(recipient.DeviceID))
	return b
}

func validDeviceID(id uint32) bool { return id >= 1 && id <= 127 }

// sameAccount reports whether a session is with ourselves (note to self):
// the same identity key and the same service ID.
func sameAccount(local, remote Address, sameIdentity bool) bool {
	if !sameIdentity {
		return false
	}
	l, ok1 := serviceIDBinary(local.Name)
	r, ok2 := serviceIDBinary(remote.Name)
	return ok1 && ok2 && l == r
}
