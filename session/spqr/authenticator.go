package spqr

import (
	"crypto/hmac"
	"encoding/binary"

	"samizdat/session/internal/kdf"
)

// macSize is the size of header and ciphertext MACs.
const macSize = 32

// authenticator keys the MACs over the ML-KEM header and ciphertext. Its
// root key is updated with every epoch's secret.
type authenticator struct {
	rootKey []byte
	macKey  []byte
}

// newAuthenticator starts from zero keys and mixes in the initial key.
func newAuthenticator(rootKey []byte, epoch uint64) authenticator {
	a := authenticator{rootKey: make([]byte, 32), macKey: make([]byte, 32)}
	a.update(epoch, rootKey)
	return a
}

// update sets (root, mac) = HKDF(0^32, root || k, label || BE64(epoch), 64).
func (a *authenticator) update(epoch uint64, k []byte) {
	ikm := append(append([]byte{}, a.rootKey...), k...)
	info := binary.BigEndian.AppendUint64([]byte(authUpdateLabel), epoch)
	out := kdf.HKDF(ikm, zeroSalt[:], string(info), 64)
	a.rootKey = out[:32:32]
	a.macKey = out[32:]
}

func (a *authenticator) mac(label string, epoch uint64, data []byte) []byte {
	return kdf.HMAC(a.macKey, []byte(label), binary.BigEndian.AppendUint64(nil, epoch), data)
}

// macCt is HMAC-SHA256(mac_key, "...ciphertext" || BE64(epoch) || ct).
func (a *authenticator) macCt(epoch uint64, ct []byte) []byte {
	return a.mac(authCtLabel, epoch, ct)
}

// macHdr is HMAC-SHA256(mac_key, "...ekheader" || BE64(epoch) || hdr).
func (a *authenticator) macHdr(epoch uint64, hdr []byte) []byte {
	return a.mac(authHdrLabel, epoch, hdr)
}

func (a *authenticator) verifyCt(epoch uint64, ct, mac []byte) error {
	if !hmac.Equal(mac, a.macCt(epoch, ct)) {
		return ErrMACVerifyFailed
	}
	return nil
}

func (a *authenticator) verifyHdr(epoch uint64, hdr, mac []byte) error {
	if !hmac.Equal(mac, a.macHdr(epoch, hdr)) {
		return ErrMACVerifyFailed
	}
	return nil
}
