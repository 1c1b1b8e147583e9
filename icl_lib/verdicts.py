"""Verdicts: for each claim of the paper a chapter checks, the record of what was decided and how.
The statistics the rules use are in `icl_lib.statistics`, the reading of curves in `icl_lib.curves`.

A verdict is one of VERDICTS, decided by a rule stated in its record (`criterion`) from numbers
the chapter computed (`ours`) at a stated setting and budget (`setting`). The rules are the
functions below; each is tested on cases where it must say "not reproduced" (or "not
resolved"), so no verdict of the book could only come out one way. Chapters write their verdicts
into their results file (`icl_lib.results`) and end with `verdict_table`; the summary page
collects them all.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from icl_lib import paper, thresholds
from icl_lib.curves import strictly_decreasing
from icl_lib.paper import CLAIMS
from icl_lib.results import Link, Table
from icl_lib.statistics import fisher_p, paired_interval, wilson_interval, within_relative
from icl_lib.validation import check_choice

__all__ = [
    "REPRODUCED", "NOT_REPRODUCED", "NOT_RESOLVED", "NOT_TESTABLE", "VERDICTS", "Verdict", "verdict_table",
    "verdict_from", "budget_share", "seeds_of", "claims_table", "criteria_table",
    "all_hold", "majority", "compare_proportions", "EQ1_CLOSER", "OTHER_CLOSER",
    "CANNOT_TELL", "NOT_IDENTIFIABLE", "deciding_metrics", "compare_with_eq1", "adaptive_benefit_verdict",
    "landscape_finding", "INTERIOR", "VALLEY", "UNDECIDED", "task_verdict", "construction_verdict",
    "alignment_verdict", "extracted_d3_verdict", "extraction_works_verdict", "controls_verdict",
    "dynamics_by_d_verdict", "flattens_earlier_verdict", "smaller_value_verdict", "not_converged_verdict",
    "grid_optimum_verdict", "selection_majority_verdict", "elimination_low_c_verdict",
]

REPRODUCED, NOT_REPRODUCED, NOT_RESOLVED, NOT_TESTABLE = "reproduced", "not reproduced", "not resolved", "not testable"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_RESOLVED, NOT_TESTABLE)


@dataclass(frozen=True)
class Verdict:
    """One claim of the paper (a key of `icl_lib.paper.CLAIMS`), checked."""

    claim: str
    ours: str  # our number(s), as shown to the reader
    criterion: str  # what must hold for "reproduced"
    setting: str  # the setting and budget that produced ours
    verdict: str  # one of VERDICTS
    budget_dependent: bool = False  # True when another training budget could change the verdict
    summary: str = ""  # `ours` in a few words, for the one-screen list of claims ("": ours is short)

    def __post_init__(self) -> None:
        check_choice("claim", self.claim, tuple(CLAIMS))
        check_choice("verdict", self.verdict, VERDICTS)

    @property
    def title(self) -> str:
        return CLAIMS[self.claim].title

    @property
    def words(self) -> str:
        return CLAIMS[self.claim].words

    @property
    def source(self) -> str:
        return CLAIMS[self.claim].source

    @property
    def paper_budget(self) -> str:
        return CLAIMS[self.claim].budget

    @property
    def paper_value(self) -> str:
        return CLAIMS[self.claim].paper_value

    def as_record(self) -> dict[str, object]:
        """The record written to a chapter's results: the paper's words, source and budget included."""
        return asdict(self) | {"title": self.title, "words": self.words, "source": self.source,
                               "paper_budget": self.paper_budget, "paper_value": self.paper_value,
                               "summary": self.summary or self.ours}


class _VerdictTable(Table):
    """A Table whose HTML shows the verdict coloured and the claim's source and the setting as notes."""

    def __init__(self, records: list[dict[str, object]], chapter: bool) -> None:
        self.records, self.chapter = records, chapter
        header = (("chapter",) if chapter else ()) + ("verdict", "the paper says", "this book", "how it was decided")
        rows = [((str(r["chapter"]),) if chapter else ()) + (
            str(r["verdict"]) + (" (budget)" if r["budget_dependent"] else ""), f"“{r['words']}” ({r['source']})",
            str(r["ours"]), f"{r['criterion']}; ours: {r['setting']}; the paper's: {r['paper_budget']}") for r in records]
        super().__init__(header, rows, classes="verdicts")

    def _repr_html_(self) -> str:
        def cell(label: str, text: object, note: str = "", cls: str = "") -> str:
            note_html = f'<span class="note">{html.escape(note)}</span>' if note else ""
            return f'<td class="{cls}" data-label="{html.escape(label)}">{html.escape(str(text))}{note_html}</td>'

        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        labels = self.header[1:] if self.chapter else self.header
        body = []
        for r in self.records:
            budget = "depends on the budget" if r["budget_dependent"] else ""
            cells = ([cell("chapter", r["chapter"])] if self.chapter else []) + [
                cell(labels[0], r["verdict"], budget, "verdict " + str(r["verdict"]).replace(" ", "-")),
                cell(labels[1], f"“{r['words']}”", str(r["source"])), cell(labels[2], r["ours"]),
                cell(labels[3], r["criterion"], f"ours: {r['setting']}; the paper's: {r['paper_budget']}")]
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (f'<table class="table book-table verdicts"><thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(body)}</tbody></table>')


