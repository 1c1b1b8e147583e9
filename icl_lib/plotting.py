"""Figures: one style for the whole book (sizes, a colour per class, fonts).

Every figure is at most `COLUMN_WIDTH` inches wide, the book's text column at 100 dpi, so that it
is shown at its own size on a desktop (text about 15 px high) and scaled down evenly on a phone;
panels go at most two or three to a row. In a notebook the PNG is drawn at twice the resolution
(IPython's "retina" format) so that it stays sharp on high-density screens.

Functions take tensors/arrays and return the matplotlib Figure; they never train or sample.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import Normalize
from matplotlib.patheffects import withStroke
from matplotlib.ticker import LogLocator

from icl_lib.statistics import wilson_interval
from icl_lib.tasks import Contexts, nearest_prototype

__all__ = [
    "COLUMN_WIDTH", "MIN_FONT_SIZE", "CLASS_COLOURS", "use_style", "plot_context", "plot_context_schematic", "plot_task_figure",
    "plot_region_uniformity", "plot_deviations", "plot_alignment_through_training", "plot_per_context_scatter",
    "plot_search_curve", "plot_loss_through_training", "plot_grid_heatmaps", "plot_weight_products",
    "plot_coefficients_through_training", "ALGORITHM_COLOURS", "plot_algorithm_counts", "plot_algorithm_coefficients",
    "plot_attention_by_closeness", "plot_dynamics_by_lr", "plot_controls", "plot_steps_across_n", "plot_gain_by_mass",
    "plot_loss_maps", "plot_valley_profiles", "plot_steps_against_d",
    "plot_two_layer_training",
]

COLUMN_WIDTH = 6.4  # inches: at 100 dpi, with the 0.1-inch margins of a tight bounding box, within the 672-px column
DPI = 100
# points: the smallest text in any figure. A figure is at most about 650 CSS px wide and a phone's
# column about 342 px, so 11 pt (15.3 px at 100 dpi) is still 8 px high there (tests/test_html.py)
MIN_FONT_SIZE = 11
CLASS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
LINE_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def use_style() -> None:
    """The book's matplotlib style (and, inside IPython, twice-resolution PNGs)."""
    plt.rcParams.update({
        "figure.dpi": DPI, "savefig.dpi": DPI, "font.size": 11, "axes.titlesize": 11, "axes.labelsize": 11,
        "xtick.labelsize": MIN_FONT_SIZE, "ytick.labelsize": MIN_FONT_SIZE, "legend.fontsize": MIN_FONT_SIZE,
        "legend.title_fontsize": MIN_FONT_SIZE,
        "lines.linewidth": 1.6, "axes.spines.top": False, "axes.spines.right": False,
        "figure.constrained_layout.use": True, "axes.prop_cycle": plt.cycler(color=LINE_COLOURS),
    })
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # plain Python: figures are saved by the caller at savefig.dpi
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


def _grid(n_panels: int, *, ncols: int = 2, panel_height: float = 2.7, **kwargs):
    """A figure of the column's width with `n_panels` axes, `ncols` to a row; unused axes removed.
    Returns the figure and the flat list of the used axes."""
    use_style()
    ncols = max(1, min(ncols, n_panels))
    nrows = -(-n_panels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH, panel_height * nrows), squeeze=False, **kwargs)
    _row_gap(fig)
    flat = list(axes.flat)
    for ax in flat[n_panels:]:
        ax.remove()
    return fig, flat[:n_panels]


def _row_gap(fig) -> None:
    """Room between rows of panels, so that a panel's title stays clear of the tick labels above it."""
    fig.get_layout_engine().set(h_pad=0.1, hspace=0.06)


def _title(key) -> str:
    """A panel title: an int key is a dimension d, anything else is written as it is."""
    return f"d = {key}" if isinstance(key, (int, np.integer)) else str(key)


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
        ax.set_xticks([-1, 0, 1])
        ax.set_yticks([-1, 0, 1])
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$", labelpad=-2)
    else:
        ax.set_box_aspect((1, 1, 1), zoom=0.82)
        for axis, label in ((ax.xaxis, "$x_1$"), (ax.yaxis, "$x_2$"), (ax.zaxis, "$x_3$")):
            axis.set_ticks([-1, 0, 1])
            axis.set_label_text(label)
            axis.labelpad = -4
        ax.tick_params(pad=-2)


