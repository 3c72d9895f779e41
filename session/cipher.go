package session

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"samizdat/session/curve"
	"samizdat/session/internal/pb"
)

// This file is the public face of the package, libsignal's
// process_prekey_bundle, message_encrypt and message_decrypt. Every
// function loads the record for the remote address, works on a copy and
// stores it back only when the whole operation succeeded. A nil rand means
// crypto/rand.

func randOrDefault(r io.Reader) io.Reader {
	if r == nil {
		return cryptorand.Reader
	}
	return r
}

// ProcessPreKeyBundle opens a new session with remote from its prekey
// bundle (PQXDH, initiator side). It verifies both bundle signatures,
// checks that the bundle's identity is trusted for sending, records the
// identity and makes the new session current (archiving any older one).
// The next Encrypt for remote returns a PreKeySignalMessage, until remote
// answers. local is our own address; it is bound into the first messages
// when both addresses are Signal service IDs, as libsignal does.
func ProcessPreKeyBundle(ctx context.Context, st Stores, local, remote Address, bundle *PreKeyBundle, now time.Time, rand io.Reader) error {
	if bundle == nil {
		return fmt.Errorf("%w: nil bundle", ErrMalformed)
	}
	rand = randOrDefault(rand)
	theirIdentity := bundle.IdentityKey
	trusted, err := st.Identity.IsTrustedIdentity(ctx, remote, theirIdentity, true)
	if err != nil {
		return fmt.Errorf("session: identity store: %w", err)
	}
	if !trusted {
		return &UntrustedIdentityError{Address: remote}
	}
	if err := bundle.Verify(); err != nil {
		return err
	}
	rec, err := st.Sessions.LoadSession(ctx, remote)
	if err != nil {
		return fmt.Errorf("session: load session: %w", err)
	}
	if rec == nil {
		rec = NewSessionRecord()
	}
	ourIdentity, err := st.Identity.IdentityKeyPair(ctx)
	if err != nil {
		return fmt.Errorf("session: identity store: %w", err)
	}
	localRegID, err := st.Identity.LocalRegistrationID(ctx)
	if err != nil {
		return fmt.Errorf("session: identity store: %w", err)
	}

	base, err := curve.GenerateKeyPair(rand)
	if err != nil {
		return fmt.Errorf("session: base key: %w", err)
	}
	params := initiatorParams{
		ourIdentity:   ourIdentity,
		ourBase:       base,
		theirIdentity: theirIdentity,
		theirSigned:   bundle.SignedPreKey,
		theirKyber:    bundle.KyberPreKey,
	}
	if bundle.HasPreKey {
		k := bundle.PreKey
		params.theirOneTime = &k
	}
	self := sameAccount(local, remote, ourIdentity.Public.Equal(theirIdentity))
	s, err := initializeInitiator(params, self, rand)
	if err != nil {
		return err
	}
	pending := &pb.SessionStructure_PendingPreKey{
		SignedPreKeyId: int32(bundle.SignedPreKeyID),
		BaseKey:        base.Public.Bytes(),
		Timestamp:      uint64(max(now.Unix(), 0)),
	}
	if bundle.HasPreKey {
		id := bundle.PreKeyID
		pending.PreKeyId = &id
	}
	s.PendingPreKey = pending
	s.PendingKyberPreKey.PreKeyId = bundle.KyberPreKeyID
	s.LocalRegistrationId = localRegID
	s.RemoteRegistrationId = bundle.RegistrationID

	if _, err := st.Identity.SaveIdentity(ctx, remote, theirIdentity); err != nil {
		return fmt.Errorf("session: identity store: %w", err)
	}
	rec.promoteState(s)
	if err := st.Sessions.StoreSession(ctx, remote, rec); err != nil {
		return fmt.Errorf("session: store session: %w", err)
	}
	return nil
}

// initializeInitiator runs PQXDH as the initiator and builds the session:
// a receiving chain on the recipient's signed prekey and a first sending
// chain from a fresh ratchet key.
func initializeInitiator(p initiatorParams, self bool, rand io.Reader) (*pb.SessionStructure, error) {
	keys, kyberCT, err := pqxdhInitiate(p, rand)
	if err != nil {
		return nil, err
	}
	sending, err := curve.GenerateKeyPair(rand)
	if err != nil {
		return nil, fmt.Errorf("session: ratchet key: %w", err)
	}
	root, sendCK, err := rootStep(keys.rootKey, p.theirSigned, sending.Private)
	if err != nil {
		return nil, err
	}
	s, err := newSessionState(p.ourIdentity.Public, p.theirIdentity, p.ourBase.Public, root, keys.pqAuthKey, true, self)
	if err != nil {
		return nil, err
	}
	addReceiverChain(s, p.theirSigned, keys.chainKey)
	setSenderChain(s, sending, sendCK)
	s.PendingKyberPreKey = &pb.SessionStructure_PendingKyberPreKey{PreKeyId: ^uint32(0), Ciphertext: kyberCT}
	return s, nil
}

