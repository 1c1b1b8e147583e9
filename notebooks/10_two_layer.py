# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Beyond the paper: what a two-layer softmax transformer learns
#
# **Everything in this chapter goes beyond the paper.** Its conclusion (Section 6) names the first
# challenge it leaves open:
#
# > While important challenges remain—such as understanding multi-layer architectures and the role
# > of MLPs—we believe progress will come by systematically relaxing simplifying assumptions, one
# > step at a time.
#
# For regression, Von Oswald et al. (2023) showed that $k$ layers of linear self-attention can
# implement, and when trained do implement, $k$ steps of GD. This chapter asks the same of the
# paper's classification task, one assumption relaxed: two layers of softmax self-attention instead
# of one, still without MLP. It writes down three candidate algorithms, builds two-layer weights that
# compute one of them exactly, trains two-layer models beside one-layer ones on the same batches,
# and decides by a tested rule which candidate the trained models implement, if any.
#
# **What this build finds**, each computed below:
#
# ```{glue:} ch10_glance
# ```

# %% tags=["parameters", "hide-input"]
profile = "book"  # smoke (tests) | book (published) | paper
results_path = (
    None  # key numbers; None: results/10_two_layer.json in the book's tree
)
runs_dir = None  # trained runs, cached by full config; None: runs/ in the book
seed = 0  # first seed of the models, and seed of the data sets
dims = None  # dimensions d to train; None: the profile's (book: [2, 3, 5])
C = 5  # number of classes
n = 100  # context points per context
n_seeds = None  # seeds per d (two or more); None: the profile's (book: 3)
steps = None  # training steps; None: the profile's (book: 3000)
batch_size = None  # contexts per step; None: the profile's (book: 256)
contexts = None  # search and held-out contexts per d; None: profile's
min_gain = None  # the 2nd layer matters: gain above this × loss; None: 0.01
device = "auto"  # cpu | cuda | auto
scheduler = None  # None: train here; "local[:K]" or a Dask address (tcp://...)

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import torch

from icl_lib import paper, plotting, two_layer
from icl_lib.analysis_cache import ContextSpec, cached_call
from icl_lib.chapter import record_results, say, set_up
from icl_lib.chapter_runs import two_layer as two_layer_runs
from icl_lib.comparison import spread
from icl_lib.metrics import max_prob_deviation
from icl_lib.readings import INCLUDE_QUERY
from icl_lib.results import Table
from icl_lib.streams import contexts_for
from icl_lib.sweep import train_each
from icl_lib.thresholds import CONSTRUCTION_TOLERANCE
from icl_lib.training import budget_against_paper

# %% tags=["hide-input"]
ch = set_up("10_two_layer", globals())
prof, runs_dir, device, cache = ch.profile, ch.runs_dir, ch.device, ch.cache_dir
dims, seeds, contexts, min_gain = ch.dims, ch.n_seeds, ch.contexts, ch.min_gain
configs = two_layer_runs(
    prof,
    dims=dims,
    C=C,
    n=n,
    seed=seed,
    n_seeds=seeds,
    steps=steps,
    batch_size=batch_size,
)
budget = budget_against_paper(
    [c for (_, k), c in configs.items() if k == "two_layer"], paper.SOFTMAX_STEPS
)
print(f"profile={profile}: d in {dims}, C = {C}, n = {n}, device {device};")
print(f"{seeds} seeds per d, {budget}")

# %% [markdown]
# ## The model
#
# Tokens are as in chapter 4: $[\mathbf{x}_i, \mathbf{y}_i]$ for the context, $[\mathbf{x}_{query},
# \mathbf{0}]$ last, and, in the book's reading of the paper, no token attends to the query token
# (`icl_lib.readings`). Layer 1 updates every token, because layer 2 reads them all; layer 2 is read
# at the query, and residual connections carry each layer's input to its output:
#
# $$
# \mathbf{h}_t = \mathbf{e}_t + \sum_{j=1}^n \text{softmax}_j\Big(\frac{\mathbf{e}_t W_{Q1}^\top
# W_{K1} \mathbf{e}_j^\top}{\sqrt{d+C}}\Big) W_{O1} W_{V1} \mathbf{e}_j,
# $$
#
# $$
# \hat{\mathbf{y}}_{query} = \text{softmax}\Big\{\Big[\mathbf{h}_q + \sum_{j=1}^n \text{softmax}_j\Big(
# \frac{\mathbf{h}_q W_{Q2}^\top W_{K2} \mathbf{h}_j^\top}{\sqrt{d+C}}\Big) W_{O2} W_{V2}
# \mathbf{h}_j\Big]_y\Big\}.
# $$
#
# There is no MLP, layer norm or positional encoding. Without layer 2 this is chapter 4's model
# (the query's $y$-entry starts at 0). The one-layer model is trained beside it as the control.

