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
# # Does trained softmax self-attention take a context-adaptive step of kernel GD?
#
# The paper's main empirical claim (Section 4, Figure 4, Appendix F / Figure 6): a trained
# softmax self-attention behaves like one step of RBF-kernel GD with the context-adaptive
# learning rate of Eq. 1, with $c_\eta, c_\sigma$ found by a grid search.
#
# > there is a significant similarity between a trained softmax SA and a context adaptive kernel
# > GD step (Equation 1), where $c_\eta, c_\sigma$ are found in a grid-search.
#
# This chapter trains softmax self-attention for C = 5, n = 100 and each d, grid-searches Eq. 1
# (and, for comparison, the plain RBF-kernel GD step of Eq. 3), and compares them. It runs both
# readings of Figure 2 (the query token attends to itself, or not) and, at the book's budget,
# the paper's constant learning rate beside the faster schedule the book uses. The figures and the
# verdict use the reading the book takes as the paper's, decided in chapter 5 from evidence that
# does not depend on the training budget: the query does **not** attend to itself
# (`icl_lib.readings.INCLUDE_QUERY`); the other reading is shown beside it.
#
# **What this build finds** (at the budget below; the verdicts are computed at the end of the
# chapter): that the trained models do Eq. 1 at its grid optimum is
# **{glue:text}`ch04_verdict_eq1`**; that they do Eq. 1 rather than a simpler step is
# **{glue:text}`ch04_verdict_controls`**.

# %% tags=["parameters", "hide-input"]
profile = "book"  # smoke (tests) | book (published) | paper (2M steps, App. G)
results_path = None  # key numbers; None: results/04_softmax_vs_kernel_gd.json
runs_dir = None  # trained runs, cached by full config; None: runs/ in the book
seed = 0  # seed of the initialisation and of the search, alignment, held-out sets
dims = None  # dimensions d to train; None: the profile's (book: [2, 3, 5, 10])
C = 5  # number of classes
n = 100  # context points per context
steps = None  # training steps; None: the profile's (book: 3000, paper: 2,000,000)
lr = None  # peak lr; None: the profile's (book 3e-2 warm-up + cosine; paper per d)
batch_size = None  # contexts per step; None: the profile's (paper: 2048)
compare_paper_lr = True  # also train at the paper's constant lr, same budget
control_seeds = None  # seeds behind the controls; None: the profile's (book: 3)
device = "auto"  # cpu | cuda | auto
scheduler = None  # None: train here; "local[:K]" or a Dask address (tcp://...)

# %% tags=["hide-input"]
import math

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from icl_lib import baselines, comparison, paper, plotting
from icl_lib.analysis_cache import ContextSpec, eq1_grid_search, eq3_grid_search
from icl_lib.chapter import record_results, say, set_up
from icl_lib.chapter_runs import controls, paper_lr, softmax_vs_kernel_gd
from icl_lib.comparison import align_seeds, compare_candidates, held_out_loss
from icl_lib.curves import near_optimal_region, plateau_exit_step
from icl_lib.extraction import extract_c_eta_c_sigma
from icl_lib.kernels import RBFKernel
from icl_lib.metrics import (
    alignment,
    alignment_through_training,
    per_context_metrics,
)
from icl_lib.readings import INCLUDE_QUERY, VARIANTS, closer_variant
from icl_lib.results import Table, comparison_table, flatten, span
from icl_lib.streams import contexts_for
from icl_lib.sweep import train_each
from icl_lib.thresholds import OFF_RATIO_C_ETA, OFF_RATIO_C_SIGMA, PLATEAU_FRACTION
from icl_lib.training import budget_against_paper, budget_text
from icl_lib.verdicts import alignment_verdict, controls_verdict, verdict_table

