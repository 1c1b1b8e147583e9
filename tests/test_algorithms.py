"""Selection vs elimination (Appendix J): constructed models of each algorithm are classified as
such, the behavioural measure agrees with the sign of c_sigma, and the query-row attention is the
attention that the forward pass uses."""

import math

import numpy as np
import pytest
import torch

from icl_lib.algorithms import (
    attention_closeness_correlation,
    block_norms,
    classify_algorithm,
    settling_index,
    switched_algorithm,
)
from icl_lib.baselines import adaptive_kernel_gd_step
from icl_lib.models import SelfAttention, Weights, constructed_weights
from icl_lib.tasks import sample_contexts

D2, C5 = 2, 5


@pytest.fixture(scope="module")
def ctx():
    return sample_contexts(400, n=50, d=D2, C=C5, seed=11, dtype=torch.float64)


def _signed(c_eta: float, c_sigma: float) -> Weights:
    """Eq. 1's construction (Appendix D) with signed coefficients: negating W_Q and W_O flips both."""
    w = constructed_weights("softmax", D2, C5, c_eta=abs(c_eta), c_sigma=abs(c_sigma))
    return Weights(W_Q=math.copysign(1, c_sigma) * w.W_Q, W_K=w.W_K, W_V=w.W_V, W_O=math.copysign(1, c_eta) * w.W_O)


@pytest.mark.parametrize("include_query", [True, False])
def test_constructed_selection_is_selection(ctx, include_query):
    fit = classify_algorithm(_signed(8.0, 50.0), ctx, include_query=include_query)
    assert fit.algorithm == "selection"
    assert fit.c_eta == pytest.approx(8.0, abs=1e-12) and fit.c_sigma == pytest.approx(50.0, abs=1e-12)
    assert fit.agreement == 1.0 and fit.loss_eq1 == pytest.approx(fit.loss_model, abs=1e-12)
    assert fit.loss_model < 0.5 * math.log(C5) and fit.closeness_correlation > 0.3


@pytest.mark.parametrize("include_query", [True, False])
def test_constructed_elimination_is_elimination(ctx, include_query):
    # Values like those of the elimination runs of chapter 07 (c_eta ~ -74, c_sigma ~ -1.8 at d=2, C=5)
    fit = classify_algorithm(_signed(-74.0, -1.8), ctx, include_query=include_query)
    assert fit.algorithm == "elimination"
    assert fit.c_eta == pytest.approx(-74.0, abs=1e-10) and fit.c_sigma == pytest.approx(-1.8, abs=1e-12)
    assert fit.agreement == 1.0 and fit.loss_eq1 == pytest.approx(fit.loss_model, abs=1e-12)
    assert fit.closeness_correlation < -0.3  # the query attends to the points furthest from it


def test_uninformative_or_mixed_signs_are_neither(ctx):
    small = Weights(*(1e-3 * torch.randn(4, D2 + C5, D2 + C5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)))
    fit = classify_algorithm(small, ctx, include_query=True)
    assert fit.algorithm == "neither" and fit.loss_eq1 == pytest.approx(math.log(C5), abs=1e-3)
    # attending to the nearest points but subtracting their labels predicts against the data
    mixed = classify_algorithm(_signed(-8.0, 50.0), ctx, include_query=True)
    assert mixed.algorithm == "neither" and mixed.loss_model > math.log(C5)


def test_classification_rejects_bad_thresholds_and_shapes(ctx):
    with pytest.raises(ValueError, match="min_agreement"):
        classify_algorithm(_signed(8.0, 50.0), ctx, include_query=True, min_agreement=0)
    with pytest.raises(ValueError, match="max_loss_fraction"):
        classify_algorithm(_signed(8.0, 50.0), ctx, include_query=True, max_loss_fraction=1.5)
    with pytest.raises(ValueError, match="d\\+C"):
        classify_algorithm(constructed_weights("softmax", 3, C5, c_eta=1.0, c_sigma=1.0), ctx, include_query=True)


