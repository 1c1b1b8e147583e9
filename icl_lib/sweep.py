"""Training many runs, in this process or on a cluster, with the run cache as the shared state.

`train_all(configs, runs_dir=..., executor=...)` trains every config not yet finished in
`runs_dir` and returns the runs in order. `executor` is any `concurrent.futures.Executor`: None
trains here, one run after another; a Dask cluster is `distributed.Client(address).get_executor()`
(dask-jobqueue's `SLURMCluster`/`PBSCluster` give the address). Tasks return run keys, not
weights: the caller loads every run from `runs_dir`, which must be a file system that all workers
and the caller share.

A run being trained is *claimed*: `runs/<key>/claim`, created exclusively (O_EXCL, which works
across machines on NFS v3+ and Lustre), holds the worker's host and pid, and its modification time
is refreshed while the run trains. A second worker asking for the same run waits for it; a claim
not refreshed for `stale_after` seconds (its worker was killed or lost) is taken over by renaming it
aside, which only one worker can do. The run then resumes from its last checkpoint, so a killed
worker loses at most the steps since that checkpoint and the result equals an uninterrupted run's.
fcntl/flock locks are not used: they do not reach across all network file systems, and a lock's
owner cannot be told from a dead one.

`scheduler` names where a chapter's runs train: None (here), "local" or "local:K" (a Dask
LocalCluster of K single-threaded worker processes on this machine, K = the cores by default), or
a Dask scheduler's address ("tcp://host:8786"). `python -m icl_lib.sweep plan --profile paper`
lists every run the book needs at a profile with its estimated cost, and `python -m icl_lib.sweep
train --profile paper --scheduler tcp://host:8786` trains them all (`make paper` does both, then
executes and builds the book against the cache).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, as_completed
from pathlib import Path
from typing import TypeVar

from icl_lib.progress import PoolProgress, RunsProgress, log_line
from icl_lib.runs import Run
from icl_lib.training import TrainConfig, resolve_device, run_key, train
from icl_lib.validation import check_scheduler

__all__ = ["train_all", "train_each", "RunLock", "finished", "executor_for", "check_scheduler", "plan", "plan_table",
           "estimated_seconds", "RATES_FILE", "RATE_SETTING"]

RATES_FILE = Path(__file__).with_name("measured_rates.json")  # written by benchmarks/rates.py
RATE_SETTING = {"n": 100, "C": 5, "batch_size": 512}  # where benchmarks/rates.py measures
K = TypeVar("K", bound=Hashable)
# one numba thread per worker process, waiting passively: benchmarks/concurrency.py
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
# and one malloc arena, so that a run in the worker's task thread allocates from the heap that
# `training.keep_freed_memory` keeps (benchmarks/README.md, "Two layers"); glibc reads it only when
# a process starts, so it is set before each worker process is spawned
WORKER_SPAWN_ENV = {"MALLOC_ARENA_MAX": "1"}


@contextlib.contextmanager
def executor_for(scheduler: str | None, *, timeout: float = 30.0) -> Iterator[Executor | None]:
    """The executor that `train_all` sends runs to for `scheduler` (see `check_scheduler`), open for
    the `with` block: None trains here; otherwise a Dask client's executor (`distributed` needed).
    A scheduler that does not answer within `timeout` seconds is refused with its address."""
    if check_scheduler(scheduler) is None:
        yield None
        return
    try:
        import distributed
    except ImportError as error:
        raise ImportError(f"scheduler={scheduler!r} needs Dask: pip install -e '.[cluster]'") from error
    with contextlib.ExitStack() as stack:
        if scheduler.startswith("local"):
            import dask

            workers = int(scheduler[6:]) if ":" in scheduler else os.cpu_count() or 1
            # a Nanny writes its pre-spawn variables into this process's environment: put it back once
            # the workers have started, and again at the end (a restarted worker writes them again)
            environ = dict(os.environ)
            stack.callback(_restore_environ, environ)
            spawn_env = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) | WORKER_SPAWN_ENV
            with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_env}):
                cluster = stack.enter_context(distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, env=WORKER_ENV))
            _restore_environ(environ)
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout=f"{timeout}s"))
            except OSError as error:
                raise ConnectionError(f"scheduler={scheduler!r}: no Dask scheduler answered there ({error})") from None
        yield client.get_executor()


def _restore_environ(environ: dict[str, str]) -> None:
    for name in set(os.environ) - set(environ):
        del os.environ[name]
    os.environ.update(environ)


def finished(config: TrainConfig, runs_dir: str | Path) -> bool:
    """Whether `config`'s run is already trained in `runs_dir`."""
    return (Path(runs_dir) / run_key(config) / "final.pt").exists()


