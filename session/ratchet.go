package session

import (
	"errors"
	"fmt"
	"io"

	"samizdat/session/curve"
	"samizdat/session/internal/cbc"
	"samizdat/session/internal/pb"
)

// This file holds the Double Ratchet operations on a session structure and
// the triple-ratchet encrypt and decrypt of one message. Callers pass a
// copy of the stored state and commit it only on success.

func senderChainKey(s *pb.SessionStructure) (chainKey, error) {
	if s.SenderChain == nil || s.SenderChain.ChainKey == nil {
		return chainKey{}, fmt.Errorf("%w: missing sender chain", ErrInvalidState)
	}
	ck := s.SenderChain.ChainKey
	if len(ck.Key) != 32 {
		return chainKey{}, fmt.Errorf("%w: invalid sender chain key", ErrInvalidState)
	}
	return chainKey{key: ck.Key, index: ck.Index}, nil
}

func senderRatchetKeyPair(s *pb.SessionStructure) (curve.KeyPair, error) {
	if s.SenderChain == nil {
		return curve.KeyPair{}, fmt.Errorf("%w: missing sender chain", ErrInvalidState)
	}
	kp, err := decodeKeyPair(s.SenderChain.SenderRatchetKey, s.SenderChain.SenderRatchetKeyPrivate)
	if err != nil {
		return curve.KeyPair{}, fmt.Errorf("%w: sender ratchet key", ErrInvalidState)
	}
	return kp, nil
}

func chainKeyPB(ck chainKey) *pb.SessionStructure_Chain_ChainKey {
	return &pb.SessionStructure_Chain_ChainKey{Index: ck.index, Key: ck.key}
}

func setSenderChain(s *pb.SessionStructure, kp curve.KeyPair, ck chainKey) {
	s.SenderChain = &pb.SessionStructure_Chain{
		SenderRatchetKey:        kp.Public.Bytes(),
		SenderRatchetKeyPrivate: kp.Private.Bytes(),
		ChainKey:                chainKeyPB(ck),
	}
}

func addReceiverChain(s *pb.SessionStructure, their curve.PublicKey, ck chainKey) {
	s.ReceiverChains = append(s.ReceiverChains, &pb.SessionStructure_Chain{
		SenderRatchetKey: their.Bytes(),
		ChainKey:         chainKeyPB(ck),
	})
	if n := len(s.ReceiverChains); n > MaxReceiverChains {
		s.ReceiverChains = append(s.ReceiverChains[:0:0], s.ReceiverChains[n-MaxReceiverChains:]...)
	}
}

// receiverChain finds the receiving chain for a sender ratchet key;
// chains whose key does not decode are skipped.
func receiverChain(s *pb.SessionStructure, their curve.PublicKey) *pb.SessionStructure_Chain {
	for _, c := range s.ReceiverChains {
		k, err := curve.DecodePublicKey(c.SenderRatchetKey)
		if err == nil && k.Equal(their) {
			return c
		}
	}
	return nil
}

// ensureReceiverChain returns the chain key for their ratchet key, taking a
// Diffie-Hellman ratchet step (new receiving and sending chains) when the
// key is new.
func ensureReceiverChain(s *pb.SessionStructure, their curve.PublicKey, rand io.Reader) (chainKey, error) {
	if c := receiverChain(s, their); c != nil {
		if c.ChainKey == nil || len(c.ChainKey.Key) != 32 {
			return chainKey{}, fmt.Errorf("%w: invalid receiver chain key", ErrInvalidState)
		}
		return chainKey{key: c.ChainKey.Key, index: c.ChainKey.Index}, nil
	}
	if len(s.RootKey) != 32 {
		return chainKey{}, fmt.Errorf("%w: invalid root key", ErrInvalidState)
	}
	ours, err := senderRatchetKeyPair(s)
	if err != nil {
		return chainKey{}, err
	}
	cur, err := senderChainKey(s)
	if err != nil {
		return chainKey{}, err
	}
	root, recvCK, err := rootStep(s.RootKey, their, ours.Private)
	if err != nil {
		return chainKey{}, err
	}
	fresh, err := curve.GenerateKeyPair(rand)
	if err != nil {
		return chainKey{}, fmt.Errorf("session: ratchet key: %w", err)
	}
	root, sendCK, err := rootStep(root, their, fresh.Private)
	if err != nil {
		return chainKey{}, err
	}
	if cur.index > 0 {
		s.PreviousCounter = cur.index - 1
	} else {
		s.PreviousCounter = 0
	}
	s.RootKey = root
	addReceiverChain(s, their, recvCK)
	setSenderChain(s, fresh, sendCK)
	return recvCK, nil
}

