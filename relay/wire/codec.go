package wire

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
)

// TypeAccountNotice is the Envelope type of an AccountNotice, which the
// relay itself writes (libsignal's ciphertext types are below 10).
const TypeAccountNotice = 100

// MaxFrameSize is the largest encoded frame, in bytes, that ReadFrame
// accepts and WriteFrame sends. It matches the Noise channel's limit.
const MaxFrameSize = 1 << 20

// Errors callers may branch on; returned errors wrap them with details.
var (
	// ErrFrameTooLarge means an encoded frame exceeds MaxFrameSize.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrInvalidFrame means the bytes are not a valid Frame: malformed
	// protobuf, or a frame whose body (or a push's body) is not set, for
	// example because it uses a type this side does not know.
	ErrInvalidFrame = errors.New("wire: invalid frame")
)

// FrameReader is what ReadFrame reads from, such as a *noisechan.Conn.
type FrameReader interface {
	ReadFrame() ([]byte, error)
}

// FrameWriter is what WriteFrame writes to, such as a *noisechan.Conn.
type FrameWriter interface {
	WriteFrame([]byte) error
}

var unmarshalOpts = proto.UnmarshalOptions{DiscardUnknown: true}

// ReadFrame reads one frame from c and decodes it with Unmarshal. Errors
// from c are returned unchanged.
func ReadFrame(c FrameReader) (*Frame, error) {
	b, err := c.ReadFrame()
	if err != nil {
		return nil, err
	}
	return Unmarshal(b)
}

// WriteFrame encodes f with Marshal and writes it to c as one frame.
func WriteFrame(c FrameWriter, f *Frame) error {
	b, err := Marshal(f)
	if err != nil {
		return err
	}
	return c.WriteFrame(b)
}

// Unmarshal decodes and validates one frame. It guarantees that f.Body is
// set and, for a Push, that the push's body is set. A Request whose op is
// unknown (Op == nil) or a Response without a result passes, so the relay
// can answer BAD_REQUEST with the request's id; unknown fields are dropped.
func Unmarshal(b []byte) (*Frame, error) {
	if len(b) > MaxFrameSize {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, len(b), MaxFrameSize)
	}
	f := new(Frame)
	if err := unmarshalOpts.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidFrame, err)
	}
	if err := Validate(f); err != nil {
		return nil, err
	}
	return f, nil
}

// Marshal validates and encodes one frame.
func Marshal(f *Frame) ([]byte, error) {
	if err := Validate(f); err != nil {
		return nil, err
	}
	b, err := proto.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidFrame, err)
	}
	if len(b) > MaxFrameSize {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, len(b), MaxFrameSize)
	}
	return b, nil
}

// Validate checks the structural rules Unmarshal enforces.
func Validate(f *Frame) error {
	if f == nil {
		return fmt.Errorf("%w: nil frame", ErrInvalidFrame)
	}
	switch body := f.Body.(type) {
	case *Frame_Request:
		if body.Request == nil {
			return fmt.Errorf("%w: empty request", ErrInvalidFrame)
		}
	case *Frame_Response:
		if body.Response == nil {
			return fmt.Errorf("%w: empty response", ErrInvalidFrame)
		}
	case *Frame_Push:
		if body.Push == nil || body.Push.Body == nil {
			return fmt.Errorf("%w: push without a body", ErrInvalidFrame)
		}
	default:
		return fmt.Errorf("%w: frame without a body", ErrInvalidFrame)
	}
	return nil
}
