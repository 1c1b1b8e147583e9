"""What each chapter trains: the TrainConfigs of its runs, from a profile and its parameters.

The chapters build their runs here, and so do the cost plan and the cluster sweep
(`python -m icl_lib.sweep plan|train --profile ...`): with a chapter's default parameters both
list exactly the runs that executing the chapter needs, so a sweep trained on a cluster is what
the notebooks then load from the cache (a test checks the plan against the runs the smoke book
trained). Every function takes the chapter's parameters by their notebook names; None means the
profile's value, as in the notebooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from icl_lib import paper
from icl_lib.profiles import Profile, get_profile
from icl_lib.readings import INCLUDE_QUERY, VARIANTS
from icl_lib.training import INIT_MODES, TrainConfig, config_from_profile

__all__ = ["softmax_run_config", "linear_vs_gd", "linear_controls", "softmax_vs_kernel_gd", "paper_lr", "controls",
           "extraction", "d10_dynamics",
           "selection_vs_elimination", "recipe", "recipe_scheduled", "init_readings", "INIT_D", "two_classes", "two_layer",
           "book_runs"]

INIT_D = 3  # chapter 8 compares the initialisation readings where the paper's values are known


def softmax_run_config(prof: Profile, d: int, *, C: int, n: int, seed: int, include_query: bool, steps: int | None = None,
                       batch_size: int | None = None, lr: float | None = None, seeds: tuple[int, ...] | None = None,
                       changes: dict[str, object] | None = None) -> TrainConfig:
    """Chapter 4's softmax run at d for a Profile `prof`, which chapters 5 and 8 load from the cache:
    the profile's softmax settings with `changes` replacing some of them (e.g. the paper's constant
    rate), and the notebook parameters steps, batch_size and lr (None: the profile's; lr is ignored
    where `changes` sets one). `seeds` defaults to (seed,)."""
    changes = changes or {}
    return config_from_profile("softmax", d, prof.training_settings("softmax", d) | changes, C=C, n=n,
                               seeds=seeds or (seed,), steps=steps, batch_size=batch_size,
                               lr=None if "lr" in changes else lr, include_query=include_query, n_eval=prof.n_eval)


def linear_vs_gd(prof: Profile, *, dims: Sequence[int] | None = None, C: int = 5, n: int = 100, seed: int = 0,
                 steps: int | None = None, lr: float | None = None, batch_size: int | None = None,
                 include_query: bool = True) -> dict[int, TrainConfig]:
    """Chapter 3: linear self-attention, one run per d."""
    return {d: config_from_profile("linear", d, prof.training_settings("linear", d), C=C, n=n, seeds=(seed,), steps=steps,
                                   lr=lr, batch_size=batch_size, include_query=include_query, n_eval=prof.n_eval)
            for d in (dims or prof.dims)}


def _control_seeds(prof: Profile, seed: int, control_seeds: int | None) -> tuple[int, ...]:
    """The seeds trained beside the chapter's run (seed) so that a verdict rests on control_seeds of
    them (None: the profile's): seed + 1, seed + 2, ... (chapters 3 and 4)."""
    return tuple(seed + 1 + i for i in range((control_seeds or prof.control_seeds) - 1))


def linear_controls(prof: Profile, *, dims: Sequence[int] | None = None, C: int = 5, n: int = 100, seed: int = 0,
                    steps: int | None = None, lr: float | None = None, batch_size: int | None = None,
                    include_query: bool = True, control_seeds: int | None = None) -> dict[int, TrainConfig]:
    """Chapter 3: `control_seeds - 1` more seeds per d, each with its own initialisation and data
    stream (the chapter's run is the first seed), so that its verdict rests on several seeds."""
    extra = _control_seeds(prof, seed, control_seeds)
    return {d: config_from_profile("linear", d, prof.training_settings("linear", d), C=C, n=n, seeds=extra, steps=steps,
                                   lr=lr, batch_size=batch_size, include_query=include_query, n_eval=prof.n_eval,
                                   shared_data=False)
            for d in (dims or prof.dims)}


def softmax_vs_kernel_gd(prof: Profile, *, dims: Sequence[int] | None = None, C: int = 5, n: int = 100, seed: int = 0,
                         steps: int | None = None, lr: float | None = None,
                         batch_size: int | None = None) -> dict[tuple[int, bool], TrainConfig]:
    """Chapters 4 and 5: softmax self-attention for each d and each query variant (include_query)."""
    return {(d, iq): softmax_run_config(prof, d, C=C, n=n, seed=seed, include_query=iq, steps=steps,
                                        batch_size=batch_size, lr=lr)
            for d in (dims or prof.dims) for iq in VARIANTS}


def paper_lr(prof: Profile, *, dims: Sequence[int] | None = None, C: int = 5, n: int = 100, seed: int = 0,
             steps: int | None = None, batch_size: int | None = None) -> dict[int, TrainConfig]:
    """Chapter 4: the paper's constant rate at the chapter's budget, in the book's reading; none
    where the profile's softmax schedule is already constant (it is then the chapter's run)."""
    if prof.softmax.schedule == "constant":
        return {}
    return {d: softmax_run_config(prof, d, C=C, n=n, seed=seed, include_query=INCLUDE_QUERY, steps=steps,
                                  batch_size=batch_size, changes={"lr": paper.softmax_lr(d), "schedule": "constant",
                                                                  "warmup_steps": 0})
            for d in (dims or prof.dims)}


def controls(prof: Profile, *, dims: Sequence[int] | None = None, C: int = 5, n: int = 100, seed: int = 0,
             steps: int | None = None, lr: float | None = None, batch_size: int | None = None,
             control_seeds: int | None = None) -> dict[int, TrainConfig]:
    """Chapter 4's controls: `control_seeds - 1` more seeds per d in the book's reading, each with
    its own initialisation and data stream (the chapter's run is the first seed)."""
    extra = _control_seeds(prof, seed, control_seeds)
    return {d: softmax_run_config(prof, d, C=C, n=n, seed=seed, include_query=INCLUDE_QUERY, steps=steps,
                                  batch_size=batch_size, lr=lr, seeds=extra, changes={"shared_data": False})
            for d in (dims or prof.dims)}


def extraction(prof: Profile, **parameters: object) -> dict[tuple[int, bool], TrainConfig]:
    """Chapter 5 reads chapter 4's runs."""
    return softmax_vs_kernel_gd(prof, **parameters)


def d10_dynamics(prof: Profile, *, d: int | None = None, C: int = 5, n: int = 100, seed: int = 0,
                 lrs: Sequence[float] | None = None, steps: int | None = None, batch_size: int | None = None,
                 include_query: bool | None = None) -> TrainConfig:
    """Chapter 6: one ensemble, one member per constant rate (member i from seed + i), shared batches."""
    d = d or prof.dynamics_setting.d
    rates = tuple(sorted(float(v) for v in (lrs or prof.dynamics_setting.lrs)))
    return config_from_profile("softmax", d, prof.training_settings("dynamics", d), C=C, n=n, lr=rates,
                               seeds=tuple(range(seed, seed + len(rates))), shared_data=True,
                               include_query=INCLUDE_QUERY if include_query is None else include_query,
                               n_eval=prof.n_eval, steps=steps, batch_size=batch_size)


def selection_settings(prof: Profile, *, d: int = 2, C: int = 5, n: int = 100, classes: Sequence[int] | None = None,
                       dims: Sequence[int] | None = None,
                       lengths: Sequence[int] | None = None) -> dict[str, list[tuple[int, int, int]]]:
    """Chapter 7's panels: the settings (d, C, n) swept around the base setting, one panel per quantity."""
    sweep = prof.selection_sweep
    return {"number of classes C": [(d, c, n) for c in (classes or sweep.classes)],
            "dimension d": [(dd, C, n) for dd in (dims or sweep.dims)],
            "context length n": [(d, C, nn) for nn in (lengths or sweep.lengths)]}


def selection_vs_elimination(prof: Profile, *, first_seed: int = 0, n_seeds: int | None = None, d: int = 2, C: int = 5,
                             n: int = 100, classes: Sequence[int] | None = None, dims: Sequence[int] | None = None,
                             lengths: Sequence[int] | None = None, steps: int | None = None, lr: float | None = None,
                             batch_size: int | None = None,
                             include_query: bool | None = None) -> dict[tuple[int, int, int], TrainConfig]:
    """Chapter 7: one ensemble of `n_seeds` independent seeds per setting (d, C, n), the base first."""
    seeds = tuple(range(first_seed, first_seed + (n_seeds or prof.selection_sweep.n_seeds)))
    panels = selection_settings(prof, d=d, C=C, n=n, classes=classes, dims=dims, lengths=lengths)
    settings = dict.fromkeys([(d, C, n)] + [s for values in panels.values() for s in values])
    return {(sd, sc, sn): config_from_profile(
        "softmax", sd, prof.training_settings("selection", sd), C=sc, n=sn, seeds=seeds, shared_data=False,
        include_query=INCLUDE_QUERY if include_query is None else include_query, n_eval=prof.n_eval, steps=steps,
        batch_size=batch_size, lr=lr) for sd, sc, sn in settings}


def recipe(prof: Profile, *, dims: Sequence[int] | None = None, C: int = 5, n: int = 100, seed: int = 0,
           steps: int | None = None, batch_size: int | None = None,
           extra_lrs: Sequence[float] | None = None) -> dict[int, TrainConfig]:
    """Chapter 8: one ensemble per d of the paper's constant rate and the others tried, on shared batches."""
    configs = {}
    for d in dims or prof.dims:
        rates = prof.training_settings("recipe", d)["lr"]
        if extra_lrs is not None:
            rates = tuple(sorted({paper.softmax_lr(d), *map(float, extra_lrs)}))
        configs[d] = config_from_profile("softmax", d, prof.training_settings("recipe", d), C=C, n=n, lr=rates,
                                         seeds=tuple(seed + i for i in range(len(rates))), steps=steps,
                                         batch_size=batch_size, include_query=INCLUDE_QUERY, n_eval=prof.n_eval)
    return configs


def recipe_scheduled(prof: Profile, *, dims: Sequence[int] | None = None, C: int = 5, n: int = 100,
                     seed: int = 0) -> dict[int, TrainConfig]:
    """Chapter 8's comparison: chapter 4's scheduled runs in the book's reading, at the profile's budget."""
    return {d: softmax_run_config(prof, d, C=C, n=n, seed=seed, include_query=INCLUDE_QUERY) for d in (dims or prof.dims)}


def init_readings(prof: Profile, *, C: int = 5, n: int = 100, seed: int = 0,
                  init_seeds: int | None = None) -> dict[str, TrainConfig]:
    """Chapter 8: `init_seeds` independent seeds per initialisation reading at d = INIT_D, chapter 7's budget."""
    seeds = tuple(seed + i for i in range(init_seeds or prof.init_seeds))
    return {mode: config_from_profile("softmax", INIT_D, prof.training_settings("selection", INIT_D), C=C, n=n,
                                      seeds=seeds, shared_data=False, include_query=INCLUDE_QUERY, n_eval=prof.n_eval,
                                      init_mode=mode) for mode in INIT_MODES}


def two_classes(prof: Profile, *, first_seed: int = 0, n_seeds: int | None = None, d: int = 2,
                n: int = 100) -> dict[str, TrainConfig]:
    """Chapter 9: chapter 7's seeds at C = 2 (its run, cached once chapter 7 has run) and the same
    seeds with one thing changed: trained `prof.beyond.longer` times as long, the other
    initialisation reading, the query attending to itself, a third of the peak rate."""
    base = selection_vs_elimination(prof, first_seed=first_seed, n_seeds=n_seeds, d=d, C=2, n=n, classes=[2], dims=[d],
                                    lengths=[n])[(d, 2, n)]
    other_reading = next(mode for mode in INIT_MODES if mode != base.init_mode)
    return {"chapter 7's budget": base,
            f"{prof.beyond.longer}× as many steps": replace(base, steps=base.steps * prof.beyond.longer),
            f"{other_reading} initialisation": replace(base, init_mode=other_reading),
            f"include_query={not base.include_query}": replace(base, include_query=not base.include_query),
            "a third of the peak rate": replace(base, lr=base.lr / 3)}


def two_layer(prof: Profile, *, dims: Sequence[int] | None = None, C: int = 5, n: int = 100, seed: int = 0,
              n_seeds: int | None = None, steps: int | None = None,
              batch_size: int | None = None) -> dict[tuple[int, str], TrainConfig]:
    """Chapter 10: per d, the two-layer models ("two_layer") and their one-layer controls ("softmax"),
    one ensemble member per seed, both trained on the same batches with the same schedule."""
    seeds = tuple(range(seed, seed + (n_seeds or prof.two_layer_setting.seeds)))
    return {(d, kind): config_from_profile(kind, d, prof.training_settings("two_layer", d), C=C, n=n, seeds=seeds,
                                           data_seed=seed, include_query=INCLUDE_QUERY, n_eval=prof.n_eval,
                                           steps=steps, batch_size=batch_size)
            for d in (dims or prof.two_layer_setting.dims) for kind in ("two_layer", "softmax")}


def book_runs(profile: str) -> list[tuple[str, str, TrainConfig]]:
    """Every run the book trains at `profile` with the chapters' default parameters, in chapter order:
    (chapter, what the run is, config). A run that several chapters use is listed where it is first trained."""
    prof = get_profile(profile)
    rows: list[tuple[str, str, TrainConfig]] = []
    rows += [("03_linear_vs_gd", f"linear d={d}", c) for d, c in linear_vs_gd(prof).items()]
    rows += [("03_linear_vs_gd", f"linear control seeds d={d}", c) for d, c in linear_controls(prof).items()]
    rows += [("04_softmax_vs_kernel_gd", f"softmax d={d}, include_query={iq}", c)
             for (d, iq), c in softmax_vs_kernel_gd(prof).items()]
    rows += [("04_softmax_vs_kernel_gd", f"paper's constant rate d={d}", c) for d, c in paper_lr(prof).items()]
    rows += [("04_softmax_vs_kernel_gd", f"control seeds d={d}", c) for d, c in controls(prof).items()]
    rows += [("06_d10_dynamics", f"constant rates d={c.d}", c) for c in [d10_dynamics(prof)]]
    rows += [("07_selection_vs_elimination", f"seeds at (d, C, n) = {s}", c)
             for s, c in selection_vs_elimination(prof).items()]
    rows += [("08_recipe", f"constant rates d={d}", c) for d, c in recipe(prof).items()]
    rows += [("08_recipe", f"scheduled d={d}", c) for d, c in recipe_scheduled(prof).items()]
    rows += [("08_recipe", f"init {mode} d={c.d}", c) for mode, c in init_readings(prof).items()]
    rows += [("09_beyond", f"C=2 seeds, {what}", c) for what, c in two_classes(prof).items()]
    rows += [("10_two_layer", f"{'two' if kind == 'two_layer' else 'one'}-layer d={d}", c)
             for (d, kind), c in two_layer(prof).items()]
    seen: set[TrainConfig] = set()
    unique = []
    for row in rows:
        if row[2] not in seen:
            seen.add(row[2])
            unique.append(row)
    return unique
