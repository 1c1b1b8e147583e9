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
# # d = 10: cη keeps growing after the loss looks flat
#
# Appendix I (Figure 10) follows the two effective values of chapter 5 through training at
# $d = 10$ ($C = 5$, $n = 100$), for four constant learning rates:
#
# > Interestingly, for higher learning rate, the growth of $c_\eta$ flattens earlier and around a
# > smaller value [...]. Observation that no value of $c_\eta$ converged yet, together with the fact
# > that grid search finds the optimal $c_\eta$ to be $\sim 8{,}000$, we realized that this case of
# > $d = 10$ has a more complicated loss landscape. [...] A lesson learned from these experiments is
# > that seemingly flat loss and accuracy curves can be misleading, and the model may still be
# > developing.
#
# This chapter trains the four learning rates side by side on the same batches. It reads
# $(c_\eta, c_\sigma)$ off every stored snapshot (chapter 5's extraction) and grid-searches Eq. 1
# at $d = 10$ with the paper's ranges. Then it computes each of the statements above.
#
# The paper's budget: Appendix G evaluates "every 100 iterations", and its plots count evaluations,
# so Figure 10's "60,000 evaluation iterations" are 6,000,000 training steps of 2048 contexts. The
# `book` profile trains 60,000 steps of 512 contexts: 1% of the paper's steps and 0.25% of its
# contexts (printed below for the run at hand). Every verdict here says it depends on the budget.

# %% tags=["parameters", "hide-input"]
profile = "book"  # smoke (tests) | book (published) | paper (batches of 2048)
results_path = None  # key numbers; None: results/06_d10_dynamics.json in the book
runs_dir = None  # trained runs, cached by full config; None: runs/ in the book
seed = 0  # member i (rate i) starts from seed + i; also the data sets' seed
# d: None is the profile's (book, paper: 10; smoke: 3: short runs leave the plateau)
d = None  # dimension
C = 5  # number of classes
n = 100  # context points per context
# lrs: None is the profile's (book, paper: [5e-5, 1e-4, 8e-4, 3e-3], as Figure 10)
lrs = None  # constant learning rates compared
steps = None  # training steps; None: the profile's (book, paper: 60,000)
batch_size = None  # contexts per step; None: the profile's (book: 512, paper: 2048)
include_query = None  # None: the book's reading (icl_lib.readings, chapter 5)
# a run has left the plateau once its eval loss is below this fraction of log C
plateau_fraction = None  # left the plateau: loss below this × log C; None: 0.9
device = "auto"  # cpu | cuda | auto
scheduler = None  # None: train here; "local[:K]" or a Dask address (tcp://...)

# %% tags=["hide-input"]
import math

import matplotlib.pyplot as plt

from icl_lib import dynamics, paper
from icl_lib import verdicts as rules
from icl_lib.analysis_cache import ContextSpec, eq1_grid_search
from icl_lib.baselines import adaptive_grid, adaptive_kernel_gd_step
from icl_lib.chapter import record_results, say, set_up
from icl_lib.chapter_runs import d10_dynamics
from icl_lib.curves import near_optimal_region
from icl_lib.metrics import alignment, per_context_loss
from icl_lib.plotting import plot_dynamics_by_lr
from icl_lib.results import Table, span
from icl_lib.streams import contexts_for
from icl_lib.sweep import train_all
from icl_lib.thresholds import GRID_SETS, flat_rule
from icl_lib.training import budget_against_paper

# %% tags=["hide-input"]
ch = set_up("06_d10_dynamics", globals())
prof, runs_dir, device = ch.profile, ch.runs_dir, ch.device
d, lrs, include_query = ch.d, ch.lrs, ch.include_query
config = d10_dynamics(
    prof,
    d=d,
    C=C,
    n=n,
    seed=seed,
    lrs=lrs,
    steps=steps,
    batch_size=batch_size,
    include_query=include_query,
)
budget = (
    f"{budget_against_paper(config, paper.D10_STEPS)}: "
    f"{100 * config.steps / paper.D10_STEPS:.2g}% of the paper's steps"
)
print(
    f"profile={profile}: d={d}, C={C}, n={n}, clip {config.clip},\n"
    f"constant learning rates {list(lrs)},\n"
    f"include_query={include_query}, device {device}\n{budget}"
)

