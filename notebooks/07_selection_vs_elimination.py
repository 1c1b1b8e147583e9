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
# # Selection or elimination: two algorithms a softmax self-attention learns
#
# Appendix J (Figure 11) reports that softmax self-attention does not always learn Eq. 1 as the
# other chapters show it:
#
# > In the more common case, our results match the context-adaptive kernel GD solution [...]
# > the model is *selecting* the context points from which to copy the labels [...]. More rarely,
# > we observe a different algorithm—*elimination*—whereby softmax self-attention learns to attend
# > to the tokens *furthest* from the query and then *subtract* those out. [...] especially when C
# > is low, the elimination algorithm is appearing as well.
#
# Figure 11 gives the proportion of 20 seeds that learn selection, varying C, d and n around the
# base setting d = 2, C = 5, n = 100. This chapter trains those seeds and classifies each trained
# model. Both algorithms are Eq. 1: selection has $c_\eta, c_\sigma > 0$. Elimination has both
# negative: $c_\sigma < 0$ puts the attention on the furthest points, and $c_\eta < 0$ subtracts
# their labels. So we:
#
# 1. read the signed $(c_\eta, c_\sigma)$ off the weights (chapter 5's extraction);
# 2. check that Eq. 1 at those signed values describes the model on held-out contexts (same
#    predicted class on most contexts, loss well below chance);
# 3. check the label against what the query actually attends to. This uses the correlation between
#    the attention weights and $\langle x_i, x_{query}\rangle$, computed from the model, not from
#    the extraction.

# %% tags=["parameters", "hide-input"]
profile = "book"  # smoke (tests) | book (published) | paper (Appendix G budgets)
# key numbers; None: results/07_selection_vs_elimination.json in the book's tree
results_path = None
runs_dir = None  # trained runs, cached by full config; None: runs/ in the book
# seeds first_seed, first_seed + 1, ...: each its own initialisation and data stream
first_seed = 0  # also the held-out set's seed
n_seeds = None  # seeds per setting; None: the profile's (book, paper: 20, Fig. 11)
d = 2  # the base setting of Appendix J: d 2, C 5, n 100
C = 5  # number of classes (base)
n = 100  # context points per context (base)
classes = None  # C swept at the base d, n; None: the profile's (book [2, 4, 5, 10])
dims = None  # d swept at the base C and n; None: the profile's (book: [2, 3, 5])
# lengths: None is the profile's (book: [20, 50, 100, 200])
lengths = None  # n swept at the base d and C
steps = None  # training steps; None: the profile's (book: 1000)
lr = None  # peak learning rate; None: the profile's (book: 3e-2, warm-up + cosine)
batch_size = None  # contexts per step; None: the profile's (book: 256)
include_query = None  # None: the book's reading (icl_lib.readings, chapter 5)
# share of contexts on which Eq. 1 at the extracted values gives the model's class;
# None: icl_lib.thresholds (0.8)
min_agreement = None
max_loss_fraction = None  # ... and at most this fraction of log C; None: 0.5
device = "auto"  # cpu | cuda | auto
scheduler = None  # None: train here; "local[:K]" or a Dask address (tcp://...)

# %% tags=["hide-input"]
import math

import matplotlib.pyplot as plt
import numpy as np

from icl_lib import algorithms, paper, plotting
from icl_lib.algorithms import ALGORITHMS, BLOCKS, block_norms
from icl_lib.chapter import record_results, say, set_up
from icl_lib.chapter_runs import selection_settings, selection_vs_elimination
from icl_lib.results import Table
from icl_lib.statistics import wilson_interval
from icl_lib.streams import contexts_for
from icl_lib.sweep import train_each
from icl_lib.training import budget_against_paper
from icl_lib.verdicts import (
    elimination_low_c_verdict,
    selection_majority_verdict,
    verdict_table,
)

# %% tags=["hide-input"]
ch = set_up("07_selection_vs_elimination", globals())
prof, runs_dir, device = ch.profile, ch.runs_dir, ch.device
n_seeds, include_query = ch.n_seeds, ch.include_query
swept = dict(classes=ch.classes, dims=ch.dims, lengths=ch.lengths)
seeds = tuple(range(first_seed, first_seed + n_seeds))
base = (d, C, n)
panels = selection_settings(prof, d=d, C=C, n=n, **swept)
configs = selection_vs_elimination(
    prof,
    first_seed=first_seed,
    n_seeds=n_seeds,
    d=d,
    C=C,
    n=n,
    steps=steps,
    lr=lr,
    batch_size=batch_size,
    include_query=include_query,
    **swept,
)

