package sealed

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// strict rejects what libsignal's decoder (prost) rejects but Go's protobuf
// runtime tolerates by moving it to the unknown fields: a known field with
// the wrong wire type. allowEnum names enum fields whose out-of-range varint
// values the runtime also sets aside; those are allowed.
func strict(m proto.Message, allowEnum ...protowire.Number) error {
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	b := r.GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: bad unknown field", ErrMalformed)
		}
		b = b[n:]
		if fields.ByNumber(num) != nil {
			allowed := false
			for _, a := range allowEnum {
				allowed = allowed || (a == num && typ == protowire.VarintType)
			}
			if !allowed {
				return fmt.Errorf("%w: field %d has wire type %d", ErrMalformed, num, typ)
			}
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("%w: bad unknown field", ErrMalformed)
		}
		b = b[n:]
	}
	return nil
}