# %% [markdown]
# ## Training
#
# One ensemble, one member per learning rate. All members see the same batches
# (`shared_data=True`), so they differ only in the learning rate and in their small random
# initialisation (member $i$ from seed + $i$). Adam, clipping by global norm 1.0 and the
# initialisation are as in chapter 4; the rates are constant, as in the paper. A rate has left the
# initial plateau once its evaluation loss is below `plateau_fraction` $\times \log C$. The
# method (`icl_lib.dynamics.rate_records` reads every snapshot):

# %%
(run,) = train_all([config], runs_dir=runs_dir, scheduler=scheduler, device=device)
records = dynamics.rate_records(
    run, d, chance=math.log(C), plateau_fraction=ch.plateau_fraction
)

# %% [markdown]
# Each rate's loss from start to end, and its final values. Look for which rates left the plateau:

# %% tags=["hide-input"]
Table.from_records(
    {
        "learning rate": f"{lr:g}",
        "eval loss, start": r["loss"][0],
        "end": r["loss"][-1],
    }
    | {"left the plateau": "no" if r["exit"] is None else f"step {r['exit']:.0f}"}
    | {"final (c_η, c_σ)": f"({r['c_eta'][-1]:.2f}, {r['c_sigma'][-1]:.3f})"}
    for lr, r in records.items()
)

# %% [markdown]
# ## Where Eq. 1 is best, and how flat it is there (Appendix G's grid)
#
# Eq. 1 is searched over the paper's $100 \times 100$ log grid for $d = 10$: $c_\eta \in [10, 10^4]$
# and $c_\sigma \in [10^{-3}, 10]$ (other d: the ranges of chapter 4), on `n_search` search contexts
# (10,000 in the paper), in the same query variant as the runs. Beside the optimum: the region of
# the grid where the loss is within 0.1% of its minimum, where the loss cannot tell a point from the
# optimum, and whether the optimum or that region touches the grid's edge. Where the optimum of so
# flat a loss lands depends on the sample of contexts, so the search is repeated on two more
# independent sets: the paper's "~8,000" is checked against the range of the three optima. The
# method:

# %%
specs = [
    ContextSpec(
        "search", prof.n_search, n=n, d=d, C=C, seed=seed, key=(k,) if k else ()
    )
    for k in range(GRID_SETS)
]  # the first is chapter 4's set at this d
searches = [
    eq1_grid_search(
        s, prof.grid_points, include_query=include_query, cache_dir=ch.cache_dir
    )
    for s in specs
]
c_eta_star, c_sigma_star, grid_losses = searches[0]
optima = [c_eta for c_eta, _, _ in searches]
c_etas, c_sigmas = adaptive_grid(d, prof.grid_points)
region = near_optimal_region(grid_losses.numpy(), c_etas.numpy(), c_sigmas.numpy())

# %% [markdown]
# The optimum, the near-optimal region and the sampling noise of the loss there (the standard
# error of the mean loss at the optimum, the scale against which 0.1% is judged):

# %% tags=["hide-input"]
search = specs[0].draw()
at_optimum = per_context_loss(
    adaptive_kernel_gd_step(
        search, c_eta_star, c_sigma_star, include_query=include_query
    ),
    search.y_query,
)
loss_se_relative = dynamics.relative_standard_error(at_optimum)

# %% tags=["hide-input"]
say("ch06_ratio", f"{region['x_ratio']:.0f}")
say("ch06_se", f"{loss_se_relative:.2%}")
dynamics.grid_table(
    (c_eta_star, c_sigma_star),
    float(grid_losses.min()),
    region,
    loss_se_relative=loss_se_relative,
    optima=optima,
)

