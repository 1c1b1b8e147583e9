"""What the context-adaptive rate buys (chapter 9, section 1): Eq. 1, Eq. 3 and Eq. 2, each fitted
at its own optimum on search contexts and scored on held-out ones, per (d, n); the gain of Eq. 1
over the others with paired intervals; and where in the neighbour mass m(X) the gain lies.

The searches go through `icl_lib.analysis_cache`, so a second build reads them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from icl_lib import paper
from icl_lib.analysis_cache import ContextSpec, cached_call
from icl_lib.baselines import (
    adaptive_grid,
    adaptive_kernel_gd_step,
    gd_step,
    grid_search_adaptive,
    grid_search_kernel_gd,
    kernel_gd_step,
    line_search_gd,
    log_grid,
)
from icl_lib.beyond import binned_means, effect_label, neighbour_mass
from icl_lib.curves import near_optimal_region
from icl_lib.kernels import RBFKernel
from icl_lib.metrics import per_context_loss
from icl_lib.results import Table
from icl_lib.statistics import paired_interval
from icl_lib.tasks import Contexts

__all__ = ["STEPS", "fit_steps", "score", "model_score", "gains_and_labels", "gains_table", "edges_text",
           "mass_analysis", "mass_table", "ends_above_middle"]

STEPS = ("Eq. 1", "Eq. 3", "Eq. 2")


def fit_steps(spec: ContextSpec, test: Contexts, *, grid_points: int, include_query: bool,
              cache_dir: str | None) -> dict[str, object]:
    """The three steps at their own optima on the search contexts of `spec`, over Appendix G's
    ranges (Eq. 1 on its (c_eta, c_sigma) grid, Eq. 3 on the (eta, sigma^2) grid, Eq. 2 by line
    search), then scored on `test`: {"fits": {step: (first, second, on the grid's edge)},
    "held": {step: (mean loss, accuracy)}, "per_context": {step: losses (B,)}}."""
    d = spec.d
    e1, s1 = adaptive_grid(d, grid_points)
    kernel_eta = log_grid(*paper.KERNEL_GD_ETA_EXPONENTS, grid_points)
    kernel_sigma2 = log_grid(*paper.KERNEL_GD_SIGMA2_EXPONENTS, grid_points)
    gd_eta_grid = log_grid(*paper.GD_ETA_EXPONENTS, grid_points)
    ce, cs, grid1 = cached_call(grid_search_adaptive, spec, e1, s1, include_query=include_query, cache_dir=cache_dir)
    eta3, s2, grid3 = cached_call(grid_search_kernel_gd, spec, kernel_eta, kernel_sigma2, cache_dir=cache_dir)
    eta2, _ = cached_call(line_search_gd, spec, gd_eta_grid, cache_dir=cache_dir)
    fits = {
        "Eq. 1": (ce, cs, near_optimal_region(grid1.numpy(), e1.numpy(), s1.numpy())["optimum_on_edge"]),
        "Eq. 3": (eta3, s2, near_optimal_region(grid3.numpy(), kernel_eta, kernel_sigma2)["optimum_on_edge"]),
        "Eq. 2": (eta2, None, eta2 in (gd_eta_grid[0], gd_eta_grid[-1])),
    }
    logits = {
        "Eq. 1": adaptive_kernel_gd_step(test, ce, cs, include_query=include_query),
        # Eq. 3's kernel: on the sphere exp(-|a-b|^2/(2 s2)) = exp((<a,b>-1)/s2)
        "Eq. 3": kernel_gd_step(test, eta3, RBFKernel(sigma2=s2)),
        "Eq. 2": gd_step(test, eta2),
    }
    per_context = {k: per_context_loss(v, test.y_query).numpy() for k, v in logits.items()}
    held = {k: (float(per_context[k].mean()), score(v, test)[1]) for k, v in logits.items()}
    return {"fits": fits, "held": held, "per_context": per_context}


def score(logits: torch.Tensor, test: Contexts) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of query logits (B, C) on `test`."""
    return (float(per_context_loss(logits, test.y_query).mean()),
            float((logits.argmax(-1) == test.y_query).double().mean()))


def model_score(predictor: Callable[[Contexts], torch.Tensor], test: Contexts) -> tuple[float, float]:
    """`score` of a trained model's predictions on `test`."""
    with torch.no_grad():
        return score(predictor(test), test)


def gains_and_labels(results: Mapping[tuple[int, int], Mapping[str, object]], *, min_gain: float):
    """For each (d, n) and each other step, the gain of Eq. 1 (the other step's held-out loss minus
    Eq. 1's, per context) as a paired 95% interval, and its label (`effect_label` against `min_gain`
    x Eq. 1's loss): ({(d, n, step): (mean, low, high)}, {(d, n, step): label})."""
    gains, labels = {}, {}
    for (d, nn), r in results.items():
        threshold = min_gain * r["held"]["Eq. 1"][0]
        for other in ("Eq. 3", "Eq. 2"):
            gains[(d, nn, other)] = paired_interval(r["per_context"][other] - r["per_context"]["Eq. 1"])
            labels[(d, nn, other)] = effect_label(*gains[(d, nn, other)], threshold=threshold)
    return gains, labels


def gains_table(results: Mapping[tuple[int, int], Mapping[str, object]], gains, labels,
                model_loss: Mapping[int, tuple[float, float]], *, n: int) -> Table:
    """Per (d, n): each step's held-out loss, the trained model's at n, the accuracies, and the gains
    of Eq. 1 over Eq. 3 and Eq. 2 with their intervals and labels."""
    def gain(d: int, nn: int, other: str) -> str:
        mean, low, high = gains[(d, nn, other)]
        return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}] {labels[(d, nn, other)]}"

    return Table.from_records(
        {"d": d, "n": nn, **{("loss " if k == "Eq. 1" else "") + k: r["held"][k][0] for k in STEPS},
         "trained SA": model_loss[d][0] if nn == n and d in model_loss else "",
         "accuracy Eq. 1 / 3 / 2": " / ".join(f"{r['held'][k][1]:.3f}" for k in STEPS),
         "gain over Eq. 3": gain(d, nn, "Eq. 3"), "gain over Eq. 2": gain(d, nn, "Eq. 2")}
        for (d, nn), r in results.items())


