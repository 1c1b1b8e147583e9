"""Compiled (numba) samplers of the task on the CPU, used by `icl_lib.tasks`: rejection for
d >= 3, arcs for d = 2 (`arc_sample`).

Each context has its own xoshiro256** stream seeded from (seed, context index), so a context
depends neither on the batch it is drawn in nor on how contexts are spread over threads. From
that stream, in order:

1. the C prototypes (normalised standard normals), unless they are given;
2. the query's class, uniform on 0..C-1 (exact: rejection of the top partial range);
3. (d >= 3) an i.i.d. stream of uniform candidates (normalised standard normals): the first k candidates
   of each class are kept and the next one of the query's class is the query. Since the
   candidates are i.i.d., each kept point is uniform within its region and independent of the
   others; the prototypes are never redrawn.
4. Once a single class c still needs points (a quarter of the candidates at d = 5 in a
   simulation, mostly rejected while waiting for the smallest region), each candidate is
   mirrored into a half or a quarter of the sphere that contains c's region (`_tail_fold`,
   `_fold`). Mirroring in a plane through the origin maps the uniform law onto itself, so a
   mirrored candidate is uniform on that part of the sphere and, given that it falls in c's
   region, uniform there: the kept points keep their law and the region is hit 2 or 4 times as
   often. Whether a candidate is mirrored depends only on the candidates before it. At C = 5,
   n = 100 this saves about a fifth of the candidates per context at d = 5 (chapter 1 counts them
   with `icl_lib.tasks.candidate_counts`; tests check the law against the unmirrored sampler).

Candidates are drawn in blocks of BLOCK and labelled by loops over the block; the block's
candidates after the last one needed are unused draws of
the same stream, so the result is the same as drawing one at a time. Normals come from
Marsaglia and Tsang's ziggurat (128 layers); the layer index and the value come from disjoint
bits of one 64-bit draw (the original shares them, which correlates the two).
The sampler can write straight into a token matrix: x and x_query are views of any layout (the
training step reads tokens stored feature-major; `icl_lib.tasks.TokenSampler` writes the label
block, the same in every batch). `sampler_kernel(d)` compiles
the loop for one d, so that its loops over coordinates unroll.
"""

from __future__ import annotations

import functools

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
_KN_INT = _KN.astype(np.int64)  # integer thresholds: |hz| < k compares without a conversion
BLOCK = 16  # candidates drawn and labelled together (passed at run time: as a compile-time constant numba unrolls it)
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
    """One standard normal by the ziggurat, and the new state. Only the fast path (~99% of draws)
    is inlined, so that the rarely taken rejection steps do not bloat the sampler's inner loop."""
    bits, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
    iz = bits & uint64(127)  # unsigned: the table lookups need no negative-index check
    hz = np.int64(np.int32(np.uint32(bits >> uint64(32))))  # signed 32-bit value, bits disjoint from iz
    if abs(hz) < _KN_INT[iz]:
        return hz * _WN[iz], s0, s1, s2, s3
    return _normal_slow(bits, s0, s1, s2, s3)


@njit(inline="never")
def _normal_slow(bits, s0, s1, s2, s3):
    """The ziggurat's rejection steps from a draw `bits` that missed the fast path."""
    while True:
        iz = bits & uint64(127)
        hz = np.int64(np.int32(np.uint32(bits >> uint64(32))))
        if abs(hz) < _KN_INT[iz]:
            return hz * _WN[iz], s0, s1, s2, s3
        x = hz * _WN[iz]
        if iz == uint64(0):  # the tail beyond R
            while True:
                b1, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
                b2, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
                xt = -np.log(_uniform(b1)) / _R
                yt = -np.log(_uniform(b2))
                if yt + yt >= xt * xt:
                    break
            return (_R + xt if hz > 0 else -_R - xt), s0, s1, s2, s3
        b1, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
        if _FN[iz] + _uniform(b1) * (_FN[iz - uint64(1)] - _FN[iz]) < np.exp(-0.5 * x * x):
            return x, s0, s1, s2, s3
        bits, s0, s1, s2, s3 = _next(s0, s1, s2, s3)


