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
# # Two numbers describe a trained softmax self-attention: extracting cη and cσ
#
# If a trained softmax self-attention implements Eq. 1, its weights should look like the
# construction of Appendix D, and two numbers, $c_\eta$ and $c_\sigma$, should describe it. Appendix H
# (Figures 7, 8, 9) reads them off the weights and follows them through training.
#
# > To extract the effective $c_\sigma$, we take the average value at the diagonal of x-entry
# > submatrix of $W_Q^T W_K$. [...] adding a constant to a column in y-entry submatrix of $W_O W_V$
# > mathematically doesn't change anything—due to softmax activation being shift invariant. [...]
# > we add to each column of y-entry the average value of the off-diagonal entries in that column.
# > This results in the off-diagonal entries being approximately 0, so we take the average of the
# > diagonal entries to be the effective value $c_\eta$.
#
# This chapter reuses chapter 4's trained runs (the run cache), for both query variants.

# %% tags=["parameters", "hide-input"]
profile = "book"  # smoke (tests) | book (published) | paper (2M steps, App. G)
results_path = None  # key numbers; None: results/05_extraction.json in the book
runs_dir = None  # trained runs, cached by full config; None: runs/ in the book
seed = 0  # seed of the initialisation and of the data sets (as in chapter 4)
dims = None  # dimensions d; None: the profile's (book: [2, 3, 5, 10])
C = 5  # number of classes
n = 100  # context points per context
steps = None  # training steps; None: the profile's
lr = None  # peak learning rate; None: the profile's
batch_size = None  # contexts per step; None: the profile's
figure_d = 3  # the dimension of Figures 7 and 8 (the paper's: 3)
device = "auto"  # cpu | cuda | auto
scheduler = None  # None: train here; "local[:K]" or a Dask address (tcp://...)

# %% tags=["hide-input"]


import matplotlib.pyplot as plt

from icl_lib import comparison, paper, plotting
from icl_lib import verdicts as rules
from icl_lib.analysis_cache import ContextSpec, eq1_grid_search
from icl_lib.baselines import adaptive_kernel_gd_step
from icl_lib.chapter import record_results, say, set_up
from icl_lib.chapter_runs import controls, extraction
from icl_lib.extraction import (
    extract_c_eta_c_sigma,
    final_values,
    largest_relative_deviation,
)
from icl_lib.metrics import alignment_through_training
from icl_lib.readings import (
    INCLUDE_QUERY,
    VARIANTS,
    closer_variant,
    log_distance_to_paper,
)
from icl_lib.results import Table, comparison_table
from icl_lib.streams import contexts_for
from icl_lib.sweep import train_each
from icl_lib.training import budget_against_paper, budget_text

# %% tags=["hide-input"]
ch = set_up("05_extraction", globals())
prof, runs_dir, device, dims = ch.profile, ch.runs_dir, ch.device, ch.dims
configs = extraction(
    prof, dims=dims, C=C, n=n, seed=seed, steps=steps, batch_size=batch_size, lr=lr
)
runs = train_each(configs, runs_dir=runs_dir, scheduler=scheduler, device=device)
cfg = runs[(figure_d, INCLUDE_QUERY)].config
budget = budget_text([runs[(d, INCLUDE_QUERY)].config for d in dims])
print(
    f"profile={profile}: {len(runs)} runs, {budget} contexts,\n"
    f"lr {cfg.lr} ({cfg.schedule})"
)

# %% [markdown]
# ## Reading $c_\eta$ and $c_\sigma$ off the weights
#
# `icl_lib.extraction.extract_c_eta_c_sigma` implements the recipe quoted above: $c_\sigma$ is the
# mean diagonal of the $x$-block of $W_Q^\top W_K$; $c_\eta$ is the mean diagonal of the $y$-block of
# $W_O W_V$ after subtracting from each column the mean of its off-diagonal entries. In this
# orientation a column shift adds the same constant to every output logit, so the predictions do
# not change (`tests/test_baselines.py` checks this, and that the extraction recovers constructed
# values exactly, also after such a shift).

# %% tags=["hide-input"]
through = {
    key: (r.history["step"], *extract_c_eta_c_sigma(r.snapshot_weights(), key[0]))
    for key, r in runs.items()
}
final = {
    key: (float(c_eta[-1]), float(c_sigma[-1]))
    for key, (_, c_eta, c_sigma) in through.items()
}
ends = [final[(d, INCLUDE_QUERY)] for d in (dims[0], dims[-1])]
say(
    "ch05_range",
    "({:.3g}, {:.3g}) at d = {} to ({:.3g}, {:.3g}) at d = {}".format(
        *ends[0], dims[0], *ends[1], dims[-1]
    ),
)
Table.from_records(
    {"d": d, "query variant": f"include_query={iq}", "extracted c_η": c_eta}
    | {"extracted c_σ": c_sigma}
    for (d, iq), (c_eta, c_sigma) in final.items()
)

