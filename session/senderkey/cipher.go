package senderkey

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"samizdat/session/curve"
)

// Create returns the distribution message for our own chain for
// distributionID, creating the chain (random 31-bit chain id, random chain
// key, fresh signing key) if the store has none. sender is our own address.
// Send the result to every group member over pairwise sessions before
// sending group messages.
func Create(ctx context.Context, store Store, sender SenderAddress, distributionID [16]byte, rand io.Reader) (*DistributionMessage, error) {
	r, err := store.LoadSenderKey(ctx, sender, distributionID)
	if err != nil {
		return nil, fmt.Errorf("senderkey: load: %w", err)
	}
	if r == nil {
		r, err = freshRecord(rand)
		if err != nil {
			return nil, err
		}
		if err := store.StoreSenderKey(ctx, sender, distributionID, r); err != nil {
			return nil, fmt.Errorf("senderkey: store: %w", err)
		}
	}
	return distributionFor(r, distributionID)
}

// Rotate replaces our own chain for distributionID with a fresh one and
// returns its distribution message. sender is our own address.
//
// Call Rotate whenever the group's membership changes, and in particular
// when a member leaves or is removed, then send the returned message only to
// the current members: a removed member keeps every chain key it was given
// and can read every later message on that chain, so only a new chain whose
// key it never receives shuts it out. Receivers keep the old chain (among
// their MaxStates most recent) so messages sent before the rotation still
// decrypt. Whether and when to rotate is the caller's decision; this package
// never rotates on its own.
func Rotate(ctx context.Context, store Store, sender SenderAddress, distributionID [16]byte, rand io.Reader) (*DistributionMessage, error) {
	r, err := freshRecord(rand)
	if err != nil {
		return nil, err
	}
	if err := store.StoreSenderKey(ctx, sender, distributionID, r); err != nil {
		return nil, fmt.Errorf("senderkey: store: %w", err)
	}
	return distributionFor(r, distributionID)
}

func freshRecord(rand io.Reader) (*Record, error) {
	var buf [4 + chainKeySize]byte
	if _, err := io.ReadFull(rand, buf[:]); err != nil {
		return nil, fmt.Errorf("senderkey: read random: %w", err)
	}
	// 31-bit chain ids, as libsignal-protocol-java uses.
	chainID := binary.LittleEndian.Uint32(buf[:4]) >> 1
	kp, err := curve.GenerateKeyPair(rand)
	if err != nil {
		return nil, fmt.Errorf("senderkey: generate signing key: %w", err)
	}
	r := &Record{}
	r.addState(MessageVersion, chainID, 0, buf[4:], kp.Public, &kp.Private)
	return r, nil
}

func distributionFor(r *Record, distributionID [16]byte) (*DistributionMessage, error) {
	s, ok := r.current()
	if !ok {
		return nil, fmt.Errorf("%w: empty record", ErrInvalidState)
	}
	ck, ok := stateChainKey(s)
	if !ok {
		return nil, fmt.Errorf("%w: missing chain key", ErrInvalidState)
	}
	v := stateVersion(s)
	if v > 0xff {
		return nil, fmt.Errorf("%w: stored version %d", ErrInvalidState, v)
	}
	pub, err := statePublic(s)
	if err != nil {
		return nil, err
	}
	return newDistributionMessage(uint8(v), distributionID, s.GetChainId(), ck.iteration, ck.seed, pub)
}

// Process stores the chain announced by a distribution message received
// from sender, so that sender's messages on that chain can be decrypted. It
// must only be called with messages that arrived over an authenticated
// pairwise session with sender.
func Process(ctx context.Context, store Store, sender SenderAddress, m *DistributionMessage) error {
	if m == nil || len(m.chainKey) != chainKeySize {
		return fmt.Errorf("%w: nil or unparsed distribution message", ErrMalformed)
	}
	r, err := store.LoadSenderKey(ctx, sender, m.distributionID)
	if err != nil {
		return fmt.Errorf("senderkey: load: %w", err)
	}
	if r == nil {
		r = &Record{}
	}
	r.addState(m.version, m.chainID, m.iteration, m.chainKey, m.signingKey, nil)
	if err := store.StoreSenderKey(ctx, sender, m.distributionID, r); err != nil {
		return fmt.Errorf("senderkey: store: %w", err)
	}
	return nil
}

