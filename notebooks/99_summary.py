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
# # Summary: every number of the book beside the paper's
#
# Each chapter writes its key numbers to a results file (`results/NN_topic.json`) with the
# profile and settings that produced them. This page reads those files, so it always shows what
# the chapters computed in this build, never numbers typed in by hand.

# %% tags=["parameters"]
profile = "book"  # the profile every chapter of this build must have run with
results_dir = "../results"  # folder holding the chapters' results files
chapters = ["01_task", "02_proofs", "03_linear_vs_gd", "04_softmax_vs_kernel_gd", "05_extraction",
            "06_d10_dynamics", "07_selection_vs_elimination"]  # chapters expected in this build

# %%
from pathlib import Path

from IPython.display import Markdown

from icl_lib.results import comparison_table, read_results

files = {name: Path(results_dir) / f"{name}.json" for name in chapters}
missing = [str(p) for p in files.values() if not p.exists()]
if missing:
    raise FileNotFoundError(f"results files missing (run the chapters first, e.g. `make book`): {missing}")
records = {name: read_results(path) for name, path in files.items()}
stale = {name: r["profile"] for name, r in records.items() if r["profile"] != profile}
if stale:
    raise ValueError(f"results from another profile than {profile!r} (rerun those chapters): {stale}")
print(f"{len(records)} chapters, profile {profile!r}")


# %%
def fmt(value: float) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


rows = [(f"{name}: {key}", fmt(r["paper"][key]) if key in r["paper"] else "—", fmt(value), r["profile"])
        for name, r in records.items() for key, value in sorted(r["metrics"].items())]
Markdown(comparison_table(rows, header=("quantity", "paper", "this book", "profile")))
