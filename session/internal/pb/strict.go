package pb

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// This file is hand-written; the rest of the package is generated.

// ErrWireType is wrapped by UnmarshalStrict errors for a field with the
// wrong wire type.
var ErrWireType = errors.New("protobuf field with the wrong wire type")

// UnmarshalStrict is proto.Unmarshal that also rejects what libsignal's
// protobuf decoder (prost) rejects but Go's runtime tolerates by setting it
// aside as an unknown field: a known field encoded with the wrong wire type,
// at any depth. Such errors wrap ErrWireType.
//
// A varint in an enum field is allowed whatever its value: the runtime sets
// aside values outside a closed enum, but prost keeps any value.
func UnmarshalStrict(b []byte, m proto.Message) error {
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	return checkWireTypes(m.ProtoReflect())
}

func checkWireTypes(r protoreflect.Message) error {
	fields := r.Descriptor().Fields()
	b := r.GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: unparsable unknown field", ErrWireType)
		}
		b = b[n:]
		if fd := fields.ByNumber(num); fd != nil {
			if fd.Kind() != protoreflect.EnumKind || typ != protowire.VarintType {
				return fmt.Errorf("%w: field %d, wire type %d", ErrWireType, num, typ)
			}
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("%w: unparsable unknown field", ErrWireType)
		}
		b = b[n:]
	}
	var err error
	r.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = checkWireTypes(l.Get(i).Message())
			}
		} else {
			err = checkWireTypes(v.Message())
		}
		return err == nil
	})
	return err
}
