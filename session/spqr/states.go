package spqr

import (
	"bytes"
	"fmt"
	"io"

	"samizdat/session/spqr/internal/erasure"
	"samizdat/session/spqr/internal/incmlkem"
)

// Sizes of the values the V1 protocol moves in chunks.
const (
	hdrMsgSize = incmlkem.HeaderSize + macSize      // header || MAC
	ekMsgSize  = incmlkem.EncapsulationKeySize      // encapsulation key
	ct1MsgSize = incmlkem.Ciphertext1Size           // first ciphertext part
	ct2MsgSize = incmlkem.Ciphertext2Size + macSize // second part || MAC
)

// v1Kind names the states of the V1 chunked protocol. Party A starts in
// keysUnsampled (the "send_ek" half: it generates ML-KEM keys and sends
// header then encapsulation key), party B in noHeaderReceived (the
// "send_ct" half: it encapsulates and sends the ciphertext). After each
// epoch the roles swap. The values are the field numbers of the persisted
// oneof.
type v1Kind uint8

const (
	// send_ek half
	kindKeysUnsampled     v1Kind = 1  // nothing sampled yet for this epoch
	kindKeysSampled       v1Kind = 2  // sending header chunks
	kindHeaderSent        v1Kind = 3  // peer started ct1: sending ek, receiving ct1
	kindCt1Received       v1Kind = 4  // ct1 complete: sending ek (with ct1 ack)
	kindEkSentCt1Received v1Kind = 5  // peer started ct2: acking, receiving ct2
	kindNoHeaderReceived  v1Kind = 6  // send_ct half: receiving header
	kindHeaderReceived    v1Kind = 7  // header complete, about to encapsulate
	kindCt1Sampled        v1Kind = 8  // sending ct1, receiving ek
	kindEkReceivedCt1     v1Kind = 9  // ek complete, sending ct1 until acked
	kindCt1Acknowledged   v1Kind = 10 // ct1 acked, still receiving ek
	kindCt2Sampled        v1Kind = 11 // sending ct2 until the next epoch starts
)

// v1State is one party's V1 state. Which fields are meaningful depends on
// kind; the rest are nil.
type v1State struct {
	kind  v1Kind
	epoch uint64
	auth  authenticator

	ek, dk  []byte // send_ek half: our ML-KEM keys
	hdr, es []byte // send_ct half: peer's header, our encapsulation state
	ct1     []byte // ciphertext part 1 (received or sent)

	enc *erasure.Encoder // what we are sending, if anything
	dec *erasure.Decoder // what we are receiving, if anything
}

// epochSecret is a new epoch's shared secret, to be mixed into the chain.
type epochSecret struct {
	epoch  uint64
	secret []byte
}

func initV1(dir Direction, authKey []byte) (*v1State, error) {
	s := &v1State{epoch: 1, auth: newAuthenticator(authKey, 1)}
	if dir == A2B {
		s.kind = kindKeysUnsampled
		return s, nil
	}
	s.kind = kindNoHeaderReceived
	var err error
	s.dec, err = newDecoder(hdrMsgSize)
	return s, err
}

func newDecoder(n int) (*erasure.Decoder, error) {
	d, err := erasure.NewDecoder(n)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncoding, err)
	}
	return d, nil
}

func newEncoder(msg []byte) (*erasure.Encoder, error) {
	e, err := erasure.NewEncoder(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncoding, err)
	}
	return e, nil
}

// decoded returns the decoder's message once complete, checking its size.
func decoded(d *erasure.Decoder, want int) ([]byte, bool, error) {
	msg, ok := d.DecodedMessage()
	if !ok {
		return nil, false, nil
	}
	if len(msg) != want {
		return nil, false, fmt.Errorf("%w: decoder length %d, want %d", ErrStateDecode, len(msg), want)
	}
	return msg, true, nil
}

func (s *v1State) chunkMsg(t msgType) message {
	c := s.enc.NextChunk()
	return message{epoch: s.epoch, typ: t, chunkIndex: c.Index, chunkData: c.Data}
}

