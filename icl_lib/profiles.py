"""Size profiles (`smoke`, `book`, `paper`) and the validation of notebook parameters.

Every chapter's `parameters` cell is checked right after it by `check_parameters`, so a bad
value (`papermill ... -p d -1`) fails at once with a message naming the parameter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from icl_lib import paper
from icl_lib.validation import check_choice, check_positive_int

__all__ = ["PROFILES", "Profile", "get_profile", "check_parameters", "resolve_device"]


@dataclass(frozen=True)
class Profile:
    """How much work a chapter does. `smoke` is for tests (seconds), `book` is what the published
    book shows (minutes on 2 CPU cores), `paper` uses the paper's budgets (Appendix G)."""

    name: str
    n_task_checks: int  # contexts sampled for the task's checks (chapter 01)
    n_proof_contexts: int  # contexts on which the equivalences are checked (chapter 02)
    n_uniformity: int  # points per test of uniformity within a region (chapter 01)
    dims: tuple[int, ...]  # dimensions trained in chapters 03-05
    n_search: int  # contexts for the baseline searches (Appendix G: 10,000)
    n_eval: int  # fixed evaluation set (Appendix G: 512)
    n_align: int  # contexts of the alignment metrics (Section 4: N = 100)
    linear: dict[str, object]  # TrainConfig fields of linear self-attention (chapter 03)
    softmax: dict[str, object]  # TrainConfig fields of softmax self-attention (chapters 04, 05)
    grid_points: int  # points per axis of the baseline grid searches (Appendix G: 100)
    selection: dict[str, object]  # TrainConfig fields of the many-seed runs of chapter 07 (Appendix J)
    selection_sweep: dict[str, object]  # chapter 07: seeds per setting and the values of C, d and n swept
    dynamics: dict[str, object]  # TrainConfig fields of chapter 06's runs (Appendix I), one member per learning rate
    dynamics_setting: dict[str, object]  # chapter 06: the dimension d and the learning rates compared

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def training_settings(self, kind: str, d: int) -> dict[str, object]:
        """TrainConfig fields of this profile for `kind` at dimension d (the paper's per-d rate where it has no lr).
        kind "selection": the softmax runs of chapter 07; "dynamics": those of chapter 06."""
        check_choice("kind", kind, ("linear", "softmax", "selection", "dynamics"))
        settings = dict({"linear": self.linear, "softmax": self.softmax, "selection": self.selection,
                         "dynamics": self.dynamics}[kind])
        if kind == "dynamics":  # one ensemble member per learning rate compared
            settings["lr"] = tuple(self.dynamics_setting["lrs"])
        if settings["lr"] is None:
            settings["lr"] = paper.softmax_lr(d)
        return settings


# Linear SA: the paper's rate, clipping and budget (Appendix G, `icl_lib.paper`). The book profile
# keeps the rate and clipping and shortens the budget (10k steps of 1024), which reaches cos sim >
# 0.999 for d = 2..10; smoke uses a fast schedule (seconds, tests only).
_PAPER_LINEAR = {"steps": paper.LINEAR_STEPS, "batch_size": paper.BATCH_SIZE, "lr": paper.LINEAR_LR, "clip": paper.LINEAR_CLIP,
                 "schedule": "constant", "warmup_steps": 0, "eval_every": paper.EVAL_EVERY, "checkpoint_every": 5000}
# Softmax SA: 2M steps at a constant, dimension-dependent rate (lr None: `paper.softmax_lr(d)`). At
# that rate the model stays on its initial plateau for long; the book profile uses warm-up + cosine
# decay from 3e-2, and chapter 04 also runs the paper's constant rate at the book's budget. Smoke:
# 1000 steps of 256, the shortest run whose chapter-4 checks do not hinge on the coarse grid's points.
_PAPER_SOFTMAX = {"steps": paper.SOFTMAX_STEPS, "batch_size": paper.BATCH_SIZE, "lr": None, "clip": paper.SOFTMAX_CLIP,
                  "schedule": "constant", "warmup_steps": 0, "eval_every": paper.EVAL_EVERY, "checkpoint_every": 20_000}
