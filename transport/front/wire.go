package front

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// The tunnel's HTTP bodies. Every request is a POST to the tunnel path
// whose body is
//
//	version (1) = 1 | op (1) | session id (16) | seq (8, big-endian) | data
//
// and every successful response body is a sequence of frames
//
//	type (1) | length (4, big-endian) | data (length bytes)
//
// Requests and frames are parsed from untrusted bytes on both sides.

const wireVersion = 1

// Request ops.
const (
	opProbe  = 1 // answer a hello frame at once, then hold: tells a streaming CDN from a buffering one
	opOpen   = 2 // create the session
	opPush   = 3 // upstream data; the response is empty
	opPoll   = 4 // the response carries downstream frames (held briefly when there are none)
	opStream = 5 // the response streams downstream frames until the session ends
	opClose  = 6 // the client is done
)

// Frame types.
const (
	frameHello = 1
	frameData  = 2
	frameEOF   = 3
)

const (
	sidSize       = 16
	reqHeaderSize = 2 + sidSize + 8
	frameHeader   = 5
	// maxFrame bounds a frame's data.
	maxFrame = 1 << 20
	// maxPayload bounds a request's data.
	maxPayload = 256 << 10
)

var errMalformed = errors.New("front: malformed message")

type request struct {
	op   byte
	sid  [sidSize]byte
	seq  uint64
	data []byte
}

func (r request) marshal() []byte {
	b := make([]byte, reqHeaderSize, reqHeaderSize+len(r.data))
	b[0] = wireVersion
	b[1] = r.op
	copy(b[2:], r.sid[:])
	binary.BigEndian.PutUint64(b[2+sidSize:], r.seq)
	return append(b, r.data...)
}

func parseRequest(b []byte) (request, error) {
	var r request
	if len(b) < reqHeaderSize || b[0] != wireVersion || len(b)-reqHeaderSize > maxPayload {
		return r, errMalformed
	}
	r.op = b[1]
	if r.op < opProbe || r.op > opClose {
		return r, errMalformed
	}
	copy(r.sid[:], b[2:])
	r.seq = binary.BigEndian.Uint64(b[2+sidSize:])
	r.data = b[reqHeaderSize:]
	if len(r.data) > 0 && r.op != opPush {
		return r, errMalformed
	}
	return r, nil
}

func appendFrame(dst []byte, typ byte, data []byte) []byte {
	var h [frameHeader]byte
	h[0] = typ
	binary.BigEndian.PutUint32(h[1:], uint32(len(data)))
	dst = append(dst, h[:]...)
	return append(dst, data...)
}

// readFrame reads one frame; buf is reused for the data when big enough.
// It returns io.EOF only at a clean boundary.
func readFrame(r *bufio.Reader, buf []byte) (typ byte, data []byte, err error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:1]); err != nil {
		return 0, nil, err
	}
	if _, err := io.ReadFull(r, h[1:]); err != nil {
		return 0, nil, errMalformed
	}
	typ = h[0]
	n := binary.BigEndian.Uint32(h[1:])
	if typ < frameHello || typ > frameEOF || n > maxFrame || (typ != frameData && n != 0) {
		return 0, nil, errMalformed
	}
	if int(n) > cap(buf) {
		buf = make([]byte, n)
	}
	data = buf[:n]
	if _, err := io.ReadFull(r, data); err != nil {
		return 0, nil, errMalformed
	}
	return typ, data, nil
}
