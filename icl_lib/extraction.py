"""Reading the effective step coefficients off trained weights (Appendix H; chapters 3, 5, 6 and 7).

The constructions of Appendices B and D have W_Q^T W_K = diag(a I_d, 0) and a value-to-output map
whose y-block is b I_C. For trained weights:
- a is the mean of the diagonal of the x-block of W_Q^T W_K (c_sigma for softmax attention);
- b comes from the y-block of W_O W_V, the map acting on column vectors (logits = W_O W_V v).
  Adding a constant to a *column* of that block adds the same number to every output logit,
  which the outer softmax ignores; so for each column we subtract the mean of its off-diagonal
  entries, then average the diagonal (c_eta for softmax attention). Appendix H says to *add* that
  mean, "resulting in the off-diagonal entries being approximately 0"; only subtracting gives that
  result, so the book departs from the word to reach what the text says it achieves.
For linear attention the GD step of Eq. 2 has eta/n = a b, so eta_eff = n a b.
"""

from __future__ import annotations

import numpy as np
import torch

from icl_lib.models import Weights

__all__ = ["qk_scale", "ov_scale", "shift_ov_columns", "extract_c_eta_c_sigma", "effective_eta",
           "largest_relative_deviation", "final_values"]


def qk_scale(weights: Weights, d: int) -> torch.Tensor:
    """Mean diagonal of the x-block of W_Q^T W_K, (...)."""
    qk = weights.qk()  # (..., D, D)
    return qk[..., :d, :d].diagonal(dim1=-2, dim2=-1).mean(-1)


def shift_ov_columns(ov_y: torch.Tensor) -> torch.Tensor:
    """Subtract from each column of the (..., C, C) y-block the mean of its off-diagonal entries."""
    C = ov_y.shape[-1]
    off_mean = (ov_y.sum(-2) - ov_y.diagonal(dim1=-2, dim2=-1)) / (C - 1)  # (..., C), one per column
    return ov_y - off_mean.unsqueeze(-2)


def ov_scale(weights: Weights, d: int) -> torch.Tensor:
    """Mean diagonal of the column-shifted y-block of W_O W_V, (...)."""
    ov = weights.ov()  # (..., D, D)
    return shift_ov_columns(ov[..., d:, d:]).diagonal(dim1=-2, dim2=-1).mean(-1)


def extract_c_eta_c_sigma(weights: Weights, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(c_eta, c_sigma) of Eq. 1 read off softmax self-attention weights (Appendix H)."""
    return ov_scale(weights, d), qk_scale(weights, d)


def effective_eta(weights: Weights, d: int, n: int) -> torch.Tensor:
    """The learning rate of the GD step (Eq. 2) that linear self-attention weights implement."""
    return n * qk_scale(weights, d) * ov_scale(weights, d)


def largest_relative_deviation(values: list[tuple[float, float]]) -> float:
    """The largest relative deviation of any (c_eta, c_sigma) in `values` (one pair per seed) from the
    mean over seeds: the seed-to-seed spread a tolerance on the extracted values must exceed."""
    array = np.asarray(values, dtype=float)
    return float(np.abs(array / array.mean(0) - 1).max())


def final_values(weights_through_training: Weights, d: int) -> tuple[float, float]:
    """(c_eta, c_sigma) read off the last of a run's snapshots."""
    return tuple(float(v[-1]) for v in extract_c_eta_c_sigma(weights_through_training, d))
