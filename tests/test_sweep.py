"""Sweeps over a shared run cache: here, on a Dask LocalCluster, with killed workers and with two
processes asking for the same run at once."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import icl_lib
from icl_lib import chapter_runs, sweep
from icl_lib.profiles import PROFILES, get_profile
from icl_lib.sweep import RunLock, estimated_seconds, plan, plan_table, train_all, train_claimed, train_each
from icl_lib.training import SAMPLER_VERSION, TrainConfig, run_key, train
from icl_lib.validation import check_scheduler

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



def test_train_each_keeps_the_keys(tmp_path):
    runs = train_each({"b": CONFIGS[1], ("a", 0): CONFIGS[0]}, runs_dir=tmp_path, device="cpu")
    assert list(runs) == ["b", ("a", 0)]
    _same(runs[("a", 0)], train(CONFIGS[0], runs_dir=tmp_path / "plain", device="cpu", progress=False))
    assert runs["b"].config == CONFIGS[1]

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
    holder = RunLock(folder).holder
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


def test_a_claim_left_by_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "claim").write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "since": time.time()}))
    taker = RunLock(tmp_path, stale_after=600)
    assert taker.try_acquire() and taker.holder["pid"] == os.getpid()  # fresh file, but its process is gone
    taker.release()
    (tmp_path / "claim").write_text(json.dumps({"host": "another-host", "pid": int(dead.stdout), "since": time.time()}))
    assert not RunLock(tmp_path, stale_after=600).try_acquire()  # another host: only the age can tell


def test_a_stale_claim_is_taken_over_and_a_live_one_is_not(tmp_path):
    live, other = RunLock(tmp_path, stale_after=60), RunLock(tmp_path, stale_after=60)
    assert live.try_acquire() and not other.try_acquire()
    live.release()
    assert other.try_acquire()
    other._stop.set()  # its worker dies: the heartbeat stops
    os.utime(other.path, (time.time() - 120, time.time() - 120))
    taker = RunLock(tmp_path, stale_after=60)
    assert taker.try_acquire() and taker.holder["pid"] == os.getpid()
    taker.release()
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="stale_after"):
        RunLock(tmp_path, stale_after=0)


def test_a_scheduler_opens_a_local_cluster_only_when_something_needs_training(tmp_path, monkeypatch):
    """`scheduler="local:2"`: two single-threaded worker processes train the runs bit for bit as here;
    the `train` command does the same for a profile's runs; a trained cache needs no cluster."""
    pytest.importorskip("distributed")
    monkeypatch.setattr(chapter_runs, "book_runs", lambda profile: [("ch", f"run {i}", c) for i, c in enumerate(CONFIGS)])
    assert sweep.main(["train", "--profile", "smoke", "--runs-dir", str(tmp_path / "dask"), "--scheduler", "local:2",
                       "--device", "cpu"]) == 0
    here = train_all(CONFIGS, runs_dir=tmp_path / "here", device="cpu")
    for config, b in zip(CONFIGS, here, strict=True):
        _same(train(config, runs_dir=tmp_path / "dask", device="cpu", progress=False), b)

    def no_cluster(scheduler):
        raise AssertionError("a cluster was opened for a trained cache")

    monkeypatch.setattr(sweep, "executor_for", no_cluster)
    for a, b in zip(train_all(CONFIGS, runs_dir=tmp_path / "dask", scheduler="local:2", device="cpu"), here, strict=True):
        _same(a, b)
    with pytest.raises(ValueError, match="not both"):
        train_all([replace(BASE, steps=5)], runs_dir=tmp_path, scheduler="local", executor=object())


@pytest.mark.parametrize(("value", "ok"), [(None, True), ("local", True), ("local:3", True), ("tcp://10.0.0.1:8786", True),
                                           ("tcp://[::1]:8786", True), ("tcp://host", False),
                                           ("tls://host:8786", True), ("local:0", False), ("local:x", False),
                                           ("host:8786", False), ("", False), (3, False)])
def test_scheduler_values(value, ok):
    if ok:
        assert check_scheduler(value) == value
    else:
        with pytest.raises(ValueError, match="scheduler="):
            check_scheduler(value)


def test_an_unreachable_scheduler_is_named():
    pytest.importorskip("distributed")
    with (pytest.raises(ConnectionError, match="scheduler='tcp://127.0.0.1:1'"),
          sweep.executor_for("tcp://127.0.0.1:1", timeout=2)):
        pass


