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

# %% tags=["parameters"]
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
import textwrap

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from icl_lib import paper
from icl_lib.analysis_cache import (
    ContextSpec,
    analysis_dir,
    cached_call,
    eq1_grid_search,
)
from icl_lib.baselines import (
    adaptive_grid,
    adaptive_kernel_gd_step,
    gd_step,
    grid_search_kernel_gd,
    kernel_gd_step,
    line_search_gd,
    log_grid,
)
from icl_lib.chapter_runs import controls, paper_lr, softmax_vs_kernel_gd
from icl_lib.curves import near_optimal_region
from icl_lib.extraction import extract_c_eta_c_sigma
from icl_lib.kernels import RBFKernel
from icl_lib.metrics import (
    alignment,
    alignment_through_training,
    per_context_loss,
    per_context_metrics,
)
from icl_lib.plotting import (
    plot_alignment_through_training,
    plot_controls,
    plot_grid_heatmaps,
    plot_loss_through_training,
    plot_per_context_scatter,
)
from icl_lib.profiles import chapter_outputs, check_parameters, relative_to_book
from icl_lib.readings import INCLUDE_QUERY, VARIANTS, closer_variant
from icl_lib.results import Table, comparison_table, write_results
from icl_lib.streams import contexts_for
from icl_lib.sweep import train_each
from icl_lib.thresholds import OFF_RATIO_C_ETA, OFF_RATIO_C_SIGMA
from icl_lib.training import budget_against_paper, budget_text, resolve_device
from icl_lib.validation import check_bool, check_positive_int
from icl_lib.verdicts import (
    CANNOT_TELL,
    EQ1_CLOSER,
    NOT_IDENTIFIABLE,
    OTHER_CLOSER,
    alignment_verdict,
    compare_with_eq1,
    controls_verdict,
    deciding_metrics,
    verdict_table,
)

results_path, runs_dir, overrides = chapter_outputs(
    "04_softmax_vs_kernel_gd", globals()
)
prof = check_parameters(
    profile=profile,
    results_path=results_path,
    runs_dir=runs_dir,
    seed=seed,
    C=C,
    n=n,
    dims=dims,
    steps=steps,
    batch_size=batch_size,
    scheduler=scheduler,
)
device = resolve_device(device)
dims = list(dims or prof.dims)
n_controls = prof.control_seeds if control_seeds is None else control_seeds
check_positive_int("control_seeds", n_controls, minimum=2)
chapter = dict(dims=dims, C=C, n=n, seed=seed, steps=steps, batch_size=batch_size)
configs = softmax_vs_kernel_gd(prof, lr=lr, **chapter)
paper_lr_runs = check_bool("compare_paper_lr", compare_paper_lr) and bool(
    paper_lr(prof, **chapter)
)
paper_configs = paper_lr(prof, **chapter) if paper_lr_runs else {}
control_configs = controls(prof, lr=lr, control_seeds=n_controls, **chapter)
cfg = configs[(dims[0], INCLUDE_QUERY)]
budget = budget_text([configs[(d, INCLUDE_QUERY)] for d in dims])
softmax_budget = budget_against_paper(
    [configs[(d, INCLUDE_QUERY)] for d in dims], paper.SOFTMAX_STEPS
)
print(
    f"profile={profile}: d in {dims}, {budget} contexts,\n"
    f"lr {cfg.lr} ({cfg.schedule}), clip {cfg.clip}, device {device}; "
    f"paper-lr comparison: {paper_lr_runs}"
)

# %% [markdown]
# ## Training
#
# As in chapter 3 (Adam, clipping by global norm, here 1.0 as in Appendix G; weights initialised at
# $0.002 \times \mathcal{N}(0, 1/(d+C))$; fresh contexts every step). The paper's learning rates
# (d = 2: 6e-4, 3: 3e-5, 5: 1e-4, 10: 5e-4) are constant over 2,000,000 steps; at those rates the
# model can stay on its initial plateau (loss $\log 5 \approx 1.609$) for longer than a CPU budget.
# The `book` profile uses a warm-up and cosine decay from a peak of 3e-2, and trains the paper's
# constant rate with the same budget beside it: the table below and {numref}`fig-softmax-loss`
# show which of them leave the plateau within it. Chapter 8 trains constant rates with batches of 2048 (not the paper's 2,000,000 steps).

