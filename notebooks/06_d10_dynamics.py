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
# # d = 10: $c_\eta$ keeps growing after the loss looks flat
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
# at $d = 10$ with the paper's ranges. Then it computes each of the three statements above.

# %% tags=["parameters"]
profile = "book"  # smoke (tests, seconds) | book (the published book, minutes) | paper (batches of 2048)
results_path = "../results/06_d10_dynamics.json"  # where this chapter's key numbers are written
runs_dir = "../runs"  # trained runs are cached here, keyed by their full config
seed = 0  # member i (learning rate i) is initialised from seed + i
d = None  # dimension; None: the profile's (book, paper: 10; smoke: 3, where a short run leaves the plateau)
C = 5  # number of classes
n = 100  # context points per context
lrs = None  # constant learning rates compared; None: the profile's (book, paper: [5e-5, 1e-4, 8e-4, 3e-3], as Figure 10)
steps = None  # training steps; None: the profile's (book, paper: 60,000)
batch_size = None  # contexts per step; None: the profile's (book: 512, paper: 2048)
include_query = False  # the reading of Figure 2 that reproduces the paper's extracted values (chapter 5)
plateau_fraction = 0.9  # a run has left the initial plateau once its eval loss is below this fraction of log C
device = "auto"  # cpu | cuda | auto

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown

from icl_lib.baselines import adaptive_grid, grid_search_adaptive
from icl_lib.extraction import extract_c_eta_c_sigma
from icl_lib.plotting import plot_dynamics_by_lr
from icl_lib.profiles import check_parameters, resolve_device
from icl_lib.results import comparison_table, write_results
from icl_lib.tasks import sample_contexts
from icl_lib.training import config_from_profile, train
from icl_lib.validation import check_bool, check_fraction, check_positive_float

prof = check_parameters(profile=profile, results_path=results_path, seed=seed, d=d, C=C, n=n,
                        **{k: v for k, v in {"steps": steps, "batch_size": batch_size}.items() if v is not None})
if lrs is not None:
    if not isinstance(lrs, list | tuple) or not lrs or len(set(lrs)) != len(lrs):
        raise ValueError(f"lrs={lrs!r} must be a non-empty list of distinct learning rates")
    for value in lrs:
        if isinstance(value, str):  # PyYAML (papermill -y) reads 3e-4 as text
            raise ValueError(f"lrs={lrs!r}: {value!r} is text, not a number; in YAML write 0.0003 or 3.0e-4")
        check_positive_float("lrs", value)
check_bool("include_query", include_query)
check_fraction("plateau_fraction", plateau_fraction, include_one=False)
device = resolve_device(device)
d = d or prof.dynamics_setting["d"]
lrs = tuple(sorted(float(v) for v in (lrs or prof.dynamics_setting["lrs"])))
config = config_from_profile("softmax", d, prof.training_settings("dynamics", d), C=C, n=n, lr=lrs,
                             seeds=tuple(range(seed, seed + len(lrs))), shared_data=True, include_query=include_query,
                             n_eval=prof.n_eval, steps=steps, batch_size=batch_size)
print(f"profile={profile}: d={d}, C={C}, n={n}, learning rates {list(lrs)} (constant), {config.steps} steps of "
      f"{config.batch_size} contexts, clip {config.clip}, include_query={include_query}, device {device}")

# %% [markdown]
# ## Training
#
# One ensemble, one member per learning rate. All members see the same batches
# (`shared_data=True`), so they differ only in the learning rate and in their small random
# initialisation (member $i$ from seed + $i$). Adam, clipping by global norm 1.0 and the
# initialisation are as in chapter 4; the rates are constant, as in the paper.

# %%
run = train(config, runs_dir=runs_dir, device=device)
steps_seen = np.array(run.history["step"])
loss = np.array(run.history["eval_loss"])  # (T, members)
coefficients = {lr: extract_c_eta_c_sigma(run.snapshot_weights(m), d) for m, lr in enumerate(lrs)}  # (T,) each
c_eta = {lr: coefficients[lr][0].numpy() for lr in lrs}
c_sigma = {lr: coefficients[lr][1].numpy() for lr in lrs}
chance = math.log(C)
exit_step = {}
for m, lr in enumerate(lrs):
    below = np.nonzero(loss[:, m] < plateau_fraction * chance)[0]
    exit_step[lr] = int(steps_seen[below[0]]) if below.size else None
    print(f"lr {lr:g}: eval loss {loss[0, m]:.3f} -> {loss[-1, m]:.3f}; "
          + (f"left the plateau at step {exit_step[lr]}" if exit_step[lr] is not None else "still on the plateau")
          + f"; final (c_eta, c_sigma) = ({c_eta[lr][-1]:.2f}, {c_sigma[lr][-1]:.3f})")

