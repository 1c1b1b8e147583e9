"""Size profiles (`smoke`, `book`, `paper`) and the validation of notebook parameters.

Every chapter's `parameters` cell is checked right after it by `check_parameters`, so a bad
value (`papermill ... -p d -1`) fails at once with a message naming the parameter.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from icl_lib import paper
from icl_lib.validation import check_choice, check_positive_int, check_scheduler

__all__ = ["PROFILES", "Profile", "Training", "Sweep", "Dynamics", "Beyond", "TwoLayer", "get_profile", "check_parameters",
           "book_root", "output_path", "relative_to_book", "notebook_defaults", "chapter_outputs"]


@dataclass(frozen=True)
class Training:
    """The TrainConfig fields a profile sets for one use (the rest: the chapter's parameters)."""

    steps: int
    batch_size: int
    lr: float | None  # None: the paper's rate for d (`paper.softmax_lr`)
    clip: float
    eval_every: int
    checkpoint_every: int
    schedule: str = "constant"
    warmup_steps: int = 0
    final_lr_fraction: float = 0.0
    steps_by_d: tuple[tuple[int, int], ...] = ()  # (d, steps) pairs where d needs another budget

    def fields(self, d: int) -> dict[str, object]:
        """The TrainConfig fields at dimension d (the paper's per-d rate where lr is None)."""
        fields = asdict(self)
        fields["steps"] = dict(fields.pop("steps_by_d")).get(d, self.steps)
        if fields["lr"] is None:
            fields["lr"] = paper.softmax_lr(d)
        return fields


@dataclass(frozen=True)
class Sweep:
    """Chapter 07 (Appendix J, Figure 11): seeds per setting and the values of C, d and n swept."""

    n_seeds: int
    classes: tuple[int, ...]
    dims: tuple[int, ...]
    lengths: tuple[int, ...]


@dataclass(frozen=True)
class Dynamics:
    """Chapter 06 (Appendix I, Figure 10): the dimension and the constant learning rates compared."""

    d: int
    lrs: tuple[float, ...]


@dataclass(frozen=True)
class Beyond:
    """Chapter 09 (the paper's open questions): the context lengths of the comparison of Eq. 1 with
    Eq. 2 and Eq. 3, its search and held-out contexts per setting, the points per axis of the loss
    maps, and the training steps of the two-class runs relative to chapter 07's budget."""

    lengths: tuple[int, ...]
    contexts: int
    map_points: int
    longer: int


@dataclass(frozen=True)
class TwoLayer:
    """Chapter 10 (beyond the paper: two layers): the dimensions trained, the seeds (one ensemble
    member each, two-layer and one-layer models on the same batches), and the search and held-out
    contexts per d on which the candidates are fitted and compared."""

    dims: tuple[int, ...]
    seeds: int
    contexts: int


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
    grid_points: int  # points per axis of the baseline grid searches (Appendix G: 100)
    control_seeds: int  # seeds behind chapter 04's controls (Eq. 1 against Eq. 2 and Eq. 3), two or more
    linear: Training  # linear self-attention (chapter 03)
    softmax: Training  # softmax self-attention (chapters 04, 05)
    selection: Training  # the many-seed runs of chapter 07 (Appendix J)
    dynamics: Training  # chapter 06's runs (Appendix I), one ensemble member per learning rate
    recipe: Training  # chapter 08's constant-rate runs (constant rates, batches of 2048), one member per rate
    recipe_lrs: tuple[float, ...]  # chapter 08: constant rates tried besides the paper's own for d
    init_seeds: int  # chapter 08: seeds per initialisation reading (at chapter 07's budget, d = 3)
    selection_sweep: Sweep
    dynamics_setting: Dynamics
    beyond: Beyond
    two_layer: Training  # chapter 10's two-layer models and their one-layer controls
    two_layer_setting: TwoLayer

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def training_settings(self, kind: str, d: int) -> dict[str, object]:
        """TrainConfig fields of this profile for `kind` at dimension d (the paper's per-d rate where it has no lr).
        kind "selection": the softmax runs of chapter 07; "dynamics": those of chapter 06; "recipe": chapter 08's."""
        check_choice("kind", kind, ("linear", "softmax", "selection", "dynamics", "recipe", "two_layer"))
        settings = {"linear": self.linear, "softmax": self.softmax, "selection": self.selection, "dynamics": self.dynamics,
                    "recipe": self.recipe, "two_layer": self.two_layer}[kind]
        fields = settings.fields(d)
        if kind == "dynamics":  # one ensemble member per learning rate compared
            fields["lr"] = tuple(self.dynamics_setting.lrs)
        if kind == "recipe":  # the paper's rate for d and the others tried, one member each
            fields["lr"] = tuple(sorted({paper.softmax_lr(d), *self.recipe_lrs}))
        return fields


# Linear SA: the paper's rate, clipping and budget (Appendix G, `icl_lib.paper`). The book profile
# keeps the rate and clipping and shortens the budget (10k steps of 1024), which reaches cos sim >
# 0.999 for d = 2..10; smoke uses a fast schedule (seconds, tests only).
_PAPER_LINEAR = Training(steps=paper.LINEAR_STEPS, batch_size=paper.BATCH_SIZE, lr=paper.LINEAR_LR, clip=paper.LINEAR_CLIP,
                         eval_every=paper.EVAL_EVERY, checkpoint_every=5000)
# Softmax SA: 2M steps at a constant, dimension-dependent rate (lr None: `paper.softmax_lr(d)`). At
# that rate the model stays on its initial plateau for long; the book profile uses warm-up + cosine
# decay from 3e-2, and chapter 04 also runs the paper's constant rate at the book's budget. d = 2
# trains 12,000 steps rather than 3000: Eq. 1's optimum there is close to nearest-neighbour (c_sigma
# in the hundreds), weights that large take long to grow, and d = 2 steps are cheap. Smoke: 1000
# steps of 256, the shortest run whose chapter-4 checks do not hinge on the coarse grid's points.
_PAPER_SOFTMAX = Training(steps=paper.SOFTMAX_STEPS, batch_size=paper.BATCH_SIZE, lr=None, clip=paper.SOFTMAX_CLIP,
                          eval_every=paper.EVAL_EVERY, checkpoint_every=20_000)
# Selection vs elimination (chapter 07, Appendix J / Figure 11): 20 seeds per setting, each with its own
# initialisation and its own data stream. The book uses chapter 04's warm-up + cosine schedule with
# 1000 steps of 256 contexts, after which every seed at the base setting has settled on an algorithm.
# Smoke: 4 seeds, 800 steps of 128 (enough for most seeds to leave the plateau).
_SELECTION_SWEEP = Sweep(n_seeds=paper.SELECTION_SEEDS, classes=(2, 4, 5, 10), dims=(2, 3, 5), lengths=(20, 50, 100, 200))
# d = 10 dynamics (chapter 06, Appendix I / Figure 10): the paper's four constant learning rates, trained
# side by side on the same batches, for 60,000 evaluations of every 100 steps: 6,000,000 steps of 2048
# (the paper profile, which stores a snapshot every 5000 steps). The book trains 60,000 steps of 512
# contexts (1% of the steps, 0.25% of the contexts), where 5e-5 and 1e-4 stay on the plateau. Smoke:
# d = 3 at 1e-2 and 3e-2, where both leave the plateau within 1000 steps of 128, so the comparisons run in CI.
_D10 = Dynamics(d=paper.D10, lrs=paper.D10_LRS)
# Constant rates (chapter 08), as Appendix G trains, batches of 2048. In 4000 steps the paper's own
# rate leaves the initial plateau only at d = 2 (measured: about step 2500), so 1e-3, 3e-3 and 1e-2
# are tried beside it, on the same batches; the chapter compares the smallest whose loss and
# (c_eta, c_sigma) settled. d = 3 trains 6000 steps: measured at 3e-3, its values move by less than
# 5% per quarter of the run from about step 5000 on (at 4000 steps, c_sigma still rose 9% over the
# last quarter). The paper profile trains the paper's rate for its 2M steps.
_BOOK_RECIPE = Training(steps=4000, batch_size=paper.BATCH_SIZE, lr=None, clip=paper.SOFTMAX_CLIP, eval_every=100,
                        checkpoint_every=1000, steps_by_d=((3, 6000),))
# Beyond the paper (chapter 09): n from 10 to 400 around the paper's 100, 2000 search and 2000
# held-out contexts per (d, n) (a fifth of Appendix G's 10,000, so that 24 settings stay minutes),
# Appendix G's grids; the two-class runs of chapter 07 also trained 4 times as long.
_BEYOND = Beyond(lengths=(10, 20, 50, 100, 200, 400), contexts=2000, map_points=paper.GRID_POINTS, longer=4)
# Two layers (chapter 10): layer 1 attends from every token, (n+1) query rows per context, and runs
# through autograd (the compiled loop covers one layer), 10 to 40 times chapter 4's cost per context
# (benchmarks/README.md). The book trains chapter 4's schedule, 3000 steps, on batches of 256
# instead of 1024, at d = 2, 3, 5, 3 seeds, two-layer and one-layer models on the same batches: at
# 128 a batch (1500 or 3000 steps) the two-layer models at d = 3 ended within 0.02 of the one-layer
# loss. 2000 search and 2000 held-out contexts per d, as chapter 9 (the candidates' fits are L-BFGS
# runs over every context). The paper trains no two-layer model: its profile uses its softmax budget.
_BOOK_TWO_LAYER = Training(steps=3000, batch_size=256, lr=3e-2, clip=paper.SOFTMAX_CLIP, eval_every=100,
                           checkpoint_every=500, schedule="warmup_cosine", warmup_steps=200, final_lr_fraction=0.02)
PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        "smoke", n_task_checks=512, n_proof_contexts=16, n_uniformity=2_000, dims=(3,), n_search=1000, n_eval=128, n_align=32,
        grid_points=24, control_seeds=2,
        linear=Training(steps=150, batch_size=256, lr=1e-2, clip=1e-3, eval_every=15, checkpoint_every=1000,
                        schedule="warmup_cosine", warmup_steps=15, final_lr_fraction=0.05),
        softmax=Training(steps=1000, batch_size=256, lr=5e-2, clip=1.0, eval_every=40, checkpoint_every=1000,
                         schedule="warmup_cosine", warmup_steps=20, final_lr_fraction=0.02),
        selection=Training(steps=800, batch_size=128, lr=3e-2, clip=1.0, eval_every=100, checkpoint_every=1000,
                           schedule="warmup_cosine", warmup_steps=50, final_lr_fraction=0.02),
        dynamics=Training(steps=1000, batch_size=128, lr=None, clip=paper.SOFTMAX_CLIP, eval_every=50, checkpoint_every=1000),
        selection_sweep=Sweep(n_seeds=4, classes=(2, 5), dims=(2,), lengths=(100,)),
        dynamics_setting=Dynamics(d=3, lrs=(1e-2, 3e-2)),
        recipe=Training(steps=600, batch_size=256, lr=None, clip=paper.SOFTMAX_CLIP, eval_every=25, checkpoint_every=1000),
        recipe_lrs=(1e-2, 3e-2), init_seeds=4, beyond=Beyond(lengths=(20, 100), contexts=300, map_points=24, longer=2),
        two_layer=Training(steps=300, batch_size=64, lr=3e-2, clip=1.0, eval_every=50, checkpoint_every=1000,
                           schedule="warmup_cosine", warmup_steps=20, final_lr_fraction=0.02),
        two_layer_setting=TwoLayer(dims=(3,), seeds=2, contexts=200)),
    "book": Profile(
        "book", n_task_checks=10_000, n_proof_contexts=512, n_uniformity=20_000, dims=paper.DIMS, n_search=paper.N_SEARCH,
        n_eval=paper.N_EVAL, n_align=paper.N_ALIGN, grid_points=paper.GRID_POINTS, control_seeds=3,
        linear=Training(steps=10_000, batch_size=1024, lr=paper.LINEAR_LR, clip=paper.LINEAR_CLIP, eval_every=250,
                        checkpoint_every=2500),
        softmax=Training(steps=3000, batch_size=1024, lr=3e-2, clip=paper.SOFTMAX_CLIP, eval_every=100, checkpoint_every=500,
                         schedule="warmup_cosine", warmup_steps=200, final_lr_fraction=0.02, steps_by_d=((2, 12_000),)),
        selection=Training(steps=1000, batch_size=256, lr=3e-2, clip=paper.SOFTMAX_CLIP, eval_every=100, checkpoint_every=500,
                           schedule="warmup_cosine", warmup_steps=70, final_lr_fraction=0.02),
        dynamics=Training(steps=60_000, batch_size=512, lr=None, clip=paper.SOFTMAX_CLIP, eval_every=500, checkpoint_every=5000),
        selection_sweep=_SELECTION_SWEEP, dynamics_setting=_D10,
        recipe=_BOOK_RECIPE, recipe_lrs=(1e-3, 3e-3, 1e-2), init_seeds=12, beyond=_BEYOND,
        two_layer=_BOOK_TWO_LAYER, two_layer_setting=TwoLayer(dims=(2, 3, 5), seeds=3, contexts=2000)),
    "paper": Profile(
        "paper", n_task_checks=10_000, n_proof_contexts=2048, n_uniformity=100_000, dims=paper.DIMS, n_search=paper.N_SEARCH,
        n_eval=paper.N_EVAL, n_align=paper.N_ALIGN, grid_points=paper.GRID_POINTS, control_seeds=3, linear=_PAPER_LINEAR,
        softmax=_PAPER_SOFTMAX,
        selection=_PAPER_SOFTMAX,
        dynamics=Training(steps=paper.D10_STEPS, batch_size=paper.BATCH_SIZE, lr=None, clip=paper.SOFTMAX_CLIP, eval_every=5000,
                          checkpoint_every=50_000),
        selection_sweep=_SELECTION_SWEEP, dynamics_setting=_D10,
        recipe=_PAPER_SOFTMAX, recipe_lrs=(), init_seeds=paper.SELECTION_SEEDS,
        beyond=Beyond(lengths=_BEYOND.lengths, contexts=paper.N_SEARCH, map_points=paper.GRID_POINTS, longer=4),
        two_layer=_PAPER_SOFTMAX, two_layer_setting=TwoLayer(dims=(2, 3, 5, 10), seeds=3, contexts=paper.N_SEARCH)),
}