# %% [markdown]
# ## Three candidate algorithms
#
# Write $a_i^{\sigma}(\mathbf{x}) = \text{softmax}_i(c_\sigma \mathbf{x}_i^\top \mathbf{x} /
# \sqrt{d+C})$ for the attention of a point on the context, and $f_\sigma(\mathbf{x}) = \sum_i
# a_i^\sigma(\mathbf{x}) \mathbf{y}_i$ for the kernel average of the labels. The candidates, each
# written in `icl_lib.two_layer` with its derivation:
#
# - **(a) one step of Eq. 1**, refitted: logits $c_\eta f_\sigma(\mathbf{x}_{query})$.
# - **(b) two adaptive kernel steps, the second on residuals.** Functional GD's second step would
#   use the residuals $\mathbf{y}_i - \text{softmax}(F_1(\mathbf{x}_i))$, but no attention layer can
#   form a softmax of its input. What layer 2 can read is a linear map of the tokens layer 1 left.
#   Layer 1 with Appendix D's weights and output scale $-\alpha$ turns every context label into the
#   residual $\mathbf{y}_i - \alpha f_{\sigma_1}(\mathbf{x}_i)$, as in Von Oswald et al.'s
#   construction for squared loss. One value map serves every token, so the query's own stream
#   receives $-\alpha f_{\sigma_1}(\mathbf{x}_{query})$ with the same sign. Layer 2 then adds a
#   kernel step on the residuals:
#
#   $$
#   \text{logits} = -\alpha f_{\sigma_1}(\mathbf{x}_{query}) + c_{\eta 2} \sum_i
#   a_i^{\sigma_2}(\mathbf{x}_{query}) \big(\mathbf{y}_i - \alpha f_{\sigma_1}(\mathbf{x}_i)\big).
#   $$
#
#   At $\alpha = 0$ it is (a).
# - **(c) two functional GD steps on the cross-entropy**, with softmax residuals and the adaptive
#   rate: $F_1 = c_{\eta 1} f_{\sigma_1}$, then logits $F_1(\mathbf{x}_{query}) + c_{\eta 2}
#   \sum_i a_i^{\sigma_2}(\mathbf{x}_{query})(\mathbf{y}_i - \text{softmax}(F_1(\mathbf{x}_i)))$.
#   This is the reference: the architecture can only approximate it.

# %% [markdown]
# ## The construction of (b), checked in float64
#
# As chapter 2 does for one layer: two-layer weights built from (b)'s closed form
# (`two_layer.constructed_weights`), run through the model, against the closed form and against a
# plain full-attention twin. The parameter values are arbitrary and of both signs of $\alpha$; the
# check is an identity, so the tolerance is float64's, not a statistical one. The method, shown:

# %%
proof = contexts_for(
    "proofs",
    prof.n_proof_contexts,
    n=n,
    d=dims[0],
    C=C,
    seed=seed,
    dtype=torch.float64,
)
deviation = {}
for alpha in (-0.8, 0.6):
    values = dict(c_sigma1=20.0, alpha=alpha, c_eta2=6.0, c_sigma2=9.0)
    layers = two_layer.constructed_weights(dims[0], C, **values)
    model = two_layer.TwoLayerSoftmax(
        dims[0], C, include_query=INCLUDE_QUERY, dtype=torch.float64
    )
    model.load_layers(layers)
    built, closed = (
        model(proof.tokens()),
        two_layer.residual_steps(proof, *values.values()),
    )
    full = two_layer.full_twin_logits(layers, proof.tokens(), dims[0])
    deviation[f"α = {alpha}: model vs closed form"] = max_prob_deviation(
        built, closed
    )
    deviation[f"α = {alpha}: model vs full attention"] = max_prob_deviation(
        built, full
    )
worst = max(deviation.values())
assert worst < CONSTRUCTION_TOLERANCE, (
    deviation
)  # an identity: guards the code itself

# %% tags=["hide-input"]
say("ch10_construction", f"{worst:.1e}")
Table.from_records(
    (
        {"comparison": k, "largest probability difference": v}
        for k, v in deviation.items()
    ),
    formats={"largest probability difference": ".1e"},
)

# %% [markdown]
# On {glue:text}`ch10_n_proof` contexts, the largest difference of predicted probabilities is
# **{glue:text}`ch10_construction`**: two softmax layers compute (b) exactly.

