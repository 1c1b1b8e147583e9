"""Two-layer softmax self-attention and its candidate algorithms (chapter 10): the fast forward
equals plain full attention, the construction of candidate (b) is exact, each closed form equals
a plain loop, the fits and the read-off values, and the rule that names a candidate (which can fail)."""

import math
from dataclasses import replace

import pytest
import torch

from icl_lib.baselines import adaptive_kernel_gd_step
from icl_lib.models import Weights
from icl_lib.tasks import sample_contexts
from icl_lib.thresholds import OFF_RATIO_C_ETA, OFF_RATIO_C_SIGMA
from icl_lib.training import TrainConfig, _batch, init_weights, learning_rate, train
from icl_lib.two_layer import (
    CANDIDATES,
    NONE,
    UNDECIDED,
    Fit,
    TwoLayerSoftmax,
    compare,
    constructed_weights,
    decide,
    fit_candidate,
    full_twin_logits,
    functional_steps,
    read_off,
    read_parameters,
    residual_steps,
)
from icl_lib.verdicts import CANNOT_TELL, EQ1_CLOSER, NOT_IDENTIFIABLE

D_, C_ = 3, 4


@pytest.fixture(scope="module")
def ctx():
    return sample_contexts(24, n=20, d=D_, C=C_, seed=7, dtype=torch.float64)


def _random_layers(seed=0, scale=0.8):
    gen = torch.Generator().manual_seed(seed)
    D = D_ + C_
    return tuple(Weights(*(torch.randn(D, D, generator=gen, dtype=torch.float64) * scale for _ in range(4)))
                 for _ in range(2))


@pytest.mark.parametrize("include_query", [False, True])
def test_forward_equals_full_attention(ctx, include_query):
    layers = _random_layers()
    model = TwoLayerSoftmax(D_, C_, include_query=include_query, dtype=torch.float64)
    model.load_layers(layers)
    full = full_twin_logits(layers, ctx.tokens(), D_, include_query=include_query)
    assert torch.allclose(model(ctx.tokens()), full, rtol=1e-11, atol=1e-11)