def _environment_at_start() -> dict[str, str]:
    """The environment the process was started with (what glibc's malloc read), not os.environ."""
    from pathlib import Path

    entries = Path("/proc/self/environ").read_bytes().split(b"\0")
    return dict(e.decode().split("=", 1) for e in entries if b"=" in e)


@pytest.mark.skipif(not os.path.exists("/proc/self/environ"), reason="reads /proc (Linux)")
def test_local_workers_start_with_the_worker_environment_and_leave_ours_alone():
    pytest.importorskip("distributed")
    before = dict(os.environ)
    with sweep.executor_for("local:1") as executor:
        assert dict(os.environ) == before
        started = executor.submit(_environment_at_start).result(timeout=60)
        worker = executor.submit(lambda: dict(os.environ)).result(timeout=60)
    assert {k: started.get(k) for k in sweep.WORKER_SPAWN_ENV} == sweep.WORKER_SPAWN_ENV  # from the process's start
    assert {k: worker.get(k) for k in sweep.WORKER_ENV} == sweep.WORKER_ENV
    assert dict(os.environ) == before


RATES = {"cpu": {"machine": "test", "date": "2026-11-30", "seconds": {
    f"{kind} d={d} {s} data": 1e-6 * d * (2 if s == "own" else 1)
    for kind in ("linear", "softmax") for d in (2, 3, 5, 10) for s in ("shared", "own")}}}


def test_the_cost_estimate_scales_with_the_work():
    one = estimated_seconds(BASE, "cpu", RATES)
    # BASE: d = 3, C = 4, n = 20 against the measured n = 100, C = 5: per-context cost (21/101) * (7/8) of d = 3's
    assert one == pytest.approx(3e-6 * (21 / 101) * (7 / 8) * BASE.steps * BASE.batch_size)
    assert estimated_seconds(replace(BASE, steps=60), "cpu", RATES) == pytest.approx(2 * one)
    assert estimated_seconds(replace(BASE, seeds=(0, 1, 2)), "cpu", RATES) == pytest.approx(3 * one)
    assert estimated_seconds(replace(BASE, seeds=(0, 1), shared_data=False), "cpu", RATES) == pytest.approx(4 * one)
    # d = 4 takes d = 5's rate, scaled by (d + C) = 8 against the measured 5 + 5
    assert estimated_seconds(replace(BASE, d=4), "cpu", RATES) == pytest.approx(one * (5 / 3) * (8 / 10) / (7 / 8))
    assert estimated_seconds(BASE, "cuda", RATES) is None
    assert estimated_seconds(BASE, "cpu", {}) is None


def test_the_plan_lists_every_profile_with_its_cost_and_the_paper_profile_is_large(tmp_path):
    assert sweep.RATES_FILE.exists(), "benchmarks/rates.py writes the measured rates the plan uses"
    for name in PROFILES:
        rows = plan(name, tmp_path)
        assert rows and all(r["trained_steps"] == 0 and r["cpu_hours"] > 0 for r in rows)
        assert len({r["key"] for r in rows}) == len(rows)
    paper = sum(r["cpu_hours"] for r in plan("paper", tmp_path))
    book = sum(r["cpu_hours"] for r in plan("book", tmp_path))
    assert paper > 500 and book < 5  # the order of magnitude: ~1000 CPU-hours; the book: ~30 min on 2 cores
    table = plan_table("paper", tmp_path)
    assert "| 06_d10_dynamics | constant rates d=10 | 4 | 6,000,000 × 2048 | 0% |" in table
    assert "Total:" in table and "still to train" in table


def test_the_plan_is_exactly_what_the_smoke_book_trained():
    """The chapters build their runs with `icl_lib.chapter_runs`; the plan lists the same configs, so
    every run the smoke book trained (at this library and sampler version) is in the plan, all finished."""
    runs_dir = Path(__file__).resolve().parents[1] / "_build" / "smoke" / "runs"
    if not runs_dir.is_dir():
        pytest.skip("the smoke book has not been executed here (make execute PROFILE=smoke)")
    current = set()
    for file in runs_dir.glob("*/config.json"):
        identity = json.loads(file.read_text())
        if identity.get("version") == icl_lib.__version__ and identity.get("sampler") == SAMPLER_VERSION \
                and (file.parent / "final.pt").exists():
            current.add(file.parent.name)
    rows = plan("smoke", runs_dir)
    assert {r["key"] for r in rows} == current
    assert all(r["trained_steps"] == r["steps"] for r in rows)