// initializeRecipient runs PQXDH as the recipient and builds the session;
// our first sending ratchet key is the signed prekey.
func initializeRecipient(p recipientParams, self bool) (*pb.SessionStructure, error) {
	keys, err := pqxdhAccept(p)
	if err != nil {
		return nil, err
	}
	s, err := newSessionState(p.ourIdentity.Public, p.theirIdentity, p.theirBase, keys.rootKey, keys.pqAuthKey, false, self)
	if err != nil {
		return nil, err
	}
	setSenderChain(s, p.ourSigned, keys.chainKey)
	return s, nil
}

// newSessionState is the part of a new session both sides build alike: the
// identities, the root key, the initiator's base key and the SPQR state.
func newSessionState(ourIdentity, theirIdentity, aliceBase curve.PublicKey, root, pqAuthKey []byte, initiator, self bool) (*pb.SessionStructure, error) {
	pqState, err := pqr.initialState(pqAuthKey, initiator, self)
	if err != nil {
		return nil, fmt.Errorf("%w: initial state: %w", ErrPQRatchet, err)
	}
	return &pb.SessionStructure{
		SessionVersion:       CurrentVersion,
		LocalIdentityPublic:  ourIdentity.Bytes(),
		RemoteIdentityPublic: theirIdentity.Bytes(),
		RootKey:              root,
		AliceBaseKey:         aliceBase.Bytes(),
		PqRatchetState:       pqState,
	}, nil
}

// Encrypt encrypts plaintext for remote with the current session. While
// the session is unacknowledged (we opened it and remote has not answered)
// the result is a *PreKeySignalMessage, afterwards a *SignalMessage. It
// fails with ErrNoSession when there is no session or the unacknowledged
// one is older than MaxUnacknowledgedSessionAge at now, and with an
// *UntrustedIdentityError when remote's identity is no longer trusted.
func Encrypt(ctx context.Context, st Stores, local, remote Address, plaintext []byte, now time.Time, rand io.Reader) (CiphertextMessage, error) {
	rand = randOrDefault(rand)
	rec, err := st.Sessions.LoadSession(ctx, remote)
	if err != nil {
		return nil, fmt.Errorf("session: load session: %w", err)
	}
	if rec == nil || rec.current == nil {
		return nil, fmt.Errorf("%w: with %s", ErrNoSession, remote)
	}
	rec = rec.Clone()
	s := rec.current
	theirIdentity, err := remoteIdentity(s)
	if err != nil {
		return nil, err
	}

	var out CiphertextMessage
	if p := s.PendingPreKey; p != nil {
		created := time.Unix(int64(p.Timestamp), 0)
		if created.Add(MaxUnacknowledgedSessionAge).Before(now) {
			return nil, fmt.Errorf("%w: unacknowledged session with %s is stale", ErrNoSession, remote)
		}
		baseKey, err := curve.DecodePublicKey(p.BaseKey)
		if err != nil {
			return nil, fmt.Errorf("%w: pending prekey base key", ErrInvalidState)
		}
		ourIdentity, err := localIdentity(s)
		if err != nil {
			return nil, err
		}
		var kyberID *uint32
		var kyberCT []byte
		if k := s.PendingKyberPreKey; k != nil {
			id := k.PreKeyId
			kyberID, kyberCT = &id, k.Ciphertext
		}
		msg, err := encryptWithState(s, plaintext, addressesBinary(local, remote), rand)
		if err != nil {
			return nil, err
		}
		var preKeyID *uint32
		if p.PreKeyId != nil {
			id := *p.PreKeyId
			preKeyID = &id
		}
		out, err = newPreKeySignalMessage(msg.version, s.LocalRegistrationId, preKeyID, uint32(p.SignedPreKeyId),
			kyberID, kyberCT, baseKey, ourIdentity, msg)
		if err != nil {
			return nil, err
		}
	} else {
		msg, err := encryptWithState(s, plaintext, nil, rand)
		if err != nil {
			return nil, err
		}
		out = msg
	}

	if err := commit(ctx, st, remote, theirIdentity, true, rec); err != nil {
		return nil, err
	}
	return out, nil
}