# %% tags=["hide-input"]
ch = set_up("04_softmax_vs_kernel_gd", globals())
prof, runs_dir, device = ch.profile, ch.runs_dir, ch.device
dims, n_controls, cache = ch.dims, ch.control_seeds, ch.cache_dir
chapter = dict(dims=dims, C=C, n=n, seed=seed, steps=steps, batch_size=batch_size)
configs = softmax_vs_kernel_gd(prof, lr=lr, **chapter)
paper_configs = paper_lr(prof, **chapter) if compare_paper_lr else {}
control_configs = controls(prof, lr=lr, control_seeds=n_controls, **chapter)
cfg = configs[(dims[0], INCLUDE_QUERY)]
ours = [configs[(d, INCLUDE_QUERY)] for d in dims]
budget = budget_text(ours)
softmax_budget = budget_against_paper(ours, paper.SOFTMAX_STEPS)
print(
    f"profile={profile}: d in {dims}, {budget} contexts,\n"
    f"lr {cfg.lr} ({cfg.schedule}), clip {cfg.clip}, device {device}; "
    f"paper-lr comparison: {bool(paper_configs)}"
)

# %% [markdown]
# ## Training
#
# As in chapter 3 (Adam, clipping by global norm, here 1.0 as in Appendix G; weights initialised at
# $0.002 \times \mathcal{N}(0, 1/(d+C))$; fresh contexts every step). The paper's learning rates
# (d = 2: 6e-4, 3: 3e-5, 5: 1e-4, 10: 5e-4) are constant over 2,000,000 steps; at those rates the
# model can stay on its initial plateau (loss $\log 5 \approx 1.609$) for longer than a CPU budget.
# The `book` profile uses a warm-up and cosine decay from a peak of 3e-2, and trains the paper's
# constant rate with the same budget beside it. Chapter 8 trains constant rates with batches of
# 2048 (not the paper's 2,000,000 steps). Look at the last column: a run still at about 1.609 has
# not left the plateau.

# %% tags=["hide-input"]
every = [*configs.values(), *paper_configs.values(), *control_configs.values()]
trained = train_each(
    {c: c for c in every}, runs_dir=runs_dir, scheduler=scheduler, device=device
)
runs = {key: trained[config] for key, config in configs.items()}
paper_runs = {d: trained[config] for d, config in paper_configs.items()}
extra = {d: trained[config] for d, config in control_configs.items()}

# %% tags=["hide-input"]
labelled = [(d, f"include_query={iq}", r) for (d, iq), r in runs.items()]
labelled += [
    (d, f"paper's constant lr {r.config.lr:g}", r) for d, r in paper_runs.items()
]
end = {(d, label): r.loss_curve()[1][-1] for d, label, r in labelled}
exits = {
    (d, label): plateau_exit_step(
        *r.loss_curve(), chance=math.log(C), fraction=PLATEAU_FRACTION
    )
    for d, label, r in labelled
}
on_plateau = [
    f"{label} at d = {d}" for (d, label), step in exits.items() if step is None
]
say("ch04_on_plateau", "; ".join(on_plateau) or "none")

# %% tags=["hide-input"]
Table.from_records(
    {
        "d": d,
        "run": label,
        "eval loss at step 0": r.loss_curve()[1][0],
        "at the end": loss,
    }
    for (d, label, r), loss in zip(labelled, end.values(), strict=True)
)

# %% [markdown]
# Runs that never left the plateau (loss below 0.9 log C, `icl_lib.curves.plateau_exit_step`) within
# this budget: **{glue:text}`ch04_on_plateau`**. The chapter's analysis uses the book's schedule.

# %% [markdown]
# ## The steps compared
#
# All three are one step of gradient descent on the cross-entropy of the context, started from
# zero, and read at the query (Section 3). With the RBF kernel on the unit sphere, the step of
# kernel GD with a fixed learning rate $\eta$ (Eq. 3) predicts
# $\hat{\mathbf{y}}_{\text{query}} = \text{softmax}\{\frac{\eta}{ne\sigma^2} \sum_{i}
# \mathbf{y}_i e^{\mathbf{x}_i^\top \mathbf{x}_{\text{query}}/\sigma^2}\}$. Section 3.3 sets
# $\sigma^2 = \sqrt{d+C}/c_\sigma$ and lets the learning rate depend on the context,
# $\eta(X) = c_\eta e^{1/\sigma^2} n / \sum_i e^{\mathbf{x}_i^\top \mathbf{x}_{\text{query}}/\sigma^2}$,
# which gives Eq. 1:
#
# $$
# \hat{\mathbf{y}}_{\text{query}} = \text{softmax}\left\{c_\eta \sum_{i=1}^n \mathbf{y}_i
# \frac{e^{c_\sigma \mathbf{x}_i^\top \mathbf{x}_{\text{query}} / \sqrt{d+C}}}
# {\sum_{j=1}^n e^{c_\sigma \mathbf{x}_j^\top \mathbf{x}_{\text{query}} / \sqrt{d+C}}}\right\}.
# $$
#
# The fraction is a softmax attention weight, which is why one layer of softmax self-attention can
# compute this step exactly (Appendix D; chapter 2 checks the construction). The linear GD step of
# Eq. 2 is the same with $e^{\cdot}$ replaced by $\mathbf{x}_i^\top \mathbf{x}_{\text{query}}$ and
# a fixed $\eta$. The question of this chapter is which of these a trained model computes, and at
# which $(c_\eta, c_\sigma)$.
#
# Two models are compared by three numbers on the same contexts (Section 4, as in chapter 3): the
# *preds diff*, the mean distance between their predicted class probabilities; the *cos sim*, the
# mean cosine between their sensitivities $\partial \hat{y}_j / \partial \mathbf{x}_{\text{query}}$
# (do they respond to moving the query in the same direction?); and the *model diff*, the mean
# distance between those sensitivities. Equal predictors have 0, 1 and 0.

