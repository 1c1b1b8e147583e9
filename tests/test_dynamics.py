"""Chapter 6's analysis (icl_lib.dynamics) on synthetic trajectories with known answers."""

import math

import numpy as np
import pytest
import torch

from icl_lib import dynamics
from icl_lib.metrics import Alignment


def record(c_eta, exit_step=100.0, c_sigma=2.0):
    steps = np.arange(0, 1000, 10, dtype=float)
    return {"member": 0, "steps": steps, "loss": np.linspace(1.6, 0.6, steps.size), "exit": exit_step,
            "c_eta": np.asarray(c_eta, dtype=float), "c_sigma": np.full(steps.size, c_sigma)}


def test_only_rates_that_left_the_plateau_with_selections_signs_are_compared():
    grows = np.linspace(0.01, 100, 100)
    records = {1e-4: record(grows, exit_step=None), 8e-4: record(grows), 3e-3: record(-grows)}
    assert dynamics.with_selection(records) == ([8e-4], [3e-3])


def test_a_c_eta_that_stops_growing_is_flat_from_where_it_stops_and_one_that_keeps_growing_never():
    steps = np.arange(0, 1000, 10, dtype=float)
    stops = np.where(steps < 500, np.exp(steps / 50), math.exp(10))
    records = {1e-3: record(stops, exit_step=0.0), 3e-3: record(np.exp(steps / 50), exit_step=0.0)}
    flat = dynamics.flat_steps(records, [1e-3, 3e-3], threshold=math.log(1.1) / 100, window=10)
    assert 450 <= flat[1e-3] <= 550 and flat[3e-3] is None


def test_last_half_and_the_relative_standard_error():
    c_eta = np.concatenate([np.ones(50), np.full(50, 3.0)])
    assert dynamics.last_half({1e-3: record(c_eta)}, [1e-3])[1e-3][1] == pytest.approx(0.0)
    values = torch.tensor([1.0, 3.0] * 50, dtype=torch.float64)
    assert dynamics.relative_standard_error(values) == pytest.approx(float(values.std()) / 10 / 2)


def test_the_tables_show_each_rate():
    records = {8e-4: record(np.linspace(1, 80, 100))}
    table = dynamics.rates_table(records, [8e-4], {8e-4: None}, c_eta_star=8000.0,
                                 agreement={8e-4: Alignment(0.05, 0.99, 0.1)})
    assert table.rows[0][2] == "not within the run" and table.rows[0][4] == "0.010"
    region = {"x_low": 1000.0, "x_high": 9000.0, "x_ratio": 9.0, "y_low": 0.1, "y_high": 0.3, "y_ratio": 3.0,
              "optimum_on_edge": False, "region_on_edge": True}
    paper_rows = dynamics.paper_table(records, (9326.0, 0.2), region, d=10, grid="g", setting="s").rows
    assert paper_rows[0][1:3] == ("~8,000", "9326") and paper_rows[2][3] == "touches the grid's edge"
    grid_rows = dynamics.grid_table((9326.0, 0.2), 0.63, region, loss_se_relative=0.0125, optima=[9326.0, 9326.0]).rows
    assert grid_rows[-1] == ("c_η* on 2 independent search sets", "9326, 9326") and "1.25%" in grid_rows[5][1]