def test_ensemble_members_equal_single_models(ctx):
    members = [_random_layers(seed) for seed in range(3)]
    model = TwoLayerSoftmax(D_, C_, ensemble=3, dtype=torch.float64)
    model.load_layers(tuple(Weights(*(torch.stack([m[layer].as_tuple()[i] for m in members]) for i in range(4)))
                            for layer in range(2)))
    out = model(ctx.tokens())
    for s, layers in enumerate(members):
        assert torch.allclose(out[s], full_twin_logits(layers, ctx.tokens(), D_), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("include_query", [False, True])
@pytest.mark.parametrize("alpha", [-0.7, 0.0, 0.9])
def test_construction_computes_candidate_b_exactly(ctx, include_query, alpha):
    values = {"c_sigma1": 17.0, "alpha": alpha, "c_eta2": 6.0, "c_sigma2": 9.0}
    model = TwoLayerSoftmax(D_, C_, include_query=include_query, dtype=torch.float64)
    model.load_layers(constructed_weights(D_, C_, **values))
    closed = residual_steps(ctx, *values.values(), include_query=include_query)
    assert (model(ctx.tokens()) - closed).abs().max() < 1e-12


def _plain_f(ctx, b, x, c_sigma, include_query):
    """Adaptive kernel average of the labels at point x of context b, by a loop."""
    D = ctx.d + ctx.C
    keys = [(ctx.x[b, i], ctx.y_onehot()[b, i]) for i in range(ctx.n)]
    if include_query:
        keys.append((ctx.x_query[b], torch.zeros(ctx.C, dtype=torch.float64)))
    w = torch.stack([torch.exp(c_sigma * (k @ x) / math.sqrt(D)) for k, _ in keys])
    return sum(wi * y for wi, (_, y) in zip(w / w.sum(), keys, strict=True)), w / w.sum()


@pytest.mark.parametrize("include_query", [False, True])
def test_closed_forms_equal_plain_loops(ctx, include_query):
    s1, alpha, e1, e2, s2 = 11.0, 0.6, 4.0, 3.0, 7.0
    b_logits = residual_steps(ctx, s1, alpha, e2, s2, include_query=include_query)
    c_logits = functional_steps(ctx, e1, s1, e2, s2, include_query=include_query)
    for b in range(4):
        xq = ctx.x_query[b]
        f_points = [_plain_f(ctx, b, ctx.x[b, i], s1, include_query)[0] for i in range(ctx.n)]
        f_query = _plain_f(ctx, b, xq, s1, include_query)[0]
        _, a2 = _plain_f(ctx, b, xq, s2, include_query)
        y = ctx.y_onehot()[b]
        residual_b = [y[i] - alpha * f_points[i] for i in range(ctx.n)] + ([-alpha * f_query] if include_query else [])
        expect_b = -alpha * f_query + e2 * sum(a * r for a, r in zip(a2, residual_b, strict=True))
        residual_c = [y[i] - torch.softmax(e1 * f_points[i], 0) for i in range(ctx.n)]
        expect_c = e1 * f_query + e2 * sum(a * r for a, r in zip(a2[: ctx.n], residual_c, strict=True))
        assert torch.allclose(b_logits[b], expect_b, atol=1e-12)
        assert torch.allclose(c_logits[b], expect_c, atol=1e-12)


@pytest.mark.parametrize("include_query", [False, True])
def test_candidate_b_at_alpha_zero_is_eq1(ctx, include_query):
    eq1 = adaptive_kernel_gd_step(ctx, 5.0, 8.0, include_query=include_query)
    assert torch.allclose(eq1, residual_steps(ctx, 30.0, 0.0, 5.0, 8.0, include_query=include_query), atol=1e-13)
    assert CANDIDATES["a"].step is adaptive_kernel_gd_step


def test_closed_forms_broadcast_over_parameter_tensors(ctx):
    etas = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    out = functional_steps(ctx, etas, 5.0, etas, 6.0)
    assert out.shape == (3, ctx.batch_size, ctx.C)
    assert torch.allclose(out[1], functional_steps(ctx, 2.0, 5.0, 2.0, 6.0), atol=1e-13)


def test_fit_finds_the_minimum_and_is_never_worse_than_its_start():
    search = sample_contexts(300, n=40, d=3, C=4, seed=3, dtype=torch.float64)
    start = (3.0, 10.0)
    fit = fit_candidate("a", search, [start])
    eq1 = adaptive_kernel_gd_step(search, *start, include_query=False)
    start_loss = float(torch.nn.functional.cross_entropy(eq1, search.y_query))
    assert fit.loss < start_loss
    raw = torch.tensor([math.log(v) for v in fit.values], dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(adaptive_kernel_gd_step(search, *raw.exp(), include_query=False), search.y_query)
    (grad,) = torch.autograd.grad(loss, raw)
    assert grad.abs().max() < 1e-5  # a stationary point
    assert fit.named() == dict(zip(("c_eta", "c_sigma"), fit.values, strict=True))
    with pytest.raises(ValueError, match="start"):
        fit_candidate("b", search, [start])


def test_read_parameters_returns_the_construction():
    layers = constructed_weights(4, 5, c_sigma1=12.0, alpha=-0.4, c_eta2=7.0, c_sigma2=3.0)
    read = read_parameters(layers, 4)
    assert read == pytest.approx({"c_sigma1": 12.0, "alpha": -0.4, "c_eta2": 7.0, "c_sigma2": 3.0}, rel=1e-12)


def test_off_values_move_rates_and_widths_by_the_papers_ratios():
    off = CANDIDATES["b"].off((10.0, 0.5, 4.0, 20.0))
    assert off == pytest.approx((10.0 * OFF_RATIO_C_SIGMA, 0.5 * OFF_RATIO_C_ETA, 4.0 * OFF_RATIO_C_ETA,
                                 20.0 * OFF_RATIO_C_SIGMA))


def _seeds(preds, cos):
    return {"preds_diff": list(preds), "cos_sim": list(cos)}


_OFF = {k: {"preds_diff": 0.2, "cos_sim": 0.9} for k in "abc"}
_FAR = {("a", "b"): 0.3, ("a", "c"): 0.3, ("b", "c"): 0.3}


def test_rule_names_the_candidate_that_is_closer_on_every_seed():
    per = {"a": _seeds([0.30, 0.32, 0.31], [0.80, 0.81, 0.79]), "b": _seeds([0.05, 0.06, 0.05], [0.99, 0.98, 0.99]),
           "c": _seeds([0.20, 0.21, 0.22], [0.90, 0.91, 0.90])}
    decision = decide(per, _FAR, _OFF)
    assert (decision.implemented, decision.closest, decision.within) == ("b", "b", True)
    assert decision.outcomes == {"a": EQ1_CLOSER, "c": EQ1_CLOSER}
    assert (decision.outcome_text("a"), decision.outcome_text("c")) == ("(b) closer", "(b) closer")


def test_rule_says_none_when_the_closest_is_still_far():
    per = {"a": _seeds([0.50, 0.52, 0.51], [0.6, 0.6, 0.6]), "b": _seeds([0.25, 0.26, 0.25], [0.8, 0.8, 0.8]),
           "c": _seeds([0.45, 0.46, 0.44], [0.7, 0.7, 0.7])}
    decision = decide(per, _FAR, _OFF)
    assert (decision.implemented, decision.closest) == (NONE, "b")


def test_rule_cannot_tell_when_seeds_disagree():
    per = {"a": _seeds([0.05, 0.20, 0.06], [0.99, 0.90, 0.99]), "b": _seeds([0.10, 0.04, 0.09], [0.98, 0.99, 0.98]),
           "c": _seeds([0.40, 0.41, 0.42], [0.7, 0.7, 0.7])}
    decision = decide(per, _FAR, _OFF)
    assert decision.implemented == UNDECIDED
    assert CANNOT_TELL in decision.outcomes.values()
    assert decision.closest == "b"  # closer than (c) on every seed, not than (a)
    assert {k: decision.outcome_text(k) for k in decision.outcomes} == {"a": CANNOT_TELL, "c": "(b) closer"}


def test_rule_names_the_simpler_of_coinciding_candidates():
    per = {"a": _seeds([0.051, 0.061, 0.052], [0.99, 0.98, 0.99]), "b": _seeds([0.05, 0.06, 0.05], [0.99, 0.98, 0.99]),
           "c": _seeds([0.30, 0.31, 0.32], [0.8, 0.8, 0.8])}
    decision = decide(per, {("a", "b"): 0.001, ("a", "c"): 0.3, ("b", "c"): 0.3}, _OFF)
    assert (decision.implemented, decision.closest) == ("a", "b")
    assert decision.outcomes["a"] == NOT_IDENTIFIABLE


def test_rule_names_the_true_closest_when_a_coinciding_simpler_one_is_too_far():
    per = {"a": _seeds([0.31, 0.33, 0.32], [0.8, 0.8, 0.8]), "b": _seeds([0.30, 0.32, 0.31], [0.8, 0.8, 0.8]),
           "c": _seeds([0.60, 0.61, 0.62], [0.5, 0.5, 0.5])}
    decision = decide(per, {("a", "b"): 0.001, ("a", "c"): 0.3, ("b", "c"): 0.3}, _OFF)
    assert (decision.implemented, decision.closest) == (NONE, "b")
    assert decision.reason.startswith("(b) is closest and (a), the simplest")


_VALUES = {"a": (4.0, 10.0), "b": (12.0, 0.8, 5.0, 9.0), "c": (4.0, 10.0, 3.0, 9.0)}


def _step(key, values):
    return CANDIDATES[key].predictor(values)


def test_compare_finds_the_candidate_the_models_are_and_writes_the_chapters_keys(ctx):
    fits = {k: Fit(k, v, float("nan")) for k, v in _VALUES.items()}
    near_b = [_step("b", (12.0, 0.8, 5.0 * r, 9.0)) for r in (1.01, 0.99, 1.02)]  # three "seeds" of (b)
    align = sample_contexts(64, n=20, d=D_, C=C_, seed=8, dtype=torch.float64)
    result = compare(D_, near_b, [_step("a", _VALUES["a"])] * 3, fits, ctx, align, min_gain=0.01)
    assert (result.decision.implemented, result.decision.closest) == ("b", "b")
    loss = {k: float(torch.nn.functional.cross_entropy(_step(k, v)(ctx), ctx.y_query)) for k, v in _VALUES.items()}
    assert result.candidates == pytest.approx(loss, rel=1e-12)
    assert result.one_layer == pytest.approx([loss["a"]] * 3, rel=1e-12)
    gain = sum(result.one_layer) / 3 - sum(result.two_layer) / 3
    assert result.gain[0] == pytest.approx(gain, rel=1e-9) and result.gain[1] <= gain <= result.gain[2]
    metrics = result.metrics()
    assert metrics[f"two_layer.d{D_}.loss.a"] == metrics[f"two_layer.d{D_}.loss.one_layer"] == pytest.approx(loss["a"])
    assert metrics[f"two_layer.d{D_}.fit.b.alpha"] == 0.8
    assert {f"two_layer.d{D_}.{m}.{k}" for m in ("preds_diff", "cos_sim", "model_diff") for k in "abc"} <= set(metrics)
    assert metrics[f"two_layer.d{D_}.preds_diff.b"] < metrics[f"two_layer.d{D_}.preds_diff.a"]
    assert result.finding().startswith(f"At d = {D_}, ")
    read = [({"c_sigma1": 12.0, "alpha": a, "c_eta2": 5.0, "c_sigma2": 9.0}, diff) for a, diff in ((0.7, 0.01), (0.9, 0.02))]
    assert result.finding(read).endswith(f"(α from 0.7 to 0.9, c_η2 from 5 to 5 over the seeds), (b) at each seed's own "
                                         f"values is within a preds diff of 0.020 of that seed, against "
                                         f"{result.off['b']['preds_diff']:.3f} for (b) slightly off its fitted values.")
    with pytest.raises(ValueError, match="3 two-layer models against 2 one-layer"):
        compare(D_, near_b, near_b[:2], fits, ctx, align, min_gain=0.01)


def test_read_off_recovers_constructed_weights_and_explains_the_model(ctx):
    values = {"c_sigma1": 14.0, "alpha": 0.5, "c_eta2": 6.0, "c_sigma2": 8.0}
    layers = constructed_weights(D_, C_, **values)
    model = TwoLayerSoftmax(D_, C_, dtype=torch.float64)
    model.load_layers(layers)
    ((read, diff),) = read_off([layers], [lambda c: model(c.tokens())], ctx, D_)
    assert read == pytest.approx(values, rel=1e-12)
    assert diff < 1e-12


def test_two_layer_run_trains_as_a_plain_loop(tmp_path):
    """The trainer's two-layer runs (autograd, per-member clipping, Adam) equal a plain loop of
    torch.optim.Adam on full attention, member by member."""
    config = TrainConfig(kind="two_layer", d=3, C=4, n=12, steps=6, lr=(3e-3, 1e-2), clip=0.05, batch_size=8,
                         seeds=(1, 2), eval_every=3, n_eval=8, checkpoint_every=4, schedule="warmup_cosine",
                         warmup_steps=2, dtype="float64", include_query=False)
    run = train(config, runs_dir=tmp_path, progress=False)
    init = init_weights(config)
    for member in range(2):
        params = [torch.nn.Parameter(w.as_tuple()[i][member].clone()) for w in init for i in range(4)]
        opt = torch.optim.Adam(params, lr=config.lrs[member])
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: learning_rate(config, step))
        for step in range(config.steps):
            tokens, y = _batch(config, step)
            layers = (Weights(*params[:4]), Weights(*params[4:]))
            loss = torch.nn.functional.cross_entropy(full_twin_logits(layers, tokens, 3), y)
            opt.zero_grad()
            loss.backward()
            norm = math.sqrt(sum(float((p.grad**2).sum()) for p in params))
            if norm > config.clip:
                for p in params:
                    p.grad.mul_(config.clip / norm)
            opt.step()
            sched.step()
        trained = [w for layer in run.member_layers(member) for w in layer.as_tuple()]
        for fast, ref in zip(trained, params, strict=True):
            assert torch.allclose(fast, ref.detach(), rtol=1e-9, atol=1e-12)
    again = train(config, runs_dir=tmp_path, progress=False)  # loaded from the cache, layers intact
    assert isinstance(again.weights, tuple) and len(again.weights) == 2
    assert torch.equal(again.model(1)(tokens), run.model(1)(tokens))
    resumed = train(replace(config, steps=6), runs_dir=tmp_path / "r", progress=False, stop_after=4)
    assert len(resumed.history["step"]) < len(run.history["step"])
