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
# # The task: classifying a query by the classes of its context
#
# The paper studies in-context *classification* (Section 2.1, Figure 1). Each context has its
# own hidden labelling rule, so a model can only solve it by learning from the context. This
# chapter builds the task with `icl_lib.tasks.sample_contexts`, draws Figure 1 b) and c), and
# checks the task's defining properties on many sampled contexts: n/C points per class, every
# point inside its class region, uniform query classes, and points uniform *within* their region.
#
# > we first sample C prototype class vectors $\mathbf{z}_1, \dots, \mathbf{z}_C$ uniformly from the
# > unit sphere $S^{d-1}$. [...] Each context vector $\mathbf{x}_i \in S^{d-1}$ is assigned the label
# > of its nearest class vector, and we sample $\frac{n}{C}$ such vectors per class using rejection
# > sampling. The query is sampled from the same distribution, by first choosing a class
# > $y_{\text{query}}$ uniformly and then sampling $\mathbf{x}_{\text{query}}$ uniformly from its region.

# %% tags=["parameters", "hide-input"]
profile = "book"  # smoke (tests, seconds) | book (the published book) | paper
results_path = None  # key numbers; None: results/01_task.json in the book's tree
seed = 0  # seed of every data set (icl_lib.streams names each set's purpose)
C = 5  # number of classes
n = 100  # context points per context (n/C per class)
dims = [2, 3, 5, 10]  # dimensions d whose task is checked

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from icl_lib.chapter import record_results, set_up
from icl_lib.plotting import plot_region_uniformity, plot_task_figure
from icl_lib.results import Table, comparison_table
from icl_lib.streams import contexts_for, stream_seed
from icl_lib.task_checks import region_uniformity, task_checks
from icl_lib.tasks import candidate_counts
from icl_lib.thresholds import TASK_ALPHA
from icl_lib.verdicts import task_verdict, verdict_table

ch = set_up("01_task", globals())
prof = ch.profile
print(
    f"profile={prof.name}: {prof.n_task_checks} contexts per d, "
    f"{prof.n_uniformity} points per uniformity test"
)

# %% [markdown]
# ## The setting
#
# A context is $n$ pairs $(\mathbf{x}_i, y_i)$ with $\mathbf{x}_i \in S^{d-1}$ and
# $y_i \in \{1, \dots, C\}$, plus a query $\mathbf{x}_{\text{query}}$. The label of a point is
# that of its nearest prototype,
#
# $$
# y(\mathbf{x}) = \arg\max_{c} \, \langle \mathbf{x}, \mathbf{z}_c \rangle ,
# $$
#
# so the classes are the Voronoi cells of the prototypes on the sphere. The model sees the tokens
# $[\mathbf{x}_i, \mathbf{y}_i] \in \mathbb{R}^{d+C}$ (one-hot $\mathbf{y}_i$) and
# $[\mathbf{x}_{\text{query}}, \mathbf{0}]$, never the prototypes.
#
# Sampling is exact: one i.i.d. stream of uniform candidates per context, the first $n/C$ of
# each class kept, the next one of the query's class taken as the query; a context that falls
# short keeps drawing from its own stream (redrawing the prototypes would bias the task against
# contexts with a small region). For $d = 2$ a region is an arc, sampled directly by its angle.

# %% tags=["hide-input"]
ctx2 = contexts_for("figure", 4, n=n, d=2, C=C, seed=seed)
ctx3 = contexts_for("figure", 4, n=n, d=3, C=C, seed=seed)
examples = contexts_for(
    "figure", 2, n=6, d=2, C=3, seed=seed, key=(1,)
)  # Figure 1 a): two small contexts
tokens = ctx3.tokens()
print(f"tokens X: {tuple(tokens.shape)} = (B, n+1, d+C)")
print("query row [x_query, 0]:", tokens[0, -1].numpy().round(3))

# %% mystnb={"figure": {"caption": "Paper Figure 1, regenerated. a) Two small contexts (d = 2, C = 3, n = 6) as the model meets them: each point carries its class, the query's class (?) is to be predicted; the arcs show the class regions and the dashed arrows the prototypes, both hidden from the model. The query lies at almost the same place in both contexts but belongs to another class in each. b), c) One full context with C = 5, n = 100 for d = 2 and d = 3: arrows are the prototypes $\\mathbf{z}_c$, dots the context points coloured by class, the star is the query, coloured by its true class.", "name": "fig-task-contexts"}, "image": {"alt": "Four panels. Top: two small contexts on the unit circle, coloured arcs for the class regions, points labelled with their class and a query star marked with a question mark. Bottom: a full context with 100 points for d = 2 on the circle and for d = 3 on the sphere, prototypes drawn as arrows."}} tags=["hide-input"]
fig = plot_task_figure(ctx2, ctx3, index=0, examples=examples)
plt.show()