def edges_text(results: Mapping[tuple[int, int], Mapping[str, object]]) -> str:
    """Which fitted optima lie on their grid's edge (the search range too narrow there)."""
    edges = [f"d={d} n={nn} {step}" for (d, nn), r in results.items() for step, fit in r["fits"].items() if fit[2]]
    return ", ".join(edges) or "none"


def mass_analysis(test: Contexts, fit: tuple[float, float, bool], per_context: Mapping[str, np.ndarray], *,
                  C: int, include_query: bool) -> dict[str, object]:
    """Eq. 1 as Eq. 3 with the rate c_eta / m(X) (Section 3.3), checked on `test` (the largest
    deviation, float64 rounding when the identity holds); the neighbour mass m(X) of each context at
    Eq. 1's c_sigma, its spread (90th over 10th percentile), and the gain over Eq. 3 averaged in five
    equal bins of m(X) (`binned_means`)."""
    c_eta, c_sigma, _ = fit
    d = test.d
    mass = neighbour_mass(test, c_sigma, include_query=include_query)
    as_eq3 = kernel_gd_step(test, 1.0, RBFKernel(sigma2=math.sqrt(d + C) / c_sigma)) * (c_eta / mass)[:, None]
    deviation = float((as_eq3 - adaptive_kernel_gd_step(test, c_eta, c_sigma, include_query=include_query)).abs().max())
    log_mass = np.log(mass.numpy())
    return {"identity_deviation": deviation,
            "spread": math.exp(float(np.percentile(log_mass, 90) - np.percentile(log_mass, 10))),
            "bins": binned_means(mass.numpy(), per_context["Eq. 3"] - per_context["Eq. 1"])}


def mass_table(analyses: Mapping[int, Mapping[str, object]]) -> Table:
    """Per d: the identity's deviation, the spread of m(X), and the gain over Eq. 3 in the lowest-,
    middle and highest-mass fifths of the contexts (mean and 95% interval)."""
    def shown(b: Sequence[float]) -> str:
        return f"{b[1]:+.4f} [{b[2]:+.4f}, {b[3]:+.4f}]"

    return Table.from_records(
        {"d": d, "Eq. 1 − Eq. 3 at η(X) (max)": f"{a['identity_deviation']:.1e}",
         "m(X), 90th / 10th pct": f"{a['spread']:.1f}×", "gain, lowest-mass fifth": shown(a["bins"][0]),
         "middle fifth": shown(a["bins"][len(a["bins"]) // 2]), "highest-mass fifth": shown(a["bins"][-1])}
        for d, a in analyses.items())


def ends_above_middle(analyses: Mapping[int, Mapping[str, object]]) -> tuple[list[int], list[int]]:
    """The d's where the lowest-mass fifth, and where the highest-mass fifth, gains more than the
    middle fifth (the lower end of its interval above the upper end of the middle's)."""
    def above(bins: Sequence, end: int) -> bool:
        return bins[end][2] > bins[len(bins) // 2][3]

    return ([d for d, a in analyses.items() if above(a["bins"], 0)],
            [d for d, a in analyses.items() if above(a["bins"], -1)])