# %% tags=["hide-input"]
settings = list(configs)  # unique, base first
cfg = configs[base]
print(
    f"profile={profile}: {len(settings)} settings (d, C, n) x {n_seeds} seeds,\n"
    f"{cfg.steps} steps of {cfg.batch_size} contexts, "
    f"lr {cfg.lr} ({cfg.schedule}), "
    f"include_query={include_query}, device {device}"
)

# %% [markdown]
# ## Training
#
# Each setting trains its seeds as one ensemble. Every member has its own initialisation and its
# own stream of contexts (`shared_data=False`), so the seeds are independent runs, as in a
# statistic over seeds. Optimiser and initialisation are those of chapter 4. The book's schedule
# is chapter 4's warm-up and cosine decay, at a smaller budget per seed. Look for final losses
# well below chance ($\log C$): a seed still near chance has learned nothing yet.

# %% tags=["hide-input"]
runs = train_each(configs, runs_dir=runs_dir, scheduler=scheduler, device=device)
Table.from_records(
    {"(d, C, n)": s, "final eval loss, lowest": min(r), "highest": max(r)}
    | {"chance log C": math.log(s[1])}
    for s in settings
    for r in [runs[s].history["eval_loss"][-1]]
)

# %% [markdown]
# ## Classifying every seed
#
# Held-out contexts (`n_eval` per setting, seeds disjoint from training). A model is
# *selection* or *elimination* when Eq. 1 at its signed extracted $(c_\eta, c_\sigma)$ predicts its
# class on at least `min_agreement` of these contexts and has a loss at most `max_loss_fraction`
# $\times \log C$, with both coefficients positive or both negative. Otherwise it is *neither*: it
# may still be leaving the plateau, or it may have learned something that Eq. 1 does not describe.
# The method (`icl_lib.algorithms.classify_algorithm`):

# %%
rule = dict(
    include_query=include_query,
    min_agreement=ch.min_agreement,
    max_loss_fraction=ch.max_loss_fraction,
)
held_out = {
    s: contexts_for("heldout", prof.n_eval, n=s[2], d=s[0], C=s[1], seed=first_seed)
    for s in settings
}
fits = {
    s: algorithms.classify_members(runs[s].weights, n_seeds, held_out[s], **rule)
    for s in settings
}
counts = {s: algorithms.count_algorithms(fits[s]) for s in settings}
algorithms.check_attention_agrees(
    fits
)  # the label agrees with what the query attends to

# %% [markdown]
# The count per setting. The last line of the cell above guards the classification by behaviour:
# every selection model attends more to closer points (mean correlation between attention weight
# and $\langle x_i, x_q\rangle$ above 0), every elimination model to further ones (below 0); the
# chapter stops if one does not.

# %% tags=["hide-input"]
Table.from_records({"(d, C, n)": s} | counts[s] for s in settings)

# %% [markdown]
# Where do the weights put their mass? Eq. 1 uses two blocks: the x-block of $W_Q^\top W_K$ (query
# position against key position) and the y-block of $W_O W_V$ (attended labels to logits). Two
# other blocks can also change the prediction. The xy-block of $W_Q^\top W_K$ scores a key by its
# *label*; the yx-block of $W_O W_V$ turns attended *positions* into logits. Below: the Frobenius
# norm of each block, as a median over the runs of each algorithm (all settings).

# %% tags=["hide-input"]
norms = {
    a: [
        block_norms(runs[s].weights.member(m), s[0])
        for s in settings
        for m, f in enumerate(fits[s])
        if f.algorithm == a
    ]
    for a in ALGORITHMS
}
Table.from_records(
    {"algorithm": a, "runs": len(v)}
    | dict(zip(BLOCKS, np.median(v, axis=0), strict=True))
    for a, v in norms.items()
    if v
)

# %% [markdown]
# A run whose mass sits in the xy- and yx-blocks rather than in Eq. 1's two blocks has learned
# something else. It picks keys by their label and reads out their positions. Neither selection
# nor elimination describes that, which is why such runs are counted apart.
#
# Paper Figure 11, regenerated. Look for the share of selection above each bar and how it moves
# with C, d and n:

