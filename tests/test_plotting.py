"""The book's figures: drawn for its text column, with the axes each figure's reading depends on."""

import io
import struct

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from matplotlib import pyplot as plt

from icl_lib import plotting as pl
from icl_lib.streams import contexts_for

STEPS = list(range(0, 3001, 100))
DIMS = (2, 3, 5, 10)


def _alignment(model_diff_top: float = 1.6):
    t = len(STEPS)
    return {"preds_diff": list(np.linspace(0.8, 0.03, t)), "cos_sim": list(np.linspace(0, 1, t)),
            "model_diff": list(np.linspace(model_diff_top, 0.1, t))}


def _every_figure():
    ctx2 = contexts_for("figure", 2, n=20, d=2, C=5)
    ctx3 = contexts_for("figure", 2, n=20, d=3, C=5)
    examples = contexts_for("figure", 2, n=6, d=2, C=3, key=(1,))
    rng = np.random.default_rng(0)
    metrics = {k: torch.rand(50, generator=torch.Generator().manual_seed(1)) for k in ("loss", "prob_correct", "entropy")}
    counts = {"selection": [10, 20], "elimination": [5, 0], "neither": [5, 0]}
    grid = torch.logspace(-1, 3, 12)
    yield "task", pl.plot_task_figure(ctx2, ctx3, examples=examples)
    yield "uniformity", pl.plot_region_uniformity({d: rng.random(100) for d in DIMS}, {d: rng.random(100) for d in DIMS},
                                                 {d: 0.5 for d in DIMS})
    yield "deviations", pl.plot_deviations(["Prop. 3.2 (PolynomialKernel(degree=2, c=1.0), Eq. 3)"] * 3, [1e-16, 2e-15, 0.0],
                                          tolerance=1e-10)
    yield "alignment", pl.plot_alignment_through_training({d: (STEPS, _alignment()) for d in DIMS})
    yield "scatter", pl.plot_per_context_scatter({d: (metrics, metrics) for d in DIMS})
    yield "search", pl.plot_search_curve({d: (grid, torch.log(grid) ** 2, 1.0) for d in DIMS})
    yield "loss", pl.plot_loss_through_training({d: {"run": (STEPS, list(np.linspace(1.6, 0.3, len(STEPS))))} for d in DIMS},
                                               reference={d: 0.3 for d in DIMS})
    yield "grids", pl.plot_grid_heatmaps({d: (grid, grid, torch.rand(12, 12), (1.0, 2.0), (3.0, 4.0)) for d in DIMS})
    yield "weights", pl.plot_weight_products([0, 10, 20, 30, 40], torch.randn(5, 8, 8), torch.randn(5, 8, 8), 3)
    yield "coefficients", pl.plot_coefficients_through_training(
        {d: (STEPS, torch.linspace(0, 8, len(STEPS)), torch.linspace(-0.01, 210, len(STEPS))) for d in DIMS})
    yield "counts", pl.plot_algorithm_counts({k: ([2, 4], counts) for k in ("C", "d", "n")}, n_seeds=20)
    yield "coefficients by algorithm", pl.plot_algorithm_coefficients({"selection": ([50.0], [7.0]), "neither": ([], [])})
    cloud = (rng.random(50), rng.random(50))
    yield "attention", pl.plot_attention_by_closeness({"selection, seed 0: cη = 7.3, cσ = 57.9": cloud,
                                                      "elimination, seed 5: cη = -73.3, cσ = -1.8": cloud})
    yield "dynamics", pl.plot_dynamics_by_lr({lr: (STEPS, np.linspace(0, 100, len(STEPS)), np.linspace(0, 4, len(STEPS)),
                                                  np.linspace(1.6, 0.6, len(STEPS))) for lr in (1e-4, 3e-3)},
                                            c_eta_star=8000.0, c_sigma_star=0.04)
    lengths = [10, 20, 50, 100, 200, 400]
    yield "steps across n", pl.plot_steps_across_n(
        {d: {k: (lengths, list(np.linspace(1, 0.2, 6))) for k in ("Eq. 1", "Eq. 3", "Eq. 2")} for d in DIMS},
        {d: (100, 0.4) for d in DIMS})
    yield "gain by mass", pl.plot_gain_by_mass({d: [(10.0**-k, 0.1, 0.05, 0.15) for k in range(5, 0, -1)] for d in DIMS})
    etas, sigmas = np.logspace(-1, 7, 20), np.logspace(-5, 3.5, 20)
    loss_map = 1 + rng.random((20, 20))
    yield "loss maps", pl.plot_loss_maps({d: (etas, sigmas, loss_map, (1.0, 1.0)) for d in DIMS},
                                         {d: (sigmas, 100 / sigmas) for d in DIMS},
                                         {"trained, lr 0.003": (sigmas[:5], etas[:5])})
    yield "valley", pl.plot_valley_profiles({d: (np.logspace(1, -6, 10), list(np.linspace(0.7, 0.6, 10)), 0.6)
                                             for d in DIMS})
    yield "steps against d", pl.plot_steps_against_d(
        {"preds_diff": {"Eq. 1": {2: 0.01, 3: 0.005, 5: 0.03}, "Eq. 2": {2: 0.3, 3: 0.2, 5: 0.05}}},
        labels={"preds_diff": "preds diff with the models"})
    yield "two-layer training", pl.plot_two_layer_training(_two_layer_curves(), reference={d: 0.2 for d in DIMS},
                                                           reference_label="(b) fitted")


