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

# %% tags=["parameters", "hide-input"]
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
    "10_two_layer",
]  # chapters expected in this build

# %% tags=["hide-input"]
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import HTML, Markdown

from icl_lib.chapter import say
from icl_lib.comparison import steps_by_d
from icl_lib.files import atomic_write
from icl_lib.plotting import plot_steps_against_d
from icl_lib.profiles import PROFILES, output_path
from icl_lib.results import metrics_table, read_book_results
from icl_lib.validation import check_choice
from icl_lib.verdicts import VERDICTS, claims_table, criteria_table, verdict_table

check_choice("profile", profile, tuple(PROFILES))
results_dir = output_path(results_dir, "results")
records = read_book_results(results_dir, chapters, profile=profile)
verdicts = [
    v | {"chapter": name} for name, r in records.items() for v in r["verdicts"]
]
tally = Counter(v["verdict"] for v in verdicts)
checked = f"{len(records)} chapters, profile {profile!r}: {len(verdicts)} claims"
print(
    checked
    + " checked:\n"
    + ", ".join(f"{tally[v]} {v}" for v in VERDICTS if tally[v])
)

# %% [markdown]
# ## The book in one figure
#
# Chapter 4's trained softmax models against the three one-step algorithms, each at its own
# optimum, per d (from `results/04_softmax_vs_kernel_gd.json`; mean over the control seeds). Look
# for where the lines of Eq. 1, Eq. 3 and Eq. 2 separate and where they draw together: where the
# steps themselves coincide, no model can tell them apart. Chapter 4's paired comparison over seeds
# finds, in this build: {glue:text}`summary_controls`.

# %% mystnb={"figure": {"caption": "The trained softmax self-attention of chapter 4 against Eq. 1 (context-adaptive kernel GD), Eq. 3 (kernel GD with a fixed rate) and Eq. 2 (linear GD), each at its own optimum, against d: preds diff and cos sim of the sensitivities between the models and each step, and the held-out loss of each step beside the models' own (mean over the control seeds).", "name": "fig-summary-steps"}, "image": {"alt": "Three panels against d on a log axis: preds diff, cos sim and held-out loss, one line each for Eq. 1, Eq. 3 and Eq. 2, and for the trained models in the loss panel."}} tags=["hide-input"]
labels = {
    "preds_diff": "preds diff with the models",
    "cos_sim": "cos sim with the models",
    "loss": "held-out loss",
}
if "04_softmax_vs_kernel_gd" in records:
    ch4 = records["04_softmax_vs_kernel_gd"]
    fig = plot_steps_against_d(
        steps_by_d(ch4["metrics"], ch4["settings"]["dims"]), labels=labels
    )
    plt.show()
controls = [v["summary"] for v in verdicts if v["claim"] == "adaptive_not_simpler"]
say("summary_controls", controls[0] if controls else "not run in this build")

# %% [markdown]
# ## The claims, verdict first
#
# Each row: the verdict (and whether another training budget could change it), the paper's words
# and where they stand, what this build computed, and the rule that decided it with our setting
# beside the paper's.

# %% tags=["hide-input"]
verdict_table(verdicts, chapter=True)

# %% [markdown]
# The introduction shows the same verdicts on one screen, and the reproduction notes every
# criterion; this cell writes both, as raw HTML whose labelled cells become cards on a phone
# (`book/_static/book.css`).

# %% tags=["hide-input"]
pages = {
    "verdicts.md": claims_table(verdicts),
    "criteria.md": criteria_table(verdicts),
}
for name, table in pages.items():
    text = table._repr_html_() + "\n"
    atomic_write(
        Path(results_dir) / name, lambda f, text=text: f.write(text.encode())
    )

# %% [markdown]
# ## What goes beyond the paper
#
# Four parts of this book answer questions the paper does not ask or leaves open: chapter 4's
# controls (is the trained model Eq. 1 rather than the simpler Eq. 2 or Eq. 3?), chapter 8
# (constant learning rates at the book's budget, and both readings of the initialisation),
# chapter 9 and chapter 10. Their findings, as computed in this build: chapter 9's (η(X), the d = 10
# landscape, two classes), then chapter 10's (what a second softmax layer learns).

# %% tags=["hide-input"]
beyond_pages = {
    "09_beyond": ("Chapter 9", "beyond.md"),
    "10_two_layer": ("Chapter 10", "two_layer.md"),
}
Markdown(
    "\n".join(
        f"**{title}.**\n\n" + (Path(results_dir) / page).read_text()
        for chapter, (title, page) in beyond_pages.items()
        if chapter in chapters
    )
)


# %% [markdown]
# ## Every number the chapters wrote
#
# Collapsed: every metric of every results file, with the paper's value beside ours where the
# paper states one.

# %% tags=["hide-input"]
table = metrics_table(records)
with_paper = sum(bool(row[1]) for row in table.rows)
summary = f"All {len(table.rows)} metrics ({with_paper} with a paper value)"
HTML(f"<details><summary>{summary}</summary>{table._repr_html_()}</details>")
