"""One-step learners computed in closed form from the context (Eqs. 1-3); they never call `models`.

Each returns the logits (..., B, C), the argument of the outer softmax. Learning rates and
coefficients may be floats or tensors of any shape S, giving logits (*S, B, C): that is how the
searches evaluate a whole grid at once.
Chapters: `02_proofs`, `03_linear_vs_gd`, `04_softmax_vs_kernel_gd`, `06_d10_dynamics` (grid search),
`07_selection_vs_elimination` (signed Eq. 1).
"""

from __future__ import annotations

import math

import torch

from icl_lib import paper
from icl_lib.kernels import Kernel
from icl_lib.metrics import per_context_loss
from icl_lib.tasks import Contexts

__all__ = [
    "gd_step", "kernel_gd_step", "adaptive_kernel_gd_step", "adaptive_weights", "log_grid", "line_search_gd",
    "grid_search_adaptive", "grid_search_kernel_gd", "adaptive_grid",
]


def _as_coefficient(value: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    return t[..., None, None]  # broadcast against (B, C)


def gd_step(ctx: Contexts, eta: float | torch.Tensor) -> torch.Tensor:
    """One GD step on the cross-entropy loss from W_0 = 0 (Eq. 2, Appendix B).

    logits = eta/n sum_i y_i <x_i, x_query>.
    """
    dots = ctx.query_similarity()  # (B, n)
    base = (dots.unsqueeze(-2) @ ctx.y_onehot()).squeeze(-2) / ctx.n  # (B, C)
    return _as_coefficient(eta, base) * base


def kernel_gd_step(ctx: Contexts, eta: float | torch.Tensor, kernel: Kernel) -> torch.Tensor:
    """One step of functional GD in the RKHS of `kernel` from f = 0 (Eq. 3, Appendix C).

    logits = eta/n sum_i y_i k(x_i, x_query).
    """
    k = kernel(ctx.x_query, ctx.x)  # (B, n)
    base = (k.unsqueeze(-2) @ ctx.y_onehot()).squeeze(-2) / ctx.n  # (B, C)
    return _as_coefficient(eta, base) * base


def adaptive_kernel_gd_step(
    ctx: Contexts, c_eta: float | torch.Tensor, c_sigma: float | torch.Tensor, *, include_query: bool = True
) -> torch.Tensor:
    """One RBF-kernel GD step with the context-adaptive learning rate eta(X) (Eq. 1, Section 3.3).

    logits = c_eta sum_i y_i exp(c_sigma <x_i, x_q>/sqrt(d+C)) / sum_j exp(c_sigma <x_j, x_q>/sqrt(d+C)).
    With `include_query` the normaliser also runs over the query itself (j = query, a term
    exp(c_sigma ||x_q||^2/sqrt(d+C))), as in softmax attention where the query attends to itself;
    the query carries the label 0, so it adds nothing to the numerator.
    """
    weights = adaptive_weights(ctx, c_sigma, include_query=include_query)  # (*S, B, n[+1])
    weighted_labels = (weights[..., : ctx.n].unsqueeze(-2) @ ctx.y_onehot()).squeeze(-2)  # (*S, B, C)
    return _as_coefficient(c_eta, weighted_labels) * weighted_labels


def adaptive_weights(ctx: Contexts, c_sigma: float | torch.Tensor, *, include_query: bool = True) -> torch.Tensor:
    """The query's kernel weights of Eq. 1, softmax_i(c_sigma <x_i, x_q>/sqrt(d+C)): (*S, B, n), or
    (*S, B, n+1) with the query's own weight last when `include_query`; c_sigma of shape S
    broadcasts in front."""
    D = ctx.d + ctx.C
    dots = ctx.query_similarity()  # (B, n)
    if include_query:
        dots = torch.cat([dots, (ctx.x_query * ctx.x_query).sum(-1, keepdim=True)], dim=-1)  # (B, n+1)
    c_sigma_t = torch.as_tensor(c_sigma, dtype=dots.dtype, device=dots.device)[..., None, None]
    return torch.softmax(c_sigma_t * dots / math.sqrt(D), dim=-1)


def log_grid(low_exp: float, high_exp: float, num: int = 100, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """`num` values log-spaced from 10^low_exp to 10^high_exp (Appendix G's grids)."""
    return torch.logspace(low_exp, high_exp, num, dtype=dtype)


def line_search_gd(ctx: Contexts, etas: torch.Tensor, *, chunk: int = 25) -> tuple[float, torch.Tensor]:
    """The eta minimising the mean cross-entropy of the GD step (Eq. 2) on `ctx`, and all the losses.

    Vectorized over the grid (in chunks bounding memory); Appendix G: 100 values in [1, 10^2.5].
    """
    losses = torch.cat([per_context_loss(gd_step(ctx, part), ctx.y_query).mean(-1) for part in etas.split(chunk)])
    return float(etas[losses.argmin()]), losses


def grid_search_adaptive(
    ctx: Contexts, c_etas: torch.Tensor, c_sigmas: torch.Tensor, *, include_query: bool = True, chunk: int = 4
) -> tuple[float, float, torch.Tensor]:
    """(c_eta, c_sigma) minimising the mean cross-entropy of Eq. 1 on `ctx`, and the loss grid.

    The attention weights depend on c_sigma only, so they are computed once per c_sigma and
    reused for the whole c_eta axis. Returns losses of shape (len(c_etas), len(c_sigmas)).
    """
    columns = []
    for part in c_sigmas.split(chunk):
        weighted = adaptive_kernel_gd_step(ctx, 1.0, part, include_query=include_query)  # (k, B, C)
        logits = c_etas.to(weighted.dtype)[:, None, None, None] * weighted  # (E, k, B, C)
        columns.append(per_context_loss(logits, ctx.y_query).mean(-1))  # (E, k)
    losses = torch.cat(columns, dim=1)
    i, j = divmod(int(losses.argmin()), losses.shape[1])
    return float(c_etas[i]), float(c_sigmas[j]), losses


def grid_search_kernel_gd(
    ctx: Contexts, etas: torch.Tensor, sigma2s: torch.Tensor, *, chunk: int = 4
) -> tuple[float, float, torch.Tensor]:
    """(eta, sigma^2) minimising the mean cross-entropy of the RBF kernel GD step (Eq. 3) on `ctx`.

    Appendix G: 100 x 100 log grid, eta in [1, 10^3], sigma^2 in [10^-3, 10^2]. On the sphere
    k(x_i, x_q) = exp((<x_i, x_q> - 1)/sigma^2). Returns losses of shape (len(etas), len(sigma2s)).
    """
    dots = ctx.query_similarity()  # (B, n)
    columns = []
    for part in sigma2s.to(dots.dtype).split(chunk):
        k = torch.exp((dots - 1) / part[:, None, None])  # (k, B, n)
        base = (k.unsqueeze(-2) @ ctx.y_onehot()).squeeze(-2) / ctx.n  # (k, B, C)
        logits = etas.to(dots.dtype)[:, None, None, None] * base  # (E, k, B, C)
        columns.append(per_context_loss(logits, ctx.y_query).mean(-1))
    losses = torch.cat(columns, dim=1)
    i, j = divmod(int(losses.argmin()), losses.shape[1])
    return float(etas[i]), float(sigma2s[j]), losses


def adaptive_grid(d: int, points: int = paper.GRID_POINTS) -> tuple[torch.Tensor, torch.Tensor]:
    """The (c_eta, c_sigma) log grids of Appendix G for dimension d (`icl_lib.paper.adaptive_grid_exponents`)."""
    eta_exp, sigma_exp = paper.adaptive_grid_exponents(d)
    return log_grid(*eta_exp, points), log_grid(*sigma_exp, points)
