"""The d = 10 dynamics of Appendix I (chapter 6): (c_eta, c_sigma) through training at several
constant learning rates, where each rate leaves the plateau, where its c_eta stops growing, and how
that compares with Eq. 1's grid optimum and its near-optimal region.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from icl_lib import paper
from icl_lib.curves import flattening_step, plateau_exit_step
from icl_lib.extraction import extract_c_eta_c_sigma
from icl_lib.results import Table
from icl_lib.runs import Run

__all__ = ["rate_records", "with_selection", "flat_steps", "relative_standard_error", "rates_table", "grid_table",
           "last_half", "paper_table"]


def rate_records(run: Run, d: int, *, chance: float, plateau_fraction: float) -> dict[float, dict[str, object]]:
    """Per learning rate (member) of a constant-rate ensemble: its evaluation loss and (c_eta, c_sigma)
    at every snapshot (chapter 5's extraction), and the step it left the plateau (None: never)."""
    steps = np.array(run.history["step"])
    loss = np.array(run.history["eval_loss"])  # (T, members)
    records = {}
    for m, lr in enumerate(run.config.lrs):
        c_eta, c_sigma = (v.numpy() for v in extract_c_eta_c_sigma(run.snapshot_weights(m), d))
        records[lr] = {"member": m, "steps": steps, "loss": loss[:, m], "c_eta": c_eta, "c_sigma": c_sigma,
                       "exit": plateau_exit_step(steps, loss[:, m], chance=chance, fraction=plateau_fraction)}
    return records


def with_selection(records: dict[float, dict[str, object]]) -> tuple[list[float], list[float]]:
    """The rates that left the plateau and ended with selection's signs (c_eta, c_sigma > 0; chapter
    7), whose c_eta the paper's statements are about, and those that left it with other signs."""
    left = [lr for lr, r in records.items() if r["exit"] is not None]
    positive = [lr for lr in left if records[lr]["c_eta"][-1] > 0 and records[lr]["c_sigma"][-1] > 0]
    return positive, [lr for lr in left if lr not in positive]


def flat_steps(records: dict[float, dict[str, object]], rates: Sequence[float], *, threshold: float,
               window: int) -> dict[float, float | None]:
    """For each of `rates`, the step from which its c_eta stops growing (`flattening_step` at
    `threshold` per step over `window` snapshots), counted from its plateau exit and from its last
    non-positive c_eta (log c_eta is defined after that); None when it grows to the end."""
    out = {}
    for lr in rates:
        r = records[lr]
        start = max(int(np.searchsorted(r["steps"], r["exit"])), int(np.nonzero(r["c_eta"] <= 0)[0].max(initial=-1)) + 1)
        out[lr] = flattening_step(r["steps"][start:], r["c_eta"][start:], threshold=threshold, window=window)
    return out


def relative_standard_error(values: torch.Tensor) -> float:
    """The standard error of the mean of `values`, relative to the mean: the sampling noise of a mean
    loss, against which a near-optimal margin is judged."""
    return float(values.std() / math.sqrt(len(values)) / values.mean())


def rates_table(records: dict[float, dict[str, object]], rates: Sequence[float], flat: dict[float, float | None], *,
                c_eta_star: float, agreement: dict[float, object]) -> Table:
    """The statements of Appendix I per rate compared: where it left the plateau and where its c_eta
    flattened, its final c_eta against the grid optimum, how loss and c_eta moved over the last half,
    and the final model against Eq. 1 at the optimum (preds diff / cos sim)."""
    def row(lr: float) -> dict[str, object]:
        r, half = records[lr], len(records[lr]["steps"]) // 2
        return {"learning rate": f"lr {lr:g}", "left the plateau": f"{r['exit']:.0f}",
                "c_eta flat from": "not within the run" if flat[lr] is None else f"{flat[lr]:.0f}",
                "final c_eta": f"{r['c_eta'][-1]:.1f}", "c_eta / c_eta*": f"{r['c_eta'][-1] / c_eta_star:.3f}",
                "loss change, last half": f"{r['loss'][-1] / r['loss'][half] - 1:+.1%}",
                "c_eta growth, last half": f"{r['c_eta'][-1] / r['c_eta'][half] - 1:+.1%}",
                "vs Eq. 1 at optimum: preds diff / cos sim":
                    f"{agreement[lr].preds_diff:.3f} / {agreement[lr].cos_sim:.3f}"}

    return Table.from_records(row(lr) for lr in rates)


def grid_table(optimum: tuple[float, float], loss: float, region: dict[str, float], *, loss_se_relative: float,
               optima: Sequence[float]) -> Table:
    """Eq. 1's grid search at a glance: the optimum and its loss, the near-optimal region
    (`near_optimal_region`) and whether it touches the grid's edge, the sampling noise of the mean
    loss there, and the optimum on each independent search set."""
    rows = [
        ("grid optimum (c_η*, c_σ*)", f"({optimum[0]:.1f}, {optimum[1]:.4f})"),
        ("loss there; on the grid's edge", f"{loss:.4f}; {region['optimum_on_edge']}"),
        ("c_η within 0.1% of the minimum",
         f"[{region['x_low']:.1f}, {region['x_high']:.1f}] (ratio {region['x_ratio']:.1f})"),
        ("c_σ within 0.1% of the minimum",
         f"[{region['y_low']:.4f}, {region['y_high']:.4f}] (ratio {region['y_ratio']:.1f})"),
        ("that region touches the edge", str(region["region_on_edge"])),
        ("standard error of the mean loss", f"{loss_se_relative:.2%} of it"),
        (f"c_η* on {len(optima)} independent search sets", ", ".join(f"{v:.0f}" for v in optima)),
    ]
    return Table(("quantity", "value"), rows)


def last_half(records: dict[float, dict[str, object]], rates: Sequence[float]) -> dict[float, tuple[float, float]]:
    """Per rate, the relative change over the last half of the run of its loss and of its c_eta: the
    "seemingly flat loss" of Appendix I beside what c_eta still does."""
    out = {}
    for lr in rates:
        r, half = records[lr], len(records[lr]["steps"]) // 2
        out[lr] = (float(r["loss"][-1] / r["loss"][half] - 1), float(r["c_eta"][-1] / r["c_eta"][half] - 1))
    return out


def paper_table(records: dict[float, dict[str, object]], optimum: tuple[float, float], region: dict[str, float], *,
                d: int, grid: str, setting: str) -> Table:
    """Chapter 6's numbers beside Appendix I's: the grid optimum (the paper's ~8,000 at d = 10), the
    near-optimal range of c_eta, and each rate's plateau exit and final values (Figure 10)."""
    paper_optimum = f"~{paper.D10_GRID_C_ETA:,.0f}" if d == paper.D10 else "— (the paper gives d = 10)"
    edge = "touches the grid's edge" if region["region_on_edge"] else "inside the grid"
    rows = [
        (f"grid optimum c_eta (d={d})", paper_optimum, f"{optimum[0]:.0f}", grid),
        ("grid optimum c_sigma", "—", f"{optimum[1]:.4f}", grid),
        ("c_eta within 0.1% of the minimum", "—", f"{region['x_low']:.0f}–{region['x_high']:.0f}", edge),
    ]
    for lr, r in records.items():
        left = "not within the budget" if r["exit"] is None else f"step {r['exit']:.0f}"
        rows.append((f"lr {lr:g}: leaves the plateau / final (c_eta, c_sigma)", "Fig. 10",
                     f"{left} / ({r['c_eta'][-1]:.1f}, {r['c_sigma'][-1]:.3f})", setting))
    return Table(("quantity", "paper", "this book", "setting"), rows)
