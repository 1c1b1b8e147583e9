"""Per-context metrics and alignment metrics (Section 4)."""

import math

import pytest
import torch

from icl_lib.baselines import adaptive_kernel_gd_step, gd_step
from icl_lib.metrics import alignment, entropy, max_prob_deviation, per_context_loss, prob_correct, sensitivities
from icl_lib.tasks import sample_contexts


@pytest.fixture(scope="module")
def ctx():
    return sample_contexts(64, n=50, d=5, C=5, seed=9, dtype=torch.float64)


def test_closed_forms_of_per_context_metrics():
    logits = torch.zeros(3, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 3])
    assert torch.allclose(per_context_loss(logits, y), torch.full((3,), math.log(4), dtype=torch.float64))
    assert torch.allclose(prob_correct(logits, y), torch.full((3,), 0.25, dtype=torch.float64))
    assert torch.allclose(entropy(logits), torch.full((3,), math.log(4), dtype=torch.float64))
    sharp = torch.tensor([[50.0, 0, 0, 0]], dtype=torch.float64)
    assert entropy(sharp).item() < 1e-18 and per_context_loss(sharp, torch.tensor([0])).item() < 1e-18


def test_shift_invariance(ctx):
    logits = gd_step(ctx, 10.0)
    assert max_prob_deviation(logits, logits + torch.randn(64, 1, dtype=torch.float64)) < 1e-15


def test_identical_predictors_align_perfectly(ctx):
    def f(c):
        return gd_step(c, 20.0)

    a = alignment(f, f, ctx)
    assert a.preds_diff == 0.0 and a.model_diff == 0.0 and abs(a.cos_sim - 1.0) < 1e-12


def test_sensitivity_matches_closed_form(ctx):
    """For the GD step, d softmax(z)_j / d x_q = p_j (g_j - sum_k p_k g_k) with g_j = eta/n sum_i y_ij x_i."""
    eta = 15.0
    probs, sens = sensitivities(lambda c: gd_step(c, eta), ctx)
    g = eta / ctx.n * ctx.y_onehot().mT @ ctx.x  # (B, C, d): gradient of logit j w.r.t. x_q
    expected = probs[..., None] * (g - (probs[..., None] * g).sum(1, keepdim=True))
    assert torch.allclose(sens, expected, atol=1e-12)


def test_different_predictors_are_measured_as_different(ctx):
    a = alignment(lambda c: gd_step(c, 20.0), lambda c: adaptive_kernel_gd_step(c, 3.0, 10.0), ctx)
    assert a.preds_diff > 1e-2 and a.model_diff > 1e-2 and a.cos_sim < 0.999
    scaled = alignment(lambda c: gd_step(c, 20.0), lambda c: gd_step(c, 20.0001), ctx)
    assert scaled.cos_sim > 0.999999


def test_metrics_broadcast_over_a_grid(ctx):
    etas = torch.tensor([1.0, 10.0, 100.0], dtype=torch.float64)
    loss = per_context_loss(gd_step(ctx, etas), ctx.y_query)
    assert loss.shape == (3, 64)
    for i, eta in enumerate(etas):
        assert torch.allclose(loss[i], per_context_loss(gd_step(ctx, float(eta)), ctx.y_query))
