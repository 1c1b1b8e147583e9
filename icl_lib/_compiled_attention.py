"""Compiled (numba) loss and gradient of a training step on the CPU, used by `icl_lib.training`.

The loss only needs the query row of the attention, and everything between the weights and a
context's loss is local to that context:

    u = e QK                           (e: the query token, QK = W_Q^T W_K)
    s_i = scale <x_i, u>,  a = softmax(s) (softmax) or a = s (linear),  out = sum_i a_i x_i
    logits = OV_y out                  (OV_y: the C label rows of W_O W_V)
    loss = logsumexp(logits) - logits[y]

So one loop per context does the forward pass and the backward pass down to u while its
(N, D) token block is in L1: the tokens are read from memory once per step. In torch the same
step is a chain of batched matrix-vector products that run at a few percent of the CPU's speed
for D = d + C = 10. The kernel returns, per context, what the weight gradients are sums of:

    dQK = sum_b e_b (x) du_b,    dOV_y = sum_b dlogits_b (x) out_b,

and `_weight_grads` turns them into the gradients of W_Q, W_K, W_V, W_O (small products);
`CompiledStep` runs the three with its arrays allocated once. It is checked against autograd
through `SelfAttention.forward` in the tests (values and gradients, both query variants, shared
and per-member tokens, float32 and float64). `clip_and_adam` is the CPU's optimiser update.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit, prange

__all__ = ["CompiledStep", "clip_and_adam", "loss_and_grad"]

CHUNKS = 64  # fixed split of the contexts: per-chunk sums, in an order that does not depend on the threads


@njit(inline="always", fastmath=True)
def _token_dots(xt, v, n, out):
    """out[i] = <x_i, v> for the first n tokens; xt (D, N) is the context's tokens, feature-major."""
    for i in range(n):
        out[i] = 0.0
    for j in range(xt.shape[0]):
        vj = v[j]
        row = xt[j]
        for i in range(n):
            out[i] += row[i] * vj


@njit(inline="always", fastmath=True)
def _token_sum(xt, weights, n, out):
    """out = sum_i weights[i] x_i over the first n tokens."""
    for j in range(xt.shape[0]):
        row = xt[j]
        t = weights[0] - weights[0]
        for i in range(n):
            t += weights[i] * row[i]
        out[j] = t