# %% [markdown]
# In {numref}`fig-task-contexts` b) and c), each colour fills the region of the arrow of the same
# colour; the regions, and so the classes, differ from context to context (panel a), which is what forces the model to learn *in context*.
#
# ## Checks on many contexts
#
# For every $d$ in `dims`, we sample a batch of contexts and measure the task's invariants:
# the number of points per class, the share of points (and queries) whose nearest prototype is
# their label, and a $\chi^2$ test of the query classes against the uniform distribution.
# The checks sample in float64: in float32 (what training uses) a point within about $10^{-7}$ of
# a region's edge can round across it, which matters to an exactness check, not to learning.

# %% tags=["hide-input"]
checks = {
    d: task_checks(
        contexts_for("checks", prof.n_task_checks, n=n, d=d, C=C, seed=seed)
    )
    for d in dims
}
Table(
    (
        "d",
        "points per class",
        "in region",
        "query in region",
        "query classes: χ² p",
    ),
    [
        (
            str(d),
            f"{c['min_per_class']}..{c['max_per_class']}",
            f"{c['frac_in_region']:.4f}",
            f"{c['frac_query_in_region']:.4f}",
            f"{c['query_class_chi2_p']:.2f}",
        )
        for d, c in checks.items()
    ],
)

# %% tags=["hide-input"]
for d, c in checks.items():
    assert c["min_per_class"] == c["max_per_class"] == n // C, (
        f"d={d}: classes are not balanced"
    )
    assert c["frac_in_region"] == 1.0 and c["frac_query_in_region"] == 1.0, (
        f"d={d}: a point lies outside its region"
    )  # exact invariants of the sampler; the tests below are statistical
    print(
        f"d={d}: query classes uniform (χ² p > {TASK_ALPHA:g}): "
        + ("yes" if c["query_class_chi2_p"] > TASK_ALPHA else "no")
    )

# %% [markdown]
# ## Points are uniform within their region
#
# Balance and membership do not show that points are *uniform* in their region: a sampler that
# placed every point near its prototype would pass them. So we fix one set of prototypes and
# compare the distribution of $\langle \mathbf{x}, \mathbf{z}_c \rangle$ for the points of one
# class with that of plain rejection sampling (i.i.d. uniform points kept when they fall in the
# class), by a two-sample Kolmogorov–Smirnov test, for the context points and for the queries.

# %% tags=["hide-input"]
uniformity = {
    d: region_uniformity(
        d,
        C=C,
        n=n,
        n_points=prof.n_uniformity,
        seed=stream_seed("uniformity", seed, d, 0),
    )
    for d in dims
}
query_uniformity = {
    d: region_uniformity(
        d,
        C=C,
        n=n,
        n_points=prof.n_uniformity // 4,
        seed=stream_seed("uniformity", seed, d, 1),
        query=True,
    )
    for d in dims
}
for d in dims:
    print(
        f"d={d:>2}: KS p-value, context points {uniformity[d][2]:.2f}, "
        f"queries {query_uniformity[d][2]:.2f}"
    )

# %% mystnb={"figure": {"caption": "Empirical CDFs of $\\langle \\mathbf{x}, \\mathbf{z}_c \\rangle$ for the points of one class region (fixed prototypes): this book's sampler (solid) and plain rejection sampling (dashed). The curves coincide; the KS p-values are in the titles.", "name": "fig-task-uniformity"}, "image": {"alt": "Four panels, one per dimension, each with the empirical distribution functions of this sampler (solid) and of plain rejection sampling (dashed)."}} tags=["hide-input"]
fig = plot_region_uniformity(
    {d: u[0] for d, u in uniformity.items()},
    {d: u[1] for d, u in uniformity.items()},
    {d: u[2] for d, u in uniformity.items()},
)
plt.show()

# %% tags=["hide-input"]
for d in dims:
    uniform = uniformity[d][2] > TASK_ALPHA and query_uniformity[d][2] > TASK_ALPHA
    print(
        f"d={d}: points and queries uniform in their region "
        f"(KS p > {TASK_ALPHA:g}): " + ("yes" if uniform else "no")
    )

# %% [markdown]
# ## The smallest region, where the sampler mirrors candidates
#
# For $d \ge 3$ the sampler draws uniform candidates on the sphere and keeps the first $n/C$ of
# each class (and one more of the query's class). The class that fills last is usually the one
# with the smallest region, and the candidates drawn while waiting for it are mostly rejected. So
# once a single class $c$ still needs points, each candidate is first mirrored, in one or two
# planes through the origin, into the half or quarter of the sphere that holds $c$'s region
# (the planes come from the normals $\mathbf{z}_c - \mathbf{z}_j$ of the region's walls).
# A mirror maps the uniform distribution onto itself, so a mirrored candidate is uniform on
# that half or quarter, and, given that it falls in $c$'s region, uniform on the region: the
# law of the context is unchanged and the region is hit two or four times as often. The test
# below repeats the uniformity check on the *smallest* region, and the table counts the
# candidates per context with and without the mirrors (same prototypes and query classes).

