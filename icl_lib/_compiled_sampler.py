"""Compiled (numba) rejection sampler for d >= 3 on the CPU, used by `icl_lib.tasks`.

Same rule as the torch sampler: per context one i.i.d. stream of uniform candidates (normalised
standard normals); the first k candidates of each class are kept and the next one of the
query's class is the query. Each context has its own xoshiro256** stream seeded from (seed,
context index), so the result does not depend on how contexts are spread over threads.
Normals come from Marsaglia and Tsang's ziggurat (128 layers); the layer index and the value
come from disjoint bits of one 64-bit draw (the original shares them, which correlates the two).
Drawing candidates is the cost of the task: this loop draws each candidate once, labels it and
moves on, with no chunking waste.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Marsaglia & Tsang (2000), 128 layers, 32-bit: the k, w and f tables of the normal density."""
    dn = tn = 3.442619855899
    vn = 9.91256303526217e-3
    m1 = 2147483648.0
    kn, wn, fn = np.zeros(128), np.zeros(128), np.zeros(128)
    q = vn / np.exp(-0.5 * dn * dn)
    kn[0], kn[1] = (dn / q) * m1, 0.0
    wn[0], wn[127] = q / m1, dn / m1
    fn[0], fn[127] = 1.0, np.exp(-0.5 * dn * dn)
    for i in range(126, 0, -1):
        dn = np.sqrt(-2.0 * np.log(vn / dn + np.exp(-0.5 * dn * dn)))
        kn[i + 1] = (dn / tn) * m1
        tn = dn
        fn[i] = np.exp(-0.5 * dn * dn)
        wn[i] = dn / m1
    return kn, wn, fn


_KN, _WN, _FN = _ziggurat_tables()
_R = 3.442619855899
_GOLDEN = uint64(0x9E3779B97F4A7C15)
_MIX1 = uint64(0xBF58476D1CE4E5B9)
_MIX2 = uint64(0x94D049BB133111EB)


@njit(inline="always")
def _splitmix64(x):
    x = x + _GOLDEN
    z = x
    z = (z ^ (z >> uint64(30))) * _MIX1
    z = (z ^ (z >> uint64(27))) * _MIX2
    return x, z ^ (z >> uint64(31))


@njit(inline="always")
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@njit(inline="always")
def _next(s0, s1, s2, s3):
    """xoshiro256**: 64 random bits and the new state."""
    result = _rotl(s1 * uint64(5), 7) * uint64(9)
    t = s1 << uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(inline="always")
def _uniform(bits):
    """A double in (0, 1] from the top 53 bits (never 0, so its log is finite)."""
    return ((bits >> uint64(11)) + uint64(1)) * (1.0 / 9007199254740992.0)


@njit(inline="always")
def _normal(s0, s1, s2, s3):
    """One standard normal by the ziggurat, and the new state."""
    while True:
        bits, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
        iz = np.int64(bits & uint64(127))
        hz = np.int64(np.int32(np.uint32(bits >> uint64(32))))  # signed 32-bit value, bits disjoint from iz
        x = hz * _WN[iz]
        if abs(hz) < _KN[iz]:
            return x, s0, s1, s2, s3
        if iz == 0:  # the tail beyond R
            while True:
                b1, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
                b2, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
                xt = -np.log(_uniform(b1)) / _R
                yt = -np.log(_uniform(b2))
                if yt + yt >= xt * xt:
                    break
            return (_R + xt if hz > 0 else -_R - xt), s0, s1, s2, s3
        b1, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
        if _FN[iz] + _uniform(b1) * (_FN[iz - 1] - _FN[iz]) < np.exp(-0.5 * x * x):
            return x, s0, s1, s2, s3


@njit(parallel=True, cache=True)
def rejection_sample(prototypes: np.ndarray, y_query: np.ndarray, k: int, seed: np.uint64, x: np.ndarray,
                     x_query: np.ndarray) -> None:
    """Fill x (B, C*k, d), grouped by class (row c*k + j: the j-th kept point of class c), and x_query (B, d)."""
    B, C, d = prototypes.shape  # noqa: N806
    for b in prange(B):
        h = uint64(seed) ^ (uint64(b) * _GOLDEN)
        h, s0 = _splitmix64(h)
        h, s1 = _splitmix64(h)
        h, s2 = _splitmix64(h)
        h, s3 = _splitmix64(h)
        need = np.full(C, k, dtype=np.int64)
        need[y_query[b]] += 1
        have = np.zeros(C, dtype=np.int64)
        remaining = C * k + 1
        g = np.empty(d)
        while remaining > 0:
            for j in range(d):
                g[j], s0, s1, s2, s3 = _normal(s0, s1, s2, s3)
            label = 0
            best = -np.inf
            for c in range(C):
                dot = 0.0
                for j in range(d):
                    dot += g[j] * prototypes[b, c, j]
                if dot > best:
                    best = dot
                    label = c
            if have[label] < need[label]:
                norm = 0.0
                for j in range(d):
                    norm += g[j] * g[j]
                norm = np.sqrt(norm)
                if have[label] < k:
                    row = label * k + have[label]
                    for j in range(d):
                        x[b, row, j] = g[j] / norm
                else:
                    for j in range(d):
                        x_query[b, j] = g[j] / norm
                have[label] += 1
                remaining -= 1