def get_profile(name: str) -> Profile:
    return PROFILES[check_choice("profile", name, tuple(PROFILES))]


def book_root() -> Path:
    """The book's tree the working directory belongs to: the nearest folder at or above it that holds
    `_toc.yml` (the repository, or a profile's tree under `_build/`; see the Makefile), else the
    working directory. Chapters resolve their default outputs there, wherever papermill runs them."""
    cwd = Path.cwd()
    return next((p for p in (cwd, *cwd.parents) if (p / "_toc.yml").is_file()), cwd)


def output_path(path: str | None, default: str) -> str:
    """`path` as given, or `default` (e.g. "results/01_task.json") in the book's tree when it is None."""
    return str(book_root() / default) if path is None else path


def relative_to_book(path: str) -> str:
    """`path` as shown in the book: relative to the book's tree, not the machine's absolute path."""
    return os.path.relpath(path, book_root())


# Parameters that choose where and how a chapter runs, not what it computes.
_NOT_OVERRIDES = frozenset({"profile", "results_path", "runs_dir", "results_dir", "device", "scheduler"})


def notebook_defaults(chapter: str) -> dict[str, object] | None:
    """The values of a chapter's `parameters` cell as written in its py:percent source
    (notebooks/<chapter>.py beside this package), or None where the source is not there (an
    installed package without the book)."""
    source = Path(__file__).resolve().parents[1] / "notebooks" / f"{chapter}.py"
    if not source.is_file():
        return None
    lines, cell = source.read_text().splitlines(), None
    for i, line in enumerate(lines):
        if line.startswith("# %%") and cell is not None:
            break
        if line.startswith("# %%") and '"parameters"' in line:
            cell = i + 1
    if cell is None:
        raise ValueError(f"{source} has no cell tagged parameters")
    namespace: dict[str, object] = {}
    exec("\n".join(lines[cell:i]), {}, namespace)  # the chapter's own literals
    return namespace