# %%
every = [*configs.values(), *paper_configs.values(), *control_configs.values()]
trained = train_each(  # keyed by config
    {c: c for c in every}, runs_dir=runs_dir, scheduler=scheduler, device=device
)
runs = {key: trained[config] for key, config in configs.items()}
paper_runs = {d: trained[config] for d, config in paper_configs.items()}
extra = {d: trained[config] for d, config in control_configs.items()}
Table(
    ("d", "run", "eval loss at step 0", "at the end"),
    [
        (str(d), f"include_query={iq}", f"{loss[0][0]:.3f}", f"{loss[-1][0]:.3f}")
        for (d, iq), loss in ((k, r.history["eval_loss"]) for k, r in runs.items())
    ]
    + [
        (
            str(d),
            f"paper's constant lr {run.config.lr:g}",
            f"{run.history['eval_loss'][0][0]:.3f}",
            f"{run.history['eval_loss'][-1][0]:.3f}",
        )
        for d, run in paper_runs.items()
    ],
)

# %% [markdown]
# ## Grid searches (Appendix G)
#
# Eq. 1 is searched over a $100 \times 100$ log grid of $(c_\eta, c_\sigma)$ with the paper's ranges
# per d, for each query variant (an optimum on the edge of a range would be flagged below); the plain RBF-kernel GD step of Eq. 3 over
# $\eta \in [1, 10^3]$, $\sigma^2 \in [10^{-3}, 10^2]$. Both minimise the mean cross-entropy on
# search contexts (10,000 in the paper); everything below is evaluated on other contexts.

# %%
search = {
    d: contexts_for("search", prof.n_search, n=n, d=d, C=C, seed=seed) for d in dims
}
grids, optimum = {}, {}
for d in dims:
    c_etas, c_sigmas = adaptive_grid(d, prof.grid_points)
    for iq in VARIANTS:
        c_eta, c_sigma, losses = (
            eq1_grid_search(  # read by chapters 5, 6 and later builds
                ContextSpec("search", prof.n_search, n=n, d=d, C=C, seed=seed),
                prof.grid_points,
                include_query=iq,
                cache_dir=analysis_dir(runs_dir),
            )
        )
        grids[(d, iq)], optimum[(d, iq)] = (
            (c_etas, c_sigmas, losses),
            (c_eta, c_sigma),
        )
kernel_gd = {
    d: cached_call(
        grid_search_kernel_gd,
        ContextSpec("search", prof.n_search, n=n, d=d, C=C, seed=seed),
        log_grid(*paper.KERNEL_GD_ETA_EXPONENTS, prof.grid_points),
        log_grid(*paper.KERNEL_GD_SIGMA2_EXPONENTS, prof.grid_points),
        cache_dir=analysis_dir(runs_dir),
    )
    for d in dims
}
display(
    Table(
        ("d", "Eq. 1", "c_η*", "c_σ*", "search loss"),
        [
            (
                str(d),
                f"include_query={iq}",
                f"{c_eta:.3f}",
                f"{c_sigma:.3f}",
                f"{grids[(d, iq)][2].min():.4f}",
            )
            for (d, iq), (c_eta, c_sigma) in optimum.items()
        ],
    ),
    Table(
        ("d", "Eq. 3 (plain RBF kernel GD)", "η*", "σ²*", "search loss"),
        [
            (
                str(d),
                "fixed η",
                f"{eta:.2f}",
                f"{sigma2:.4f}",
                f"{losses.min():.4f}",
            )
            for d, (eta, sigma2, losses) in kernel_gd.items()
        ],
    ),
)
on_edge = {
    key: near_optimal_region(
        grids[key][2].numpy(), grids[key][0].numpy(), grids[key][1].numpy()
    )["optimum_on_edge"]
    for key in grids
}
print(
    "optimum on the edge of the paper's grid:",
    [f"d={d}, include_query={iq}" for (d, iq), edge in on_edge.items() if edge]
    or "none",
)

