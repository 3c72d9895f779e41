// Package incmlkem implements incremental ML-KEM-768 encapsulation, wire
// compatible with the mlkem768::incremental module of libcrux-ml-kem that the
// SPQR ratchet (and so libsignal) uses.
//
// An ML-KEM-768 encapsulation key ek = ByteEncode_12(t̂) ‖ ρ (FIPS 203) is
// split into two public parts that travel separately:
//
//   - the header (64 bytes) = ρ ‖ H(ek), the 32-byte matrix seed followed by
//     SHA3-256 of the full standard 1184-byte encapsulation key;
//   - the encapsulation key (1152 bytes) = ByteEncode_12(t̂), ek without ρ.
//
// Encaps1 needs only the header: it draws m, derives (K, r) = G(m ‖ H(ek))
// exactly as ML-KEM.Encaps does and produces the first ciphertext part
// Compress_10(u) (960 bytes) and the shared secret K. Encaps2 later takes the
// 1152-byte key and produces Compress_4(v) (128 bytes). ct1 ‖ ct2 is a
// standard ML-KEM-768 ciphertext, and K is the standard shared secret, so
// Decaps is plain ML-KEM-768 decapsulation (crypto/mlkem).
//
// Security: the header only commits to the key through H(ek); callers must
// check EKMatchesHeader before Encaps2 (SPQR does). The decapsulation key and
// the encapsulation state are secret and local: their formats are ours, not
// libcrux's (see DecapsulationKeySize and EncapsulationStateSize). Arithmetic
// on secret values is branch-free and uses no secret-indexed tables. Errors
// never contain key material; malformed input yields typed errors, not panics.
package incmlkem

import (
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha3"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// Sizes of the public values, equal to libcrux's pk1_len, pk2_len,
// Ciphertext1::len and Ciphertext2::len for ML-KEM-768.
const (
	HeaderSize           = 64
	EncapsulationKeySize = rank * encodedPolySize // 1152
	Ciphertext1Size      = rank * n * du / 8      // 960
	Ciphertext2Size      = n * dv / 8             // 128
	SharedSecretSize     = mlkem.SharedKeySize    // 32
)

// DecapsulationKeySize is the size of our local decapsulation key: the
// 64-byte FIPS 203 seed d ‖ z (crypto/mlkem's seed format). libcrux instead
// stores an expanded 2400-byte key; the DK never leaves the device.
const DecapsulationKeySize = mlkem.SeedSize

// EncapsulationStateSize is the size of the local state passed from Encaps1
// to Encaps2:
//
//	state[0]     format version, stateVersion (1)
//	state[1:33]  m, the 32 random bytes encapsulated
//	state[33:65] r, the K-PKE randomness from G(m ‖ H(ek))
//
// Encaps2 re-derives r̂ and e2 from r with the PRF; that costs a few
// SHAKE256 calls and three NTTs but keeps the state at 65 bytes instead of
// libcrux's 2080. The state is secret: anyone holding it learns the shared
// secret once they see the header.
const EncapsulationStateSize = 1 + 32 + 32

const stateVersion = 1

var (
	// ErrInvalidLength reports an input of the wrong size.
	ErrInvalidLength = errors.New("incmlkem: invalid input length")
	// ErrInvalidEncapsulationKey reports an encapsulation key whose
	// coefficients are not reduced modulo q.
	ErrInvalidEncapsulationKey = errors.New("incmlkem: invalid encapsulation key")
	// ErrInvalidState reports an encapsulation state of an unknown format.
	ErrInvalidState = errors.New("incmlkem: invalid encapsulation state")
)

// Keys is a fresh key pair: EK (1152 bytes) and Header (64 bytes) are public,
// DK (DecapsulationKeySize bytes) is secret.
type Keys struct {
	EK, DK, Header []byte
}

// Format prints the sizes only: DK is secret.
func (k Keys) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "incmlkem.Keys{ek:%d dk:%d header:%d bytes}", len(k.EK), len(k.DK), len(k.Header))
}

