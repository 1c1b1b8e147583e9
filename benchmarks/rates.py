"""Training cost per context on one core, the figures behind the cost plan (`python -m icl_lib.sweep plan`).

For each kind (one-layer linear and softmax, chapter 10's two-layer softmax) and d of the book, at
n = 100, C = 5, batches of 512 and an ensemble of 2 members,
with shared batches and with one stream per member, the trainer runs on one numba thread (a
cluster worker's share, see the rerun page) and the seconds per member-context-step are written to
`icl_lib/measured_rates.json` with the machine it was measured on. Usage:
    .venv/bin/python benchmarks/rates.py [--device cpu|cuda] [--seconds 2] [--kinds two_layer]
A CUDA measurement is stored beside the CPU one, under its device name.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import replace
from datetime import date

import numba
import torch

from icl_lib.sweep import RATE_SETTING, RATES_FILE
from icl_lib.training import KINDS, TrainConfig, resolve_device, train


def seconds_per_context(config: TrainConfig, device: str, budget: float) -> float:
    with tempfile.TemporaryDirectory() as runs:
        train(replace(config, steps=3), runs_dir=runs, device=device, progress=False)  # compile, warm up
        start = time.perf_counter()
        train(replace(config, steps=10), runs_dir=runs, device=device, progress=False)
        steps = max(10, int(10 * budget / (time.perf_counter() - start)))
        start = time.perf_counter()  # in a folder of its own: a run of 10 steps again would be loaded, not trained
        train(replace(config, steps=steps), runs_dir=f"{runs}/timed", device=device, progress=False)
        return (time.perf_counter() - start) / (steps * config.batch_size * config.ensemble)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS,
                        help="kinds to measure (the others keep their stored figures)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if device == "cpu":
        numba.set_num_threads(1)
        torch.set_num_threads(1)  # two layers run through torch's own kernels
        machine = f"{platform.processor() or platform.machine()}, 1 thread"
    else:
        machine = torch.cuda.get_device_name()
    rates = json.loads(RATES_FILE.read_text()) if RATES_FILE.exists() else {}
    device_key = "cpu" if device == "cpu" else "cuda"
    kept = set(args.kinds) != set(KINDS)
    stored = rates.get(device_key, {})
    measured = dict(stored.get("seconds", {})) if kept else {}
    dates = dict(stored.get("dates", {kind: stored["date"] for kind in KINDS if "date" in stored})) if kept else {}
    for kind in args.kinds:
        for d in (2, 3, 5, 10):
            for shared in (True, False):
                config = TrainConfig(kind=kind, d=d, steps=10, lr=1e-3, clip=1.0, seeds=(0, 1), shared_data=shared,
                                     eval_every=10**6, n_eval=8, checkpoint_every=10**6, **RATE_SETTING)
                name = f"{kind} d={d} {'shared' if shared else 'own'} data"
                measured[name] = seconds_per_context(config, device, args.seconds)
                print(f"{name}: {measured[name] * 1e6:.3f} µs per member-context-step", flush=True)
        dates[kind] = date.today().isoformat()
    when = sorted(set(dates.values()))
    rates[device_key] = {"machine": machine, "date": when[0] if len(when) == 1 else ", ".join(
        f"{kind} {day}" for kind, day in dates.items()), "dates": dates, "torch": torch.__version__, "seconds": measured}
    RATES_FILE.write_text(json.dumps(rates, indent=1) + "\n")
    print(f"written to {RATES_FILE}")


if __name__ == "__main__":
    main()