# %% mystnb={"figure": {"caption": "Mean cross-entropy of Eq. 1 over the grid of Appendix G (the book's reading: the query does not attend to itself), the grid optimum (x) and the values read off the trained softmax self-attention (o, chapter 5's extraction), for each d.", "name": "fig-softmax-grids"}, "image": {"alt": "Four heat maps of the loss of Eq. 1 over c_sigma and c_eta on log axes, one per dimension, with a cross at the grid optimum and a circle at the values read off the trained model."}}
extracted = {
    key: tuple(float(v[0]) for v in extract_c_eta_c_sigma(run.weights, key[0]))
    for key, run in runs.items()
}
fig = plot_grid_heatmaps(
    {
        d: (
            *grids[(d, INCLUDE_QUERY)],
            optimum[(d, INCLUDE_QUERY)],
            extracted[(d, INCLUDE_QUERY)],
        )
        for d in dims
    }
)
plt.show()

# %% [markdown]
# ## Training curves: the book's schedule and the paper's constant rate

# %% mystnb={"figure": {"caption": "Evaluation loss through training for each d: the book's warm-up + cosine schedule for both query variants, and the paper's constant learning rate at the same budget (when trained; the book's reading). The dashed line is the loss of Eq. 1 at its grid optimum (the book's reading).", "name": "fig-softmax-loss"}, "image": {"alt": "Panels of evaluation loss against training step, one per dimension, one line per training run, with the loss of Eq. 1 at its grid optimum dashed."}}
curves = {
    d: {
        f"include_query={iq}": (
            runs[(d, iq)].history["step"],
            [loss[0] for loss in runs[(d, iq)].history["eval_loss"]],
        )
        for iq in VARIANTS
    }
    for d in dims
}
for d, run in paper_runs.items():
    curves[d]["the paper's constant lr"] = (
        run.history["step"],
        [loss[0] for loss in run.history["eval_loss"]],
    )
titles = {
    d: f"d = {d}, paper's lr {run.config.lr:g}" for d, run in paper_runs.items()
}
fig = plot_loss_through_training(
    curves,
    reference={d: float(grids[(d, INCLUDE_QUERY)][2].min()) for d in dims},
    titles=titles,
)
plt.show()

# %% [markdown]
# ## Alignment through training (paper Figures 4a and 6, left)
#
# The alignment metrics of chapter 3, now between the trained softmax self-attention and Eq. 1 at
# the grid optimum of the same query variant, on $N = 100$ contexts. The sensitivities are computed
# in float64: the paper could not compute them for $d = 2$ because the attention saturates (large
# $c_\sigma$); in float64, through torch's max-subtracted softmax, they are finite (checked below).

# %%
align_ctx = {
    d: contexts_for("align", prof.n_align, n=n, d=d, C=C, seed=seed) for d in dims
}


def eq1(d, iq):
    return lambda c: adaptive_kernel_gd_step(c, *optimum[(d, iq)], include_query=iq)


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
Table(
    ("d", "query variant", "preds diff", "cos sim", "model diff"),
    [
        (
            str(d),
            f"include_query={iq}",
            f"{f['preds_diff']:.4f}",
            f"{f['cos_sim']:.4f}",
            f"{f['model_diff']:.4f}",
        )
        for (d, iq), f in final.items()
    ],
)

# %% mystnb={"figure": {"caption": "Paper Figures 4a (d = 5) and 6, left (d = 2, 3, 10), regenerated: alignment of the trained softmax self-attention with Eq. 1 at its grid optimum through training, in the book's reading (the query does not attend to itself).", "name": "fig-softmax-alignment"}, "image": {"alt": "Panels, one per dimension, of the prediction difference, cosine similarity and model difference between the softmax model and Eq. 1 through training."}}
fig = plot_alignment_through_training(
    {d: history[(d, INCLUDE_QUERY)] for d in dims}
)
plt.show()

# %% mystnb={"figure": {"caption": "As the figure before, for the other reading of the paper's Figure 2: the query attends to itself, compared with Eq. 1 with the query's term in the normaliser.", "name": "fig-softmax-alignment-query"}, "image": {"alt": "Panels, one per dimension, as in the figure before, for models whose query attends to itself."}}
fig = plot_alignment_through_training(
    {d: history[(d, not INCLUDE_QUERY)] for d in dims}
)
plt.show()

# %% [markdown]
# ## Per-context metrics (paper Figures 4b–d and 6, right)