def verdict_table(verdicts: Sequence[Verdict | dict[str, object]], *, chapter: bool = False) -> Table:
    """The claim-by-claim table: the verdict (marked when another training budget could change it),
    the paper's words and source, ours, and the criterion with the setting that decided it. Takes
    Verdicts or their records; `chapter=True` adds a column with each record's chapter."""
    return _VerdictTable([v.as_record() if isinstance(v, Verdict) else dict(v) for v in verdicts], chapter)


def budget_share(record: dict[str, object]) -> str:
    """The training budget of a verdict record in short: the share of the paper's training contexts
    its setting states (`icl_lib.training.budget_against_paper`), or "no training"."""
    found = re.search(r"\(([0-9.e+-]+%) of the paper's ([0-9,]+) × ([0-9]+)\)", str(record["setting"]))
    if found:
        return f"{found.group(1)} of the paper's {found.group(2)} × {found.group(3)}"
    return "—" if not record["budget_dependent"] else "see the chapter"


def seeds_of(record: dict[str, object]) -> str:
    """The seeds behind a verdict record, as its setting states them ("3 seeds per d", "seed 0",
    "seeds 0..3"), or "—" where it names none (no training)."""
    found = re.search(r"\b(\d+ seeds?(?:\(s\))?(?: per \w+)?|seeds? [0-9.]+(?:\.\.\d+)?|seeds from \d+)",
                      str(record["setting"]))
    return found.group(1) if found else "—"


def verdict_from(holds: bool | None, *, contrary: bool | None = None) -> str:
    """"reproduced" when `holds`; "not testable" when it is None. Otherwise "not reproduced",
    unless `contrary` is given and False: then the data neither confirm nor contradict the claim
    ("not resolved")."""
    if holds is None:
        return NOT_TESTABLE
    if holds:
        return REPRODUCED
    return NOT_RESOLVED if contrary is False else NOT_REPRODUCED


def all_hold(conditions: Sequence[bool]) -> str:
    """"reproduced" if every condition holds (and there is at least one), else "not reproduced"."""
    return verdict_from(all(conditions) if conditions else None)


def majority(successes: int, trials: int) -> str:
    """Is the proportion above one half? "reproduced" when its Wilson interval lies above 0.5,
    "not reproduced" when it lies below, "not resolved" when it contains 0.5."""
    low, high = wilson_interval(successes, trials)
    return REPRODUCED if low > 0.5 else NOT_REPRODUCED if high < 0.5 else NOT_RESOLVED


def compare_proportions(successes_a: int, trials_a: int, successes_b: int, trials_b: int, *,
                        alpha: float = thresholds.PROPORTION_ALPHA) -> str:
    """Is proportion a higher than proportion b? A two-sided Fisher exact test of the 2 x 2 table at
    level `alpha` (`icl_lib.thresholds`): "reproduced" when it rejects equality with a above b, "not
    reproduced" when it rejects with a below b, "not resolved" when it does not reject."""
    for name, k, n in (("a", successes_a, trials_a), ("b", successes_b, trials_b)):
        if n <= 0 or not 0 <= k <= n:
            raise ValueError(f"proportion {name}: need 0 <= successes={k} <= trials={n} and trials > 0")
    p_value = fisher_p(successes_a, trials_a, successes_b, trials_b)
    if p_value >= alpha:
        return NOT_RESOLVED
    return REPRODUCED if successes_a / trials_a > successes_b / trials_b else NOT_REPRODUCED