# %% [markdown]
# ## Where Eq. 1 is best (Appendix G's grid at d = 10)
#
# Eq. 1 is searched over the paper's $100 \times 100$ log grid for $d = 10$: $c_\eta \in [10, 10^4]$ and
# $c_\sigma \in [10^{-3}, 10]$ (other d: the ranges of chapter 4). The search uses `n_search` contexts
# (10,000 in the paper) and the same query variant as the runs.

# %%
search = sample_contexts(prof.n_search, n=n, d=d, C=C, seed=5000 + d, dtype=torch.float64)
c_etas, c_sigmas = adaptive_grid(d, prof.grid_points)
c_eta_star, c_sigma_star, grid_losses = grid_search_adaptive(search, c_etas, c_sigmas, include_query=include_query)
row, col = divmod(int(grid_losses.argmin()), prof.grid_points)
on_edge = row in (0, prof.grid_points - 1) or col in (0, prof.grid_points - 1)
print(f"grid optimum: c_eta* = {c_eta_star:.1f}, c_sigma* = {c_sigma_star:.4f}, loss {float(grid_losses.min()):.4f}"
      + ("  (on the edge of the grid)" if on_edge else ""))

# %% mystnb={"figure": {"caption": "The analogue of Figure 10: for each constant learning rate (columns), c_eta (log scale), c_sigma and the evaluation loss through training; dashed lines are the grid optimum of Eq. 1.", "name": "fig-d10-dynamics"}}
fig = plot_dynamics_by_lr({lr: (steps_seen, c_eta[lr], c_sigma[lr], loss[:, m]) for m, lr in enumerate(lrs)},
                          c_eta_star=c_eta_star, c_sigma_star=c_sigma_star)
plt.show()

# %% [markdown]
# ## The three statements, computed
#
# For every learning rate that left the plateau before the last quarter of the run:
# - **growth of $c_\eta$ in the last quarter**, $c_\eta(T) / c_\eta(3T/4) - 1$. "Flattens earlier"
#   means this is smaller for a higher learning rate.
# - **final $c_\eta$**. "Around a smaller value" means this is smaller for a higher learning rate.
# - **$c_\eta(T) / c_\eta^*$**. "Not converged" means this is far below 1.
# - **change of the loss and of $c_\eta$ over the last half**. "Seemingly flat loss" means the loss
#   changes little while $c_\eta$ still grows.

# %%
T = len(steps_seen) - 1
quarter, half = int(round(0.75 * T)), int(round(0.5 * T))
settled = [lr for lr in lrs if exit_step[lr] is not None and exit_step[lr] <= steps_seen[quarter]]
stats = {}
for m, lr in enumerate(lrs):
    if lr in settled:
        stats[lr] = {"growth_last_quarter": float(c_eta[lr][-1] / c_eta[lr][quarter] - 1),
                     "final_c_eta": float(c_eta[lr][-1]), "final_c_sigma": float(c_sigma[lr][-1]),
                     "c_eta_over_optimum": float(c_eta[lr][-1] / c_eta_star),
                     "loss_change_last_half": float(loss[-1, m] / loss[half, m] - 1),
                     "c_eta_growth_last_half": float(c_eta[lr][-1] / c_eta[lr][half] - 1)}
rows = [(f"lr {lr:g}", f"{s['growth_last_quarter']:+.1%}", f"{s['final_c_eta']:.1f}", f"{s['c_eta_over_optimum']:.3f}",
         f"{s['loss_change_last_half']:+.1%}", f"{s['c_eta_growth_last_half']:+.1%}") for lr, s in stats.items()]
print(f"left the plateau before step {int(steps_seen[quarter])}: {[f'{lr:g}' for lr in settled] or 'none'}")
Markdown(comparison_table(rows, header=("learning rate", "c_eta growth, last quarter", "final c_eta", "c_eta / c_eta*",
                                        "loss change, last half", "c_eta growth, last half")))

# %%
by_lr = sorted(stats)


def verdict(holds, testable=True):
    if not testable:
        return f"not testable ({len(by_lr)} settled rate{'s' if len(by_lr) != 1 else ''}; needs 2)"
    return "reproduced" if holds else "not reproduced"


