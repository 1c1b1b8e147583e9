"""What the paper leaves open, computed (chapter `09_beyond`).

- **η(X).** Eq. 1 is Eq. 3 (RBF kernel GD, σ² = √(d+C)/c_σ) with a learning rate that depends on
  the context: η(X) = c_η / m(X), where m(X) (`neighbour_mass`) is the mean kernel similarity of
  the context points to the query, i.e. how much of the context lies near it.
- **The linear limit.** For small c_σ the attention weights are 1/k (1 + c_σ (s_i − s̄)/√D) + O(c_σ²),
  with s_i = ⟨x_i, x_q⟩ and k keys. Every class has n/C context points, so the terms Σ_i y_i and
  s̄ Σ_i y_i shift all logits alike, which the outer softmax ignores: Eq. 1's logits are a common
  shift plus η/n Σ_i y_i s_i, Eq. 2 at η = `gd_rate_of_eq1`(c_η, c_σ) = n c_η c_σ / (k √D), up to
  O(c_η c_σ²). Along a curve c_η c_σ = const, Eq. 1 tends to that GD step as c_σ → 0 (the
  chapter and the tests check it numerically).
- **Two classes.** At C = 2 Eq. 1 at (c_η, c_σ) and at (−c_η, −c_σ), selection and elimination,
  both tend to the same GD step as c_σ → 0, and on the circle they stay close at any c_σ
  (`mirror_preds_diff` measures how close).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from icl_lib.baselines import adaptive_kernel_gd_step, gd_step, line_search_gd
from icl_lib.metrics import per_context_loss
from icl_lib.statistics import paired_interval
from icl_lib.tasks import Contexts

__all__ = ["gd_rate_of_eq1", "c_eta_on_valley", "centred", "neighbour_mass", "limit_deviation", "valley_profile",
           "mirror_preds_diff", "binned_means", "effect_label", "EFFECT_LABELS",
           "falls_all_the_way", "best_gd_rate", "valley_extent", "LANDSCAPE_SETS", "best_c_eta", "profile_optimum",
           "landscape_set"]

EFFECT_LABELS = ("matters", "does not matter", "hurts", "cannot tell")
# independent search sets behind the landscape finding: three can show a disagreement, and each costs
# a profile of Eq. 1 on Appendix G's 10,000 contexts
LANDSCAPE_SETS = 3


def _denominator(n: int, include_query: bool) -> int:
    return n + 1 if include_query else n


def gd_rate_of_eq1(c_eta: float, c_sigma: float, *, n: int, D: int, include_query: bool) -> float:
    """The learning rate η of Eq. 2 that Eq. 1 at (c_eta, c_sigma) tends to as c_sigma → 0 with
    c_eta · c_sigma fixed: η = n c_η c_σ / (k √D), k the number of keys (n, or n + 1 with the query)."""
    return n * c_eta * c_sigma / (_denominator(n, include_query) * math.sqrt(D))


def c_eta_on_valley(eta: float, c_sigma: float | np.ndarray, *, n: int, D: int, include_query: bool):
    """The c_eta on the curve of Eq. 1's values that tend to Eq. 2 at rate `eta`, at `c_sigma`."""
    return eta * _denominator(n, include_query) * math.sqrt(D) / (n * np.asarray(c_sigma, dtype=float))


def centred(logits: torch.Tensor) -> torch.Tensor:
    """Logits less their mean over the classes: what the outer softmax sees."""
    return logits - logits.mean(-1, keepdim=True)


def neighbour_mass(ctx: Contexts, c_sigma: float, *, include_query: bool) -> torch.Tensor:
    """m(X) = (1/n) Σ_j exp(c_σ (⟨x_j, x_q⟩ − 1)/√D) over the keys (with the query's own term when
    it attends to itself), (B,): 1 when every point sits on the query, small when none is near.
    Eq. 1 at (c_η, c_σ) equals Eq. 3 at σ² = √D / c_σ with the learning rate η(X) = c_η / m(X)."""
    D = ctx.d + ctx.C
    dots = ctx.query_similarity()
    mass = torch.exp(c_sigma * (dots - 1) / math.sqrt(D)).sum(-1)
    if include_query:
        mass = mass + torch.exp(c_sigma * ((ctx.x_query * ctx.x_query).sum(-1) - 1) / math.sqrt(D))
    return mass / ctx.n


