"""Per-context metrics and the alignment metrics of Section 4 (after Von Oswald et al., 2023).

A *predictor* is any callable mapping `Contexts` to logits (B, C): a model on `ctx.tokens()`,
or a baseline step. The alignment metrics compare two predictors on the same contexts.
Chapters: `03_linear_vs_gd`, `04_softmax_vs_kernel_gd`, `05_extraction`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from icl_lib.tasks import Contexts

__all__ = [
    "Predictor", "Alignment", "per_context_loss", "prob_correct", "entropy", "sensitivities", "alignment", "max_prob_deviation",
    "per_context_metrics", "alignment_through_training",
]

Predictor = Callable[[Contexts], torch.Tensor]


def per_context_loss(logits: torch.Tensor, y_query: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the query's true class, (..., B, C), (B,) -> (..., B)."""
    log_p = torch.log_softmax(logits, dim=-1)
    return -log_p.gather(-1, y_query.expand(log_p.shape[:-1]).unsqueeze(-1)).squeeze(-1)


def prob_correct(logits: torch.Tensor, y_query: torch.Tensor) -> torch.Tensor:
    """Probability given to the query's true class, (..., B)."""
    return torch.exp(-per_context_loss(logits, y_query))


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the predicted distribution yhat_query, (..., B)."""
    log_p = torch.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def sensitivities(predictor: Predictor, ctx: Contexts) -> tuple[torch.Tensor, torch.Tensor]:
    """The predictions yhat (B, C) and their sensitivities d yhat_j / d x_query, (B, C, d)."""
    x_query = ctx.x_query.detach().clone().requires_grad_(True)
    probs = torch.softmax(predictor(ctx.with_query(x_query)), dim=-1)  # (B, C)
    # Contexts are independent, so the gradient of the batch sum is the per-context gradient.
    grads = [torch.autograd.grad(probs[:, j].sum(), x_query, retain_graph=True)[0] for j in range(ctx.C)]
    return probs.detach(), torch.stack(grads, dim=1)


@dataclass(frozen=True)
class Alignment:
    """Alignment of two predictors, each averaged over the contexts (Section 4)."""

    preds_diff: float  # mean ||yhat_A - yhat_B||
    cos_sim: float  # mean over contexts and classes j of cos(d yhat_A_j/dx_q, d yhat_B_j/dx_q)
    model_diff: float  # mean over contexts of 1/C sum_j ||d yhat_A_j/dx_q - d yhat_B_j/dx_q||


def alignment(a: Predictor, b: Predictor, ctx: Contexts, *, eps: float = 1e-30) -> Alignment:
    """Preds diff, cosine similarity and model (sensitivity) difference between two predictors."""
    probs_a, sens_a = sensitivities(a, ctx)
    probs_b, sens_b = sensitivities(b, ctx)
    preds_diff = (probs_a - probs_b).norm(dim=-1).mean()
    cos = (sens_a * sens_b).sum(-1) / (sens_a.norm(dim=-1) * sens_b.norm(dim=-1)).clamp_min(eps)  # (B, C)
    model_diff = (sens_a - sens_b).norm(dim=-1).mean()
    return Alignment(float(preds_diff), float(cos.mean()), float(model_diff))


def max_prob_deviation(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |softmax(a) - softmax(b)| over contexts and classes: logits that differ by a per-context
    constant (softmax's shift invariance) count as equal."""
    return float((torch.softmax(a.detach(), dim=-1) - torch.softmax(b.detach(), dim=-1)).abs().max())


def per_context_metrics(logits: torch.Tensor, y_query: torch.Tensor) -> dict[str, torch.Tensor]:
    """Loss, probability of the correct class and entropy of each context, (B,) each (Figures 3-6, right)."""
    logits = logits.detach()
    return {"loss": per_context_loss(logits, y_query), "prob_correct": prob_correct(logits, y_query), "entropy": entropy(logits)}


def alignment_through_training(snapshots: list[Predictor], reference: Predictor, ctx: Contexts) -> dict[str, list[float]]:
    """The alignment metrics of each snapshot of a trained model against `reference` (Figures 3-6, left)."""
    rows = [alignment(model, reference, ctx) for model in snapshots]
    return {name: [getattr(r, name) for r in rows] for name in ("preds_diff", "cos_sim", "model_diff")}
