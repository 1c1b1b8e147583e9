"""The rules behind the book's verdicts, each fed cases where it must not say "reproduced"."""

import math

import numpy as np
import pytest

from icl_lib.curves import flattening_step, growth_rate, loss_settled, near_optimal_region, strictly_decreasing
from icl_lib.paper import CLAIMS
from icl_lib.results import read_results, write_results
from icl_lib.statistics import paired_interval, samples_apart, samples_differ, wilson_interval, within_relative
from icl_lib.thresholds import grid_optimum_band
from icl_lib.verdicts import (
    CANNOT_TELL,
    EQ1_CLOSER,
    INTERIOR,
    NOT_IDENTIFIABLE,
    OTHER_CLOSER,
    UNDECIDED,
    VALLEY,
    Verdict,
    adaptive_benefit_verdict,
    alignment_verdict,
    all_hold,
    budget_share,
    compare_proportions,
    compare_with_eq1,
    construction_verdict,
    controls_verdict,
    deciding_metrics,
    dynamics_by_d_verdict,
    elimination_low_c_verdict,
    extracted_d3_verdict,
    extraction_works_verdict,
    flattens_earlier_verdict,
    grid_optimum_verdict,
    landscape_finding,
    majority,
    not_converged_verdict,
    selection_majority_verdict,
    smaller_value_verdict,
    task_verdict,
    verdict_from,
    verdict_table,
)


def test_wilson_interval_matches_closed_form_values():
    # 10 of 20: centre 0.5, half-width z sqrt(1/80 + z^2/1600) / (1 + z^2/20) (Wilson, 1927)
    low, high = wilson_interval(10, 20)
    z = 1.959963984540054
    half = z * math.sqrt(0.25 / 20 + z * z / 1600) / (1 + z * z / 20)
    assert low == pytest.approx(0.5 - half) and high == pytest.approx(0.5 + half)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0
    assert wilson_interval(0, 20)[1] == pytest.approx(z * z / (20 + z * z))  # the upper end at zero successes
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_majority_needs_an_interval_above_one_half():
    assert majority(18, 20) == "reproduced"
    assert majority(12, 20) == "not resolved"  # 60% of 20 seeds does not exclude one half
    assert majority(3, 20) == "not reproduced"


def test_compare_proportions_says_not_resolved_when_intervals_overlap():
    assert compare_proportions(12, 20, 0, 20) == "reproduced"
    assert compare_proportions(4, 20, 1, 20) == "not resolved"
    assert compare_proportions(1, 20, 4, 20) == "not resolved"  # lower, but not separable either
    assert compare_proportions(0, 20, 12, 20) == "not reproduced"


def test_within_relative():
    assert within_relative(7.4, 7.15, 0.05) and not within_relative(7.6, 7.15, 0.05)
    assert not within_relative(float("nan"), 7.15, 0.05)
    with pytest.raises(ValueError):
        within_relative(1.0, 1.0, 0.0)


def test_verdict_from_and_all_hold():
    assert verdict_from(True) == "reproduced" and verdict_from(False) == "not reproduced"
    assert verdict_from(None) == "not testable" and verdict_from(False, contrary=False) == "not resolved"
    assert all_hold([True, True]) == "reproduced" and all_hold([True, False]) == "not reproduced"
    assert all_hold([]) == "not testable"


def test_strictly_decreasing():
    assert strictly_decreasing([3.0, 2.0, 1.0]) is True
    assert strictly_decreasing([3.0, 3.0]) is False and strictly_decreasing([1.0, 2.0]) is False
    assert strictly_decreasing([1.0]) is None


def test_growth_rate_is_the_slope_of_the_logarithm():
    steps = np.arange(0, 1000, 100.0)
    values = 5 * np.exp(2e-3 * steps)
    np.testing.assert_allclose(growth_rate(steps, values, window=4), 2e-3, rtol=1e-9)
    with pytest.raises(ValueError, match="positive"):
        growth_rate(steps, -values, window=4)