def _tree_profile(root: Path) -> str | None:
    """The profile whose outputs a book tree holds (see the Makefile): the repository's own tree
    holds the book profile's, _build/<profile> another profile's; None for any other folder."""
    if (root / "notebooks").is_dir() and (root / "Makefile").is_file():
        return "book"
    return root.name if root.parent.name == "_build" else None


def chapter_outputs(chapter: str, namespace: dict[str, object]) -> tuple[str, str, dict[str, object]]:
    """Where a chapter writes, from its parameters (`namespace`, the notebook's globals()):
    (results_path, runs_dir, overrides). `overrides` are the parameters whose values differ from
    the chapter's parameters cell (`notebook_defaults`), besides those that only choose where and
    how it runs. The book's tree takes the results of its own profile run with the chapter's
    defaults only: any other run (the README's `-p d 10 -p n 50`, or another profile) writes to
    <book tree>/_build/rerun/results unless results_path is given, so a rerun never replaces what
    the book publishes. Runs go to the tree's cache, keyed by their full config, either way."""
    defaults = notebook_defaults(chapter) or {}
    overrides = {name: namespace.get(name) for name, value in defaults.items()
                 if name not in _NOT_OVERRIDES and namespace.get(name) != value}
    root = book_root()
    own = not overrides and namespace.get("profile") == _tree_profile(root)
    results = namespace.get("results_path")
    results_path = str(results) if results is not None else str(
        (root if own else root / "_build" / "rerun") / "results" / f"{chapter}.json")
    runs = namespace.get("runs_dir")
    return results_path, str(runs) if runs is not None else str(root / "runs"), overrides


