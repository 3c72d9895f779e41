// Package sealedsession joins sealed sender (package sealed) to pairwise
// sessions (package session), as libsignal's sealed_sender_encrypt,
// sealed_sender_multi_recipient_encrypt and sealed_sender_decrypt do: it
// encrypts with the session, seals with the identities from the session's
// identity store, and on receipt validates the sender certificate before it
// decrypts the inner message.
//
// Package sealed itself needs no session state; use it directly for
// sender-key (group) inner messages, which this package returns undecrypted.
//
// Security properties: those of the two packages it joins. The sender's
// address passed to the session is the one in the validated certificate,
// whose identity key the sealed layer has checked against the key
// agreement; nothing is decrypted before the certificate validates. A
// Result prints no plaintext.
package sealedsession

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"samizdat/session"
	"samizdat/session/curve"
	"samizdat/session/sealed"
)

// ErrUnexpectedType means a sealed message carries an inner message that
// Decrypt does not handle (a sender-key or plaintext message); the error
// comes with the opened content so the caller can route it.
var ErrUnexpectedType = errors.New("sealedsession: inner message is not a session message")

// Encrypt encrypts plaintext for remote with the session and seals it with
// sealed sender v1 under cert (our sender certificate), with the default
// content hint and no group id.
func Encrypt(ctx context.Context, st session.Stores, local, remote session.Address, cert *sealed.SenderCertificate, plaintext []byte, now time.Time, rand io.Reader) ([]byte, error) {
	msg, err := session.Encrypt(ctx, st, local, remote, plaintext, now, rand)
	if err != nil {
		return nil, err
	}
	c, err := sealed.NewContent(sealed.MessageType(msg.Type()), cert, msg.Bytes(), sealed.HintDefault, nil)
	if err != nil {
		return nil, err
	}
	return EncryptContent(ctx, st.Identity, remote, c, rand)
}

// EncryptContent seals content for remote with sealed sender v1, using our
// identity and remote's stored identity from ids.
func EncryptContent(ctx context.Context, ids session.IdentityStore, remote session.Address, content *sealed.Content, rand io.Reader) ([]byte, error) {
	us, err := ids.IdentityKeyPair(ctx)
	if err != nil {
		return nil, fmt.Errorf("sealedsession: our identity: %w", err)
	}
	their, ok, err := ids.Identity(ctx, remote)
	if err != nil {
		return nil, fmt.Errorf("sealedsession: identity of %s: %w", remote, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: no identity for %s", session.ErrNoSession, remote)
	}
	return sealed.EncryptV1(rand, content, us, their)
}

// EncryptMulti seals content once for all of remotes with sealed sender v2.
// Each remote's name must be a service id string; its registration id comes
// from its session record and its identity from the identity store. List
// each recipient's devices together. excluded names recipients left out on
// purpose.
func EncryptMulti(ctx context.Context, st session.Stores, remotes []session.Address, excluded []sealed.ServiceID, content *sealed.Content, rand io.Reader) ([]byte, error) {
	us, err := st.Identity.IdentityKeyPair(ctx)
	if err != nil {
		return nil, fmt.Errorf("sealedsession: our identity: %w", err)
	}
	dests := make([]sealed.Destination, len(remotes))
	for i, r := range remotes {
		sid, err := sealed.ParseServiceID(r.Name)
		if err != nil {
			return nil, fmt.Errorf("sealedsession: %s: %w", r, err)
		}
		var key curve.PublicKey
		if i > 0 && remotes[i-1].Name == r.Name {
			key = dests[i-1].IdentityKey
		} else {
			k, ok, err := st.Identity.Identity(ctx, r)
			if err != nil {
				return nil, fmt.Errorf("sealedsession: identity of %s: %w", r, err)
			}
			if !ok {
				return nil, fmt.Errorf("%w: no identity for %s", session.ErrNoSession, r)
			}
			key = k
		}
		rec, err := st.Sessions.LoadSession(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("sealedsession: session with %s: %w", r, err)
		}
		if rec == nil {
			return nil, fmt.Errorf("%w: %s", session.ErrNoSession, r)
		}
		reg, err := rec.RemoteRegistrationID()
		if err != nil {
			return nil, fmt.Errorf("sealedsession: registration id of %s (maybe the session was archived): %w", r, err)
		}
		dests[i] = sealed.Destination{ServiceID: sid, DeviceID: r.DeviceID, RegistrationID: reg, IdentityKey: key}
	}
	return sealed.EncryptV2(rand, dests, excluded, content, us)
}

// Result is a decrypted sealed session message.
type Result struct {
	Sender    session.Address // the sender's uuid and device, from the validated certificate
	E164      string          // the sender's phone number, if the certificate has one
	Plaintext []byte
	Content   *sealed.Content
}

// Format prints the sender and the plaintext's size, never the plaintext.
func (r Result) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "sealedsession.Result{sender:%s plaintext:%d bytes}", r.Sender, len(r.Plaintext))
}

// Decrypt opens a sealed v1 or v2 message addressed to local, validates the
// sender certificate against trustRoot at now, refuses our own messages
// (sealed.ErrSelfSend), and decrypts a session (Whisper or PreKey) inner
// message. Any other inner type fails with ErrUnexpectedType and returns the
// opened content in the Result for the caller to route (for example to
// package senderkey).
func Decrypt(ctx context.Context, st session.Stores, local session.Address, localE164 string, b []byte, trustRoot curve.PublicKey, now time.Time, rand io.Reader) (*Result, error) {
	us, err := st.Identity.IdentityKeyPair(ctx)
	if err != nil {
		return nil, fmt.Errorf("sealedsession: our identity: %w", err)
	}
	c, err := sealed.Decrypt(b, us, trustRoot, now, sealed.Local{UUID: local.Name, E164: localE164, DeviceID: local.DeviceID})
	if err != nil {
		return nil, err
	}
	cert := c.Sender()
	res := &Result{Sender: session.Address{Name: cert.SenderUUID(), DeviceID: cert.DeviceID()}, Content: c}
	res.E164, _ = cert.SenderE164()
	switch c.Type() {
	case sealed.TypeWhisper, sealed.TypePreKey:
	default:
		return res, fmt.Errorf("%w: type %d", ErrUnexpectedType, c.Type())
	}
	msg, err := session.ParseCiphertextMessage(int(c.Type()), c.Contents())
	if err != nil {
		return nil, err
	}
	pt, err := session.Decrypt(ctx, st, local, res.Sender, msg, rand)
	if err != nil {
		return nil, err
	}
	res.Plaintext = pt
	return res, nil
}