def plot_context_schematic(ax, ctx: Contexts, index: int = 0) -> None:
    """Figure 1 a): a small d = 2 context as the model meets it. The unit circle is coloured by the
    class region of each arc (hidden prototypes: thin arrows), the context points carry their label
    (its class number) and the query a question mark."""
    if ctx.d != 2:
        raise ValueError(f"the schematic is drawn for d = 2, got d={ctx.d}")
    theta = np.linspace(-np.pi, np.pi, 721)
    circle = torch.tensor(np.stack([np.cos(theta), np.sin(theta)], -1), dtype=ctx.prototypes.dtype)
    region = nearest_prototype(circle[None], ctx.prototypes[index][None])[0].numpy()
    for c in range(ctx.C):  # each arc in its class's colour, split where the region changes
        inside = np.where(region == c, 1.0, np.nan)
        ax.plot(np.cos(theta) * inside, np.sin(theta) * inside, color=_colour(c), lw=6, alpha=0.35, solid_capstyle="butt")
        z = ctx.prototypes[index, c].cpu().numpy()
        ax.annotate("", xy=z * 0.75, xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": _colour(c), "lw": 1, "ls": "--"})
    x, y = ctx.x[index].cpu().numpy(), ctx.y[index].cpu().numpy()
    for point, label in zip(x, y, strict=True):
        ax.scatter(*point, s=40, color=_colour(int(label)), edgecolor="black", linewidth=0.6, zorder=4)
        ax.annotate(str(int(label) + 1), point * 1.17, ha="center", va="center", fontsize=MIN_FONT_SIZE, fontweight="bold",
                    color=_colour(int(label)))
    xq = ctx.x_query[index].cpu().numpy()
    ax.scatter(*xq, marker="*", s=240, color="white", edgecolor="black", linewidth=1, zorder=5)
    ax.annotate("?", xq * 1.2, ha="center", va="center", fontsize=12, fontweight="bold")
    ax.set_aspect("equal")
    ax.set_xlim(-1.45, 1.45)
    ax.set_ylim(-1.35, 1.35)
    ax.axis("off")


def plot_task_figure(ctx2: Contexts, ctx3: Contexts, index: int = 0, *, examples: Contexts | None = None):
    """Figure 1: a) two small d = 2 contexts (`examples`, indices 0 and 1) when given; b) one full context
    for d = 2 and c) one for d = 3."""
    use_style()
    rows = 2 if examples is not None else 1
    fig = plt.figure(figsize=(COLUMN_WIDTH, 3.4 * rows))
    grid = fig.add_gridspec(rows, 2)
    if examples is not None:
        for k in range(2):
            ax = fig.add_subplot(grid[0, k])
            plot_context_schematic(ax, examples, k)
            ax.set_title(f"{'a) ' if k == 0 else ''}context {k + 1}: C = {examples.C}, n = {examples.n}")
    ax2 = fig.add_subplot(grid[rows - 1, 0])
    plot_context(ax2, ctx2, index)
    ax2.set_title(f"b) d = 2, C = {ctx2.C}, n = {ctx2.n}")
    ax3 = fig.add_subplot(grid[rows - 1, 1], projection="3d")
    plot_context(ax3, ctx3, index)
    ax3.set_title(f"c) d = 3, C = {ctx3.C}, n = {ctx3.n}")
    return fig


def plot_region_uniformity(ours: dict[int, np.ndarray], reference: dict[int, np.ndarray], p_values: dict[int, float]):
    """Empirical CDFs of a statistic of points in one class region: our sampler vs plain rejection."""
    fig, axes = _grid(len(ours), panel_height=2.5, sharey=True)
    for ax, d in zip(axes, sorted(ours), strict=True):
        for values, label, style in ((ours[d], "this sampler", "-"), (reference[d], "plain rejection", "--")):
            v = np.sort(values)
            ax.plot(v, np.arange(1, v.size + 1) / v.size, style, label=label)
        ax.set_title(f"d = {d} (KS p = {p_values[d]:.2f})")
        ax.set_xlabel(r"$\langle x, z_c \rangle$ within class $c$")
    for ax in axes[::2]:
        ax.set_ylabel("empirical CDF")
    axes[0].legend(frameon=False)
    return fig


def plot_deviations(names: list[str], deviations: list[float], *, tolerance: float | None = None, floor: float = 1e-18):
    """Max deviation of each equivalence on a fixed log axis from `floor` to 1, with float64 machine
    epsilon and the tolerance marked: differences at machine precision stay short bars."""
    use_style()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 0.42 * len(names) + 1.3))
    values = np.maximum(np.asarray(deviations, dtype=float), floor)
    ax.barh(range(len(names)), values, color="#1f77b4", left=floor)
    ax.set_yticks(range(len(names)), [textwrap.fill(name, 30) for name in names])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0,), numticks=8))
    ax.axvline(float(torch.finfo(torch.float64).eps), color="black", ls="--", lw=1, label="float64 eps")
    if tolerance is not None:
        ax.axvline(tolerance, color="#d62728", ls=":", lw=1.5, label=f"tolerance {tolerance:.0e}")
    ax.set_xlabel("max |difference| of the predicted probabilities")
    ax.legend(frameon=False, loc="lower right")
    return fig


