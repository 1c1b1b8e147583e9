"""Constant learning rates and the readings of the initialisation (chapter 8): which runs left the
plateau and settled, which rate to compare with the scheduled run, what a run learned, the two
readings of "we rescale the weights by 0.002" side by side, and whether a result depends on the
schedule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from icl_lib import paper
from icl_lib.algorithms import ALGORITHMS, AlgorithmFit
from icl_lib.baselines import adaptive_kernel_gd_step
from icl_lib.curves import loss_settled
from icl_lib.dynamics import rate_records
from icl_lib.extraction import extract_c_eta_c_sigma
from icl_lib.metrics import alignment
from icl_lib.results import Table
from icl_lib.runs import Run
from icl_lib.statistics import samples_apart, wilson_interval
from icl_lib.tasks import Contexts
from icl_lib.thresholds import OFF_RATIO_C_ETA, OFF_RATIO_C_SIGMA
from icl_lib.training import TrainConfig, budget_against_paper
from icl_lib.verdicts import (
    NOT_RESOLVED,
    REPRODUCED,
    Verdict,
    alignment_verdict,
    compare_proportions,
    dynamics_by_d_verdict,
    extracted_d3_verdict,
)

__all__ = ["member_progress", "choose_rate", "choice_in_words", "learned", "compare_readings", "depends_on_schedule",
           "outcome_of", "schedule_verdicts", "progress_table", "learned_table", "readings_table",
           "dependence_table", "against_appendix_g"]


def _moved_in_last_quarter(values: Sequence[np.ndarray], start: int) -> float:
    """The largest relative change of any of `values` (one array per quantity, one entry per
    evaluation) over the last quarter of the evaluations from `start` on."""
    q = max(1, (len(values[0]) - start) // 4)
    return max(abs(float(v[-1] / v[-1 - q]) - 1) for v in values)


def member_progress(run: Run, d: int, *, chance: float, plateau_fraction: float,
                    settle_tolerance: float) -> list[dict[str, object]]:
    """For each member (learning rate) of a constant-rate ensemble (`icl_lib.dynamics.rate_records`):
    the step it left the plateau (None if never), whether its loss settled after that
    (`loss_settled`), how much its (c_eta, c_sigma) moved over the last quarter after the exit, and
    its final loss."""
    rows = []
    for rate, r in rate_records(run, d, chance=chance, plateau_fraction=plateau_fraction).items():
        after = int(np.searchsorted(r["steps"], r["exit"] or 0))
        settled = bool(r["exit"] is not None and loss_settled(r["loss"][after:], tolerance=settle_tolerance))
        rows.append({"rate": rate, "exit": r["exit"], "loss_settled": settled,
                     "moved": _moved_in_last_quarter([r["c_eta"], r["c_sigma"]], after),
                     "final_loss": float(r["loss"][-1])})
    return rows


def choose_rate(progress: Sequence[Mapping[str, object]], *, settle_tolerance: float) -> float | None:
    """The rate whose run is compared with the scheduled run: the smallest whose loss and values
    settled (values are what is compared), else the smallest whose loss settled; None if none did."""
    loss_only = [r["rate"] for r in progress if r["loss_settled"]]
    both = [r["rate"] for r in progress if r["loss_settled"] and r["moved"] < settle_tolerance]
    return min(both) if both else min(loss_only) if loss_only else None


def choice_in_words(d: int, progress: Sequence[Mapping[str, object]], chosen: float | None, *, steps: int,
                    settle_tolerance: float) -> str:
    """Why `choose_rate` compared the rate it did at d, against the paper's own rate."""
    if chosen is None:
        return f"d={d}: no rate left the plateau and settled in {steps} steps"
    by_rate = {r["rate"]: r for r in progress}
    own, picked = paper.softmax_lr(d), by_rate[chosen]
    settled = picked["moved"] < settle_tolerance
    why = "whose loss and values settled" if settled else "whose loss settled"
    if chosen == own:
        text = f"d={d}: the paper's own rate {own:g} is the smallest {why}"
    else:
        failed = "did not leave the plateau" if by_rate.get(own, {}).get("exit") is None else "did not settle"
        text = f"d={d}: the paper's rate {own:g} {failed} in {steps} steps;\n  compared: {chosen:g}, the smallest rate {why}"
    return text + f"\n  its (c_η, c_σ) moved {picked['moved']:.1%} in the last quarter" + ("" if settled else ": still moving")


