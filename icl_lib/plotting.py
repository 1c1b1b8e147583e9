"""Figures: one style for the whole book (sizes, a colour per class, fonts).

Functions take tensors/arrays and return the matplotlib Figure; they never train or sample.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from icl_lib.tasks import Contexts
from icl_lib.verdicts import wilson_interval

__all__ = [
    "CLASS_COLOURS", "use_style", "plot_context", "plot_task_figure", "plot_region_uniformity", "plot_deviations",
    "plot_alignment_through_training", "plot_per_context_scatter", "plot_search_curve", "plot_loss_through_training",
    "plot_grid_heatmaps", "plot_weight_products", "plot_coefficients_through_training", "ALGORITHM_COLOURS",
    "plot_algorithm_counts", "plot_algorithm_coefficients", "plot_attention_by_closeness", "plot_dynamics_by_lr",
]

CLASS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def use_style() -> None:
    """The book's matplotlib style."""
    plt.rcParams.update({
        "figure.dpi": 100, "savefig.dpi": 100, "font.size": 10, "axes.titlesize": 11,
        "axes.spines.top": False, "axes.spines.right": False, "figure.constrained_layout.use": True,
    })


def _colour(c: int) -> str:
    return CLASS_COLOURS[c % len(CLASS_COLOURS)]


def plot_context(ax, ctx: Contexts, index: int = 0) -> None:
    """One context (d = 2 or 3): points coloured by class, prototypes as arrows, the query as a star."""
    x, y = ctx.x[index].cpu().numpy(), ctx.y[index].cpu().numpy()
    z, xq, yq = ctx.prototypes[index].cpu().numpy(), ctx.x_query[index].cpu().numpy(), int(ctx.y_query[index])
    d = x.shape[1]
    if d not in (2, 3):
        raise ValueError(f"plot_context draws d = 2 or 3, got d={d}")
    for c in range(ctx.C):
        pts = x[y == c]
        ax.scatter(*pts.T, s=10, color=_colour(c), label=f"class {c + 1}")
        if d == 2:
            ax.annotate("", xy=z[c] * 1.25, xytext=(0, 0), annotation_clip=False,  # drawn even if the tip is off the data
                        arrowprops={"arrowstyle": "->", "color": _colour(c), "lw": 1.8})
        else:
            ax.quiver(0, 0, 0, *(z[c] * 1.3), color=_colour(c), linewidth=1.8, arrow_length_ratio=0.12)
    ax.scatter(*xq, marker="*", s=220, color=_colour(yq), edgecolor="black", linewidth=0.8, label="query", zorder=5)
    if d == 2:
        theta = np.linspace(0, 2 * np.pi, 200)
        ax.plot(np.cos(theta), np.sin(theta), color="0.85", lw=0.8, zorder=0)
        ax.set_aspect("equal")
        ax.set_xlim(-1.35, 1.35)
        ax.set_ylim(-1.35, 1.35)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
    else:
        ax.set_box_aspect((1, 1, 1))
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_zlabel("$x_3$")


def plot_task_figure(ctx2: Contexts, ctx3: Contexts, index: int = 0):
    """Figure 1 (b, c): one full context for d = 2 and one for d = 3."""
    use_style()
    fig = plt.figure(figsize=(10, 4.6))
    ax2 = fig.add_subplot(1, 2, 1)
    plot_context(ax2, ctx2, index)
    ax2.set_title(f"b) d = 2, C = {ctx2.C}, n = {ctx2.n}")
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    plot_context(ax3, ctx3, index)
    ax3.set_title(f"c) d = 3, C = {ctx3.C}, n = {ctx3.n}")
    ax2.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return fig


def plot_region_uniformity(ours: dict[int, np.ndarray], reference: dict[int, np.ndarray], p_values: dict[int, float]):
    """Empirical CDFs of a statistic of points in one class region: our sampler vs plain rejection."""
    use_style()
    fig, axes = plt.subplots(1, len(ours), figsize=(3.2 * len(ours), 2.8), sharey=True)
    for ax, d in zip(np.atleast_1d(axes), sorted(ours), strict=True):
        for values, label, style in ((ours[d], "this sampler", "-"), (reference[d], "plain rejection", "--")):
            v = np.sort(values)
            ax.plot(v, np.arange(1, v.size + 1) / v.size, style, label=label)
        ax.set_title(f"d = {d}  (KS p = {p_values[d]:.2f})")
        ax.set_xlabel(r"$\langle x, z_c \rangle$ within class $c$")
    np.atleast_1d(axes)[0].set_ylabel("empirical CDF")
    np.atleast_1d(axes)[0].legend(fontsize=8, frameon=False)
    return fig


