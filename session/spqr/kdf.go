package spqr

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
)

// Labels, byte for byte as the spqr crate uses them. Note the two spaces
// in chainStartLabel.
const (
	chainStartLabel    = "Signal PQ Ratchet V1 Chain  Start"
	chainNextLabel     = "Signal PQ Ratchet V1 Chain Next"
	chainAddEpochLabel = "Signal PQ Ratchet V1 Chain Add Epoch"
	authUpdateLabel    = "Signal_PQCKA_V1_MLKEM768:Authenticator Update"
	authCtLabel        = "Signal_PQCKA_V1_MLKEM768:ciphertext"
	authHdrLabel       = "Signal_PQCKA_V1_MLKEM768:ekheader"
	sckaKeyLabel       = "Signal_PQCKA_V1_MLKEM768:SCKA Key"
)

var zeroSalt [32]byte

// hkdfSHA256 is HKDF-SHA256 (extract and expand). n is always small enough
// for HKDF-SHA256, so it cannot fail.
func hkdfSHA256(salt, ikm []byte, info string, n int) []byte {
	out, err := hkdf.Key(sha256.New, ikm, salt, info, n)
	if err != nil {
		panic("spqr: hkdf: " + err.Error()) // unreachable: n <= 255*32
	}
	return out
}

// sckaKey derives the epoch secret from an ML-KEM shared secret:
// HKDF(salt=0^32, ss, "...SCKA Key" || BE64(epoch), 32).
func sckaKey(sharedSecret []byte, epoch uint64) []byte {
	info := binary.BigEndian.AppendUint64([]byte(sckaKeyLabel), epoch)
	return hkdfSHA256(zeroSalt[:], sharedSecret, string(info), 32)
}
