// Package erasure implements the erasure code that SPQR (the sparse
// post-quantum ratchet of Signal's triple ratchet) uses to send a message —
// an ML-KEM header, encapsulation key or ciphertext — as a stream of small
// chunks, one piggy-backed on each ratchet message. The receiver can rebuild
// the message from any sufficiently large set of distinct chunks, whatever
// chunks were lost or reordered. The code is a systematic Reed-Solomon-style
// code over GF(2^16) and is byte-compatible with the spqr crate's
// PolyEncoder/PolyDecoder (spqr v1.5.3, as pinned by libsignal 0.103).
//
// # Field
//
// Elements of GF(2^16) are 16-bit values whose bit i is the coefficient of
// x^i, reduced modulo the primitive polynomial
//
//	x^16 + x^12 + x^3 + x + 1   (0x1100b)
//
// Addition is XOR; the inverse of a is a^(2^16-2) (and 0 maps to 0).
//
// # Message to points
//
// A message must have an even length L of at most [MaxMessageLen] bytes. It
// is read as N = L/2 big-endian 16-bit words w[0..N). Word w[j] belongs to
// polynomial p = j mod 16 and is that polynomial's value at the point
// x = j div 16. Polynomial p therefore has
//
//	n_p = N/16 + (1 if p < N mod 16 else 0)
//
// known points at x = 0, 1, ..., n_p-1, and P_p is the unique polynomial of
// degree < n_p through them (the zero polynomial when n_p = 0).
//
// # Chunk layout
//
// A chunk is a 16-bit index k and 32 data bytes. The data is sixteen
// big-endian 16-bit words; word i (bytes 2i and 2i+1) is P_i(k), polynomial
// i evaluated at the field element whose bit pattern is k. In other words
// chunk k carries the k-th point of every polynomial. For k < N/16 chunk k is
// simply bytes [32k, 32k+32) of the message (the code is systematic); later
// chunks are parity. The encoder emits chunks 0, 1, 2, ... in turn (its
// counter wraps after 65535 back to 0, as the crate's u32 counter truncated
// to u16 does). For the sizes SPQR v1 uses every chunk is full: 96 bytes
// (header and MAC, 3 points per polynomial), 160 (ct2 and MAC, 5), 960
// (ct1, 30) and 1152 (encapsulation key, 36), so ceil(L/32) distinct chunks
// always suffice.
//
// # Decoding rule
//
// The decoder keeps, for each polynomial, a set of points ordered by x with
// at most one point per x. Adding chunk k stores (k, word i) for polynomial i
// when k < n_i or when fewer than n_i points are held; a point whose x is
// already held replaces the old one. The message is available once every
// polynomial holds at least n_i points. Each word w[j] (polynomial p,
// x = j div 16) is then taken from the held point at that x if there is one;
// otherwise it is P_p evaluated at x, where P_p is interpolated from the n_p
// held points with the smallest x. These rules reproduce the crate exactly,
// including for inconsistent (corrupted or malicious) chunks; authenticity is
// not this package's job — SPQR checks a MAC over the decoded message.
//
// # Security properties
//
// The code provides no confidentiality or integrity: it carries public values
// (ML-KEM encapsulation keys and ciphertexts) whose integrity SPQR protects
// separately with a MAC, so the arithmetic need not hide its operands; even
// so, field multiplication has no data-dependent branches and indexes only
// two 64-byte tables. Hostile input cannot make the decoder panic or grow
// without bound: message lengths are capped at [MaxMessageLen], each
// polynomial holds at most 2·n_p points, and persisted state is validated
// before use.
//
// Persisted state (MarshalBinary / UnmarshalBinary) uses this package's own
// compact versioned format, which is local to samizdat and not the crate's
// protobuf.
package erasure