def plot_deviations(names: list[str], deviations: list[float], *, floor: float = 1e-18):
    """Max deviation of each equivalence on a log scale, with float64 machine epsilon marked."""
    use_style()
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.0))
    values = np.maximum(np.asarray(deviations, dtype=float), floor)
    ax.barh(range(len(names)), values, color="#1f77b4")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(float(torch.finfo(torch.float64).eps), color="black", ls="--", lw=1, label="float64 eps")
    ax.set_xlabel("max |difference| of the predicted probabilities")
    ax.legend(frameon=False, fontsize=8)
    return fig


ALIGNMENT_LABELS = {"preds_diff": "Preds diff", "cos_sim": "Cos sim", "model_diff": "Model diff"}
METRIC_LABELS = {"loss": "loss", "prob_correct": "prob. of correct class", "entropy": "entropy"}


def plot_alignment_through_training(curves: dict[int, tuple[list[int], dict[str, list[float]]]], *, title: str = ""):
    """Alignment metrics vs training step, one panel per d (Figures 3a, 4a, 5, 6 left)."""
    use_style()
    fig, axes = plt.subplots(1, len(curves), figsize=(3.4 * len(curves), 2.9), squeeze=False)
    for ax, (d, (steps, metrics)) in zip(axes[0], sorted(curves.items()), strict=True):
        for name, label in ALIGNMENT_LABELS.items():
            values = np.asarray(metrics[name], dtype=float)
            if np.isfinite(values).any():
                ax.plot(steps, values, label=label)
        ax.set_title(f"d = {d}")
        ax.set_xlabel("training step")
        ax.set_ylim(-0.05, 1.05)
    axes[0][0].legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_per_context_scatter(pairs: dict[int, tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]], *,
                             xlabel: str = "trained SA", ylabel: str = "GD step"):
    """Per-context loss, probability of the correct class and entropy: model (x) vs baseline (y),
    with the y = x line and the means dotted (Figures 3-6, right). One row per d."""
    use_style()
    fig, axes = plt.subplots(len(pairs), 3, figsize=(9.6, 3.0 * len(pairs)), squeeze=False)
    for row, (d, (ours, theirs)) in zip(axes, sorted(pairs.items()), strict=True):
        for ax, (name, label) in zip(row, METRIC_LABELS.items(), strict=True):
            x, y = ours[name].cpu().numpy(), theirs[name].cpu().numpy()
            ax.scatter(x, y, s=6, alpha=0.5, color="#1f77b4")
            lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
            ax.plot([lo, hi], [lo, hi], color="black", lw=0.8)
            ax.axvline(x.mean(), color="0.4", ls=":", lw=1)
            ax.axhline(y.mean(), color="0.4", ls=":", lw=1)
            ax.set_title(f"d = {d}: {label}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
    return fig


def plot_search_curve(grids: dict[int, tuple[torch.Tensor, torch.Tensor, float]], *, xlabel: str = r"$\eta$"):
    """Search loss over a 1-d log grid per d, the chosen value and the value read off the trained weights."""
    use_style()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for i, (d, (grid, losses, extracted)) in enumerate(sorted(grids.items())):
        colour = CLASS_COLOURS[i]
        ax.plot(grid.numpy(), losses.numpy(), color=colour, label=f"d = {d}")
        ax.axvline(float(grid[losses.argmin()]), color=colour, ls="--", lw=1)
        ax.axvline(extracted, color=colour, ls=":", lw=1.5)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean cross-entropy of the GD step")
    ax.legend(frameon=False, fontsize=8, title="dashed: search, dotted: extracted", title_fontsize=8)
    return fig


def plot_loss_through_training(curves: dict[int, dict[str, tuple[list[int], list[float]]]], *, reference: dict[int, float]):
    """Evaluation loss vs step, one panel per d, one line per run; the dashed line is the best one-step baseline."""
    use_style()
    fig, axes = plt.subplots(1, len(curves), figsize=(3.4 * len(curves), 2.9), squeeze=False)
    for ax, (d, runs) in zip(axes[0], sorted(curves.items()), strict=True):
        for label, (steps, losses) in runs.items():
            ax.plot(steps, losses, label=label)
        ax.axhline(reference[d], color="black", ls="--", lw=1, label="Eq. 1 at the grid optimum")
        ax.set_title(f"d = {d}")
        ax.set_xlabel("training step")
    axes[0][0].set_ylabel("evaluation loss")
    axes[0][0].legend(frameon=False, fontsize=7)
    return fig


GridResult = tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[float, float], tuple[float, float]]