@njit(inline="always")
def _seeded_state(seed, b):
    h = uint64(seed) ^ (uint64(b) * _GOLDEN)
    h, s0 = _splitmix64(h)
    h, s1 = _splitmix64(h)
    h, s2 = _splitmix64(h)
    h, s3 = _splitmix64(h)
    return s0, s1, s2, s3


@njit(inline="always")
def _label(z, g, m, d):
    """argmax_c <g[:, m], z_c> (the first on ties): the same arithmetic as the block labelling."""
    C = z.shape[0]
    best, label = -np.inf, 0
    for c in range(C):
        score = 0.0
        for j in range(d):
            score += z[c, j] * g[j, m]
        if score > best:
            best, label = score, c
    return label


@njit(inline="always")
def _context_start(seed, b, draw_prototypes, z, d):
    """The start of context b's stream, the same for every d: its C prototypes z (C, d), drawn as
    normalised standard normals unless given, then the query's class, uniform on 0..C-1 (exact:
    the partial range [0, 2^64 mod C) is rejected). Returns the class and the stream's state."""
    s0, s1, s2, s3 = _seeded_state(seed, b)
    C = z.shape[0]
    if draw_prototypes:
        for c in range(C):
            norm = 0.0
            for j in range(d):
                z[c, j], s0, s1, s2, s3 = _normal(s0, s1, s2, s3)
                norm += z[c, j] * z[c, j]
            norm = np.sqrt(norm)
            for j in range(d):
                z[c, j] /= norm
    low = (uint64(0) - uint64(C)) % uint64(C)  # 2^64 mod C: [low, 2^64) holds each residue equally often
    while True:
        bits, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
        if bits >= low:
            break
    return np.int64(bits % uint64(C)), s0, s1, s2, s3


@njit
def class_arcs(z, start, width):
    """d = 2: the region of each prototype z_c (rows of z (C, 2)) is the arc of the circle between
    the midpoints to its two angular neighbours: angles [start[c], start[c] + width[c]]. The arcs
    are disjoint and their widths sum to 2 pi (the tests check both)."""
    C = z.shape[0]
    angle = np.empty(C)
    for c in range(C):
        angle[c] = np.arctan2(z[c, 1], z[c, 0])
    order = np.argsort(angle)
    for i in range(C):
        c = order[i]
        previous = angle[order[i - 1]] - (2.0 * np.pi if i == 0 else 0.0)
        following = angle[order[i + 1]] if i + 1 < C else angle[order[0]] + 2.0 * np.pi
        start[c] = 0.5 * (previous + angle[c])
        width[c] = 0.5 * (following - previous)


@njit(parallel=True, cache=True, nogil=True)
def arc_sample(seed, k, draw_prototypes, prototypes, y_query, x, x_query, block, fold, examined):
    """d = 2, with the signature of the rejection kernel (`block`, `fold` and `examined` unused): on
    the circle a class region is an arc (`class_arcs`), so each point is drawn directly as a uniform
    angle inside its class's arc, without rejection (the smallest arc is heavy-tailed, and rejection
    would stall on it). Context b's stream starts as for every d (`_context_start`), then gives the
    k angles of class 0, those of class 1, ..., and the query's angle last."""
    B, C, _ = prototypes.shape
    if prototypes.shape[2] != 2 or x.shape[2] != 2 or x_query.shape[1] != 2:
        raise ValueError("the arrays' dimension is not the one this kernel was compiled for")
    for b in prange(B):
        z = prototypes[b]
        yq, s0, s1, s2, s3 = _context_start(seed, b, draw_prototypes, z, 2)
        y_query[b] = yq
        start, width = np.empty(C), np.empty(C)
        class_arcs(z, start, width)
        for c in range(C + 1):
            cls = yq if c == C else c
            for j in range(1 if c == C else k):
                bits, s0, s1, s2, s3 = _next(s0, s1, s2, s3)
                theta = start[cls] + width[cls] * ((bits >> uint64(11)) * (1.0 / 9007199254740992.0))  # [0, 1)
                if c == C:
                    x_query[b, 0], x_query[b, 1] = np.cos(theta), np.sin(theta)
                else:
                    x[b, c * k + j, 0], x[b, c * k + j, 1] = np.cos(theta), np.sin(theta)


