// Package spqr implements SPQR, the sparse post-quantum ratchet that
// libsignal runs next to the Double Ratchet (the "triple ratchet"). It is a
// byte-compatible port of the spqr crate (v1.5.3, as libsignal 0.103 pins
// it): same wire format, KDF labels, MACs, state machine and version
// negotiation.
//
// Each party holds an opaque serialized state. Send produces a small
// message to attach to an outgoing ratchet message (the pq_ratchet field of
// a SignalMessage) and, once post-quantum keys are established, a 32-byte
// message key that the caller mixes into the Double Ratchet's message key.
// Recv consumes the peer's message and returns the matching key.
//
// Security properties. Every epoch the parties run one ML-KEM-768 exchange
// whose header, encapsulation key and ciphertext travel in 32-byte
// erasure-coded chunks, one per message, so that any sufficiently large
// subset of messages completes the exchange. The header and ciphertext are
// authenticated with HMAC-SHA256 under a key ratcheted with every epoch's
// secret, starting from the PQXDH-derived auth key. Each epoch's secret
// seeds per-direction symmetric chains (HKDF-SHA256) from which message keys
// are drawn; a key is returned at most once, skipped keys are kept for at
// most MaxOOOKeys indexes and a message may jump at most MaxJump indexes
// ahead. Send and Recv never change the state they are given; they return
// a new one, which the caller commits only once the message that carried
// the SPQR message has authenticated (package session does so). States hold
// secret keys: store them as such. MACs are compared in constant time,
// parsing bounds every length it reads, and errors never contain key
// material.
//
// The state format (protobuf, internal/spqrpb) is local to samizdat.
package spqr

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	pb "samizdat/session/spqr/internal/spqrpb"
)

// Version is an SPQR protocol version. It is also the first byte of every
// non-empty message.
type Version uint8

const (
	V0 Version = 0 // SPQR disabled: empty states and messages
	V1 Version = 1 // chunked incremental ML-KEM-768

	// MaxVersion is the newest version this package speaks.
	MaxVersion = V1
)

// Direction tells the two parties apart. The session initiator (Alice) is
// A2B, the recipient B2A.
type Direction uint8

const (
	A2B Direction = 0
	B2A Direction = 1
)

// Params configure a new state.
type Params struct {
	// AuthKey is the initial secret shared by both parties (libsignal uses
	// the 32-byte PQR key from PQXDH).
	AuthKey []byte
	// Version is the highest version we offer; MinVersion the lowest we
	// accept from the peer. libsignal 0.101+ uses V1 for both.
	Version, MinVersion Version
	Direction           Direction
	Chain               ChainParams
}

// ErrInvalidParams is returned by InitialState for unknown versions or
// directions.
var ErrInvalidParams = errors.New("spqr: invalid params")

// InitialState returns the serialized initial state. A V0 state is empty.
func InitialState(p Params) ([]byte, error) {
	if p.Version > MaxVersion || p.MinVersion > MaxVersion || p.Direction > B2A {
		return nil, ErrInvalidParams
	}
	if p.Version == V0 {
		return nil, nil
	}
	v1, err := initV1(p.Direction, p.AuthKey)
	if err != nil {
		return nil, err
	}
	inner, err := v1.toPB()
	if err != nil {
		return nil, err
	}
	return encodeState(&pb.State{
		Negotiation: &pb.State_Negotiation{
			AuthKey:     bytes.Clone(p.AuthKey),
			Direction:   pb.Direction(p.Direction),
			MinVersion:  pb.Version(p.MinVersion),
			ChainParams: chainParamsPB(p.Chain.canonical()),
		},
		Inner: &pb.State_V1{V1: inner},
	})
}

func chainParamsPB(p ChainParams) *pb.ChainParams {
	return &pb.ChainParams{MaxJump: p.MaxJump, MaxOooKeys: p.MaxOOOKeys}
}

func stateVersion(st *pb.State) Version {
	if st.GetV1() != nil {
		return V1
	}
	return V0
}

// CurrentVersion reports the state's version and, while negotiation is
// still open (nothing received yet), the minimum version it accepts.
func CurrentVersion(state []byte) (v Version, minVersion Version, negotiating bool, err error) {
	st, err := decodeState(state)
	if err != nil {
		return 0, 0, false, err
	}
	v = stateVersion(st)
	if st.Negotiation == nil {
		return v, v, false, nil
	}
	mv := st.Negotiation.MinVersion
	if mv > pb.Version(MaxVersion) || mv < 0 {
		return 0, 0, false, ErrStateDecode
	}
	return v, Version(mv), true, nil
}