// storedKey is a message key kept for a skipped message: a seed (current
// sessions) or, in records from before the triple ratchet, final keys.
type storedKey struct {
	seed []byte
	keys *messageKeys
}

func (k storedKey) derive(pqKey []byte) (messageKeys, error) {
	if k.seed != nil {
		return deriveMessageKeys(k.seed, pqKey), nil
	}
	if pqKey != nil {
		return messageKeys{}, fmt.Errorf("%w: pq key for a legacy message key", ErrInvalidState)
	}
	return *k.keys, nil
}

// consumeMessageKey returns the key material for counter in their chain,
// taking a stored skipped key or advancing the chain (storing the keys it
// skips). Each key is returned once; a second request is a duplicate.
func consumeMessageKey(s *pb.SessionStructure, their curve.PublicKey, ck chainKey, counter uint32, maxJump uint64) (storedKey, error) {
	chain := receiverChain(s, their)
	if chain == nil {
		return storedKey{}, fmt.Errorf("%w: missing receiver chain", ErrInvalidState)
	}
	if ck.index > counter {
		for i, mk := range chain.MessageKeys {
			if mk.Index != counter {
				continue
			}
			chain.MessageKeys = append(chain.MessageKeys[:i:i], chain.MessageKeys[i+1:]...)
			if len(mk.Seed) > 0 {
				return storedKey{seed: mk.Seed}, nil
			}
			if len(mk.CipherKey) != 32 || len(mk.MacKey) != 32 || len(mk.Iv) != 16 {
				return storedKey{}, fmt.Errorf("%w: invalid stored message key", ErrInvalidState)
			}
			return storedKey{keys: &messageKeys{cipherKey: mk.CipherKey, macKey: mk.MacKey, iv: mk.Iv}}, nil
		}
		return storedKey{}, fmt.Errorf("%w: counter %d, chain at %d", ErrDuplicateMessage, counter, ck.index)
	}
	if uint64(counter-ck.index) > maxJump {
		return storedKey{}, fmt.Errorf("%w: counter %d, chain at %d", ErrTooFarAhead, counter, ck.index)
	}
	for ck.index < counter {
		mk := &pb.SessionStructure_Chain_MessageKey{Index: ck.index, Seed: ck.messageSeed()}
		chain.MessageKeys = append(chain.MessageKeys, nil)
		copy(chain.MessageKeys[1:], chain.MessageKeys)
		chain.MessageKeys[0] = mk
		if len(chain.MessageKeys) > MaxMessageKeys {
			chain.MessageKeys = chain.MessageKeys[:MaxMessageKeys]
		}
		ck = ck.next()
	}
	chain.ChainKey = chainKeyPB(ck.next())
	return storedKey{seed: ck.messageSeed()}, nil
}

// isSelfSession reports whether s is a session with ourselves.
func isSelfSession(s *pb.SessionStructure, local, remote Address) bool {
	l, err1 := localIdentity(s)
	r, err2 := remoteIdentity(s)
	return err1 == nil && err2 == nil && sameAccount(local, remote, l.Equal(r))
}

var errPQStateDecode = errors.New("pq state decode")