def test_flattening_step_finds_where_growth_stops_and_when_it_does_not():
    steps = np.arange(0, 10_000, 100.0)
    saturating = 100 * (1 - np.exp(-steps / 800)) + 1  # flat from a few thousand steps on
    flat_at = flattening_step(steps, saturating, threshold=1e-5, window=5)
    assert flat_at is not None and 2000 < flat_at < 8000
    growing = np.exp(1e-4 * steps)  # grows to the end: never flat at 1e-5 per step
    assert flattening_step(steps, growing, threshold=1e-5, window=5) is None
    late = np.where(steps < 5000, 1.0, np.exp(1e-4 * (steps - 5000)))  # flat, then grows again: not flat
    assert flattening_step(steps, late, threshold=1e-5, window=5) is None
    assert flattening_step(steps[:3], saturating[:3], threshold=1e-5, window=5) is None  # too short to judge


def test_near_optimal_region_measures_a_valley_and_the_edge():
    xs, ys = np.logspace(0, 4, 41), np.logspace(-1, 1, 21)
    X, Y = np.meshgrid(np.log10(xs), np.log10(ys), indexing="ij")
    point = 1 + (X - 2) ** 2 + (Y - 0) ** 2  # a bowl at (100, 1)
    region = near_optimal_region(point, xs, ys, within=1e-3)
    assert region["x_low"] <= 100 <= region["x_high"] and region["x_ratio"] < 1.5
    assert not region["optimum_on_edge"] and not region["region_on_edge"]
    valley = 1 + 1e-5 * (X - 4) ** 2 + (Y - 0) ** 2  # flat along x, minimum at the grid's end
    region = near_optimal_region(valley, xs, ys, within=1e-3)
    assert region["x_ratio"] > 1000 and region["optimum_on_edge"] and region["region_on_edge"]


def test_a_verdict_names_a_claim_of_the_paper_and_a_known_verdict():
    v = Verdict("extracted_d3", "(7.20, 31.00)", "within 5%", "3000 steps", "reproduced", budget_dependent=True)
    assert v.source == CLAIMS["extracted_d3"].source and "7.15" in v.words
    with pytest.raises(ValueError, match="claim="):
        Verdict("no such claim", "", "", "", "reproduced")
    with pytest.raises(ValueError, match="verdict="):
        Verdict("extracted_d3", "", "", "", "probably")


def test_verdicts_round_trip_through_the_results_file_and_render_as_a_table(tmp_path):
    v = Verdict("selection_majority", "18 of 20 <b>", "Wilson interval above 1/2", "20 seeds", "reproduced")
    path = tmp_path / "r.json"
    write_results(path, chapter="07", profile="smoke", settings={}, metrics={"x": 1.0}, verdicts=[v])
    record = read_results(path)
    assert record["verdicts"] == [v.as_record()]
    html = verdict_table(record["verdicts"])._repr_html_()
    assert html.startswith("<table") and '<td class="verdict reproduced" data-label="verdict">reproduced' in html
    assert "&lt;b&gt;" in html and "<b>" not in html  # cells are escaped
    assert html.count("<tr>") == 2 and "Appendix J, Figure 11" in html
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


# Each claim's verdict, fed a case where it must hold and cases where it must not.

GOOD_TASK = {"min_per_class": 20, "max_per_class": 20, "frac_in_region": 1.0, "frac_query_in_region": 1.0,
             "query_class_chi2_p": 0.4}


@pytest.mark.parametrize(("change", "p_values", "expected"), [
    ({}, [0.3, 0.5], "reproduced"),
    ({"max_per_class": 21}, [0.3, 0.5], "not reproduced"),  # unbalanced classes
    ({"frac_in_region": 0.999}, [0.3, 0.5], "not reproduced"),  # a point outside its region
    ({"query_class_chi2_p": 1e-6}, [0.3, 0.5], "not reproduced"),  # query classes not uniform
    ({}, [0.3, 1e-5], "not reproduced"),  # points not uniform in a region
])
def test_task_verdict(change, p_values, expected):
    v = task_verdict({3: GOOD_TASK | change}, {3: p_values}, points_per_class=20, setting="s")
    assert v.verdict == expected