def plot_grid_heatmaps(grids: dict[int, GridResult]):
    """Mean loss of Eq. 1 over the (c_sigma, c_eta) grid per d: the optimum (x) and the values read off the model (o)."""
    use_style()
    fig, axes = plt.subplots(1, len(grids), figsize=(3.5 * len(grids), 3.1), squeeze=False)
    for ax, (d, (c_etas, c_sigmas, losses, best, extracted)) in zip(axes[0], sorted(grids.items()), strict=True):
        mesh = ax.pcolormesh(c_sigmas.numpy(), c_etas.numpy(), losses.numpy(), shading="auto", cmap="viridis",
                             vmax=float(losses.min()) + 0.5)
        ax.plot(best[1], best[0], "x", color="red", ms=9, mew=2, label="grid optimum")
        ax.plot(extracted[1], extracted[0], "o", mfc="none", color="white", ms=9, mew=1.5, label="trained SA")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$c_\sigma$")
        ax.set_title(f"d = {d}")
        fig.colorbar(mesh, ax=ax, shrink=0.85)
    axes[0][0].set_ylabel(r"$c_\eta$")
    axes[0][0].legend(frameon=False, fontsize=7, loc="lower left")
    return fig


def plot_weight_products(steps: list[int], qk: torch.Tensor, ov: torch.Tensor, d: int):
    """Figure 7: W_Q^T W_K (top) and W_O W_V (bottom) at a few training steps, x-block and y-block marked."""
    use_style()
    fig, axes = plt.subplots(2, len(steps), figsize=(2.3 * len(steps), 4.6), squeeze=False)
    for col, step in enumerate(steps):
        for row, (mat, name) in enumerate(((qk[col], r"$W_Q^\top W_K$"), (ov[col], r"$W_O W_V$"))):
            ax = axes[row][col]
            lim = float(mat.abs().max()) or 1.0
            ax.imshow(mat.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.axhline(d - 0.5, color="black", lw=0.6)
            ax.axvline(d - 0.5, color="black", lw=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}, step {step}", fontsize=8)
    return fig


def plot_coefficients_through_training(curves: dict[int, tuple[list[int], torch.Tensor, torch.Tensor]]):
    """Figure 9: c_sigma and c_eta read off the weights through training, one panel per d."""
    use_style()
    fig, axes = plt.subplots(1, len(curves), figsize=(3.4 * len(curves), 2.9), squeeze=False)
    for ax, (d, (steps, c_eta, c_sigma)) in zip(axes[0], sorted(curves.items()), strict=True):
        ax.plot(steps, c_sigma.numpy(), label=r"$c_\sigma$")
        ax.plot(steps, c_eta.numpy(), label=r"$c_\eta$")
        ax.set_title(f"d = {d}")
        ax.set_xlabel("training step")
    axes[0][0].legend(frameon=False, fontsize=8)
    return fig


ALGORITHM_COLOURS = {"selection": "#1f77b4", "elimination": "#d62728", "neither": "#bbbbbb"}


def plot_algorithm_counts(panels: dict[str, tuple[list[int], dict[str, list[int]]]], *, n_seeds: int):
    """Figure 11: per swept quantity (panel title -> (values, counts per algorithm)), stacked bars of
    how many seeds learned each algorithm, with the proportion of selection written above and the
    95% Wilson intervals of the selection and elimination counts as error bars (chapter 7)."""
    use_style()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 2.9), squeeze=False)
    for ax, (title, (values, counts)) in zip(axes[0], panels.items(), strict=True):
        pos = np.arange(len(values))
        bottom = np.zeros(len(values))
        for name, colour in ALGORITHM_COLOURS.items():
            ax.bar(pos, counts[name], bottom=bottom, color=colour, label=name, width=0.7)
            if name in ("selection", "elimination"):  # the interval of this count, drawn at the top of its bar segment
                top = bottom + np.asarray(counts[name], dtype=float)
                bounds = np.array([wilson_interval(k, n_seeds) for k in counts[name]]) * n_seeds  # (len, 2)
                ax.errorbar(pos + (0.12 if name == "elimination" else -0.12), top,
                            yerr=[top - bottom - bounds[:, 0], bounds[:, 1] - (top - bottom)], fmt="none", ecolor="black",
                            elinewidth=0.8, capsize=2)
            bottom += np.asarray(counts[name], dtype=float)
        for x, sel in zip(pos, counts["selection"], strict=True):
            ax.text(x, n_seeds * 1.02, f"{sel / n_seeds:.0%}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(pos, [str(v) for v in values])
        ax.set_xlabel(title)
        ax.set_ylim(0, n_seeds * 1.15)
    axes[0][0].set_ylabel(f"seeds (of {n_seeds})")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncol=len(ALGORITHM_COLOURS), frameon=False,
               fontsize=8)
    return fig


