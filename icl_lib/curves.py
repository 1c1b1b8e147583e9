"""Reading training curves and loss grids: has a loss settled, where does a value stop growing, where
does a run leave its plateau, how wide is a grid's near-optimal set (chapters 6, 8, 9; the rules in
`icl_lib.verdicts`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from icl_lib import thresholds

__all__ = ["loss_settled", "strictly_decreasing", "growth_rate", "flattening_step", "near_optimal_region",
           "plateau_exit_step"]


def loss_settled(losses: Sequence[float], *, tolerance: float) -> bool | None:
    """Has a run's evaluation loss settled? The mean over its last quarter of evaluations is below the
    mean over the quarter before by less than `tolerance` (relative). None with fewer than 8 evaluations."""
    x = np.asarray(losses, dtype=float)
    if x.size < 8:
        return None
    q = x.size // 4
    before, last = float(x[-2 * q:-q].mean()), float(x[-q:].mean())
    return bool(np.isfinite(last) and before - last < tolerance * before)


def strictly_decreasing(values: Sequence[float]) -> bool | None:
    """Whether values (in the order of an increasing parameter) strictly decrease; None with fewer than two."""
    if len(values) < 2:
        return None
    return all(a > b for a, b in zip(values, values[1:], strict=False))


def growth_rate(steps: Sequence[float], values: Sequence[float], *, window: int) -> np.ndarray:
    """d log(value) / d step over a sliding window: the least-squares slope of log(value) against
    the step over snapshots [i, i + window), for each i; (len(steps) - window + 1,). A window of
    several snapshots keeps the batch noise of a constant learning rate from reading as growth."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if window < 2 or window > len(steps):
        raise ValueError(f"window={window} must be in [2, {len(steps)}]")
    if (values <= 0).any():
        raise ValueError("growth_rate takes positive values (their logarithm is fitted)")
    logs = np.log(values)
    rates = []
    for i in range(len(steps) - window + 1):
        s, v = steps[i:i + window], logs[i:i + window]
        rates.append(np.polyfit(s, v, 1)[0])
    return np.array(rates)


def flattening_step(steps: Sequence[float], values: Sequence[float], *, threshold: float, window: int) -> float | None:
    """The step from which the growth rate of `values` stays below `threshold` (per step) to the
    end of the run: the first step of the first window after which every window's rate is below
    it. None when the last window's rate is not below it (not flat within the run) or when there
    are fewer than `window` snapshots to judge by."""
    if len(steps) < window:
        return None
    rates = growth_rate(steps, values, window=window)
    above = np.nonzero(rates >= threshold)[0]
    first = 0 if above.size == 0 else int(above[-1]) + 1
    return None if first >= len(rates) else float(np.asarray(steps, dtype=float)[first])


def near_optimal_region(losses: np.ndarray, xs: np.ndarray, ys: np.ndarray, *,
                        within: float = thresholds.NEAR_OPTIMAL) -> dict[str, float]:
    """Where a grid's loss (len(xs), len(ys)) is within `within` (relative) of its minimum: the
    extent of that set along each axis, its largest-to-smallest ratio, and whether the minimum or
    the set touches the grid's edge (then the true optimum may lie outside the grid)."""
    losses = np.asarray(losses, dtype=float)
    near = losses <= losses.min() * (1 + within)
    rows, cols = np.nonzero(near.any(axis=1))[0], np.nonzero(near.any(axis=0))[0]
    i, j = np.unravel_index(int(losses.argmin()), losses.shape)
    last_i, last_j = losses.shape[0] - 1, losses.shape[1] - 1
    return {"x_low": float(xs[rows.min()]), "x_high": float(xs[rows.max()]), "y_low": float(ys[cols.min()]),
            "y_high": float(ys[cols.max()]), "x_ratio": float(xs[rows.max()] / xs[rows.min()]),
            "y_ratio": float(ys[cols.max()] / ys[cols.min()]),
            "optimum_on_edge": bool(i in (0, last_i) or j in (0, last_j)),
            "region_on_edge": bool(rows.min() == 0 or rows.max() == last_i or cols.min() == 0 or cols.max() == last_j)}


def plateau_exit_step(steps: Sequence[float], losses: Sequence[float], *, chance: float, fraction: float) -> float | None:
    """The first evaluation step at which the loss is below `fraction` x `chance` (log C): where a run
    leaves its initial plateau. None if it never does within the run."""
    below = np.nonzero(np.asarray(losses, dtype=float) < fraction * chance)[0]
    return float(np.asarray(steps, dtype=float)[below[0]]) if below.size else None