// decryptWithState decrypts msg with session s, updating s. On error s may
// be partly modified and must be discarded.
func decryptWithState(s *pb.SessionStructure, local, remote Address, msg *SignalMessage, rand io.Reader) ([]byte, error) {
	if len(s.RootKey) != 32 {
		return nil, fmt.Errorf("%w: no session available to decrypt", ErrInvalidState)
	}
	if uint32(msg.version) != sessionVersion(s) {
		return nil, fmt.Errorf("%w: message version %d, session version %d", ErrUnknownVersion, msg.version, sessionVersion(s))
	}
	theirIdentity, err := remoteIdentity(s)
	if err != nil {
		return nil, err
	}
	ourIdentity, err := localIdentity(s)
	if err != nil {
		return nil, err
	}
	var maxJump uint64 = MaxForwardJumps
	if isSelfSession(s, local, remote) {
		maxJump = 1<<32 - 1
	}
	ck, err := ensureReceiverChain(s, msg.ratchetKey, rand)
	if err != nil {
		return nil, err
	}
	stored, err := consumeMessageKey(s, msg.ratchetKey, ck, msg.counter, maxJump)
	if err != nil {
		return nil, err
	}
	// Any SPQR error but a corrupt state is an invalid message, never a
	// duplicate, as in libsignal: the caller goes on to the next session.
	// Only the Double Ratchet can tell a duplicate (above). SPQR refuses an
	// index it handed out before (spqr.ErrKeyAlreadyRequested) whether the
	// message repeats one from a chain the ratchet has since dropped or
	// belongs to another session with the same peer. The latter is the
	// normal case after simultaneous initiation: each side's current
	// session is the peer's, and the first answers, meant for the archived
	// one, carry indexes the current one already used.
	pqState, pqKey, err := pqr.recv(s.PqRatchetState, msg.pqRatchet)
	if err != nil {
		if errors.Is(err, errPQStateDecode) {
			return nil, fmt.Errorf("%w: post-quantum ratchet state", ErrInvalidState)
		}
		return nil, fmt.Errorf("%w: %w", ErrPQRatchet, err)
	}
	keys, err := stored.derive(pqKey)
	if err != nil {
		return nil, err
	}
	if !msg.verifyMAC(remote, local, theirIdentity, ourIdentity, keys.macKey) {
		return nil, ErrBadMAC
	}
	plaintext, err := cbc.Decrypt(keys.cipherKey, keys.iv, msg.ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: failed to decrypt", ErrInvalidMessage)
	}
	s.PqRatchetState = pqState
	s.PendingPreKey = nil
	s.PendingKyberPreKey = nil
	return plaintext, nil
}

// encryptWithState encrypts plaintext with session s's sending chain,
// advancing s. addresses is nil or the value to bind under the MAC.
func encryptWithState(s *pb.SessionStructure, plaintext, addresses []byte, rand io.Reader) (*SignalMessage, error) {
	ck, err := senderChainKey(s)
	if err != nil {
		return nil, err
	}
	ours, err := senderRatchetKeyPair(s)
	if err != nil {
		return nil, err
	}
	ourIdentity, err := localIdentity(s)
	if err != nil {
		return nil, err
	}
	theirIdentity, err := remoteIdentity(s)
	if err != nil {
		return nil, err
	}
	version := sessionVersion(s)
	if version > 0xF {
		return nil, fmt.Errorf("%w: session version %d", ErrInvalidState, version)
	}
	pqState, pqMsg, pqKey, err := pqr.send(s.PqRatchetState, rand)
	if err != nil {
		return nil, fmt.Errorf("%w: send: %w", ErrPQRatchet, err)
	}
	keys := deriveMessageKeys(ck.messageSeed(), pqKey)
	ctext, err := cbc.Encrypt(keys.cipherKey, keys.iv, plaintext)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid sender chain message keys", ErrInvalidState)
	}
	msg, err := newSignalMessage(uint8(version), keys.macKey, addresses, ours.Public, ck.index,
		s.PreviousCounter, ctext, ourIdentity, theirIdentity, pqMsg)
	if err != nil {
		return nil, err
	}
	s.SenderChain.ChainKey = chainKeyPB(ck.next())
	s.PqRatchetState = pqState
	return msg, nil
}
