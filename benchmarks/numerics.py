"""Hand-written numerics or a library: what each candidate could save, end to end, in one process.

A hand-written fast path stays only where it pays more than 10% of a whole training step
(sampling, loss and gradient, update). For each piece this prints the most a hand-written
version could save, or what the library version costs, as a share of a step. Prints JSON:
    .venv/bin/python benchmarks/numerics.py [--repeats 40]

- update: the compiled clip + Adam against the library update (the per-member clip, then
  torch.optim's Adam, foreach, one call per learning rate), each timed right after a step as
  the trainer runs it: the share of a step the library update adds.
- exp: the softmax step minus the linear step of the same shape (the exponentials, the
  normalisation and their backward pass). Bounds what a faster exp than libm's could save.
- rng: the sampler's candidate loop (d normals, labelled against C prototypes) drawn from the
  hand-written xoshiro256** + ziggurat and from numpy's Generator inside compiled code (numba's
  support), in ns per candidate, times the sampler's candidates per context: the share of a step
  the library generator would add.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace

import numpy as np
import torch
from numba import njit

from icl_lib._compiled_sampler import _normal, _seeded_state
from icl_lib.tasks import candidate_counts
from icl_lib.training import (
    TrainConfig,
    _Batches,
    _compiled_clip_and_adam,
    _compiled_step,
    _torch_clip_and_adam,
    init_weights,
)

# the benchmark's setting (benchmarks/throughput.py) and the book's uses (icl_lib.profiles)
SETTINGS = {
    "benchmark: d=5, batch 2048": TrainConfig(kind="softmax", d=5, steps=1, clip=1.0, lr=1e-3, batch_size=2048),
    "book softmax: d=3, batch 1024": TrainConfig(kind="softmax", d=3, steps=1, clip=1.0, lr=3e-2, batch_size=1024),
    "book dynamics: d=10, batch 512, 2 rates": TrainConfig(kind="softmax", d=10, steps=1, clip=1.0, lr=(8e-4, 3e-3),
                                                           batch_size=512, seeds=(0, 1)),
    "book selection: d=5, batch 256, 20 seeds": TrainConfig(kind="softmax", d=5, steps=1, clip=1.0, lr=3e-2, batch_size=256,
                                                            seeds=tuple(range(20)), shared_data=False),
    "smoke: d=3, batch 256": TrainConfig(kind="softmax", d=3, steps=1, clip=1.0, lr=5e-2, batch_size=256),
}


def step_parts_ms(config: TrainConfig, repeats: int) -> dict[str, float]:
    """Median ms of the parts of one training step, timed interleaved, as `train` runs them."""
    sample, softmax_step = _Batches(config), _compiled_step(config)
    linear_step = _compiled_step(replace(config, kind="linear"))
    weights = torch.stack(init_weights(config).as_tuple(), dim=1)
    moments = torch.zeros_like(weights), torch.zeros_like(weights)
    lrs = np.array(config.lrs)
    tokens, y = sample(0)
    parts = {"sample": lambda: sample(1), "softmax_loss_and_grad": lambda: softmax_step(config, None, weights, tokens, y),
             "linear_loss_and_grad": lambda: linear_step(config, None, weights, tokens, y)}
    updates = {"compiled_update": _compiled_clip_and_adam, "library_update": _torch_clip_and_adam}
    times: dict[str, list[float]] = {name: [] for name in (*parts, *updates)}
    for fn in parts.values():
        fn()
    for t in range(1, repeats + 1):
        for name, fn in parts.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        for name, update in updates.items():
            grad = softmax_step(config, None, weights, tokens, y)  # caches and threads as in training
            start = time.perf_counter()
            update(grad, *moments, weights, config.clip, lrs, t)
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


@njit
def _candidates_xoshiro(seed, protos, count, counts):
    s0, s1, s2, s3 = _seeded_state(seed, 0)
    C, d = protos.shape
    v = np.empty(d)
    for _ in range(count):
        for j in range(d):
            z, s0, s1, s2, s3 = _normal(s0, s1, s2, s3)
            v[j] = z
        counts[_nearest(v, protos)] += 1


@njit
def _candidates_generator(rng, protos, count, counts):
    C, d = protos.shape
    v = np.empty(d)
    for _ in range(count):
        for j in range(d):
            v[j] = rng.standard_normal()
        counts[_nearest(v, protos)] += 1


@njit(inline="always")
def _nearest(v, protos):
    best, arg = -np.inf, 0
    for c in range(protos.shape[0]):
        t = 0.0
        for j in range(protos.shape[1]):
            t += v[j] * protos[c, j]
        if t > best:
            best, arg = t, c
    return arg


def candidate_ns(d: int, C: int = 5, count: int = 1_000_000, repeats: int = 5) -> dict[str, float]:
    """ns per candidate of the candidate loop with each generator, interleaved."""
    protos = np.random.default_rng(0).standard_normal((C, d))
    counts = np.zeros(C, np.int64)
    _candidates_xoshiro(0, protos, 10, counts)
    _candidates_generator(np.random.default_rng(0), protos, 10, counts)
    times: dict[str, list[float]] = {"xoshiro_ziggurat": [], "numpy_generator": []}
    for r in range(repeats):
        start = time.perf_counter()
        _candidates_xoshiro(r, protos, count, counts)
        times["xoshiro_ziggurat"].append(time.perf_counter() - start)
        rng = np.random.default_rng(r)
        start = time.perf_counter()
        _candidates_generator(rng, protos, count, counts)
        times["numpy_generator"].append(time.perf_counter() - start)
    return {name: 1e9 * statistics.median(t) / count for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    result: dict[str, object] = {"torch_threads": torch.get_num_threads()}
    ns = {d: candidate_ns(d) for d in (3, 5, 10)}
    for name, config in SETTINGS.items():
        ms = step_parts_ms(config, args.repeats)
        step = ms["sample"] + ms["softmax_loss_and_grad"] + ms["compiled_update"]
        contexts = config.batch_size * (1 if config.shared_data else config.ensemble)
        per_context = float(candidate_counts(256, d=config.d, seed=0).mean()) if config.d >= 3 else 0.0
        extra_rng_ms = contexts * per_context * (ns[config.d]["numpy_generator"] - ns[config.d]["xoshiro_ziggurat"]) * 1e-6
        result[name] = {
            "step_ms": step, "parts_ms": ms,
            "library_update_adds_to_step": (ms["library_update"] - ms["compiled_update"]) / step,
            "exp_share_of_step_at_most": max(0.0, ms["softmax_loss_and_grad"] - ms["linear_loss_and_grad"]) / step,
            "numpy_generator_adds_to_step": extra_rng_ms / step,
        }
    result["candidate_ns"] = {f"d{d}": v for d, v in ns.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