# %% [markdown]
# ## Grid searches (Appendix G)
#
# Eq. 1 is searched over a $100 \times 100$ log grid of $(c_\eta, c_\sigma)$ with the paper's ranges
# per d, for each query variant; the plain RBF-kernel GD step of Eq. 3 over
# $\eta \in [1, 10^3]$, $\sigma^2 \in [10^{-3}, 10^2]$. Both minimise the mean cross-entropy on
# search contexts (10,000 in the paper); everything below is evaluated on other contexts. This is
# the method, so its cell is shown:

# %%
search = {
    d: ContextSpec("search", prof.n_search, n=n, d=d, C=C, seed=seed) for d in dims
}
found = {  # (c_eta*, c_sigma*, losses over the grid) per (d, include_query)
    (d, iq): eq1_grid_search(
        search[d], prof.grid_points, include_query=iq, cache_dir=cache
    )
    for d in dims
    for iq in VARIANTS
}
optimum = {key: (c_eta, c_sigma) for key, (c_eta, c_sigma, _) in found.items()}
grids = {
    (d, iq): (*baselines.adaptive_grid(d, prof.grid_points), v[2])
    for (d, iq), v in found.items()
}
kernel_gd = {
    d: eq3_grid_search(s, prof.grid_points, cache_dir=cache)
    for d, s in search.items()
}

# %% [markdown]
# The optima per d, and whether any lies on the edge of the paper's grid (the search range would
# then be too narrow):

# %% tags=["hide-input"]
on_edge = {
    key: near_optimal_region(g[2].numpy(), g[0].numpy(), g[1].numpy())[
        "optimum_on_edge"
    ]
    for key, g in grids.items()
}
edges = [
    f"d = {d}, include_query={iq}" for (d, iq), edge in on_edge.items() if edge
]
say("ch04_on_edge", ", ".join(edges) or "none")

# %% tags=["hide-input"]
display(
    Table.from_records(
        {"d": d, "Eq. 1": f"include_query={iq}", "c_η*": c_eta, "c_σ*": c_sigma}
        | {
            "search loss": float(grids[(d, iq)][2].min()),
            "on the edge": on_edge[(d, iq)],
        }
        for (d, iq), (c_eta, c_sigma) in optimum.items()
    ),
    Table.from_records(
        {"d": d, "Eq. 3 η*": eta, "σ²*": s2, "search loss": float(losses.min())}
        for d, (eta, s2, losses) in kernel_gd.items()
    ),
)

# %% [markdown]
# Optima on the edge of the paper's grid: **{glue:text}`ch04_on_edge`**.
#
# The loss landscape of Eq. 1 per d. Look for where the trained model's values (o) sit against the
# optimum (x): inside the dark valley they give nearly the same loss (the table after the controls
# measures how nearly).