func randReader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// Generate creates a key pair from 64 bytes read from rand (crypto/rand if
// nil), using them as the FIPS 203 seed d ‖ z.
func Generate(rand io.Reader) (Keys, error) {
	seed := make([]byte, mlkem.SeedSize)
	if _, err := io.ReadFull(randReader(rand), seed); err != nil {
		return Keys{}, fmt.Errorf("incmlkem: reading randomness: %w", err)
	}
	dk, err := mlkem.NewDecapsulationKey768(seed)
	if err != nil {
		return Keys{}, fmt.Errorf("incmlkem: generating key: %w", err)
	}
	ek := dk.EncapsulationKey().Bytes() // ByteEncode_12(t̂) ‖ ρ
	h := sha3.Sum256(ek)
	hdr := make([]byte, 0, HeaderSize)
	hdr = append(hdr, ek[EncapsulationKeySize:]...)
	hdr = append(hdr, h[:]...)
	return Keys{
		EK:     ek[:EncapsulationKeySize:EncapsulationKeySize],
		DK:     seed,
		Header: hdr,
	}, nil
}

// Encaps1 draws 32 bytes m from rand (crypto/rand if nil) and encapsulates
// to the key committed to by hdr. It returns the first ciphertext part, the
// state to hand to Encaps2, and the 32-byte shared secret.
func Encaps1(hdr []byte, rand io.Reader) (ct1, encapsState, sharedSecret []byte, err error) {
	if len(hdr) != HeaderSize {
		return nil, nil, nil, fmt.Errorf("%w: header is %d bytes, want %d", ErrInvalidLength, len(hdr), HeaderSize)
	}
	var m [32]byte
	if _, err := io.ReadFull(randReader(rand), m[:]); err != nil {
		return nil, nil, nil, fmt.Errorf("incmlkem: reading randomness: %w", err)
	}
	ct1, encapsState, sharedSecret = encaps1(hdr, &m)
	clear(m[:])
	return ct1, encapsState, sharedSecret, nil
}

// encaps1 is the deterministic part of Encaps1 (ML-KEM.Encaps_internal and
// K-PKE.Encrypt lines 1–19 of FIPS 203 Algorithms 17 and 14).
func encaps1(hdr []byte, m *[32]byte) (ct1, state, ss []byte) {
	rho, ekHash := hdr[:32], hdr[32:HeaderSize]

	var gIn [64]byte
	copy(gIn[:32], m[:])
	copy(gIn[32:], ekHash)
	g := sha3.Sum512(gIn[:]) // (K, r) = G(m ‖ H(ek))
	K, r := g[:32], g[32:]

	rHat := sampleRHat(r)
	var u [rank]poly
	for i := range u {
		// u[i] = NTT⁻¹(Σ_j Â[j][i]∘r̂[j]) + e1[i], with Â[j][i] = sampleNTT(ρ, i, j).
		for j := 0; j < rank; j++ {
			a := sampleNTT(rho, byte(i), byte(j))
			mulAccNTT(&u[i], &a, &rHat[j])
		}
		invNTT(&u[i])
		e1 := samplePolyCBD2(r, byte(rank+i))
		addTo(&u[i], &e1)
	}
	ct1 = encodeU(make([]byte, 0, Ciphertext1Size), &u)

	state = make([]byte, 0, EncapsulationStateSize)
	state = append(state, stateVersion)
	state = append(state, m[:]...)
	state = append(state, r...)
	ss = append([]byte(nil), K...)

	clear(gIn[:])
	clear(g[:])
	clear(rHat[:])
	clear(u[:])
	return ct1, state, ss
}

// sampleRHat returns r̂ = NTT(r_vec) with r_vec[i] = SamplePolyCBD_η1(PRF(r, i)).
func sampleRHat(r []byte) [rank]poly {
	var rHat [rank]poly
	for i := range rHat {
		rHat[i] = samplePolyCBD2(r, byte(i))
		ntt(&rHat[i])
	}
	return rHat
}