def test_chapter_runs_follow_the_notebook_parameters():
    prof = get_profile("book")
    configs = chapter_runs.softmax_vs_kernel_gd(prof, dims=[3], steps=500, batch_size=64, lr=1e-3, seed=4)
    assert set(configs) == {(3, True), (3, False)}
    assert all(c.steps == 500 and c.batch_size == 64 and c.lr == 1e-3 and c.seeds == (4,) for c in configs.values())
    controls = chapter_runs.controls(prof, dims=[3], seed=4, control_seeds=3)[3]
    assert controls.seeds == (5, 6) and not controls.shared_data
    dynamics = chapter_runs.d10_dynamics(prof, lrs=[3e-3, 1e-4])
    assert dynamics.d == 10 and dynamics.lr == (1e-4, 3e-3) and dynamics.seeds == (0, 1)
    selection = chapter_runs.selection_vs_elimination(prof, n_seeds=3, classes=[2, 5], dims=[2], lengths=[100])
    assert list(selection) == [(2, 5, 100), (2, 2, 100)]
    assert chapter_runs.paper_lr(get_profile("paper")) == {}  # constant there: the chapter's own runs
    two = chapter_runs.two_classes(prof)
    assert two["chapter 7's budget"] == chapter_runs.selection_vs_elimination(prof)[(2, 2, 100)]
    changed = [what for what, c in two.items() if c != two["chapter 7's budget"]]
    assert len(changed) == 4 and two["4× as many steps"].steps == 4 * two["chapter 7's budget"].steps


def test_a_paper_profile_chapter_runs_on_a_local_cluster_from_the_notebook(tmp_path):
    """Chapter 3 at the paper profile with a small override, its runs trained by a LocalCluster
    (`-p scheduler local:2`) and the chapter executed against them, as the rerun page shows."""
    pytest.importorskip("distributed")
    notebook = tmp_path / "03.ipynb"
    bin_dir = Path(sys.executable).parent
    subprocess.run([bin_dir / "jupytext", "--quiet", "--to", "ipynb", "-o", notebook,
                    ROOT / "notebooks" / "03_linear_vs_gd.py"], check=True)
    results, runs_dir = tmp_path / "03.json", tmp_path / "runs"
    subprocess.run([bin_dir / "papermill", "--no-progress-bar", notebook, tmp_path / "out.ipynb", "-p", "profile", "paper",
                    "-p", "steps", "1500", "-p", "batch_size", "256", "-p", "lr", "0.001", "-y", "dims: [3]",
                    "-p", "control_seeds", "1",
                    "-p", "scheduler", "local:2", "-p", "results_path", results, "-p", "runs_dir", runs_dir],
                   check=True, capture_output=True, cwd=tmp_path)
    out = json.loads(results.read_text())
    assert out["profile"] == "paper" and out["metrics"]["d3.cos_sim"] > 0.99
    assert [p.name for p in runs_dir.iterdir()] == [run_key(chapter_runs.linear_vs_gd(
        get_profile("paper"), dims=[3], steps=1500, batch_size=256, lr=1e-3)[3])]
    assert not list(runs_dir.glob("*/claim*"))


def test_the_slurm_example_of_the_rerun_page_writes_single_threaded_workers():
    """The rerun page's dask-jobqueue example, built as written: one worker process per core, one thread
    each, numba on one thread, and a scheduler address to pass as SCHEDULER."""
    dask_jobqueue = pytest.importorskip("dask_jobqueue")
    page = (ROOT / "book" / "rerun.md").read_text()
    call = re.search(r"cluster = (SLURMCluster\(.*?\))\n", page, re.S)
    assert call and "book/rerun.md" in (ROOT / "README.md").read_text()  # the README points there
    cluster = eval(call.group(1), {"SLURMCluster": dask_jobqueue.SLURMCluster})  # the page's own text
    try:
        script = cluster.job_script()
        assert "export NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1" in script
        assert "--nthreads 1" in script and "--nworkers 16" in script and "#SBATCH --cpus-per-task=16" in script
        assert check_scheduler(cluster.scheduler_address) == cluster.scheduler_address
    finally:
        cluster.close()


@pytest.mark.parametrize(("call", "message"), [
    (lambda tmp: train_all([BASE], runs_dir=5), "runs_dir=5 must be a path"),
    (lambda tmp: train_all(["x"], runs_dir=tmp), "configs must be a list of TrainConfig"),
    (lambda tmp: train_all(BASE, runs_dir=tmp), "configs must be a list of TrainConfig"),
])
def test_train_all_names_a_bad_argument(tmp_path, call, message):
    with pytest.raises(ValueError, match=message):
        call(tmp_path)
    assert not list(tmp_path.iterdir())