def test_construction_verdict():
    assert construction_verdict("eq_1", {"a": 1e-16, "b": 3e-15}, tolerance=1e-12, setting="s").verdict == "reproduced"
    assert construction_verdict("eq_1", {"a": 1e-16, "b": 0.2}, tolerance=1e-12, setting="s").verdict == "not reproduced"


def test_alignment_verdict_fails_a_run_that_never_left_the_plateau():
    aligned = {3: {"cos_sim": 0.999, "preds_diff": 0.01}, 5: {"cos_sim": 0.995, "preds_diff": 0.02}}
    tolerances = {3: (0.98, 0.06), 5: (0.98, 0.06)}
    assert alignment_verdict("softmax_learns_eq1", aligned, tolerances, setting="s").verdict == "reproduced"
    plateau = aligned | {5: {"cos_sim": 0.2, "preds_diff": 0.6}}  # a model still predicting ~uniform probabilities
    assert alignment_verdict("softmax_learns_eq1", plateau, tolerances, setting="s").verdict == "not reproduced"
    d2 = {2: {"cos_sim": 0.5, "preds_diff": 0.03}}  # no cos sim at d = 2 (None): only the predictions count
    skipped = alignment_verdict("softmax_learns_eq1", d2, {2: (None, 0.06)}, setting="s", skipped="d = 2, no sensitivities")
    assert skipped.verdict == "reproduced"
    assert "(not checked)" in skipped.ours and "d = 2, no sensitivities" in skipped.criterion  # the skip is named


def test_alignment_verdict_asks_every_seed():
    seeds = {3: {"cos_sim": [0.999, 0.998, 0.997], "preds_diff": [0.01, 0.02, 0.015]}}
    v = alignment_verdict("softmax_learns_eq1", seeds, {3: (0.98, 0.06)}, setting="s")
    assert v.verdict == "reproduced" and "3 seeds" in v.ours
    one_off = {3: {"cos_sim": [0.999, 0.998, 0.95], "preds_diff": [0.01, 0.02, 0.015]}}  # one seed too far
    assert alignment_verdict("softmax_learns_eq1", one_off, {3: (0.98, 0.06)}, setting="s").verdict == "not reproduced"


def test_extracted_d3_verdict_needs_both_values_within_five_percent():
    assert extracted_d3_verdict(7.15, 31.07, setting="s").verdict == "reproduced"
    assert extracted_d3_verdict(7.4, 29.6, setting="s").verdict == "reproduced"  # 3.5% and 4.7% off
    assert extracted_d3_verdict(8.8, 34.7, setting="s").verdict == "not reproduced"  # the other query variant's optimum
    assert extracted_d3_verdict(5.0, 25.0, setting="s").verdict == "not reproduced"  # the paper's "slightly off" values
    assert extracted_d3_verdict(7.15, 33.9, setting="s").verdict == "not reproduced"  # c_sigma alone 9% off


def test_extraction_works_verdict():
    good, off = {"cos_sim": 0.99, "preds_diff": 0.02}, {"cos_sim": 0.9, "preds_diff": 0.1}
    assert extraction_works_verdict(good, off, setting="s").verdict == "reproduced"
    assert extraction_works_verdict(off, good, setting="s").verdict == "not reproduced"
    mixed = {"cos_sim": 0.95, "preds_diff": 0.01}  # better predictions, worse sensitivities than off
    assert extraction_works_verdict(mixed, {"cos_sim": 0.96, "preds_diff": 0.1}, setting="s").verdict == "not reproduced"


def test_dynamics_by_d_verdict():
    rising = {2: (2.0, 200.0), 3: (7.0, 31.0), 10: (100.0, 1.0)}
    assert dynamics_by_d_verdict(rising, setting="s").verdict == "reproduced"
    assert dynamics_by_d_verdict(rising | {5: (5.0, 40.0)}, setting="s").verdict == "not reproduced"  # not monotone
    assert dynamics_by_d_verdict({3: (7.0, 31.0)}, setting="s").verdict == "not testable"


