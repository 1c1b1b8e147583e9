"""Trained models against candidate one-step algorithms: the alignment of every seed with every
candidate, each candidate's held-out loss, and which candidate the seeds can tell apart from which.

Chapter 4 compares its softmax models with Eq. 1 and the two simpler steps (Eq. 2, Eq. 3) here;
the decision for one pair of steps is `icl_lib.verdicts.compare_with_eq1`, and these functions
gather its inputs and say its outcome in words.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from icl_lib.baselines import adaptive_kernel_gd_step
from icl_lib.metrics import alignment, per_context_loss
from icl_lib.tasks import Contexts
from icl_lib.verdicts import (
    CANNOT_TELL,
    EQ1_CLOSER,
    NOT_IDENTIFIABLE,
    OTHER_CLOSER,
    compare_with_eq1,
    deciding_metrics,
)

__all__ = ["METRICS", "align_seeds", "held_out_loss", "compare_candidates", "describe_comparison", "spread",
           "outcomes_in_words", "alignment_at_values", "SHORT", "steps_by_d"]

Predictor = Callable[[Contexts], torch.Tensor]
METRICS = ("preds_diff", "cos_sim", "model_diff")
_MEANING = {
    EQ1_CLOSER: "Eq. 1 describes the models better than {step}",
    CANNOT_TELL: "{step} describes the models as well as Eq. 1",
    OTHER_CLOSER: "{step} describes the models better than Eq. 1",
    NOT_IDENTIFIABLE: "Eq. 1 and {step} are too alike here to say which one the models do",
}


def align_seeds(models: Sequence[Predictor], steps: Mapping[str, Predictor],
                ctx: Contexts) -> dict[str, dict[str, list[float]]]:
    """Each step's alignment (Section 4's three metrics) with every model, on `ctx`:
    {step: {metric: [one value per model]}}."""
    table: dict[str, dict[str, list[float]]] = {}
    for name, step in steps.items():
        rows = [alignment(model, step, ctx) for model in models]
        table[name] = {metric: [getattr(r, metric) for r in rows] for metric in METRICS}
    return table


def held_out_loss(predictor: Predictor, ctx: Contexts) -> float:
    """Mean cross-entropy of `predictor` on the query of each context in `ctx`."""
    with torch.no_grad():
        return float(per_context_loss(predictor(ctx), ctx.y_query).mean())


def compare_candidates(per_step: Mapping[str, Mapping[str, Sequence[float]]], steps: Mapping[str, Predictor],
                       ctx: Contexts, *, reference: str = "Eq. 1"):
    """Every other step against `reference`, seed by seed (`compare_with_eq1`): returns
    ({step: outcome}, {step: intervals}, {step: preds diff between the two steps themselves})."""
    outcomes, intervals, apart = {}, {}, {}
    for name in steps:
        if name == reference:
            continue
        apart[name] = alignment(steps[reference], steps[name], ctx).preds_diff
        outcomes[name], intervals[name] = compare_with_eq1(per_step[reference], per_step[name],
                                                           steps_apart=apart[name])
    return outcomes, intervals, apart


def describe_comparison(outcomes: Mapping[str, str], intervals: Mapping[str, Mapping[str, tuple[float, float, float]]],
                        apart: Mapping[str, float], *, width: int = 80) -> str:
    """The comparison in words, one block per step: its outcome and the preds diff between the
    steps, the paired interval of (step - Eq. 1) for each metric (those that decide marked *), and
    what the outcome means."""
    lines = []
    for name, outcome in outcomes.items():
        deciding = deciding_metrics(intervals[name])
        shown = ", ".join(f"{m.replace('_', ' ')}{'*' if m in deciding else ''} {v[0]:+.4f} [{v[1]:+.4f}, {v[2]:+.4f}]"
                          for m, v in intervals[name].items())
        lines.append(f"  vs {name}: {outcome}; steps apart {apart[name]:.4f}")
        for text in (shown, _MEANING[outcome].format(step=name)):
            lines.append(textwrap.fill(text, width, initial_indent=" " * 4, subsequent_indent=" " * 4))
    return "\n".join(lines)


def spread(values: Sequence[float]) -> str:
    """Mean and range over seeds, e.g. "0.0312 (0.0301–0.0320)"."""
    return f"{np.mean(values):.4f} ({min(values):.4f}–{max(values):.4f})"


def outcomes_in_words(outcomes: Mapping[int, Mapping[str, str]]) -> str:
    """The outcomes of `compare_candidates` over d, grouped by outcome for each step, e.g.
    "against Eq. 3, Eq. 1 closer at d = 2, 3 and the steps coincide at d = 5, 10; ..."."""
    steps = list(dict.fromkeys(step for per_d in outcomes.values() for step in per_d))
    parts = []
    for step in steps:
        by_outcome: dict[str, list[int]] = {}
        for d, per_d in outcomes.items():
            if step in per_d:
                by_outcome.setdefault(per_d[step], []).append(d)
        said = [f"{outcome} at d = {', '.join(map(str, ds))}" for outcome, ds in by_outcome.items()]
        parts.append(f"against {step}, " + " and ".join(said))
    return "; ".join(parts) or "no comparison was made"


def alignment_at_values(predictors: Sequence[Predictor], values: Sequence[tuple[float, float]], ctx: Contexts, *,
                        include_query: bool) -> dict[str, list[float]]:
    """Each predictor (a model at one snapshot) against Eq. 1 at its own (c_eta, c_sigma) (read off
    that snapshot): the alignment metrics per snapshot (Appendix H, Figure 8 a)."""
    rows = [alignment(p, lambda c, a=a, b=b: adaptive_kernel_gd_step(c, a, b, include_query=include_query), ctx)
            for p, (a, b) in zip(predictors, values, strict=True)]
    return {metric: [getattr(r, metric) for r in rows] for metric in METRICS}


SHORT = {"Eq. 1": "eq1", "Eq. 3": "eq3", "Eq. 2": "eq2"}  # the steps' names in chapter 4's metric keys


def steps_by_d(metrics: Mapping[str, float], dims: Sequence[int]) -> dict[str, dict[str, dict[int, float]]]:
    """From chapter 4's results: per metric (preds diff, cos sim, held-out loss) and step, its value
    against d (mean over the control seeds), with the trained models' own loss beside the steps'."""
    values = {m: {step: {d: metrics[f"d{d}.{m}.{key}"] for d in dims} for step, key in SHORT.items()}
              for m in ("preds_diff", "cos_sim", "loss")}
    values["loss"]["trained SA"] = {d: metrics[f"d{d}.loss.sa_seeds"] for d in dims}
    return values
