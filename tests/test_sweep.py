"""Sweeps over a shared run cache: here, on a Dask LocalCluster, with killed workers and with two
processes asking for the same run at once."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from icl_lib.sweep import Claim, train_all, train_claimed
from icl_lib.training import TrainConfig, run_key, train

ROOT = Path(__file__).resolve().parents[1]
BASE = TrainConfig(kind="softmax", d=3, C=4, n=20, steps=30, lr=3e-3, clip=1.0, batch_size=32, eval_every=10, n_eval=16,
                   checkpoint_every=10)
CONFIGS = [BASE, replace(BASE, lr=1e-2), replace(BASE, d=2, seeds=(0, 1), lr=(3e-3, 1e-2))]


def _same(a, b) -> None:
    assert a.config == b.config
    assert all(torch.equal(x, y) for x, y in zip(a.weights.as_tuple(), b.weights.as_tuple(), strict=True))
    assert a.history["step"] == b.history["step"] and a.history["eval_loss"] == b.history["eval_loss"]


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    # one thread per worker process: the workers' share of the cores (numba threads follow it)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_train_all_here_returns_the_runs_in_order(tmp_path):
    runs = train_all([CONFIGS[1], CONFIGS[0], CONFIGS[1]], runs_dir=tmp_path, device="cpu")
    assert [r.config for r in runs] == [CONFIGS[1], CONFIGS[0], CONFIGS[1]]
    _same(runs[1], train(CONFIGS[0], runs_dir=tmp_path / "plain", device="cpu", progress=False))
    assert not list(tmp_path.glob("*/claim*"))  # every claim released


def test_a_dask_cluster_trains_the_same_runs_bit_for_bit(tmp_path, client):
    remote = train_all(CONFIGS, runs_dir=tmp_path / "dask", executor=client.get_executor(), device="cpu", threads=1)
    here = train_all(CONFIGS, runs_dir=tmp_path / "here", device="cpu")
    for a, b in zip(remote, here, strict=True):
        _same(a, b)


def test_a_killed_worker_loses_at_most_its_checkpoint_and_the_sweep_completes(tmp_path, client):
    """SIGKILL the worker that holds the claim once it has checkpointed: Dask runs the task again,
    the stale claim is taken over and the run resumes to the weights of an uninterrupted run."""
    config = replace(BASE, steps=400, checkpoint_every=40, eval_every=40)
    runs_dir = tmp_path / "dask"
    folder = runs_dir / run_key(config)
    future = client.submit(train_claimed, config, str(runs_dir), "cpu", stale_after=2.0, threads=1, pure=False)
    deadline = time.time() + 120
    while not ((folder / "checkpoint.pt").exists() and (folder / "claim").exists()):
        assert time.time() < deadline and not future.done(), "the run never checkpointed"
        time.sleep(0.05)
    holder = Claim(folder).holder
    os.kill(int(holder["pid"]), signal.SIGKILL)
    key, trained = future.result(timeout=300)
    assert key == run_key(config) and trained
    _same(train(config, runs_dir=runs_dir, device="cpu", progress=False),
          train(config, runs_dir=tmp_path / "whole", device="cpu", progress=False))


def test_two_processes_asking_for_one_run_train_it_once(tmp_path):
    code = ("import json, sys; from icl_lib.training import TrainConfig; from icl_lib.sweep import train_claimed; "
            "c = TrainConfig(**json.loads(sys.argv[1])); print(train_claimed(c, sys.argv[2], 'cpu', poll=0.05)[1])")
    config = replace(BASE, steps=120)
    env = os.environ | {"PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1"}
    args = [sys.executable, "-c", code, json.dumps(config.to_dict()), str(tmp_path)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs = sorted(p.communicate(timeout=300)[0].strip() for p in procs)
    assert outputs == ["False", "True"] and all(p.returncode == 0 for p in procs)
    _same(train(config, runs_dir=tmp_path, device="cpu", progress=False),
          train(config, runs_dir=tmp_path / "alone", device="cpu", progress=False))


def test_a_stale_claim_is_taken_over_and_a_live_one_is_not(tmp_path):
    live, other = Claim(tmp_path, stale_after=60), Claim(tmp_path, stale_after=60)
    assert live.try_acquire() and not other.try_acquire()
    live.release()
    assert other.try_acquire()
    other._stop.set()  # its worker dies: the heartbeat stops
    os.utime(other.path, (time.time() - 120, time.time() - 120))
    taker = Claim(tmp_path, stale_after=60)
    assert taker.try_acquire() and taker.holder["pid"] == os.getpid()
    taker.release()
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="stale_after"):
        Claim(tmp_path, stale_after=0)
