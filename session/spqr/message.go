package spqr

import (
	"encoding/binary"
	"fmt"
)

// msgType is the payload type byte of a V1 message.
type msgType uint8

const (
	msgNone     msgType = 0 // no payload
	msgHdr      msgType = 1 // chunk of ML-KEM header || MAC
	msgEk       msgType = 2 // chunk of the encapsulation key
	msgEkCt1Ack msgType = 3 // chunk of the encapsulation key, and ct1 fully received
	msgCt1Ack   msgType = 4 // ct1 fully received (no chunk)
	msgCt1      msgType = 5 // chunk of ciphertext part 1
	msgCt2      msgType = 6 // chunk of ciphertext part 2 || MAC
)

func (t msgType) hasChunk() bool {
	switch t {
	case msgHdr, msgEk, msgEkCt1Ack, msgCt1, msgCt2:
		return true
	}
	return false
}

func (t msgType) String() string {
	switch t {
	case msgNone:
		return "none"
	case msgHdr:
		return "hdr"
	case msgEk:
		return "ek"
	case msgEkCt1Ack:
		return "ek_ct1_ack"
	case msgCt1Ack:
		return "ct1_ack"
	case msgCt1:
		return "ct1"
	case msgCt2:
		return "ct2"
	}
	return fmt.Sprintf("msgType(%d)", uint8(t))
}

// chunkSize is the payload size of one erasure-code chunk.
const chunkSize = 32

// message is a decoded V1 SPQR message.
type message struct {
	epoch uint64
	index uint32 // message key index within the epoch's chain
	typ   msgType
	// chunk is set when typ.hasChunk().
	chunkIndex uint16
	chunkData  [chunkSize]byte
}

// maxVarintLen bounds the varints of the wire format.
const maxVarintLen = 10

// appendVarint is the LEB128 encoding (same as protobuf varints).
func appendVarint(b []byte, v uint64) []byte {
	return binary.AppendUvarint(b, v)
}

// readVarint decodes a varint at b[at:], accepting non-minimal encodings
// of up to 10 bytes and ignoring bits beyond 64, exactly as the crate does.
func readVarint(b []byte, at int) (v uint64, next int, err error) {
	if at >= len(b) {
		return 0, at, ErrMsgDecode
	}
	for i := 0; i < maxVarintLen && at+i < len(b); i++ {
		c := b[at+i]
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, at + i + 1, nil
		}
	}
	return 0, at, ErrMsgDecode
}

// marshal serializes m:
//
//	version byte (1) | varint epoch | varint index | type byte
//	[ varint chunk index | 32 bytes chunk data ]   for types with a chunk
func (m *message) marshal() []byte {
	b := make([]byte, 0, 48)
	b = append(b, byte(V1))
	b = appendVarint(b, m.epoch)
	b = appendVarint(b, uint64(m.index))
	b = append(b, byte(m.typ))
	if m.typ.hasChunk() {
		b = appendVarint(b, uint64(m.chunkIndex))
		b = append(b, m.chunkData[:]...)
	}
	return b
}

// parseMessage decodes a V1 message. Trailing bytes are allowed (reserved
// for future versions), as in the crate.
func parseMessage(b []byte) (*message, error) {
	if len(b) == 0 || b[0] != byte(V1) {
		return nil, fmt.Errorf("%w: not a v1 message", ErrMsgDecode)
	}
	m := new(message)
	epoch, at, err := readVarint(b, 1)
	if err != nil {
		return nil, fmt.Errorf("%w: epoch", ErrMsgDecode)
	}
	if epoch == 0 {
		return nil, fmt.Errorf("%w: epoch 0", ErrMsgDecode)
	}
	m.epoch = epoch
	index, at, err := readVarint(b, at)
	if err != nil || index > 0xffffffff {
		return nil, fmt.Errorf("%w: index", ErrMsgDecode)
	}
	m.index = uint32(index)
	if at >= len(b) {
		return nil, fmt.Errorf("%w: missing type", ErrMsgDecode)
	}
	m.typ = msgType(b[at])
	at++
	if m.typ > msgCt2 {
		return nil, fmt.Errorf("%w: unknown type %d", ErrMsgDecode, uint8(m.typ))
	}
	if m.typ.hasChunk() {
		ci, next, err := readVarint(b, at)
		if err != nil || ci > 0xffff || next+chunkSize > len(b) {
			return nil, fmt.Errorf("%w: chunk", ErrMsgDecode)
		}
		m.chunkIndex = uint16(ci)
		copy(m.chunkData[:], b[next:next+chunkSize])
	}
	return m, nil
}