# %% [markdown]
# Within 0.1% of the minimum loss, $c_\eta$ spans a factor of {glue:text}`ch06_ratio`, while the
# sampling noise of the mean loss is {glue:text}`ch06_se` of it: along $c_\eta$ the search
# contexts can hardly tell the optimum from points far below it, which is why its position is
# checked on independent sets.
#
# Paper Figure 10, regenerated. Look for the step at which each rate's $c_\eta$ (top) bends over,
# and how far below the grid optimum (dashed) it stays while the loss (bottom) is already flat:

# %% mystnb={"figure": {"caption": "Paper Figure 10, regenerated at the book's budget: $c_\\eta$ (log scale), $c_\\sigma$ and the evaluation loss through training, one line per constant learning rate; the dashed lines are the grid optimum of Eq. 1.", "name": "fig-d10-dynamics"}, "image": {"alt": "Three stacked panels sharing the training-step axis, one line per learning rate: c_eta on a log axis, c_sigma, and the evaluation loss, with the grid optimum of Eq. 1 dashed."}} tags=["hide-input"]
fig = plot_dynamics_by_lr(
    {
        lr: (r["steps"], r["c_eta"], r["c_sigma"], r["loss"])
        for lr, r in records.items()
    },
    c_eta_star=c_eta_star,
    c_sigma_star=c_sigma_star,
)
plt.show()

# %% [markdown]
# ## The statements, computed
#
# Figure 10's runs learned selection ($c_\eta, c_\sigma > 0$; chapter 7). For each learning rate that
# left the plateau and ended with both values positive, from its exit on:
# - **where $c_\eta$ flattens**: the step from which the growth rate $d \log c_\eta / d\,\text{step}$,
#   fitted over a window of a tenth of the snapshots, stays below $\log(1.1)$ per tenth of the run
#   (less than 10% growth per tenth of the run, as flat as it would look on a plot of this run).
#   "Flattens earlier" means this step is earlier for a higher learning rate.
# - **the value it flattens around**: the final $c_\eta$ of a rate that has flattened. "Around a
#   smaller value" means it is smaller for a higher learning rate; a $c_\eta$ still growing ends
#   above its final value.
# - **converged**: $c_\eta(T)$ within the range of $c_\eta$ where Eq. 1's loss is within 0.1% of its
#   grid minimum (above). "No value of $c_\eta$ converged" means every rate ends below it.
# - **have the predictions converged?** The final model against Eq. 1 at the grid optimum (the
#   alignment metrics of chapter 4, on `n_align` contexts) and the change of the loss over the last
#   half.
#
# The method (`icl_lib.thresholds.flat_rule`, `icl_lib.dynamics.flat_steps`):

# %%
threshold, window = flat_rule(config.steps, len(run.history["step"]))
compared, other = dynamics.with_selection(records)
flat_step = dynamics.flat_steps(
    records, compared, threshold=threshold, window=window
)
align_ctx = contexts_for("align", prof.n_align, n=n, d=d, C=C, seed=seed)
optimum_step = lambda c: adaptive_kernel_gd_step(  # noqa: E731
    c, c_eta_star, c_sigma_star, include_query=include_query
)
agreement = {
    lr: alignment(run.predictor(records[lr]["member"]), optimum_step, align_ctx)
    for lr in compared
}

# %% [markdown]
# Per rate compared. Look at "c_eta flat from" against the learning rate, and at the final c_eta
# against the optimum ("c_eta / c_eta*"):

# %% tags=["hide-input"]
for lr in other:
    values = f"({records[lr]['c_eta'][-1]:.2f}, {records[lr]['c_sigma'][-1]:.2f})"
    print(f"lr {lr:g} left the plateau without selection's signs: {values}")
moves = dynamics.last_half(records, compared)
say("ch06_loss_moved", span((100 * m[0] for m in moves.values()), "+.1f"))
say("ch06_eta_moved", span((100 * m[1] for m in moves.values()), "+.0f"))
dynamics.rates_table(
    records, compared, flat_step, c_eta_star=c_eta_star, agreement=agreement
)

# %% [markdown]
# Over the last half of training, the loss of the rates compared changed by
# {glue:text}`ch06_loss_moved`% while their $c_\eta$ changed by {glue:text}`ch06_eta_moved`%: the
# paper's "seemingly flat loss and accuracy curves can be misleading", measured.
#
# The rules (`icl_lib.verdicts`), each with the setting that produced its numbers:

# %%
setting = f"d={d}, {budget}, constant lr, seeds {seed}..{seed + len(lrs) - 1}"
final = {lr: float(records[lr]["c_eta"][-1]) for lr in compared}
criterion = (
    f"c_η flat (growth < 10% per tenth of the run: {threshold:.2g}/step over "
    f"{window}-snapshot windows) from an earlier step for a higher rate"
)
verdicts = [
    rules.flattens_earlier_verdict(flat_step, setting=setting, criterion=criterion),
    rules.smaller_value_verdict(
        final, {lr: flat_step[lr] is not None for lr in compared}, setting=setting
    ),
    rules.not_converged_verdict(final, region, setting=setting),
]
if d == paper.D10:
    grid_setting = f"{len(optima)} sets of {prof.n_search} search contexts, "
    grid_setting += f"{prof.grid_points}² grid"
    verdicts.append(
        rules.grid_optimum_verdict(optima, region, setting=grid_setting)
    )
say("ch06_verdicts", "; ".join(f"{v.title}: {v.verdict}" for v in verdicts))

# %% [markdown]
# In this build: {glue:text}`ch06_verdicts`. A rate that never leaves the plateau says nothing
# about these statements; where fewer than two rates leave it within the budget, the rules answer
# "not testable" rather than guess. Each can come out either way, and the tests of
# `icl_lib.verdicts` feed every rule cases where it must.
#
# ## Paper vs this book

# %% tags=["hide-input"]
grid = f"{prof.n_search} search contexts, {prof.grid_points}² grid"
optimum = (c_eta_star, c_sigma_star)
dynamics.paper_table(records, optimum, region, d=d, grid=grid, setting=setting)

# %% [markdown]
# ## Verdicts

# %% tags=["hide-input"]
rules.verdict_table(verdicts)

# %% tags=["hide-input"]
metrics = {
    "grid_c_eta": c_eta_star,
    "grid_c_sigma": c_sigma_star,
    "grid_loss": float(grid_losses.min()),
    "grid_near_optimal_c_eta_low": region["x_low"],
    "grid_near_optimal_c_eta_high": region["x_high"],
    "grid_near_optimal_c_sigma_low": region["y_low"],
    "grid_near_optimal_c_sigma_high": region["y_high"],
    "grid_optimum_on_edge": float(region["optimum_on_edge"]),
    "loss_se_relative": loss_se_relative,
    "lrs_left_plateau": float(len(compared) + len(other)),
    "lrs_compared": float(len(compared)),
}
for lr, r in records.items():
    tag = f"lr{lr:g}"
    metrics |= {
        f"{tag}.final_eval_loss": float(r["loss"][-1]),
        f"{tag}.final_c_eta": float(r["c_eta"][-1]),
        f"{tag}.final_c_sigma": float(r["c_sigma"][-1]),
    }
    if lr in compared:
        metrics |= {
            f"{tag}.plateau_exit_step": r["exit"],
            f"{tag}.preds_diff_vs_grid_optimum": agreement[lr].preds_diff,
            f"{tag}.cos_sim_vs_grid_optimum": agreement[lr].cos_sim,
        }
        if flat_step[lr] is not None:
            metrics[f"{tag}.c_eta_flat_from_step"] = flat_step[lr]

# %% tags=["hide-input"]
run_settings = {
    "d": d,
    "C": C,
    "n": n,
    "lrs": list(lrs),
    "seed": seed,
    "device": device,
    "n_search": prof.n_search,
    "grid_points": prof.grid_points,
    "plateau_fraction": ch.plateau_fraction,
    "budget": budget,
    "flat_threshold_per_step": threshold,
    "flat_window_snapshots": window,
    "train": config.to_dict(),
}
record_results(
    ch,
    settings=run_settings,
    metrics=metrics,
    verdicts=verdicts,
    paper={"grid_c_eta": paper.D10_GRID_C_ETA} if d == paper.D10 else None,
)