def test_flattens_earlier_verdict():
    assert flattens_earlier_verdict({8e-4: 40_000.0, 3e-3: 20_000.0}, criterion="c", setting="s").verdict == "reproduced"
    assert flattens_earlier_verdict({8e-4: 20_000.0, 3e-3: 40_000.0}, criterion="c", setting="s").verdict == "not reproduced"
    assert flattens_earlier_verdict({8e-4: None, 3e-3: 20_000.0}, criterion="c", setting="s").verdict == "reproduced"
    assert flattens_earlier_verdict({8e-4: 20_000.0, 3e-3: None}, criterion="c", setting="s").verdict == "not reproduced"
    assert flattens_earlier_verdict({8e-4: None, 3e-3: None}, criterion="c", setting="s").verdict == "not resolved"
    assert flattens_earlier_verdict({3e-3: 1.0}, criterion="c", setting="s").verdict == "not testable"  # one rate settled


def test_smaller_value_verdict():
    both_flat = {8e-4: True, 3e-3: True}
    assert smaller_value_verdict({8e-4: 90.0, 3e-3: 60.0}, both_flat, setting="s").verdict == "reproduced"
    assert smaller_value_verdict({8e-4: 60.0, 3e-3: 90.0}, both_flat, setting="s").verdict == "not reproduced"
    # the lower rate still growing but already above the higher rate's flat value: holds
    assert smaller_value_verdict({8e-4: 90.0, 3e-3: 60.0}, {8e-4: False, 3e-3: True}, setting="s").verdict == "reproduced"
    # the higher rate still growing: its value is not known yet
    assert smaller_value_verdict({8e-4: 90.0, 3e-3: 60.0}, {8e-4: True, 3e-3: False}, setting="s").verdict == "not resolved"
    # the higher rate still growing and already above the lower rate's flat value: fails
    assert smaller_value_verdict({8e-4: 60.0, 3e-3: 90.0}, {8e-4: True, 3e-3: False}, setting="s").verdict == "not reproduced"
    assert smaller_value_verdict({3e-3: 60.0}, {3e-3: True}, setting="s").verdict == "not testable"


def test_plateau_exit_step():
    from icl_lib.curves import plateau_exit_step

    steps, losses = [0, 100, 200, 300], [1.609, 1.60, 1.2, 0.4]
    assert plateau_exit_step(steps, losses, chance=1.609, fraction=0.9) == 200
    assert plateau_exit_step(steps, [1.609] * 4, chance=1.609, fraction=0.9) is None  # never left the plateau


def test_not_converged_and_grid_optimum_verdicts():
    region = {"x_low": 5000.0, "x_high": 10_000.0}
    assert not_converged_verdict({8e-4: 90.0, 3e-3: 60.0}, region, setting="s").verdict == "reproduced"
    assert not_converged_verdict({8e-4: 90.0, 3e-3: 6000.0}, region, setting="s").verdict == "not reproduced"
    assert not_converged_verdict({}, region, setting="s").verdict == "not testable"
    assert grid_optimum_verdict([7000.0], region, setting="s").verdict == "reproduced"
    narrow = {"x_low": 1000.0, "x_high": 1200.0}
    assert grid_optimum_verdict([1100.0], narrow, setting="s").verdict == "not reproduced"
    assert grid_optimum_verdict([], narrow, setting="s").verdict == "not testable"


def test_the_grid_optimum_has_no_escape_clause():
    # the d = 10 landscape: the 0.1% region spans c_eta ~300 to 1e4, so it contains 8,000; an optimum at 933
    # must still fail, as must one on the grid's upper edge
    wide = {"x_low": 300.0, "x_high": 10_000.0}
    assert grid_optimum_verdict([933.0], wide, setting="s").verdict == "not reproduced"
    assert grid_optimum_verdict([933.0, 870.0, 1002.0], wide, setting="s").verdict == "not reproduced"
    assert grid_optimum_verdict([10_000.0, 9_326.0, 10_000.0], wide, setting="s").verdict == "not reproduced"
    assert grid_optimum_verdict([8_111.0], wide, setting="s").verdict == "reproduced"
    # one sample lands above the band, another inside: 8,000 is among what a sample of contexts gives
    assert grid_optimum_verdict([9_326.0, 8_111.0, 10_000.0], wide, setting="s").verdict == "reproduced"
    low, high = grid_optimum_band()
    assert low == pytest.approx(7500 / 10 ** (3 / 99)) and high == pytest.approx(8500 * 10 ** (3 / 99))