# %% tags=["hide-input"]
smallest = {
    d: region_uniformity(
        d,
        C=C,
        n=n,
        n_points=prof.n_uniformity // 4,
        seed=stream_seed("uniformity", seed, d, 2),
        region="smallest",
    )
    for d in dims
}
candidates = {
    d: (
        candidate_counts(
            prof.n_task_checks,
            n=n,
            d=d,
            C=C,
            seed=stream_seed("checks", seed),
            mirror=False,
        ).mean(),
        candidate_counts(
            prof.n_task_checks, n=n, d=d, C=C, seed=stream_seed("checks", seed)
        ).mean(),
    )
    for d in dims
    if d >= 3
}
for d in dims:
    print(
        f"d={d:>2}: smallest region KS p {smallest[d][2]:.2f}; "
        + (
            f"candidates/context {candidates[d][0]:.1f} -> "
            f"{candidates[d][1]:.1f} (mirrors)"
            if d in candidates
            else "arcs, no candidates"
        )
    )

# %% tags=["hide-input"]
for d in dims:
    print(
        f"d={d}: uniform in the smallest region (KS p > {TASK_ALPHA:g}): "
        + ("yes" if smallest[d][2] > TASK_ALPHA else "no")
    )
for d, (plain, mirrored) in candidates.items():
    print(
        f"d={d}: mirroring saves candidates: {'yes' if mirrored < plain else 'no'}"
    )

# %% [markdown]
# ## Paper vs this book
#
# The paper states the construction, not measured numbers; the table lists what it prescribes
# beside what we measured, with the number of contexts behind each of ours.

# %% tags=["hide-input"]
rows = [
    (
        f"d={d}: points per class",
        f"n/C = {n // C}",
        f"{c['min_per_class']}–{c['max_per_class']}",
        f"{prof.n_task_checks} contexts",
    )
    for d, c in checks.items()
]
rows += [
    (
        f"d={d}: share in own region",
        "1 (by definition)",
        f"{c['frac_in_region']:.4f}",
        f"{prof.n_task_checks * n} points",
    )
    for d, c in checks.items()
]
rows += [
    (
        f"d={d}: uniform within region (KS p)",
        "uniform",
        f"{uniformity[d][2]:.2f}",
        f"{prof.n_uniformity} points",
    )
    for d in dims
]
rows += [
    (
        f"d={d}: uniform within the smallest region (KS p)",
        "uniform",
        f"{smallest[d][2]:.2f}",
        f"{prof.n_uniformity // 4} points",
    )
    for d in dims
]
comparison_table(rows)

# %% [markdown]
# ## Verdict
#
# The paper's description of the task, checked on the contexts above (the rule is
# `icl_lib.verdicts.task_verdict`; `tests/test_verdicts.py` feeds it unbalanced, misplaced and
# non-uniform samples, which it must reject).

# %% tags=["hide-input"]
verdicts = [
    task_verdict(
        checks,
        {
            d: (uniformity[d][2], query_uniformity[d][2], smallest[d][2])
            for d in dims
        },
        points_per_class=n // C,
        setting=f"{prof.n_task_checks} contexts and {prof.n_uniformity} points "
        "per d, float64",
    )
]
verdict_table(verdicts)

# %% tags=["hide-input"]
metrics = {}
for d, c in checks.items():
    metrics |= {
        f"d{d}.points_per_class": c["min_per_class"],
        f"d{d}.frac_in_region": c["frac_in_region"],
        f"d{d}.query_class_chi2_p": c["query_class_chi2_p"],
        f"d{d}.uniformity_ks_p": uniformity[d][2],
        f"d{d}.query_uniformity_ks_p": query_uniformity[d][2],
        f"d{d}.smallest_region_uniformity_ks_p": smallest[d][2],
    }
for d, (plain, mirrored) in candidates.items():
    metrics |= {
        f"d{d}.candidates_per_context_unmirrored": float(plain),
        f"d{d}.candidates_per_context": float(mirrored),
    }
paper_values = {f"d{d}.points_per_class": n // C for d in dims} | {
    f"d{d}.frac_in_region": 1.0 for d in dims
}
settings = {"seed": seed, "C": C, "n": n, "dims": dims, **prof.as_dict()}
record_results(
    ch, settings=settings, metrics=metrics, paper=paper_values, verdicts=verdicts
)