def _check_writable(name: str, path: object, *, suffix: str | None = None) -> None:
    """`path` must be text (with `suffix`, when given) and a place this process can write: the path
    itself if it exists, else the nearest folder above it that exists. Checked before any work, so a
    read-only folder does not fail a chapter after it has run."""
    if not isinstance(path, str) or not path or (suffix is not None and not path.endswith(suffix)):
        raise ValueError(f"{name}={path!r} must be a path" + (f" ending in {suffix}" if suffix else ""))
    target = Path(path).absolute()
    existing = next(p for p in (target, *target.parents) if p.exists())
    if existing.is_file() and (existing != target or suffix is None):
        raise ValueError(f"{name}={path!r}: {existing} is a file, not a folder")
    if suffix is not None and existing == target and target.is_dir():
        raise ValueError(f"{name}={path!r} is a folder; it must name a {suffix} file")
    if not os.access(existing, os.W_OK):
        raise ValueError(f"{name}={path!r}: {existing} is not writable")


def check_parameters(
    *,
    profile: str,
    results_path: str,
    runs_dir: str | None = None,
    seed: int = 0,
    d: int | None = None,
    C: int | None = None,
    n: int | None = None,
    dims: list[int] | None = None,
    classes: list[int] | None = None,
    lengths: list[int] | None = None,
    scheduler: str | None = None,
    **positive_ints: int | None,
) -> Profile:
    """Validate a chapter's parameters, without side effects; returns its Profile. Raises ValueError
    naming the bad one. `classes` and `lengths` are swept values of C (each must divide n) and of n
    (each a multiple of C); `results_path` and `runs_dir` must be writable; `scheduler`: see
    `icl_lib.validation.check_scheduler`."""
    prof = get_profile(profile)
    _check_writable("results_path", results_path, suffix=".json")
    if runs_dir is not None:
        _check_writable("runs_dir", runs_dir)
    check_positive_int("seed", seed, minimum=0)
    check_scheduler(scheduler)
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
        if value is not None:  # None: the profile's value
            check_positive_int(name, value)
    return prof