@njit
def _tail_fold(z, c, w):
    """Mirrors for the region of class c: unit rows of w (2, d) such that the region lies in
    {x : <x, w_f> >= 0} for f < the returned count (0, 1 or 2; two are orthogonal).

    The region lies in every half-space <x, z_c - z_j> >= 0, so any non-negative combination of
    the a_j = z_c - z_j is a valid normal. One suffices for a hemisphere. Two orthogonal ones
    exist if and only if some pair has <a_i, a_j> <= 0 (all of the cone's vectors are pairwise at
    an acute angle otherwise): then w_1 = a_i and w_2 = a_j minus its part along a_i.
    """
    C, d = z.shape
    first, pair_i, pair_j = -1, -1, -1
    for i in range(C):
        if i == c:
            continue
        norm_i = 0.0
        for t in range(d):
            norm_i += (z[c, t] - z[i, t]) ** 2
        if norm_i < 1e-24:  # a repeated prototype: no usable normal
            continue
        if first < 0:
            first = i
        for j in range(i + 1, C):
            if j == c or pair_i >= 0:
                continue
            dot = 0.0
            for t in range(d):
                dot += (z[c, t] - z[i, t]) * (z[c, t] - z[j, t])
            if dot <= 0.0:
                pair_i, pair_j = i, j
    if first < 0:
        return 0
    i = pair_i if pair_i >= 0 else first
    norm = 0.0
    for t in range(d):
        w[0, t] = z[c, t] - z[i, t]
        norm += w[0, t] * w[0, t]
    norm = np.sqrt(norm)
    for t in range(d):
        w[0, t] /= norm
    if pair_i < 0:
        return 1
    along, norm = 0.0, 0.0
    for t in range(d):
        along += (z[c, t] - z[pair_j, t]) * w[0, t]
    for t in range(d):
        w[1, t] = (z[c, t] - z[pair_j, t]) - along * w[0, t]
        norm += w[1, t] * w[1, t]
    if norm < 1e-24:
        return 1
    norm = np.sqrt(norm)
    for t in range(d):
        w[1, t] /= norm
    return 2


@njit(inline="always")
def _fold(g, m, w, n_fold, d):
    """Reflect candidate m (a column of g) into {x : <x, w_f> >= 0, f < n_fold}. For orthonormal
    w_f the reflections commute and each maps the sphere's uniform law onto itself, so a uniform
    candidate becomes uniform on that part of the sphere (2^n_fold times denser there)."""
    for f in range(n_fold):
        t = 0.0
        for j in range(d):
            t += g[j, m] * w[f, j]
        t = 2.0 * min(t, 0.0)  # branch-free: the sign of t is a coin flip, a branch on it mispredicts
        for j in range(d):
            g[j, m] -= t * w[f, j]