@pytest.mark.parametrize("include_query", [True, False])
def test_query_attention_is_eq1_weights_and_drives_forward(ctx, include_query):
    model = SelfAttention("softmax", D2, C5, include_query=include_query, dtype=torch.float64)
    model.load_weights(_signed(3.0, 20.0))
    attn = model.query_attention(ctx.tokens())
    assert attn.shape == (ctx.batch_size, ctx.n + include_query)
    assert torch.allclose(attn.sum(-1), torch.ones(ctx.batch_size, dtype=torch.float64), atol=1e-12)
    # the same weights as Eq. 1's kernel: the labels they average, times c_eta, are the logits
    logits = 3.0 * (attn[:, : ctx.n].unsqueeze(-2) @ ctx.y_onehot()).squeeze(-2)
    assert torch.allclose(logits, model(ctx.tokens()), atol=1e-12)
    assert torch.allclose(logits, adaptive_kernel_gd_step(ctx, 3.0, 20.0, include_query=include_query), atol=1e-12)


def test_closeness_correlation_is_pearson_per_context(ctx):
    model = SelfAttention("softmax", D2, C5, dtype=torch.float64)
    model.load_weights(_signed(1.0, 5.0))
    corr = attention_closeness_correlation(model, ctx)
    attn = model.query_attention(ctx.tokens()).detach()[:, : ctx.n]
    dots = (ctx.x @ ctx.x_query.unsqueeze(-1)).squeeze(-1)
    for b in (0, 7, 123):
        assert float(corr[b]) == pytest.approx(np.corrcoef(attn[b].numpy(), dots[b].numpy())[0, 1], abs=1e-12)
    # the softmax of an increasing function of <x_i, x_q>: strongly positive, and flipping c_sigma flips it
    model.load_weights(_signed(1.0, -5.0))
    assert float(corr.min()) > 0.5 and float(attention_closeness_correlation(model, ctx).max()) < -0.5


def test_settling_and_switching_through_training():
    assert settling_index(["neither", "neither", "selection", "selection"]) == 2
    assert settling_index(["selection", "neither", "selection"]) == 2  # a relapse restarts the count
    assert settling_index(["elimination"]) == 0
    assert switched_algorithm(["neither", "selection", "neither", "elimination"])
    assert not switched_algorithm(["neither", "selection", "neither", "selection"])


def test_block_norms_of_the_construction():
    """Eq. 1's construction has c_sigma I_d in the QK x-block and c_eta I_C in the OV y-block, nothing else."""
    norms = block_norms(_signed(8.0, 50.0), D2)
    assert norms == pytest.approx([50.0 * math.sqrt(D2), 0.0, 8.0 * math.sqrt(C5), 0.0], abs=1e-12)


def test_counts_the_guard_and_figure_11s_table():
    from icl_lib.algorithms import AlgorithmFit, check_attention_agrees, count_algorithms, figure11_table

    def fit(algorithm, corr):
        return AlgorithmFit(algorithm, 1.0, 1.0, 0.9, 0.3, 0.3, corr)

    fits = [fit("selection", 0.5), fit("selection", 0.4), fit("elimination", -0.3), fit("neither", 0.0)]
    assert count_algorithms(fits) == {"selection": 2, "elimination": 1, "neither": 1}
    check_attention_agrees({"base": fits})
    with pytest.raises(AssertionError, match="elimination by its weights"):
        check_attention_agrees({"base": [fit("elimination", 0.2)]})
    counts = {(2, 5, 100): {"selection": 15, "elimination": 3, "neither": 2},
              (2, 2, 100): {"selection": 4, "elimination": 10, "neither": 6}}
    table = figure11_table(counts, 20, base=(2, 5, 100), panels={"C": [(2, 2, 100), (2, 5, 100)]},
                           low_c=(2, 2, 100), setting="s")
    assert table.rows[0][2].startswith("75% (")
    assert table.rows[-1] == ("elimination at C=2 vs C=5", "more frequent when C is low", "50% vs 15%", "s")