// commit is the last step of Encrypt and DecryptSignalMessage, run once the
// message is built or has authenticated: it checks that remote's identity
// is still trusted in that direction, records it and stores rec.
func commit(ctx context.Context, st Stores, remote Address, identity curve.PublicKey, sending bool, rec *SessionRecord) error {
	trusted, err := st.Identity.IsTrustedIdentity(ctx, remote, identity, sending)
	if err != nil {
		return fmt.Errorf("session: identity store: %w", err)
	}
	if !trusted {
		return &UntrustedIdentityError{Address: remote}
	}
	if _, err := st.Identity.SaveIdentity(ctx, remote, identity); err != nil {
		return fmt.Errorf("session: identity store: %w", err)
	}
	if err := st.Sessions.StoreSession(ctx, remote, rec); err != nil {
		return fmt.Errorf("session: store session: %w", err)
	}
	return nil
}

// Decrypt decrypts a *SignalMessage or *PreKeySignalMessage from remote
// (see DecryptSignalMessage and DecryptPreKeyMessage).
func Decrypt(ctx context.Context, st Stores, local, remote Address, msg CiphertextMessage, rand io.Reader) ([]byte, error) {
	switch m := msg.(type) {
	case *SignalMessage:
		return DecryptSignalMessage(ctx, st, local, remote, m, rand)
	case *PreKeySignalMessage:
		return DecryptPreKeyMessage(ctx, st, local, remote, m, rand)
	case nil:
		return nil, fmt.Errorf("%w: nil message", ErrMalformed)
	default:
		return nil, fmt.Errorf("%w: cannot decrypt message type %d here", ErrMalformed, msg.Type())
	}
}

// DecryptSignalMessage decrypts a message on an existing session with
// remote, trying the current session and then the archived ones (a
// success on an archived session makes it current again, as libsignal
// does). Nothing is stored unless the message authenticates. Errors wrap
// ErrNoSession, ErrDuplicateMessage, ErrInvalidMessage (with ErrBadMAC,
// ErrTooFarAhead, ... alongside when known) or ErrUntrustedIdentity.
func DecryptSignalMessage(ctx context.Context, st Stores, local, remote Address, msg *SignalMessage, rand io.Reader) ([]byte, error) {
	if msg == nil || len(msg.serialized) < 1+macLength {
		return nil, fmt.Errorf("%w: nil or unparsed message", ErrMalformed)
	}
	rand = randOrDefault(rand)
	rec, err := st.Sessions.LoadSession(ctx, remote)
	if err != nil {
		return nil, fmt.Errorf("session: load session: %w", err)
	}
	if rec == nil {
		return nil, fmt.Errorf("%w: with %s", ErrNoSession, remote)
	}
	plaintext, err := decryptFromRecord(rec, local, remote, msg, false, rand)
	if err != nil {
		return nil, err
	}
	theirIdentity, err := remoteIdentity(rec.current)
	if err != nil {
		return nil, err
	}
	if err := commit(ctx, st, remote, theirIdentity, false, rec); err != nil {
		return nil, err
	}
	return plaintext, nil
}

// DecryptPreKeyMessage accepts a session opened by remote (PQXDH,
// recipient side) and decrypts its message. A repeated PreKeySignalMessage
// for a session we already have is decrypted on that session. On success
// the one-time prekey is removed and the Kyber prekey marked used (the
// store removes it unless it is a last-resort key).
func DecryptPreKeyMessage(ctx context.Context, st Stores, local, remote Address, msg *PreKeySignalMessage, rand io.Reader) ([]byte, error) {
	if msg == nil || msg.message == nil || len(msg.message.serialized) < 1+macLength {
		return nil, fmt.Errorf("%w: nil or unparsed message", ErrMalformed)
	}
	rand = randOrDefault(rand)
	rec, err := st.Sessions.LoadSession(ctx, remote)
	if err != nil {
		return nil, fmt.Errorf("session: load session: %w", err)
	}
	if rec == nil {
		rec = NewSessionRecord()
	}
	trusted, err := st.Identity.IsTrustedIdentity(ctx, remote, msg.identityKey, false)
	if err != nil {
		return nil, fmt.Errorf("session: identity store: %w", err)
	}
	if !trusted {
		return nil, &UntrustedIdentityError{Address: remote}
	}
	used, err := processPreKey(ctx, st, rec, local, remote, msg)
	if err != nil {
		return nil, err
	}
	plaintext, err := decryptFromRecord(rec, local, remote, msg.message, true, rand)
	if err != nil {
		return nil, err
	}
	if _, err := st.Identity.SaveIdentity(ctx, remote, msg.identityKey); err != nil {
		return nil, fmt.Errorf("session: identity store: %w", err)
	}
	if used {
		if msg.kyberPreKeyID != nil {
			if err := st.KyberPreKeys.MarkKyberPreKeyUsed(ctx, *msg.kyberPreKeyID, msg.signedPreKeyID, msg.baseKey); err != nil {
				return nil, fmt.Errorf("session: mark kyber prekey used: %w", err)
			}
		}
		if msg.preKeyID != nil {
			if err := st.PreKeys.RemovePreKey(ctx, *msg.preKeyID); err != nil {
				return nil, fmt.Errorf("session: remove prekey: %w", err)
			}
		}
	}
	if err := st.Sessions.StoreSession(ctx, remote, rec); err != nil {
		return nil, fmt.Errorf("session: store session: %w", err)
	}
	return plaintext, nil
}

