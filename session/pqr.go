package session

import "io"

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
	// recv errors wrap errPQStateDecode when the state itself is corrupt.
	recv(state, msg []byte) (newState, key []byte, err error)
}

// pqr is the ratchet in use.
var pqr pqRatchet = pqDisabled{}

// pqDisabled behaves as SPQR version 0: an empty state, no messages, no
// keys, and incoming SPQR messages ignored.
type pqDisabled struct{}

func (pqDisabled) initialState([]byte, bool, bool) ([]byte, error) { return nil, nil }

func (pqDisabled) send([]byte, io.Reader) ([]byte, []byte, []byte, error) { return nil, nil, nil, nil }

func (pqDisabled) recv([]byte, []byte) ([]byte, []byte, error) { return nil, nil, nil }