def test_selection_verdicts_use_intervals():
    base, low_c = (2, 5, 100), (2, 2, 100)
    assert selection_majority_verdict({base: (17, 20)}, setting="s").verdict == "reproduced"
    assert selection_majority_verdict({base: (11, 20)}, setting="s").verdict == "not resolved"
    assert selection_majority_verdict({base: (4, 20)}, setting="s").verdict == "not reproduced"
    # "the majority of runs" over Figure 11's settings: the runs are pooled, not the base setting alone
    assert selection_majority_verdict({base: (17, 20), low_c: (2, 20), (3, 5, 100): (3, 20)},
                                      setting="s").verdict == "not reproduced"
    assert selection_majority_verdict({base: (12, 20), low_c: (15, 20), (3, 5, 100): (16, 20)},
                                      setting="s").verdict == "reproduced"
    assert elimination_low_c_verdict((2, 12, 20), (5, 0, 20), setting="s").verdict == "reproduced"
    assert elimination_low_c_verdict((2, 3, 20), (5, 1, 20), setting="s").verdict == "not resolved"
    assert elimination_low_c_verdict((2, 0, 20), (5, 12, 20), setting="s").verdict == "not reproduced"
    # two proportions by a two-proportion test: 0/20 against 6/20 is a difference (Fisher p = 0.02),
    # although the two Wilson intervals overlap
    assert elimination_low_c_verdict((2, 0, 20), (5, 6, 20), setting="s").verdict == "not reproduced"
    assert compare_proportions(6, 20, 0, 20) == "reproduced"
    assert wilson_interval(0, 20)[1] > wilson_interval(6, 20)[0]
    assert elimination_low_c_verdict((5, 0, 20), (5, 0, 20), setting="s").verdict == "not testable"  # no lower C swept


def test_paired_interval_is_students():
    mean, low, high = paired_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and (high - mean) == pytest.approx(4.302652729911275 * 1.0 / math.sqrt(3))
    assert paired_interval([1.0, 3.0], confidence=0.5)[2] == pytest.approx(2.0 + 1.0)  # t_{0.75, 1} = 1
    with pytest.raises(ValueError):
        paired_interval([1.0])


def test_compare_with_eq1_decides_each_way():
    eq1 = {"preds_diff": [0.02, 0.03, 0.025], "cos_sim": [0.99, 0.98, 0.99]}
    worse = {"preds_diff": [0.20, 0.25, 0.22], "cos_sim": [0.80, 0.70, 0.75]}
    noisy = {"preds_diff": [0.01, 0.05, 0.02], "cos_sim": [0.995, 0.97, 0.99]}
    assert compare_with_eq1(eq1, worse)[0] == EQ1_CLOSER
    assert compare_with_eq1(worse, eq1)[0] == OTHER_CLOSER
    assert compare_with_eq1(eq1, noisy)[0] == CANNOT_TELL
    # better predictions but worse sensitivities: the metrics disagree, so neither is closer
    mixed = {"preds_diff": [0.010, 0.020, 0.015], "cos_sim": [0.80, 0.70, 0.75]}
    assert compare_with_eq1(eq1, mixed)[0] == CANNOT_TELL
    outcome, intervals = compare_with_eq1(eq1, worse)
    assert intervals["preds_diff"][0] == pytest.approx(0.19833333333333333)


