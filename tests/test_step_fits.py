"""Chapter 9's analyses (icl_lib.step_fits, icl_lib.landscape) on small context sets."""

import math

import numpy as np
import pytest

from icl_lib import landscape, step_fits
from icl_lib.analysis_cache import ContextSpec
from icl_lib.streams import contexts_for


@pytest.fixture(scope="module")
def fitted():
    spec = ContextSpec("search", 64, n=20, d=2, C=5, seed=3)
    test = contexts_for("heldout", 64, n=20, d=2, C=5, seed=3)
    return spec, test, step_fits.fit_steps(spec, test, grid_points=8, include_query=False, cache_dir=None)


def test_each_step_is_fitted_and_scored_on_the_same_held_out_contexts(fitted):
    _, test, r = fitted
    assert set(r["fits"]) == set(r["held"]) == set(r["per_context"]) == set(step_fits.STEPS)
    for step in step_fits.STEPS:
        loss, accuracy = r["held"][step]
        assert loss == pytest.approx(float(r["per_context"][step].mean())) and 0 <= accuracy <= 1
        assert r["per_context"][step].shape == (len(test.y_query),)


def test_gains_are_paired_intervals_labelled_against_the_threshold(fitted):
    _, _, r = fitted
    gains, labels = step_fits.gains_and_labels({(2, 20): r}, min_gain=0.01)
    mean, low, high = gains[(2, 20, "Eq. 3")]
    assert low <= mean <= high
    assert mean == pytest.approx(float((r["per_context"]["Eq. 3"] - r["per_context"]["Eq. 1"]).mean()))
    assert labels[(2, 20, "Eq. 2")] in ("matters", "does not matter", "hurts", "cannot tell")
    table = step_fits.gains_table({(2, 20): r}, gains, labels, {2: (0.5, 0.8)}, n=20)
    assert table.rows[0][5] == "0.5000" and table.rows[0][7].endswith(labels[(2, 20, "Eq. 3")])


def test_eq1_is_eq3_with_the_neighbour_mass_rate_exactly(fitted):
    _, test, r = fitted
    analysis = step_fits.mass_analysis(test, r["fits"]["Eq. 1"], r["per_context"], C=5, include_query=False)
    assert analysis["identity_deviation"] < 1e-9 and analysis["spread"] >= 1
    assert len(analysis["bins"]) == 5


def test_only_a_fifth_whose_interval_clears_the_middles_counts():
    def bins(low_end, middle):
        return [(0, 0.0, low_end, low_end + 0.1), (1, 0, 0, 0), (2, 0.0, middle - 0.1, middle), (3, 0, 0, 0),
                (4, 0.0, -1.0, 1.0)]

    analyses = {2: {"bins": bins(0.5, 0.2)}, 3: {"bins": bins(0.1, 0.2)}}
    assert step_fits.ends_above_middle(analyses) == ([2], [])


def test_the_landscape_map_tends_to_the_linear_step_along_its_curve():
    spec = ContextSpec("search", 48, n=20, d=3, C=5, seed=4)
    axes = landscape.map_axes(6, 6)
    result = landscape.landscape_map(spec, axes, include_query=False, within=1e-3, cache_dir=None)
    limit = result["limit"]
    assert limit[2] < limit[0] / 30  # the gap to Eq. 2 shrinks like c_sigma
    assert result["map"][2].shape == (6, 6) and result["eq2"][0] > 0
    assert "d" in landscape.map_table({3: result}, within=1e-3).header


def test_moves_along_a_path_and_their_table():
    c_sigma = np.array([1.0, 0.5, 0.25, 0.125])
    moves = landscape.moves_along({"run": (c_sigma, 2.0 / c_sigma)}, n=100, D=15, include_query=False)
    a, b, r0, r1 = moves["run"]
    assert (a, b) == (8.0, 16.0) and r0 == pytest.approx(r1)  # c_eta c_sigma constant: the same linear step
    assert landscape.moves_table(moves).rows[0][2] == "2.00×"
    assert landscape.moves_table({}).rows[0][0].startswith("no d = 10 run")
    sets = {10: [{"best": (1e4, 1e-3), "at_end": True, "gain": (1e-5, -1e-5, 3e-5)}]}
    assert landscape.landscape_sets_table(sets).rows[0][3] == "yes"
    assert not math.isnan(r0)
