"""Throughput of k trainings at once on k cores, as a Dask node runs them, beside one alone.

Each training is a separate process (a worker) training softmax self-attention at d = 3, batch 256.
Reported: steps/s of each process and their sum, for one training with every core, and for k at
once, with the OpenMP threads of numba's parallel loops (a) left as they are (k workers with all
cores each, spinning while they wait) and (b) one thread per worker that waits passively, as
`book/rerun.md` tells cluster workers to run. Prints JSON. Usage:
    .venv/bin/python benchmarks/concurrency.py [--workers 2] [--steps 600]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKER = """
import sys, time, tempfile
from icl_lib.training import TrainConfig, train
steps = int(sys.argv[1])
config = TrainConfig(kind="softmax", d=3, steps=20, lr=1e-3, clip=1.0, batch_size=256, eval_every=10_000, n_eval=8,
                     checkpoint_every=10_000)
with tempfile.TemporaryDirectory() as runs:
    train(config, runs_dir=runs, progress=False)  # compile
    config = config.__class__(**{**config.to_dict(), "steps": steps})
    start = time.perf_counter()
    train(config, runs_dir=runs, progress=False)
    print(steps / (time.perf_counter() - start))
"""


def run(k: int, steps: int, env: dict[str, str]) -> list[float]:
    """Steps/s of each of k trainings started together."""
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(steps)], stdout=subprocess.PIPE, text=True,
                              env=os.environ | {"PYTHONPATH": str(ROOT)} | env) for _ in range(k)]
    return [round(float(p.communicate()[0].strip().splitlines()[-1]), 1) for p in procs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()
    k = args.workers
    one_thread = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    results = {"one training, all cores": run(1, args.steps, {}),
               f"{k} at once, all cores each": run(k, args.steps, {}),
               f"{k} at once, one passive thread each": run(k, args.steps, one_thread)}
    print(json.dumps({name: {"steps_per_s": v, "total": round(sum(v), 1)} for name, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