# %% mystnb={"figure": {"caption": "Mean cross-entropy of Eq. 1 over the grid of Appendix G (the book's reading: the query does not attend to itself), the grid optimum (x) and the values read off the trained softmax self-attention (o, chapter 5's extraction), for each d.", "name": "fig-softmax-grids"}, "image": {"alt": "Four heat maps of the loss of Eq. 1 over c_sigma and c_eta on log axes, one per dimension, with a cross at the grid optimum and a circle at the values read off the trained model."}} tags=["hide-input"]
extracted = {
    key: tuple(float(v[0]) for v in extract_c_eta_c_sigma(run.weights, key[0]))
    for key, run in runs.items()
}
own = {d: (d, INCLUDE_QUERY) for d in dims}
fig = plotting.plot_grid_heatmaps(
    {d: (*grids[k], optimum[k], extracted[k]) for d, k in own.items()}
)
plt.show()

# %% [markdown]
# ## Training curves: the book's schedule and the paper's constant rate
#
# Each run's evaluation loss against the loss of Eq. 1 at its grid optimum (dashed). Look for which
# runs reach the dashed line within the budget, and which stay on the plateau at $\log 5$.

# %% mystnb={"figure": {"caption": "Evaluation loss through training for each d: the book's warm-up + cosine schedule for both query variants, and the paper's constant learning rate at the same budget (when trained; the book's reading). The dashed line is the loss of Eq. 1 at its grid optimum (the book's reading).", "name": "fig-softmax-loss"}, "image": {"alt": "Panels of evaluation loss against training step, one per dimension, one line per training run, with the loss of Eq. 1 at its grid optimum dashed."}} tags=["hide-input"]
curves = {
    d: {f"include_query={iq}": runs[(d, iq)].loss_curve() for iq in VARIANTS}
    for d in dims
}
for d, run in paper_runs.items():
    curves[d]["the paper's constant lr"] = run.loss_curve()
fig = plotting.plot_loss_through_training(
    curves,
    reference={d: float(grids[k][2].min()) for d, k in own.items()},
    titles={
        d: f"d = {d}, paper's lr {r.config.lr:g}" for d, r in paper_runs.items()
    },
)
plt.show()

# %% [markdown]
# ## Alignment through training (paper Figures 4a and 6, left)
#
# The alignment metrics of chapter 3, now between the trained softmax self-attention and Eq. 1 at
# the grid optimum of the same query variant, on $N = 100$ contexts. The sensitivities are computed
# in float64: the paper could not compute them for $d = 2$ because the attention saturates (large
# $c_\sigma$); in float64, through torch's max-subtracted softmax, they are finite. The method:

# %%
align_ctx = {
    d: contexts_for("align", prof.n_align, n=n, d=d, C=C, seed=seed) for d in dims
}


def eq1(d, iq, scale=(1.0, 1.0)):
    """Eq. 1 at the grid optimum of (d, iq), each value times `scale`."""
    c_eta, c_sigma = (v * s for v, s in zip(optimum[(d, iq)], scale, strict=True))
    return lambda c: baselines.adaptive_kernel_gd_step(
        c, c_eta, c_sigma, include_query=iq
    )


# %% tags=["hide-input"]
history = {
    key: (
        run.history["step"],
        alignment_through_training(
            run.snapshot_predictors(), eq1(*key), align_ctx[key[0]]
        ),
    )
    for key, run in runs.items()
}
final = {
    key: {name: values[-1] for name, values in h[1].items()}
    for key, h in history.items()
}

# %% [markdown]
# Where training ends, per d and query variant. Look for a preds diff near 0 and a cos sim near 1:

# %% tags=["hide-input"]
for key in runs:  # guards the float64 claim above, not a verdict
    assert all(math.isfinite(x) for v in history[key][1].values() for x in v), key
say("ch04_pd_range", span((final[k]["preds_diff"] for k in own.values()), ".3f"))
say("ch04_cs_range", span(final[k]["cos_sim"] for d, k in own.items() if d > 2))
names = {
    "preds_diff": "preds diff",
    "cos_sim": "cos sim",
    "model_diff": "model diff",
}
Table.from_records(
    {"d": d, "query variant": f"include_query={iq}"}
    | {names[m]: v for m, v in f.items()}
    for (d, iq), f in final.items()
)

# %% [markdown]
# In the book's reading the preds diff at the end of training is {glue:text}`ch04_pd_range` over d,
# and the cos sim at d > 2 {glue:text}`ch04_cs_range`; the yardstick below says whether that is
# close.
#
# The same through training. Look for the metrics settling once the loss leaves the plateau
# ({numref}`fig-softmax-loss`): the alignment is learned together with the task.