def limit_deviation(ctx: Contexts, eta: float, c_sigmas: list[float], *, include_query: bool) -> list[float]:
    """For each c_sigma, the largest difference over contexts and classes between the centred logits
    of Eq. 1 on the curve towards Eq. 2 at rate `eta` and those of Eq. 2 itself: → 0 like c_sigma."""
    D = ctx.d + ctx.C
    target = centred(gd_step(ctx, eta))
    out = []
    for c_sigma in c_sigmas:
        c_eta = float(c_eta_on_valley(eta, c_sigma, n=ctx.n, D=D, include_query=include_query))
        logits = adaptive_kernel_gd_step(ctx, c_eta, c_sigma, include_query=include_query)
        out.append(float((centred(logits) - target).abs().max()))
    return out


def valley_profile(ctx: Contexts, eta: float, c_sigmas: list[float], *, include_query: bool) -> list[float]:
    """Mean loss of Eq. 1 along the curve towards Eq. 2 at rate `eta`, at each c_sigma."""
    D = ctx.d + ctx.C
    return [float(per_context_loss(adaptive_kernel_gd_step(
        ctx, float(c_eta_on_valley(eta, s, n=ctx.n, D=D, include_query=include_query)), s,
        include_query=include_query), ctx.y_query).mean()) for s in c_sigmas]


def mirror_preds_diff(ctx: Contexts, c_eta: float, c_sigma: float, *, include_query: bool) -> float:
    """Section 4's preds diff (mean ‖ŷ − ŷ'‖ over contexts) between Eq. 1 at (c_eta, c_sigma) and at
    (−c_eta, −c_sigma): between selection and its mirror image, elimination, at the same |values|."""
    a = torch.softmax(adaptive_kernel_gd_step(ctx, c_eta, c_sigma, include_query=include_query), dim=-1)
    b = torch.softmax(adaptive_kernel_gd_step(ctx, -c_eta, -c_sigma, include_query=include_query), dim=-1)
    return float((a - b).norm(dim=-1).mean())


def binned_means(x: np.ndarray, y: np.ndarray, bins: int = 5) -> list[tuple[float, float, float, float]]:
    """Split contexts into `bins` equal-count bins of x; per bin: median x, mean y and its 95% interval."""
    order = np.argsort(x)
    rows = []
    for part in np.array_split(order, bins):
        values = y[part]
        half = 1.959963984540054 * values.std(ddof=1) / math.sqrt(len(values))
        rows.append((float(np.median(x[part])), float(values.mean()), float(values.mean() - half),
                     float(values.mean() + half)))
    return rows


def effect_label(mean: float, low: float, high: float, *, threshold: float) -> str:
    """How a difference (e.g. Eq. 3's loss minus Eq. 1's) with 95% interval [low, high] compares
    with `threshold` > 0: "matters" (the interval lies above it), "hurts" (below −threshold),
    "does not matter" (inside ±threshold), else "cannot tell"."""
    if not threshold > 0:
        raise ValueError(f"threshold={threshold!r} must be > 0")
    if not low <= mean <= high:
        raise ValueError(f"the mean {mean} must lie in its interval [{low}, {high}]")
    if low > threshold:
        return "matters"
    if high < -threshold:
        return "hurts"
    if -threshold < low and high < threshold:
        return "does not matter"
    return "cannot tell"


def falls_all_the_way(values: list[float], *, rtol: float = 1e-9) -> bool | None:
    """Whether `values` (a loss along a path) never rise by more than `rtol` (relative) from one point
    to the next and end lower than they start; None with fewer than two values."""
    if len(values) < 2:
        return None
    return all(b <= a * (1 + rtol) for a, b in zip(values, values[1:], strict=False)) and values[-1] < values[0]


def best_gd_rate(ctx: Contexts, etas: torch.Tensor) -> tuple[float, float]:
    """Eq. 2's best rate and loss on `ctx`: the line search over `etas`, then refined by a bounded
    scalar search on log η between the grid's neighbours of the best point (scipy). The grid alone
    leaves up to half a grid step; the loss gaps this chapter compares are smaller than that."""
    from scipy.optimize import minimize_scalar

    _, losses = line_search_gd(ctx, etas)
    i = int(losses.argmin())
    low, high = float(etas[max(i - 1, 0)]), float(etas[min(i + 1, len(etas) - 1)])

    def loss(log_eta: float) -> float:
        return float(per_context_loss(gd_step(ctx, 10.0**log_eta), ctx.y_query).mean())

    result = minimize_scalar(loss, bounds=(math.log10(low), math.log10(high)), method="bounded",
                             options={"xatol": 1e-6})
    if result.fun < float(losses[i]):
        return 10.0**result.x, float(result.fun)
    return float(etas[i]), float(losses[i])