ALIGNMENT_LABELS = {"preds_diff": "Preds diff", "cos_sim": "Cos sim", "model_diff": "Model diff"}
METRIC_LABELS = {"loss": "loss", "prob_correct": "prob. correct", "entropy": "entropy"}


def plot_alignment_through_training(curves: dict, *, title: str = ""):
    """Alignment metrics vs training step, one panel per key (an int key is d, a str key is the panel's
    title), all on one y-axis that holds every value (Figures 3a, 4a, 5, 6 left, 8)."""
    fig, axes = _grid(len(curves), panel_height=2.5, sharey=True)  # own x: d = 2 may train longer
    top = 1.05
    for ax, (key, (steps, metrics)) in zip(axes, curves.items(), strict=True):
        for name, label in ALIGNMENT_LABELS.items():
            values = np.asarray(metrics[name], dtype=float)
            if np.isfinite(values).any():
                ax.plot(steps, values, label=label)
                top = max(top, 1.05 * float(np.nanmax(values)))
        ax.set_title(_title(key))
    axes[0].set_ylim(-0.05, top)
    for ax in axes[::2]:
        ax.set_ylabel("alignment metric")
    for ax in axes:
        ax.locator_params(axis="x", nbins=5)
    for ax in axes[-2:]:
        ax.set_xlabel("training step")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def plot_per_context_scatter(pairs: dict[int, tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]], *,
                             xlabel: str = "trained SA", ylabel: str = "GD step"):
    """Per-context loss, probability of the correct class and entropy: model (x) vs baseline (y),
    with the y = x line and the means dotted (Figures 3-6, right). One row per d."""
    use_style()
    fig, axes = plt.subplots(len(pairs), 3, figsize=(COLUMN_WIDTH, 2.3 * len(pairs) + 0.3), squeeze=False)
    _row_gap(fig)
    for r, (row, (d, (ours, theirs))) in enumerate(zip(axes, sorted(pairs.items()), strict=True)):
        for ax, (name, label) in zip(row, METRIC_LABELS.items(), strict=True):
            x, y = ours[name].cpu().numpy(), theirs[name].cpu().numpy()
            ax.scatter(x, y, s=5, alpha=0.5, color="#1f77b4", rasterized=True)
            lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
            ax.plot([lo, hi], [lo, hi], color="black", lw=0.8)
            ax.axvline(x.mean(), color="0.4", ls=":", lw=1)
            ax.axhline(y.mean(), color="0.4", ls=":", lw=1)
            ax.set_title(f"d = {d}: {label}")
            ax.locator_params(nbins=4)
            if r == len(pairs) - 1:
                ax.set_xlabel(xlabel)
        row[0].set_ylabel(ylabel)
    return fig


