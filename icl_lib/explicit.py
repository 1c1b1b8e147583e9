"""Gradient steps run explicitly with autograd on the cross-entropy loss (chapter `02_proofs`).

These are the third, independent side of the equivalences of Section 3: they never use the
closed forms of `baselines` nor the attention of `models`. Each starts from zero parameters
(W_0 = 0, or the zero functions f_1..f_C), takes one step of size eta on the mean
cross-entropy over the n context points, and returns the new logits at x_query, (B, C).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from icl_lib.kernels import Kernel
from icl_lib.tasks import Contexts

__all__ = ["explicit_gd_step", "explicit_functional_gd_step", "adaptive_learning_rate"]


def _context_loss(logits: torch.Tensor, ctx: Contexts) -> torch.Tensor:
    """Mean cross-entropy over the n context points of each context, summed over the batch."""
    log_p = torch.log_softmax(logits, dim=-1)  # (B, n, C)
    return -(log_p.gather(-1, ctx.y.unsqueeze(-1)).squeeze(-1)).mean(dim=-1).sum()


def explicit_gd_step(
    ctx: Contexts, eta: float | torch.Tensor, feature_map: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> torch.Tensor:
    """W_1 = W_0 - eta grad L(W_0) with W_0 = 0 in the feature space phi (identity: Prop. 3.1).

    The prediction is softmax(W_1^T phi(x_query)); returns W_1^T phi(x_query), (B, C).
    """
    phi = feature_map or (lambda x: x)
    features = phi(ctx.x)  # (B, n, F)
    W0 = torch.zeros(ctx.batch_size, features.shape[-1], ctx.C, dtype=ctx.x.dtype, requires_grad=True)
    (grad,) = torch.autograd.grad(_context_loss(features @ W0, ctx), W0)
    W1 = W0.detach() - torch.as_tensor(eta, dtype=ctx.x.dtype).reshape(-1, 1, 1) * grad
    return (phi(ctx.x_query).unsqueeze(-2) @ W1).squeeze(-2)


def explicit_functional_gd_step(ctx: Contexts, eta: float | torch.Tensor, kernel: Kernel) -> torch.Tensor:
    """One functional GD step in the RKHS H of `kernel`, from f_1 = ... = f_C = 0 (Appendix C.1).

    Functions in the span of the representers k(x_m, .) are written f_j = sum_m beta_{mj} k(x_m, .).
    Autograd gives the derivative of the loss along beta; the RKHS gradient is its Riesz
    representer in H, whose coefficients solve K g = dL/dbeta (K the Gram matrix), because
    <sum_m g_m k(x_m, .), sum_m h_m k(x_m, .)>_H = g^T K h. The step is f_new = -eta * g and
    the prediction is f_new(x_query). `eta` is a float or a per-context tensor (B,).
    """
    x = ctx.x
    gram = kernel(x, x.unsqueeze(-3).expand(-1, ctx.n, -1, -1))  # (B, n, n): k(x_i, x_m), symmetric
    beta = torch.zeros(ctx.batch_size, ctx.n, ctx.C, dtype=x.dtype, requires_grad=True)  # (B, n, C)
    values = gram.mT @ beta  # (B, n, C): f_j(x_i) = sum_m beta_mj k(x_m, x_i)
    (d_beta,) = torch.autograd.grad(_context_loss(values, ctx), beta)
    g = torch.linalg.solve(gram, d_beta)  # (B, n, C): coefficients of the RKHS gradient
    eta_t = torch.as_tensor(eta, dtype=x.dtype).reshape(-1, 1)
    k_query = kernel(ctx.x_query, x)  # (B, n): k(x_m, x_query)
    return -eta_t * (k_query.unsqueeze(-2) @ g).squeeze(-2)


def adaptive_learning_rate(ctx: Contexts, c_eta: float, sigma2: float, *, include_query: bool = True) -> torch.Tensor:
    """eta(X) = c_eta e^{1/sigma^2} n / sum_i e^{<x_i, x_query>/sigma^2} (Section 3.3), per context (B,).

    With `include_query` the sum also has the query's own term e^{||x_query||^2/sigma^2}.
    """
    dots = ctx.query_similarity()  # (B, n)
    if include_query:
        dots = torch.cat([dots, (ctx.x_query**2).sum(-1, keepdim=True)], dim=-1)
    return c_eta * ctx.n * torch.exp(1 / sigma2 - torch.logsumexp(dots / sigma2, dim=-1))