def valley_extent(c_etas: np.ndarray, losses: list[float], *, best: float, within: float) -> tuple[float, bool]:
    """Along a curve (c_etas in order, losses at them): the largest over the smallest c_eta whose loss
    is within `within` (relative) of `best`, and whether that set includes the curve's last point
    (then the ratio is a lower bound: the set goes on). NaN when no point is that close."""
    inside = np.asarray(losses) <= best * (1 + within)
    if not inside.any():
        return float("nan"), False
    values = np.asarray(c_etas, dtype=float)[inside]
    return float(values.max() / values.min()), bool(inside[-1])


def best_c_eta(ctx: Contexts, c_sigma: float, *, include_query: bool, around: float, decades: float = 4.0) -> tuple[float, float]:
    """For one c_sigma, the c_eta minimising Eq. 1's mean loss on `ctx`, and that loss. Eq. 1's
    logits are c_eta times weights that depend on c_sigma only, and the cross-entropy of scaled
    logits is convex in the scale, so a bounded scalar search on log c_eta (scipy), within
    `decades` either side of `around`, finds the one minimum. Raises where it lands on a bound."""
    from scipy.optimize import minimize_scalar

    weighted = adaptive_kernel_gd_step(ctx, 1.0, c_sigma, include_query=include_query)  # (B, C)

    def loss(log_c_eta: float) -> float:
        return float(per_context_loss(10.0**log_c_eta * weighted, ctx.y_query).mean())

    centre = math.log10(around)
    result = minimize_scalar(loss, bounds=(centre - decades, centre + decades), method="bounded",
                             options={"xatol": 1e-6})
    if abs(result.x - centre) > decades - 1e-3:
        raise ValueError(f"c_sigma={c_sigma:g}: the best c_eta lies beyond {decades} decades of {around:g}")
    return 10.0**float(result.x), float(result.fun)


def profile_optimum(ctx: Contexts, eta: float, c_sigmas: list[float], *, include_query: bool) -> dict[str, object]:
    """The valley's profile on `ctx`: for each c_sigma (largest first) the best c_eta (`best_c_eta`,
    searched around the curve towards Eq. 2 at rate `eta`) and its loss; the profile's best point, and
    whether it is the last, smallest c_sigma (the profile still falls towards the linear step)."""
    D = ctx.d + ctx.C
    rows = [best_c_eta(ctx, s, include_query=include_query,
                       around=float(c_eta_on_valley(eta, s, n=ctx.n, D=D, include_query=include_query)))
            for s in c_sigmas]
    i = int(np.argmin([loss for _, loss in rows]))
    return {"c_sigmas": list(c_sigmas), "c_etas": [c for c, _ in rows], "losses": [loss for _, loss in rows],
            "best": (rows[i][0], float(c_sigmas[i])), "best_loss": rows[i][1], "at_end": i == len(c_sigmas) - 1}


def landscape_set(search: Contexts, test: Contexts, etas: torch.Tensor, c_sigmas: list[float], *,
                  include_query: bool) -> dict[str, object]:
    """One independent set of search contexts for `icl_lib.verdicts.landscape_finding`: Eq. 2's best
    rate and the valley's profile fitted on `search`, then the paired 95% interval over the contexts of
    `test` of Eq. 2's loss minus Eq. 1's at the profile's best ("gain": > 0 where Eq. 1 is better)."""
    eta, _ = best_gd_rate(search, etas)
    profile = profile_optimum(search, eta, c_sigmas, include_query=include_query)
    c_eta, c_sigma = profile["best"]
    eq1 = per_context_loss(adaptive_kernel_gd_step(test, c_eta, c_sigma, include_query=include_query), test.y_query)
    eq2 = per_context_loss(gd_step(test, eta), test.y_query)
    return profile | {"eta": eta, "gain": paired_interval((eq2 - eq1).numpy())}