def plot_search_curve(grids: dict[int, tuple[torch.Tensor, torch.Tensor, float]], *, xlabel: str = r"$\eta$"):
    """Search loss over a 1-d log grid per d, the chosen value and the value read off the trained weights."""
    use_style()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.4))
    for i, (d, (grid, losses, extracted)) in enumerate(sorted(grids.items())):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        ax.plot(grid.numpy(), losses.numpy(), color=colour, label=f"d = {d}")
        ax.axvline(float(grid[losses.argmin()]), color=colour, ls="--", lw=1)
        ax.axvline(extracted, color=colour, ls=":", lw=1.8)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean cross-entropy")
    ax.legend(frameon=False, title="dashed: search\ndotted: extracted", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def plot_loss_through_training(curves: dict[int, dict[str, tuple[list[int], list[float]]]], *, reference: dict[int, float],
                               titles: dict[int, str] | None = None, reference_label: str = "Eq. 1 at the grid optimum",
                               styles: dict[str, dict[str, object]] | None = None):
    """Evaluation loss vs step, one panel per d on one shared y-axis, one line per run (the same label is
    the same kind of run in every panel, drawn with `styles[label]` where given); the dashed line is
    the best one-step baseline."""
    fig, axes = _grid(len(curves), panel_height=2.5, sharey=True)
    for ax, (d, runs) in zip(axes, sorted(curves.items()), strict=True):
        for label, (steps, losses) in runs.items():
            ax.plot(steps, losses, label=label, **(styles or {}).get(label, {}))
        ax.axhline(reference[d], color="black", ls="--", lw=1, label=reference_label)
        ax.set_title((titles or {}).get(d, f"d = {d}"))
        ax.set_ylim(bottom=0)
    for ax in axes[-2:]:
        ax.set_xlabel("training step")
    for ax in axes[::2]:
        ax.set_ylabel("evaluation loss")
    handles = {label: h for ax in axes for h, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=2, frameon=False)
    return fig


GridResult = tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[float, float], tuple[float, float]]


def plot_grid_heatmaps(grids: dict[int, GridResult]):
    """Mean loss of Eq. 1 over the (c_sigma, c_eta) grid per d: the optimum (x) and the values read off the model (o).
    The colour scale runs from each d's minimum to 0.5 above it, with its own colour bar."""
    fig, axes = _grid(len(grids), panel_height=2.9)
    for ax, (d, (c_etas, c_sigmas, losses, best, extracted)) in zip(axes, sorted(grids.items()), strict=True):
        mesh = ax.pcolormesh(c_sigmas.numpy(), c_etas.numpy(), losses.numpy(), shading="auto", cmap="viridis",
                             vmax=float(losses.min()) + 0.5, rasterized=True)
        ax.plot(best[1], best[0], "x", color="red", ms=9, mew=2, label="grid optimum")
        ax.plot(extracted[1], extracted[0], "o", mfc="none", color="white", ms=9, mew=1.5, label="trained SA",
                path_effects=[withStroke(linewidth=3, foreground="black")])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$c_\sigma$")
        ax.set_ylabel(r"$c_\eta$")
        ax.set_title(f"d = {d}")
        fig.colorbar(mesh, ax=ax, label="mean loss")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=2, frameon=False)
    return fig


def plot_weight_products(steps: list[int], qk: torch.Tensor, ov: torch.Tensor, d: int):
    """Figure 7: W_Q^T W_K (top) and W_O W_V (bottom) at a few training steps, x-block and y-block marked.
    Each row has one colour scale (symmetric about 0) over its steps, drawn as the row's colour bar."""
    use_style()
    fig, axes = plt.subplots(2, len(steps), figsize=(COLUMN_WIDTH, 3.3), squeeze=False)
    for row, (mats, name) in enumerate(((qk, r"$W_Q^\top W_K$"), (ov, r"$W_O W_V$"))):
        lim = float(mats.abs().max()) or 1.0
        norm = Normalize(-lim, lim)
        for col, step in enumerate(steps):
            ax = axes[row][col]
            image = ax.imshow(mats[col].numpy(), cmap="RdBu_r", norm=norm)
            ax.axhline(d - 0.5, color="black", lw=0.6)
            ax.axvline(d - 0.5, color="black", lw=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"step {step}")
        axes[row][0].set_ylabel(name)
        fig.colorbar(image, ax=list(axes[row]), shrink=0.9, pad=0.02)
    return fig


def plot_coefficients_through_training(curves: dict[int, tuple[list[int], torch.Tensor, torch.Tensor]], *,
                                       reference: dict[int, tuple[float, float]] | None = None, reference_label: str = "",
                                       titles: dict[int, str] | None = None):
    """Figure 9: c_sigma and c_eta read off the weights through training, one panel per d, on a
    symmetric-log axis (linear within ±0.1): the two differ by orders of magnitude and start near 0.
    `reference` (c_eta, c_sigma) per d are drawn dashed, in the same colours (e.g. another run's final values)."""
    fig, axes = _grid(len(curves), panel_height=2.5)  # own x-axes: runs may train for different steps
    for ax, (d, (steps, c_eta, c_sigma)) in zip(axes, sorted(curves.items()), strict=True):
        ax.plot(steps, np.asarray(c_sigma), label=r"$c_\sigma$", color=CLASS_COLOURS[1])
        ax.plot(steps, np.asarray(c_eta), label=r"$c_\eta$", color=CLASS_COLOURS[0])
        if reference and d in reference:
            ax.axhline(reference[d][1], color=CLASS_COLOURS[1], ls="--", lw=1)
            ax.axhline(reference[d][0], color=CLASS_COLOURS[0], ls="--", lw=1, label=reference_label or None)
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set_title((titles or {}).get(d, f"d = {d}"))
    for ax in axes[-2:]:
        ax.set_xlabel("training step")
    for ax in axes[::2]:
        ax.set_ylabel("value read off the weights")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
    return fig


