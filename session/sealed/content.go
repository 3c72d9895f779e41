package sealed

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"samizdat/session/internal/pb"
)

// MessageType is the type of the inner message, with libsignal's
// CiphertextMessageType values.
type MessageType uint8

// Inner message types.
const (
	TypeWhisper   MessageType = 2 // a SignalMessage
	TypePreKey    MessageType = 3 // a PreKeySignalMessage
	TypeSenderKey MessageType = 7 // a SenderKeyMessage
	TypePlaintext MessageType = 8 // PlaintextContent
)

func (t MessageType) toProto() (pb.UnidentifiedSenderMessage_Message_Type, bool) {
	switch t {
	case TypeWhisper:
		return pb.UnidentifiedSenderMessage_Message_MESSAGE, true
	case TypePreKey:
		return pb.UnidentifiedSenderMessage_Message_PREKEY_MESSAGE, true
	case TypeSenderKey:
		return pb.UnidentifiedSenderMessage_Message_SENDERKEY_MESSAGE, true
	case TypePlaintext:
		return pb.UnidentifiedSenderMessage_Message_PLAINTEXT_CONTENT, true
	}
	return 0, false
}

func typeFromProto(t pb.UnidentifiedSenderMessage_Message_Type) (MessageType, bool) {
	switch t {
	case pb.UnidentifiedSenderMessage_Message_MESSAGE:
		return TypeWhisper, true
	case pb.UnidentifiedSenderMessage_Message_PREKEY_MESSAGE:
		return TypePreKey, true
	case pb.UnidentifiedSenderMessage_Message_SENDERKEY_MESSAGE:
		return TypeSenderKey, true
	case pb.UnidentifiedSenderMessage_Message_PLAINTEXT_CONTENT:
		return TypePlaintext, true
	}
	return 0, false
}

// ContentHint tells the recipient how to treat a message it cannot decrypt.
// Values other than the named ones are kept as they are.
type ContentHint uint32

// Content hints.
const (
	HintDefault    ContentHint = 0 // the sender will not resend; show an error
	HintResendable ContentHint = 1 // the sender will resend; delay any error
	HintImplicit   ContentHint = 2 // show no error (receipts, typing)
)

// Content is an UnidentifiedSenderMessageContent: the inner message of a
// sealed envelope with the sender's certificate.
type Content struct {
	msgType  MessageType
	sender   *SenderCertificate
	contents []byte
	hint     ContentHint
	groupID  []byte
	raw      []byte
}

// NewContent wraps an already encrypted inner message. groupID may be nil;
// an empty group id is not encoded, as in libsignal.
func NewContent(t MessageType, sender *SenderCertificate, contents []byte, hint ContentHint, groupID []byte) (*Content, error) {
	pt, ok := t.toProto()
	if !ok {
		return nil, fmt.Errorf("sealed: unknown message type %d", t)
	}
	m := &pb.UnidentifiedSenderMessage_Message{
		Type:              pt.Enum(),
		SenderCertificate: sender.raw,
		Content:           contents,
	}
	if m.Content == nil {
		m.Content = []byte{}
	}
	raw, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("sealed: encode content: %w", err)
	}
	// Fields 4 and 5 are appended by hand, in field order as libsignal
	// writes them, so that hints outside the proto enum survive.
	if hint != HintDefault {
		raw = protowire.AppendTag(raw, 4, protowire.VarintType)
		raw = protowire.AppendVarint(raw, uint64(int64(int32(hint))))
	}
	if len(groupID) > 0 {
		raw = protowire.AppendTag(raw, 5, protowire.BytesType)
		raw = protowire.AppendBytes(raw, groupID)
	}
	return &Content{msgType: t, sender: sender, contents: contents, hint: hint, groupID: groupID, raw: raw}, nil
}

// ParseContent parses a serialized UnidentifiedSenderMessageContent with
// libsignal's rules. The sender certificate is parsed but not validated.
func ParseContent(b []byte) (*Content, error) {
	var m pb.UnidentifiedSenderMessage_Message
	if err := pb.UnmarshalStrict(b, &m); err != nil {
		return nil, fmt.Errorf("%w: content: %v", ErrMalformed, err)
	}
	if m.Type == nil {
		return nil, fmt.Errorf("%w: content lacks a known type", ErrMalformed)
	}
	t, ok := typeFromProto(*m.Type)
	if !ok {
		return nil, fmt.Errorf("%w: content type %d", ErrMalformed, *m.Type)
	}
	if m.SenderCertificate == nil || m.Content == nil {
		return nil, fmt.Errorf("%w: content lacks a field", ErrMalformed)
	}
	hint := HintDefault
	if m.ContentHint != nil {
		hint = ContentHint(uint32(*m.ContentHint))
	} else if h, ok := unknownHint(m.ProtoReflect().GetUnknown()); ok {
		hint = h
	}
	sender, err := ParseSenderCertificate(m.SenderCertificate)
	if err != nil {
		return nil, err
	}
	return &Content{
		msgType:  t,
		sender:   sender,
		contents: m.Content,
		hint:     hint,
		groupID:  m.GroupId,
		raw:      append([]byte(nil), b...),
	}, nil
}

// unknownHint finds a content hint that the protobuf runtime set aside as an
// unknown enum value; the last occurrence wins, as for any scalar field.
func unknownHint(b []byte) (ContentHint, bool) {
	var hint ContentHint
	found := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return hint, found
		}
		b = b[n:]
		if num == 4 && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return hint, found
			}
			hint, found = ContentHint(uint32(v)), true
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return hint, found
		}
		b = b[n:]
	}
	return hint, found
}

// Format prints the type, hint and sizes only: the contents of a
// TypePlaintext message are not encrypted, and the others are nobody's
// business in a log.
func (c Content) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "sealed.Content{type:%d hint:%d contents:%d bytes group:%d bytes}", c.msgType, c.hint, len(c.contents), len(c.groupID))
}

// Type returns the inner message's type.
func (c *Content) Type() MessageType { return c.msgType }

// Sender returns the sender's certificate (not validated by ParseContent).
func (c *Content) Sender() *SenderCertificate { return c.sender }

// Contents returns the inner message. The caller must not modify it.
func (c *Content) Contents() []byte { return c.contents }

// ContentHint returns the content hint.
func (c *Content) ContentHint() ContentHint { return c.hint }

// GroupID returns the group id, or nil.
func (c *Content) GroupID() []byte { return c.groupID }

// Bytes returns the serialized content. The caller must not modify it.
func (c *Content) Bytes() []byte { return c.raw }
