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
# # Linear self-attention learns one step of gradient descent
#
# Prop. 3.1 says linear self-attention *can* implement one GD step on the cross-entropy loss
# (chapter 2 checks the construction). Section 4 and Appendix E (Figures 3 and 5) show that a
# trained linear self-attention *does*: its predictions and their sensitivities to the query align
# with one GD step whose learning rate is found by a line search.
#
# > The results show high similarity between a trained linear SA and a GD step with η found
# > through linear search [...] The low values of the prediction and sensitivity differences, the
# > cosine similarity converging to 1, and the similar per-sample metrics suggest that a
# > single-layer linear transformer does learn to solve linear classification task by doing one
# > step of GD.
#
# This chapter trains linear self-attention for C = 5, n = 100 and each d, line-searches η of the
# GD step, and compares the two. It also reads the learning rate η off the trained weights.
#
# The query token is a row of $X$ (Section 2.2) and Appendix G trains "without the causal mask",
# so in the architecture as written the query attends to itself; this chapter keeps that. For
# linear attention the reading cannot change which step the model is compared with: the query's
# own term carries the $y$-entry $\mathbf{0}$, so Appendix B's construction of the GD step is the same
# either way. For softmax attention it changes Eq. 1's normaliser, and chapters 4–9 follow the
# evidence of chapter 5 there.

# %% tags=["parameters", "hide-input"]
profile = "book"  # smoke (tests) | book (published) | paper (200k steps, App. G)
results_path = None  # key numbers; None: results/03_linear_vs_gd.json in the book
runs_dir = None  # trained runs, cached by full config; None: runs/ in the book
seed = 0  # seed of the initialisation and of the search, alignment, held-out sets
dims = None  # dimensions d to train; None: the profile's (book: [2, 3, 5, 10])
C = 5  # number of classes
n = 100  # context points per context
steps = None  # training steps; None: the profile's (book: 10,000, paper: 200,000)
lr = None  # learning rate; None: the profile's (book and paper: 5e-5, constant)
batch_size = None  # contexts per step; None: the profile's (book 1024, paper 2048)
include_query = True  # the query attends to itself, as in Section 2.2 (see below)
control_seeds = (
    None  # seeds per d behind the verdict; None: the profile's (book: 3)
)
device = "auto"  # cpu | cuda | auto
scheduler = None  # None: train here; "local[:K]" or a Dask address (tcp://...)

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from icl_lib import paper
from icl_lib.baselines import gd_step, line_search_gd, log_grid
from icl_lib.chapter import record_results, set_up
from icl_lib.chapter_runs import linear_controls, linear_vs_gd
from icl_lib.extraction import effective_eta
from icl_lib.metrics import (
    alignment,
    alignment_through_training,
    per_context_metrics,
)
from icl_lib.plotting import (
    plot_alignment_through_training,
    plot_per_context_scatter,
    plot_search_curve,
)
from icl_lib.results import Table, comparison_table
from icl_lib.streams import contexts_for
from icl_lib.sweep import train_each
from icl_lib.thresholds import OFF_RATIO_C_ETA
from icl_lib.training import budget_against_paper
from icl_lib.verdicts import alignment_verdict, verdict_table

# %% tags=["hide-input"]
ch = set_up("03_linear_vs_gd", globals())
prof, runs_dir, device = ch.profile, ch.runs_dir, ch.device
dims, n_seeds = ch.dims, ch.control_seeds
chapter = dict(
    dims=dims,
    C=C,
    n=n,
    seed=seed,
    steps=steps,
    lr=lr,
    batch_size=batch_size,
    include_query=include_query,
)
configs = linear_vs_gd(prof, **chapter)
control_configs = (
    linear_controls(prof, control_seeds=n_seeds, **chapter) if n_seeds > 1 else {}
)
cfg = configs[dims[0]]
print(
    f"profile={profile}: d in {dims}, "
    f"{cfg.steps} steps of {cfg.batch_size} contexts,"
    f"\nlr {cfg.lr} ({cfg.schedule}), clip {cfg.clip}, device {device}"
)