@functools.cache
def sampler_kernel(dim: int):
    """The sampler compiled for contexts in dimension `dim` (d = 2: `arc_sample`). With the
    dimension a compile-time constant the loops over coordinates unroll. Each d compiles once into
    numba's on-disk cache."""
    if dim == 2:
        return arc_sample

    @njit(parallel=True, cache=True, nogil=True)
    def rejection_sample(seed, k, draw_prototypes, prototypes, y_query, x, x_query, block, fold, examined):
        """One context per b: prototypes (B, C, d) float64 (drawn here when `draw_prototypes`, else
        read), y_query (B,) int64, x (B, C*k, d) grouped by class (row c*k + j: the j-th kept point of
        class c), x_query (B, d). With `fold`, once a single class still needs
        points, candidates are mirrored into a half or a quarter of the sphere that holds its region.
        examined (B,) int64, unless empty, gets the number of candidates each context examined.
        """
        B, C, _ = prototypes.shape
        d = dim  # a compile-time constant
        if prototypes.shape[2] != d or x.shape[2] != d or x_query.shape[1] != d:
            raise ValueError("the arrays' dimension is not the one this kernel was compiled for")
        # Contexts in P fixed chunks, each with its working arrays allocated once rather than per
        # context; the result does not depend on the chunks (a stream per context).
        P = min(B, 64)
        for p in prange(P):
            need = np.empty(C, dtype=np.int64)
            have = np.empty(C, dtype=np.int64)
            g = np.empty((d, block))  # the block's candidates, coordinate-major
            score = np.empty(block)
            best = np.empty(block)
            label = np.zeros(block, dtype=np.int64)
            mirrors = np.empty((2, d))
            kept = np.empty((d, C * k + 1))  # the kept candidates, as drawn: column c*k + j, the query last
            inv = np.empty(C * k + 1)
            for b in range(p * B // P, (p + 1) * B // P):
                z = prototypes[b]
                yq, s0, s1, s2, s3 = _context_start(seed, b, draw_prototypes, z, d)
                y_query[b] = yq
                need[:] = k
                need[yq] += 1
                have[:] = 0
                remaining = C * k + 1
                n_fold = 0
                open_classes = C
                count = 0
                while remaining > 0:
                    for m in range(block):
                        for j in range(d):
                            g[j, m], s0, s1, s2, s3 = _normal(s0, s1, s2, s3)
                    for m in range(block if n_fold > 0 else 0):
                        _fold(g, m, mirrors, n_fold, d)
                    fold_from = block  # candidates from here on are folded one at a time (the fold began in this block)
                    # label = argmax_c <g, z_c>, over the block
                    for m in range(block):
                        best[m] = -np.inf
                    for c in range(C):
                        for m in range(block):
                            score[m] = 0.0
                        for j in range(d):
                            zcj = z[c, j]
                            for m in range(block):
                                score[m] += zcj * g[j, m]
                        for m in range(block):
                            if score[m] > best[m]:
                                best[m] = score[m]
                                label[m] = c
                    for m in range(block):  # keep or reject, in order
                        count += 1
                        if m >= fold_from:
                            _fold(g, m, mirrors, n_fold, d)
                            label[m] = _label(z, g, m, d)
                        c = label[m]
                        h = have[c]
                        if h < need[c]:  # kept as drawn, normalised once the context is complete
                            col = c * k + h if h < k else C * k
                            for j in range(d):
                                kept[j, col] = g[j, m]
                            have[c] = h + 1
                            remaining -= 1
                            if remaining == 0:
                                break
                            if h + 1 == need[c]:
                                open_classes -= 1
                                if open_classes == 1 and fold:
                                    last = 0
                                    while have[last] == need[last]:
                                        last += 1
                                    n_fold = _tail_fold(z, last, mirrors)
                                    fold_from = m + 1 if n_fold > 0 else block
                # normalise the kept points, vectorised over them (the same float64 operations, in the
                # same order, as one point at a time), and write them out: row by row into feature-major tokens
                for i in range(C * k + 1):
                    inv[i] = 0.0
                for j in range(d):
                    for i in range(C * k + 1):
                        inv[i] += kept[j, i] * kept[j, i]
                for i in range(C * k + 1):
                    inv[i] = 1.0 / np.sqrt(inv[i])
                for j in range(d):
                    for i in range(C * k):
                        x[b, i, j] = kept[j, i] * inv[i]
                    x_query[b, j] = kept[j, C * k] * inv[C * k]
                if examined.shape[0] > 0:
                    examined[b] = count

    return rejection_sample