EQ1_CLOSER, OTHER_CLOSER, CANNOT_TELL = "Eq. 1 closer", "the other step closer", "cannot tell apart"
NOT_IDENTIFIABLE = "the steps coincide"
# the alignment metrics compared, and the sign of "closer" for each: a lower preds diff, a higher cos sim
CLOSER_SIGN = {"preds_diff": -1.0, "cos_sim": 1.0}


def compare_with_eq1(eq1: dict[str, Sequence[float]], other: dict[str, Sequence[float]], *,
                     steps_apart: float | None = None,
                     confidence: float = thresholds.CONFIDENCE) -> tuple[str, dict[str, tuple[float, float, float]]]:
    """Which step describes the trained models better, seed by seed? For each metric of CLOSER_SIGN,
    the paired interval of (other - Eq. 1) over seeds. Eq. 1 is closer when some metric's interval
    lies on Eq. 1's side of 0 and none on the other's; the other step is closer in the mirror case;
    otherwise the data cannot tell them apart. `steps_apart` is the preds diff between the two steps
    themselves: when it is no larger than the mean preds diff of the models from the closer step, the
    steps are closer to each other than the models are to either, and which one the models implement
    is not identifiable (NOT_IDENTIFIABLE) whatever the intervals say. Returns the outcome and the
    intervals."""
    intervals = {m: paired_interval([b - a for a, b in zip(eq1[m], other[m], strict=True)], confidence=confidence)
                 for m in CLOSER_SIGN}
    if steps_apart is not None and steps_apart <= min(float(np.mean(eq1["preds_diff"])),
                                                      float(np.mean(other["preds_diff"]))):
        return NOT_IDENTIFIABLE, intervals
    # each interval turned into "how much closer Eq. 1 is": > 0 on Eq. 1's side
    favour = [sorted((-sign * intervals[m][1], -sign * intervals[m][2])) for m, sign in CLOSER_SIGN.items()]
    eq1_side = any(low > 0 for low, _ in favour)
    other_side = any(high < 0 for _, high in favour)
    outcome = EQ1_CLOSER if eq1_side and not other_side else OTHER_CLOSER if other_side and not eq1_side else CANNOT_TELL
    return outcome, intervals


def deciding_metrics(intervals: dict[str, tuple[float, float, float]]) -> list[str]:
    """The metrics whose interval (of other - Eq. 1) excludes 0: those a conclusion of
    `compare_with_eq1` rests on, to be shown beside it."""
    return [m for m, (_, low, high) in intervals.items() if low > 0 or high < 0]


# One function per claim the book checks: each turns the chapter's numbers into its Verdict.

def task_verdict(checks: dict[int, dict[str, float]], uniformity_p: dict[int, Sequence[float]], *, points_per_class: int,
                 setting: str, alpha: float = thresholds.TASK_ALPHA) -> Verdict:
    """Section 2.1 (chapter 1): at every d, n/C points per class, every point and query in its own
    region, query classes uniform (chi-square p > alpha) and points uniform within their region
    (every KS p > alpha)."""
    holds = [c["min_per_class"] == c["max_per_class"] == points_per_class and c["frac_in_region"] == 1.0
             and c["frac_query_in_region"] == 1.0 and c["query_class_chi2_p"] > alpha and min(uniformity_p[d]) > alpha
             for d, c in checks.items()]
    ours = "; ".join(f"d={d}: {c['min_per_class']}–{c['max_per_class']} per class, in region {c['frac_in_region']:.4f}, "
                     f"smallest KS p {min(uniformity_p[d]):.2g}" for d, c in checks.items())
    failing = [d for d, held in zip(checks, holds, strict=True) if not held]
    summary = (f"every check passes at d = {', '.join(map(str, checks))}" if not failing
               else f"fails at d = {', '.join(map(str, failing))}")
    return Verdict("task", ours, f"at every d: {points_per_class} points per class, every point and query in its region, "
                   f"uniform query classes (χ² p > {alpha:g}) and uniform points within a region (every KS p > {alpha:g})",
                   setting, all_hold(holds), summary=summary)


