"""The statistics behind the book's verdicts: tolerances, intervals and two-sample tests, from
scipy.stats wherever it has the test (chapters 4, 7, 8, 9; the rules in `icl_lib.verdicts`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import binomtest, fisher_exact, mannwhitneyu
from scipy.stats import t as student_t

from icl_lib import thresholds

__all__ = ["within_relative", "wilson_interval", "fisher_p", "samples_differ", "samples_apart", "paired_interval"]


def within_relative(value: float, target: float, tolerance: float) -> bool:
    """|value - target| <= tolerance * |target| (a relative tolerance, e.g. 0.05 for 5%)."""
    if not tolerance > 0:
        raise ValueError(f"tolerance={tolerance!r} must be > 0")
    return math.isfinite(value) and abs(value - target) <= tolerance * abs(target)


def wilson_interval(successes: int, trials: int, *, confidence: float = thresholds.CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default), e.g. of the seeds that learned
    one algorithm out of those trained: scipy's `binomtest(...).proportion_ci(method="wilson")`."""
    if isinstance(trials, bool) or trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes={successes} <= trials={trials} and trials > 0")
    low, high = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(low), float(high)


def fisher_p(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> float:
    """The two-sided Fisher exact p-value of two proportions (shown beside `compare_proportions`)."""
    return float(fisher_exact([[successes_a, trials_a - successes_a], [successes_b, trials_b - successes_b]])[1])


def samples_differ(a: Sequence[float], b: Sequence[float], *, alpha: float = thresholds.SAMPLES_ALPHA) -> bool | None:
    """Do two samples (e.g. a value over the seeds of two settings) differ in location? A two-sided
    Mann-Whitney U test at level `alpha`; None with fewer than three values on either side."""
    if len(a) < 3 or len(b) < 3:
        return None
    return bool(mannwhitneyu(a, b, alternative="two-sided").pvalue < alpha)


def samples_apart(a: Sequence[float], b: Sequence[float], *, tolerance: float, alpha: float = thresholds.SAMPLES_ALPHA) -> bool:
    """Do two samples differ by an amount that matters? `samples_differ` at level `alpha` and their
    medians more than `tolerance` (relative to b's) apart. False when either has fewer than three."""
    if not samples_differ(a, b, alpha=alpha):
        return False
    median_b = float(np.median(b))
    return abs(float(np.median(a)) - median_b) > tolerance * abs(median_b)


def paired_interval(differences: Sequence[float], *, confidence: float = thresholds.CONFIDENCE) -> tuple[float, float, float]:
    """The mean of paired differences (one per seed, or per context) and its Student-t interval:
    (mean, low, high), from scipy's Student t distribution."""
    x = np.asarray(differences, dtype=float)
    if x.size < 2 or not np.isfinite(x).all():
        raise ValueError(f"need two or more finite differences, got {list(differences)[:10]}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must be in (0, 1)")
    mean, sem = float(x.mean()), float(x.std(ddof=1)) / math.sqrt(x.size)
    if sem == 0.0:  # a constant sample: the interval is the point itself
        return mean, mean, mean
    low, high = student_t.interval(confidence, x.size - 1, loc=mean, scale=sem)
    return mean, float(low), float(high)