# %% [markdown]
# In the book's reading the values move with d from {glue:text}`ch05_range`. The paper reads
# $(7.15, 31.07)$ at $d = 3$ after 2,000,000 steps; the claims below say how close ours come.
#
# ## Which reading of Figure 2 is the paper's?
#
# Does the query token attend to itself? The paper's only numbers for a trained softmax model are
# the extracted $c_\eta = 7.15$, $c_\sigma = 31.07$ at $d = 3$, after 2,000,000 steps. Two kinds of
# evidence, each measured as the distance in log space to those values:
# 1. budget-free: the optimum of Eq. 1 over Appendix G's grid, for each variant, on the search
#    contexts (a model that has converged to Eq. 1's optimum sits there);
# 2. the trained models: the values read off them above (they depend on the training budget).
#
# Why the question arises: the query is a row of $X$ (Section 2.2) and Appendix G trains "without
# the causal mask", so in the architecture as written the query attends to itself. Eq. 1 and
# Appendix D normalise over the $n$ context points only. The paper's text thus describes both
# readings, one in its architecture and one in its equation; the extracted values decide which
# the paper's trained model followed.
#
# The book reads the paper as the variant both kinds of evidence point to; the library records it
# as `icl_lib.readings.INCLUDE_QUERY`, which chapters 4 to 9 use. Whether the evidence still
# agrees is printed here and written to the results; the build checks it at the `book` profile
# (`icl_lib.expected`), and `tests/test_readings.py` in CI.

# %% tags=["hide-input"]
search = ContextSpec(
    "search", prof.n_search, n=n, d=3, C=C, seed=seed
)  # chapter 4's
grid_optima = {
    iq: eq1_grid_search(
        search, prof.grid_points, include_query=iq, cache_dir=ch.cache_dir
    )[:2]
    for iq in VARIANTS
}
by_grid = closer_variant(grid_optima)
trained_d3 = {iq: final[(3, iq)] for iq in VARIANTS} if 3 in dims else {}
by_training = closer_variant(trained_d3) if trained_d3 else None
best = INCLUDE_QUERY

# %% [markdown]
# Each variant's grid optimum and trained values at $d = 3$, with the log-distance of the grid
# optimum to the paper's values (smaller is closer):


# %% tags=["hide-input"]
def values(pair):
    return "({:.2f}, {:.2f})".format(*pair) if pair else "d = 3 not trained"


say(
    "ch05_readings",
    f"by the grid optima include_query={by_grid}; by the trained models "
    f"include_query={by_training}; the book's reading is "
    f"include_query={INCLUDE_QUERY}",
)
Table.from_records(
    {
        "query variant": f"include_query={iq}",
        "grid optimum (c_η, c_σ)": values(grid_optima[iq]),
    }
    | {"its log-distance": log_distance_to_paper(*grid_optima[iq])}
    | {"trained": values(trained_d3.get(iq))}
    for iq in VARIANTS
)

# %% [markdown]
# Closer to the paper's $(7.15, 31.07)$: {glue:text}`ch05_readings`.
#
# ## The weights through training (paper Figure 7)
#
# $W_Q^\top W_K$ and $W_O W_V$ (the value-to-output map acting on column vectors; the paper's notation
# switches between it and $W_V^\top W_O$) at a few evaluation steps, in the book's reading. The construction of Appendix D has $c_\sigma I_d$ in the $x$-block of the first and
# $c_\eta I_C$ in the $y$-block of the second (black lines separate the blocks). Look for a
# diagonal growing in the $x$-block of $W_Q^\top W_K$ (that is $c_\sigma$) and for the $y$-block of
# $W_O W_V$ turning into a scaled identity up to a constant per column (that is $c_\eta$), while
# the other blocks stay near zero.