# %%
eval_ctx = {
    d: contexts_for("heldout", prof.n_eval, n=n, d=d, C=C, seed=seed) for d in dims
}
pairs = {
    d: (
        per_context_metrics(
            runs[(d, INCLUDE_QUERY)].predictor()(eval_ctx[d]), eval_ctx[d].y_query
        ),
        per_context_metrics(
            eq1(d, INCLUDE_QUERY)(eval_ctx[d]), eval_ctx[d].y_query
        ),
    )
    for d in dims
}
mean_loss = {
    d: (float(sa["loss"].mean()), float(eq["loss"].mean()))
    for d, (sa, eq) in pairs.items()
}
kernel_gd_loss = {
    d: float(
        per_context_loss(
            kernel_gd_step(
                eval_ctx[d], kernel_gd[d][0], RBFKernel(kernel_gd[d][1])
            ),
            eval_ctx[d].y_query,
        ).mean()
    )
    for d in dims
}  # the same held-out contexts

# %% mystnb={"figure": {"caption": "Paper Figures 4b–d (d = 5) and 6, right (d = 2, 3, 10), regenerated: per-context loss, probability of the correct class and entropy of the trained softmax self-attention (x) and of Eq. 1 at its grid optimum (y) on held-out contexts, in the book's reading; the black line is y = x, dotted lines the means.", "name": "fig-softmax-scatter"}, "image": {"alt": "Grid of scatter plots, one row per dimension and one column per metric: trained softmax self-attention against Eq. 1, with the diagonal y = x."}}
fig = plot_per_context_scatter(pairs, ylabel="Eq. 1 step")
plt.show()

# %% [markdown]
# ## Which query variant?
#
# Each variant is compared with its own form of Eq. 1 above. Crossing them (a model trained with
# one variant against Eq. 1 of the other) tells whether the distinction is visible at all. The
# paper's only stated numbers for a trained softmax model are the extracted $c_\eta = 7.15$,
# $c_\sigma = 31.07$ at $d = 3$ (Appendix H). Chapter 5 decides the reading from them, with the
# grid optima (budget-free) and the trained models; here, the trained models' side of it.

# %%
cross = {
    d: alignment(
        runs[(d, not INCLUDE_QUERY)].predictor(),
        eq1(d, INCLUDE_QUERY),
        align_ctx[d],
    )
    for d in dims
}
own = {d: final[(d, not INCLUDE_QUERY)] for d in dims}
display(
    Table(
        (
            "d",
            "preds diff, crossed",
            "cos sim, crossed",
            "preds diff, own",
            "cos sim, own",
        ),
        [
            (
                str(d),
                f"{cross[d].preds_diff:.4f}",
                f"{cross[d].cos_sim:.4f}",
                f"{own[d]['preds_diff']:.4f}",
                f"{own[d]['cos_sim']:.4f}",
            )
            for d in dims
        ],
    )
)
if 3 in dims:
    closest = closer_variant({iq: extracted[(3, iq)] for iq in VARIANTS})
    print(
        f"d=3, extracted (c_eta, c_sigma); the paper's: ({paper.C_ETA_D3}, "
        f"{paper.C_SIGMA_D3})\n"
        + "\n".join(
            f"  include_query={iq!s:>5}: ({extracted[(3, iq)][0]:.2f}, "
            f"{extracted[(3, iq)][1]:.2f})"
            for iq in VARIANTS
        )
        + f"\ncloser to the paper's: include_query={closest}"
    )

# %% [markdown]
# How flat is the search landscape? The loss of Eq. 1 at the values read off the model (chapter 5's
# extraction) next to the loss at the grid optimum, on the search contexts:

# %%
loss_at_extracted = {
    key: float(
        per_context_loss(
            adaptive_kernel_gd_step(
                search[key[0]], *extracted[key], include_query=key[1]
            ),
            search[key[0]].y_query,
        ).mean()
    )
    for key in runs
}
Table(
    (
        "d",
        "query variant",
        "loss at the grid optimum",
        "extracted (c_η, c_σ)",
        "loss there",
    ),
    [
        (
            str(d),
            f"include_query={iq}",
            f"{float(grids[(d, iq)][2].min()):.4f}",
            f"({extracted[(d, iq)][0]:.2f}, {extracted[(d, iq)][1]:.2f})",
            f"{value:.4f}",
        )
        for (d, iq), value in loss_at_extracted.items()
    ],
)