ALGORITHM_COLOURS = {"selection": "#1f77b4", "elimination": "#d62728", "neither": "#bbbbbb"}


def plot_algorithm_counts(panels: dict[str, tuple[list[int], dict[str, list[int]]]], *, n_seeds: int):
    """Figure 11: per swept quantity (panel title -> (values, counts per algorithm)), stacked bars of
    how many seeds learned each algorithm, with the proportion of selection written above and the
    95% Wilson intervals of the selection and elimination counts as error bars (chapter 7)."""
    fig, axes = _grid(len(panels), ncols=3, panel_height=2.9, sharey=True)
    for ax, (title, (values, counts)) in zip(axes, panels.items(), strict=True):
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
            ax.text(x, n_seeds * 1.06, f"{sel / n_seeds:.0%}", ha="center", va="bottom")
        ax.set_xticks(pos, [str(v) for v in values])
        ax.set_xlabel(title)
        ax.set_ylim(0, n_seeds * 1.2)
    axes[0].set_ylabel(f"seeds (of {n_seeds})")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=len(ALGORITHM_COLOURS), frameon=False)
    return fig


def plot_algorithm_coefficients(points: dict[str, tuple[list[float], list[float]]]):
    """(c_sigma, c_eta) read off every trained model, coloured by the algorithm it was classified as."""
    use_style()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.8))
    for name, (c_sigma, c_eta) in points.items():
        if c_sigma:
            ax.scatter(c_sigma, c_eta, s=14, color=ALGORITHM_COLOURS[name], label=f"{name} ({len(c_sigma)})", alpha=0.8)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.axhline(0, color="black", lw=0.5)
    ax.axvline(0, color="black", lw=0.5)
    ax.set_xlabel(r"extracted $c_\sigma$")
    ax.set_ylabel(r"extracted $c_\eta$")
    ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def plot_attention_by_closeness(panels: dict[str, tuple[np.ndarray, np.ndarray]]):
    """What the query attends to: the attention weight of each context point against its similarity
    <x_i, x_q> to the query, one panel per model (title -> (similarities, weights), flattened)."""
    fig, axes = _grid(len(panels), panel_height=3.0)
    for ax, (title, (sims, weights)) in zip(axes, panels.items(), strict=True):
        ax.scatter(sims, weights, s=4, alpha=0.4, color="black", rasterized=True)
        ax.set_title(title.replace(": ", ":\n", 1))  # who, then the values: never broken mid-value
        ax.set_xlabel(r"$\langle x_i, x_{query} \rangle$")
    axes[0].set_ylabel("attention weight of $x_i$")
    return fig


def plot_dynamics_by_lr(curves: dict[float, tuple[list[int], np.ndarray, np.ndarray, np.ndarray]], *, c_eta_star: float,
                        c_sigma_star: float):
    """Figure 10: c_eta, c_sigma and the evaluation loss through training, one line per learning rate,
    one shared axis per quantity; the dashed lines are the grid optimum of Eq. 1 (c_eta on a log axis:
    the optimum can be far above)."""
    fig, axes = _grid(3, ncols=1, panel_height=2.2, sharex=True)
    top, mid, bottom = axes
    for i, (lr, (steps, c_eta, c_sigma, loss)) in enumerate(sorted(curves.items())):
        # rates still on the plateau draw the same line: dashed and in front, each stays visible
        style = dict(color=LINE_COLOURS[i % len(LINE_COLOURS)], ls="-" if i % 2 else "--", zorder=3 + len(curves) - i)
        top.plot(steps, np.clip(c_eta, 1e-2, None), label=f"lr {lr:g}", **style)
        mid.plot(steps, c_sigma, **style)
        bottom.plot(steps, loss, **style)
    top.axhline(c_eta_star, color="black", ls="--", lw=0.8, label="grid optimum")
    mid.axhline(c_sigma_star, color="black", ls="--", lw=0.8)
    top.set_yscale("log")
    top.set_ylabel(r"$c_\eta$ (clipped at 0.01)")
    mid.set_ylabel(r"$c_\sigma$")
    bottom.set_ylabel("eval loss")
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel("training step")
    top.legend(frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.0))
    return fig


