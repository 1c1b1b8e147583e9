"""Chapter 8's analysis (icl_lib.recipe): the rate compared, the readings, schedule dependence."""

import pytest

from icl_lib import paper
from icl_lib.algorithms import AlgorithmFit
from icl_lib.recipe import (
    choice_in_words,
    choose_rate,
    compare_readings,
    dependence_table,
    depends_on_schedule,
    outcome_of,
)
from icl_lib.verdicts import NOT_REPRODUCED, REPRODUCED, Verdict


def row(rate, exit_step, settled, moved):
    return {"rate": rate, "exit": exit_step, "loss_settled": settled, "moved": moved, "final_loss": 0.3}


def test_the_rate_compared_is_the_smallest_whose_values_settled_else_whose_loss_did():
    progress = [row(1e-4, None, False, 0.0), row(1e-3, 900, True, 0.20), row(3e-3, 300, True, 0.01),
                row(1e-2, 100, True, 0.02)]
    assert choose_rate(progress, settle_tolerance=0.05) == 3e-3
    assert choose_rate(progress[:2], settle_tolerance=0.05) == 1e-3  # loss settled, values still moving
    assert choose_rate(progress[:1], settle_tolerance=0.05) is None


def test_the_choice_says_why_the_papers_rate_was_not_compared():
    own = paper.softmax_lr(3)
    progress = [row(own, None, False, 0.0), row(3e-3, 300, True, 0.01)]
    text = choice_in_words(3, progress, 3e-3, steps=4000, settle_tolerance=0.05)
    assert f"the paper's rate {own:g} did not leave the plateau in 4000 steps" in text
    assert "moved 1.0% in the last quarter" in text and "still moving" not in text
    assert "no rate left the plateau" in choice_in_words(3, progress, None, steps=4000, settle_tolerance=0.05)


def fit(algorithm, c_eta=7.0, c_sigma=30.0):
    return AlgorithmFit(algorithm, c_eta, c_sigma, 0.9, 0.3, 0.3, 0.5)


def test_readings_that_learn_different_algorithms_differ_and_alike_ones_do_not():
    alike = {"multiplier": [fit("selection")] * 10, "variance": [fit("selection")] * 10}
    exits = {"multiplier": [100.0] * 10, "variance": [100.0] * 10}
    records, differs = compare_readings(alike, exits, tolerance=0.05)
    assert not any(differs.values()) and [r["selection"] for r in records] == [10, 10]
    unlike = {"multiplier": [fit("selection")] * 10, "variance": [fit("elimination")] * 10}
    _, differs = compare_readings(unlike, exits, tolerance=0.05)
    assert differs["algorithm"]
    shifted = {"multiplier": [fit("selection", c_eta=7.0 + i / 100) for i in range(10)],
               "variance": [fit("selection", c_eta=9.0 + i / 100) for i in range(10)]}
    _, differs = compare_readings(shifted, exits, tolerance=0.05)
    assert differs["c_eta"] and not differs["c_sigma"]


@pytest.mark.parametrize(("ours", "theirs", "moving", "expected"), [
    (True, True, [], "no"), (True, False, [], "yes"), (True, False, [3], "not resolved: values still moving at d = [3]"),
    (None, True, [], "—"),
])
def test_a_result_depends_on_the_schedule_only_when_its_outcome_changes(ours, theirs, moving, expected):
    assert depends_on_schedule(ours, theirs, moving) == expected


def test_the_dependence_table_reads_each_schedules_verdicts():
    held = Verdict("extracted_d3", "o", "c", "s", REPRODUCED)
    failed = Verdict("extracted_d3_constant_lr", "o", "c", "s", NOT_REPRODUCED)
    assert outcome_of({"d3": held}, "d3") is True and outcome_of({}, "d3") is None
    readings = [{"reading": "multiplier", "selection": 9, "seeds": 12}, {"reading": "variance", "selection": 8, "seeds": 12}]
    table = dependence_table({"values at d = 3": ("d3", [3])}, {"d3": held}, {"d3": failed}, still_moving=[],
                             readings=readings, readings_differ=False)
    assert table.rows[0] == ("values at d = 3", "yes", "no", "yes")
    assert table.rows[1][1:] == ("9 of 12 seeds (multiplier)", "8 of 12 seeds (variance)", "no (Fisher exact p ≥ 0.05)")