class RunLock:
    """The exclusive right to train one run, visible to every machine that shares `runs_dir`."""

    def __init__(self, folder: Path, *, stale_after: float = 600.0) -> None:
        if not stale_after > 0:
            raise ValueError(f"stale_after={stale_after!r} must be > 0 seconds")
        self.path, self.stale_after = Path(folder) / "claim", float(stale_after)
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def try_acquire(self) -> bool:
        """Take the claim if it is free or stale; False while another live worker holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                if not self._take_over_if_stale():
                    return False
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}, f)
            self._beat = threading.Thread(target=self._heartbeat, daemon=True)
            self._beat.start()
            return True
        return False

    def _holder_is_dead_here(self) -> bool:
        """Whether the holder ran on this host and its process is gone: a killed chapter or worker
        leaves its claim behind, and on the same host that is known at once, without the timeout."""
        holder = self.holder
        if not holder or holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
            return False
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False

    def _take_over_if_stale(self) -> bool:
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return True  # released meanwhile: try again
        if age <= self.stale_after and not self._holder_is_dead_here():
            return False
        try:  # one rename wins; the others find the file gone
            os.rename(self.path, self.path.with_name(f"claim.stale-{uuid.uuid4().hex}"))
        except FileNotFoundError:
            pass
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.stale_after / 4):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        self.path.unlink(missing_ok=True)
        for stale in self.path.parent.glob("claim.stale-*"):
            stale.unlink(missing_ok=True)

    @property
    def holder(self) -> dict[str, object] | None:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None


def train_claimed(config: TrainConfig, runs_dir: str, device: str = "auto", *, stale_after: float = 600.0,
                  poll: float = 1.0, threads: int | None = None,
                  on_eval: Callable[[int], None] | None = None) -> tuple[str, bool]:
    """Train `config`'s run unless it is finished, holding its claim while training; wait while
    another worker holds it, saying who holds it and since when (`icl_lib.progress`, then once a
    minute). Returns (run key, whether this call trained it). The task a sweep sends to its
    workers. `threads`: numba threads for this worker (its share of the cores)."""
    if threads is not None:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    device = resolve_device(device)  # on the worker: "auto" is its GPU where it has one
    folder = Path(runs_dir) / run_key(config)
    claim = RunLock(folder, stale_after=stale_after)
    said = -math.inf
    while not (folder / "final.pt").exists():
        if claim.try_acquire():
            try:
                if not (folder / "final.pt").exists():  # finished while the claim was being taken
                    train(config, runs_dir=runs_dir, device=device, progress=False, on_eval=on_eval)
                    return run_key(config), True
            finally:
                claim.release()
        else:
            if time.monotonic() - said >= 60:
                said, holder = time.monotonic(), claim.holder or {}
                since = holder.get("since")
                log_line(f"waiting for run {run_key(config)}: claimed by {holder.get('host', '?')} pid "
                         f"{holder.get('pid', '?')} since "
                         + (time.strftime("%H:%M:%S", time.localtime(since)) if isinstance(since, int | float) else "?"))
            time.sleep(poll)
    return run_key(config), False


def train_all(configs: Sequence[TrainConfig], *, runs_dir: str | Path, executor: Executor | None = None,
              scheduler: str | None = None, device: str = "auto", stale_after: float = 600.0,
              threads: int | None = None) -> list[Run]:
    """Every run of `configs`, in order: those not finished in `runs_dir` trained first, here
    (`executor=None`, one after another) or as tasks of `executor`; then all loaded from `runs_dir`.
    `scheduler` (see `check_scheduler`) opens an executor for this call, only if a run needs training
    (so a notebook executed against a trained cache needs no cluster); its workers use one thread each."""
    if not isinstance(runs_dir, str | os.PathLike) or not str(runs_dir):
        raise ValueError(f"runs_dir={runs_dir!r} must be a path")
    if isinstance(configs, TrainConfig) or not all(isinstance(c, TrainConfig) for c in configs):
        raise ValueError(f"configs must be a list of TrainConfig, got {configs!r:.200}")
    runs_dir = str(Path(runs_dir).absolute())
    todo = list({run_key(c): c for c in configs if not finished(c, runs_dir)}.values())
    if check_scheduler(scheduler) is not None:
        if executor is not None:
            raise ValueError("pass executor or scheduler, not both")
        if todo:
            with executor_for(scheduler) as executor:
                return train_all(configs, runs_dir=runs_dir, executor=executor, device=device,
                                 stale_after=stale_after, threads=1 if threads is None else threads)
    if executor is None:
        progress = RunsProgress(_labels(todo),
                                [c.steps for c in todo], [estimated_seconds(c) for c in todo],
                                cores=threads or os.cpu_count() or 1)
        try:
            for i, config in enumerate(todo):
                progress.start(i)
                train_claimed(config, runs_dir, device, stale_after=stale_after, threads=threads, on_eval=progress.step)
        finally:
            progress.close()
    elif todo:
        progress = PoolProgress(_labels(todo), [estimated_seconds(c) for c in todo], workers=_workers(executor))
        futures = {executor.submit(train_claimed, config, runs_dir, device, stale_after=stale_after, threads=threads): i
                   for i, config in enumerate(todo)}
        try:
            for future in as_completed(futures):
                future.result()  # a task's error is raised here, with its traceback
                progress.done(futures[future])
        finally:
            progress.close()
    device = resolve_device(device)
    return [train(config, runs_dir=runs_dir, device=device, progress=False) for config in configs]


def _labels(configs: Sequence[TrainConfig]) -> list[str]:
    return [f"{c.kind} d={c.d}" + (f" ×{c.ensemble}" if c.ensemble > 1 else "") for c in configs]


def _workers(executor: Executor) -> int:
    """How many runs `executor` trains at once: a Dask client's worker threads, a pool's workers."""
    client = getattr(executor, "_client", None)
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    return max(1, getattr(executor, "_max_workers", 1))


def train_each(configs: Mapping[K, TrainConfig], **options: object) -> dict[K, Run]:
    """`train_all` for configs under keys (a chapter's runs by d, by setting, or by config itself):
    the same keys, each with its run. `options` are `train_all`'s."""
    return dict(zip(configs, train_all(list(configs.values()), **options), strict=True))


def _rates() -> dict[str, dict]:
    return json.loads(RATES_FILE.read_text()) if RATES_FILE.exists() else {}


def estimated_seconds(config: TrainConfig, device: str = "cpu", rates: dict | None = None) -> float | None:
    """Seconds to train `config` on one core (device "cpu") or one GPU ("cuda"), from the seconds per
    member-context-step measured by benchmarks/rates.py for its kind, d (the nearest measured d at or
    above it) and data sharing, at n = 100 and C = 5, scaled linearly in d + C and in n + 1 (two
    layers: in (n + 1)^2). None where that device or kind was not measured."""
    measured = (rates if rates is not None else _rates()).get(device)
    if not measured:
        return None
    sharing = "shared" if config.shared_data or config.ensemble == 1 else "own"
    table = {int(k.split()[1][2:]): v for k, v in measured["seconds"].items()
             if k.startswith(config.kind + " ") and k.endswith(f" {sharing} data")}
    if not table:
        return None
    d = min((m for m in table if m >= config.d), default=max(table))
    # one layer reads the query row, (n + 1) keys; two layers attend from every token, (n + 1)^2
    length = ((config.n + 1) / (RATE_SETTING["n"] + 1)) ** config.layers
    scale = length * (config.d + config.C) / (d + RATE_SETTING["C"])
    return table[d] * scale * config.steps * config.batch_size * config.ensemble


def _progress(config: TrainConfig, runs_dir: Path) -> int:
    """Steps already trained in `runs_dir`: all when finished, the checkpoint's step, or 0."""
    folder = runs_dir / run_key(config)
    if (folder / "final.pt").exists():
        return config.steps
    if (folder / "checkpoint.pt").exists():
        from icl_lib.runs import load_checked

        with contextlib.suppress(Exception):  # a damaged checkpoint counts as nothing trained
            return int(load_checked(folder / "checkpoint.pt")["step"])
    return 0


def plan(profile: str, runs_dir: str | Path) -> list[dict[str, object]]:
    """One row per run the book trains at `profile` (`icl_lib.chapter_runs.book_runs`): chapter, run,
    budget, steps already trained in `runs_dir`, estimated CPU-hours on one core and GPU-hours."""
    from icl_lib.chapter_runs import book_runs

    rates, rows = _rates(), []
    for chapter, what, config in book_runs(profile):
        cpu, gpu = estimated_seconds(config, "cpu", rates), estimated_seconds(config, "cuda", rates)
        rows.append({"chapter": chapter, "run": what, "kind": config.kind, "d": config.d, "C": config.C, "n": config.n,
                     "members": config.ensemble, "steps": config.steps, "batch_size": config.batch_size,
                     "trained_steps": _progress(config, Path(runs_dir)), "key": run_key(config),
                     "cpu_hours": None if cpu is None else cpu / 3600, "gpu_hours": None if gpu is None else gpu / 3600})
    return rows


def _hours(value: float | None) -> str:
    if value is None:
        return "not measured"
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def plan_table(profile: str, runs_dir: str | Path) -> str:
    """The plan as a Markdown table with totals and the measurement it rests on (a GPU-hours column
    only where a GPU's rate was measured)."""
    from icl_lib.profiles import book_root

    rows, rates = plan(profile, runs_dir), _rates()
    shown = Path(os.path.relpath(Path(runs_dir).absolute(), book_root())) if Path(runs_dir).absolute().is_relative_to(
        book_root()) else Path(runs_dir)
    gpu = "cuda" in rates
    lines = [f"Runs of the `{profile}` profile (the chapters' default parameters); run cache `{shown}`:", "",
             "| chapter | run | members | steps × batch | trained | CPU-hours |" + (" GPU-hours |" if gpu else ""),
             "|---|---|---:|---:|---:|---:|" + ("---:|" if gpu else "")]
    for r in rows:
        done = r["trained_steps"] / r["steps"]
        lines.append(f"| {r['chapter']} | {r['run']} | {r['members']} | {r['steps']:,} × {r['batch_size']} | "
                     f"{'all' if done == 1 else f'{100 * done:.0f}%'} | {_hours(r['cpu_hours'])} |"
                     + (f" {_hours(r['gpu_hours'])} |" if gpu else ""))
    for column, unit in (("cpu_hours", "CPU core-hours"), ("gpu_hours", "GPU-hours")):
        if any(r[column] is None for r in rows):
            continue
        total = sum(r[column] for r in rows)
        left = sum(r[column] * (1 - r["trained_steps"] / r["steps"]) for r in rows)
        lines.append(f"\nTotal: {_hours(total)} {unit}, of which {_hours(left)} still to train.")
    for device, label in (("cpu", "one CPU core"), ("cuda", "one GPU")):
        if device in rates:
            lines.append(f"\nEstimated from the rate measured on {label} ({rates[device]['machine']}, "
                         f"{rates[device]['date']}, `benchmarks/rates.py`) at n = 100, C = 5, scaled linearly in "
                         "d + C and in n + 1 (quadratically for two layers).")
    if not gpu:
        lines.append("\nGPU-hours: not measured (no GPU was available to measure a rate on).")
    return "\n".join(lines) + "\n"


def profile_runs_dir(profile: str) -> Path:
    """Where the Makefile keeps a profile's runs: runs/ for the book, _build/<profile>/runs otherwise."""
    from icl_lib.profiles import book_root

    return book_root() / ("runs" if profile == "book" else f"_build/{profile}/runs")


def main(argv: Sequence[str] | None = None) -> int:
    from icl_lib.profiles import PROFILES

    parser = argparse.ArgumentParser(prog="python -m icl_lib.sweep", description="The book's runs at a profile.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("plan", "list every run with its estimated cost"), ("train", "train every run not yet cached")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--profile", choices=tuple(PROFILES), default="book")
        p.add_argument("--runs-dir", help="the run cache (default: the profile's, as the Makefile's)")
        if name == "plan":
            p.add_argument("--markdown", help="also write the table to this file")
        else:
            p.add_argument("--scheduler", default=None, help="local, local:K or a Dask address (default: here)")
            p.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    runs_dir = Path(args.runs_dir) if args.runs_dir else profile_runs_dir(args.profile)
    if args.command == "plan":
        table = plan_table(args.profile, runs_dir)
        print(table)
        if args.markdown:
            Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
            Path(args.markdown).write_text(table)
        return 0
    from icl_lib.chapter_runs import book_runs

    try:
        scheduler = check_scheduler(args.scheduler)
    except ValueError as error:
        parser.error(str(error))
    configs = [config for *_, config in book_runs(args.profile)]
    runs_dir.mkdir(parents=True, exist_ok=True)
    todo = [c for c in configs if not finished(c, runs_dir)]
    print(f"{len(configs)} runs at profile {args.profile}, {len(todo)} to train, into {runs_dir}", flush=True)
    train_all(configs, runs_dir=runs_dir, scheduler=scheduler, device=args.device)
    print("all trained", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