def construction_verdict(claim: str, deviations: dict[str, float], *, tolerance: float, setting: str) -> Verdict:
    """Propositions 3.1, 3.2 and Eq. 1 (chapter 2): the transformer with the constructed weights, the
    explicit gradient step and the closed form agree to `tolerance` (largest probability difference)."""
    worst = max(deviations.values()) if deviations else math.nan
    ours = "; ".join(f"{name}: {value:.1e}" for name, value in deviations.items())
    return Verdict(claim, ours, f"largest difference of predicted probabilities < {tolerance:.0e}", setting,
                   verdict_from(worst < tolerance if deviations else None), summary=f"largest difference {worst:.1e}")


def alignment_verdict(claim: str, final: dict[int, dict[str, float | Sequence[float]]],
                      tolerances: dict[int, tuple[float | None, float]], *, setting: str, step: str = "the step",
                      skipped: str = "", reference: str = "the step at the paper's slightly-off ratios") -> Verdict:
    """Section 4 (chapters 3, 4, 8): at every d the trained model's final alignment with `step`: cos
    sim above tolerances[d][0] and preds diff below tolerances[d][1], for every seed where a metric is
    given per seed (a list). The tolerances are those of `reference` against the step
    (`icl_lib.thresholds`, "alignment with a step"): a model closer to the step than that. A cos sim
    tolerance of None is not checked; `skipped` says why, and the verdict names it (the paper reports
    no sensitivities at d = 2 for softmax, Appendix F)."""
    def values(f: dict[str, float | Sequence[float]], metric: str) -> list[float]:
        v = f[metric]
        return [float(x) for x in v] if isinstance(v, Sequence) else [float(v)]

    def shown(xs: list[float]) -> str:
        return f"{xs[0]:.4f}" if len(xs) == 1 else f"{np.mean(xs):.4f} ({min(xs):.4f}–{max(xs):.4f}, {len(xs)} seeds)"

    holds, ours, criteria = [], [], []
    for d, f in final.items():
        min_cos, max_diff = tolerances[d]
        cos, diff = values(f, "cos_sim"), values(f, "preds_diff")
        holds.append((min_cos is None or min(cos) > min_cos) and max(diff) < max_diff)
        ours.append(f"d={d}: cos sim {shown(cos)}" + (" (not checked)" if min_cos is None else "")
                    + f", preds diff {shown(diff)}")
        criteria.append(f"d={d}: " + (f"cos sim > {min_cos:.4f}, " if min_cos is not None else "")
                        + f"preds diff < {max_diff:.4f}")
    note = f"; cos sim not checked where no bound is given: {skipped}" if skipped else ""
    failing = [d for d, held in zip(final, holds, strict=True) if not held]
    diffs = [x for f in final.values() for x in values(f, "preds_diff")]
    cosines = [x for d, f in final.items() if tolerances[d][0] is not None for x in values(f, "cos_sim")]
    summary = (f"preds diff ≤ {max(diffs, default=math.nan):.3f}"
               + (f", cos sim ≥ {min(cosines):.4f}" if cosines else "") + "; "
               + ("closer than the yardstick at every d" if not failing
                  else f"not closer at d = {', '.join(map(str, failing))}"))
    return Verdict(claim, "; ".join(ours), f"alignment with {step}, every seed closer than {reference} is: "
                   + "; ".join(criteria) + note, setting, all_hold(holds), budget_dependent=True, summary=summary)


def extracted_d3_verdict(c_eta: float, c_sigma: float, *, setting: str, claim: str = "extracted_d3",
                         tolerance: float = thresholds.EXTRACTED_D3_TOLERANCE) -> Verdict:
    """Appendix H (chapters 5, 8): the (c_eta, c_sigma) read off the trained model at d = 3 within
    `tolerance` (relative; `icl_lib.thresholds`) of the paper's (7.15, 31.07)."""
    holds = within_relative(c_eta, paper.C_ETA_D3, tolerance) and within_relative(c_sigma, paper.C_SIGMA_D3, tolerance)
    return Verdict(claim, f"({c_eta:.2f}, {c_sigma:.2f})",
                   f"both within {tolerance:.0%} of ({paper.C_ETA_D3}, {paper.C_SIGMA_D3})", setting, verdict_from(holds),
                   budget_dependent=True)