@njit(inline="never", nogil=True, cache=True, fastmath=False)
def _exp_shifted(a, n, top):
    """a[i] = exp(a[i] - top) for i < n, by libm (a hand-written vectorised exp saved at most 2.5%
    of a step, `benchmarks/README.md`). Not fastmath, said explicitly (numba's callees inherit the
    caller's fastmath unless set): inlined into the fast-math loop, a run resumed in a second
    process on a fresh numba cache ended an ulp away from the uninterrupted run."""
    for i in range(n):
        a[i] = math.exp(a[i] - top)


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _fused_step(XT, y, QK, OVy, n_att, softmax, consts, loss, dqk, dov, scratch):
    """XT (SX, B, D, N): the tokens feature-major, SX in {1, S}, query token last; y (SX, B);
    QK (S, D, D); OVy (S, C, D); consts = [scale, 1] in the tokens' dtype, so that the loops stay in
    that dtype (a float64 literal would promote float32 arithmetic and stop the vectorisation).

    The S*B contexts are split into P = loss.shape[0] fixed chunks (so sums do not depend on the
    number of threads); chunk p writes the sums over its contexts of the loss, loss (P, S), of
    e_b (x) du_b, dqk (P, S, D, D), and of dlogits_b (x) out_b, dov (P, S, C, D), with dlogits
    already divided by B. scratch (P, 2N + 3D + C) is the chunk's working memory.
    """
    S, B, D = QK.shape[0], XT.shape[1], QK.shape[1]
    C = OVy.shape[1]
    N = XT.shape[3]
    P = loss.shape[0]
    shared = XT.shape[0] == 1
    scale, one = consts[0], consts[1]
    for p in prange(P):
        loss[p] = 0.0
        dqk[p] = 0.0
        dov[p] = 0.0
        w = scratch[p]
        a, da = w[:N], w[N:2 * N]  # attention weights and their gradients
        g, o, r, dl = w[2 * N:2 * N + D], w[2 * N + D:2 * N + 2 * D], w[2 * N + 2 * D:2 * N + 3 * D], w[2 * N + 3 * D:]
        for sb in range(p * S * B // P, (p + 1) * S * B // P):
            s, b = sb // B, sb % B
            xt = XT[0, b] if shared else XT[s, b]  # (D, N)
            label = y[0, b] if shared else y[s, b]
            qk, ov = QK[s], OVy[s]
            # u = e QK, kept in r until du overwrites it
            for j in range(D):
                r[j] = 0.0
            for k in range(D):
                ek = xt[k, N - 1]
                for j in range(D):
                    r[j] += ek * qk[k, j]
            # scores, attention weights, out
            for j in range(D):
                r[j] *= scale
            _token_dots(xt, r, n_att, a)
            if softmax:
                top = a[0]
                for i in range(1, n_att):
                    top = max(top, a[i])
                _exp_shifted(a, n_att, top)
                total = a[0] - a[0]
                for i in range(n_att):
                    total += a[i]
                inv = one / total
                for i in range(n_att):
                    a[i] *= inv
            _token_sum(xt, a, n_att, o)
            # logits, cross-entropy and its gradient (the mean over the batch: 1/B)
            top = -np.inf
            for c in range(C):
                t = ov[c, 0] * o[0]
                for j in range(1, D):
                    t += ov[c, j] * o[j]
                dl[c] = t
                top = max(top, t)
            total = 0.0
            for c in range(C):
                total += math.exp(dl[c] - top)
            loss_b = math.log(total) + top - dl[label]
            for c in range(C):
                dl[c] = (math.exp(dl[c] - top) / total - (1.0 if c == label else 0.0)) / B
            # back to u: dout = dlogits OV_y, da_i = <x_i, dout>, softmax backward, du = scale sum_i ds_i x_i
            for j in range(D):
                g[j] = 0.0
            for c in range(C):
                for j in range(D):
                    g[j] += dl[c] * ov[c, j]
            _token_dots(xt, g, n_att, da)
            if softmax:
                mean = a[0] - a[0]
                for i in range(n_att):
                    mean += a[i] * da[i]
                for i in range(n_att):
                    da[i] = a[i] * (da[i] - mean) * scale
            elif scale != one:
                for i in range(n_att):
                    da[i] *= scale
            _token_sum(xt, da, n_att, r)
            loss[p, s] += loss_b
            for c in range(C):
                for j in range(D):
                    dov[p, s, c, j] += dl[c] * o[j]
            for k in range(D):
                ek = xt[k, N - 1]
                for j in range(D):
                    dqk[p, s, k, j] += ek * r[j]


@njit(cache=True, nogil=True)
def _products(W, d, QK, OVy):
    """QK = W_Q^T W_K (S, D, D) and OVy = the label rows d.. of W_O W_V (S, C, D), from W (S, 4, D, D)."""
    S, _, D, _ = W.shape
    for s in range(S):
        for i in range(D):
            for j in range(D):
                t = W[s, 0, 0, i] * W[s, 1, 0, j]
                for m in range(1, D):
                    t += W[s, 0, m, i] * W[s, 1, m, j]
                QK[s, i, j] = t
        for c in range(D - d):
            for j in range(D):
                t = W[s, 3, d + c, 0] * W[s, 2, 0, j]
                for m in range(1, D):
                    t += W[s, 3, d + c, m] * W[s, 2, m, j]
                OVy[s, c, j] = t


@njit(cache=True, nogil=True)
def _weight_grads(W, dqk, dov, d, grad):
    """The gradients of W_Q, W_K, W_V, W_O, grad (S, 4, D, D), from the chunk sums dqk (P, S, D, D)
    and dov (P, S, C, D): with dQK = sum_p dqk[p] and dOV the (D, D) matrix whose rows d.. are
    sum_p dov[p] (zeros above), dW_Q = W_K dQK^T, dW_K = W_Q dQK, dW_V = W_O^T dOV, dW_O = dOV W_V^T."""
    P, S, D, _ = dqk.shape
    C = D - d
    dQK = np.empty((D, D), dtype=dqk.dtype)
    dOV = np.zeros((D, D), dtype=dqk.dtype)
    for s in range(S):
        for i in range(D):  # the chunk sums, in chunk order (the result does not depend on the threads)
            for j in range(D):
                t = dqk[0, s, i, j]
                for p in range(1, P):
                    t += dqk[p, s, i, j]
                dQK[i, j] = t
        for c in range(C):
            for j in range(D):
                t = dov[0, s, c, j]
                for p in range(1, P):
                    t += dov[p, s, c, j]
                dOV[d + c, j] = t
        for i in range(D):
            for j in range(D):
                q = k = v = o = dqk[0, 0, 0, 0] - dqk[0, 0, 0, 0]  # a zero of the arrays' dtype
                for m in range(D):
                    q += W[s, 1, i, m] * dQK[j, m]  # (W_K dQK^T)[i, j]
                    k += W[s, 0, i, m] * dQK[m, j]  # (W_Q dQK)[i, j]
                    v += W[s, 3, m, i] * dOV[m, j]  # (W_O^T dOV)[i, j]
                    o += dOV[i, m] * W[s, 2, j, m]  # (dOV W_V^T)[i, j]
                grad[s, 0, i, j], grad[s, 1, i, j], grad[s, 2, i, j], grad[s, 3, i, j] = q, k, v, o


class CompiledStep:
    """The loss and gradient of one training step, with its working arrays allocated once.

    For weights (S, 4, D, D) holding W_Q, W_K, W_V, W_O, tokens (B, N, D) shared by all members or
    (S, B, N, D), and y_query (B,) or (S, B): CPU tensors of one float dtype; attention as in
    `SelfAttention` (softmax scaled by 1/sqrt(D), or linear). Calling it returns the mean
    cross-entropy on the query of each member, (S,), and its gradient, (S, 4, D, D), as tensors
    that share the workspace's memory: the next call overwrites them (the training loop uses them
    at once; `loss_and_grad` makes a new workspace per call). The small (D, D) products around the
    fused loop are compiled too, and the arrays are reused, because as torch calls on fresh arrays
    they run on one core while the other waits.
    """

    def __init__(self, S: int, B: int, N: int, D: int, d: int, dtype: torch.dtype, *, softmax: bool,
                 include_query: bool) -> None:
        self.d, self.B, self.softmax = d, B, softmax
        self.n_att = N if include_query else N - 1
        dt = torch.empty(0, dtype=dtype).numpy().dtype
        C, P = D - d, CHUNKS
        self.QK, self.OVy = np.empty((S, D, D), dtype=dt), np.empty((S, C, D), dtype=dt)
        self.loss, self.dqk = np.empty((P, S), dtype=dt), np.empty((P, S, D, D), dtype=dt)
        self.dov = np.empty((P, S, C, D), dtype=dt)
        self.scratch = np.empty((P, 2 * N + 3 * D + C), dtype=dt)
        self.consts = np.array([1.0 / math.sqrt(D) if softmax else 1.0, 1.0], dtype=dt)
        self.grad = torch.empty(S, 4, D, D, dtype=dtype)
        self.mean_loss = torch.empty(S, dtype=dtype)

    def __call__(self, weights: torch.Tensor, tokens: torch.Tensor, y_query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        X = tokens.detach().numpy()
        XT = np.swapaxes(X if X.ndim == 4 else X[None], -1, -2)
        if not XT.flags.c_contiguous:  # tokens not stored feature-major: one copy
            XT = np.ascontiguousarray(XT)
        y = y_query.numpy()
        y = np.ascontiguousarray(y if y.ndim == 2 else y[None])
        W = np.ascontiguousarray(weights.detach().numpy())
        _products(W, self.d, self.QK, self.OVy)
        _fused_step(XT, y, self.QK, self.OVy, self.n_att, self.softmax, self.consts, self.loss, self.dqk, self.dov,
                    self.scratch)
        _weight_grads(W, self.dqk, self.dov, self.d, self.grad.numpy())
        np.divide(self.loss.sum(0), self.B, out=self.mean_loss.numpy())
        return self.mean_loss, self.grad


def loss_and_grad(weights: torch.Tensor, tokens: torch.Tensor, y_query: torch.Tensor, *, d: int, softmax: bool,
                  include_query: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy on the query of each member, (S,), and its gradient, (S, 4, D, D), in new
    tensors (see `CompiledStep` for the arguments)."""
    S, _, D, _ = weights.shape
    B, N = tokens.shape[-3], tokens.shape[-2]
    return CompiledStep(S, B, N, D, d, weights.dtype, softmax=softmax, include_query=include_query)(weights, tokens, y_query)


@njit(cache=True, nogil=True)
def clip_and_adam(grad, m, v, W, clip, step_size, beta1, beta2, eps, bias2):
    """In place, per member s of grad, m, v, W (S, ...): clip grad[s] to global norm `clip`
    (optax's clip_by_global_norm: no epsilon), then one Adam step of size step_size[s] (the
    learning rate over 1 - beta1^t) with v's bias correction `bias2` (1 - beta2^t). The same
    arithmetic as `icl_lib.training.clip_per_member` and torch.optim's Adam (used on other
    devices; a test compares them), in one loop because as torch calls on (D, D) tensors its cost
    is mostly dispatch, 5-35% of a step at the book's sizes (`benchmarks/numerics.py`)."""
    S = grad.shape[0]
    g, mm, vv, w = grad.reshape(S, -1), m.reshape(S, -1), v.reshape(S, -1), W.reshape(S, -1)
    for s in range(S):
        total = 0.0
        for i in range(g.shape[1]):
            total += float(g[s, i]) * float(g[s, i])
        norm = np.sqrt(total)
        factor = clip / norm if norm > clip else 1.0
        for i in range(g.shape[1]):
            gi = g[s, i] * factor
            g[s, i] = gi
            mm[s, i] = mm[s, i] * beta1 + (1.0 - beta1) * gi
            vv[s, i] = vv[s, i] * beta2 + (1.0 - beta2) * gi * gi
            w[s, i] -= step_size[s] * mm[s, i] / (np.sqrt(vv[s, i] / bias2) + eps)