def learned(run: Run, member: int, d: int, ctx: Contexts, *, include_query: bool) -> dict[str, object]:
    """What member `member` of `run` learned: its (c_eta, c_sigma) read off the weights at the end and
    their relative drift over the last quarter of the evaluations, how closely Eq. 1 at those values
    describes it (cos sim, preds diff on `ctx`) with chapter 4's yardstick (`bounds`: Eq. 1 at the
    paper's slightly-off ratios against Eq. 1; no cos sim at d = 2), its final loss and trajectory."""
    c_eta, c_sigma = (v.numpy() for v in extract_c_eta_c_sigma(run.snapshot_weights(member), d))
    q = max(1, len(c_eta) // 4)
    values = (float(c_eta[-1]), float(c_sigma[-1]))

    def step(c: Contexts, scale: tuple[float, float] = (1.0, 1.0)):
        return adaptive_kernel_gd_step(c, values[0] * scale[0], values[1] * scale[1], include_query=include_query)

    fit = alignment(run.predictor(member), step, ctx)
    off = alignment(lambda c: step(c, (OFF_RATIO_C_ETA, OFF_RATIO_C_SIGMA)), step, ctx)
    return {"c_eta": values[0], "c_sigma": values[1],
            "drift_c_eta": float(c_eta[-1] / c_eta[-1 - q] - 1), "drift_c_sigma": float(c_sigma[-1] / c_sigma[-1 - q] - 1),
            "cos_sim": fit.cos_sim, "preds_diff": fit.preds_diff, "bounds": (off.cos_sim if d > 2 else None, off.preds_diff),
            "loss": float(run.history["eval_loss"][-1][member]), "trajectory": (run.history["step"], c_eta, c_sigma)}


def compare_readings(fits: Mapping[str, Sequence[AlgorithmFit]], exits: Mapping[str, Sequence[float | None]], *,
                     tolerance: float) -> tuple[list[dict[str, object]], dict[str, bool]]:
    """The two readings of the initialisation (`fits` and plateau `exits` per reading, one per seed):
    one record per reading (counts per algorithm, the selection seeds' values, the exits), and
    whether they differ in the algorithm learned (`compare_proportions`), in c_eta or c_sigma of
    the selection seeds, or in the plateau exit (`samples_apart` at `tolerance`)."""
    records = []
    for mode, fit in fits.items():
        selection = [(f.c_eta, f.c_sigma) for f in fit if f.algorithm == "selection"]
        records.append({"reading": mode, "seeds": len(fit), **{a: sum(f.algorithm == a for f in fit) for a in ALGORITHMS},
                        "c_eta": [v[0] for v in selection], "c_sigma": [v[1] for v in selection],
                        "exits": [e for e in exits[mode] if e is not None]})
    a, b = records
    differs = {
        "algorithm": compare_proportions(a["selection"], a["seeds"], b["selection"], b["seeds"]) != NOT_RESOLVED,
        **{k: samples_apart(a[k], b[k], tolerance=tolerance) for k in ("c_eta", "c_sigma")},
        "plateau exit": samples_apart(a["exits"], b["exits"], tolerance=tolerance),
    }
    return records, differs


def outcome_of(checks: Mapping[str, Verdict], key: str) -> bool | None:
    """Whether a claim held on one schedule's runs; None where it was not checked."""
    return None if key not in checks else checks[key].verdict == REPRODUCED


def depends_on_schedule(ours: bool | None, theirs: bool | None, still_moving: Sequence[int]) -> str:
    """Does a result depend on the schedule? "yes" when its outcome differs between the book's schedule
    (`ours`) and constant rates (`theirs`), "no" when it does not, "not resolved" when it differs but a
    constant-rate run it rests on (dimensions `still_moving`) had not settled, "—" when either was not
    checked."""
    if ours is None or theirs is None:
        return "—"
    if ours == theirs:
        return "no"
    return f"not resolved: values still moving at d = {list(still_moving)}" if still_moving else "yes"


def schedule_verdicts(learned_by_d: Mapping[int, Mapping[str, object]], claims: tuple[str, str], *,
                      setting: str) -> dict[str, Verdict]:
    """The paper's claims checked on one schedule's runs (`learned` per d), by chapter 5's and 4's
    rules: "d3", the values at d = 3 (`extracted_d3_verdict`, claim claims[0]); "aligned", Eq. 1 at
    each run's own values describes it, by chapter 4's yardstick (`alignment_verdict`, claims[1]);
    "rise_fall", c_sigma falls and c_eta rises with d (`dynamics_by_d_verdict`). A claim whose runs
    are missing is left out."""
    out: dict[str, Verdict] = {}
    if 3 in learned_by_d:
        v3 = learned_by_d[3]
        out["d3"] = extracted_d3_verdict(v3["c_eta"], v3["c_sigma"], claim=claims[0], setting=f"d=3; {setting}")
    if learned_by_d:
        out["aligned"] = alignment_verdict(
            claims[1], dict(learned_by_d), {d: v["bounds"] for d, v in learned_by_d.items()}, setting=setting,
            step="Eq. 1 at the run's extracted values", reference="Eq. 1 at 0.70 c_η, 0.80 c_σ",
            skipped="d = 2, where the paper reports no sensitivities (Appendix F)")
        out["rise_fall"] = dynamics_by_d_verdict({d: (v["c_eta"], v["c_sigma"]) for d, v in learned_by_d.items()},
                                                 setting=setting)
    return out


def progress_table(progress: Mapping[int, Sequence[Mapping[str, object]]]) -> Table:
    """Every rate tried per d (`member_progress`): when it left the plateau, whether its loss
    settled, how much its values moved in the last quarter, its final loss."""
    def rate_text(d: int, rate: float) -> str:
        return f"{rate:g}" + (" (paper's)" if rate == paper.softmax_lr(d) else "")

    return Table.from_records(
        {"d": d, "constant rate": rate_text(d, r["rate"]),
         "left the plateau": "no" if r["exit"] is None else f"step {r['exit']:.0f}",
         "loss settled": "yes" if r["loss_settled"] else "no",
         "(c_η, c_σ) moved, last quarter": None if r["exit"] is None else f"{r['moved']:.1%}",
         "final eval loss": r["final_loss"]}
        for d, rows in progress.items() for r in rows)


def learned_table(learned_by_run: Mapping[tuple[int, str], Mapping[str, object]]) -> Table:
    """What each run learned (`learned`), keyed by (d, a label of the run)."""
    return Table.from_records(
        {"d": d, "run": label, "(c_η, c_σ)": f"({v['c_eta']:.2f}, {v['c_sigma']:.2f})",
         "moved in the last quarter": f"{v['drift_c_eta']:+.0%}, {v['drift_c_sigma']:+.0%}",
         "Eq. 1 there: cos sim / preds diff": f"{v['cos_sim']:.4f} / {v['preds_diff']:.4f}",
         "final eval loss": v["loss"]}
        for (d, label), v in learned_by_run.items())


def readings_table(readings: Sequence[Mapping[str, object]]) -> Table:
    """The two readings of the initialisation side by side (`compare_readings`): the seeds per
    algorithm (selection with its 95% Wilson interval) and the medians of the exits and values."""
    def median(values: Sequence[float], digits: int = 2) -> str:
        return f"{np.median(values):.{digits}f}" if len(values) else "—"

    def share(r: Mapping[str, object]) -> str:
        low, high = wilson_interval(r["selection"], r["seeds"])
        return f"{r['selection']} ({low:.0%}–{high:.0%})"

    return Table.from_records(
        {"reading": r["reading"], "selection": share(r), "elimination": r["elimination"], "neither": r["neither"],
         "left the plateau (median step)": median(r["exits"], 0), "c_η (median)": median(r["c_eta"]),
         "c_σ (median)": median(r["c_sigma"])}
        for r in readings)


def dependence_table(results: Mapping[str, tuple[str, Sequence[int]]], scheduled: Mapping[str, Verdict],
                     constant: Mapping[str, Verdict], *, still_moving: Sequence[int],
                     readings: Sequence[Mapping[str, object]], readings_differ: bool) -> Table:
    """Which headline results depend on the schedule: for each result (its verdict key and the
    dimensions its constant-rate outcome rests on) the outcome under the book's schedule and under
    constant rates, and `depends_on_schedule`; then the share of selection under the two readings
    of the initialisation."""
    def said(value: bool | None) -> str:
        return "—" if value is None else "yes" if value else "no"

    rows = []
    for result, (key, ds) in results.items():
        ours, theirs = outcome_of(scheduled, key), outcome_of(constant, key)
        rows.append((result, said(ours), said(theirs),
                     depends_on_schedule(ours, theirs, [d for d in ds if d in still_moving])))
    rows.append(("the share of seeds that learn selection at d = 3 (chapter 7's budget; the initialisation's two "
                 "readings)", *(f"{r['selection']} of {r['seeds']} seeds ({r['reading']})" for r in readings),
                 "yes" if readings_differ else "no (Fisher exact p ≥ 0.05)"))
    return Table(("result", "book's schedule", "constant rates, batch 2048", "depends on the schedule"), rows)


def against_appendix_g(configs: Mapping[int, TrainConfig], chosen: Mapping[int, float | None]) -> Table:
    """The constant-rate runs behind the chapter's verdicts beside Appendix G's recipe, per d: steps ×
    batch and the rate compared, and the share of the paper's training contexts they saw."""
    def ours(d: int) -> str:
        rate = "—" if chosen[d] is None else f"{chosen[d]:g}"
        own = "" if chosen[d] == paper.softmax_lr(d) else " (not the paper's rate)"
        return f"{configs[d].steps:,} × {configs[d].batch_size}, constant {rate}{own}"

    return Table.from_records(
        {"d": f"d={d}", "Appendix G": f"{paper.SOFTMAX_STEPS:,} × {paper.BATCH_SIZE}, constant {paper.softmax_lr(d):g}",
         "this chapter": ours(d), "share": budget_against_paper(config, paper.SOFTMAX_STEPS)}
        for d, config in configs.items())