# %% tags=["hide-input"]
say("ch10_n_proof", f"{prof.n_proof_contexts:,}")

# %% [markdown]
# ## Training
#
# Both models train with chapter 4's book schedule (Adam, warm-up and cosine decay from 3e-2,
# clipping 1.0), one ensemble member per seed, on the same batches. Layer 1 attends from every
# token, $n+1$ query rows per context instead of one, so the book's batches hold 256 contexts
# instead of chapter 4's 1024 (`benchmarks/README.md` gives the cost of a step). Look at whether
# the two-layer curves (solid) end below the one-layer ones (dotted, same colour for the same
# seed), and how far both stay above candidate (b)'s loss (dashed).

# %% tags=["hide-input"]
runs = train_each(configs, runs_dir=runs_dir, scheduler=scheduler, device=device)
kinds = ("two_layer", "softmax")
search = {
    d: ContextSpec("search", contexts, n=n, d=d, C=C, seed=seed) for d in dims
}
fits = {
    d: cached_call(
        two_layer.fit_candidates,
        search[d],
        prof.grid_points,
        include_query=INCLUDE_QUERY,
        cache_dir=cache,
    )
    for d in dims
}

# %% mystnb={"figure": {"caption": "Evaluation loss through training, per d: each seed's two-layer model (solid) and its one-layer control trained on the same batches (dotted, same colour); the dashed line is candidate (b)'s loss at its fitted values on the search contexts.", "name": "fig-two-layer-training"}, "image": {"alt": "One panel per dimension d: evaluation loss against training step, a solid and a dotted line per seed for the two-layer and one-layer models, and a dashed horizontal line for candidate (b)."}} tags=["hide-input"]
plotting.plot_two_layer_training(
    {
        d: {k: [runs[(d, k)].loss_curve(m) for m in range(seeds)] for k in kinds}
        for d in dims
    },
    reference={d: fits[d]["b"].loss for d in dims},
    reference_label="(b) fitted, on its search contexts",
)
plt.show()

# %% [markdown]
# ## Fitting the candidates
#
# Each candidate's parameters minimise its mean cross-entropy on {glue:text}`ch10_contexts` search
# contexts per d: (a) over Appendix G's grid, then refined by L-BFGS; (b) and (c) by L-BFGS
# from starts built from (a)'s optimum (`two_layer.fit_candidates`; (b) starts at $\alpha = 0$
# among others, so it fits at least as well as (a)). The comparison below uses other contexts:
# as many held-out ones for the losses, and {glue:text}`ch10_n_align` alignment contexts for
# Section 4's metrics (`two_layer.compare`).


# %% tags=["hide-input"]
def contexts_of(purpose, count):
    return {
        d: contexts_for(
            purpose, count, n=n, d=d, C=C, seed=seed, dtype=torch.float64
        )
        for d in dims
    }


held, align = contexts_of("heldout", contexts), contexts_of("align", prof.n_align)
models = {
    (d, k): [runs[(d, k)].predictor(m) for m in range(seeds)]
    for d in dims
    for k in kinds
}
compared = {
    d: two_layer.compare(
        d,
        models[(d, "two_layer")],
        models[(d, "softmax")],
        fits[d],
        held[d],
        align[d],
        include_query=INCLUDE_QUERY,
        min_gain=min_gain,
    )
    for d in dims
}
say("ch10_contexts", f"{contexts:,}")
say("ch10_n_align", f"{prof.n_align:,}")

# %% [markdown]
# The held-out losses, the models' as mean and range over seeds. Look at how much of the gap
# between (a) and (b) the two-layer models close.

# %% tags=["hide-input"]
Table.from_records(
    {
        "d": d,
        "one-layer models": spread(c.one_layer),
        "two-layer models": spread(c.two_layer),
        **{f"({k})": v for k, v in c.candidates.items()},
    }
    for d, c in compared.items()
)

# %% [markdown]
# The fitted values: (b)'s $\alpha$ says whether the second layer works on residuals ($\alpha > 0$)
# or not ($\alpha \approx 0$ is (a)).

# %% tags=["hide-input"]
Table.from_records(
    {
        "d": d,
        "candidate": f"({k})",
        "search loss": fit.loss,
        "fitted values": ", ".join(
            f"{name} = {v:.4g}" for name, v in fit.named().items()
        ),
    }
    for d in dims
    for k, fit in fits[d].items()
)