# %% [markdown]
# ## Training
#
# Adam with default betas, gradient clipping by global norm (0.001, Appendix G), the weights
# initialised at $0.002 \times \mathcal{N}(0, 1/(d+C))$ (we read "rescale the weights by 0.002"
# as a multiplier on a default initialisation; `init_mode="variance"` gives the other reading),
# a fresh batch of contexts at every step, cross-entropy on the query, a constant learning rate
# 5e-5. The paper trains for 200,000 steps of 2,048 contexts; the `book` profile keeps its learning
# rate and clipping and trains 10,000 steps of 1,024 contexts, minutes on a CPU (the `smoke`
# profile, for the tests, uses a fast schedule). The table at the end gives the setting behind
# every number. A run is cached under a key of its full config: rebuilding the book does not retrain.
# With `scheduler` set (e.g. `-p scheduler tcp://host:8786`), the runs train as tasks of a Dask
# cluster that shares the run cache ({doc}`../book/rerun`), and the chapter then reads them.

# %% tags=["hide-input"]
runs = train_each(configs, runs_dir=runs_dir, scheduler=scheduler, device=device)
extra = train_each(
    control_configs, runs_dir=runs_dir, scheduler=scheduler, device=device
)
Table.from_records(
    {
        "d": d,
        "eval loss at step 0": r.loss_curve()[1][0],
        "at the end": r.loss_curve()[1][-1],
    }
    for d, r in runs.items()
)

# %% [markdown]
# ## The GD step and its line search
#
# The baseline is one GD step from $W_0 = \mathbf{0}$ (Eq. 2),
# $\hat{\mathbf{y}}_{\text{query}} = \operatorname{softmax}\{\frac{\eta}{n}\sum_i \mathbf{y}_i \mathbf{x}_i^\top \mathbf{x}_{\text{query}}\}$,
# with η chosen among 100 log-spaced values in $[1, 10^{2.5}]$ to minimise the mean cross-entropy on
# search contexts (Appendix G: 10,000). Everything below is evaluated on *other* contexts.
#
# The trained weights give a second estimate: with $a$ the mean diagonal of the $x$-block of
# $W_Q^\top W_K$ and $b$ the mean diagonal of the $y$-block of $W_O W_V$ (each column shifted by
# the mean of its off-diagonal entries, which the softmax ignores), the model computes a GD step
# with $\eta_{\text{eff}} = n\,a\,b$ (Appendix B's construction has $a = 1$, $b = \eta/n$).

# %% tags=["hide-input"]
grid = log_grid(*paper.GD_ETA_EXPONENTS, paper.GRID_POINTS)
search = {
    d: line_search_gd(
        contexts_for("search", prof.n_search, n=n, d=d, C=C, seed=seed), grid
    )
    for d in dims
}
eta_star = {d: s[0] for d, s in search.items()}
eta_eff = {d: float(effective_eta(runs[d].weights, d, n)[0]) for d in dims}
Table.from_records(
    {
        "d": d,
        "line-searched η*": eta_star[d],
        "η_eff read off the model": eta_eff[d],
    }
    for d in dims
)

# %% mystnb={"figure": {"caption": "Line search of the GD step's η (solid: mean cross-entropy on the search contexts; dashed: its minimum) and the η read off the trained linear self-attention (dotted), for each d.", "name": "fig-linear-eta"}, "image": {"alt": "Line plot of the search loss against the learning rate eta on a log axis, one curve per dimension, with dashed lines at each minimum and dotted lines at the eta read off the trained model."}} tags=["hide-input"]
fig = plot_search_curve({d: (grid, search[d][1], eta_eff[d]) for d in dims})
plt.show()

# %% [markdown]
# ## Alignment through training (paper Figures 3a and 5, left)
#
# Following Von Oswald et al. (2023), on $N = 100$ contexts: the prediction difference
# $\|\hat{\mathbf{y}}^{\text{TR}} - \hat{\mathbf{y}}^{\text{GD}}\|$, and the cosine similarity and the
# norm of the difference of the sensitivities $\partial \hat{y}_j / \partial \mathbf{x}_{\text{query}}$,
# averaged over classes $j$, computed for the weights saved at every evaluation step. Equal
# predictors have a preds diff of 0, a cos sim of 1 and a model diff of 0; look for the three
# curves heading there once the loss has dropped, and for where each one levels off.