# %% [markdown]
# The claim is checked after the controls below, on every seed trained. Its yardstick comes from
# the paper: Appendix H calls Eq. 1 at $(c_\eta, c_\sigma) = (5, 25)$ instead of $(7.15, 31.07)$
# "slightly off" and the differences "large". So a model does Eq. 1 when it is closer to Eq. 1 at
# the optimum than Eq. 1 at $0.70\,c_\eta$, $0.80\,c_\sigma$ is (`icl_lib.thresholds`). For $d = 2$
# the paper reports no sensitivities (Appendix F), so only the predictions are checked there; our
# sensitivities for $d = 2$ are in {numref}`fig-softmax-alignment`. The yardstick, per d:

# %%
for key in runs:
    assert all(math.isfinite(x) for v in history[key][1].values() for x in v), (
        f"{key}: non-finite metric"
    )
off = {
    d: alignment(
        lambda c, d=d: adaptive_kernel_gd_step(
            c,
            optimum[(d, INCLUDE_QUERY)][0] * OFF_RATIO_C_ETA,
            optimum[(d, INCLUDE_QUERY)][1] * OFF_RATIO_C_SIGMA,
            include_query=INCLUDE_QUERY,
        ),
        eq1(d, INCLUDE_QUERY),
        align_ctx[d],
    )
    for d in dims
}
bounds = {d: (off[d].cos_sim if d > 2 else None, off[d].preds_diff) for d in dims}
Table(
    ("d", "Eq. 1 slightly off: preds diff", "cos sim", "checked"),
    [
        (
            str(d),
            f"{off[d].preds_diff:.4f}",
            f"{off[d].cos_sim:.4f}",
            "preds diff and cos sim"
            if d > 2
            else "preds diff (no cos sim in the paper)",
        )
        for d in dims
    ],
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
# of each metric (`icl_lib.verdicts.compare_with_eq1`).

# %%
extra_seeds = control_configs[dims[0]].seeds  # trained with the chapter's runs
eta_grid = log_grid(*paper.GD_ETA_EXPONENTS, prof.grid_points)
gd_eta = {d: line_search_gd(search[d], eta_grid)[0] for d in dims}


def simpler_steps(d):
    """Eq. 1 and the two simpler steps, each at its own optimum, as predictors."""
    eta, sigma2, _ = kernel_gd[d]
    return {
        "Eq. 1": eq1(d, INCLUDE_QUERY),
        "Eq. 3": lambda c: kernel_gd_step(c, eta, RBFKernel(sigma2)),
        "Eq. 2": lambda c: gd_step(c, gd_eta[d]),
    }


controls, step_loss, model_loss = {}, {}, {}
for d in dims:
    models = [runs[(d, INCLUDE_QUERY)].predictor()]
    models += [extra[d].predictor(m) for m in range(n_controls - 1)]
    y = eval_ctx[d].y_query
    model_loss[d] = [
        float(per_context_loss(m(eval_ctx[d]).detach(), y).mean()) for m in models
    ]
    controls[d], step_loss[d] = {}, {}
    for name, step in simpler_steps(d).items():
        rows = [alignment(model, step, align_ctx[d]) for model in models]
        controls[d][name] = {
            metric: [getattr(r, metric) for r in rows]
            for metric in ("preds_diff", "cos_sim", "model_diff")
        }
        step_loss[d][name] = float(per_context_loss(step(eval_ctx[d]), y).mean())
outcomes, intervals, apart = {}, {}, {}
for d in dims:
    outcomes[d], steps = {}, simpler_steps(d)
    for name in ("Eq. 3", "Eq. 2"):
        apart[(d, name)] = alignment(
            steps["Eq. 1"], steps[name], align_ctx[d]
        ).preds_diff
        outcomes[d][name], intervals[(d, name)] = compare_with_eq1(
            controls[d]["Eq. 1"], controls[d][name], steps_apart=apart[(d, name)]
        )
print(
    "eta of Eq. 2 (line search): "
    + ", ".join(f"d={d}: {gd_eta[d]:.2f}" for d in dims)
)


def spread(values):
    return f"{np.mean(values):.4f} ({min(values):.4f}–{max(values):.4f})"


Table(
    (
        "d",
        "step",
        "preds diff",
        "cos sim",
        "model diff",
        "held-out loss",
        "vs Eq. 1",
    ),
    [
        (
            str(d),
            name,
            spread(v["preds_diff"]),
            spread(v["cos_sim"]),
            spread(v["model_diff"]),
            f"{step_loss[d][name]:.4f}",
            outcomes[d].get(name, "—"),
        )
        for d in dims
        for name, v in controls[d].items()
    ],
)

# %% mystnb={"figure": {"caption": "The trained softmax models (one dot per seed, the bar at their mean) against Eq. 1 at its grid optimum, RBF kernel GD with a fixed learning rate (Eq. 3) and the linear GD step (Eq. 2), each at its own optimum: preds diff (left, lower is closer) and cos sim of the sensitivities (right, higher is closer), per d.", "name": "fig-softmax-controls"}, "image": {"alt": "One row of two dot plots per dimension: preds diff and cos sim of the trained models against Eq. 1, Eq. 3 and Eq. 2, one dot per seed with a bar at the mean."}}
fig = plot_controls({d: controls[d] for d in dims})
plt.show()

# %% [markdown]
# What the seeds can tell, per d, and what it means for the paper's claim there. Each line gives the
# paired 95% interval of (step − Eq. 1) over seeds for both metrics, marks with * the metrics whose
# interval excludes 0 (those the conclusion rests on), and the preds diff between the two steps
# themselves: where it is below the models' distance from either, the steps coincide and the
# models cannot tell them apart.

# %%
MEANING = {
    EQ1_CLOSER: "Eq. 1 describes the models better than {step}",
    CANNOT_TELL: "{step} describes the models as well as Eq. 1",
    OTHER_CLOSER: "{step} describes the models better than Eq. 1",
    NOT_IDENTIFIABLE: "Eq. 1 and {step} are too alike here to say which one "
    "the models do",
}
for d in dims:
    print(f"d={d}:")
    for name, outcome in outcomes[d].items():
        deciding = deciding_metrics(intervals[(d, name)])
        shown = ", ".join(
            f"{m.replace('_', ' ')}{'*' if m in deciding else ''} {v[0]:+.4f} "
            f"[{v[1]:+.4f}, {v[2]:+.4f}]"
            for m, v in intervals[(d, name)].items()
        )
        print(f"  vs {name}: {outcome}; steps apart {apart[(d, name)]:.4f}")
        print(
            textwrap.fill(
                shown, 80, initial_indent=" " * 4, subsequent_indent=" " * 4
            )
        )
        print(
            textwrap.fill(
                MEANING[outcome].format(step=name),
                80,
                initial_indent=" " * 4,
                subsequent_indent=" " * 4,
            )
        )
control_verdict = controls_verdict(
    outcomes,
    setting=f"{softmax_budget}, lr {cfg.lr} {cfg.schedule}, "
    f"{n_controls} seeds per d, "
    f"N = {prof.n_align} contexts",
)

# %% [markdown]
# The alignment claim, on every seed: each seed must be closer to Eq. 1 than the slightly-off step.

# %%
verdict = alignment_verdict(
    "softmax_learns_eq1",
    {d: controls[d]["Eq. 1"] for d in dims},
    bounds,
    setting=f"{softmax_budget}, lr {cfg.lr} {cfg.schedule}, "
    f"{n_controls} seeds per d; "
    f"N = {prof.n_align} contexts",
    step=f"Eq. 1 at its grid optimum (include_query={INCLUDE_QUERY})",
    reference="Eq. 1 at 0.70 c_η, 0.80 c_σ",
    skipped="d = 2, where the paper reports no sensitivities (Appendix F)",
)
print(f"{verdict.claim}: {verdict.verdict}")

# %% [markdown]
# ## Paper vs this book
#
# The paper shows these results as figures; the numbers it states are the learning rates and
# search ranges (Appendix G) and the extracted $c_\eta = 7.15$, $c_\sigma = 31.07$ at $d = 3$
# (chapter 5). Our grid optima are listed for reference.

# %%
rows = []
for d in dims:
    for iq in VARIANTS:
        f = final[(d, iq)]
        cos, pd, md = f["cos_sim"], f["preds_diff"], f["model_diff"]
        rows.append(
            (
                f"d={d}, include_query={iq}: cos sim / preds diff / model diff",
                "→ 1 / low / low (Fig. 4, 6)",
                f"{cos:.4f} / {pd:.4f} / {md:.4f}",
                f"{budget}, seed {seed}",
            )
        )
        rows.append(
            (
                f"d={d}, include_query={iq}: grid (c_eta, c_sigma)",
                "—",
                f"({optimum[(d, iq)][0]:.2f}, {optimum[(d, iq)][1]:.2f})",
                f"{prof.n_search} search contexts",
            )
        )
    sa, eq = mean_loss[d]
    rows.append(
        (
            f"d={d}: mean loss SA / Eq. 1 / plain kernel GD",
            "similar (Fig. 4b)",
            f"{sa:.4f} / {eq:.4f} / {kernel_gd_loss[d]:.4f}",
            f"{prof.n_eval} held-out contexts",
        )
    )
    if d in paper_runs:
        pr = paper_runs[d]
        rows.append(
            (
                f"d={d}: eval loss at the paper's constant lr {pr.config.lr:g}",
                "plateau, then Fig. 4 after 2M steps",
                f"{pr.history['eval_loss'][-1][0]:.4f}",
                f"same budget: {pr.config.steps} steps × {cfg.batch_size}",
            )
        )
comparison_table(rows)

# %% [markdown]
# ## Verdict
#
# In the book's reading, at every d and for every seed: the trained model is closer to Eq. 1 at its
# grid optimum than the slightly-off Eq. 1 is, in predictions and (except at $d = 2$) in
# sensitivities (`icl_lib.verdicts.alignment_verdict`; a test feeds it a model still on the
# plateau, which it must reject). The controls decide the second claim. Neither is asserted here:
# the build compares them with the verdicts expected at its profile (`icl_lib.expected`).

# %%
verdict_table([verdict, control_verdict])

# %% tags=["hide-input"]
metrics = {}
for (d, iq), f in final.items():
    tag = f"d{d}.include_query_{iq}"
    metrics |= {f"{tag}.{name}": value for name, value in f.items()}
    metrics |= {
        f"{tag}.grid_c_eta": optimum[(d, iq)][0],
        f"{tag}.grid_c_sigma": optimum[(d, iq)][1],
        f"{tag}.grid_loss": float(grids[(d, iq)][2].min()),
        f"{tag}.eq1_loss_at_extracted": loss_at_extracted[(d, iq)],
        f"{tag}.c_eta_extracted": extracted[(d, iq)][0],
        f"{tag}.c_sigma_extracted": extracted[(d, iq)][1],
    }
for d in dims:
    for name, v in controls[d].items():
        key = name.replace("Eq. ", "eq")
        metrics |= {f"d{d}.{m}.{key}": float(np.mean(v[m])) for m in v}
        metrics[f"d{d}.loss.{key}"] = step_loss[d][name]
    metrics[f"d{d}.loss.sa_seeds"] = float(np.mean(model_loss[d]))
    metrics[f"d{d}.off_preds_diff"] = off[d].preds_diff
    metrics[f"d{d}.off_cos_sim"] = off[d].cos_sim
    for name in ("Eq. 3", "Eq. 2"):
        metrics[f"d{d}.steps_apart.{name.replace('Eq. ', 'eq')}"] = apart[(d, name)]
    metrics |= {
        f"d{d}.loss_sa": mean_loss[d][0],
        f"d{d}.loss_eq1": mean_loss[d][1],
        f"d{d}.loss_kernel_gd": kernel_gd_loss[d],
        f"d{d}.cross_variant_preds_diff": cross[d].preds_diff,
    }
    if d in paper_runs:
        metrics[f"d{d}.paper_lr_final_eval_loss"] = paper_runs[d].history[
            "eval_loss"
        ][-1][0]
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
}
settings["include_query_reading"] = INCLUDE_QUERY
settings["control_seeds"] = [seed, *extra_seeds]
_ = write_results(
    results_path,
    chapter="04_softmax_vs_kernel_gd",
    profile=profile,
    settings=settings,
    metrics=metrics,
    verdicts=[verdict, control_verdict],
    overrides=overrides,
)
print(
    f"wrote {len(metrics)} metrics and 2 verdicts to "
    f"{relative_to_book(results_path)}"
)
