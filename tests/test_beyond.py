"""Chapter 9's pieces: the linear limit of Eq. 1, η(X) as the neighbour mass, the mirror of
selection at C = 2, the effect labels and the valley's profile, each on a case that must fail."""

import math

import numpy as np
import pytest
import torch

from icl_lib.baselines import adaptive_kernel_gd_step, gd_step, grid_search_adaptive, kernel_gd_step, log_grid
from icl_lib.beyond import (
    best_c_eta,
    binned_means,
    c_eta_on_valley,
    centred,
    effect_label,
    gd_rate_of_eq1,
    landscape_set,
    limit_deviation,
    mirror_preds_diff,
    neighbour_mass,
    valley_profile,
)
from icl_lib.kernels import RBFKernel
from icl_lib.streams import contexts_for


@pytest.mark.parametrize("include_query", [True, False])
def test_eq1_tends_to_the_gd_step_along_the_valley_at_the_derived_rate(include_query):
    ctx = contexts_for("checks", 200, n=30, d=4, C=3, seed=1)
    eta = 40.0
    deviations = limit_deviation(ctx, eta, [1e-2, 1e-3, 1e-4], include_query=include_query)
    assert deviations[0] > 1e-3 and deviations[2] < 1e-4
    assert deviations[1] / deviations[2] == pytest.approx(10, rel=0.1)  # first order in c_sigma
    # the wrong rate (a missing 1/sqrt(D), or n+1 against n) does not tend to the step
    D = ctx.d + ctx.C
    c_eta = float(c_eta_on_valley(eta, 1e-4, n=ctx.n, D=D, include_query=include_query))
    assert gd_rate_of_eq1(c_eta, 1e-4, n=ctx.n, D=D, include_query=include_query) == pytest.approx(eta)
    wrong = centred(adaptive_kernel_gd_step(ctx, c_eta * math.sqrt(D), 1e-4, include_query=include_query))
    assert float((wrong - centred(gd_step(ctx, eta))).abs().max()) > 1.0


def test_the_valley_profile_ends_at_the_gd_loss():
    ctx = contexts_for("checks", 300, n=50, d=10, C=5, seed=2)
    eta = 60.0
    from icl_lib.metrics import per_context_loss
    gd_loss = float(per_context_loss(gd_step(ctx, eta), ctx.y_query).mean())
    profile = valley_profile(ctx, eta, [1.0, 1e-2, 1e-5], include_query=False)
    assert profile[-1] == pytest.approx(gd_loss, rel=1e-4) and profile[0] != pytest.approx(gd_loss, rel=1e-3)


@pytest.mark.parametrize("include_query", [True, False])
def test_eq1_is_eq3_with_the_neighbour_mass_as_its_rate(include_query):
    ctx = contexts_for("checks", 100, n=20, d=3, C=4, seed=3)
    c_eta, c_sigma = 5.0, 12.0
    D = ctx.d + ctx.C
    mass = neighbour_mass(ctx, c_sigma, include_query=include_query)
    # on the sphere exp(-|a-b|^2/(2 s2)) = exp((<a,b> - 1)/s2): Eq. 1's kernel at s2 = sqrt(D)/c_sigma
    eq3 = kernel_gd_step(ctx, 1.0, RBFKernel(sigma2=math.sqrt(D) / c_sigma)) * (c_eta / mass)[:, None]
    eq1 = adaptive_kernel_gd_step(ctx, c_eta, c_sigma, include_query=include_query)
    assert torch.allclose(eq1, eq3, atol=1e-10)
    assert bool(((mass > 0) & (mass <= 1 + 1 / ctx.n + 1e-12)).all())


def test_selection_and_elimination_coincide_at_two_classes_or_small_c_sigma_only():
    two = contexts_for("checks", 400, n=100, d=2, C=2, seed=4)
    five = contexts_for("checks", 400, n=100, d=2, C=5, seed=4)
    assert mirror_preds_diff(two, 9.0, 1.4, include_query=False) < 0.05
    assert mirror_preds_diff(five, 7.0, 1.4, include_query=False) < 0.1  # the linear limit: the same step
    assert mirror_preds_diff(five, 7.0, 40.0, include_query=False) > 0.5


