"""Every number the paper states, with the section, figure or appendix it comes from.

The profiles (`icl_lib.profiles`), the chapters and the summary read the paper's values from
here, never from literals of their own. The paper is Dragutinović, Saxe, Singh (2025),
*Transformers May Learn to Classify In-Context by Context-Adaptive Kernel Gradient Descent*.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Claim", "CLAIMS",
    "C", "N", "DIMS", "BATCH_SIZE", "N_EVAL", "EVAL_EVERY", "INIT_SCALE", "N_SEARCH", "N_ALIGN", "GRID_POINTS",
    "LINEAR_LR", "LINEAR_CLIP", "LINEAR_STEPS", "SOFTMAX_LR", "SOFTMAX_CLIP", "SOFTMAX_STEPS",
    "GD_ETA_EXPONENTS", "KERNEL_GD_ETA_EXPONENTS", "KERNEL_GD_SIGMA2_EXPONENTS", "adaptive_grid_exponents",
    "C_ETA_D3", "C_SIGMA_D3", "C_ETA_D3_OFF", "C_SIGMA_D3_OFF",
    "D10", "D10_LRS", "D10_EVALUATIONS", "D10_STEPS", "D10_GRID_C_ETA",
    "SELECTION_SEEDS", "SELECTION_BASE",
    "softmax_lr",
]

# The task (Section 2.1; the setting of Figures 3 and 4) and the dimensions of Appendices E and F.
C = 5
N = 100
DIMS = (2, 3, 5, 10)

# Appendix G, "Training".
BATCH_SIZE = 2048  # "model training had 2048 batch size"
N_EVAL = 512  # "All evaluation sets contained 512 context samples"
EVAL_EVERY = 100  # "We evaluate every 100 iterations"
INIT_SCALE = 0.002  # "we rescale the weights by 0.002" (both models)

# Appendix G, "Linear transformer hyper-parameters".
LINEAR_LR = 5e-5
LINEAR_CLIP = 1e-3
LINEAR_STEPS = 200_000

# Appendix G, "Softmax transformer hyper-parameters": a constant, dimension-dependent rate.
SOFTMAX_LR = {2: 6e-4, 3: 3e-5, 5: 1e-4, 10: 5e-4}
SOFTMAX_CLIP = 1.0
SOFTMAX_STEPS = 2_000_000

# Appendix G, "Gradient descent grid search" (log10 of the ends; 100 values each) and its contexts.
GD_ETA_EXPONENTS = (0.0, 2.5)
KERNEL_GD_ETA_EXPONENTS = (0.0, 3.0)
KERNEL_GD_SIGMA2_EXPONENTS = (-3.0, 2.0)
GRID_POINTS = 100
N_SEARCH = 10_000  # "the search was done using N = 10,000 different contexts"

# Section 4, "Models alignment": "averaging the values over N = 100 contexts".
N_ALIGN = 100

# Appendix H, Figure 8 (d = 3, C = 5, n = 100): the values extracted from the trained softmax
# self-attention, and the "slightly off" values compared with them.
C_ETA_D3, C_SIGMA_D3 = 7.15, 31.07
C_ETA_D3_OFF, C_SIGMA_D3_OFF = 5.0, 25.0

# Appendix I, Figure 10 (d = 10, C = 5, n = 100): four constant learning rates, plotted "over
# 60,000 evaluation iterations"; Appendix G evaluates every 100 steps, so that is 6,000,000 steps.
D10 = 10
D10_LRS = (5e-5, 1e-4, 8e-4, 3e-3)
D10_EVALUATIONS = 60_000
D10_STEPS = D10_EVALUATIONS * EVAL_EVERY
D10_GRID_C_ETA = 8000.0  # "grid search finds the optimal c_eta to be ~8,000"

# Appendix J, Figure 11: "20 different combinations" per setting, around "the base setting d = 2,
# C = 5, n = 100" (as (d, C, n)).
SELECTION_SEEDS = 20
SELECTION_BASE = (2, 5, 100)


def adaptive_grid_exponents(d: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Appendix G, "Grid search for c_sigma and c_eta": log10 ranges of (c_eta, c_sigma) for d.

    c_sigma: d = 2 [10^0, 10^3.5]; d = 3, 5 [10^-1, 10^2]; d = 10 [10^-3, 10^1].
    c_eta: d = 2, 3, 5 [10^-1, 10^2]; d = 10 [10^1, 10^4]. Other d take the nearest listed range.
    """
    sigma = (0.0, 3.5) if d <= 2 else (-1.0, 2.0) if d <= 7 else (-3.0, 1.0)
    eta = (-1.0, 2.0) if d <= 7 else (1.0, 4.0)
    return eta, sigma


