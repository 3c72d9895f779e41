package senderkey

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"samizdat/session/curve"
	"samizdat/session/internal/pb"
)

// Limits, as in libsignal's consts.rs.
const (
	// MaxForwardJumps is how many iterations a message may be ahead of the
	// receiver's chain.
	MaxForwardJumps = 25000
	// MaxMessageKeys is how many skipped message keys a chain keeps; older
	// ones are dropped first.
	MaxMessageKeys = 2000
	// MaxStates is how many chains a record keeps per (sender, distribution).
	MaxStates = 5
)

// Record holds the sender chains of one (sender, distribution) pair, most
// recent first. Its serialized form is libsignal's SenderKeyRecordStructure,
// so records can move between the two implementations. A Record holds secret
// keys and never prints them.
type Record struct {
	states []*pb.SenderKeyStateStructure
}

// ParseRecord decodes a record serialized by Record.Bytes or by libsignal's
// SenderKeyRecord.serialize. Like libsignal it does not validate the states;
// unusable ones fail when used.
func ParseRecord(b []byte) (*Record, error) {
	var r pb.SenderKeyRecordStructure
	if err := proto.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: record: %v", ErrMalformed, err)
	}
	states := r.SenderKeyStates
	for i, s := range states {
		if s == nil {
			states[i] = &pb.SenderKeyStateStructure{}
		}
	}
	return &Record{states: states}, nil
}

// Bytes serializes the record.
func (r *Record) Bytes() ([]byte, error) {
	b, err := proto.Marshal(&pb.SenderKeyRecordStructure{SenderKeyStates: r.states})
	if err != nil {
		return nil, fmt.Errorf("senderkey: encode record: %w", err)
	}
	return b, nil
}

// Clone returns a deep copy of the record.
func (r *Record) Clone() *Record {
	c := &Record{states: make([]*pb.SenderKeyStateStructure, len(r.states))}
	for i, s := range r.states {
		c.states[i] = proto.Clone(s).(*pb.SenderKeyStateStructure)
	}
	return c
}

// ChainIDs returns the chain ids of the record's states, most recent first.
func (r *Record) ChainIDs() []uint32 {
	ids := make([]uint32, len(r.states))
	for i, s := range r.states {
		ids[i] = s.GetChainId()
	}
	return ids
}

// Format prints the chain ids only, never keys.
func (r Record) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "senderkey.Record{chains:%v}", r.ChainIDs())
}

// current returns the most recent state (the one a sender encrypts with).
func (r *Record) current() (*pb.SenderKeyStateStructure, bool) {
	if len(r.states) == 0 {
		return nil, false
	}
	return r.states[0], true
}

func (r *Record) stateForChain(chainID uint32) (*pb.SenderKeyStateStructure, bool) {
	for _, s := range r.states {
		if s.GetChainId() == chainID {
			return s, true
		}
	}
	return nil, false
}

// addState adds a chain as libsignal does: a state with the same chain id
// and signing key is kept (with its progress) and moved to the front; states
// with the same chain id but another key are dropped; the oldest states are
// evicted beyond MaxStates.
func (r *Record) addState(version uint8, chainID, iteration uint32, seed []byte, pub curve.PublicKey, priv *curve.PrivateKey) {
	var existing *pb.SenderKeyStateStructure
	for i, s := range r.states {
		if s.GetChainId() != chainID {
			continue
		}
		if k, err := statePublic(s); err == nil && k.Equal(pub) {
			existing = s
			r.states = append(r.states[:i:i], r.states[i+1:]...)
			break
		}
	}
	kept := r.states[:0:0]
	for _, s := range r.states {
		if s.GetChainId() != chainID {
			kept = append(kept, s)
		}
	}
	r.states = kept
	if existing == nil {
		existing = newState(version, chainID, iteration, seed, pub, priv)
	}
	for len(r.states) >= MaxStates {
		r.states = r.states[:len(r.states)-1]
	}
	r.states = append([]*pb.SenderKeyStateStructure{existing}, r.states...)
}