def test_training_here_reports_its_progress_to_the_log(tmp_path, monkeypatch):
    from icl_lib import progress

    log = tmp_path / "build.log"
    monkeypatch.setenv(progress.LOG_ENV, str(log))
    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)  # a line at every evaluation
    train_all([BASE], runs_dir=tmp_path / "runs")
    lines = log.read_text().splitlines()
    assert re.search(r"training run 1/1: softmax d=3 \(30 steps; all left: about .* by the measured rates\)", lines[0])
    assert [re.search(r"step (\d+)/30", line).group(1) for line in lines[1:-1]] == ["10", "20", "30"]
    assert re.search(r"trained 1 run\(s\) in ", lines[-1])
    train_all([BASE], runs_dir=tmp_path / "runs")  # cached: nothing trains, nothing is said
    assert len(log.read_text().splitlines()) == len(lines)


def test_a_run_waiting_on_a_claim_says_who_holds_it(tmp_path, monkeypatch):
    import threading

    from icl_lib import progress

    log = tmp_path / "build.log"
    monkeypatch.setenv(progress.LOG_ENV, str(log))
    holder = RunLock(tmp_path / "runs" / run_key(BASE), stale_after=60)
    assert holder.try_acquire()
    waiter = threading.Thread(target=train_claimed, args=(BASE, str(tmp_path / "runs"), "cpu"), kwargs={"poll": 0.05})
    waiter.start()
    deadline = time.time() + 20
    while not (log.exists() and "waiting for run" in log.read_text()) and time.time() < deadline:
        time.sleep(0.05)
    holder.release()
    waiter.join(timeout=60)
    text = log.read_text()
    assert f"waiting for run {run_key(BASE)}: claimed by {socket.gethostname()} pid {os.getpid()} since " in text


def test_the_time_left_follows_how_fast_the_run_actually_goes(monkeypatch):
    from icl_lib import progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    p = progress.RunsProgress(["a", "b"], [100, 100], [60.0, 60.0], cores=1)
    p.start(0)
    assert p._left(0.0) == pytest.approx(120.0)  # the plan alone before the run shows its pace
    clock[0] += 60.0  # half of run a took 60 s where the plan said 30: twice as slow
    assert p._left(0.5) == pytest.approx(2 * (30.0 + 60.0))
    p.close()


def test_runs_trained_by_an_executor_report_each_one_done_to_the_log(tmp_path, monkeypatch):
    """make train's runs are tasks of Dask workers: the log (and a terminal's live line) gets a line
    per finished run with the time left, and the total the status page reads."""
    from concurrent.futures import ThreadPoolExecutor

    from icl_lib import progress

    log = tmp_path / "train.log"
    monkeypatch.setenv(progress.LOG_ENV, str(log))
    with ThreadPoolExecutor(max_workers=2) as pool:
        train_all(CONFIGS, runs_dir=tmp_path / "runs", executor=pool, device="cpu", threads=1)
    lines = log.read_text().splitlines()
    assert re.search(rf"training {len(CONFIGS)} run\(s\) on 2 worker\(s\); about .* by the measured rates", lines[0])
    done = [re.search(r"run (\d+)/(\d+): (.*) trained; about (.*) left", line) for line in lines[1:-1]]
    assert [(m.group(1), m.group(2)) for m in done] == [(str(i), str(len(CONFIGS))) for i in range(1, len(CONFIGS) + 1)]
    assert sorted(m.group(3) for m in done) == sorted(
        f"{c.kind} d={c.d}" + (f" ×{c.ensemble}" if c.ensemble > 1 else "") for c in CONFIGS)
    assert done[-1].group(4) == "0 s" and re.search(rf"trained {len(CONFIGS)} run\(s\) in ", lines[-1])


def test_the_pools_time_left_scales_the_plan_by_how_fast_the_finished_runs_went(monkeypatch):
    from icl_lib import progress

    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    p = progress.PoolProgress(["a", "b", "c", "d"], [60.0, 60.0, 60.0, 60.0], workers=2)
    assert p._left() == pytest.approx(120.0)  # the plan alone: 240 s of runs on 2 workers
    clock[0] = 90.0  # two runs done in 90 s where the plan said 60 s: half as fast again
    p.done(0)
    p.done(1)
    assert p._left() == pytest.approx(90.0)
    assert progress.PoolProgress(["a"], [None], workers=2)._left() is None  # no rate measured: unknown