# %% mystnb={"figure": {"caption": "Paper Figure 11, regenerated at the book's budget: for each setting, how many of the seeds learned selection, elimination or neither, varying C, d and n around the base setting d = 2, C = 5, n = 100; the percentage is the proportion of selection, the error bars the 95% Wilson intervals of the selection and elimination counts.", "name": "fig-selection-counts"}, "image": {"alt": "Three bar charts of seed counts, varying the number of classes, the dimension and the context length: stacked bars for selection, elimination and neither, with the percentage of selection above each bar."}} tags=["hide-input"]
fig = plotting.plot_algorithm_counts(
    {
        title: (
            [s[i] for s in ss],
            {a: [counts[s][a] for s in ss] for a in ALGORITHMS},
        )
        for (title, ss), i in zip(panels.items(), (1, 0, 2), strict=True)
    },
    n_seeds=n_seeds,
)
plt.show()

# %% [markdown]
# The signed values read off every model. Look for two clusters, upper right (selection) and lower
# left (elimination), and for "neither" near the origin:

# %% mystnb={"figure": {"caption": "The signed coefficients read off every trained model (all settings; symmetric-log axes), coloured by the algorithm it was classified as. Selection sits in the upper right, elimination in the lower left; 'neither' stays near the origin.", "name": "fig-selection-coefficients"}, "image": {"alt": "Scatter plot of the extracted c_eta against c_sigma on symmetric log axes, one point per trained model, coloured by the algorithm it was classified as."}} tags=["hide-input"]
every = [f for s in settings for f in fits[s]]
fig = plotting.plot_algorithm_coefficients(
    {
        a: (
            [f.c_sigma for f in every if f.algorithm == a],
            [f.c_eta for f in every if f.algorithm == a],
        )
        for a in ALGORITHMS
    }
)
plt.show()

# %% [markdown]
# ## What the query attends to
#
# The extraction reads two numbers off the weights. The attention itself is the direct evidence.
# Below, one selection model and one elimination model (from the base setting when it has both,
# else from the setting with the most elimination runs): the weight the query gives each context
# point, against that point's similarity to the query.

# %% tags=["hide-input"]
with_both = [
    s for s in settings if counts[s]["selection"] and counts[s]["elimination"]
]
example = (
    base
    if base in with_both
    else max(with_both, key=lambda s: counts[s]["elimination"], default=None)
)
examples = {}
for algorithm in ("selection", "elimination") if example else ():
    member = next(
        m for m, f in enumerate(fits[example]) if f.algorithm == algorithm
    )
    f = fits[example][member]
    title = f"{algorithm}, seed {seeds[member]}: "
    title += f"cη = {f.c_eta:.1f}, cσ = {f.c_sigma:.1f}"
    examples[title] = algorithms.attention_example(
        runs[example].model(member), held_out[example][:8]
    )
none = "no setting has both a selection and an elimination run: no example"
print(f"examples from (d, C, n) = {example}" if example else none)

# %% mystnb={"figure": {"caption": "Attention weight of each context point against its similarity to the query, for 8 held-out contexts: a selection model puts its weight on the points closest to the query, an elimination model on the furthest ones.", "name": "fig-selection-attention"}, "image": {"alt": "Scatter plots of the attention weight of each context point against its similarity to the query, one for a selection model and one for an elimination model."}} tags=["hide-input"]
if examples:
    fig = plotting.plot_attention_by_closeness(examples)
    plt.show()

# %% [markdown]
# ## Verdicts
#
# The paper's two claims are proportions out of a few seeds (`icl_lib.verdicts`; the tests feed
# both rules cases where they must fail or stay unresolved):
# 1. "selection algorithm is the one leaned in majority of runs": pooled over every setting of
#    Figure 11 swept, the 95% Wilson interval of the share of selection lies above one half ("not
#    resolved" when it contains one half);
# 2. elimination is more frequent at low C: a two-sided Fisher exact test of its share at the
#    smallest C swept against the base C, at p < 0.05 ("not resolved" above).
#
# The rules:

# %%
low_C = (d, min(ch.classes), n)  # noqa: N816
setting_note = (
    f"{n_seeds} seeds, {budget_against_paper(cfg, paper.SOFTMAX_STEPS)}, "
    f"lr {cfg.lr} {cfg.schedule}, include_query={include_query}"
)
verdicts = [
    selection_majority_verdict(
        {s: (counts[s]["selection"], n_seeds) for s in settings},
        setting=f"{len(settings)} settings around (d, C, n) = {base}; "
        + setting_note,
    ),
    elimination_low_c_verdict(
        (min(ch.classes), counts[low_C]["elimination"], n_seeds),
        (C, counts[base]["elimination"], n_seeds),
        setting=f"d={d}, n={n}; {setting_note}",
    ),
]
say(
    "ch07_verdicts",
    "; ".join(f"{v.title}: {v.verdict} ({v.summary or v.ours})" for v in verdicts),
)

