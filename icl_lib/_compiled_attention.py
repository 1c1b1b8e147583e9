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

and `loss_and_grad` turns them into the gradients of W_Q, W_K, W_V, W_O (small products).
It is checked against autograd through `SelfAttention.forward` in the tests (values and
gradients, both query variants, shared and per-member tokens, float32 and float64).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit, prange

__all__ = ["loss_and_grad"]

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


@njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _fused_step(XT, y, QK, OVy, n_att, softmax, consts, loss, dqk, dov, scratch):  # noqa: N803, PLR0913
    """XT (SX, B, D, N): the tokens feature-major, SX in {1, S}, query token last; y (SX, B);
    QK (S, D, D); OVy (S, C, D); consts = [scale, 1] in the tokens' dtype, so that the loops stay in
    that dtype (a float64 literal would promote float32 arithmetic and stop the vectorisation).

    The S*B contexts are split into P = loss.shape[0] fixed chunks (so sums do not depend on the
    number of threads); chunk p writes the sums over its contexts of the loss, loss (P, S), of
    e_b (x) du_b, dqk (P, S, D, D), and of dlogits_b (x) out_b, dov (P, S, C, D), with dlogits
    already divided by B. scratch (P, 2N + 3D + C) is the chunk's working memory.
    """
    S, B, D = QK.shape[0], XT.shape[1], QK.shape[1]  # noqa: N806
    C = OVy.shape[1]  # noqa: N806
    N = XT.shape[3]  # noqa: N806
    P = loss.shape[0]  # noqa: N806
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
                total = a[0] - a[0]
                for i in range(n_att):
                    a[i] = math.exp(a[i] - top)
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


def loss_and_grad(weights: torch.Tensor, tokens: torch.Tensor, y_query: torch.Tensor, *, d: int, softmax: bool,
                  include_query: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy on the query of each member, (S,), and its gradient, (S, 4, D, D).

    weights (S, 4, D, D) holds W_Q, W_K, W_V, W_O; tokens (B, N, D) shared by all members or
    (S, B, N, D); y_query (B,) or (S, B). CPU tensors of one float dtype; attention as in
    `SelfAttention` (softmax scaled by 1/sqrt(D), or linear).
    """
    S, _, D, _ = weights.shape  # noqa: N806
    X = tokens if tokens.dim() == 4 else tokens.unsqueeze(0)  # noqa: N806
    y = y_query if y_query.dim() == 2 else y_query.unsqueeze(0)
    XT, y = X.mT.contiguous(), y.contiguous()  # noqa: N806 (a no-op for feature-major tokens)
    B, N = X.shape[1], X.shape[2]  # noqa: N806
    C = D - d  # noqa: N806
    Wq, Wk, Wv, Wo = weights.unbind(1)  # noqa: N806
    QK = (Wq.mT @ Wk).contiguous()  # noqa: N806
    OV = Wo @ Wv  # noqa: N806
    dtype = weights.dtype
    P = CHUNKS  # noqa: N806
    loss, dqk, dov = torch.empty(P, S, dtype=dtype), torch.empty(P, S, D, D, dtype=dtype), torch.empty(P, S, C, D, dtype=dtype)
    scratch = torch.empty(P, 2 * N + 3 * D + C, dtype=dtype)
    n_att = N if include_query else N - 1
    consts = torch.tensor([1.0 / math.sqrt(D) if softmax else 1.0, 1.0], dtype=dtype)
    _fused_step(XT.numpy(), y.numpy(), QK.numpy(), OV[:, d:].contiguous().numpy(), n_att, softmax, consts.numpy(),
                loss.numpy(), dqk.numpy(), dov.numpy(), scratch.numpy())
    dQK = dqk.sum(0)  # noqa: N806 (S, D, D) = sum_b e_b (x) du_b
    dOV = torch.zeros(S, D, D, dtype=dtype)  # noqa: N806
    dOV[:, d:] = dov.sum(0)  # sum_b dlogits_b (x) out_b
    grad = torch.stack([Wk @ dQK.mT, Wq @ dQK, Wo.mT @ dOV, dOV @ Wv.mT], dim=1)
    return loss.sum(0) / B, grad