# %% mystnb={"figure": {"caption": "Paper Figures 4a (d = 5) and 6, left (d = 2, 3, 10), regenerated: alignment of the trained softmax self-attention with Eq. 1 at its grid optimum through training, in the book's reading (the query does not attend to itself).", "name": "fig-softmax-alignment"}, "image": {"alt": "Panels, one per dimension, of the prediction difference, cosine similarity and model difference between the softmax model and Eq. 1 through training."}} tags=["hide-input"]
fig = plotting.plot_alignment_through_training(
    {d: history[k] for d, k in own.items()}
)
plt.show()

# %% [markdown]
# The other reading of the paper's Figure 2, for comparison: look for whether it aligns as well.

# %% mystnb={"figure": {"caption": "As the figure before, for the other reading of the paper's Figure 2: the query attends to itself, compared with Eq. 1 with the query's term in the normaliser.", "name": "fig-softmax-alignment-query"}, "image": {"alt": "Panels, one per dimension, as in the figure before, for models whose query attends to itself."}} tags=["hide-input"]
fig = plotting.plot_alignment_through_training(
    {d: history[(d, not INCLUDE_QUERY)] for d in dims}
)
plt.show()

# %% [markdown]
# ## Per-context metrics (paper Figures 4b–d and 6, right)
#
# On held-out contexts, the trained model and Eq. 1 context by context. Look for the points on the
# diagonal: the two agree on each context, not only on average.

# %% mystnb={"figure": {"caption": "Paper Figures 4b–d (d = 5) and 6, right (d = 2, 3, 10), regenerated: per-context loss, probability of the correct class and entropy of the trained softmax self-attention (x) and of Eq. 1 at its grid optimum (y) on held-out contexts, in the book's reading; the black line is y = x, dotted lines the means.", "name": "fig-softmax-scatter"}, "image": {"alt": "Grid of scatter plots, one row per dimension and one column per metric: trained softmax self-attention against Eq. 1, with the diagonal y = x."}} tags=["hide-input"]
eval_ctx = {
    d: contexts_for("heldout", prof.n_eval, n=n, d=d, C=C, seed=seed) for d in dims
}
pairs = {
    d: tuple(
        per_context_metrics(f(eval_ctx[d]).detach(), eval_ctx[d].y_query)
        for f in (runs[k].predictor(), eq1(*k))
    )
    for d, k in own.items()
}
fig = plotting.plot_per_context_scatter(pairs, ylabel="Eq. 1 step")
plt.show()

# %% [markdown]
# ## Which query variant?
#
# Each variant is compared with its own form of Eq. 1 above. Crossing them (a model trained with
# one variant against Eq. 1 of the other) tells whether the distinction is visible at all: look
# for whether the crossed columns are worse than the own ones. The paper's only stated numbers for a
# trained softmax model are the extracted $c_\eta = 7.15$, $c_\sigma = 31.07$ at $d = 3$
# (Appendix H). Chapter 5 decides the reading from them, with the grid optima (budget-free) and
# the trained models; here, the trained models' side of it.

# %% tags=["hide-input"]
cross = {
    d: alignment(runs[(d, not INCLUDE_QUERY)].predictor(), eq1(*k), align_ctx[d])
    for d, k in own.items()
}
display(
    Table.from_records(
        {
            "d": d,
            "preds diff, crossed": cross[d].preds_diff,
            "cos sim, crossed": cross[d].cos_sim,
        }
        | {
            "preds diff, own": own_variant["preds_diff"],
            "cos sim, own": own_variant["cos_sim"],
        }
        for d in dims
        for own_variant in [final[(d, not INCLUDE_QUERY)]]
    )
)

# %% tags=["hide-input"]
paper_d3 = (paper.C_ETA_D3, paper.C_SIGMA_D3)
if 3 in dims:
    print(
        "d=3, extracted (c_eta, c_sigma); the paper's: ({}, {})".format(*paper_d3)
    )
    for iq in VARIANTS:
        print(
            f"  include_query={iq!s:>5}: "
            + "({:.2f}, {:.2f})".format(*extracted[(3, iq)])
        )
    closest = closer_variant({iq: extracted[(3, iq)] for iq in VARIANTS})
    print(f"closer to the paper's: include_query={closest}")