// Send advances the state for one outgoing message. It returns the new
// state, the message to transmit (empty for V0) and the message key, nil
// while no key is available yet (V0, or V1 before the first received
// message when V0 is still acceptable).
func Send(state []byte, rand io.Reader) (newState, msg, key []byte, err error) {
	st, err := decodeState(state)
	if err != nil {
		return nil, nil, nil, err
	}
	if st.GetV1() == nil {
		return nil, nil, nil, nil
	}
	v1, err := v1FromPB(st.GetV1())
	if err != nil {
		return nil, nil, nil, err
	}
	m, es, err := v1.send(rand)
	if err != nil {
		return nil, nil, nil, err
	}

	var c *chain
	switch {
	case st.Chain != nil:
		if c, err = chainFromPB(st.Chain); err != nil {
			return nil, nil, nil, err
		}
	case st.Negotiation == nil:
		return nil, nil, nil, ErrChainNotAvailable
	case st.Negotiation.MinVersion > pb.Version_VERSION_V0:
		// V0 is not acceptable, so keys may be used from the start.
		if c, err = chainFrom(st); err != nil {
			return nil, nil, nil, err
		}
	}

	var chainPB *pb.Chain
	if c == nil {
		if es != nil {
			return nil, nil, nil, fmt.Errorf("%w: epoch secret without chain", ErrStateDecode)
		}
	} else {
		if es != nil {
			if err := c.addEpoch(es.epoch, es.secret); err != nil {
				return nil, nil, nil, err
			}
		}
		if m.index, key, err = c.sendKey(m.epoch - 1); err != nil {
			return nil, nil, nil, err
		}
		chainPB = c.toPB()
	}

	inner, err := v1.toPB()
	if err != nil {
		return nil, nil, nil, err
	}
	newState, err = encodeState(&pb.State{
		Negotiation: st.Negotiation, // sending never changes negotiation
		Chain:       chainPB,
		Inner:       &pb.State_V1{V1: inner},
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return newState, m.marshal(), key, nil
}

// msgVersion is the version of a message; ok is false for versions newer
// than ours.
func msgVersion(msg []byte) (v Version, ok bool) {
	if len(msg) == 0 {
		return V0, true
	}
	if Version(msg[0]) > MaxVersion {
		return 0, false
	}
	return Version(msg[0]), true
}

// Recv processes one incoming message and returns the new state and the
// message key (nil when the message carries none).
//
// Version negotiation: a message of a newer version than ours is ignored
// (state unchanged, no key). A message of an older version than our state
// downgrades us if negotiation is still open and the version is at least
// our minimum (ErrMinimumVersion otherwise); after negotiation it is
// ErrVersionMismatch. Receiving any message closes negotiation.
func Recv(state, msg []byte) (newState, key []byte, err error) {
	st, err := decodeState(state)
	if err != nil {
		return nil, nil, err
	}
	mv, ok := msgVersion(msg)
	if !ok {
		return bytes.Clone(state), nil, nil
	}
	if mv < stateVersion(st) {
		vn := st.Negotiation
		if vn == nil {
			return nil, nil, ErrVersionMismatch
		}
		if pb.Version(mv) < vn.MinVersion {
			return nil, nil, ErrMinimumVersion
		}
		// Negotiate down. The only version below ours is V0, whose state
		// is empty; the crate still builds the chain first, so a broken
		// state fails the same way here.
		if _, err := chainFrom(st); err != nil {
			return nil, nil, err
		}
		return nil, nil, nil
	}
	if st.GetV1() == nil {
		return nil, nil, nil
	}

	m, err := parseMessage(msg)
	if err != nil {
		return nil, nil, err
	}
	v1, err := v1FromPB(st.GetV1())
	if err != nil {
		return nil, nil, err
	}
	es, err := v1.recv(m)
	if err != nil {
		return nil, nil, err
	}
	c, err := chainFrom(st)
	if err != nil {
		return nil, nil, err
	}
	if es != nil {
		if err := c.addEpoch(es.epoch, es.secret); err != nil {
			return nil, nil, err
		}
	}
	keyEpoch := m.epoch - 1
	if keyEpoch != 0 || m.index != 0 {
		if key, err = c.recvKey(keyEpoch, m.index); err != nil {
			return nil, nil, err
		}
	}
	inner, err := v1.toPB()
	if err != nil {
		return nil, nil, err
	}
	newState, err = encodeState(&pb.State{
		Chain: c.toPB(), // receiving closes negotiation
		Inner: &pb.State_V1{V1: inner},
	})
	if err != nil {
		return nil, nil, err
	}
	return newState, key, nil
}