# %% tags=["hide-input"]
align_ctx = {
    d: contexts_for("align", prof.n_align, n=n, d=d, C=C, seed=seed) for d in dims
}
curves = {
    d: (
        runs[d].history["step"],
        alignment_through_training(
            runs[d].snapshot_predictors(),
            lambda c, d=d: gd_step(c, eta_star[d]),
            align_ctx[d],
        ),
    )
    for d in dims
}
final = {
    d: {name: values[-1] for name, values in curves[d][1].items()} for d in dims
}

# %% [markdown]
# Where training ends, per d:

# %% tags=["hide-input"]
Table.from_records(
    {"d": d, "preds diff": f["preds_diff"], "cos sim": f["cos_sim"]}
    | {"model diff": f["model_diff"]}
    for d, f in final.items()
)

# %% mystnb={"figure": {"caption": "Paper Figures 3a (d = 5) and 5, left (d = 2, 3, 10), regenerated: alignment of the trained linear self-attention with the line-searched GD step through training, for C = 5, n = 100.", "name": "fig-linear-alignment"}, "image": {"alt": "Four panels, one per dimension, of the prediction difference, cosine similarity and model difference through training."}} tags=["hide-input"]
fig = plot_alignment_through_training(curves)
plt.show()

# %% [markdown]
# ## Per-context metrics (paper Figures 3b–d and 5, right)
#
# Each point is one evaluation context: the trained model's loss, probability of the correct class
# and entropy (x-axis) against the GD step's (y-axis). Points on the line $y = x$ mean the two
# algorithms agree context by context, not just on average.

# %% tags=["hide-input"]
eval_ctx = {
    d: contexts_for("heldout", prof.n_eval, n=n, d=d, C=C, seed=seed) for d in dims
}
pairs = {
    d: (
        per_context_metrics(runs[d].predictor()(eval_ctx[d]), eval_ctx[d].y_query),
        per_context_metrics(gd_step(eval_ctx[d], eta_star[d]), eval_ctx[d].y_query),
    )
    for d in dims
}
mean_loss = {
    d: (float(sa["loss"].mean()), float(gd["loss"].mean()))
    for d, (sa, gd) in pairs.items()
}

# %% mystnb={"figure": {"caption": "Paper Figures 3b–d (d = 5) and 5, right (d = 2, 3, 10), regenerated: per-context loss, probability of the correct class and entropy of the trained linear self-attention (x) and of the GD step (y) on held-out contexts; the black line is y = x, dotted lines the means.", "name": "fig-linear-scatter"}, "image": {"alt": "Grid of scatter plots, one row per dimension and one column per metric (loss, probability of the correct class, entropy): trained linear self-attention against the GD step, with the diagonal y = x."}} tags=["hide-input"]
fig = plot_per_context_scatter(pairs)
plt.show()

# %% [markdown]
# The verdict rests on every seed trained: the chapter's run and `control_seeds - 1` more per d,
# each with its own initialisation and its own stream of training data.

# %% tags=["hide-input"]
per_seed = {d: {m: [final[d][m]] for m in ("preds_diff", "cos_sim")} for d in dims}
for d, run in extra.items():
    for member in range(len(run.config.seeds)):
        a = alignment(
            run.predictor(member),
            lambda c, d=d: gd_step(c, eta_star[d]),
            align_ctx[d],
        )
        per_seed[d]["preds_diff"].append(a.preds_diff)
        per_seed[d]["cos_sim"].append(a.cos_sim)

# %% tags=["hide-input"]
comparison_table(
    [
        (
            f"d={d}",
            ", ".join(f"{v:.4f}" for v in per_seed[d]["preds_diff"]),
            ", ".join(f"{v:.4f}" for v in per_seed[d]["cos_sim"]),
        )
        for d in dims
    ],
    header=("d", "preds diff, per seed", "cos sim, per seed"),
)

# %% [markdown]
# The claim, checked against a yardstick from the paper itself: Appendix H calls Eq. 1 at
# coefficients about 0.7 and 0.8 times the extracted ones "slightly off", and the differences they
# make "large". So the model does the GD step when it is closer to it than the GD step at
# $0.70\,\eta^*$ is: a lower preds diff and a higher cos sim than that step's, per d
# (`icl_lib.thresholds`). The table shows the yardstick beside the model.