def extraction_works_verdict(at_extracted: dict[str, float], off: dict[str, float], *, setting: str) -> Verdict:
    """Appendix H, Figure 8 (chapter 5): Eq. 1 at the extracted values describes the model better
    than Eq. 1 at the paper's slightly-off values: a higher cos sim and a lower preds diff. The
    paper's own comparison, relative: no absolute bound is needed."""
    holds = at_extracted["cos_sim"] > off["cos_sim"] and at_extracted["preds_diff"] < off["preds_diff"]
    ours = (f"extracted: cos sim {at_extracted['cos_sim']:.4f}, preds diff {at_extracted['preds_diff']:.4f}; "
            f"off: cos sim {off['cos_sim']:.4f}, preds diff {off['preds_diff']:.4f}")
    summary = f"preds diff {at_extracted['preds_diff']:.4f} at the extracted values, {off['preds_diff']:.4f} off"
    return Verdict("extraction_works", ours, "at the extracted values a higher cos sim and a lower preds diff than at "
                   "the slightly-off values", setting, verdict_from(holds), budget_dependent=True, summary=summary)


def controls_verdict(outcomes: dict[int, dict[str, str]], *, setting: str,
                     confidence: float = thresholds.CONFIDENCE) -> Verdict:
    """Is the trained softmax model Eq. 1 rather than a simpler step (chapter 4's controls)? From
    `compare_with_eq1` per d and per simpler step: "reproduced" when Eq. 1 is closer to the models
    than every simpler step at every d; "not reproduced" when a simpler step is closer at some d
    where the steps can be told apart; "not resolved" when at some d the seeds cannot tell Eq. 1
    from a simpler step, or the steps themselves coincide there."""
    found = [o for per_d in outcomes.values() for o in per_d.values()]
    verdict = (NOT_TESTABLE if not found else NOT_REPRODUCED if OTHER_CLOSER in found
               else NOT_RESOLVED if CANNOT_TELL in found or NOT_IDENTIFIABLE in found else REPRODUCED)
    ours = "; ".join(f"d={d}: " + ", ".join(f"vs {step}: {o}" for step, o in per_d.items()) for d, per_d in outcomes.items())
    criterion = (f"at every d, for every simpler step, the {confidence:.0%} paired t-interval over seeds of its preds diff "
                 "or cos sim minus Eq. 1's lies on Eq. 1's side of 0 (and none on the other's); where the two steps "
                 "differ from each other less than the models differ from either, they cannot be told apart")
    by_outcome: dict[str, list[int]] = {}
    for d, per_d in outcomes.items():
        worst = next((o for o in (OTHER_CLOSER, CANNOT_TELL, NOT_IDENTIFIABLE) if o in per_d.values()), EQ1_CLOSER)
        by_outcome.setdefault(worst, []).append(d)
    summary = "; ".join(f"{o} at d = {', '.join(map(str, ds))}" for o, ds in by_outcome.items())
    return Verdict("adaptive_not_simpler", ours, criterion, setting, verdict, budget_dependent=True, summary=summary)


def dynamics_by_d_verdict(final: dict[int, tuple[float, float]], *, setting: str) -> Verdict:
    """Appendix H, Figure 9 (chapter 5): as d grows, c_sigma falls and c_eta rises (strictly, over the
    dimensions trained; final values (c_eta, c_sigma) per d)."""
    dims = sorted(final)
    sigma_falls = strictly_decreasing([final[d][1] for d in dims])
    eta_rises = strictly_decreasing([-final[d][0] for d in dims])
    ours = "; ".join(f"d={d}: ({final[d][0]:.3g}, {final[d][1]:.3g})" for d in dims)
    summary = (f"(c_η, c_σ) from ({final[dims[0]][0]:.3g}, {final[dims[0]][1]:.3g}) at d = {dims[0]} to "
               f"({final[dims[-1]][0]:.3g}, {final[dims[-1]][1]:.3g}) at d = {dims[-1]}") if dims else ours
    return Verdict("dynamics_by_d", ours, "over the dimensions trained, c_σ strictly decreasing and c_η strictly increasing in d",
                   setting, verdict_from(None if sigma_falls is None else sigma_falls and eta_rises), budget_dependent=True,
                   summary=summary)