// processPreKey makes the session msg belongs to current in rec, creating
// it if needed. used reports whether prekeys were consumed (a new session).
func processPreKey(ctx context.Context, st Stores, rec *SessionRecord, local, remote Address, msg *PreKeySignalMessage) (used bool, err error) {
	found, err := rec.promoteMatchingSession(uint32(msg.version), msg.baseKey.Bytes())
	if err != nil {
		return false, err
	}
	if found {
		return false, nil
	}
	if msg.version == preKyberVersion {
		return false, fmt.Errorf("%w: X3DH no longer supported", ErrInvalidMessage)
	}
	signed, err := st.SignedPreKeys.SignedPreKey(ctx, msg.signedPreKeyID)
	if err != nil {
		return false, err
	}
	if msg.kyberPreKeyID == nil || msg.kyberCiphertext == nil {
		return false, fmt.Errorf("%w: missing pq prekey", ErrInvalidMessage)
	}
	kyber, err := st.KyberPreKeys.KyberPreKey(ctx, *msg.kyberPreKeyID)
	if err != nil {
		return false, err
	}
	var oneTime *curve.KeyPair
	if msg.preKeyID != nil {
		pk, err := st.PreKeys.PreKey(ctx, *msg.preKeyID)
		if err != nil {
			return false, err
		}
		oneTime = &pk.KeyPair
	}
	ourIdentity, err := st.Identity.IdentityKeyPair(ctx)
	if err != nil {
		return false, fmt.Errorf("session: identity store: %w", err)
	}
	localRegID, err := st.Identity.LocalRegistrationID(ctx)
	if err != nil {
		return false, fmt.Errorf("session: identity store: %w", err)
	}
	self := sameAccount(local, remote, ourIdentity.Public.Equal(msg.identityKey))
	s, err := initializeRecipient(recipientParams{
		ourIdentity:     ourIdentity,
		ourSigned:       signed.KeyPair,
		ourOneTime:      oneTime,
		ourKyber:        kyber.KeyPair,
		theirIdentity:   msg.identityKey,
		theirBase:       msg.baseKey,
		kyberCiphertext: msg.kyberCiphertext,
	}, self)
	if err != nil {
		return false, err
	}
	s.LocalRegistrationId = localRegID
	s.RemoteRegistrationId = msg.registrationID
	rec.promoteState(s)
	return true, nil
}

// decryptFromRecord tries the current session, then (for Whisper messages
// only) the archived ones, each on a copy. On success rec is updated. As in
// libsignal, only a Double Ratchet duplicate ends the search early; every
// other failure, SPQR's included, moves on to the next session.
func decryptFromRecord(rec *SessionRecord, local, remote Address, msg *SignalMessage, preKey bool, rand io.Reader) ([]byte, error) {
	var firstErr error
	note := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	if rec.current != nil {
		s := rec.Clone().current
		plaintext, err := decryptWithState(s, local, remote, msg, rand)
		switch {
		case err == nil:
			rec.current = s
			return plaintext, nil
		case errors.Is(err, ErrDuplicateMessage):
			return nil, err
		}
		if preKey {
			return nil, invalidMessage(err)
		}
		note(err)
	}
	for i := range rec.previous {
		s, err := rec.previousState(i)
		if err != nil {
			note(err)
			continue
		}
		plaintext, err := decryptWithState(s, local, remote, msg, rand)
		switch {
		case err == nil:
			rec.promoteOldSession(i, s)
			return plaintext, nil
		case errors.Is(err, ErrDuplicateMessage):
			return nil, err
		}
		note(err)
	}
	if firstErr == nil {
		return nil, fmt.Errorf("%w: %w: no session state with %s", ErrInvalidMessage, ErrNoSession, remote)
	}
	return nil, invalidMessage(firstErr)
}

func invalidMessage(cause error) error {
	if errors.Is(cause, ErrInvalidMessage) {
		return cause
	}
	return fmt.Errorf("%w: decryption failed: %w", ErrInvalidMessage, cause)
}
