"""Eq. 1's loss landscape and the d = 10 valley (chapter 9, section 2): a map wider than Appendix
G's grids, the curve c_eta c_sigma = const along which Eq. 1 tends to the best linear GD step, the
loss along it, where chapter 6's trained models move, and the valley's profile on independent sets.

The maps and profiles go through `icl_lib.analysis_cache`, so a second build reads them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from icl_lib.analysis_cache import ContextSpec, cached_call
from icl_lib.baselines import grid_search_adaptive, log_grid
from icl_lib.beyond import (
    best_gd_rate,
    c_eta_on_valley,
    gd_rate_of_eq1,
    limit_deviation,
    valley_extent,
    valley_profile,
)
from icl_lib.curves import near_optimal_region
from icl_lib.dynamics import rate_records
from icl_lib.results import Table
from icl_lib.runs import Run

__all__ = ["map_axes", "landscape_map", "map_table", "trained_paths", "moves_along", "moves_table",
           "landscape_sets_table", "PROFILE_SIGMAS", "CURVE_SIGMAS"]

# c_sigma along the curve towards the linear step: below 1e-6 the float64 loss differences are
# rounding (1e-9)
CURVE_SIGMAS = np.logspace(1, -6, 43)
# c_sigma of the valley's profile on independent sets, from the top of Appendix G's d = 2 range down
PROFILE_SIGMAS = list(np.logspace(3.5, -6, 29))


def map_axes(points: int, grid_points: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The map's c_eta in [1e-1, 1e7] and c_sigma in [1e-5, 10^3.5] (`points` each), and the wide grid
    of Eq. 2's rate searched before refining (4 x `grid_points` in [1e-1, 1e5])."""
    return log_grid(-1.0, 7.0, points), log_grid(-5.0, 3.5, points), log_grid(-1.0, 5.0, 4 * grid_points)


def landscape_map(spec: ContextSpec, axes: tuple[torch.Tensor, torch.Tensor, torch.Tensor], *, include_query: bool,
                  within: float, cache_dir: str | None) -> dict[str, object]:
    """Eq. 1's mean loss over the map on the search contexts of `spec`, its near-optimal region
    (`within`), Eq. 2's best rate and loss, the curve towards it, the loss along the curve
    (`valley_profile`), the gap to Eq. 2 at c_sigma = 1e-3, 1e-4, 1e-5 (`limit_deviation`), and the
    valley's c_eta extent (`valley_extent`)."""
    map_etas, map_sigmas, wide_eta = axes
    search = spec.draw()
    ce, cs, grid = cached_call(grid_search_adaptive, spec, map_etas, map_sigmas, include_query=include_query,
                               cache_dir=cache_dir)
    losses = grid.numpy()
    eta_star, eq2_loss = best_gd_rate(search, wide_eta)
    D = spec.d + spec.C
    profile = valley_profile(search, eta_star, list(CURVE_SIGMAS), include_query=include_query)
    best = min(float(losses.min()), min(profile))
    curve_etas = c_eta_on_valley(eta_star, CURVE_SIGMAS, n=spec.n, D=D, include_query=include_query)
    return {
        "map": (map_etas.numpy(), map_sigmas.numpy(), losses, (ce, cs)),
        "region": near_optimal_region(losses, map_etas.numpy(), map_sigmas.numpy(), within=within),
        "eq2": (eta_star, eq2_loss),
        "valley": (map_sigmas.numpy(), c_eta_on_valley(eta_star, map_sigmas.numpy(), n=spec.n, D=D,
                                                       include_query=include_query)),
        "profile": (CURVE_SIGMAS, profile, eq2_loss),
        "limit": limit_deviation(search, eta_star, [1e-3, 1e-4, 1e-5], include_query=include_query),
        "extent": valley_extent(curve_etas, profile, best=best, within=within),
    }