STEP_COLOURS = {"Eq. 1": "#1f77b4", "Eq. 3": "#2ca02c", "Eq. 2": "#d62728"}


def plot_controls(values: dict[int, dict[str, dict[str, list[float]]]]):
    """The trained models against Eq. 1 and the simpler steps (chapter 4's controls): one row per d,
    preds diff (left) and cos sim (right); a dot per seed, a bar at the mean, one column per step."""
    use_style()
    dims = sorted(values)
    fig, axes = plt.subplots(len(dims), 2, figsize=(COLUMN_WIDTH, 1.9 * len(dims) + 0.4), squeeze=False, sharex=True)
    for row, d in zip(axes, dims, strict=True):
        for ax, metric, label in ((row[0], "preds_diff", "preds diff"), (row[1], "cos_sim", "cos sim")):
            for i, (step, metrics) in enumerate(values[d].items()):
                seeds = np.asarray(metrics[metric], dtype=float)
                colour = STEP_COLOURS.get(step, LINE_COLOURS[i % len(LINE_COLOURS)])
                ax.scatter(np.full(seeds.size, i) + np.linspace(-0.12, 0.12, seeds.size), seeds, s=18, color=colour, zorder=3)
                ax.hlines(seeds.mean(), i - 0.25, i + 0.25, color=colour, lw=2)
            ax.set_xticks(range(len(values[d])), list(values[d]))
            ax.set_title(f"d = {d}: {label}")
            ax.set_xlim(-0.5, len(values[d]) - 0.5)
    return fig


def plot_steps_against_d(values: dict[str, dict[str, dict[int, float]]], *, labels: dict[str, str]):
    """The book in one figure (the summary page): for each metric (a panel, `labels` its axis label)
    and each step (a line, in the step's colour), its value against d; values[metric][step][d]."""
    fig, axes = _grid(len(values), panel_height=2.8)
    for ax, (metric, steps) in zip(axes, values.items(), strict=True):
        for i, (step, by_d) in enumerate(steps.items()):
            dims = sorted(by_d)
            ax.plot(dims, [by_d[d] for d in dims], marker="o", label=step,
                    color=STEP_COLOURS.get(step, LINE_COLOURS[i % len(LINE_COLOURS)]))
        ax.set_xscale("log")
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.minorticks_off()
        ax.set_xlabel("d")
        ax.set_ylabel(labels[metric])
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
    return fig


def plot_steps_across_n(curves: dict[int, dict[str, tuple[list[int], list[float]]]],
                        models: dict[int, tuple[int, float]] | None = None):
    """Chapter 9: held-out loss of each step at its own optimum against the context length n, one
    panel per d (log n); the trained model at its n as a black diamond."""
    fig, axes = _grid(len(curves), panel_height=2.5, sharey=True)
    for ax, (d, steps) in zip(axes, sorted(curves.items()), strict=True):
        for i, (name, (ns, losses)) in enumerate(steps.items()):
            ax.plot(ns, losses, "o-", ms=3.5, color=STEP_COLOURS.get(name, LINE_COLOURS[i % len(LINE_COLOURS)]), label=name)
        if models and d in models:
            ax.plot(*models[d], "D", color="black", ms=6, label="trained softmax SA")
        ax.set_xscale("log")
        ax.set_title(f"d = {d}")
        ax.set_xlabel("context length n")
    for ax in axes[:: min(2, len(axes))]:
        ax.set_ylabel("held-out loss")
    handles, labels = axes[-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, frameon=False)
    return fig


def plot_gain_by_mass(rows: dict[int, list[tuple[float, float, float, float]]]):
    """Chapter 9: the loss of Eq. 3 minus that of Eq. 1 per context, averaged within bins of the
    neighbour mass m(X) (x, log), with 95% intervals, one line per d."""
    fig, axes = _grid(1, ncols=1, panel_height=3.0)
    ax = axes[0]
    for i, (d, bins) in enumerate(sorted(rows.items())):
        x, mean, low, high = (np.array(v) for v in zip(*bins, strict=True))
        ax.errorbar(x, mean, yerr=[mean - low, high - mean], fmt="o-", ms=4, capsize=3, color=LINE_COLOURS[i],
                    label=f"d = {d}")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(r"neighbour mass $m(X)$ (bin median); $\eta(X) = c_\eta / m(X)$")
    ax.set_ylabel("loss of Eq. 3 − loss of Eq. 1")
    ax.legend(frameon=False)
    return fig


