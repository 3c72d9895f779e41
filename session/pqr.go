package session

import (
	"errors"
	"fmt"
	"io"
	"math"

	"samizdat/session/spqr"
)

// pqRatchet is the post-quantum half of the triple ratchet as this package
// uses it: the spqr crate's initial_state / send / recv over opaque state
// bytes. The message key it yields (nil when there is none) salts the
// Double Ratchet's message-key derivation.
type pqRatchet interface {
	// initialState returns the state for a new session. initiator is the
	// side that processed the bundle (direction A2B); selfSession lifts the
	// forward-jump limit as libsignal does for note-to-self.
	initialState(authKey []byte, initiator, selfSession bool) ([]byte, error)
	send(state []byte, rand io.Reader) (newState, msg, key []byte, err error)
	// recv errors wrap errPQStateDecode when the state itself is corrupt;
	// any other error is about the message (see decryptWithState).
	recv(state, msg []byte) (newState, key []byte, err error)
}

// pqr is the ratchet in use: SPQR V1, required of the peer, as libsignal
// 0.103 does.
var pqr pqRatchet = spqrV1{}

// spqrV1 runs package spqr with version and minimum version V1.
type spqrV1 struct{}

func (spqrV1) initialState(authKey []byte, initiator, selfSession bool) ([]byte, error) {
	dir := spqr.B2A
	if initiator {
		dir = spqr.A2B
	}
	chain := spqr.ChainParams{MaxJump: MaxForwardJumps, MaxOOOKeys: MaxMessageKeys}
	if selfSession {
		chain.MaxJump = math.MaxUint32
	}
	return spqr.InitialState(spqr.Params{
		AuthKey:    authKey,
		Version:    spqr.V1,
		MinVersion: spqr.V1,
		Direction:  dir,
		Chain:      chain,
	})
}

func (spqrV1) send(state []byte, rand io.Reader) ([]byte, []byte, []byte, error) {
	return spqr.Send(state, rand)
}

func (spqrV1) recv(state, msg []byte) ([]byte, []byte, error) {
	st, key, err := spqr.Recv(state, msg)
	if errors.Is(err, spqr.ErrStateDecode) {
		return nil, nil, fmt.Errorf("%w: %w", errPQStateDecode, err)
	}
	return st, key, err
}

// pqDisabled behaves as SPQR version 0: an empty state, no messages, no
// keys, and incoming SPQR messages ignored. Tests use it to check that the
// Double Ratchet alone is sound.
type pqDisabled struct{}

func (pqDisabled) initialState([]byte, bool, bool) ([]byte, error) { return nil, nil }

func (pqDisabled) send([]byte, io.Reader) ([]byte, []byte, []byte, error) { return nil, nil, nil, nil }

func (pqDisabled) recv([]byte, []byte) ([]byte, []byte, error) { return nil, nil, nil }