def softmax_lr(d: int) -> float:
    """The paper's softmax learning rate for d (Appendix G); other d take the nearest listed d's."""
    return SOFTMAX_LR[min(SOFTMAX_LR, key=lambda listed: (abs(listed - d), listed))]


# The budgets behind the paper's evidence, shown beside the book's in every verdict (Appendix G).
_SOFTMAX_BUDGET = "2,000,000 steps × 2,048, constant lr 6e-4 / 3e-5 / 1e-4 / 5e-4 at d = 2 / 3 / 5 / 10, clip 1, one run per d"


@dataclass(frozen=True)
class Claim:
    """A statement of the paper that the book checks: a short title, its words, where they stand, and
    the budget (Appendix G) behind the paper's evidence for it."""

    title: str
    words: str
    source: str
    budget: str = "— (no training)"
    paper_value: str = "—"  # what the paper shows or states, in a few words, for the one-screen list


CLAIMS = {
    "task": Claim(
        "The task is sampled as described",
        "we sample n/C such vectors per class using rejection sampling [...] then sampling x_query uniformly "
        "from its region",
        "Section 2.1",
        paper_value="n/C points per class, each in its class region",
    ),
    "prop_3_1": Claim(
        "Linear SA can take one GD step",
        "Linear self-attention is expressive enough to implement one step of gradient descent on cross-"
        "entropy loss in the linear classification setup",
        "Proposition 3.1, Appendix B",
        paper_value="a construction (exact)",
    ),
    "prop_3_2": Claim(
        "Kernel SA can take one kernel GD step",
        "Kernel activation self-attention is expressive enough to implement one step of gradient descent in "
        "the kernel feature space",
        "Proposition 3.2, Appendix C",
        paper_value="a construction (exact)",
    ),
    "eq_1": Claim(
        "Softmax SA can take one context-adaptive kernel GD step (Eq. 1)",
        "Equation 1 can be implemented by softmax self-attention",
        "Section 3.3, Appendix D",
        paper_value="a construction (exact)",
    ),
    "linear_learns_gd": Claim(
        "Trained linear SA does one GD step",
        "a single-layer linear transformer does learn to solve linear classification task by doing one step "
        "of GD",
        "Section 4, Figure 3, Appendix E / Figure 5",
        "200,000 steps × 2,048, constant lr 5e-5, clip 1e-3, one run per d (Appendix G)",
        paper_value="cos sim → 1, low differences (Fig. 3, 5)",
    ),
    "softmax_learns_eq1": Claim(
        "Trained softmax SA does the Eq. 1 step",
        "there is a significant similarity between a trained softmax SA and a context adaptive kernel GD step"
        " (Equation 1)",
        "Section 4, Figure 4, Appendix F / Figure 6",
        _SOFTMAX_BUDGET,
        paper_value="cos sim → 1, low differences (Fig. 4, 6)",
    ),
    "adaptive_not_simpler": Claim(
        "Trained softmax SA is Eq. 1, not a simpler GD step",
        "softmax self-attention implements a step of functional gradient descent in the Radial Basis "
        "Function (RBF) kernel feature space (kernel GD)",
        "Section 1",
        _SOFTMAX_BUDGET,
        paper_value="stated (Section 1); no control shown",
    ),
    "adaptive_benefits": Claim(
        "The context-adaptive rate lowers the loss",
        "furthermore, it benefits from having a context-adaptive learning rate",
        "Section 1",
        "— (stated; no experiment of the paper measures the benefit; Appendix A leaves its impact to future work)",
        paper_value="stated (Section 1); not measured",
    ),
    "softmax_learns_eq1_constant_lr": Claim(
        "Trained softmax SA does the Eq. 1 step, under constant learning rates",
        "there is a significant similarity between a trained softmax SA and a context adaptive kernel GD step"
        " (Equation 1)",
        "Section 4, Figure 4, Appendix F / Figure 6; trained as Appendix G: constant rates, batches of 2,048",
        _SOFTMAX_BUDGET,
        paper_value="cos sim → 1, low differences (Fig. 4, 6)",
    ),
    "extracted_d3": Claim(
        "At d = 3 the trained model has c_η = 7.15, c_σ = 31.07",
        "the effective values of c_η, c_σ we extracted (c_η = 7.15, c_σ = 31.07)",
        "Appendix H, Figure 8",
        _SOFTMAX_BUDGET,
        paper_value="(c_η, c_σ) = (7.15, 31.07)",
    ),
    "extracted_d3_constant_lr": Claim(
        "At d = 3 the trained model has c_η = 7.15, c_σ = 31.07, under constant learning rates",
        "the effective values of c_η, c_σ we extracted (c_η = 7.15, c_σ = 31.07)",
        "Appendix H, Figure 8; trained as Appendix G: constant rates, batches of 2,048",
        _SOFTMAX_BUDGET,
        paper_value="(c_η, c_σ) = (7.15, 31.07)",
    ),
    "extraction_works": Claim(
        "Eq. 1 at the extracted values describes the model",
        "transformer's similarity metrics align well with the implementation of the Equation 1 with the "
        "effective values [...] with c_η, c_σ slightly off [...] differences are large",
        "Appendix H, Figure 8",
        _SOFTMAX_BUDGET,
        paper_value="close at the extracted values, far at (5, 25) (Fig. 8)",
    ),
    "dynamics_by_d": Claim(
        "Higher d: lower c_σ, higher c_η",
        "For d = 2 softmax transformer learns to pay attention only to points very close to the query point "
        "(high c_σ) [...] larger attention window (made possible with lower c_σ), and higher saturation [...]"
        " (higher c_η)",
        "Appendix H, Figure 9",
        _SOFTMAX_BUDGET,
        paper_value="c_σ falls and c_η rises with d (Fig. 9)",
    ),
    "d10_flattens_earlier": Claim(
        "d = 10: c_η flattens earlier at a higher learning rate",
        "for higher learning rate, the growth of c_η flattens earlier",
        "Appendix I, Figure 10",
        "6,000,000 steps × 2,048 (60,000 evaluations every 100 steps), constant lr 5e-5, 1e-4, 8e-4, 3e-3 (Appendix I)",
        paper_value="earlier at a higher rate (Fig. 10)",
    ),
    "d10_smaller_value": Claim(
        "d = 10: c_η flattens at a smaller value at a higher learning rate",
        "[for higher learning rate, the growth of c_η flattens] around a smaller value",
        "Appendix I, Figure 10",
        "6,000,000 steps × 2,048 (60,000 evaluations every 100 steps), constant lr 5e-5, 1e-4, 8e-4, 3e-3 (Appendix I)",
        paper_value="smaller at a higher rate (Fig. 10)",
    ),
    "d10_not_converged": Claim(
        "d = 10: no c_η has converged",
        "no value of c_η converged yet",
        "Appendix I, Figure 10",
        "6,000,000 steps × 2,048 (60,000 evaluations every 100 steps), constant lr 5e-5, 1e-4, 8e-4, 3e-3 (Appendix I)",
        paper_value="no c_η converged (Fig. 10)",
    ),
    "d10_grid_optimum": Claim(
        "d = 10: Eq. 1's grid optimum is c_η ≈ 8,000",
        "grid search finds the optimal c_η to be ~8,000",
        "Appendix I",
        "100 × 100 grid, c_η in [10, 10^4], c_σ in [10^-3, 10], 10,000 contexts (Appendix G)",
        paper_value="c_η* ≈ 8,000",
    ),
    "selection_majority": Claim(
        "Most seeds learn selection",
        "selection algorithm is the one leaned in majority of runs, especially in our default settings",
        "Appendix J, Figure 11",
        "20 seeds per setting of Figure 11 at the softmax budget: 2,000,000 steps × 2,048 (Appendices G, J)",
        paper_value="a majority of runs (Fig. 11)",
    ),
    "elimination_low_c": Claim(
        "Elimination is more frequent at low C",
        "especially when C is low, the elimination algorithm is appearing as well",
        "Appendix J, Figure 11",
        "20 seeds per setting of Figure 11 at the softmax budget: 2,000,000 steps × 2,048 (Appendices G, J)",
        paper_value="more elimination at low C (Fig. 11)",
    ),
}