func newState(version uint8, chainID, iteration uint32, seed []byte, pub curve.PublicKey, priv *curve.PrivateKey) *pb.SenderKeyStateStructure {
	sk := &pb.SenderKeyStateStructure_SenderSigningKey{Public: pub.Bytes()}
	if priv != nil {
		sk.Private = priv.Bytes()
	}
	return &pb.SenderKeyStateStructure{
		MessageVersion: uint32(version),
		ChainId:        chainID,
		SenderChainKey: &pb.SenderKeyStateStructure_SenderChainKey{
			Iteration: iteration,
			Seed:      append([]byte(nil), seed...),
		},
		SenderSigningKey: sk,
	}
}

// stateVersion maps a stored version to the message version; 0 is the
// first sender-key version, 3.
func stateVersion(s *pb.SenderKeyStateStructure) uint32 {
	if v := s.GetMessageVersion(); v != 0 {
		return v
	}
	return MessageVersion
}

func stateChainKey(s *pb.SenderKeyStateStructure) (chainKey, bool) {
	c := s.GetSenderChainKey()
	if c == nil {
		return chainKey{}, false
	}
	return chainKey{iteration: c.GetIteration(), seed: c.GetSeed()}, true
}

func setStateChainKey(s *pb.SenderKeyStateStructure, c chainKey) {
	s.SenderChainKey = &pb.SenderKeyStateStructure_SenderChainKey{Iteration: c.iteration, Seed: c.seed}
}

func statePublic(s *pb.SenderKeyStateStructure) (curve.PublicKey, error) {
	k := s.GetSenderSigningKey()
	if k == nil {
		return curve.PublicKey{}, fmt.Errorf("%w: missing signing key", ErrInvalidState)
	}
	pub, err := curve.DecodePublicKey(k.GetPublic())
	if err != nil {
		return curve.PublicKey{}, fmt.Errorf("%w: invalid public signing key", ErrInvalidState)
	}
	return pub, nil
}

func statePrivate(s *pb.SenderKeyStateStructure) (curve.PrivateKey, error) {
	k := s.GetSenderSigningKey()
	if k == nil {
		return curve.PrivateKey{}, fmt.Errorf("%w: missing signing key", ErrInvalidState)
	}
	priv, err := curve.NewPrivateKey(k.GetPrivate())
	if err != nil {
		return curve.PrivateKey{}, fmt.Errorf("%w: no private signing key (not our own chain)", ErrInvalidState)
	}
	return priv, nil
}

// addSkippedKey stores a skipped message key seed. Callers trim with
// trimSkippedKeys once they are done adding.
func addSkippedKey(s *pb.SenderKeyStateStructure, iteration uint32, seed []byte) {
	s.SenderMessageKeys = append(s.SenderMessageKeys, &pb.SenderKeyStateStructure_SenderMessageKey{Iteration: iteration, Seed: seed})
}

// trimSkippedKeys evicts the oldest skipped keys beyond MaxMessageKeys.
func trimSkippedKeys(s *pb.SenderKeyStateStructure) {
	if n := len(s.SenderMessageKeys) - MaxMessageKeys; n > 0 {
		s.SenderMessageKeys = append(s.SenderMessageKeys[:0:0], s.SenderMessageKeys[n:]...)
	}
}

// takeSkippedKey removes and returns the skipped key seed for iteration.
func takeSkippedKey(s *pb.SenderKeyStateStructure, iteration uint32) ([]byte, bool) {
	for i, k := range s.SenderMessageKeys {
		if k.GetIteration() == iteration {
			seed := k.GetSeed()
			s.SenderMessageKeys = append(s.SenderMessageKeys[:i:i], s.SenderMessageKeys[i+1:]...)
			return seed, true
		}
	}
	return nil, false
}
