package wire

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
)

// pipe is an in-memory frame channel.
type pipe struct{ frames [][]byte }

func (p *pipe) WriteFrame(b []byte) error {
	p.frames = append(p.frames, bytes.Clone(b))
	return nil
}

func (p *pipe) ReadFrame() ([]byte, error) {
	if len(p.frames) == 0 {
		return nil, errors.New("empty")
	}
	b := p.frames[0]
	p.frames = p.frames[1:]
	return b, nil
}

func TestRoundTrip(t *testing.T) {
	frames := []*Frame{
		{Body: &Frame_Request{Request: &Request{Id: 7, Op: &Request_Ping{Ping: &Ping{}}}}},
		{Body: &Frame_Request{Request: &Request{Id: 8, Op: &Request_Send{Send: &SendMessages{
			Recipient: bytes.Repeat([]byte{1}, 16),
			Messages:  []*OutgoingMessage{{DeviceId: 1, RegistrationId: 2, Type: 3, Content: []byte("ciphertext")}},
		}}}}},
		{Body: &Frame_Response{Response: &Response{Id: 7, Status: Status_RATE_LIMITED, Reason: "slow down"}}},
		{Body: &Frame_Push{Push: &Push{Body: &Push_QueueEmpty{QueueEmpty: &QueueEmpty{}}}}},
		{Body: &Frame_Push{Push: &Push{Body: &Push_Delivery{Delivery: &Envelope{Id: []byte("0123456789abcdef"), Content: []byte("x")}}}}},
	}
	p := new(pipe)
	for _, f := range frames {
		if err := WriteFrame(p, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range frames {
		got, err := ReadFrame(p)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestInvalid(t *testing.T) {
	big := &Frame{Body: &Frame_Push{Push: &Push{Body: &Push_Manifest{Manifest: make([]byte, MaxFrameSize)}}}}
	tests := []struct {
		name string
		f    *Frame
		want error
	}{
		{"nil", nil, ErrInvalidFrame},
		{"no body", &Frame{}, ErrInvalidFrame},
		{"nil request", &Frame{Body: &Frame_Request{}}, ErrInvalidFrame},
		{"nil response", &Frame{Body: &Frame_Response{}}, ErrInvalidFrame},
		{"push without body", &Frame{Body: &Frame_Push{Push: &Push{}}}, ErrInvalidFrame},
		{"too large", big, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := WriteFrame(new(pipe), tt.f); !errors.Is(err, tt.want) {
				t.Fatalf("write: got %v, want %v", err, tt.want)
			}
			if tt.f == nil || tt.name == "nil request" || tt.name == "nil response" {
				return // these encode as an empty (valid) request or response
			}
			b, _ := proto.Marshal(tt.f)
			if _, err := Unmarshal(b); !errors.Is(err, tt.want) {
				t.Fatalf("unmarshal: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestUnmarshalGarbage(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		{0xff},
		[]byte("GET / HTTP/1.1"),
		{0x0a, 0x05, 0x01},       // truncated request
		{0xa2, 0x06, 0x00},       // unknown field 100 only
		{0x0a, 0x02, 0x08, 0x01}, // request with only an id: passes
	} {
		f, err := Unmarshal(b)
		if len(b) == 4 {
			if err != nil || f.GetRequest().GetId() != 1 || f.GetRequest().Op != nil {
				t.Fatalf("request without op: %v %v", f, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidFrame) {
			t.Fatalf("%x: got %v, want ErrInvalidFrame", b, err)
		}
	}
	if _, err := ReadFrame(&pipe{frames: [][]byte{make([]byte, MaxFrameSize+1)}}); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
}

// FuzzReadFrame decodes arbitrary bytes as a frame: it must not panic, and a
// frame it accepts must survive a marshal/unmarshal round trip.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0x0a, 0x04, 0x08, 0x07, 0x8a, 0x01, 0x00})
	f.Add([]byte{0x1a, 0x02, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ReadFrame(&pipe{frames: [][]byte{b}})
		if err != nil {
			if !errors.Is(err, ErrInvalidFrame) && !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		enc, err := Marshal(fr)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		fr2, err := Unmarshal(enc)
		if err != nil || !proto.Equal(fr, fr2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
