"""Self-attention: the query-row fast path equals full attention, constructed weights equal the baselines."""

import math

import pytest
import torch

from icl_lib.baselines import adaptive_kernel_gd_step, gd_step, kernel_gd_step
from icl_lib.explicit import adaptive_learning_rate, explicit_functional_gd_step, explicit_gd_step
from icl_lib.kernels import LinearKernel, PolynomialKernel, RBFKernel
from icl_lib.metrics import max_prob_deviation
from icl_lib.models import SelfAttention, constructed_weights, full_attention_logits
from icl_lib.tasks import sample_contexts

TOL = 1e-12


@pytest.fixture(scope="module")
def ctx():
    return sample_contexts(32, n=40, d=4, C=4, seed=5, dtype=torch.float64)


def _random_model(kind, include_query, kernel=None, seed=0):
    model = SelfAttention(kind, 4, 4, kernel=kernel, include_query=include_query, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.7)
    return model


@pytest.mark.parametrize("kind", ["linear", "softmax", "kernel"])
@pytest.mark.parametrize("include_query", [True, False])
def test_query_row_equals_full_attention(ctx, kind, include_query):
    kernel = RBFKernel(2.0) if kind == "kernel" else None
    model = _random_model(kind, include_query, kernel)
    fast, full = model(ctx.tokens()), full_attention_logits(model, ctx.tokens())
    assert torch.allclose(fast, full, rtol=1e-10, atol=1e-10)


def test_include_query_matters_for_trained_softmax(ctx):
    a = _random_model("softmax", True)(ctx.tokens())
    b = _random_model("softmax", False)(ctx.tokens())
    assert (a - b).abs().max() > 1e-3


def test_permutation_invariance(ctx):
    model = _random_model("softmax", True)
    tokens = ctx.tokens()
    perm = torch.randperm(ctx.n, generator=torch.Generator().manual_seed(0))
    permuted = torch.cat([tokens[:, perm], tokens[:, -1:]], dim=1)
    assert torch.allclose(model(tokens), model(permuted), atol=1e-12)


def test_ensemble_equals_separate_models(ctx):
    ens = SelfAttention("softmax", 4, 4, ensemble=3, dtype=torch.float64)
    with torch.no_grad():
        for p in ens.parameters():
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    out = ens(ctx.tokens())
    assert out.shape == (3, 32, 4)
    for s in range(3):
        single = SelfAttention("softmax", 4, 4, dtype=torch.float64)
        single.load_weights(ens.weights().member(s))
        assert torch.allclose(out[s], single(ctx.tokens()), atol=1e-12)


def test_linear_construction_is_gd_step(ctx):
    model = SelfAttention.constructed("linear", 4, 4, eta=7.0, n=40)
    assert max_prob_deviation(model(ctx.tokens()), gd_step(ctx, 7.0)) < TOL
    assert max_prob_deviation(explicit_gd_step(ctx, 7.0), gd_step(ctx, 7.0)) < TOL
    # the constructed product matches Appendix B
    qk = model.weights().qk()
    assert torch.equal(qk[:4, :4], torch.eye(4, dtype=torch.float64)) and qk[4:].abs().max() == 0


@pytest.mark.parametrize("kernel", [LinearKernel(), PolynomialKernel(2, 1.0), PolynomialKernel(3, 0.3), RBFKernel(0.7)])
def test_kernel_construction_is_kernel_gd_step(ctx, kernel):
    model = SelfAttention.constructed("kernel", 4, 4, kernel=kernel, eta=3.0, n=40)
    closed = kernel_gd_step(ctx, 3.0, kernel)
    assert max_prob_deviation(model(ctx.tokens()), closed) < TOL
    explicit = (explicit_functional_gd_step(ctx, 3.0, kernel) if isinstance(kernel, RBFKernel)
                else explicit_gd_step(ctx, 3.0, kernel.feature_map))
    assert max_prob_deviation(explicit, closed) < TOL


@pytest.mark.parametrize("include_query", [True, False])
def test_softmax_construction_is_adaptive_kernel_gd(ctx, include_query):
    model = SelfAttention.constructed("softmax", 4, 4, c_eta=5.0, c_sigma=12.0, include_query=include_query)
    closed = adaptive_kernel_gd_step(ctx, 5.0, 12.0, include_query=include_query)
    assert max_prob_deviation(model(ctx.tokens()), closed) < TOL
    sigma2 = math.sqrt(8) / 12.0
    eta_x = adaptive_learning_rate(ctx, 5.0, sigma2, include_query=include_query)
    assert max_prob_deviation(explicit_functional_gd_step(ctx, eta_x, RBFKernel(sigma2)), closed) < TOL


def test_polynomial_feature_map_reproduces_kernel():
    x = torch.randn(6, 3, dtype=torch.float64)
    k = PolynomialKernel(3, 0.5)
    phi = k.feature_map(x)
    assert phi.shape == (6, 4**3)
    assert torch.allclose(phi @ phi.T, k(x, x.expand(6, 6, 3)), atol=1e-12)


def test_constructed_weights_errors():
    with pytest.raises(ValueError, match="kind='relu'"):
        constructed_weights("relu", 3, 5, eta=1.0, n=10)
    with pytest.raises(ValueError, match=r"coefficients \['c_eta', 'c_sigma'\]"):
        constructed_weights("softmax", 3, 5, eta=1.0)
    with pytest.raises(ValueError, match="c_sigma=-1"):
        constructed_weights("softmax", 3, 5, c_eta=1.0, c_sigma=-1.0)


def test_model_errors():
    with pytest.raises(ValueError, match="kernel= is required"):
        SelfAttention("kernel", 3, 5)
    with pytest.raises(ValueError, match="tokens have width 7, expected d\\+C=8"):
        SelfAttention("linear", 3, 5)(torch.zeros(2, 4, 7))