// Encaps2 finishes the encapsulation started by Encaps1 with the 1152-byte
// encapsulation key and returns the second ciphertext part. Check
// EKMatchesHeader(ek, hdr) first: Encaps2 cannot tell whether ek is the key
// the header committed to.
func Encaps2(ek, encapsState []byte) (ct2 []byte, err error) {
	if len(ek) != EncapsulationKeySize {
		return nil, fmt.Errorf("%w: encapsulation key is %d bytes, want %d", ErrInvalidLength, len(ek), EncapsulationKeySize)
	}
	if len(encapsState) != EncapsulationStateSize {
		return nil, fmt.Errorf("%w: encapsulation state is %d bytes, want %d", ErrInvalidLength, len(encapsState), EncapsulationStateSize)
	}
	if encapsState[0] != stateVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrInvalidState, encapsState[0])
	}
	tHat, ok := decodeEK(ek)
	if !ok {
		return nil, fmt.Errorf("%w: coefficient not reduced", ErrInvalidEncapsulationKey)
	}
	m, r := encapsState[1:33], encapsState[33:65]

	// v = NTT⁻¹(t̂ᵀ∘r̂) + e2 + Decompress_1(m)  (FIPS 203 Algorithm 14, 19–21).
	rHat := sampleRHat(r)
	var v poly
	for i := range tHat {
		mulAccNTT(&v, &tHat[i], &rHat[i])
	}
	invNTT(&v)
	e2 := samplePolyCBD2(r, 2*rank)
	addTo(&v, &e2)
	for i := range v {
		bit := uint16(m[i/8]>>(i%8)) & 1
		v[i] = fieldAdd(v[i], decompress1(bit))
	}
	ct2 = encodeV(make([]byte, 0, Ciphertext2Size), &v)

	clear(rHat[:])
	clear(e2[:])
	clear(v[:])
	return ct2, nil
}

// Decaps returns the shared secret for ct1 ‖ ct2 under dk. As in ML-KEM, a
// ciphertext that was not produced for this key yields a pseudorandom secret
// (implicit rejection), not an error; errors report malformed sizes only.
func Decaps(dk, ct1, ct2 []byte) (sharedSecret []byte, err error) {
	if len(dk) != DecapsulationKeySize {
		return nil, fmt.Errorf("%w: decapsulation key is %d bytes, want %d", ErrInvalidLength, len(dk), DecapsulationKeySize)
	}
	if len(ct1) != Ciphertext1Size {
		return nil, fmt.Errorf("%w: ciphertext1 is %d bytes, want %d", ErrInvalidLength, len(ct1), Ciphertext1Size)
	}
	if len(ct2) != Ciphertext2Size {
		return nil, fmt.Errorf("%w: ciphertext2 is %d bytes, want %d", ErrInvalidLength, len(ct2), Ciphertext2Size)
	}
	key, err := mlkem.NewDecapsulationKey768(dk)
	if err != nil {
		return nil, fmt.Errorf("%w: decapsulation key", ErrInvalidLength)
	}
	ct := make([]byte, 0, mlkem.CiphertextSize768)
	ct = append(append(ct, ct1...), ct2...)
	ss, err := key.Decapsulate(ct)
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext", ErrInvalidLength)
	}
	return ss, nil
}

// EKMatchesHeader reports whether ek is the encapsulation key hdr commits
// to: both have the right size, SHA3-256(ek ‖ ρ) equals the hash in hdr,
// and every coefficient of ek is reduced modulo q (the FIPS 203 §7.2 input
// check). It accepts exactly what libcrux's validate_pk_bytes accepts.
func EKMatchesHeader(ek, hdr []byte) bool {
	if len(ek) != EncapsulationKeySize || len(hdr) != HeaderSize {
		return false
	}
	h := sha3.New256()
	h.Write(ek)
	h.Write(hdr[:32])
	if subtle.ConstantTimeCompare(h.Sum(nil), hdr[32:]) != 1 {
		return false
	}
	_, ok := decodeEK(ek)
	return ok
}