// send advances the state by one outgoing message. The returned message
// has no index yet; the caller takes it from the chain.
func (s *v1State) send(rand io.Reader) (message, *epochSecret, error) {
	switch s.kind {
	case kindKeysUnsampled:
		keys, err := incmlkem.Generate(rand)
		if err != nil {
			return message{}, nil, fmt.Errorf("%w: %w", ErrEncoding, err)
		}
		hdr := append(bytes.Clone(keys.Header), s.auth.macHdr(s.epoch, keys.Header)...)
		if s.enc, err = newEncoder(hdr); err != nil {
			return message{}, nil, err
		}
		s.kind, s.ek, s.dk = kindKeysSampled, keys.EK, keys.DK
		return s.chunkMsg(msgHdr), nil, nil
	case kindKeysSampled:
		return s.chunkMsg(msgHdr), nil, nil
	case kindHeaderSent:
		return s.chunkMsg(msgEk), nil, nil
	case kindCt1Received:
		return s.chunkMsg(msgEkCt1Ack), nil, nil
	case kindEkSentCt1Received:
		return message{epoch: s.epoch, typ: msgCt1Ack}, nil, nil
	case kindNoHeaderReceived, kindCt1Acknowledged:
		return message{epoch: s.epoch, typ: msgNone}, nil, nil
	case kindHeaderReceived:
		ct1, es, ss, err := incmlkem.Encaps1(s.hdr, rand)
		if err != nil {
			return message{}, nil, fmt.Errorf("%w: %w", ErrEncoding, err)
		}
		secret := sckaKey(ss, s.epoch)
		s.auth.update(s.epoch, secret)
		if s.enc, err = newEncoder(ct1); err != nil {
			return message{}, nil, err
		}
		s.kind, s.es, s.ct1 = kindCt1Sampled, es, ct1
		return s.chunkMsg(msgCt1), &epochSecret{epoch: s.epoch, secret: secret}, nil
	case kindCt1Sampled, kindEkReceivedCt1:
		return s.chunkMsg(msgCt1), nil, nil
	case kindCt2Sampled:
		return s.chunkMsg(msgCt2), nil, nil
	}
	return message{}, nil, fmt.Errorf("%w: unknown state %d", ErrStateDecode, s.kind)
}

// sendCt2 finishes encapsulation and starts sending ct2 || MAC.
func (s *v1State) sendCt2() error {
	ct2, err := incmlkem.Encaps2(s.ek, s.es)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEncoding, err)
	}
	full := append(bytes.Clone(s.ct1), ct2...)
	mac := s.auth.macCt(s.epoch, full)
	if s.enc, err = newEncoder(append(ct2, mac...)); err != nil {
		return err
	}
	s.kind, s.dec = kindCt2Sampled, nil
	s.hdr, s.es, s.ek, s.ct1 = nil, nil, nil, nil
	return nil
}

// recvEk checks a complete encapsulation key against the header.
func (s *v1State) recvEk(ek []byte) error {
	if !incmlkem.EKMatchesHeader(ek, s.hdr) {
		return ErrErroneousData
	}
	s.ek = ek
	return nil
}

func (m *message) chunk() erasure.Chunk {
	return erasure.Chunk{Index: m.chunkIndex, Data: m.chunkData}
}

