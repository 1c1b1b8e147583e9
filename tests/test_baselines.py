"""Vectorized baseline searches equal plain loops; extraction recovers constructed coefficients."""

import math

import pytest
import torch

from icl_lib.baselines import (
    adaptive_grid,
    adaptive_kernel_gd_step,
    gd_step,
    grid_search_adaptive,
    grid_search_kernel_gd,
    kernel_gd_step,
    line_search_gd,
    log_grid,
)
from icl_lib.extraction import effective_eta, extract_c_eta_c_sigma, shift_ov_columns
from icl_lib.kernels import RBFKernel
from icl_lib.metrics import max_prob_deviation, per_context_loss
from icl_lib.models import SelfAttention, Weights, constructed_weights
from icl_lib.tasks import sample_contexts


@pytest.fixture(scope="module")
def ctx():
    return sample_contexts(300, n=30, d=3, C=3, seed=4, dtype=torch.float64)


def _loss(logits, ctx):
    return float(per_context_loss(logits, ctx.y_query).mean())


def test_line_search_equals_loop(ctx):
    etas = log_grid(0, 2.5, 17)
    best, losses = line_search_gd(ctx, etas, chunk=5)
    loop = torch.tensor([_loss(gd_step(ctx, float(e)), ctx) for e in etas], dtype=torch.float64)
    assert torch.allclose(losses, loop, atol=1e-12) and best == float(etas[loop.argmin()])


@pytest.mark.parametrize("include_query", [True, False])
def test_adaptive_grid_equals_loop(ctx, include_query):
    c_etas, c_sigmas = log_grid(-1, 2, 7), log_grid(-1, 2, 6)
    ce, cs, losses = grid_search_adaptive(ctx, c_etas, c_sigmas, include_query=include_query, chunk=4)
    loop = torch.tensor([[_loss(adaptive_kernel_gd_step(ctx, float(a), float(b), include_query=include_query), ctx)
                          for b in c_sigmas] for a in c_etas], dtype=torch.float64)
    assert torch.allclose(losses, loop, atol=1e-12)
    i, j = divmod(int(loop.argmin()), loop.shape[1])
    assert (ce, cs) == (float(c_etas[i]), float(c_sigmas[j]))


def test_kernel_grid_equals_loop(ctx):
    etas, sigma2s = log_grid(0, 3, 5), log_grid(-3, 2, 6)
    _, _, losses = grid_search_kernel_gd(ctx, etas, sigma2s, chunk=4)
    loop = torch.tensor([[_loss(kernel_gd_step(ctx, float(e), RBFKernel(float(s))), ctx) for s in sigma2s] for e in etas],
                        dtype=torch.float64)
    assert torch.allclose(losses, loop, atol=1e-10)


def test_adaptive_grid_ranges_follow_appendix_g():
    e, s = adaptive_grid(2)
    assert math.isclose(float(s[0]), 1.0) and math.isclose(float(s[-1]), 10**3.5) and math.isclose(float(e[-1]), 100.0)
    e, s = adaptive_grid(10)
    assert math.isclose(float(s[0]), 1e-3) and math.isclose(float(e[0]), 10.0) and math.isclose(float(e[-1]), 1e4)
    assert len(adaptive_grid(5, 100)[0]) == 100


@pytest.mark.parametrize("c_eta,c_sigma", [(7.15, 31.07), (0.5, 2.0)])
def test_extraction_recovers_constructed_values(c_eta, c_sigma):
    w = constructed_weights("softmax", 3, 5, c_eta=c_eta, c_sigma=c_sigma)
    got_eta, got_sigma = extract_c_eta_c_sigma(w, 3)
    assert got_eta.item() == pytest.approx(c_eta, rel=1e-12) and got_sigma.item() == pytest.approx(c_sigma, rel=1e-12)


def test_extraction_is_invariant_to_the_column_shift_and_so_are_predictions():
    """Adding a constant to each column of the y-block of W_O W_V changes no prediction, nor the extraction."""
    d, C = 3, 5
    ctx = sample_contexts(64, n=50, d=d, C=C, seed=1, dtype=torch.float64)
    w = constructed_weights("softmax", d, C, c_eta=7.15, c_sigma=31.07)
    shift = torch.zeros(d + C, d + C, dtype=torch.float64)
    shift[d:, d:] = torch.tensor([0.3, -1.2, 2.0, 0.7, -0.4], dtype=torch.float64).expand(C, C)  # column k += a_k
    # W_O W_V + shift with W_V = diag(0, I_C) is realised by W_O + shift (shift's y-block acts on y only)
    shifted = Weights(w.W_Q, w.W_K, w.W_V, w.W_O + shift)
    assert torch.allclose((shifted.W_O @ shifted.W_V)[d:, d:], (w.W_O @ w.W_V)[d:, d:] + shift[d:, d:])
    base, moved = SelfAttention("softmax", d, C, dtype=torch.float64), SelfAttention("softmax", d, C, dtype=torch.float64)
    base.load_weights(w)
    moved.load_weights(shifted)
    assert max_prob_deviation(base(ctx.tokens()), moved(ctx.tokens())) < 1e-14
    got_eta, got_sigma = extract_c_eta_c_sigma(shifted, d)
    assert got_eta.item() == pytest.approx(7.15, rel=1e-12) and got_sigma.item() == pytest.approx(31.07, rel=1e-12)


def test_row_shift_would_change_predictions():
    """The other orientation is not a symmetry: a shift along rows changes the predictions."""
    d, C = 3, 5
    ctx = sample_contexts(64, n=50, d=d, C=C, seed=1, dtype=torch.float64)
    w = constructed_weights("softmax", d, C, c_eta=7.15, c_sigma=31.07)
    shift = torch.zeros(d + C, d + C, dtype=torch.float64)
    shift[d:, d:] = torch.tensor([0.3, -1.2, 2.0, 0.7, -0.4], dtype=torch.float64)[:, None].expand(C, C)  # row j += a_j
    base, moved = SelfAttention("softmax", d, C, dtype=torch.float64), SelfAttention("softmax", d, C, dtype=torch.float64)
    base.load_weights(w)
    moved.load_weights(Weights(w.W_Q, w.W_K, w.W_V, w.W_O + shift))
    assert max_prob_deviation(base(ctx.tokens()), moved(ctx.tokens())) > 1e-3


def test_shift_ov_columns_zeroes_off_diagonal_column_means():
    block = torch.randn(5, 5, dtype=torch.float64)
    shifted = shift_ov_columns(block)
    off = shifted - torch.diag(shifted.diagonal())
    assert torch.allclose(off.sum(0), torch.zeros(5, dtype=torch.float64), atol=1e-12)


def test_effective_eta_recovers_linear_construction():
    w = constructed_weights("linear", 5, 5, eta=42.0, n=100)
    assert effective_eta(w, 5, 100).item() == pytest.approx(42.0, rel=1e-12)
