"""Trained models against candidate steps (icl_lib.comparison), on predictors with known answers."""

import pytest

from icl_lib.baselines import adaptive_kernel_gd_step, gd_step
from icl_lib.comparison import align_seeds, compare_candidates, describe_comparison, held_out_loss, outcomes_in_words
from icl_lib.metrics import per_context_loss
from icl_lib.streams import contexts_for
from icl_lib.verdicts import EQ1_CLOSER, NOT_IDENTIFIABLE


@pytest.fixture(scope="module")
def ctx():
    return contexts_for("align", 16, n=20, d=3, C=4)


def eq1(c_eta, c_sigma):
    return lambda c: adaptive_kernel_gd_step(c, c_eta, c_sigma, include_query=False)


def test_a_model_that_is_the_step_is_aligned_exactly(ctx):
    table = align_seeds([eq1(7.0, 30.0)], {"Eq. 1": eq1(7.0, 30.0), "Eq. 2": lambda c: gd_step(c, 5.0)}, ctx)
    assert table["Eq. 1"]["preds_diff"] == [0.0] and table["Eq. 1"]["cos_sim"][0] == pytest.approx(1.0)
    assert table["Eq. 2"]["preds_diff"][0] > 0.01


def test_models_near_eq1_are_closer_to_it_and_a_copy_of_it_coincides(ctx):
    models = [eq1(7.0 * f, 30.0 * f) for f in (0.97, 1.0, 1.03, 0.99)]
    steps = {"Eq. 1": eq1(7.0, 30.0), "Eq. 2": lambda c: gd_step(c, 5.0), "copy": eq1(7.0, 30.0)}
    outcomes, intervals, apart = compare_candidates(align_seeds(models, steps, ctx), steps, ctx)
    assert outcomes == {"Eq. 2": EQ1_CLOSER, "copy": NOT_IDENTIFIABLE}
    assert apart["copy"] == 0.0 and apart["Eq. 2"] > 0
    text = describe_comparison(outcomes, intervals, apart)
    assert "vs Eq. 2: Eq. 1 closer" in text and "preds diff*" in text
    assert "too alike here to say which one" in text


def test_outcomes_in_words_groups_the_dimensions_by_outcome():
    outcomes = {2: {"Eq. 3": EQ1_CLOSER}, 5: {"Eq. 3": NOT_IDENTIFIABLE}, 10: {"Eq. 3": NOT_IDENTIFIABLE}}
    assert outcomes_in_words(outcomes) == "against Eq. 3, Eq. 1 closer at d = 2 and the steps coincide at d = 5, 10"
    assert outcomes_in_words({}) == "no comparison was made"


def test_held_out_loss_is_the_mean_cross_entropy_on_the_query(ctx):
    step = eq1(7.0, 30.0)
    assert held_out_loss(step, ctx) == pytest.approx(float(per_context_loss(step(ctx), ctx.y_query).mean()))