# %% [markdown]
# ## Which candidate do the two-layer models implement?
#
# Every two-layer seed against every fitted candidate, by Section 4's metrics (as in chapters 3
# and 4). The rule (`two_layer.decide`, tested on cases where each outcome must come out): the
# closest candidate must be closer than every other on paired 95% intervals over seeds; a
# candidate that coincides with it is no rival, and of such a group the one with fewest parameters
# is named; and the models must be closer to the named candidate than it is to itself at Appendix
# H's "slightly off" values. Look, per d, for one column whose dots sit lowest (preds diff) and
# highest (cos sim).

# %% mystnb={"figure": {"caption": "Each two-layer seed against each fitted candidate, per d: preds diff (lower is closer) and cos sim of the sensitivities (higher is closer), one dot per seed.", "name": "fig-two-layer-candidates"}, "image": {"alt": "Dot plots per dimension d of preds diff and cosine similarity between the trained two-layer models and candidates (a), (b) and (c), one dot per seed."}} tags=["hide-input"]
plotting.plot_controls(
    {d: {f"({k})": v for k, v in c.alignment.items()} for d, c in compared.items()}
)
plt.show()

# %% [markdown]
# The rule's outcome per d, with each comparison it rests on:

# %% tags=["hide-input"]
Table.from_records(
    {
        "d": d,
        "implemented": c.decision.implemented,
        "closest": f"({c.decision.closest})",
        **{f"vs ({k})": c.decision.outcome_text(k) for k in c.decision.outcomes},
        "why": c.decision.reason,
    }
    for d, c in compared.items()
)

# %% [markdown]
# ## What the second layer adds
#
# The held-out loss of each seed's one-layer model minus its two-layer model's (same seed, same
# batches), with the paired 95% interval over seeds. It *matters* when the whole interval lies above
# {glue:text}`ch10_min_gain` of the one-layer loss, as chapter 9 decides what $\eta(X)$ buys.

# %% tags=["hide-input"]
say("ch10_min_gain", f"{min_gain:.0%}")
Table.from_records(
    {
        "d": d,
        "gain": c.gain[0],
        "95% interval": f"[{c.gain[1]:+.4f}, {c.gain[2]:+.4f}]",
        "label": c.gain[3],
        "(a) − (b), for scale": c.candidates["a"] - c.candidates["b"],
    }
    for d, c in compared.items()
)

# %% [markdown]
# ## The trained weights, read as candidate (b)
#
# Where (b) gives the weights a meaning, they can be read as chapter 5 reads $(c_\eta, c_\sigma)$:
# each layer's width from the $x$-block of $W_Q^\top W_K$, its output scale from the column-shifted
# $y$-block of $W_O W_V$; layer 1's scale is $-\alpha$ (`two_layer.read_off`). Beside each seed's
# values, the preds diff between the model and (b) at those values; below them, (b) as fitted.

# %% tags=["hide-input"]
read = {
    d: two_layer.read_off(
        [runs[(d, "two_layer")].member_layers(m) for m in range(seeds)],
        models[(d, "two_layer")],
        align[d],
        d,
        include_query=INCLUDE_QUERY,
    )
    for d in dims
}
seeds_read = [
    {"d": d, "model": f"seed {m}", **values, "preds diff": diff}
    for d in dims
    for m, (values, diff) in enumerate(read[d])
]
fitted = [
    {"d": d, "model": "(b) fitted", **fits[d]["b"].named(), "preds diff": None}
    for d in dims
]
Table.from_records(seeds_read + fitted, float_format=".4g")


# %% [markdown]
# ## Findings
#
# In words, generated from the numbers above:

# %% tags=["hide-input"]
findings = {d: c.finding(read[d]) for d, c in compared.items()}
glance = Table.from_records({"d": d, "finding": t} for d, t in findings.items())
say("ch10_glance", glance)
glance


# %% tags=["hide-input"]
metrics = {k: v for c in compared.values() for k, v in c.metrics().items()}
metrics |= {
    f"two_layer.d{d}.read.preds_diff_max": max(diff for _, diff in read[d])
    for d in dims
}
record_results(
    ch,
    settings={
        "dims": dims,
        "C": C,
        "n": n,
        "seed": seed,
        "n_seeds": seeds,
        "contexts": contexts,
        "min_gain": min_gain,
        "include_query": INCLUDE_QUERY,
        "device": device,
        "budget": budget,
        "runs": {f"{kind} d={d}": c.to_dict() for (d, kind), c in configs.items()},
    },
    metrics=metrics | {"two_layer.construction_max_diff": worst},
    findings={
        f"d{d}.{what}": value
        for d, c in compared.items()
        for what, value in (
            ("algorithm", c.decision.implemented),
            ("second_layer", c.gain[3]),
        )
    },
    pages={"two_layer.md": "".join(f"- {text}\n" for text in findings.values())},
)