# %% [markdown]
# How flat is the search landscape? The loss of Eq. 1 at the values read off the model (chapter 5's
# extraction) next to the loss at the grid optimum, on the search contexts. Look for how little
# the loss changes between them, although the values may differ by a large factor:

# %% tags=["hide-input"]
search_ctx = {d: s.draw() for d, s in search.items()}
loss_at_extracted = {
    key: held_out_loss(
        lambda c, key=key: baselines.adaptive_kernel_gd_step(
            c, *extracted[key], include_query=key[1]
        ),
        search_ctx[key[0]],
    )
    for key in runs
}
excess = [
    loss / float(grids[k][2].min()) - 1 for k, loss in loss_at_extracted.items()
]
say("ch04_flat", f"{100 * max(excess):.2g}")
Table.from_records(
    {"d": d, "query variant": f"include_query={iq}"}
    | {"loss at the grid optimum": float(grids[(d, iq)][2].min())}
    | {
        "extracted (c_η, c_σ)": "({:.2f}, {:.2f})".format(*extracted[(d, iq)]),
        "loss there": loss,
    }
    for (d, iq), loss in loss_at_extracted.items()
)

# %% [markdown]
# At the extracted values the loss of Eq. 1 is at most {glue:text}`ch04_flat`% above its grid
# minimum: the landscape is flat along a valley, so values read off a model can differ from the grid
# optimum by a large factor at almost no cost in loss (chapter 9 maps the valley).
#
# ## The yardstick: how close is "doing Eq. 1"?
#
# The claim is checked after the controls below, on every seed trained. Its yardstick comes from
# the paper: Appendix H calls Eq. 1 at $(c_\eta, c_\sigma) = (5, 25)$ instead of $(7.15, 31.07)$
# "slightly off" and the differences "large". So a model does Eq. 1 when it is closer to Eq. 1 at
# the optimum than Eq. 1 at $0.70\,c_\eta$, $0.80\,c_\sigma$ is (`icl_lib.thresholds`). For $d = 2$
# the paper reports no sensitivities (Appendix F), so only the predictions are checked there; our
# sensitivities for $d = 2$ are in {numref}`fig-softmax-alignment`. The yardstick, per d:

# %% tags=["hide-input"]
off = {
    d: alignment(
        eq1(*k, scale=(OFF_RATIO_C_ETA, OFF_RATIO_C_SIGMA)), eq1(*k), align_ctx[d]
    )
    for d, k in own.items()
}
bounds = {d: (off[d].cos_sim if d > 2 else None, off[d].preds_diff) for d in dims}
checked = {
    d: "preds diff and cos sim" if d > 2 else "preds diff (no cos sim in the paper)"
    for d in dims
}
Table.from_records(
    {
        "d": d,
        "Eq. 1 slightly off: preds diff": off[d].preds_diff,
        "cos sim": off[d].cos_sim,
    }
    | {"checked": checked[d]}
    for d in dims
)

# %% [markdown]
# ## Controls: could a simpler step describe the model as well?
#
# The alignment above compares the trained model with Eq. 1 only. Two simpler steps might describe
# it as well: the linear GD step of Eq. 2 (its $\eta$ line-searched on the search contexts, as in
# chapter 3) and RBF kernel GD with a fixed learning rate, Eq. 3 (its $(\eta, \sigma^2)$
# grid-searched above); Appendix A discusses how Eq. 1 differs from the latter. Each step is aligned
# with the trained models by the same metrics on the same contexts. To tell a difference from
# noise, `control_seeds` models are trained per d in the book's reading: the chapter's run and
# `control_seeds - 1` more, each with its own initialisation and its own stream of training data.
# A simpler step is compared with Eq. 1 seed by seed: the 95% paired t-interval of the difference
# of each metric (`icl_lib.verdicts.compare_with_eq1`). The method:

# %%
eta_grid = baselines.log_grid(*paper.GD_ETA_EXPONENTS, prof.grid_points)
gd_eta = {d: baselines.line_search_gd(search_ctx[d], eta_grid)[0] for d in dims}
candidates = {
    d: {
        "Eq. 1": eq1(*k),
        "Eq. 3": lambda c, d=d: baselines.kernel_gd_step(
            c, kernel_gd[d][0], RBFKernel(kernel_gd[d][1])
        ),
        "Eq. 2": lambda c, d=d: baselines.gd_step(c, gd_eta[d]),
    }
    for d, k in own.items()
}
models = {
    d: [runs[own[d]].predictor()]
    + [extra[d].predictor(m) for m in range(n_controls - 1)]
    for d in dims
}
per_step = {d: align_seeds(models[d], candidates[d], align_ctx[d]) for d in dims}
compared = {
    d: compare_candidates(per_step[d], candidates[d], align_ctx[d]) for d in dims
}
outcomes = {d: c[0] for d, c in compared.items()}

# %% [markdown]
# Each step's alignment with the models (mean and range over seeds) and its own held-out loss. Look
# at the last column for the outcome of the paired comparison with Eq. 1:

# %% tags=["hide-input"]
step_loss = {
    d: {name: held_out_loss(f, eval_ctx[d]) for name, f in candidates[d].items()}
    for d in dims
}
print(
    "eta of Eq. 2 (line search): "
    + ", ".join(f"d={d}: {gd_eta[d]:.2f}" for d in dims)
)
Table.from_records(
    {"d": d, "step": name}
    | {names[m]: comparison.spread(v[m]) for m in v}
    | {"held-out loss": step_loss[d][name], "vs Eq. 1": outcomes[d].get(name)}
    for d in dims
    for name, v in per_step[d].items()
)

# %% [markdown]
# The same seed by seed. Look for whether the dots of a simpler step overlap Eq. 1's:

# %% mystnb={"figure": {"caption": "The trained softmax models (one dot per seed, the bar at their mean) against Eq. 1 at its grid optimum, RBF kernel GD with a fixed learning rate (Eq. 3) and the linear GD step (Eq. 2), each at its own optimum: preds diff (left, lower is closer) and cos sim of the sensitivities (right, higher is closer), per d.", "name": "fig-softmax-controls"}, "image": {"alt": "One row of two dot plots per dimension: preds diff and cos sim of the trained models against Eq. 1, Eq. 3 and Eq. 2, one dot per seed with a bar at the mean."}} tags=["hide-input"]
fig = plotting.plot_controls(per_step)
plt.show()

# %% [markdown]
# What the seeds can tell, per d, and what it means for the paper's claim there. Each block gives
# the paired 95% interval of (step − Eq. 1) over seeds for both metrics, marks with * the metrics
# whose interval excludes 0 (those the conclusion rests on), and the preds diff between the two
# steps themselves: where it is below the models' distance from either, the steps coincide and the
# models cannot tell them apart.

# %% tags=["hide-input"]
for d, (_, intervals, apart) in compared.items():
    print(
        f"d={d}:\n" + comparison.describe_comparison(outcomes[d], intervals, apart)
    )
say("ch04_controls", comparison.outcomes_in_words(outcomes))

# %% [markdown]
# In short: {glue:text}`ch04_controls`.
#
# ## Verdicts
#
# In the book's reading, at every d and for every seed: the trained model is closer to Eq. 1 at its
# grid optimum than the slightly-off Eq. 1 is, in predictions and (except at $d = 2$) in
# sensitivities (`icl_lib.verdicts.alignment_verdict`; a test feeds it a model still on the
# plateau, which it must reject). The controls above decide the second claim
# (`controls_verdict`). Neither is asserted here: the build compares them with the verdicts
# expected at its profile (`icl_lib.expected`). The rules:

# %%
setting = f"{softmax_budget}, lr {cfg.lr} {cfg.schedule}, {n_controls} seeds per d"
verdict = alignment_verdict(
    "softmax_learns_eq1",
    {d: per_step[d]["Eq. 1"] for d in dims},
    bounds,
    setting=f"{setting}; N = {prof.n_align} contexts",
    step=f"Eq. 1 at its grid optimum (include_query={INCLUDE_QUERY})",
    reference="Eq. 1 at 0.70 c_η, 0.80 c_σ",
    skipped="d = 2, where the paper reports no sensitivities (Appendix F)",
)
control_verdict = controls_verdict(
    outcomes, setting=f"{setting}, N = {prof.n_align} contexts"
)
say("ch04_verdict_eq1", verdict.verdict)
say("ch04_verdict_controls", control_verdict.verdict)
verdict_table([verdict, control_verdict])

