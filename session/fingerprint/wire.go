package fingerprint

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// checkWireTypes rejects a CombinedFingerprints in which a known field has
// the wrong wire type. Go's protobuf decoder would keep such a field as an
// unknown field and carry on; libsignal's decoder (prost) fails, and a
// comparison must fail the same way on both sides.
func checkWireTypes(b []byte) error {
	return walk(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch num {
		case 1: // version
			if typ != protowire.VarintType {
				return fmt.Errorf("%w: version has wire type %d", ErrParse, typ)
			}
		case 2, 3: // local_fingerprint, remote_fingerprint
			if typ != protowire.BytesType {
				return fmt.Errorf("%w: fingerprint field %d has wire type %d", ErrParse, num, typ)
			}
			return walk(v, func(num protowire.Number, typ protowire.Type, _ []byte) error {
				if num == 1 && typ != protowire.BytesType {
					return fmt.Errorf("%w: content has wire type %d", ErrParse, typ)
				}
				return nil
			})
		}
		return nil
	})
}

// walk calls f for each top-level field of the protobuf message b, with the
// payload of length-delimited fields.
func walk(b []byte, f func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrParse, protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return fmt.Errorf("%w: %v", ErrParse, protowire.ParseError(m))
		}
		var payload []byte
		if typ == protowire.BytesType {
			payload, _ = protowire.ConsumeBytes(b[n:])
		}
		if err := f(num, typ, payload); err != nil {
			return err
		}
		b = b[n+m:]
	}
	return nil
}
