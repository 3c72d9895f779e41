package spqr

import (
	"encoding/binary"

	"samizdat/session/internal/kdf"
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

// sckaKey derives the epoch secret from an ML-KEM shared secret:
// HKDF(salt=0^32, ss, "...SCKA Key" || BE64(epoch), 32).
func sckaKey(sharedSecret []byte, epoch uint64) []byte {
	info := binary.BigEndian.AppendUint64([]byte(sckaKeyLabel), epoch)
	return kdf.HKDF(sharedSecret, zeroSalt[:], string(info), 32)
}