// recv advances the state by one incoming message. On error the state
// must be discarded.
func (s *v1State) recv(m *message) (*epochSecret, error) {
	if m.epoch > s.epoch {
		if s.kind == kindCt2Sampled && m.epoch == s.epoch+1 {
			// The peer finished the epoch and started the next one as the
			// send_ct side; we become the send_ek side.
			*s = v1State{kind: kindKeysUnsampled, epoch: m.epoch, auth: s.auth}
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %d", ErrEpochOutOfRange, m.epoch)
	}
	if m.epoch < s.epoch {
		return nil, nil // stale message of an earlier epoch: nothing to do
	}
	switch s.kind {
	case kindKeysSampled:
		if m.typ != msgCt1 {
			return nil, nil
		}
		dec, err := newDecoder(ct1MsgSize)
		if err != nil {
			return nil, err
		}
		dec.AddChunk(m.chunk())
		enc, err := newEncoder(s.ek)
		if err != nil {
			return nil, err
		}
		s.kind, s.dec, s.enc, s.ek = kindHeaderSent, dec, enc, nil
	case kindHeaderSent:
		if m.typ != msgCt1 {
			return nil, nil
		}
		s.dec.AddChunk(m.chunk())
		ct1, ok, err := decoded(s.dec, ct1MsgSize)
		if err != nil || !ok {
			return nil, err
		}
		s.kind, s.ct1, s.dec = kindCt1Received, ct1, nil
	case kindCt1Received:
		if m.typ != msgCt2 {
			return nil, nil
		}
		dec, err := newDecoder(ct2MsgSize)
		if err != nil {
			return nil, err
		}
		dec.AddChunk(m.chunk())
		s.kind, s.dec, s.enc = kindEkSentCt1Received, dec, nil
	case kindEkSentCt1Received:
		if m.typ != msgCt2 {
			return nil, nil
		}
		s.dec.AddChunk(m.chunk())
		msg, ok, err := decoded(s.dec, ct2MsgSize)
		if err != nil || !ok {
			return nil, err
		}
		ct2, mac := msg[:incmlkem.Ciphertext2Size], msg[incmlkem.Ciphertext2Size:]
		ss, err := incmlkem.Decaps(s.dk, s.ct1, ct2)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrEncoding, err)
		}
		secret := sckaKey(ss, s.epoch)
		s.auth.update(s.epoch, secret)
		if err := s.auth.verifyCt(s.epoch, append(bytes.Clone(s.ct1), ct2...), mac); err != nil {
			return nil, err
		}
		out := &epochSecret{epoch: s.epoch, secret: secret}
		dec, err := newDecoder(hdrMsgSize)
		if err != nil {
			return nil, err
		}
		*s = v1State{kind: kindNoHeaderReceived, epoch: s.epoch + 1, auth: s.auth, dec: dec}
		return out, nil
	case kindNoHeaderReceived:
		if m.typ != msgHdr {
			return nil, nil
		}
		s.dec.AddChunk(m.chunk())
		msg, ok, err := decoded(s.dec, hdrMsgSize)
		if err != nil || !ok {
			return nil, err
		}
		hdr, mac := msg[:incmlkem.HeaderSize], msg[incmlkem.HeaderSize:]
		if err := s.auth.verifyHdr(s.epoch, hdr, mac); err != nil {
			return nil, err
		}
		dec, err := newDecoder(ekMsgSize)
		if err != nil {
			return nil, err
		}
		s.kind, s.hdr, s.dec = kindHeaderReceived, bytes.Clone(hdr), dec
	case kindCt1Sampled:
		ack := m.typ == msgEkCt1Ack
		if m.typ != msgEk && !ack {
			return nil, nil
		}
		s.dec.AddChunk(m.chunk())
		ek, ok, err := decoded(s.dec, ekMsgSize)
		if err != nil {
			return nil, err
		}
		switch {
		case ok:
			if err := s.recvEk(ek); err != nil {
				return nil, err
			}
			s.dec, s.hdr = nil, nil
			if ack {
				return nil, s.sendCt2()
			}
			s.kind = kindEkReceivedCt1
		case ack:
			s.kind, s.enc = kindCt1Acknowledged, nil
		}
	case kindEkReceivedCt1:
		if m.typ == msgCt1Ack || m.typ == msgEkCt1Ack {
			return nil, s.sendCt2()
		}
	case kindCt1Acknowledged:
		if m.typ != msgEk && m.typ != msgEkCt1Ack {
			return nil, nil
		}
		s.dec.AddChunk(m.chunk())
		ek, ok, err := decoded(s.dec, ekMsgSize)
		if err != nil || !ok {
			return nil, err
		}
		if err := s.recvEk(ek); err != nil {
			return nil, err
		}
		return nil, s.sendCt2()
	case kindKeysUnsampled, kindHeaderReceived, kindCt2Sampled:
		// nothing to receive in these states
	default:
		return nil, fmt.Errorf("%w: unknown state %d", ErrStateDecode, s.kind)
	}
	return nil, nil
}