def test_steps_that_coincide_cannot_be_told_apart():
    eq1 = {"preds_diff": [0.020, 0.022, 0.021], "cos_sim": [0.99, 0.99, 0.99]}
    other = {"preds_diff": [0.024, 0.026, 0.025], "cos_sim": [0.99, 0.99, 0.99]}
    assert compare_with_eq1(eq1, other)[0] == EQ1_CLOSER  # seed by seed Eq. 1 is closer...
    # ...but the steps themselves differ by less than the models differ from either: not identifiable
    assert compare_with_eq1(eq1, other, steps_apart=0.005)[0] == NOT_IDENTIFIABLE
    assert compare_with_eq1(eq1, other, steps_apart=0.3)[0] == EQ1_CLOSER
    outcome, intervals = compare_with_eq1(eq1, other)
    assert deciding_metrics(intervals) == ["preds_diff"]  # the cos sims are equal: that interval holds 0
    assert controls_verdict({10: {"Eq. 3": NOT_IDENTIFIABLE}}, setting="s").verdict == "not resolved"


def test_adaptive_benefit_is_decided_by_loss_every_way():
    gains = {2: (0.1, 0.07, 0.13), 3: (0.02, 0.01, 0.03)}
    assert adaptive_benefit_verdict({2: "matters", 3: "matters"}, gains, setting="s").verdict == "reproduced"
    assert adaptive_benefit_verdict({2: "matters", 3: "does not matter"}, gains, setting="s").verdict == "not reproduced"
    assert adaptive_benefit_verdict({2: "matters", 3: "hurts"}, gains, setting="s").verdict == "not reproduced"
    assert adaptive_benefit_verdict({2: "matters", 3: "cannot tell"}, gains, setting="s").verdict == "not resolved"
    assert adaptive_benefit_verdict({}, {}, setting="s").verdict == "not testable"


def test_the_landscape_finding_comes_out_every_way():
    def one(gain, at_end=False):
        return {"gain": gain, "at_end": at_end}

    interior = [one((0.003, 0.001, 0.005))] * 3  # d = 5 as measured: 0.1% of 0.48 is 0.00048
    assert landscape_finding(interior, reference_loss=0.48) == INTERIOR
    flat = [one((5e-8, -1e-7, 1e-7), True)] * 3  # d = 10: within 1e-7 of the linear step
    assert landscape_finding(flat, reference_loss=0.6) == VALLEY
    # one set better, two not: the sets disagree; and an interval too wide to say
    assert landscape_finding(interior[:1] + flat[:2], reference_loss=0.5) == UNDECIDED
    assert landscape_finding([one((0.0, -0.009, 0.009))] * 3, reference_loss=0.48) == UNDECIDED
    # better out of sample, but the profile's minimum at its small-c_sigma end: no interior optimum
    assert landscape_finding([one((0.003, 0.001, 0.005), True)] * 3, reference_loss=0.48) == UNDECIDED
    with pytest.raises(ValueError):
        landscape_finding([], reference_loss=0.5)


def test_budget_share_reads_the_setting():
    record = {"setting": "3000 steps × 1024 (0.08% of the paper's 2,000,000 × 2048), lr 0.03", "budget_dependent": True}
    assert budget_share(record) == "0.08% of the paper's 2,000,000 × 2048"
    assert budget_share({"setting": "512 contexts", "budget_dependent": False}) == "—"
    tiny = {"setting": "1000 steps × 128 (1.1e-03% of the paper's 6,000,000 × 2048)", "budget_dependent": True}
    assert budget_share(tiny) == "1.1e-03% of the paper's 6,000,000 × 2048"


def test_the_budget_states_its_share_of_the_papers_contexts():
    from icl_lib.training import TrainConfig, budget_against_paper

    config = TrainConfig(kind="softmax", d=3, C=5, n=20, steps=3000, batch_size=1024, lr=0.03, clip=1.0)
    assert budget_against_paper(config, 2_000_000) == "3000 steps × 1024 (0.075% of the paper's 2,000,000 × 2048)"
    small = TrainConfig(kind="softmax", d=3, C=5, n=20, steps=1000, batch_size=128, lr=0.03, clip=1.0)
    assert budget_against_paper(small, 6_000_000) == "1000 steps × 128 (0.001% of the paper's 6,000,000 × 2048)"
    one = TrainConfig(kind="softmax", d=3, C=5, n=20, steps=1, batch_size=1, lr=0.03, clip=1.0)
    assert budget_against_paper(one, 6_000_000) == "1 steps × 1 (8.1e-09% of the paper's 6,000,000 × 2048)"