# %% tags=["hide-input"]
off = {
    d: alignment(
        lambda c, d=d: gd_step(c, eta_star[d] * OFF_RATIO_C_ETA),
        lambda c, d=d: gd_step(c, eta_star[d]),
        align_ctx[d],
    )
    for d in dims
}
comparison_table(
    [
        (
            f"d={d}",
            f"{off[d].preds_diff:.4f} / {off[d].cos_sim:.4f}",
            f"{final[d]['preds_diff']:.4f} / {final[d]['cos_sim']:.4f}",
        )
        for d in dims
    ],
    header=("d", "GD at 0.70 η*: preds diff / cos sim", "trained model"),
)

# %% tags=["hide-input"]
setting = (
    f"{budget_against_paper(cfg, paper.LINEAR_STEPS)}, lr {cfg.lr} {cfg.schedule}, "
    f"{n_seeds} seed(s) per d; N = {prof.n_align} contexts"
)
verdict = alignment_verdict(
    "linear_learns_gd",
    per_seed,
    {d: (off[d].cos_sim, off[d].preds_diff) for d in dims},
    setting=setting,
    step="the line-searched GD step (Eq. 2)",
    reference="Eq. 2 at 0.70 η*",
)
print(f"{verdict.claim}: {verdict.verdict}")

# %% [markdown]
# ## Paper vs this book
#
# The paper reports these results as figures (no numbers in the text): cosine similarity
# converging to 1, low prediction and sensitivity differences, per-context points on $y = x$.

# %% tags=["hide-input"]
setting = (
    f"{cfg.steps} steps × {cfg.batch_size}, lr {cfg.lr} {cfg.schedule}, seed {seed}"
)
rows = []
for d in dims:
    rows += [
        (
            f"d={d}: cos sim (final)",
            "→ 1 (Fig. 3, 5)",
            f"{final[d]['cos_sim']:.4f}",
            setting,
        ),
        (
            f"d={d}: preds diff / model diff",
            "low (Fig. 3, 5)",
            f"{final[d]['preds_diff']:.4f} / {final[d]['model_diff']:.4f}",
            f"N = {prof.n_align} contexts",
        ),
        (
            f"d={d}: mean loss, SA vs GD step",
            "similar (Fig. 3b)",
            f"{mean_loss[d][0]:.4f} vs {mean_loss[d][1]:.4f}",
            f"{prof.n_eval} held-out contexts",
        ),
        (
            f"d={d}: η line-searched / extracted",
            "—",
            f"{eta_star[d]:.1f} / {eta_eff[d]:.1f}",
            f"{prof.n_search} search contexts",
        ),
    ]
comparison_table(rows)

# %% [markdown]
# ## Verdict
#
# The claim holds when, at every d, the model is closer to the GD step than the slightly-off step
# is (`icl_lib.verdicts.alignment_verdict`; a test feeds it a model still on the plateau). At a
# budget too small for that, the verdict says "not reproduced"; the build checks the verdict each
# profile is expected to get (`icl_lib.expected`), not the chapter.

# %% tags=["hide-input"]
verdict_table([verdict])

# %% tags=["hide-input"]
metrics = {}
for d in dims:
    metrics |= {
        f"d{d}.cos_sim": final[d]["cos_sim"],
        f"d{d}.preds_diff": final[d]["preds_diff"],
        f"d{d}.model_diff": final[d]["model_diff"],
        f"d{d}.eta_line_search": eta_star[d],
        f"d{d}.eta_extracted": eta_eff[d],
        f"d{d}.off_preds_diff": off[d].preds_diff,
        f"d{d}.off_cos_sim": off[d].cos_sim,
        f"d{d}.seeds_preds_diff_max": max(per_seed[d]["preds_diff"]),
        f"d{d}.seeds_cos_sim_min": min(per_seed[d]["cos_sim"]),
        f"d{d}.loss_sa": mean_loss[d][0],
        f"d{d}.loss_gd": mean_loss[d][1],
    }

# %% tags=["hide-input"]
settings = {
    "seed": seed,
    "C": C,
    "n": n,
    "dims": dims,
    "device": device,
    "train": cfg.to_dict() | {"d": "per dim"},
    "n_search": prof.n_search,
    "n_eval": prof.n_eval,
    "n_align": prof.n_align,
}
record_results(
    ch,
    settings=settings,
    metrics=metrics,
    verdicts=[verdict],
)