# Selection vs elimination (chapter 07, Appendix J / Figure 11): 20 seeds per setting, each with its own
# initialisation and its own data stream. The book uses chapter 04's warm-up + cosine schedule with
# 1000 steps of 256 contexts, after which every seed at the base setting has settled on an algorithm.
# Smoke: 4 seeds, 800 steps of 128 (enough for most seeds to leave the plateau).
_SELECTION_SWEEP = {"n_seeds": paper.SELECTION_SEEDS, "classes": (2, 4, 5, 10), "dims": (2, 3, 5), "lengths": (20, 50, 100, 200)}
# d = 10 dynamics (chapter 06, Appendix I / Figure 10): the paper's four constant learning rates, trained
# side by side on the same batches, for 60,000 evaluations of every 100 steps: 6,000,000 steps of 2048
# (the paper profile, which stores a snapshot every 5000 steps). The book trains 60,000 steps of 512
# contexts (1% of the steps, 0.25% of the contexts), where 5e-5 and 1e-4 stay on the plateau. Smoke:
# d = 3 at 1e-2 and 3e-2, where both leave the plateau within 1000 steps of 128, so the comparisons run in CI.
_DYNAMICS = {"clip": paper.SOFTMAX_CLIP, "schedule": "constant", "warmup_steps": 0}
PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", n_task_checks=512, n_proof_contexts=16, n_uniformity=2_000, dims=(3,), n_search=1000,
                     n_eval=128, n_align=32,
                     linear={"steps": 150, "batch_size": 256, "lr": 1e-2, "clip": 1e-3, "schedule": "warmup_cosine",
                             "warmup_steps": 15, "final_lr_fraction": 0.05, "eval_every": 15, "checkpoint_every": 1000},
                     softmax={"steps": 1000, "batch_size": 256, "lr": 5e-2, "clip": 1.0, "schedule": "warmup_cosine",
                              "warmup_steps": 20, "final_lr_fraction": 0.02, "eval_every": 40, "checkpoint_every": 1000},
                     grid_points=24,
                     selection={"steps": 800, "batch_size": 128, "lr": 3e-2, "clip": 1.0, "schedule": "warmup_cosine",
                                "warmup_steps": 50, "final_lr_fraction": 0.02, "eval_every": 100, "checkpoint_every": 1000},
                     selection_sweep={"n_seeds": 4, "classes": (2, 5), "dims": (2,), "lengths": (100,)},
                     dynamics=_DYNAMICS | {"steps": 1000, "batch_size": 128, "eval_every": 50, "checkpoint_every": 1000},
                     dynamics_setting={"d": 3, "lrs": (1e-2, 3e-2)}),
    "book": Profile("book", n_task_checks=10_000, n_proof_contexts=512, n_uniformity=20_000, dims=paper.DIMS,
                    n_search=paper.N_SEARCH, n_eval=paper.N_EVAL, n_align=paper.N_ALIGN,
                    linear={"steps": 10_000, "batch_size": 1024, "lr": 5e-5, "clip": 1e-3, "schedule": "constant",
                            "warmup_steps": 0, "eval_every": 250, "checkpoint_every": 2500},
                    softmax={"steps": 3000, "batch_size": 1024, "lr": 3e-2, "clip": 1.0, "schedule": "warmup_cosine",
                             "warmup_steps": 200, "final_lr_fraction": 0.02, "eval_every": 100, "checkpoint_every": 500},
                    grid_points=paper.GRID_POINTS,
                    selection={"steps": 1000, "batch_size": 256, "lr": 3e-2, "clip": 1.0, "schedule": "warmup_cosine",
                               "warmup_steps": 70, "final_lr_fraction": 0.02, "eval_every": 100, "checkpoint_every": 500},
                    selection_sweep=_SELECTION_SWEEP,
                    dynamics=_DYNAMICS | {"steps": 60_000, "batch_size": 512, "eval_every": 500, "checkpoint_every": 5000},
                    dynamics_setting={"d": paper.D10, "lrs": paper.D10_LRS}),
    "paper": Profile("paper", n_task_checks=10_000, n_proof_contexts=2048, n_uniformity=100_000, dims=paper.DIMS,
                     n_search=paper.N_SEARCH, n_eval=paper.N_EVAL, n_align=paper.N_ALIGN, linear=_PAPER_LINEAR,
                     softmax=_PAPER_SOFTMAX, grid_points=paper.GRID_POINTS, selection=_PAPER_SOFTMAX,
                     selection_sweep=_SELECTION_SWEEP,
                     dynamics=_DYNAMICS | {"steps": paper.D10_STEPS, "batch_size": paper.BATCH_SIZE, "eval_every": 5000,
                                           "checkpoint_every": 50_000},
                     dynamics_setting={"d": paper.D10, "lrs": paper.D10_LRS}),
}


def get_profile(name: str) -> Profile:
    return PROFILES[check_choice("profile", name, tuple(PROFILES))]


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' if available else 'cpu'; 'cuda' without a GPU is a clear error."""
    import torch

    check_choice("device", device, ("auto", "cpu", "cuda"))
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but torch sees no CUDA device; use device='cpu' or 'auto'")
    return device


def check_parameters(
    *,
    profile: str,
    results_path: str,
    seed: int = 0,
    d: int | None = None,
    C: int | None = None,  # noqa: N803
    n: int | None = None,
    dims: list[int] | None = None,
    classes: list[int] | None = None,
    lengths: list[int] | None = None,
    **positive_ints: int,
) -> Profile:
    """Validate a chapter's parameters; returns its Profile. Raises ValueError naming the bad one.
    `classes` and `lengths` are swept values of C (each must divide n) and of n (each a multiple of C)."""
    prof = get_profile(profile)
    if not isinstance(results_path, str) or not results_path.endswith(".json"):
        raise ValueError(f"results_path={results_path!r} must be a path ending in .json")
    Path(results_path).parent.mkdir(parents=True, exist_ok=True)
    check_positive_int("seed", seed, minimum=0)
    if d is not None:
        check_positive_int("d", d, minimum=2)
    if C is not None:
        check_positive_int("C", C, minimum=2)
    if n is not None:
        check_positive_int("n", n)
        if C is not None and n % C:
            raise ValueError(f"n={n} must be divisible by C={C}")
    lists = (("dims", dims, 2, "of dimensions, e.g. [2, 3, 5, 10]"), ("classes", classes, 2, "of integers, e.g. [2, 4, 5, 10]"),
             ("lengths", lengths, 1, "of integers, e.g. [20, 50, 100]"))
    for name, values, minimum, kind in lists:
        if values is None:
            continue
        if not isinstance(values, list | tuple) or not values:
            raise ValueError(f"{name}={values!r} must be a non-empty list {kind}")
        for value in values:
            check_positive_int(name, value, minimum=minimum)
    if classes is not None and n is not None and any(n % c for c in classes):
        raise ValueError(f"classes={list(classes)}: every number of classes must divide n={n}")
    if lengths is not None and C is not None and any(length % C for length in lengths):
        raise ValueError(f"lengths={list(lengths)}: every context length must be a multiple of C={C}")
    for name, value in positive_ints.items():
        check_positive_int(name, value)
    return prof