// Encrypt encrypts plaintext on our own chain for distributionID and
// returns the serialized, signed SenderKeyMessage. sender is our own
// address; the chain must exist (see Create).
func Encrypt(ctx context.Context, store Store, sender SenderAddress, distributionID [16]byte, plaintext []byte, rand io.Reader) ([]byte, error) {
	r, err := store.LoadSenderKey(ctx, sender, distributionID)
	if err != nil {
		return nil, fmt.Errorf("senderkey: load: %w", err)
	}
	if r == nil {
		return nil, fmt.Errorf("%w: distribution %x", ErrNoSenderKeyState, distributionID)
	}
	s, ok := r.current()
	if !ok {
		return nil, fmt.Errorf("%w: empty record", ErrInvalidState)
	}
	v := stateVersion(s)
	if v > 0xff {
		return nil, fmt.Errorf("%w: stored version %d", ErrInvalidState, v)
	}
	ck, ok := stateChainKey(s)
	if !ok {
		return nil, fmt.Errorf("%w: missing chain key", ErrInvalidState)
	}
	ct, err := newMessageKey(ck.messageSeed()).encrypt(plaintext)
	if err != nil {
		return nil, err
	}
	priv, err := statePrivate(s)
	if err != nil {
		return nil, err
	}
	msg, err := newMessage(uint8(v), distributionID, s.GetChainId(), ck.iteration, ct, priv, rand)
	if err != nil {
		return nil, err
	}
	next, err := ck.next()
	if err != nil {
		return nil, err
	}
	setStateChainKey(s, next)
	if err := store.StoreSenderKey(ctx, sender, distributionID, r); err != nil {
		return nil, fmt.Errorf("senderkey: store: %w", err)
	}
	return msg.Bytes(), nil
}

// Decrypt verifies and decrypts a SenderKeyMessage from sender and returns
// the plaintext. The record is updated (and the message key consumed) only
// when decryption succeeds.
func Decrypt(ctx context.Context, store Store, sender SenderAddress, ciphertext []byte) ([]byte, error) {
	msg, err := ParseMessage(ciphertext)
	if err != nil {
		return nil, err
	}
	r, err := store.LoadSenderKey(ctx, sender, msg.distributionID)
	if err != nil {
		return nil, fmt.Errorf("senderkey: load: %w", err)
	}
	if r == nil {
		return nil, fmt.Errorf("%w: distribution %x", ErrNoSenderKeyState, msg.distributionID)
	}
	s, ok := r.stateForChain(msg.chainID)
	if !ok {
		return nil, fmt.Errorf("%w: distribution %x has no chain %d", ErrNoSenderKeyState, msg.distributionID, msg.chainID)
	}
	if uint32(msg.version) != stateVersion(s) {
		return nil, fmt.Errorf("%w: message version %d, chain version %d", ErrVersion, msg.version, stateVersion(s))
	}
	pub, err := statePublic(s)
	if err != nil {
		return nil, err
	}
	if !msg.VerifySignature(pub) {
		return nil, ErrBadSignature
	}
	seed, err := messageSeedFor(s, msg.iteration)
	if err != nil {
		return nil, err
	}
	pt, err := newMessageKey(seed).decrypt(msg.ciphertext)
	if err != nil {
		return nil, err
	}
	if err := store.StoreSenderKey(ctx, sender, msg.distributionID, r); err != nil {
		return nil, fmt.Errorf("senderkey: store: %w", err)
	}
	return pt, nil
}