def plot_algorithm_coefficients(points: dict[str, tuple[list[float], list[float]]]):
    """(c_sigma, c_eta) read off every trained model, coloured by the algorithm it was classified as."""
    use_style()
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    for name, (c_sigma, c_eta) in points.items():
        if c_sigma:
            ax.scatter(c_sigma, c_eta, s=14, color=ALGORITHM_COLOURS[name], label=f"{name} ({len(c_sigma)})", alpha=0.8)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.axhline(0, color="black", lw=0.5)
    ax.axvline(0, color="black", lw=0.5)
    ax.set_xlabel(r"extracted $c_\sigma$")
    ax.set_ylabel(r"extracted $c_\eta$")
    ax.legend(frameon=False, fontsize=8)
    return fig


def plot_attention_by_closeness(panels: dict[str, tuple[np.ndarray, np.ndarray]]):
    """What the query attends to: the attention weight of each context point against its similarity
    <x_i, x_q> to the query, one panel per model (title -> (similarities, weights), flattened)."""
    use_style()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 2.9), squeeze=False)
    for ax, (title, (sims, weights)) in zip(axes[0], panels.items(), strict=True):
        ax.scatter(sims, weights, s=4, alpha=0.4, color="black")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(r"$\langle x_i, x_{query} \rangle$")
    axes[0][0].set_ylabel("attention weight of $x_i$")
    return fig


def plot_dynamics_by_lr(curves: dict[float, tuple[list[int], np.ndarray, np.ndarray, np.ndarray]], *, c_eta_star: float,
                        c_sigma_star: float):
    """Figure 10: per learning rate (one column), c_eta, c_sigma and the evaluation loss through training;
    the dashed lines are the grid optimum of Eq. 1 (c_eta on a log axis: the optimum can be far above)."""
    use_style()
    fig, axes = plt.subplots(3, len(curves), figsize=(3.0 * len(curves), 6.4), squeeze=False, sharex="col")
    for col, (lr, (steps, c_eta, c_sigma, loss)) in enumerate(sorted(curves.items())):
        top, mid, bottom = axes[0][col], axes[1][col], axes[2][col]
        top.plot(steps, np.clip(c_eta, 1e-2, None), color="#1f77b4")
        top.axhline(c_eta_star, color="#1f77b4", ls="--", lw=0.8)
        top.set_yscale("log")
        top.set_title(f"lr {lr:g}")
        mid.plot(steps, c_sigma, color="#ff7f0e")
        mid.axhline(c_sigma_star, color="#ff7f0e", ls="--", lw=0.8)
        bottom.plot(steps, loss, color="black")
        bottom.set_xlabel("training step")
    axes[0][0].set_ylabel(r"$c_\eta$ (log; clipped at 0.01)")
    axes[1][0].set_ylabel(r"$c_\sigma$")
    axes[2][0].set_ylabel("eval loss")
    return fig