def flattens_earlier_verdict(flat_step: dict[float, float | None], *, criterion: str, setting: str) -> Verdict:
    """Appendix I (chapter 6): for a higher learning rate, c_eta flattens earlier. `flat_step` maps each
    learning rate that left the plateau to the step from which c_eta's growth stays below the
    threshold (None: not within the run). A rate that has not flattened counts as later than any
    that has; two rates that have both not flattened cannot be ordered ("not resolved")."""
    lrs = sorted(flat_step)
    if len(lrs) < 2:
        return Verdict("d10_flattens_earlier", f"{len(lrs)} rate(s) left the plateau", criterion, setting, NOT_TESTABLE, True)
    order = []
    for low, high in zip(lrs, lrs[1:], strict=False):
        a, b = flat_step[low], flat_step[high]
        order.append(None if a is None and b is None else (b is not None and (a is None or b < a)))
    verdict = NOT_REPRODUCED if False in order else NOT_RESOLVED if None in order else REPRODUCED
    ours = "; ".join(f"lr {lr:g}: " + (f"step {flat_step[lr]:.0f}" if flat_step[lr] is not None else "not flat") for lr in lrs)
    return Verdict("d10_flattens_earlier", ours, criterion, setting, verdict, budget_dependent=True)


def smaller_value_verdict(final_c_eta: dict[float, float], flat: dict[float, bool], *, setting: str) -> Verdict:
    """Appendix I (chapter 6): for a higher learning rate, c_eta flattens around a smaller value.
    For each rate that left the plateau: its final c_eta and whether it has flattened (`flat`). A
    flattened c_eta is the value it flattens around; one still growing ends above its final value,
    by an unknown amount. So for two neighbouring rates, lower a and higher b: the claim holds when
    a's final value exceeds b's and b has flattened, fails when b's final value exceeds a's and a
    has flattened, and is otherwise not resolved by this run."""
    lrs = sorted(final_c_eta)
    ours = "; ".join(f"lr {lr:g}: {final_c_eta[lr]:.4g}" + ("" if flat[lr] else " (still growing)") for lr in lrs)
    criterion = ("c_η where it flattens strictly decreasing with the learning rate (a still-growing c_η counts as at least "
                 "its final value)")
    if len(lrs) < 2:
        return Verdict("d10_smaller_value", ours or "no rate left the plateau", criterion, setting, NOT_TESTABLE, True)
    outcomes = []
    for a, b in zip(lrs, lrs[1:], strict=False):
        if final_c_eta[a] > final_c_eta[b] and flat[b]:
            outcomes.append(True)
        elif final_c_eta[b] >= final_c_eta[a] and flat[a]:
            outcomes.append(False)
        else:
            outcomes.append(None)
    verdict = NOT_REPRODUCED if False in outcomes else NOT_RESOLVED if None in outcomes else REPRODUCED
    return Verdict("d10_smaller_value", ours, criterion, setting, verdict, budget_dependent=True)


def not_converged_verdict(final_c_eta: dict[float, float], region: dict[str, float], *, setting: str) -> Verdict:
    """Appendix I (chapter 6): no c_eta has converged. Converged means: c_eta(T) lies within the c_eta
    extent of the region where Eq. 1's loss is within 0.1% of the grid's minimum (`near_optimal_region`),
    where the loss can no longer tell it from the optimum. Reproduced when every rate that left the
    plateau ends below that extent, not reproduced when one ends inside (or above) it."""
    low, high = region["x_low"], region["x_high"]
    ours = ("; ".join(f"lr {lr:g}: {value:.4g}" for lr, value in sorted(final_c_eta.items()))
            + f"; near-optimal c_η in [{low:.4g}, {high:.4g}]")
    holds = all(value < low for value in final_c_eta.values()) if final_c_eta else None
    summary = f"final c_η {', '.join(f'{v:.4g}' for _, v in sorted(final_c_eta.items()))}; near-optimal from {low:.4g}"
    return Verdict("d10_not_converged", ours, "every final c_η below the c_η range where Eq. 1's loss is within 0.1% of its "
                   "grid minimum", setting, verdict_from(holds), budget_dependent=True, summary=summary)