def test_controls_verdict():
    both = {2: {"Eq. 2": EQ1_CLOSER, "Eq. 3": EQ1_CLOSER}, 3: {"Eq. 2": EQ1_CLOSER, "Eq. 3": EQ1_CLOSER}}
    assert controls_verdict(both, setting="s").verdict == "reproduced"
    assert controls_verdict(both | {10: {"Eq. 2": EQ1_CLOSER, "Eq. 3": CANNOT_TELL}}, setting="s").verdict == "not resolved"
    assert controls_verdict(both | {10: {"Eq. 2": EQ1_CLOSER, "Eq. 3": OTHER_CLOSER}}, setting="s").verdict == "not reproduced"
    assert controls_verdict({}, setting="s").verdict == "not testable"


def test_loss_settled_compares_the_last_two_quarters():
    falling = [1.6, 1.6, 1.2, 0.6, 0.5, 0.45, 0.42, 0.40]  # last quarter 10% below the one before
    flat = [1.6, 1.6, 0.6, 0.5, 0.40, 0.40, 0.39, 0.39]
    assert loss_settled(falling, tolerance=0.05) is False
    assert loss_settled(falling, tolerance=0.15) is True
    assert loss_settled(flat, tolerance=0.05) is True
    assert loss_settled(flat[:7], tolerance=0.05) is None
    assert loss_settled(flat[:-1] + [float("nan")], tolerance=0.05) is False


def test_samples_differ_by_mann_whitney():
    assert samples_differ([1, 2, 3, 4, 5, 6], [11, 12, 13, 14, 15, 16]) is True
    assert samples_differ([1, 2, 3, 4, 5, 6], [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]) is False
    assert samples_differ([1, 2], [3, 4, 5]) is None


def test_samples_apart_needs_significance_and_size():
    base = [10.0, 10.1, 10.2, 10.3, 10.4, 10.5]
    shifted = [v + 1.0 for v in base]  # every value 10% above: significant and 10% apart
    assert samples_apart(shifted, base, tolerance=0.05) is True
    assert samples_apart(shifted, base, tolerance=0.15) is False
    small = [v + 0.3 for v in base]  # significant but 3% apart
    assert samples_apart(small, base, tolerance=0.05) is False
    assert samples_apart([10.0, 10.5], base, tolerance=0.01) is False  # too few to test


def test_summaries_seeds_and_the_claims_table_say_what_was_found_in_few_words():
    from icl_lib.verdicts import alignment_verdict, claims_table, construction_verdict, seeds_of

    final = {3: {"cos_sim": [0.99, 0.98], "preds_diff": [0.01, 0.02]}, 5: {"cos_sim": [0.9], "preds_diff": [0.2]}}
    v = alignment_verdict("softmax_learns_eq1", final, {3: (0.95, 0.05), 5: (0.95, 0.05)},
                          setting="3000 steps × 1024 (0.075% of the paper's 2,000,000 × 2048), 2 seeds per d")
    record = v.as_record()
    assert record["summary"] == "preds diff ≤ 0.200, cos sim ≥ 0.9000; not closer at d = 5"
    assert record["paper_value"].startswith("cos sim → 1") and seeds_of(record) == "2 seeds per d"
    proof = construction_verdict("prop_3_1", {"Prop. 3.1": 2e-16}, tolerance=1e-12, setting="512 contexts").as_record()
    table = claims_table([record | {"chapter": "04_softmax"}, proof | {"chapter": "02_proofs"}])
    assert table.rows[0][4] == "0.075% of 2,000,000 × 2048; 2 seeds per d"  # the column says whose budget
    assert table.rows[1][3:5] == ("largest difference 2.0e-16", "no training")
    assert str(table.rows[1][5]) == "02" and table.rows[1][5].href == "../executed/02_proofs.html"
    html = table._repr_html_()  # each row carries its verdict, which the page colours
    assert f'<tr class="{record["verdict"].replace(" ", "-")}"><td data-label="verdict">{record["verdict"]}</td>' in html
    assert '<tr class="reproduced"><td data-label="verdict">reproduced</td>' in html