def plot_loss_maps(maps: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                   valleys: dict[int, tuple[np.ndarray, np.ndarray]],
                   paths: dict[str, tuple[np.ndarray, np.ndarray]] | None = None, *, within: float = 1e-3):
    """Chapter 9: Eq. 1's mean loss over (c_sigma, c_eta) per d, relative to its minimum (log colour
    scale from 1e-4 to 1), the set within `within` of the minimum outlined in white, the curve along
    which Eq. 1 tends to the best GD step (dashed) and, at d = 10, trained models' values (paths)."""
    fig, axes = _grid(len(maps), panel_height=2.9)
    from matplotlib.colors import LogNorm

    norm = LogNorm(vmin=1e-4, vmax=1.0)
    for ax, (d, (c_etas, c_sigmas, losses, _)) in zip(axes, sorted(maps.items()), strict=True):
        excess = np.clip(losses / losses.min() - 1, 1e-4, 1.0)
        mesh = ax.pcolormesh(c_sigmas, c_etas, excess, shading="auto", cmap="viridis", norm=norm, rasterized=True)
        ax.contour(c_sigmas, c_etas, losses <= losses.min() * (1 + within), levels=[0.5], colors="white",
                   linewidths=1.2)
        ax.plot(*valleys[d], "--", color="red", lw=1.4, label="towards Eq. 2 (c_η c_σ fixed)")
        if paths and d == 10:
            for i, (label, (c_sigma, c_eta)) in enumerate(paths.items()):
                ax.plot(c_sigma, c_eta, "-", color=["white", "orange", "cyan"][i % 3], lw=1.6, label=label,
                        path_effects=[withStroke(linewidth=3, foreground="black")])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(c_sigmas.min(), c_sigmas.max())
        ax.set_ylim(c_etas.min(), c_etas.max())
        ax.set_xlabel(r"$c_\sigma$")
        ax.set_ylabel(r"$c_\eta$")
        ax.set_title(f"d = {d}")
    fig.colorbar(mesh, ax=axes, label="loss / minimum − 1", shrink=0.8)
    handles = {lab: h for ax in axes for h, lab in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=2, frameon=False)
    return fig


def plot_valley_profiles(profiles: dict[int, tuple[np.ndarray, np.ndarray, float]]):
    """Chapter 9: Eq. 1's loss along the curve towards the best GD step, relative to that step's
    loss, against c_sigma (log; c_eta follows from it), one line per d."""
    fig, axes = _grid(1, ncols=1, panel_height=2.8)
    ax = axes[0]
    for i, (d, (c_sigmas, losses, limit)) in enumerate(sorted(profiles.items())):
        ax.plot(c_sigmas, np.asarray(losses) / limit - 1, "-", color=LINE_COLOURS[i], label=f"d = {d}")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_xlabel(r"$c_\sigma$ along the curve ($c_\eta c_\sigma$ fixed)")
    ax.set_ylabel("loss / Eq. 2's loss − 1")
    ax.legend(frameon=False, ncol=2)
    return fig


def plot_two_layer_training(curves: dict[int, dict[str, list[tuple[list[int], list[float]]]]], *,
                            reference: dict[int, float], reference_label: str):
    """Chapter 10's training curves: per d, `curves[d]["two_layer"]` and `curves[d]["softmax"]` hold
    each seed's curve in seed order; a seed keeps its colour, two layers solid, one layer dotted."""
    labels = {"two_layer": "two layers", "softmax": "one layer"}
    flat = {d: {f"seed {m}, {labels[kind]}": curve for kind in labels for m, curve in enumerate(per[kind])}
            for d, per in curves.items()}
    styles = {f"seed {m}, {labels[kind]}": {"color": f"C{m}", "ls": "-" if kind == "two_layer" else ":"}
              for per in curves.values() for kind in labels for m in range(len(per[kind]))}
    return plot_loss_through_training(flat, reference=reference, reference_label=reference_label, styles=styles)
