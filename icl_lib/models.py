"""One-layer, single-head self-attention of Section 2.2, and the constructed weights of Appendices B-D.

Tokens are the rows of X: [x_i, onehot(y_i)] for the context and [x_query, 0] last. The
prediction is read off the y-entry of the query token's update:

    linear:   logits = [ (e W_Q^T W_K X^T) X W_V^T W_O^T ]_y
    kernel:   logits = [ act_k(W_Q e^T, W_K X^T) X W_V^T W_O^T ]_y
    softmax:  logits = [ softmax(e W_Q^T W_K X^T / sqrt(d+C)) X W_V^T W_O^T ]_y

with e = [x_query, 0]. The loss only uses the query row, so `SelfAttention.forward` computes
only that row: O(n (d+C)) per context instead of O(n^2 (d+C)). `full_attention_logits` is the
plain twin (every token attends to every token, then the query row is taken); it is used by the
tests only. `include_query` says whether the query token is among the attended tokens: the
paper's architecture says it is (Section 2.2, no causal mask in Appendix G), its Eq. 1 says it is
not; it matters for softmax attention (normalisation; `icl_lib.readings`).
Chapters: `02_proofs` (constructions), `03_linear_vs_gd`, `04_softmax_vs_kernel_gd`,
`07_selection_vs_elimination` (`query_attention`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from icl_lib.kernels import Kernel
from icl_lib.validation import check_bool, check_choice, check_positive_float, check_positive_int

__all__ = ["KINDS", "SelfAttention", "Weights", "constructed_weights", "full_attention_logits", "as_layers", "as_matrices"]

KINDS = ("linear", "softmax", "kernel")


@dataclass(frozen=True)
class Weights:
    """The four (d+C) x (d+C) matrices of one self-attention layer (or (S, d+C, d+C) for S models)."""

    W_Q: torch.Tensor
    W_K: torch.Tensor
    W_V: torch.Tensor
    W_O: torch.Tensor

    def as_tuple(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return (self.W_Q, self.W_K, self.W_V, self.W_O)

    def member(self, s: int) -> Weights:
        """Member s of ensemble weights (S, D, D) -> (D, D) each."""
        return Weights(*(w[s] for w in self.as_tuple()))

    def qk(self) -> torch.Tensor:
        """W_Q^T W_K, the bilinear form of the attention scores, (..., D, D)."""
        return self.W_Q.mT @ self.W_K

    def ov(self) -> torch.Tensor:
        """W_O W_V, the value-to-output map acting on column vectors, (..., D, D)."""
        return self.W_O @ self.W_V


def as_layers(matrices: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> Weights | tuple[Weights, ...]:
    """Four matrices per layer (W_Q, W_K, W_V, W_O, layer by layer) -> Weights for a one-layer
    model, a tuple of Weights (one per layer) for a deeper one."""
    if len(matrices) % 4 or not matrices:
        raise ValueError(f"{len(matrices)} matrices are not four per layer")
    layers = tuple(Weights(*matrices[i:i + 4]) for i in range(0, len(matrices), 4))
    return layers[0] if len(layers) == 1 else layers


def as_matrices(weights: Weights | tuple[Weights, ...]) -> tuple[torch.Tensor, ...]:
    """The inverse of `as_layers`."""
    layers = (weights,) if isinstance(weights, Weights) else weights
    return tuple(m for layer in layers for m in layer.as_tuple())


def constructed_weights(kind: str, d: int, C: int, **coefficients: float) -> Weights:
    """The weights that make self-attention compute one (kernel / context-adaptive) GD step, in float64.

    linear (Appendix B, Eq. 2), coefficients eta, n:
        W_Q^T W_K = diag(I_d, 0),  W_V^T W_O = diag(0, eta/n I_C)
    kernel (Appendix C, Eq. 3), coefficients eta, n: W_Q = W_K = diag(I_d, 0), W_V = diag(0, I_C),
        W_O = diag(0, eta/n I_C); the kernel itself is the attention's activation.
    softmax (Appendix D, Eq. 1), coefficients c_eta, c_sigma:
        W_Q^T W_K = diag(c_sigma I_d, 0),  W_V^T W_O = diag(0, c_eta I_C)
    """
    check_choice("kind", kind, KINDS)
    check_positive_int("d", d, minimum=2)
    check_positive_int("C", C, minimum=2)
    expected = {"linear": {"eta", "n"}, "kernel": {"eta", "n"}, "softmax": {"c_eta", "c_sigma"}}[kind]
    if set(coefficients) != expected:
        raise ValueError(f"constructed_weights({kind!r}) takes coefficients {sorted(expected)}, got {sorted(coefficients)}")
    D = d + C
    p_x = torch.zeros(D, D, dtype=torch.float64)
    p_x[:d, :d] = torch.eye(d, dtype=torch.float64)
    p_y = torch.zeros(D, D, dtype=torch.float64)
    p_y[d:, d:] = torch.eye(C, dtype=torch.float64)
    if kind == "softmax":
        c_eta = check_positive_float("c_eta", coefficients["c_eta"])
        c_sigma = check_positive_float("c_sigma", coefficients["c_sigma"])
        return Weights(W_Q=c_sigma * p_x, W_K=p_x.clone(), W_V=p_y.clone(), W_O=c_eta * p_y)
    eta = check_positive_float("eta", coefficients["eta"])
    n = check_positive_int("n", coefficients["n"])
    return Weights(W_Q=p_x.clone(), W_K=p_x.clone(), W_V=p_y.clone(), W_O=(eta / n) * p_y)


class SelfAttention(nn.Module):
    """Single-head self-attention returning the query's class logits (B, C) (Section 2.2).

    With `ensemble=S` the four weights have a leading axis S and the output is (S, B, C): S
    models evaluated in one batched computation, on shared tokens (B, n+1, d+C) or on their own
    tokens (S, B, n+1, d+C).
    """

    def __init__(
        self,
        kind: str,
        d: int,
        C: int,
        *,
        kernel: Kernel | None = None,
        include_query: bool = True,
        ensemble: int | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.kind = check_choice("kind", kind, KINDS)
        self.d = check_positive_int("d", d, minimum=2)
        self.C = check_positive_int("C", C, minimum=2)
        if (kind == "kernel") != (kernel is not None):
            raise ValueError("kernel= is required for kind='kernel' and only allowed there")
        self.kernel = kernel
        self.include_query = check_bool("include_query", include_query)
        self.ensemble = None if ensemble is None else check_positive_int("ensemble", ensemble)
        D = d + C
        shape = (D, D) if ensemble is None else (ensemble, D, D)
        self.W_Q = nn.Parameter(torch.zeros(shape, dtype=dtype))
        self.W_K = nn.Parameter(torch.zeros(shape, dtype=dtype))
        self.W_V = nn.Parameter(torch.zeros(shape, dtype=dtype))
        self.W_O = nn.Parameter(torch.zeros(shape, dtype=dtype))

    @classmethod
    def constructed(cls, kind: str, d: int, C: int, *, kernel: Kernel | None = None, include_query: bool = True,
                    dtype: torch.dtype = torch.float64, **coefficients: float) -> SelfAttention:
        """A model holding `constructed_weights(kind, d, C, **coefficients)`."""
        model = cls(kind, d, C, kernel=kernel, include_query=include_query, dtype=dtype)
        model.load_weights(constructed_weights(kind, d, C, **coefficients))
        return model

    def load_weights(self, weights: Weights) -> None:
        with torch.no_grad():
            for name in ("W_Q", "W_K", "W_V", "W_O"):
                getattr(self, name).copy_(getattr(weights, name))

    def weights(self) -> Weights:
        """A detached copy of the current weights (`Weights.qk()`, `Weights.ov()` give their products)."""
        return Weights(*(p.detach().clone() for p in (self.W_Q, self.W_K, self.W_V, self.W_O)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (..., B, n+1, d+C) -> logits (..., B, C), computing the query row only."""
        attn, X = self._query_attention(tokens)
        out = (attn.unsqueeze(-2) @ X).squeeze(-2)  # (..., B, D)
        return (out @ self.W_V.mT @ self.W_O.mT)[..., self.d:]  # (..., B, C)

    def query_attention(self, tokens: torch.Tensor) -> torch.Tensor:
        """The query row of the attention, (..., B, N): the weight the query gives each attended
        token (the n context tokens, then the query itself when `include_query`)."""
        return self._query_attention(tokens)[0]

    def _query_attention(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        D = self.d + self.C
        if tokens.shape[-1] != D:
            raise ValueError(f"tokens have width {tokens.shape[-1]}, expected d+C={D}")
        e = tokens[..., -1, :]  # (..., B, D) the query token [x_query, 0]
        X = tokens if self.include_query else tokens[..., :-1, :]
        if self.kind == "kernel":
            q = e @ self.W_Q.mT  # (..., B, D): (W_Q e^T)^T
            k = X @ self.W_K.mT  # (..., B, N, D)
            attn = self.kernel(q, k)  # (..., B, N)
        else:
            u = (e @ self.W_Q.mT) @ self.W_K  # (..., B, D): e W_Q^T W_K
            scores = (X @ u.unsqueeze(-1)).squeeze(-1)  # (..., B, N)
            attn = torch.softmax(scores / math.sqrt(D), dim=-1) if self.kind == "softmax" else scores
        return attn, X


def full_attention_logits(model: SelfAttention, tokens: torch.Tensor) -> torch.Tensor:
    """Plain twin of `SelfAttention.forward`: full (n+1) x (n+1) attention, then the query row.

    Tests only. tokens (B, n+1, d+C) -> logits (B, C); single model (no ensemble axis).
    """
    D = model.d + model.C
    Q = tokens @ model.W_Q.T
    K = tokens @ model.W_K.T
    V = tokens @ model.W_V.T
    if model.kind == "kernel":
        N = tokens.shape[1]
        A = model.kernel(Q, K.unsqueeze(1).expand(-1, N, -1, -1))
    else:
        A = Q @ K.transpose(1, 2)
    if not model.include_query:
        mask = torch.zeros_like(A, dtype=torch.bool)
        mask[:, :, -1] = True  # nobody attends to the query token
        A = A.masked_fill(mask, float("-inf") if model.kind == "softmax" else 0.0)
    if model.kind == "softmax":
        A = torch.softmax(A / math.sqrt(D), dim=-1)
    updates = A @ V @ model.W_O.T  # (B, N+1, D)
    return updates[:, -1, model.d:]