# %% tags=["hide-input"]
run = runs[(figure_d, best)]
T = len(run.history["step"])
picks = sorted({0, T // 8, T // 4, T // 2, T - 1})
w = run.snapshot_weights()  # (T, D, D) each
qk, ov = w.qk()[picks], w.ov()[picks]

# %% mystnb={"figure": {"caption": "Paper Figure 7, regenerated: $W_Q^\\top W_K$ (top) and $W_O W_V$ (bottom) of the softmax self-attention through training, d = 3, C = 5, n = 100 (one colour scale per row, red positive, blue negative).", "name": "fig-extraction-weights"}, "image": {"alt": "Two rows of small matrix heat maps at five training steps, W_Q^T W_K on top and W_O W_V below, with one colour bar per row and lines separating the x- and y-blocks."}} tags=["hide-input"]
fig = plotting.plot_weight_products(
    [run.history["step"][i] for i in picks], qk, ov, figure_d
)
plt.show()

# %% [markdown]
# ## Does Eq. 1 at the extracted values describe the model? (paper Figure 8)
#
# At every evaluation step, the alignment between the model and Eq. 1 at the values extracted *at
# that step* (a); and with values slightly off (b). The paper's off values for d = 3 are
# $c_\eta = 5, c_\sigma = 25$ against the extracted $7.15, 31.07$; we apply the same ratios
# ($5/7.15$, $25/31.07$) to our final extracted values, since our values differ from the paper's.

# %% tags=["hide-input"]
align_ctx = contexts_for("align", prof.n_align, n=n, d=figure_d, C=C, seed=seed)
steps_fig, c_eta_t, c_sigma_t = through[(figure_d, best)]
predictors = run.snapshot_predictors()
at_each = [(float(a), float(b)) for a, b in zip(c_eta_t, c_sigma_t, strict=True)]
extracted_curve = comparison.alignment_at_values(
    predictors, at_each, align_ctx, include_query=best
)
read = final[(figure_d, best)]
off = (
    read[0] * paper.C_ETA_D3_OFF / paper.C_ETA_D3,
    read[1] * paper.C_SIGMA_D3_OFF / paper.C_SIGMA_D3,
)
off_curve = alignment_through_training(
    predictors,
    lambda c: adaptive_kernel_gd_step(c, *off, include_query=best),
    align_ctx,
)

# %% [markdown]
# At the end of training. Look for a lower preds diff and a higher cos sim at the extracted values
# than at the values off by the paper's ratios:

# %% tags=["hide-input"]
Table.from_records(
    {
        "Eq. 1 at": label,
        "preds diff": curve["preds_diff"][-1],
        "cos sim": curve["cos_sim"][-1],
    }
    for label, curve in {
        "the extracted values": extracted_curve,
        "({:.2f}, {:.2f}), off".format(*off): off_curve,
    }.items()
)

# %% mystnb={"figure": {"caption": "Paper Figure 8, regenerated (d = 3): alignment of the trained softmax self-attention with Eq. 1 a) at the values extracted at each step, b) at fixed values off by the paper's ratios.", "name": "fig-extraction-alignment"}, "image": {"alt": "Two panels of alignment metrics through training: at the values extracted at each step, and at values slightly off."}} tags=["hide-input"]
fig = plotting.plot_alignment_through_training(
    {
        "a) extracted values": (steps_fig, extracted_curve),
        "b) values slightly off": (steps_fig, off_curve),
    }
)
plt.show()

# %% [markdown]
# ## $c_\eta$ and $c_\sigma$ through training (paper Figure 9)
#
# The values read off the weights at every evaluation step, for each d.

# %% mystnb={"figure": {"caption": "Paper Figure 9, regenerated: $c_\\sigma$ and $c_\\eta$ read off the softmax self-attention through training (the book's reading: the query does not attend to itself), for C = 5, n = 100 and each d.", "name": "fig-extraction-dynamics"}, "image": {"alt": "Four panels, one per dimension, of c_sigma and c_eta read off the weights through training, on a symmetric log axis."}} tags=["hide-input"]
fig = plotting.plot_coefficients_through_training(
    {d: through[(d, best)] for d in dims}
)
plt.show()

# %% [markdown]
# ## The claims, checked
#
# Three claims of Appendix H, each by a rule of `icl_lib.verdicts` that a test feeds failing cases:
# - the values read off the model at $d = 3$ are the paper's: both within 5% of (7.15, 31.07), in
#   the book's reading. The 5% has to exceed how much the values vary from seed to seed: the
#   values of chapter 4's control seeds at $d = 3$ are read off below, and their spread is written
#   to the results (the notes page lists it beside the threshold);
# - Eq. 1 at the extracted values describes the model better than at the slightly-off values (a
#   higher cos sim and a lower preds diff) ({numref}`fig-extraction-alignment`, the paper's Figure 8);
# - as d grows, $c_\sigma$ falls and $c_\eta$ rises, over all the dimensions trained ({numref}`fig-extraction-dynamics`; the
#   paper's Figure 9: "for
#   $d = 2$ [...] high $c_\sigma$ [...] larger attention window (made possible with lower $c_\sigma$),
#   and higher saturation [...] (higher $c_\eta$)").
#
# None is asserted: at a budget too small, a verdict says so. The build compares them with the
# verdicts expected at its profile (`icl_lib.expected`).

# %% tags=["hide-input"]
seed_values = []
if 3 in dims:  # chapter 4's control seeds at d = 3, read from the run cache
    chapter = dict(
        dims=[3], C=C, n=n, seed=seed, steps=steps, batch_size=batch_size, lr=lr
    )
    (ctl,) = train_each(
        controls(prof, **chapter),
        runs_dir=runs_dir,
        scheduler=scheduler,
        device=device,
    ).values()
    seed_values = [final[(3, best)]] + [
        final_values(ctl.snapshot_weights(m), 3)
        for m in range(len(ctl.config.seeds))
    ]
    seed_spread = largest_relative_deviation(seed_values)
    print(
        "d=3, (c_η, c_σ) per seed: "
        + ", ".join("({:.2f}, {:.2f})".format(*v) for v in seed_values)
        + f"\nlargest deviation from their mean: {seed_spread:.1%}"
    )

# %% tags=["hide-input"]
setting = (
    budget_against_paper(
        [runs[(d, best)].config for d in dims], paper.SOFTMAX_STEPS
    )
    + ", "
    f"lr {cfg.lr} {cfg.schedule}, seed {seed}, include_query={best}"
)
verdicts = []
if 3 in dims:
    verdicts.append(rules.extracted_d3_verdict(*final[(3, best)], setting=setting))
verdicts += [
    rules.extraction_works_verdict(
        {k: v[-1] for k, v in extracted_curve.items()},
        {k: v[-1] for k, v in off_curve.items()},
        setting=f"d={figure_d}; {setting}; N = {prof.n_align} contexts",
    ),
    rules.dynamics_by_d_verdict(
        {d: final[(d, best)] for d in dims}, setting=setting
    ),
]
say("ch05_verdicts", "; ".join(f"{v.title}: {v.verdict}" for v in verdicts))

# %% [markdown]
# In this build: {glue:text}`ch05_verdicts`.
#
# ## Paper vs this book
#
# For $d = 3$ the paper extracts $c_\eta = 7.15$, $c_\sigma = 31.07$ after 2,000,000 steps. Beside
# them: our extracted values for both query variants and the grid optimum of Eq. 1 of the same
# variant (the budget-free evidence above).

# %% tags=["hide-input"]
trained = f"{budget}, lr {cfg.lr} {cfg.schedule}, seed {seed}"
grid = f"{trained}; grid: {prof.n_search} search contexts"
said = f"({paper.C_ETA_D3}, {paper.C_SIGMA_D3}) extracted, 2M steps"
rows = [
    (
        f"d=3: (c_eta, c_sigma), include_query={iq}",
        said,
        f"extracted {values(trained_d3.get(iq))}; grid {values(grid_optima[iq])}",
        grid,
    )
    for iq in VARIANTS
]
rows += [
    (
        f"d={d}: final (c_eta, c_sigma), include_query={best}",
        "Fig. 9",
        values(final[(d, best)]),
        setting,
    )
    for d in dims
    if d != 3
]
comparison_table(rows)

# %% [markdown]
# ## Verdicts

# %% tags=["hide-input"]
rules.verdict_table(verdicts)

# %% tags=["hide-input"]
metrics = {
    f"d{figure_d}.cos_sim_at_extracted": extracted_curve["cos_sim"][-1],
    f"d{figure_d}.cos_sim_off": off_curve["cos_sim"][-1],
    f"d{figure_d}.preds_diff_at_extracted": extracted_curve["preds_diff"][-1],
    f"d{figure_d}.preds_diff_off": off_curve["preds_diff"][-1],
    "d3.reading_by_grid_include_query": float(by_grid),
}
if 3 in dims:
    metrics |= {
        "d3.c_eta_extracted": final[(3, best)][0],
        "d3.c_sigma_extracted": final[(3, best)][1],
        "d3.reading_by_training_include_query": float(by_training),
        "d3.seed_spread": seed_spread,
        "d3.seeds_in_spread": float(len(seed_values)),
    }
for (d, iq), (c_eta, c_sigma) in final.items():
    metrics |= {
        f"d{d}.include_query_{iq}.c_eta_extracted": c_eta,
        f"d{d}.include_query_{iq}.c_sigma_extracted": c_sigma,
    }
for iq in VARIANTS:
    metrics |= {
        f"d3.include_query_{iq}.grid_c_eta": grid_optima[iq][0],
        f"d3.include_query_{iq}.grid_c_sigma": grid_optima[iq][1],
    }

# %% tags=["hide-input"]
paper_values = (
    {"d3.c_eta_extracted": paper.C_ETA_D3, "d3.c_sigma_extracted": paper.C_SIGMA_D3}
    if 3 in dims
    else {}
)
settings = {
    "seed": seed,
    "C": C,
    "n": n,
    "dims": dims,
    "figure_d": figure_d,
    "device": device,
    "train": cfg.to_dict() | {"d": "per dim"},
    "off_values": list(off),
    "n_align": prof.n_align,
    "n_search": prof.n_search,
    "include_query_reading": INCLUDE_QUERY,
}
record_results(
    ch,
    settings=settings,
    metrics=metrics,
    paper=paper_values,
    verdicts=verdicts,
)
