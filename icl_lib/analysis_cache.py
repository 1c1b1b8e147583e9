"""Expensive analysis (grid searches, loss maps, the valley's profiles) cached like runs: by
everything it depends on, so that a rebuild or another chapter reuses it, and nothing stale is.

A result is stored under a key made of: the function's name, the contexts it reads (their purpose,
count, n, d, C, seed and key in the seed namespace of `icl_lib.streams`, from which they are drawn
again on a miss), its other arguments (tensors by value), and a digest of the library's source
(the function's module and every icl_lib module it uses), so that any change to the code that
computed it makes a new key, while a change to a verdict's wording or the status page keeps it.
Files are written atomically (`icl_lib.files`); each hit and each computation is reported to the
build's progress log (`icl_lib.progress`), where the status page counts them.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from icl_lib.files import atomic_write
from icl_lib.progress import log_line
from icl_lib.streams import contexts_for

__all__ = ["ContextSpec", "dependencies", "source_digest", "cache_key", "cached_call", "analysis_dir", "eq1_grid_search",
           "eq3_grid_search"]


@dataclass(frozen=True)
class ContextSpec:
    """The contexts a computation reads, as `contexts_for` draws them."""

    purpose: str
    count: int
    n: int
    d: int
    C: int
    seed: int = 0
    key: tuple[int, ...] = ()

    def draw(self):
        return contexts_for(self.purpose, self.count, n=self.n, d=self.d, C=self.C, seed=self.seed, key=self.key)


def dependencies(module: str) -> list[str]:
    """The modules of icl_lib that `module` uses, itself included, found through the names each
    module binds (functions and classes, by the module that defines them; modules imported whole),
    in name order: the code a cached result can depend on."""
    importlib.import_module(module)
    seen, stack = set(), [module]
    while stack:
        name = stack.pop()
        if name in seen or name not in sys.modules:
            continue
        seen.add(name)
        for value in vars(sys.modules[name]).values():
            used = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
            if isinstance(used, str) and used.startswith("icl_lib.") and used not in seen:
                stack.append(used)
    return sorted(seen)


@cache
def source_digest(module: str = "icl_lib.baselines") -> str:
    """SHA-256 of the source of `module` and of every icl_lib module it uses (`dependencies`), and
    of the code that draws the contexts again: a change there makes new keys; a change elsewhere (a
    verdict's wording, the status page) keeps the analysis."""
    importlib.import_module("icl_lib._compiled_sampler")  # imported lazily by tasks; the contexts are drawn again
    names = set(dependencies(module)) | set(dependencies("icl_lib.streams")) | {"icl_lib._compiled_sampler"}
    digest = hashlib.sha256()
    for name in sorted(names):
        path = Path(sys.modules[name].__file__)
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return {"tensor": value.detach().cpu().tolist(), "dtype": str(value.dtype)}
    if isinstance(value, ContextSpec):
        return {"contexts": [value.purpose, value.count, value.n, value.d, value.C, value.seed, list(value.key)]}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise ValueError(f"cannot key the analysis cache on {type(value).__name__} {value!r:.80}")


def cache_key(name: str, *args: Any, module: str = "icl_lib.baselines", **kwargs: Any) -> str:
    """The file stem of a computation: its name and a digest of its arguments and of the source of
    `module` (the function's) and what it uses."""
    text = json.dumps({"args": _plain(list(args)), "kwargs": _plain(kwargs), "source": source_digest(module)},
                      sort_keys=True)
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def analysis_dir(runs_dir: str | Path) -> str:
    """The analysis cache of a book tree: beside its run cache (`runs/` -> `analysis/`)."""
    return str(Path(runs_dir).parent / "analysis")


def cached_call(function: Callable[..., Any], spec: ContextSpec, *args: Any, cache_dir: str | Path | None,
                **kwargs: Any) -> Any:
    """`function(spec.draw(), *args, **kwargs)`, from `cache_dir` when it was computed before with the
    same arguments and library; computed and stored there otherwise. Arguments that are ContextSpecs
    are drawn too. cache_dir None: no cache."""
    def run() -> Any:  # contexts passed as ContextSpecs are drawn only when needed
        drawn = [a.draw() if isinstance(a, ContextSpec) else a for a in args]
        return function(spec.draw(), *drawn, **kwargs)

    if cache_dir is None:
        return run()
    name = f"{function.__module__.rsplit('.', 1)[-1]}.{function.__qualname__}"
    path = Path(cache_dir) / f"{cache_key(name, spec, *args, module=function.__module__, **kwargs)}.pt"
    if path.is_file():
        log_line(f"analysis cache hit: {name} on {spec.count} {spec.purpose} contexts, d={spec.d}, n={spec.n}")
        return torch.load(path, weights_only=False)  # written by this library only
    start = time.monotonic()
    value = run()
    buffer = io.BytesIO()
    torch.save(value, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
    log_line(f"analysis computed: {name} on {spec.count} {spec.purpose} contexts, d={spec.d}, n={spec.n} "
             f"in {time.monotonic() - start:.1f} s")
    return value


def eq1_grid_search(spec: ContextSpec, points: int, *, include_query: bool, cache_dir: str | Path | None):
    """Eq. 1 over Appendix G's grid for spec.d with `points` per axis (`baselines.adaptive_grid`), on
    the contexts of `spec`, through the cache: (c_eta, c_sigma, losses). Chapters 4, 5 and 6 search
    the same contexts, so the later ones read chapter 4's result."""
    from icl_lib.baselines import adaptive_grid, grid_search_adaptive

    return cached_call(grid_search_adaptive, spec, *adaptive_grid(spec.d, points), include_query=include_query,
                       cache_dir=cache_dir)


def eq3_grid_search(spec: ContextSpec, points: int, *, cache_dir: str | Path | None):
    """The plain RBF-kernel GD step of Eq. 3 over Appendix G's grid of (eta, sigma^2) with `points`
    per axis, on the contexts of `spec`, through the cache: (eta, sigma2, losses)."""
    from icl_lib import paper
    from icl_lib.baselines import grid_search_kernel_gd, log_grid

    return cached_call(grid_search_kernel_gd, spec, log_grid(*paper.KERNEL_GD_ETA_EXPONENTS, points),
                       log_grid(*paper.KERNEL_GD_SIGMA2_EXPONENTS, points), cache_dir=cache_dir)