def map_table(results: Mapping[int, Mapping[str, object]], *, within: float) -> Table:
    """Per d: the map's optimum and loss, Eq. 2's best, their gap, the valley's c_eta extent on the
    curve, and the gap to Eq. 2 on the curve at c_sigma = 1e-3 and 1e-5."""
    def row(d: int, r: Mapping[str, object]) -> dict[str, object]:
        _, _, losses, (ce, cs) = r["map"]
        (eta_star, l2), (extent, goes_on), limit = r["eq2"], r["extent"], r["limit"]
        edge = " edge" if r["region"]["optimum_on_edge"] else ""
        return {"d": d, "map optimum (c_η, c_σ)": f"({ce:.3g}, {cs:.3g}){edge}", "its loss": f"{losses.min():.5f}",
                "Eq. 2's best": f"{l2:.5f} (η* {eta_star:.3g})", "Eq. 1 − Eq. 2": f"{losses.min() - l2:+.5f}",
                f"c_η extent on the curve within {within:.1%}":
                    "none" if math.isnan(extent) else f"{extent:.3g}" + (" (to c_σ = 1e-6: goes on)" if goes_on else ""),
                "Eq. 1 − Eq. 2 on the curve, c_σ = 1e-3 / 1e-5": f"{limit[0]:.1e} / {limit[2]:.1e}"}

    return Table.from_records(row(d, r) for d, r in results.items())


def trained_paths(run: Run, d: int, *, chance: float, plateau_fraction: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(c_sigma, c_eta) through training of each member of a constant-rate run that left the plateau
    (chapter 6's rule, `icl_lib.dynamics.rate_records`), where both are positive (selection's side
    of the map)."""
    paths = {}
    for lr, r in rate_records(run, d, chance=chance, plateau_fraction=plateau_fraction).items():
        if r["exit"] is not None:
            keep = (r["c_eta"] > 0) & (r["c_sigma"] > 0)
            paths[f"trained, lr {lr:g}"] = (r["c_sigma"][keep], r["c_eta"][keep])
    return paths


def moves_along(paths: Mapping[str, tuple[np.ndarray, np.ndarray]], *, n: int, D: int,
                include_query: bool) -> dict[str, tuple[float, float, float, float]]:
    """Per path: c_eta at the middle and at the end of the run, and the rate of the linear GD step it
    tends to (`gd_rate_of_eq1`) at both: (c_eta middle, end, rate middle, end)."""
    moves = {}
    for label, (c_sigma, c_eta) in paths.items():
        half = len(c_eta) // 2
        rates = [gd_rate_of_eq1(float(c_eta[i]), float(c_sigma[i]), n=n, D=D, include_query=include_query)
                 for i in (half, -1)]
        moves[label] = (float(c_eta[half]), float(c_eta[-1]), rates[0], rates[1])
    return moves


def moves_table(moves: Mapping[str, tuple[float, float, float, float]]) -> Table:
    """`moves_along` as a table (a row saying so when no run left the plateau)."""
    rows = [(label, f"{a:.3g} → {b:.3g}", f"{b / a:.2f}×", f"{r0:.3g} → {r1:.3g}", f"{r1 / r0:.2f}×")
            for label, (a, b, r0, r1) in moves.items()]
    return Table(("run", "c_η, middle → end", "growth", "linear-step η, middle → end", "growth"),
                 rows or [("no d = 10 run left the plateau at this profile", "", "", "", "")])


def landscape_sets_table(sets: Mapping[int, Sequence[Mapping[str, object]]]) -> Table:
    """Per d and independent set: the profile's best point, whether it is at the small-c_sigma end,
    and the held-out gain over Eq. 2 with its interval (`icl_lib.beyond.landscape_set`)."""
    return Table.from_records(
        {"d": d, "set": k, "best (c_η, c_σ) on the profile": f"({r['best'][0]:.3g}, {r['best'][1]:.3g})",
         "at its small-c_σ end": "yes" if r["at_end"] else "no",
         "held-out gain over Eq. 2 [95%]": f"{r['gain'][0]:+.2e} [{r['gain'][1]:+.2e}, {r['gain'][2]:+.2e}]"}
        for d, per_set in sets.items() for k, r in enumerate(per_set))