# %% [markdown]
# ## Paper vs this book
#
# The paper shows these results as figures; the numbers it states are the learning rates and
# search ranges (Appendix G) and the extracted $c_\eta = 7.15$, $c_\sigma = 31.07$ at $d = 3$
# (chapter 5). Our grid optima are listed for reference; the rows are the book's reading (the other
# reading's numbers are in the tables above and in the results file).

# %% tags=["hide-input"]
rows = [
    (
        f"d={d}: cos sim / preds diff / model diff",
        "→ 1 / low / low (Fig. 4, 6)",
        "{cos_sim:.4f} / {preds_diff:.4f} / {model_diff:.4f}".format(**final[k]),
        f"{budget}, seed {seed}",
    )
    for d, k in own.items()
]
rows += [
    (
        f"d={d}: grid (c_eta, c_sigma)",
        "—",
        "({:.2f}, {:.2f})".format(*optimum[k]),
        f"{prof.n_search} search contexts",
    )
    for d, k in own.items()
]

# %% tags=["hide-input"]
rows += [
    (
        f"d={d}: mean loss SA / Eq. 1 / plain kernel GD",
        "similar (Fig. 4b)",
        " / ".join(f"{v:.4f}" for v in (sa["loss"].mean(), eq["loss"].mean()))
        + f" / {step_loss[d]['Eq. 3']:.4f}",
        f"{prof.n_eval} held-out contexts",
    )
    for d, (sa, eq) in pairs.items()
]
rows += [
    (
        f"d={d}: eval loss at the paper's constant lr {r.config.lr:g}",
        "plateau, then Fig. 4 after 2M steps",
        f"{r.loss_curve()[1][-1]:.4f}",
        f"same budget: {r.config.steps} steps × {cfg.batch_size}",
    )
    for d, r in paper_runs.items()
]
comparison_table(rows)

# %% tags=["hide-input"]
short = comparison.SHORT  # the steps' names in metric keys
per_variant = {
    f"d{d}.include_query_{iq}": f
    | {
        "grid_c_eta": optimum[(d, iq)][0],
        "grid_c_sigma": optimum[(d, iq)][1],
        "grid_loss": float(grids[(d, iq)][2].min()),
        "eq1_loss_at_extracted": loss_at_extracted[(d, iq)],
        "c_eta_extracted": extracted[(d, iq)][0],
        "c_sigma_extracted": extracted[(d, iq)][1],
    }
    for (d, iq), f in final.items()
}

# %% tags=["hide-input"]
per_d = {
    f"d{d}": {
        **{
            m: {short[s]: np.mean(v[m]) for s, v in per_step[d].items()}
            for m in comparison.METRICS
        },
        "loss": {short[s]: v for s, v in step_loss[d].items()}
        | {"sa_seeds": np.mean([held_out_loss(m, eval_ctx[d]) for m in models[d]])},
        "steps_apart": {short[s]: v for s, v in compared[d][2].items()},
        "off_preds_diff": off[d].preds_diff,
        "off_cos_sim": off[d].cos_sim,
        "loss_sa": pairs[d][0]["loss"].mean(),
        "loss_eq1": pairs[d][1]["loss"].mean(),
        "loss_kernel_gd": step_loss[d]["Eq. 3"],
        "cross_variant_preds_diff": cross[d].preds_diff,
    }
    for d in dims
}
for d, r in paper_runs.items():
    per_d[f"d{d}"]["paper_lr_final_eval_loss"] = r.loss_curve()[1][-1]
metrics = flatten(per_variant | per_d)

# %% tags=["hide-input"]
settings = {
    "seed": seed,
    "C": C,
    "n": n,
    "dims": dims,
    "device": device,
    "train": cfg.to_dict() | {"d": "per dim", "lr": "see profile"},
    "n_search": prof.n_search,
    "n_eval": prof.n_eval,
    "n_align": prof.n_align,
    "grid_points": prof.grid_points,
    "include_query_reading": INCLUDE_QUERY,
    "control_seeds": [seed, *control_configs[dims[0]].seeds],
}
record_results(
    ch, settings=settings, metrics=metrics, verdicts=[verdict, control_verdict]
)
