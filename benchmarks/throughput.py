"""Throughput of the training engine and the sampler, against a plain implementation, in one process.

Prints JSON. Fast and plain are measured interleaved (A B A B ...) and medians are reported,
because two OpenMP threads stall when another process holds a core; every single-model run
is listed beside the median (on a shared 2-core machine the spread between runs is ~30%). Usage:
    .venv/bin/python benchmarks/throughput.py [--device cpu|cuda] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from dataclasses import replace

import torch

from icl_lib.models import SelfAttention, full_attention_logits
from icl_lib.task_checks import sample_contexts_plain
from icl_lib.tasks import candidate_counts, sample_contexts
from icl_lib.training import (
    TrainConfig,
    _autograd_loss_and_grad,
    _batch,
    _Batches,
    _compiled_step,
    init_weights,
    resolve_device,
    train,
)

BASE = TrainConfig(kind="softmax", d=5, steps=200, lr=1e-3, clip=1.0, batch_size=2048, eval_every=10_000,
                   n_eval=8, checkpoint_every=10_000)


def fast_steps_per_second(config: TrainConfig, device: str) -> float:
    with tempfile.TemporaryDirectory() as runs:
        train(replace(config, steps=3), runs_dir=runs, device=device, progress=False)  # warm-up
        start = time.perf_counter()
        train(config, runs_dir=runs, device=device, progress=False)
        return config.steps / (time.perf_counter() - start)


def plain_steps_per_second(config: TrainConfig, steps: int = 2) -> float:
    """Per-context numpy sampling loop, full (n+1)x(n+1) attention, torch.optim.Adam."""
    model = SelfAttention(config.kind, config.d, config.C, include_query=config.include_query)
    model.load_weights(init_weights(config).member(0))
    opt = torch.optim.Adam(model.parameters(), lr=config.lrs[0])
    start = time.perf_counter()
    for step in range(steps):
        ctx = sample_contexts_plain(config.batch_size, n=config.n, d=config.d, C=config.C, seed=step).to(dtype=torch.float32)
        loss = torch.nn.functional.cross_entropy(full_attention_logits(model, ctx.tokens()), ctx.y_query)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        opt.step()
    return steps / (time.perf_counter() - start)


def component_ms(config: TrainConfig, repeats: int = 20) -> dict[str, float]:
    """Median milliseconds of the parts of one CPU step: sampling the batch, the compiled loss and
    gradient, and the same by autograd through SelfAttention (the query row only; the CUDA path)."""
    tokens, y_query = _batch(config, 0)
    sample, step = _Batches(config), _compiled_step(config)  # as in `train`: buffers and working arrays reused
    model = SelfAttention(config.kind, config.d, config.C, ensemble=1)
    weights = torch.stack(init_weights(config).as_tuple(), dim=1)
    parts = {"sample_batch": lambda: sample(1),
             "compiled_loss_and_grad": lambda: step(config, model, weights, tokens, y_query),
             "autograd_loss_and_grad": lambda: _autograd_loss_and_grad(config, model, weights, tokens, y_query)}
    times: dict[str, list[float]] = {name: [] for name in parts}
    for fn in parts.values():
        fn()
    for _ in range(repeats):  # interleaved
        for name, fn in parts.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def sampler_rate(d: int, batch: int = 2048, repeats: int = 5) -> float:
    sample_contexts(batch, d=d, seed=0)
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        sample_contexts(batch, d=d, seed=seed + 1)
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def plain_sampler_rate(d: int, batch: int = 128) -> float:
    start = time.perf_counter()
    sample_contexts_plain(batch, d=d, seed=0)
    return batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = resolve_device(args.device)
    single, ensemble, plain = [], [], []
    for _ in range(args.repeats):  # interleaved
        single.append(fast_steps_per_second(BASE, device))
        ensemble.append(fast_steps_per_second(replace(BASE, seeds=tuple(range(8))), device) * 8)
        plain.append(plain_steps_per_second(BASE))
    parts = component_ms(BASE) if device == "cpu" else {}
    samplers = {d: (statistics.median([sampler_rate(d) for _ in range(args.repeats)]), plain_sampler_rate(d))
                for d in (2, 3, 5, 10)}
    med = statistics.median
    result = {
        "setting": {"batch_size": 2048, "n": 100, "C": 5, "d": 5, "kind": "softmax", "device": device,
                    "torch_threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine()},
        "train_steps_per_s": {"single_model": med(single), "single_model_runs": sorted(round(x, 1) for x in single),
                              "ensemble_of_8_model_steps_per_s": med(ensemble),
                              "plain": med(plain), "ratio_single_vs_plain": med(single) / med(plain)},
        "step_parts_ms": parts,
        "sampler_contexts_per_s": {f"d{d}": {"fast": f, "plain": p, "ratio": f / p} for d, (f, p) in samplers.items()},
        # the sampler's work in a figure that does not depend on the machine (2048 contexts, seed 0)
        "sampler_candidates_per_context": {f"d{d}": {kind: float(candidate_counts(2048, d=d, seed=0, mirror=mirror).mean())
                                                     for kind, mirror in (("mirrored", True), ("unmirrored", False))}
                                           for d in (3, 5, 10)},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