def grid_optimum_verdict(optima: Sequence[float], region: dict[str, float], *, setting: str) -> Verdict:
    """Appendix I (chapter 6): the grid optimum of c_eta at d = 10 is ~8,000. `optima` are the grid
    optima of c_eta on independent sets of search contexts (the first the chapter's): on a flat
    landscape where the optimum lands moves from one sample of contexts to the next, so the claim
    holds when the range of our optima meets the band that "~8,000" stands for
    (`icl_lib.thresholds.grid_optimum_band`), and fails when every optimum lies outside it on one
    side. The near-optimal region is shown beside it, not used: it says how flat the loss is, not
    where the optimum is."""
    low, high = thresholds.grid_optimum_band()
    if not optima:
        return Verdict("d10_grid_optimum", "no grid search", "", setting, NOT_TESTABLE)
    holds = min(optima) <= high and max(optima) >= low
    ours = (", ".join(f"{v:.4g}" for v in optima) + f" on {len(optima)} context set(s) (within 0.1% of the minimum on "
            f"the first: c_η in [{region['x_low']:.4g}, {region['x_high']:.4g}])")
    return Verdict("d10_grid_optimum", ours, f"the range of the grid optima meets [{low:,.0f}, {high:,.0f}] "
                   f"(~{paper.D10_GRID_C_ETA:,.0f} to one significant figure, widened by one grid step)", setting,
                   verdict_from(holds), summary=f"c_η* {', '.join(f'{v:,.0f}' for v in optima)} on {len(optima)} set(s)")


def selection_majority_verdict(counts: dict[tuple[int, int, int], tuple[int, int]], *, setting: str) -> Verdict:
    """Appendix J (chapter 7): "selection algorithm is the one leaned in majority of runs" over Figure
    11's settings. `counts` maps each (d, C, n) swept to (selection seeds, seeds); the runs of every
    setting are pooled, and the Wilson 95% interval of the share of selection must lie above 1/2
    (below: not reproduced; containing it: not resolved)."""
    if not counts:
        return Verdict("selection_majority", "no setting trained", "", setting, NOT_TESTABLE, True)
    selection, seeds = (sum(c[i] for c in counts.values()) for i in (0, 1))
    low, high = wilson_interval(selection, seeds)
    per = ", ".join(f"{s}: {k}/{m}" for s, (k, m) in counts.items())
    return Verdict("selection_majority", f"{selection} of {seeds} runs over {len(counts)} settings "
                   f"(95% interval {low:.0%}–{high:.0%}); per (d, C, n): {per}",
                   "pooled over Figure 11's settings, the Wilson 95% interval of the share of selection above 1/2 "
                   "(below: not reproduced; containing it: not resolved)", setting, majority(selection, seeds),
                   budget_dependent=True, summary=f"{selection} of {seeds} runs ({low:.0%}–{high:.0%})")


def elimination_low_c_verdict(low: tuple[int, int, int], base: tuple[int, int, int], *, setting: str) -> Verdict:
    """Appendix J (chapter 7): elimination is more frequent at low C. `low` and `base` are (C,
    elimination seeds, seeds) at the smallest C swept and at the base C; the two proportions are
    compared by a two-sided Fisher exact test (`compare_proportions`)."""
    (c_low, k_low, n_low), (c_base, k_base, n_base) = low, base
    p = fisher_p(k_low, n_low, k_base, n_base)
    ours = f"C={c_low}: {k_low}/{n_low}; C={c_base}: {k_base}/{n_base}; Fisher exact p = {p:.3g}"
    verdict = compare_proportions(k_low, n_low, k_base, n_base) if c_low < c_base else NOT_TESTABLE
    return Verdict("elimination_low_c", ours, f"two-sided Fisher exact test of the shares of elimination at p < "
                   f"{thresholds.PROPORTION_ALPHA}, the lower C higher (lower: not reproduced; p above: not resolved)",
                   setting, verdict, budget_dependent=True)


