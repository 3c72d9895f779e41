package spqr

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
)

func TestVarint(t *testing.T) {
	// Vectors of the crate's varint tests.
	if got := appendVarint(nil, 0x012c); !bytes.Equal(got, []byte{0xac, 0x02}) {
		t.Fatalf("encode = %x", got)
	}
	v, next, err := readVarint([]byte{0xff, 0xac, 0x02, 0xff}, 1)
	if err != nil || v != 0x012c || next != 3 {
		t.Fatalf("decode = %x %d %v", v, next, err)
	}
	v, next, err = readVarint([]byte{0x00}, 0)
	if err != nil || v != 0 || next != 1 {
		t.Fatalf("decode zero = %x %d %v", v, next, err)
	}
	// Non-minimal encodings are accepted, as by the crate.
	if v, _, err := readVarint([]byte{0x81, 0x80, 0x00}, 0); err != nil || v != 1 {
		t.Fatalf("non-minimal = %d %v", v, err)
	}
	// More than ten bytes, or running off the end, is an error.
	if _, _, err := readVarint(bytes.Repeat([]byte{0x80}, 11), 0); err == nil {
		t.Fatal("11-byte varint accepted")
	}
	if _, _, err := readVarint([]byte{0x80}, 0); err == nil {
		t.Fatal("truncated varint accepted")
	}
	for _, x := range []uint64{0, 1, 127, 128, 1 << 32, 1<<64 - 1} {
		b := appendVarint(nil, x)
		if v, n, err := readVarint(b, 0); err != nil || v != x || n != len(b) {
			t.Fatalf("round trip %d: %d %d %v", x, v, n, err)
		}
	}
}

func TestMessageWire(t *testing.T) {
	data := [32]byte{}
	for i := range data {
		data[i] = byte(i)
	}
	tests := []struct {
		name string
		m    message
		hex  string
	}{
		{"none", message{epoch: 1, index: 0, typ: msgNone}, "01010000"},
		{"ct1ack", message{epoch: 300, index: 2, typ: msgCt1Ack}, "01ac020204"},
		{"hdr", message{epoch: 1, index: 1, typ: msgHdr, chunkIndex: 0, chunkData: data},
			"0101010100" + hex.EncodeToString(data[:])},
		{"ct2", message{epoch: 2, index: 1 << 31, typ: msgCt2, chunkIndex: 65535, chunkData: data},
			"0102" + "8080808008" + "06" + "ffff03" + hex.EncodeToString(data[:])},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.m.marshal()
			if hex.EncodeToString(b) != tc.hex {
				t.Fatalf("marshal = %x, want %s", b, tc.hex)
			}
			m, err := parseMessage(append(b, 0xee)) // trailing data allowed
			if err != nil {
				t.Fatal(err)
			}
			if *m != tc.m {
				t.Fatalf("parse = %+v, want %+v", *m, tc.m)
			}
		})
	}
}

func TestMessageParseErrors(t *testing.T) {
	long := append([]byte{1, 1, 1, 1, 0x80, 0x80, 0x04}, make([]byte, 32)...) // chunk index 65536
	for _, tc := range []struct {
		name string
		b    string
	}{
		{"empty", ""},
		{"version 0", "00010000"},
		{"epoch 0", "01000000"},
		{"no index", "0101"},
		{"no type", "010100"},
		{"bad type", "01010007"},
		{"index > u32", "0101808080801000"},
		{"short chunk", "0101000100" + "0011"},
		{"no chunk index", "01010001"},
		{"chunk index > u16", hex.EncodeToString(long)},
	} {
		b, _ := hex.DecodeString(tc.b)
		if _, err := parseMessage(b); !errors.Is(err, ErrMsgDecode) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}

// TestMessagesOnTheWire checks that the messages of a real exchange parse
// and re-serialize to the same bytes.
func TestMessagesOnTheWire(t *testing.T) {
	a, b := v1Pair(t, ChainParams{})
	for range 100 {
		for _, p := range []struct{ s, r *party }{{a, b}, {b, a}} {
			m, _ := p.s.send()
			pm, err := parseMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pm.marshal(), m) {
				t.Fatalf("re-serialized message differs: %x", m)
			}
			p.r.recv(m)
		}
	}
}

func FuzzRecv(f *testing.F) {
	a, b := v1Pair(f, ChainParams{})
	var states [][]byte
	for range 40 {
		m, _ := a.send()
		f.Add(uint8(len(states)), m)
		states = append(states, b.state)
		b.recv(m)
		m, _ = b.send()
		f.Add(uint8(len(states)), m)
		states = append(states, a.state)
		a.recv(m)
	}
	f.Add(uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, which uint8, msg []byte) {
		st := states[int(which)%len(states)]
		ns, key, err := Recv(st, msg)
		if err != nil {
			return
		}
		if key != nil && len(key) != 32 {
			t.Fatalf("key length %d", len(key))
		}
		// Whatever was accepted must leave a usable state.
		if _, _, _, err := Send(ns, rand.Reader); err != nil {
			t.Fatalf("Send after accepted Recv: %v", err)
		}
	})
}

func FuzzState(f *testing.F) {
	a, b := v1Pair(f, ChainParams{})
	f.Add(a.state)
	f.Add(b.state)
	for range 40 {
		m, _ := a.send()
		b.recv(m)
		f.Add(b.state)
		m, _ = b.send()
		a.recv(m)
		f.Add(a.state)
	}
	ping, _, _, _ := Send(a.state, rand.Reader)
	f.Fuzz(func(t *testing.T, st []byte) {
		CurrentVersion(st)
		Send(st, rand.Reader)
		Recv(st, nil)
		Recv(st, ping)
		Recv(st, []byte{1, 1, 0, 0})
	})
}

// FuzzMessage: whatever parses re-serializes to bytes that parse to the
// same message (the input itself may use non-minimal varints or carry
// trailing bytes).
func FuzzMessage(f *testing.F) {
	var data [32]byte
	f.Add((&message{epoch: 1, index: 1, typ: msgHdr, chunkData: data}).marshal())
	f.Add((&message{epoch: 1 << 40, index: 1<<32 - 1, typ: msgCt1Ack}).marshal())
	f.Add([]byte{1, 0x81, 0x00, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			return
		}
		out := m.marshal()
		m2, err := parseMessage(out)
		if err != nil || *m2 != *m {
			t.Fatalf("round trip: %v", err)
		}
		if len(out) > len(b) {
			t.Fatalf("re-serialized message longer than input")
		}
	})
}