pairs = list(zip(by_lr, by_lr[1:], strict=False))
flattens_earlier = len(by_lr) >= 2 and all(stats[a]["growth_last_quarter"] > stats[b]["growth_last_quarter"] for a, b in pairs)
smaller_value = len(by_lr) >= 2 and all(stats[a]["final_c_eta"] > stats[b]["final_c_eta"] for a, b in pairs)
not_converged = bool(stats) and all(s["c_eta_over_optimum"] < 0.5 for s in stats.values())
misleading = {lr: abs(s["loss_change_last_half"]) < 0.02 and s["c_eta_growth_last_half"] > 0.1 for lr, s in stats.items()}
verdicts = {"flattens_earlier": verdict(flattens_earlier, len(by_lr) >= 2), "smaller_value": verdict(smaller_value, len(by_lr) >= 2),
            "not_converged": verdict(not_converged, bool(stats))}
print(f"higher lr -> c_eta flattens earlier: {verdicts['flattens_earlier']}")
print(f"higher lr -> c_eta at a smaller value: {verdicts['smaller_value']}")
print(f"no c_eta has converged (every c_eta(T) < c_eta*/2): {verdicts['not_converged']}")
print("flat loss (< 2% over the last half) while c_eta still grows (> 10%): "
      + (", ".join(f"lr {lr:g}: {'yes' if v else 'no'}" for lr, v in misleading.items()) or "no rate to test"))

# %% [markdown]
# The run must leave the plateau for any of this to mean something; we check that at least one
# learning rate does within the budget. At $d = 10$ the paper's claim that no $c_\eta$ has
# converged is a statement about its budget; we check it at ours: every settled rate ends below
# half the grid optimum. The two orderings are printed above ("reproduced" or not) rather than
# asserted. They depend on the budget, and at ours only the rates that left the plateau early
# enough can be compared.

# %%
assert settled, f"no learning rate left the plateau (eval loss < {plateau_fraction} log C) within {config.steps} steps"
if d == 10:
    assert not_converged, "a c_eta reached half of the grid optimum: " + ", ".join(
        f"lr {lr:g}: {s['c_eta_over_optimum']:.3f}" for lr, s in stats.items())

# %% [markdown]
# ## Paper vs this book

# %%
setting = f"d={d}, {config.steps} steps × {config.batch_size}, constant lr, seeds {seed}..{seed + len(lrs) - 1}"
table = [(f"grid optimum c_eta (d={d})", "~8,000" if d == 10 else "— (the paper gives d = 10)", f"{c_eta_star:.0f}", f"{prof.n_search} search contexts, {prof.grid_points}² grid"),
         ("grid optimum c_sigma", "—", f"{c_sigma_star:.4f}", f"{prof.n_search} search contexts")]
for lr in lrs:
    exit_text = f"step {exit_step[lr]}" if exit_step[lr] is not None else "not within the budget"
    final = f"({c_eta[lr][-1]:.1f}, {c_sigma[lr][-1]:.3f})"
    table.append((f"lr {lr:g}: leaves the plateau / final (c_eta, c_sigma)", "Fig. 10", f"{exit_text} / {final}", setting))
table += [("higher lr: c_eta flattens earlier", "yes (Fig. 10, right two)", verdicts["flattens_earlier"], setting),
          ("higher lr: c_eta flattens at a smaller value", "yes", verdicts["smaller_value"], setting),
          ("no c_eta has converged", "yes, optimum ~8,000", verdicts["not_converged"], setting)]
Markdown(comparison_table(table))

# %%
metrics = {"grid_c_eta": c_eta_star, "grid_c_sigma": c_sigma_star, "grid_loss": float(grid_losses.min()),
           "lrs_left_plateau": float(sum(v is not None for v in exit_step.values()))}
if len(by_lr) >= 2:  # 1.0: reproduced, 0.0: not; absent when not testable
    metrics |= {"flattens_earlier_reproduced": float(flattens_earlier), "smaller_value_reproduced": float(smaller_value)}
if stats:
    metrics["not_converged_reproduced"] = float(not_converged)
for m, lr in enumerate(lrs):
    tag = f"lr{lr:g}"
    metrics |= {f"{tag}.final_eval_loss": float(loss[-1, m]), f"{tag}.final_c_eta": float(c_eta[lr][-1]),
                f"{tag}.final_c_sigma": float(c_sigma[lr][-1])}
    if exit_step[lr] is not None:
        metrics[f"{tag}.plateau_exit_step"] = float(exit_step[lr])
    metrics |= {f"{tag}.{name}": value for name, value in stats.get(lr, {}).items()}
run_settings = {"d": d, "C": C, "n": n, "lrs": list(lrs), "seed": seed, "device": device, "n_search": prof.n_search,
                "grid_points": prof.grid_points, "plateau_fraction": plateau_fraction, "train": config.to_dict()}
_ = write_results(results_path, chapter="06_d10_dynamics", profile=profile, settings=run_settings, metrics=metrics,
                  paper={"grid_c_eta": 8000.0} if d == 10 else None)
print(f"wrote {len(metrics)} metrics to {results_path}")
