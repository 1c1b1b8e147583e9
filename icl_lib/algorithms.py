"""Selection or elimination: which algorithm a trained softmax self-attention learned (Appendix J; chapter 07).

Appendix J names two algorithms. *Selection*: the query attends to the context points *closest*
to it and copies their labels (Eq. 1 with c_eta, c_sigma > 0). *Elimination*: it attends to the
points *furthest* from it and subtracts their labels. Both are Eq. 1, with the signs of the two
coefficients flipped for elimination: softmax(c_sigma <x_i, x_q>) with c_sigma < 0 puts the
weight on the furthest points, and c_eta < 0 subtracts their labels.

A run is classified from its weights and checked against its behaviour:
1. (c_eta, c_sigma) are read off the weights (`icl_lib.extraction`, Appendix H), signs kept;
2. Eq. 1 at those signed values must describe the model: it predicts the model's class on at
   least `min_agreement` of held-out contexts, and it is informative (its loss is at most
   `max_loss_fraction` of the chance level log C);
3. then both coefficients positive is selection, both negative elimination; anything else
   (including a model that is not described by Eq. 1) is "neither".
`attention_closeness_correlation` measures what the query actually attends to, independently of
the extraction: the correlation between the attention weights and <x_i, x_q>.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from icl_lib.baselines import adaptive_kernel_gd_step
from icl_lib.beyond import mirror_preds_diff
from icl_lib.extraction import extract_c_eta_c_sigma
from icl_lib.metrics import per_context_loss
from icl_lib.models import SelfAttention, Weights
from icl_lib.results import Table
from icl_lib.statistics import wilson_interval
from icl_lib.tasks import Contexts
from icl_lib.thresholds import MAX_LOSS_FRACTION, MIN_AGREEMENT
from icl_lib.validation import check_fraction

__all__ = ["ALGORITHMS", "AlgorithmFit", "classify_algorithm", "attention_closeness_correlation", "settling_index",
           "switched_algorithm", "BLOCKS", "block_norms", "classify_members", "count_algorithms",
           "check_attention_agrees", "labels_through_training", "attention_example",
           "figure11_table", "off_block_share", "mirror_distances", "NEITHER_EFFECTS", "two_class_table"]

ALGORITHMS = ("selection", "elimination", "neither")


@dataclass(frozen=True)
class AlgorithmFit:
    """What one trained model does, measured on held-out contexts."""

    algorithm: str  # one of ALGORITHMS
    c_eta: float  # read off the weights, sign kept
    c_sigma: float
    agreement: float  # fraction of contexts where the model and signed Eq. 1 predict the same class
    loss_model: float  # mean cross-entropy of the model
    loss_eq1: float  # mean cross-entropy of Eq. 1 at the signed extracted values
    closeness_correlation: float  # mean over contexts of corr(attention weight, <x_i, x_q>)


def attention_closeness_correlation(model: SelfAttention, ctx: Contexts) -> torch.Tensor:
    """Per context, the Pearson correlation between the weight the query gives each context point
    and that point's similarity <x_i, x_q> to the query, (B,): > 0 when the query attends to
    points close to it (selection), < 0 when it attends to far ones (elimination)."""
    tokens = ctx.tokens().to(model.W_Q.dtype)
    with torch.no_grad():
        attn = model.query_attention(tokens)[..., : ctx.n]  # (B, n) the context points only
    dots = ctx.query_similarity().to(attn.dtype)  # (B, n)
    a, s = attn - attn.mean(-1, keepdim=True), dots - dots.mean(-1, keepdim=True)
    denom = (a.norm(dim=-1) * s.norm(dim=-1)).clamp_min(torch.finfo(attn.dtype).tiny)
    return (a * s).sum(-1) / denom


def classify_algorithm(
    weights: Weights,
    ctx: Contexts,
    *,
    include_query: bool,
    min_agreement: float = MIN_AGREEMENT,
    max_loss_fraction: float = MAX_LOSS_FRACTION,
) -> AlgorithmFit:
    """Classify one softmax self-attention (weights (D, D) each) on held-out contexts `ctx`."""
    check_fraction("min_agreement", min_agreement)
    check_fraction("max_loss_fraction", max_loss_fraction)
    d, C = ctx.d, ctx.C
    if weights.W_Q.shape[-1] != d + C:
        raise ValueError(f"weights are {tuple(weights.W_Q.shape)}, the contexts need d+C={d + C}")
    model = SelfAttention("softmax", d, C, include_query=include_query, dtype=torch.float64)
    model.load_weights(weights)
    c_eta, c_sigma = (float(v) for v in extract_c_eta_c_sigma(model.weights(), d))
    ctx64 = ctx.to(dtype=torch.float64)
    with torch.no_grad():
        logits_model = model(ctx64.tokens())
        logits_eq1 = adaptive_kernel_gd_step(ctx64, c_eta, c_sigma, include_query=include_query)
        correlation = float(attention_closeness_correlation(model, ctx64).mean())
    agreement = float((logits_model.argmax(-1) == logits_eq1.argmax(-1)).double().mean())
    loss_model = float(per_context_loss(logits_model, ctx64.y_query).mean())
    loss_eq1 = float(per_context_loss(logits_eq1, ctx64.y_query).mean())
    described = agreement >= min_agreement and loss_eq1 <= max_loss_fraction * math.log(C)
    if described and c_eta > 0 and c_sigma > 0:
        algorithm = "selection"
    elif described and c_eta < 0 and c_sigma < 0:
        algorithm = "elimination"
    else:
        algorithm = "neither"
    return AlgorithmFit(algorithm, c_eta, c_sigma, agreement, loss_model, loss_eq1, correlation)


def settling_index(labels: list[str]) -> int:
    """The index of the first label from which a run's labels through training (one per snapshot)
    stay the same to the end: when it settled on its final algorithm (chapter 07)."""
    if not labels:
        raise ValueError("settling_index needs at least one label")
    i = len(labels) - 1
    while i > 0 and labels[i - 1] == labels[-1]:
        i -= 1
    return i


def switched_algorithm(labels: list[str]) -> bool:
    """Whether a run held selection and later elimination, or the other way round ("neither"
    between them does not count as holding either)."""
    held = [a for a in labels if a != "neither"]
    return any(a != b for a, b in zip(held, held[1:], strict=False))


BLOCKS = ("QK x-block (Eq. 1)", "QK xy-block", "OV y-block (Eq. 1)", "OV yx-block")


def block_norms(weights: Weights, d: int) -> list[float]:
    """Frobenius norms of the four blocks of W_Q^T W_K and W_O W_V that can change a prediction
    (`BLOCKS`): Eq. 1 uses the x-block of the first and the y-block of the second; the xy-block
    scores a key by its label, the yx-block turns attended positions into logits."""
    qk, ov = weights.qk(), weights.ov()
    return [float(b.norm()) for b in (qk[:d, :d], qk[:d, d:], ov[d:, d:], ov[d:, :d])]


def classify_members(weights: Weights, members: int, ctx: Contexts, **options: object) -> list[AlgorithmFit]:
    """`classify_algorithm` for each of the first `members` members of an ensemble's weights, on the
    same held-out contexts (`options`: include_query, min_agreement, max_loss_fraction)."""
    return [classify_algorithm(weights.member(m), ctx, **options) for m in range(members)]


def count_algorithms(fits: list[AlgorithmFit]) -> dict[str, int]:
    """How many of `fits` learned each of ALGORITHMS."""
    return {a: sum(f.algorithm == a for f in fits) for a in ALGORITHMS}


def check_attention_agrees(fits: dict[object, list[AlgorithmFit]]) -> None:
    """Guard the classification by behaviour: every selection model attends more to closer points
    (mean closeness correlation > 0), every elimination model to further ones (< 0). Raises
    AssertionError naming the first model where the label read off the weights disagrees."""
    sign = {"selection": 1.0, "elimination": -1.0}
    for key, per_seed in fits.items():
        for m, f in enumerate(per_seed):
            if f.algorithm in sign and not sign[f.algorithm] * f.closeness_correlation > 0:
                raise AssertionError(f"{key}, member {m}: {f.algorithm} by its weights, but the attention's "
                                     f"closeness correlation is {f.closeness_correlation:.3f}")


def labels_through_training(snapshots: list, members: int, ctx: Contexts, **options: object) -> list[list[str]]:
    """Each member's algorithm at every stored snapshot (`Run.history["snapshots"]`), on the same
    contexts: one list of labels per member, in snapshot order."""
    return [[classify_algorithm(Weights(*s).member(m), ctx, **options).algorithm for s in snapshots]
            for m in range(members)]


def attention_example(model: SelfAttention, ctx: Contexts) -> tuple[np.ndarray, np.ndarray]:
    """What the query attends to in `ctx`: each context point's similarity <x_i, x_q> to the query
    and the attention weight the query gives it, flattened over the contexts (chapter 7's figure)."""
    with torch.no_grad():
        weights = model.query_attention(ctx.tokens().to(model.W_Q.dtype))[:, : ctx.n]
    return ctx.query_similarity().flatten().numpy(), weights.flatten().numpy()


def figure11_table(counts: dict[tuple[int, int, int], dict[str, int]], seeds: int, *, base: tuple[int, int, int],
                   panels: dict[str, list[tuple[int, int, int]]], low_c: tuple[int, int, int], setting: str) -> Table:
    """Chapter 7's proportions beside what Appendix J says of Figure 11: selection (with its 95%
    Wilson interval) and elimination / neither at the base setting, selection along each swept
    quantity, and elimination at the lowest C against the base."""
    share = {s: {a: c[a] / seeds for a in ALGORITHMS} for s, c in counts.items()}
    low, high = wilson_interval(counts[base]["selection"], seeds)
    rows = [
        ("base (d=2, C=5, n=100): proportion of selection", "majority (Fig. 11)",
         f"{share[base]['selection']:.0%} ({low:.0%}–{high:.0%})", setting),
        ("base: proportion of elimination / neither", "rarer",
         f"{share[base]['elimination']:.0%} / {share[base]['neither']:.0%}", setting),
    ]
    rows += [(f"selection vs {title}", "Fig. 11 bars", ", ".join(f"{s}: {share[s]['selection']:.0%}" for s in ss),
              setting) for title, ss in panels.items()]
    rows.append((f"elimination at C={low_c[1]} vs C={base[1]}", "more frequent when C is low",
                 f"{share[low_c]['elimination']:.0%} vs {share[base]['elimination']:.0%}", setting))
    return Table(("quantity", "paper", "this book", "setting"), rows)


def off_block_share(weights: Weights, d: int) -> float:
    """The share of the four blocks' norms (`block_norms`) in the two that Eq. 1 does not use: the
    QK xy-block (keys scored by their label) and the OV yx-block (positions read into logits)."""
    norms = block_norms(weights, d)
    return (norms[1] + norms[3]) / sum(norms)


def mirror_distances(fits: list[AlgorithmFit], ctx: Contexts, *, include_query: bool) -> list[float]:
    """For every model with an algorithm, the preds diff between Eq. 1 at its |values| and Eq. 1 at
    the mirrored (-c_eta, -c_sigma) (`icl_lib.beyond.mirror_preds_diff`): how different selection
    and elimination are at those values."""
    return [mirror_preds_diff(ctx, abs(f.c_eta), abs(f.c_sigma), include_query=include_query)
            for f in fits if f.algorithm != "neither"]


NEITHER_EFFECTS = {"reproduced": "more seeds end as neither", "not reproduced": "fewer seeds end as neither",
                   "not resolved": "not told apart from chapter 7's budget"}


def two_class_table(fits: dict[str, list[AlgorithmFit]], shares: dict[str, list[float]],
                    budgets: dict[str, str]) -> Table:
    """Chapter 9's C = 2 runs, one row per change: the seeds per algorithm, the share of neither with
    its 95% Wilson interval, and the median loss and off-Eq. 1 block share (`off_block_share`) of the
    neither seeds and of the others."""
    def medians(per_seed: list[AlgorithmFit], share: list[float], neither: bool) -> str:
        chosen = [m for m, f in enumerate(per_seed) if (f.algorithm == "neither") == neither]
        if not chosen:
            return "—"
        return f"{np.median([per_seed[m].loss_model for m in chosen]):.3f} / {np.median([share[m] for m in chosen]):.2f}"

    def row(what: str) -> dict[str, object]:
        counts = count_algorithms(fits[what])
        low, high = wilson_interval(counts["neither"], len(fits[what]))
        return {"C = 2 seeds": what, "steps × batch": budgets[what],
                "selection / elimination / neither": " / ".join(str(counts[a]) for a in ALGORITHMS),
                "neither, 95% interval": f"{counts['neither'] / len(fits[what]):.0%} [{low:.0%}, {high:.0%}]",
                "neither: loss / off-Eq. 1 share": medians(fits[what], shares[what], True),
                "others: loss / off-Eq. 1 share": medians(fits[what], shares[what], False)}

    return Table.from_records(row(what) for what in fits)
