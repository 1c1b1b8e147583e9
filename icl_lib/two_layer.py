"""Two layers of softmax self-attention, and the algorithms they might implement (chapter 10).

The paper's conclusion leaves "understanding multi-layer architectures" open. Chapter 10 asks
what two layers of single-head softmax self-attention (residual connections; no MLP, layer norm
or positional encoding) learn on the paper's task.

The model. Tokens h_t are the rows of X, [x_i, onehot(y_i)] for the context, [x_query, 0] last.
Layer 1 updates every token, because layer 2 reads them all; layer 2 is read at the query:

    h_t  <- h_t + sum_j softmax_j(h_t W_Q1^T W_K1 h_j^T / sqrt(d+C)) W_O1 W_V1 h_j     (every t)
    logits = [ h_q + sum_j softmax_j(h_q W_Q2^T W_K2 h_j^T / sqrt(d+C)) W_O2 W_V2 h_j ]_y

with j over the attended tokens: the n context tokens, and the query token too when
`include_query` (the book reads the paper as not, `icl_lib.readings.INCLUDE_QUERY`; no token then
attends to the query, in either layer). The query's own y-entry starts at 0, so the one-layer model
of `icl_lib.models` is this model without layer 2.

The candidates. Write a_i^sigma(x) = softmax_i(c_sigma <x_i, x> / sqrt(d+C)) for the attention of a
point x on the context points (the normaliser also over the query when `include_query`), and
f_sigma(x) = sum_i a_i^sigma(x) y_i, the adaptive kernel average of the labels.

(a) One step of Eq. 1: logits = c_eta f_sigma(x_q) (`icl_lib.baselines.adaptive_kernel_gd_step`).

(b) Two steps of context-adaptive kernel GD, the second on the residuals that a second softmax
    layer can form. Functional GD's second step on the cross-entropy would add
    eta_2 sum_i a_i(x) (y_i - softmax(F_1(x_i))), but without an MLP no layer can form a softmax
    of its input. What layer 2 can read is a linear map of the tokens layer 1 left. Layer 1 with
    the weights of Appendix D, W_Q1^T W_K1 = diag(c_sigma1 I_d, 0) and W_O1 W_V1 = diag(0, -alpha I_C),
    adds -alpha f_sigma1(x_t) to the y-entry of every token: the context tokens then hold the
    residuals y_i - alpha f_sigma1(x_i), as in the construction of Von Oswald et al. (2023) for
    squared loss, and the query holds -alpha f_sigma1(x_q). One value map serves every token, so
    the query's stream and the residuals carry f_sigma1 with the same sign. Layer 2 with
    W_Q2^T W_K2 = diag(c_sigma2 I_d, 0), W_O2 W_V2 = diag(0, c_eta2 I_C) (layer 1 left the x-entries
    as they were, so its attention is again a kernel on the x's) then gives, exactly,

        logits = -alpha f_sigma1(x_q) + c_eta2 sum_i a_i^sigma2(x_q) (y_i - alpha f_sigma1(x_i))

    (plus c_eta2 a_q^sigma2(x_q) (-alpha f_sigma1(x_q)) when the query attends to itself). At
    alpha = 0 it is (a) with (c_eta2, c_sigma2). `residual_steps` is this closed form,
    `constructed_weights` the weights; chapter 10 checks the two against each other in float64.

(c) Two functional GD steps on the cross-entropy, with the adaptive rate and softmax residuals,
    the reference the architecture can only approximate:

        F_1(x) = c_eta1 f_sigma1(x),  logits = F_1(x_q) + c_eta2 sum_i a_i^sigma2(x_q) (y_i - softmax(F_1(x_i)))

    (the step from F = 0 has residuals y_i - 1/C, and the constant drops out of the softmax).

Each candidate's parameters are fitted on search contexts (`fit_candidate`): (a) over Appendix G's
grid, (b) and (c) by L-BFGS from starts built from (a)'s optimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from icl_lib.baselines import adaptive_kernel_gd_step, adaptive_weights
from icl_lib.metrics import per_context_loss
from icl_lib.models import Weights
from icl_lib.tasks import Contexts
from icl_lib.thresholds import OFF_RATIO_C_ETA, OFF_RATIO_C_SIGMA
from icl_lib.validation import check_bool, check_positive_float, check_positive_int
from icl_lib.verdicts import CANNOT_TELL, EQ1_CLOSER, NOT_IDENTIFIABLE, OTHER_CLOSER, compare_with_eq1

__all__ = ["TwoLayerSoftmax", "PARAMETER_NAMES", "constructed_weights", "residual_steps",
           "functional_steps", "CANDIDATES", "Fit", "fit_candidate", "fit_candidates", "full_twin_logits",
           "read_parameters", "Decision", "decide", "NONE", "UNDECIDED", "candidate_predictors",
           "align_with_candidates", "second_layer_gain", "finding_sentence", "read_off", "Comparison",
           "compare"]

PARAMETER_NAMES = ("W_Q1", "W_K1", "W_V1", "W_O1", "W_Q2", "W_K2", "W_V2", "W_O2")


class TwoLayerSoftmax(nn.Module):
    """Two single-head softmax self-attention layers with residual connections, returning the
    query's class logits (..., B, C) (module docstring). With `ensemble=S` every weight has a
    leading axis S and the output is (S, B, C)."""

    def __init__(self, d: int, C: int, *, include_query: bool = False, ensemble: int | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.d = check_positive_int("d", d, minimum=2)
        self.C = check_positive_int("C", C, minimum=2)
        self.include_query = check_bool("include_query", include_query)
        self.ensemble = None if ensemble is None else check_positive_int("ensemble", ensemble)
        D = d + C
        shape = (D, D) if ensemble is None else (ensemble, D, D)
        for name in PARAMETER_NAMES:
            setattr(self, name, nn.Parameter(torch.zeros(shape, dtype=dtype)))

    def load_layers(self, layers: Sequence[Weights]) -> None:
        """Copy the weights of layer 1 and layer 2 in (cast to the model's dtype)."""
        if len(layers) != 2:
            raise ValueError(f"a two-layer model takes two layers of weights, got {len(layers)}")
        with torch.no_grad():
            for layer, weights in zip("12", layers, strict=True):
                for name, value in zip(("W_Q", "W_K", "W_V", "W_O"), weights.as_tuple(), strict=True):
                    getattr(self, name + layer).copy_(value)

    def layers(self) -> tuple[Weights, Weights]:
        """A detached copy of the two layers' weights."""
        return tuple(Weights(*(getattr(self, n + layer).detach().clone() for n in ("W_Q", "W_K", "W_V", "W_O")))
                     for layer in "12")  # type: ignore[return-value]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (..., B, n+1, d+C) -> logits (..., B, C): layer 1 on every token, layer 2 at the query."""
        D = self.d + self.C
        if tokens.shape[-1] != D:
            raise ValueError(f"tokens have width {tokens.shape[-1]}, expected d+C={D}")
        # ensemble weights (S, D, D) act on shared tokens (B, ...) or on each member's own (S, B, ...)
        s = (lambda w: w) if self.ensemble is None else (lambda w: w.unsqueeze(1))
        keys = tokens if self.include_query else tokens[..., :-1, :]
        # the 1/sqrt(D) scale goes into the (D, D) products, not the (n+1) x n scores
        qk1, ov1 = s(self.W_Q1.mT @ self.W_K1 / math.sqrt(D)), s(self.W_O1 @ self.W_V1)
        attn1 = torch.softmax((tokens @ qk1) @ keys.mT, dim=-1)  # (..., B, n+1, M)
        hidden = tokens + attn1 @ (keys @ ov1.mT)  # (..., B, n+1, D)
        query = hidden[..., -1, :]  # (..., B, D)
        keys2 = hidden if self.include_query else hidden[..., :-1, :]
        u = (query.unsqueeze(-2) @ s(self.W_Q2.mT @ self.W_K2 / math.sqrt(D))).squeeze(-2)  # (..., B, D)
        attn2 = torch.softmax((keys2 @ u.unsqueeze(-1)).squeeze(-1), dim=-1)  # (..., B, M)
        update = (attn2.unsqueeze(-2) @ keys2) @ s(self.W_O2 @ self.W_V2).mT  # (..., B, 1, D)
        return (query + update.squeeze(-2))[..., self.d:]


def full_twin_logits(layers: Sequence[Weights], tokens: torch.Tensor, d: int, *, include_query: bool = False) -> torch.Tensor:
    """Plain twin of `TwoLayerSoftmax.forward` for one model (tests only): both layers as full
    attention with the masked scores set to -inf and each layer's own Q, K, V, O products, then
    the query's y-entry. tokens (B, n+1, d+C) -> logits (B, C)."""
    D = tokens.shape[-1]
    h = tokens
    for weights in layers:
        Q, K, V = h @ weights.W_Q.T, h @ weights.W_K.T, h @ weights.W_V.T
        scores = Q @ K.transpose(1, 2) / math.sqrt(D)
        if not include_query:
            scores[:, :, -1] = float("-inf")  # nobody attends to the query token
        h = h + torch.softmax(scores, dim=-1) @ V @ weights.W_O.T
    return h[:, -1, d:]


def _projections(d: int, C: int) -> tuple[torch.Tensor, torch.Tensor]:
    D = d + C
    p_x, p_y = torch.zeros(D, D, dtype=torch.float64), torch.zeros(D, D, dtype=torch.float64)
    p_x[:d, :d] = torch.eye(d, dtype=torch.float64)
    p_y[d:, d:] = torch.eye(C, dtype=torch.float64)
    return p_x, p_y


def constructed_weights(d: int, C: int, *, c_sigma1: float, alpha: float, c_eta2: float,
                        c_sigma2: float) -> tuple[Weights, Weights]:
    """Two-layer weights that compute candidate (b), `residual_steps`, exactly (module docstring):
    layer 1 W_Q1^T W_K1 = diag(c_sigma1 I_d, 0), W_O1 W_V1 = diag(0, -alpha I_C); layer 2
    W_Q2^T W_K2 = diag(c_sigma2 I_d, 0), W_O2 W_V2 = diag(0, c_eta2 I_C). Float64."""
    check_positive_int("d", d, minimum=2)
    check_positive_int("C", C, minimum=2)
    c_sigma1, c_sigma2 = check_positive_float("c_sigma1", c_sigma1), check_positive_float("c_sigma2", c_sigma2)
    c_eta2 = check_positive_float("c_eta2", c_eta2)
    if isinstance(alpha, bool) or not math.isfinite(float(alpha)):
        raise ValueError(f"alpha={alpha!r} must be a finite number")
    p_x, p_y = _projections(d, C)
    layer1 = Weights(W_Q=c_sigma1 * p_x, W_K=p_x.clone(), W_V=p_y.clone(), W_O=-float(alpha) * p_y)
    layer2 = Weights(W_Q=c_sigma2 * p_x, W_K=p_x.clone(), W_V=p_y.clone(), W_O=c_eta2 * p_y)
    return layer1, layer2


def _attention(ctx: Contexts, points: torch.Tensor, c_sigma: torch.Tensor, include_query: bool) -> torch.Tensor:
    """a_i^sigma(x) for x in `points` (B, P, d): (*S, B, P, n), the normaliser over the context (and
    over the query when `include_query`); c_sigma of shape S broadcasts in front."""
    D = ctx.d + ctx.C
    dots = points @ ctx.x.mT  # (B, P, n)
    if include_query:
        dots = torch.cat([dots, points @ ctx.x_query.unsqueeze(-1)], dim=-1)  # the query token's column
    weights = torch.softmax(c_sigma[..., None, None, None] * dots / math.sqrt(D), dim=-1)
    return weights[..., : ctx.n]


def _as_tensor(value: float | torch.Tensor, ctx: Contexts) -> torch.Tensor:
    return torch.as_tensor(value, dtype=ctx.x.dtype, device=ctx.x.device)


def _first_step_everywhere(ctx: Contexts, c_sigma1: torch.Tensor, include_query: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """f_sigma1 at the context points (*S, B, n, C) and at the query (*S, B, C)."""
    y = ctx.y_onehot()
    points = torch.cat([ctx.x, ctx.x_query.unsqueeze(-2)], dim=-2)  # (B, n+1, d)
    f = _attention(ctx, points, c_sigma1, include_query) @ y  # (*S, B, n+1, C)
    return f[..., :-1, :], f[..., -1, :]


def _second_step(ctx: Contexts, c_sigma2: torch.Tensor, residuals: torch.Tensor, query_value: torch.Tensor,
                 include_query: bool) -> torch.Tensor:
    """sum_i a_i^sigma2(x_q) r_i (+ a_q r_q when the query attends to itself): (*S, B, C)."""
    if include_query:
        residuals = torch.cat([residuals, query_value.unsqueeze(-2)], dim=-2)
    a = adaptive_weights(ctx, c_sigma2, include_query=include_query)  # (*S, B, M)
    return (a.unsqueeze(-2) @ residuals).squeeze(-2)


def residual_steps(ctx: Contexts, c_sigma1: float | torch.Tensor, alpha: float | torch.Tensor,
                   c_eta2: float | torch.Tensor, c_sigma2: float | torch.Tensor, *,
                   include_query: bool = False) -> torch.Tensor:
    """Candidate (b): -alpha f_sigma1(x_q) + c_eta2 sum_i a_i^sigma2(x_q) (y_i - alpha f_sigma1(x_i)),
    what `constructed_weights` computes (module docstring); logits (*S, B, C)."""
    c_sigma1, alpha, c_eta2, c_sigma2 = (_as_tensor(v, ctx) for v in (c_sigma1, alpha, c_eta2, c_sigma2))
    f_points, f_query = _first_step_everywhere(ctx, c_sigma1, include_query)
    stream = -alpha[..., None, None] * f_query  # what layer 1 left in the query's y-entry
    residuals = ctx.y_onehot() - alpha[..., None, None, None] * f_points
    return stream + c_eta2[..., None, None] * _second_step(ctx, c_sigma2, residuals, stream, include_query)


def functional_steps(ctx: Contexts, c_eta1: float | torch.Tensor, c_sigma1: float | torch.Tensor,
                     c_eta2: float | torch.Tensor, c_sigma2: float | torch.Tensor, *,
                     include_query: bool = False) -> torch.Tensor:
    """Candidate (c): F_1(x_q) + c_eta2 sum_i a_i^sigma2(x_q) (y_i - softmax(F_1(x_i))) with
    F_1 = c_eta1 f_sigma1 (module docstring); logits (*S, B, C). With `include_query` the second
    step's normaliser also runs over the query, which carries no label and no residual."""
    c_eta1, c_sigma1, c_eta2, c_sigma2 = (_as_tensor(v, ctx) for v in (c_eta1, c_sigma1, c_eta2, c_sigma2))
    f_points, f_query = _first_step_everywhere(ctx, c_sigma1, include_query)
    first = c_eta1[..., None, None] * f_query
    residuals = ctx.y_onehot() - torch.softmax(c_eta1[..., None, None, None] * f_points, dim=-1)
    step = _second_step(ctx, c_sigma2, residuals, torch.zeros_like(first), include_query)
    return first + c_eta2[..., None, None] * step


@dataclass(frozen=True)
class Candidate:
    """A candidate algorithm: its closed form, its parameters' names, which of them are positive
    (fitted in log space), and its name in the chapter and in the results keys."""

    key: str
    name: str
    step: Callable[..., torch.Tensor]
    parameters: tuple[str, ...]
    positive: tuple[bool, ...]

    def predictor(self, values: Sequence[float], *, include_query: bool = False) -> Callable[[Contexts], torch.Tensor]:
        return lambda ctx: self.step(ctx, *values, include_query=include_query)

    def off(self, values: Sequence[float]) -> tuple[float, ...]:
        """`values` moved as Appendix H moves (c_eta, c_sigma) to its "slightly off" values: every
        kernel width c_sigma by OFF_RATIO_C_SIGMA, every other coefficient (rates, alpha) by
        OFF_RATIO_C_ETA: the yardstick of `decide`."""
        return tuple(v * (OFF_RATIO_C_SIGMA if name.startswith("c_sigma") else OFF_RATIO_C_ETA)
                     for name, v in zip(self.parameters, values, strict=True))


CANDIDATES = {
    "a": Candidate("a", "(a) one step of Eq. 1", adaptive_kernel_gd_step, ("c_eta", "c_sigma"), (True, True)),
    "b": Candidate("b", "(b) two adaptive steps, the second on residuals", residual_steps,
                   ("c_sigma1", "alpha", "c_eta2", "c_sigma2"), (True, False, True, True)),
    "c": Candidate("c", "(c) two functional GD steps on the cross-entropy", functional_steps,
                   ("c_eta1", "c_sigma1", "c_eta2", "c_sigma2"), (True, True, True, True)),
}


@dataclass(frozen=True)
class Fit:
    """A candidate's fitted parameters and its mean cross-entropy on the search contexts."""

    candidate: str
    values: tuple[float, ...]
    loss: float

    def named(self) -> dict[str, float]:
        return dict(zip(CANDIDATES[self.candidate].parameters, self.values, strict=True))


def _loss(candidate: Candidate, ctx: Contexts, raw: torch.Tensor, include_query: bool) -> torch.Tensor:
    values = [torch.exp(v) if pos else v for v, pos in zip(raw, candidate.positive, strict=True)]
    return per_context_loss(candidate.step(ctx, *values, include_query=include_query), ctx.y_query).mean()


def _minimise(candidate: Candidate, ctx: Contexts, raw: torch.Tensor, include_query: bool,
              iterations: int) -> torch.Tensor:
    """L-BFGS from `raw` (updated in place); the end point."""
    optimiser = torch.optim.LBFGS([raw], max_iter=iterations, line_search_fn="strong_wolfe", tolerance_grad=1e-8,
                                  tolerance_change=1e-12)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = _loss(candidate, ctx, raw, include_query)
        loss.backward()
        return loss

    optimiser.step(closure)
    return raw.detach().clone()


def fit_candidate(key: str, ctx: Contexts, starts: Sequence[Sequence[float]], *, include_query: bool = False,
                  iterations: int = 60) -> Fit:
    """The candidate's parameters minimising the mean cross-entropy on `ctx` (float64): L-BFGS
    (torch.optim, strong-Wolfe line search) from each start, positive parameters in log space;
    the best end point is kept. Every start is also a candidate answer, so the fit is never
    worse than the best start."""
    candidate = CANDIDATES[key]
    ctx = ctx.to(dtype=torch.float64)
    best: Fit | None = None
    for start in starts:
        if len(start) != len(candidate.parameters):
            raise ValueError(f"a start of candidate ({key}) has {len(start)} values for {candidate.parameters}")
        raw = torch.tensor([math.log(v) if pos else v for v, pos in zip(start, candidate.positive, strict=True)],
                           dtype=torch.float64, requires_grad=True)
        for point in (raw.detach().clone(), _minimise(candidate, ctx, raw, include_query, iterations)):
            with torch.no_grad():
                loss = float(_loss(candidate, ctx, point, include_query))
            values = tuple(float(math.exp(v)) if pos else float(v) for v, pos in zip(point, candidate.positive, strict=True))
            if math.isfinite(loss) and (best is None or loss < best.loss):
                best = Fit(key, values, loss)
    if best is None:
        raise FloatingPointError(f"candidate ({key}): no start gave a finite loss")
    return best


def read_parameters(layers: Sequence[Weights], d: int) -> dict[str, float]:
    """A trained two-layer model's effective parameters in candidate (b)'s terms, read as chapter 5
    reads c_eta and c_sigma (`icl_lib.extraction`): each layer's c_sigma from the x-block of
    W_Q^T W_K, its output scale from the y-block of W_O W_V after the column shift; layer 1's
    output scale is -alpha."""
    from icl_lib.extraction import extract_c_eta_c_sigma

    (scale1, c_sigma1), (c_eta2, c_sigma2) = (extract_c_eta_c_sigma(w, d) for w in layers)
    return {"c_sigma1": float(c_sigma1), "alpha": -float(scale1), "c_eta2": float(c_eta2), "c_sigma2": float(c_sigma2)}


def read_off(layers_per_seed: Sequence[Sequence[Weights]], models: Sequence[Callable[[Contexts], torch.Tensor]],
             ctx: Contexts, d: int, *, include_query: bool = False) -> list[tuple[dict[str, float], float]]:
    """Each seed's parameters read off its weights (`read_parameters`), with the preds diff on `ctx`
    between its model and candidate (b) at those values: how much of the model the reading
    explains."""
    from icl_lib.metrics import alignment

    rows = []
    for layers, model in zip(layers_per_seed, models, strict=True):
        values = read_parameters(layers, d)
        step = CANDIDATES["b"].predictor(tuple(values[name] for name in CANDIDATES["b"].parameters),
                                         include_query=include_query)
        rows.append((values, alignment(model, step, ctx).preds_diff))
    return rows


NONE, UNDECIDED = "none", "cannot tell"


@dataclass(frozen=True)
class Decision:
    """Which candidate the trained models implement at one d (`decide`): `implemented` is a candidate
    key, NONE or UNDECIDED; `closest` the candidate with the lowest mean preds diff; `outcomes` the
    comparison of `closest` with each other candidate (`icl_lib.verdicts.compare_with_eq1`, with
    `closest` in Eq. 1's place); `within` whether the models are closer to the named candidate than
    that candidate is to itself at slightly-off values."""

    implemented: str
    closest: str
    outcomes: dict[str, str]
    within: bool
    reason: str

    def outcome_text(self, key: str) -> str:
        """The comparison of `closest` with candidate `key` in the candidates' names (the outcomes
        are `compare_with_eq1`'s, whose words name Eq. 1 for `closest`)."""
        outcome = self.outcomes[key]
        return {EQ1_CLOSER: f"{_name(self.closest)} closer", OTHER_CLOSER: f"{_name(key)} closer"}.get(outcome, outcome)


def decide(per_candidate: dict[str, dict[str, Sequence[float]]], apart: dict[tuple[str, str], float],
           off: dict[str, dict[str, float]]) -> Decision:
    """The rule of chapter 10. `per_candidate[k][metric]` holds each seed's alignment with candidate
    k (preds_diff, cos_sim); `apart[(k, j)]` the preds diff between candidates k and j themselves;
    `off[k]` candidate k's alignment with itself at `Candidate.off` values (the yardstick).

    1. The closest candidate (lowest mean preds diff) must be closer than every other, seed by seed
       (paired 95% intervals): where some other is as close or closer, the seeds cannot tell
       (UNDECIDED). A candidate that coincides with it (the two are closer to each other than the
       models are to either) is no rival: of such a group the one with the fewest parameters is
       named, since the others add nothing the models show.
    2. The named candidate is *implemented* when the models are closer to it than it is to itself at
       slightly-off values: mean preds diff below the yardstick's, mean cos sim above it (where
       defined). Otherwise no candidate is (NONE), and the closest is still reported.
    """
    if len(per_candidate) < 2:
        raise ValueError(f"need two or more candidates, got {list(per_candidate)}")
    mean_diff = {k: float(sum(v["preds_diff"]) / len(v["preds_diff"])) for k, v in per_candidate.items()}
    closest = min(mean_diff, key=mean_diff.get)
    outcomes = {k: compare_with_eq1(per_candidate[closest], per_candidate[k],
                                    steps_apart=apart.get((closest, k), apart.get((k, closest))))[0]
                for k in per_candidate if k != closest}
    rivals = [k for k, outcome in outcomes.items() if outcome in (CANNOT_TELL, OTHER_CLOSER)]
    if rivals:
        return Decision(UNDECIDED, closest, outcomes, False,
                        f"{_name(closest)} is closest, but the seeds cannot tell it from "
                        + ", ".join(_name(k) for k in rivals))
    group = [closest] + [k for k, outcome in outcomes.items() if outcome == NOT_IDENTIFIABLE]
    named = min(group, key=lambda k: (len(CANDIDATES[k].parameters), k))
    values = per_candidate[named]
    cos = sum(values["cos_sim"]) / len(values["cos_sim"])
    within = (sum(values["preds_diff"]) / len(values["preds_diff"]) < off[named]["preds_diff"]
              and not cos <= off[named]["cos_sim"])  # a NaN cos sim (d = 2) leaves preds diff to decide
    coincide = f" ({', '.join(_name(k) for k in group if k != named)} coincide with it here)" if len(group) > 1 else ""
    if within:
        return Decision(named, closest, outcomes, True, f"closer than every other candidate{coincide}, and closer "
                        "than the candidate is to itself at slightly-off values")
    lead = (f"{_name(named)} is closest{coincide}" if named == closest else
            f"{_name(closest)} is closest and {_name(named)}, the simplest of those that coincide with it, is named")
    return Decision(NONE, closest, outcomes, False,
                    f"{lead}, but the models are farther from {_name(named)} than it is from itself at "
                    "slightly-off values")


def _name(key: str) -> str:
    return f"({key})"


def fit_candidates(search: Contexts, points: int, *, include_query: bool = False) -> dict[str, Fit]:
    """Every candidate fitted on `search` (chapter 10's method): (a) over Appendix G's grid for d with
    `points` per axis, then refined by L-BFGS; (b) from (a)'s optimum with alpha = -1, 0, 1 (alpha = 0
    is (a) itself, so (b) fits at least as well); (c) from (a)'s optimum as the first step, with a
    second step of rate 1 or (a)'s c_eta at (a)'s width."""
    from icl_lib.baselines import adaptive_grid, grid_search_adaptive

    search = search.to(dtype=torch.float64)
    c_eta, c_sigma, _ = grid_search_adaptive(search, *adaptive_grid(search.d, points), include_query=include_query)
    a = fit_candidate("a", search, [(c_eta, c_sigma)], include_query=include_query)
    c_eta, c_sigma = a.values
    b = fit_candidate("b", search, [(c_sigma, alpha, c_eta, c_sigma) for alpha in (-1.0, 0.0, 1.0)],
                      include_query=include_query)
    c = fit_candidate("c", search, [(c_eta, c_sigma, rate, c_sigma) for rate in (1.0, c_eta)],
                      include_query=include_query)
    return {"a": a, "b": b, "c": c}


def candidate_predictors(fits: dict[str, Fit], *, include_query: bool = False) -> dict[str, Callable[[Contexts], torch.Tensor]]:
    """Each fitted candidate as a predictor (Contexts -> logits)."""
    return {k: CANDIDATES[k].predictor(fit.values, include_query=include_query) for k, fit in fits.items()}


def align_with_candidates(models: Sequence[Callable[[Contexts], torch.Tensor]], fits: dict[str, Fit], ctx: Contexts, *,
                          include_query: bool = False):
    """What `decide` takes, on `ctx`: each model's alignment with each fitted candidate
    ({k: {metric: [per model]}}), the preds diff between every two candidates, and each candidate's
    alignment with itself at slightly-off values (`Candidate.off`)."""
    from icl_lib.comparison import align_seeds
    from icl_lib.metrics import alignment

    steps = candidate_predictors(fits, include_query=include_query)
    per_candidate = align_seeds(models, steps, ctx)
    keys = list(steps)
    apart = {(k, j): alignment(steps[k], steps[j], ctx).preds_diff for i, k in enumerate(keys) for j in keys[i + 1:]}
    off = {}
    for k, fit in fits.items():
        moved = CANDIDATES[k].predictor(CANDIDATES[k].off(fit.values), include_query=include_query)
        result = alignment(moved, steps[k], ctx)
        off[k] = {"preds_diff": result.preds_diff, "cos_sim": result.cos_sim}
    return per_candidate, apart, off


def second_layer_gain(one_layer: Sequence[float], two_layer: Sequence[float], *,
                      min_gain: float) -> tuple[float, float, float, str]:
    """What the second layer adds, seed by seed (the same seeds and batches): the held-out loss of the
    one-layer model minus the two-layer model's, its paired 95% interval, and its label
    (`icl_lib.beyond.effect_label` against `min_gain` x the one-layer model's mean loss): "matters",
    "does not matter", "hurts" or "cannot tell"."""
    from icl_lib.beyond import effect_label
    from icl_lib.statistics import paired_interval

    mean, low, high = paired_interval([a - b for a, b in zip(one_layer, two_layer, strict=True)])
    threshold = min_gain * sum(one_layer) / len(one_layer)
    return mean, low, high, effect_label(mean, low, high, threshold=threshold)


def finding_sentence(d: int, decision: Decision, gain: tuple[float, float, float, str], fits: dict[str, Fit]) -> str:
    """Chapter 10's finding at d in words, from its numbers: what the second layer adds (`second_layer_gain`)
    and which candidate the two-layer models implement (`decide`)."""
    mean, low, high, label = gain
    interval = f"95% interval {low:+.4f} to {high:+.4f}"
    added = {"matters": f"a second layer lowers the held-out loss by {mean:.4f} ({interval})",
             "hurts": f"a second layer raises the held-out loss by {-mean:.4f} ({interval})",
             "does not matter": f"a second layer changes the held-out loss by {mean:+.4f}, too little to matter "
                                f"({interval})",
             "cannot tell": f"the seeds cannot tell whether a second layer changes the held-out loss "
                            f"({mean:+.4f}, {interval})"}[label]
    if decision.implemented in CANDIDATES:
        fit = fits[decision.implemented]
        values = ", ".join(f"{name} = {v:.3g}" for name, v in fit.named().items())
        what = f"the two-layer models implement {CANDIDATES[decision.implemented].name} ({values})"
    elif decision.implemented == NONE:
        what = f"no candidate describes the two-layer models: {decision.reason}"
    else:
        what = f"which candidate the two-layer models implement is not decided: {decision.reason}"
    room = fits["a"].loss - fits["b"].loss
    return (f"At d = {d}, {added}; {what}. Candidate (b) itself fits the search contexts {room:.4f} better "
            "than one step of Eq. 1.")


@dataclass(frozen=True)
class Comparison:
    """Chapter 10's evidence at one d (`compare`): held-out losses of each seed's one-layer and
    two-layer model and of each fitted candidate; the two-layer models' alignment with each
    candidate ({k: {metric: [per seed]}}, Section 4's three metrics), the preds diff between
    candidates (`apart`) and each candidate's alignment with itself slightly off (`off`); the rule's
    decision; and what the second layer adds (`second_layer_gain`)."""

    d: int
    one_layer: list[float]
    two_layer: list[float]
    candidates: dict[str, float]
    alignment: dict[str, dict[str, list[float]]]
    apart: dict[tuple[str, str], float]
    off: dict[str, dict[str, float]]
    decision: Decision
    gain: tuple[float, float, float, str]
    fits: dict[str, Fit]

    def finding(self, read: Sequence[tuple[dict[str, float], float]] = ()) -> str:
        """`finding_sentence`, and with `read` (`read_off` of the same seeds) what candidate (b) at each
        seed's own read-off values says about it, beside (b)'s yardstick (itself slightly off)."""
        text = finding_sentence(self.d, self.decision, self.gain, self.fits)
        if not read:
            return text
        ranges = {name: (min(v[name] for v, _ in read), max(v[name] for v, _ in read)) for name in ("alpha", "c_eta2")}
        shown = ", ".join(f"{_SYMBOL[name]} from {lo:.3g} to {hi:.3g}" for name, (lo, hi) in ranges.items())
        return (f"{text} Read off the weights as (b) ({shown} over the seeds), (b) at each seed's own values is "
                f"within a preds diff of {max(diff for _, diff in read):.3f} of that seed, against "
                f"{self.off['b']['preds_diff']:.3f} for (b) slightly off its fitted values.")

    def metrics(self) -> dict[str, float]:
        """The results keys of chapter 10 at this d, prefixed `two_layer.d{d}.`: held-out losses
        (`loss.{one_layer,two_layer,a,b,c}`, means over seeds), the mean alignment with each
        candidate (`preds_diff.k`, `cos_sim.k`, `model_diff.k`), the gain with its interval
        (`gain`, `gain_low`, `gain_high`) and each fitted value (`fit.k.name`)."""
        key = f"two_layer.d{self.d}"
        values = {f"{key}.loss.one_layer": _mean(self.one_layer), f"{key}.loss.two_layer": _mean(self.two_layer)}
        values |= {f"{key}.loss.{k}": v for k, v in self.candidates.items()}
        values |= {f"{key}.{metric}.{k}": _mean(per[metric]) for k, per in self.alignment.items()
                   for metric in ("preds_diff", "cos_sim", "model_diff")}
        values |= dict(zip((f"{key}.gain", f"{key}.gain_low", f"{key}.gain_high"), self.gain[:3], strict=True))
        values |= {f"{key}.fit.{k}.{name}": v for k, fit in self.fits.items() for name, v in fit.named().items()}
        return values


_SYMBOL = {"alpha": "α", "c_eta2": "c_η2"}


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values))


def compare(d: int, two_layer_models: Sequence[Callable[[Contexts], torch.Tensor]],
            one_layer_models: Sequence[Callable[[Contexts], torch.Tensor]], fits: dict[str, Fit], held: Contexts,
            align: Contexts, *, include_query: bool = False, min_gain: float) -> Comparison:
    """Everything chapter 10 shows at d: losses on `held`, alignment on `align` (other contexts),
    the decision (`decide`) and the gain of the second layer (`second_layer_gain`). The two model
    lists hold the same seeds in the same order."""
    from icl_lib.comparison import held_out_loss

    if len(two_layer_models) != len(one_layer_models):
        raise ValueError(f"{len(two_layer_models)} two-layer models against {len(one_layer_models)} one-layer models")
    one = [held_out_loss(m, held) for m in one_layer_models]
    two = [held_out_loss(m, held) for m in two_layer_models]
    candidates = {k: held_out_loss(p, held) for k, p in candidate_predictors(fits, include_query=include_query).items()}
    per_candidate, apart, off = align_with_candidates(two_layer_models, fits, align, include_query=include_query)
    return Comparison(d, one, two, candidates, per_candidate, apart, off, decide(per_candidate, apart, off),
                      second_layer_gain(one, two, min_gain=min_gain), fits)
