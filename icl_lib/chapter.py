"""What every chapter does first and last: `set_up` checks its parameters and fills in the
profile's values; `record_results` writes its results and page fragments and prints one line.

A chapter's parameters keep one meaning across the book (`dims` is always the dimensions trained,
`control_seeds` always the seeds behind a verdict), so one table says how each is checked and,
where a chapter leaves it at None, where the profile keeps its value. A bad value is refused here,
before any work, with a message naming the parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from icl_lib import thresholds
from icl_lib.analysis_cache import analysis_dir
from icl_lib.files import atomic_write
from icl_lib.profiles import Profile, chapter_outputs, check_parameters, notebook_defaults, relative_to_book
from icl_lib.readings import INCLUDE_QUERY
from icl_lib.results import Table, write_results
from icl_lib.training import keep_freed_memory, resolve_device
from icl_lib.validation import (
    check_bool,
    check_fits_in_memory,
    check_fraction,
    check_positive_float,
    check_positive_int,
    check_rates,
)

__all__ = ["Chapter", "set_up", "record_results", "say"]

# Checked by check_parameters (profile, paths, seed, sizes, swept lists, the scheduler).
_PROFILE_CHECKED = ("profile", "results_path", "runs_dir", "seed", "d", "C", "n", "dims", "classes", "lengths",
                    "scheduler")
_POSITIVE_INTS = ("steps", "batch_size", "n_seeds", "init_seeds", "contexts", "figure_d")
# fractions of the library's thresholds, and whether 1 itself is a meaningful value
_FRACTIONS = {"plateau_fraction": (thresholds.PLATEAU_FRACTION, False),
              "settle_tolerance": (thresholds.SETTLE_TOLERANCE, True),
              "init_tolerance": (thresholds.INIT_TOLERANCE, True),
              "min_agreement": (thresholds.MIN_AGREEMENT, True),
              "max_loss_fraction": (thresholds.MAX_LOSS_FRACTION, True),
              "min_gain": (thresholds.MIN_GAIN, False),
              "within": (thresholds.NEAR_OPTIMAL, False)}
# where a profile keeps the value of a parameter left at None, by chapter where chapters differ
_FILL: dict[str, Mapping[str | None, Callable[[Profile], object]]] = {
    "dims": {None: lambda p: list(p.dims), "07_selection_vs_elimination": lambda p: list(p.selection_sweep.dims),
             "10_two_layer": lambda p: list(p.two_layer_setting.dims)},
    "classes": {"07_selection_vs_elimination": lambda p: list(p.selection_sweep.classes)},
    "lengths": {"07_selection_vs_elimination": lambda p: list(p.selection_sweep.lengths),
                "09_beyond": lambda p: list(p.beyond.lengths)},
    "n_seeds": {"07_selection_vs_elimination": lambda p: p.selection_sweep.n_seeds,
                "09_beyond": lambda p: p.selection_sweep.n_seeds,
                "10_two_layer": lambda p: p.two_layer_setting.seeds},
    "d": {"06_d10_dynamics": lambda p: p.dynamics_setting.d},
    "lrs": {"06_d10_dynamics": lambda p: tuple(p.dynamics_setting.lrs)},
    "control_seeds": {None: lambda p: p.control_seeds},
    "init_seeds": {None: lambda p: p.init_seeds},
    "contexts": {"09_beyond": lambda p: p.beyond.contexts, "10_two_layer": lambda p: p.two_layer_setting.contexts},
    "include_query": {None: lambda p: INCLUDE_QUERY},
}
# the fewest control seeds a chapter's verdict can use: chapter 3 reads one seed without
# controls; chapter 4's paired intervals need two
_MIN_CONTROL_SEEDS = {"03_linear_vs_gd": 1, "04_softmax_vs_kernel_gd": 2}
# the fewest seeds a chapter's paired intervals over seeds can use
_MIN_SEEDS = {"10_two_layer": 2}


@dataclass(frozen=True)
class Chapter:
    """A chapter's checked parameters, with the profile's values filled in where it left None."""

    name: str
    profile: Profile
    results_path: str
    runs_dir: str
    device: str
    overrides: dict[str, object]
    values: dict[str, object] = field(default_factory=dict)

    @property
    def cache_dir(self) -> str:
        """Where searches and maps are cached (`icl_lib.analysis_cache`): beside the run cache."""
        return analysis_dir(self.runs_dir)

    def __getattr__(self, name: str) -> object:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"chapter {self.__dict__.get('name')!r} has no parameter {name!r}")


def _fill(chapter: str, name: str, value: object, prof: Profile) -> object:
    if value is not None or name not in _FILL:
        return value
    where = _FILL[name]
    source = where.get(chapter, where.get(None))
    return value if source is None else source(prof)


def set_up(chapter: str, namespace: Mapping[str, object]) -> Chapter:
    """Check the parameters of `chapter` (its notebook's globals()) and fill in the profile's values:
    the profile, where its results and runs go (`icl_lib.profiles.chapter_outputs`), the device, and
    every parameter by name (`Chapter.dims`, `Chapter.lrs`, ...). Raises ValueError naming the first
    bad parameter, before any work."""
    namespace = dict(namespace)
    results_path, runs_dir, overrides = chapter_outputs(chapter, namespace)
    given = {name: namespace[name] for name in _PROFILE_CHECKED + _POSITIVE_INTS if name in namespace}
    if "first_seed" in namespace:  # the first of consecutive seeds: the chapter's seed
        check_positive_int("first_seed", namespace["first_seed"], minimum=0)
        given["seed"] = namespace["first_seed"]
    given |= {"results_path": results_path, "runs_dir": runs_dir if "runs_dir" in namespace else None}
    prof = check_parameters(**given)
    names = notebook_defaults(chapter) or namespace  # the parameters cell's names
    values = {name: namespace[name] for name in names if name in namespace and not name.startswith("_")}
    for name in ("include_query", "compare_paper_lr"):
        if values.get(name) is not None:
            check_bool(name, values[name])
    for name in ("lrs", "extra_lrs"):
        if values.get(name) is not None:
            values[name] = check_rates(name, values[name], empty=name == "extra_lrs")
    if values.get("lr") is not None:
        check_positive_float("lr", values["lr"])
    for name, (default, include_one) in _FRACTIONS.items():
        if name in values:
            values[name] = default if values[name] is None else check_fraction(name, values[name],
                                                                               include_one=include_one)
    if values.get("control_seeds") is not None:
        check_positive_int("control_seeds", values["control_seeds"], minimum=_MIN_CONTROL_SEEDS.get(chapter, 1))
    for name in list(values):
        values[name] = _fill(chapter, name, values[name], prof)
    for name in ("dims", "lengths"):
        if name in values and values[name] is not None:
            values[name] = sorted(values[name]) if chapter == "09_beyond" else list(values[name])
    if "lrs" in values:
        values["lrs"] = tuple(sorted(float(v) for v in values["lrs"]))
    if values.get("tolerance") is not None and check_positive_float("tolerance", values["tolerance"]) >= 1e-6:
        raise ValueError(f"tolerance={values['tolerance']} must be in (0, 1e-6): "
                         "this chapter checks float64 agreement")
    if "figure_d" in values and values["figure_d"] not in values["dims"]:
        raise ValueError(f"figure_d={values['figure_d']} must be one of dims={values['dims']}")
    if chapter == "09_beyond":
        _check_beyond(values)
    if chapter == "10_two_layer":
        _check_two_layer(values)
    device = resolve_device(namespace.get("device", "auto"))
    keep_freed_memory()  # the chapter's searches and fits free and reuse large tensors
    values.pop("device", None)
    return Chapter(chapter, prof, results_path, runs_dir, device, overrides, values)


def _check_beyond(values: dict[str, object]) -> None:
    """Chapter 9 analyses its trained models at n, and holds the search and held-out sets of its
    largest setting in memory at once: both are checked before any training."""
    if values["n"] not in values["lengths"]:
        raise ValueError(f"n={values['n']} must be one of lengths={values['lengths']}")
    n, d, contexts = max(values["lengths"]), max(values["dims"]), values["contexts"]
    check_fits_in_memory("contexts", 2 * contexts * (n + 1) * (d + values["C"]) * 8,
                         f"{contexts} search and {contexts} held-out contexts of n={n}")


def _check_two_layer(values: dict[str, object]) -> None:
    """Chapter 10 compares seeds by paired intervals (two or more), and its fits hold the attention of
    every context point on the others for all search contexts: both are checked before any training."""
    check_positive_int("n_seeds", values["n_seeds"], minimum=_MIN_SEEDS["10_two_layer"])
    n, d, contexts = values["n"], max(values["dims"]), values["contexts"]
    check_fits_in_memory("contexts", 4 * contexts * (n + 1) * (n + d + values["C"]) * 8,
                         f"the candidates' fits on {contexts} search contexts of n={n}")


def record_results(ch: Chapter, *, settings: dict[str, object], metrics: dict[str, float],
           verdicts: Sequence[object] = (), findings: Mapping[str, str] | None = None,
           paper: Mapping[str, float] | None = None, pages: Mapping[str, str] | None = None) -> None:
    """Write the chapter's results (`icl_lib.results.write_results`) and its page fragments
    (`pages`: file name -> Markdown, written atomically beside the results file, e.g. "recipe.md"),
    then print one line saying what was written where."""
    path = ch.results_path
    write_results(path, chapter=ch.name, profile=ch.profile.name, settings=settings, metrics=metrics,
                  paper=dict(paper or {}), verdicts=verdicts, findings=dict(findings or {}), overrides=ch.overrides)
    for name, text in (pages or {}).items():
        atomic_write(Path(path).with_name(name), lambda f, text=text: f.write(text.encode()))
    parts = [f"{len(metrics)} metrics", f"{len(verdicts)} verdict{'s' * (len(verdicts) != 1)}"]
    if findings:
        parts.append(f"{len(findings)} finding{'s' * (len(findings) != 1)}")
    shown = relative_to_book(path)
    print(f"wrote {', '.join(parts)} to {shown}" + "".join(f"\nand {name} beside it" for name in pages or {}))


def say(key: str, text: object) -> None:
    """Hand `text` to the chapter's prose, where {glue:text}`key` shows it (myst-nb's glue), without
    showing it in the cell: the sentences around a table or figure quote numbers computed here. A
    Table is handed over whole, for a {glue:} directive to show it where the prose needs it."""
    from myst_nb import glue  # jupyter-book's; a chapter runs inside it, the library need not

    glue(key, text if isinstance(text, str | Table) else str(text), display=False)