# %% [markdown]
# In this build: {glue:text}`ch07_verdicts`.
#
# ## How good is each algorithm?
#
# The mean held-out loss of the seeds of each algorithm, per setting (the number of seeds in
# brackets). Where both algorithms occur in a setting, this compares them on the same contexts:


# %% tags=["hide-input"]
def mean_loss(s, a):
    chosen = [f.loss_model for f in fits[s] if f.algorithm == a]
    return f"{np.mean(chosen):.3f} ({len(chosen)})" if chosen else "—"


Table.from_records(
    {"(d, C, n)": s}
    | {a: mean_loss(s, a) for a in ALGORITHMS}
    | {"chance log C": math.log(s[1])}
    for s in settings
)

# %% [markdown]
# ## When is the choice made?
#
# Each seed of the base setting is classified again at every stored snapshot, on the same held-out
# contexts. For each seed we find the first snapshot from which its label stays the same to the
# end, and the eval loss at that point. We also count seeds that switched between selection and
# elimination after holding one of them.

# %% tags=["hide-input"]
base_run, history = runs[base], runs[base].history
labels = algorithms.labels_through_training(
    history["snapshots"], n_seeds, held_out[base], **rule
)
settled = [algorithms.settling_index(seq) for seq in labels]
first_steps = [history["step"][i] for i in settled]
at = [history["eval_loss"][i][m] for m, i in enumerate(settled)]
before = [history["eval_loss"][max(i - 1, 0)][m] for m, i in enumerate(settled)]
switched = sum(algorithms.switched_algorithm(seq) for seq in labels)

# %% tags=["hide-input"]
say(
    "ch07_settled",
    f"{min(first_steps)} and {max(first_steps)} "
    f"(median {int(np.median(first_steps))}) of {cfg.steps}",
)
say(
    "ch07_loss_at",
    f"{min(at):.3f}–{max(at):.3f}, and {min(before):.3f}–{max(before):.3f} "
    f"at the snapshot before",
)
say("ch07_switched", f"{switched} of {n_seeds}")

# %% [markdown]
# In the base setting the final label is reached between steps {glue:text}`ch07_settled`
# (snapshots every `eval_every` steps), at an eval loss of {glue:text}`ch07_loss_at` (chance
# $\log C$). Seeds that switched between selection and elimination after holding one:
# {glue:text}`ch07_switched`.
#
# ## Paper vs this book
#
# Figure 11 is given as bars only. The text states which algorithm dominates and when elimination
# appears. Our proportions come from the setting in the last column. The paper trained at its
# constant learning rate for long (Appendix G). The cell above shows when a seed's label is set in
# our runs. Whatever shapes that phase, the schedule and the batch noise among it, may change the
# proportions. The `paper` profile reruns this chapter with the paper's settings.

# %% tags=["hide-input"]
algorithms.figure11_table(
    counts, n_seeds, base=base, panels=panels, low_c=low_C, setting=setting_note
)

# %% [markdown]
# ## Verdict table

# %% tags=["hide-input"]
verdict_table(verdicts)

# %% tags=["hide-input"]
share = {s: {a: counts[s][a] / n_seeds for a in ALGORITHMS} for s in settings}
interval = {
    s: {a: wilson_interval(counts[s][a], n_seeds) for a in ALGORITHMS}
    for s in settings
}
metrics = {}
for s in settings:
    tag = f"d{s[0]}_C{s[1]}_n{s[2]}"
    metrics |= {f"{tag}.{a}_fraction": share[s][a] for a in ALGORITHMS}
    metrics |= {
        f"{tag}.{a}_fraction_{end}": interval[s][a][i]
        for a in ALGORITHMS
        for i, end in enumerate(("low", "high"))
    }
    for a in ("selection", "elimination"):
        chosen = [f for f in fits[s] if f.algorithm == a]
        for name, key in (
            ("loss", "loss_model"),
            ("c_eta", "c_eta"),
            ("c_sigma", "c_sigma"),
        ):
            if chosen:
                metrics[f"{tag}.{a}_mean_{name}"] = float(
                    np.mean([getattr(f, key) for f in chosen])
                )

# %% tags=["hide-input"]
per_setting = {
    "d": "per setting",
    "C": "per setting",
    "n": "per setting",
    "seeds": list(seeds),
}
run_settings = {
    "n_seeds": n_seeds,
    "first_seed": first_seed,
    "base": list(base),
    **swept,
    "device": device,
    "min_agreement": ch.min_agreement,
    "max_loss_fraction": ch.max_loss_fraction,
    "train": cfg.to_dict() | per_setting,
}
record_results(ch, settings=run_settings, metrics=metrics, verdicts=verdicts)
