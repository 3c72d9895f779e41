#!/usr/bin/env python3
"""Regenerates kat.json, the erasure package's known-answer vectors.

This is a second, deliberately naive implementation of the chunk encoding
described in ../doc.go, written independently of the Go code: GF(2^16)
arithmetic via log/antilog tables built from the generator x, and parity
points computed straight from the Lagrange formula
    P(k) = sum_j y_j * prod_{m != j} (k - x_m) / (x_j - x_m)
rather than from interpolated coefficients. Run: python3 genkat.py > kat.json
"""
import json

POLY = 0x1100B  # x^16 + x^12 + x^3 + x + 1

EXP = [0] * (2 * 65535)
LOG = [None] * 65536
v = 1
for i in range(65535):
    EXP[i] = v
    assert LOG[v] is None, "x is not a generator: polynomial not primitive"
    LOG[v] = i
    v <<= 1
    if v & 0x10000:
        v ^= POLY
assert v == 1
for i in range(65535, 2 * 65535):
    EXP[i] = EXP[i - 65535]


def mul(a, b):
    if a == 0 or b == 0:
        return 0
    return EXP[LOG[a] + LOG[b]]


def inv(a):
    if a == 0:
        return 0
    return EXP[(65535 - LOG[a]) % 65535]


def words(msg):
    return [(msg[2 * j] << 8) | msg[2 * j + 1] for j in range(len(msg) // 2)]


def poly_points(msg, p):
    w = words(msg)
    return [(j // 16, w[j]) for j in range(p, len(w), 16)]


def lagrange_at(pts, x):
    acc = 0
    for j, (xj, yj) in enumerate(pts):
        num, den = 1, 1
        for m, (xm, _) in enumerate(pts):
            if m != j:
                num = mul(num, x ^ xm)
                den = mul(den, xj ^ xm)
        acc ^= mul(yj, mul(num, inv(den)))
    return acc


def chunk(msg, k):
    out = bytearray()
    for p in range(16):
        pts = poly_points(msg, p)
        known = dict(pts)
        y = known[k] if k in known else lagrange_at(pts, k)
        out += bytes([y >> 8, y & 0xFF])
    return out.hex()


def pattern(n, a, b):
    return bytes((i * a + b) & 0xFF for i in range(n))


CASES = [
    ("crate-small-abcdefghij", b"abcdefghij", [0, 1, 2, 65535]),
    ("empty", b"", [0, 1]),
    ("34-bytes-uneven", pattern(34, 5, 1), [0, 1, 2, 3]),
    ("64-bytes", bytes(range(64)), [0, 1, 2, 3, 4, 5]),
    ("96-bytes-hdr-mac", pattern(96, 37, 11), list(range(9)) + [1000, 65535]),
    ("160-bytes-ct2-mac", pattern(160, 101, 7), list(range(13)) + [500]),
    ("960-bytes-ct1", pattern(960, 13, 200), [0, 29, 30, 31, 32, 59, 60, 61, 65535]),
    ("1152-bytes-ek", pattern(1152, 59, 3), [0, 35, 36, 37, 71, 72, 300, 65535]),
]

GF_MUL = [(0x8000, 0x0002), (0x0002, 0x8000), (0x1234, 0x5678), (0xFFFF, 0xFFFF),
          (0x0001, 0xABCD), (0x0000, 0x1234), (0x100B, 0x8000), (0xC0DE, 0xBEEF)]
GF_INV = [0x0001, 0x0002, 0x8000, 0x1234, 0xFFFF, 0x100B]

print(json.dumps({
    "gf_mul": [[a, b, mul(a, b)] for a, b in GF_MUL],
    "gf_inv": [[a, inv(a)] for a in GF_INV],
    "encode": [
        {"name": name, "msg": msg.hex(),
         "chunks": [{"index": k, "data": chunk(msg, k)} for k in idx]}
        for name, msg, idx in CASES
    ],
}, indent=1))