def test_binned_means_split_into_equal_bins():
    x = np.arange(100.0)
    rows = binned_means(x, x * 2, bins=4)
    assert [r[0] for r in rows] == [12.0, 37.0, 62.0, 87.0]
    assert all(lo < mean < hi for _, mean, lo, hi in rows) and rows[0][1] == pytest.approx(24.0)


@pytest.mark.parametrize(("interval", "label"), [((0.05, 0.03, 0.07), "matters"), ((0.0, -0.005, 0.005), "does not matter"),
                                                 ((-0.05, -0.07, -0.03), "hurts"), ((0.02, -0.01, 0.05), "cannot tell"),
                                                 ((0.011, 0.009, 0.013), "cannot tell")])
def test_effect_labels_come_out_every_way(interval, label):
    assert effect_label(*interval, threshold=0.01) == label
    with pytest.raises(ValueError, match="threshold"):
        effect_label(*interval, threshold=0)


def test_the_profile_finds_the_best_c_eta_for_each_c_sigma():
    ctx = contexts_for("search", 400, n=20, d=3, C=5, seed=0)
    c_eta, loss = best_c_eta(ctx, 5.0, include_query=False, around=3.0)
    grid = torch.logspace(-2, 3, 2001, dtype=torch.float64)
    on_grid = grid_search_adaptive(ctx, grid, torch.tensor([5.0], dtype=torch.float64), include_query=False)[2]
    assert loss <= float(on_grid.min()) + 1e-9  # at least as good as a fine grid
    assert abs(math.log10(c_eta) - math.log10(float(grid[int(on_grid.argmin())]))) < 0.01


def test_the_landscape_set_scores_the_profile_on_held_out_contexts():
    search = contexts_for("landscape", 600, n=20, d=3, C=5, seed=0, key=(0,))
    test = contexts_for("heldout", 600, n=20, d=3, C=5, seed=0)
    r = landscape_set(search, test, log_grid(-1.0, 4.0, 200), [30.0, 3.0, 0.3, 0.03], include_query=False)
    assert len(r["losses"]) == 4 and r["best_loss"] == min(r["losses"])
    mean, low, high = r["gain"]
    assert low <= mean <= high and mean > 0  # at d = 3 Eq. 1's optimum beats the linear step out of sample


def test_the_refined_gd_rate_is_at_least_as_good_as_the_grid():
    from icl_lib.baselines import line_search_gd, log_grid
    from icl_lib.beyond import best_gd_rate

    ctx = contexts_for("checks", 400, n=50, d=5, C=5, seed=5)
    grid = log_grid(0, 3, 12)
    eta, loss = best_gd_rate(ctx, grid)
    grid_eta, grid_losses = line_search_gd(ctx, grid)
    assert loss <= float(grid_losses.min()) and loss < float(grid_losses.min()) - 1e-6  # a coarse grid leaves room
    fine_eta, fine = line_search_gd(ctx, log_grid(0, 3, 3001))
    assert loss <= float(fine.min()) + 1e-9 and eta == pytest.approx(fine_eta, rel=0.01)


def test_valley_extent_is_a_lower_bound_when_the_set_reaches_the_end():
    from icl_lib.beyond import valley_extent

    c_etas = np.array([1.0, 10.0, 100.0, 1000.0])
    assert valley_extent(c_etas, [2.0, 1.0005, 1.0, 1.0002], best=1.0, within=1e-3) == (100.0, True)
    assert valley_extent(c_etas, [1.0002, 1.0, 1.5, 2.0], best=1.0, within=1e-3) == (10.0, False)
    ratio, end = valley_extent(c_etas, [2.0, 3.0, 4.0, 5.0], best=1.0, within=1e-3)
    assert math.isnan(ratio) and not end
