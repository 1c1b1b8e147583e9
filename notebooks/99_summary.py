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
# # Summary: every claim checked, and every number beside the paper's
#
# Each chapter writes its verdicts and key numbers to a results file (`results/NN_topic.json`) with
# the profile and settings that produced them. This page reads those files, so it always shows what
# the chapters computed in this build, never numbers typed in by hand. First the claim-by-claim
# verdicts, each with the paper's words, our number, the criterion that decided it and the setting
# behind it; then, collapsed, every number the chapters wrote.
#
# A verdict is one of: *reproduced*; *not reproduced* (the criterion fails); *not resolved* (the
# data neither confirm nor contradict the claim, e.g. overlapping intervals); *not testable* (the run
# at hand cannot test it, e.g. too few learning rates left the plateau). Rows marked "depends on the
# budget" could change with another training budget; each row gives ours beside the paper's, and
# the short table below the share of the paper's training contexts ours saw. Which verdicts a
# build must produce is declared outside the chapters, in `icl_lib.expected`, and checked by
# `make book`.

# %% tags=["parameters"]
profile = "book"  # the profile every chapter of this build must have run with
results_dir = None  # the chapters' results files; None: results/ in the book's tree
chapters = [
    "01_task",
    "02_proofs",
    "03_linear_vs_gd",
    "04_softmax_vs_kernel_gd",
    "05_extraction",
    "06_d10_dynamics",
    "07_selection_vs_elimination",
    "08_recipe",
    "09_beyond",
]  # chapters expected in this build

# %% tags=["hide-input"]
from collections import Counter
from pathlib import Path

from IPython.display import HTML, Markdown

from icl_lib.files import atomic_write
from icl_lib.profiles import PROFILES, output_path
from icl_lib.results import Table, read_book_results
from icl_lib.validation import check_choice
from icl_lib.verdicts import VERDICTS, budget_share, verdict_table

check_choice("profile", profile, tuple(PROFILES))
results_dir = output_path(results_dir, "results")
records = read_book_results(results_dir, chapters, profile=profile)
verdicts = [
    v | {"chapter": name} for name, r in records.items() for v in r["verdicts"]
]
tally = Counter(v["verdict"] for v in verdicts)
print(
    f"{len(records)} chapters, profile {profile!r}: "
    f"{len(verdicts)} claims checked:\n"
    + ", ".join(f"{tally[v]} {v}" for v in VERDICTS if tally[v])
)

# %% [markdown]
# ## The claims, verdict first

# %%
verdict_table(verdicts, chapter=True)

# %% [markdown]
# The introduction shows the same verdicts in short, and the reproduction notes every criterion;
# this cell writes both.

# %%
short = Table(
    ("verdict", "the paper's claim", "our budget", "chapter"),
    [
        (
            v["verdict"],
            f"{v['title']} ({v['source']})",
            budget_share(v),
            f"{{doc}}`{v['chapter'][:2]} <../executed/{v['chapter']}>`",
        )
        for v in verdicts
    ],
)
text = short.markdown() + "\n"
atomic_write(Path(results_dir) / "verdicts.md", lambda f: f.write(text.encode()))
criteria = Table(
    ("claim (source)", "chapter", "criterion", "the paper's budget"),
    [
        (
            f"{v['title']} ({v['source']})",
            v["chapter"][:2],
            v["criterion"],
            v["paper_budget"],
        )
        for v in verdicts
    ],
).markdown()
atomic_write(
    Path(results_dir) / "criteria.md", lambda f: f.write((criteria + "\n").encode())
)


# %% [markdown]
# ## What goes beyond the paper
#
# Three parts of this book answer questions the paper does not ask or leaves open: chapter 4's
# controls (is the trained model Eq. 1 rather than the simpler Eq. 2 or Eq. 3?), chapter 8
# (constant learning rates at the book's budget, and both readings of the initialisation) and
# chapter 9, whose findings, as computed in this build, are:

# %%
beyond_notes = Path(results_dir) / "beyond.md"
Markdown(beyond_notes.read_text()) if "09_beyond" in chapters else None

# %% [markdown]
# ## Every number the chapters wrote


# %%
def fmt(value: float) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


rows = [
    (
        f"{name}: {key}",
        fmt(r["paper"][key]) if key in r["paper"] else "",
        fmt(value),
        r["profile"],
    )
    for name, r in records.items()
    for key, value in sorted(r["metrics"].items())
]
metrics_table = Table(("quantity", "paper", "this book", "profile"), rows)
HTML(
    f"<details><summary>All {len(rows)} metrics "
    f"({sum(bool(r[1]) for r in rows)} with a paper value)</summary>"
    f"{metrics_table._repr_html_()}</details>"
)