def adaptive_benefit_verdict(labels: dict[int, str], gains: dict[int, tuple[float, float, float]], *, setting: str,
                             threshold: float = thresholds.MIN_GAIN) -> Verdict:
    """Section 1 (chapter 9): softmax attention "benefits from having a context-adaptive learning
    rate", decided by loss: at each d the held-out gain of Eq. 1 over Eq. 3 (Eq. 3's loss minus Eq.
    1's, each at its own optimum) with its paired 95% interval, labelled by `effect_label` against
    `threshold` x Eq. 1's loss. Reproduced when it matters at every d the paper trained; not
    reproduced when at some d it does not matter or hurts; otherwise not resolved."""
    if not labels:
        return Verdict("adaptive_benefits", "no d compared", "", setting, NOT_TESTABLE)
    found = set(labels.values())
    verdict = (NOT_REPRODUCED if found & {"does not matter", "hurts"} else REPRODUCED if found == {"matters"}
               else NOT_RESOLVED)
    ours = "; ".join(f"d={d}: {gains[d][0]:+.4f} [{gains[d][1]:+.4f}, {gains[d][2]:+.4f}] {labels[d]}" for d in labels)
    by_label: dict[str, list[int]] = {}
    for d, label in labels.items():
        by_label.setdefault(label, []).append(d)
    summary = "; ".join(f"{label} at d = {', '.join(map(str, ds))}" for label, ds in by_label.items())
    return Verdict("adaptive_benefits", ours, f"at every d, the 95% interval of the held-out loss gain over Eq. 3 "
                   f"above {threshold:.0%} of Eq. 1's loss (inside ±{threshold:.0%} or below: not reproduced)",
                   setting, verdict, summary=summary)


INTERIOR, VALLEY, UNDECIDED = "an interior optimum", "a valley that falls to the linear step", "cannot tell"


def landscape_finding(per_set: Sequence[dict[str, object]], *, reference_loss: float,
                      within: float = thresholds.NEAR_OPTIMAL) -> str:
    """The book's question at d = 10 (chapter 9): does Eq. 1 have a finite optimum better than the
    linear GD step it tends to along its valley? Each entry of `per_set` is one independent set of
    search contexts: the valley's profile (for each c_sigma the best c_eta) gives Eq. 1's best point
    on that set, and "gain" is the paired 95% interval (mean, low, high) over held-out contexts of Eq.
    2's loss minus Eq. 1's, each at the set's best. The margin is `within` x `reference_loss` (Eq.
    2's held-out loss): the near-optimal threshold of `icl_lib.thresholds`.
    An interior optimum: on every set the interval lies above the margin and the profile's minimum is
    not at its small-c_sigma end ("at_end" False). A valley that falls to the linear step: on every
    set the interval lies within ± the margin (out of sample, Eq. 1's best is the linear step).
    Otherwise (the sets disagree, or the intervals are too wide): cannot tell."""
    if not per_set:
        raise ValueError("landscape_finding needs at least one set of contexts")
    margin = within * reference_loss
    gains = [(float(s["gain"][1]), float(s["gain"][2])) for s in per_set]
    if all(low > margin for low, _ in gains) and not any(bool(s["at_end"]) for s in per_set):
        return INTERIOR
    if all(-margin < low and high < margin for low, high in gains):
        return VALLEY
    return UNDECIDED


def claims_table(records: Sequence[dict[str, object]]) -> Table:
    """Every claim on one screen (the introduction): the verdict, the claim, what the paper shows
    or states, what this build found (its summary), the share of the paper's budget and the seeds
    behind ours, and a link to the chapter. Each row carries its verdict as a class (the page colours
    it) and each cell its column's name, so on a phone each claim becomes a card."""
    def budget(v: dict[str, object]) -> str:
        if seeds_of(v) == budget_share(v) == "—":
            return "no training"
        share = budget_share(v).replace(" of the paper's ", " of ")  # the column's name says whose
        return f"{share}; {seeds_of(v)}"

    return Table.from_records(
        ({"verdict": v["verdict"], "claim": v["title"], "the paper": v["paper_value"], "this book": v["summary"],
          "share of the paper's budget; seeds": budget(v),
          "ch.": Link(str(v["chapter"])[:2], f"../executed/{v['chapter']}.html")} for v in records),
        classes="cards claims", row_classes=[str(v["verdict"]).replace(" ", "-") for v in records])


def criteria_table(records: Sequence[dict[str, object]]) -> Table:
    """Every claim's criterion beside the paper's budget (the reproduction notes), as cards on a phone."""
    return Table(("claim (source)", "chapter", "criterion", "the paper's budget"),
                 [(f"{v['title']} ({v['source']})", str(v["chapter"])[:2], v["criterion"], v["paper_budget"])
                  for v in records], classes="cards")