def _two_layer_curves():
    return {d: {kind: [(STEPS, list(np.linspace(1.6, end + 0.01 * m, len(STEPS)))) for m in range(3)]
                for kind, end in (("two_layer", 0.2), ("softmax", 0.3))} for d in DIMS}


@pytest.mark.parametrize("name, fig", list(_every_figure()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_figure_fits_the_column(name, fig):
    """Saved as a notebook shows it (tight bounding box, the book's dpi), no figure is wider than
    the 672-px column, so none is shrunk and its text stays at the style's size."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=pl.DPI, bbox_inches="tight")
    width = struct.unpack(">I", buffer.getvalue()[16:20])[0]
    assert fig.get_size_inches()[0] <= pl.COLUMN_WIDTH
    assert width <= 672, f"{name}: {width} px"
    plt.close(fig)


@pytest.mark.parametrize("name, fig", list(_every_figure()), ids=lambda v: v if isinstance(v, str) else "")
def test_no_text_is_smaller_than_a_phone_can_show(name, fig):
    """Every visible text (titles, labels, ticks, legends, annotations) is at least MIN_FONT_SIZE,
    the size that is still 8 px high when the figure is scaled to a phone's column."""
    fig.canvas.draw()
    small = {(t.get_text(), t.get_fontsize()) for t in fig.findobj(matplotlib.text.Text)
             if t.get_visible() and t.get_text().strip() and t.get_fontsize() < pl.MIN_FONT_SIZE}
    assert not small, f"{name}: {sorted(small)[:5]}"
    plt.close(fig)


def test_the_dynamics_figure_keeps_a_line_that_another_covers_visible():
    """Rates still on the plateau draw the same curve: the neighbouring ones differ in line style,
    and the smaller rate is drawn in front."""
    flat = (list(range(0, 100, 10)), np.full(10, 0.01), np.zeros(10), np.full(10, 1.6))
    fig = pl.plot_dynamics_by_lr({5e-5: flat, 1e-4: flat}, c_eta_star=10.0, c_sigma_star=1.0)
    small, large = fig.axes[0].get_lines()[:2]
    assert small.get_linestyle() != large.get_linestyle() and small.get_zorder() > large.get_zorder()
    plt.close(fig)


def test_the_alignment_axis_holds_every_value():
    """A model diff above 1 (chapter 4, d = 2) is inside the axis, on every panel alike."""
    fig = pl.plot_alignment_through_training({d: (STEPS, _alignment(model_diff_top=1.6 if d == 2 else 0.5)) for d in DIMS})
    tops = {ax.get_ylim()[1] for ax in fig.axes}
    assert len(tops) == 1 and tops.pop() >= 1.6
    plt.close(fig)


def test_loss_panels_share_one_axis_and_one_legend():
    """A 0.02 dip on the plateau must not look like leaving it: one y-axis for every d, from 0.
    The legend names each kind of run once, whatever its per-d setting (titles carry those)."""
    curves = {d: {"scheduled": (STEPS, list(np.linspace(1.6, 0.2 * d / 10 + 0.1, len(STEPS)))),
                  "the paper's constant lr": (STEPS, [1.609] * (len(STEPS) - 1) + [1.59])} for d in DIMS}
    fig = pl.plot_loss_through_training(curves, reference={d: 0.1 for d in DIMS},
                                       titles={d: f"d = {d}, paper's lr {d}e-4" for d in DIMS})
    assert len({ax.get_ylim() for ax in fig.axes}) == 1 and fig.axes[0].get_ylim()[0] == 0
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert sorted(labels) == sorted(["scheduled", "the paper's constant lr", "Eq. 1 at the grid optimum"])
    assert [ax.get_title() for ax in fig.axes][3] == "d = 10, paper's lr 10e-4"
    plt.close(fig)


def test_the_deviations_axis_is_fixed_and_marks_the_tolerance():
    """Deviations at machine precision stay short bars: the axis runs from 1e-18 to 1 whatever the data."""
    fig = pl.plot_deviations(["a", "b"], [3e-16, 2e-15], tolerance=1e-10)
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((1e-18, 1.0)) and ax.get_xscale() == "log"
    assert len([t for t in ax.get_xticks() if 1e-18 <= t <= 1]) <= 8  # tick labels do not overlap
    assert any(line.get_xdata()[0] == 1e-10 for line in ax.get_lines())
    plt.close(fig)


def test_weight_heatmaps_share_one_scale_per_row_with_colour_bars():
    qk, ov = torch.randn(3, 8, 8), 5 * torch.randn(3, 8, 8)
    fig = pl.plot_weight_products([0, 1, 2], qk, ov, 3)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 6
    top, bottom = {im.get_clim() for im in images[:3]}, {im.get_clim() for im in images[3:]}
    assert top == {(-float(qk.abs().max()), float(qk.abs().max()))}
    assert bottom == {(-float(ov.abs().max()), float(ov.abs().max()))}
    assert len(fig.axes) == 8  # six heat maps and a colour bar per row
    plt.close(fig)


def test_coefficients_are_on_a_labelled_log_axis():
    """c_eta (about 8) and c_sigma (about 200) on one linear axis made c_eta look flat."""
    t = len(STEPS)
    fig = pl.plot_coefficients_through_training({3: (STEPS, torch.linspace(0, 8, t), torch.linspace(0, 200, t))})
    ax = fig.axes[0]
    assert ax.get_yscale() == "symlog" and ax.get_ylabel()
    plt.close(fig)


def test_the_schematic_is_drawn_for_d_2_only():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="d = 2"):
        pl.plot_context_schematic(ax, contexts_for("figure", 1, n=6, d=3, C=3))
    plt.close(fig)


def test_controls_show_every_seed_of_every_step():
    values = {d: {step: {"preds_diff": [0.1, 0.2, 0.3], "cos_sim": [0.9, 0.95, 0.99]} for step in ("Eq. 1", "Eq. 3", "Eq. 2")}
              for d in (3, 10)}
    fig = pl.plot_controls(values)
    assert len(fig.axes) == 4 and fig.get_size_inches()[0] <= pl.COLUMN_WIDTH
    assert all(len(ax.collections) >= 3 for ax in fig.axes)  # a dot cloud per step
    fig.canvas.draw()
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == ["Eq. 1", "Eq. 3", "Eq. 2"]
    plt.close(fig)


def test_two_layer_curves_keep_a_seeds_colour_and_set_the_layers_apart_by_line():
    fig = pl.plot_two_layer_training(_two_layer_curves(), reference={d: 0.2 for d in DIMS}, reference_label="(b) fitted")
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    for m in range(3):
        two, one = lines[f"seed {m}, two layers"], lines[f"seed {m}, one layer"]
        assert two.get_color() == one.get_color() == f"C{m}"
        assert (two.get_linestyle(), one.get_linestyle()) == ("-", ":")
    assert lines["(b) fitted"].get_linestyle() == "--"
    plt.close(fig)
