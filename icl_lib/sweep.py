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
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

from icl_lib.training import Run, TrainConfig, run_key, train

__all__ = ["train_all", "Claim", "finished"]


def finished(config: TrainConfig, runs_dir: str | Path) -> bool:
    """Whether `config`'s run is already trained in `runs_dir`."""
    return (Path(runs_dir) / run_key(config) / "final.pt").exists()


class Claim:
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

    def _take_over_if_stale(self) -> bool:
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return True  # released meanwhile: try again
        if age <= self.stale_after:
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
                  poll: float = 1.0, threads: int | None = None) -> tuple[str, bool]:
    """Train `config`'s run unless it is finished, holding its claim while training; wait while
    another worker holds it. Returns (run key, whether this call trained it). The task a sweep
    sends to its workers. `threads`: numba threads for this worker (its share of the cores)."""
    if threads is not None:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    folder = Path(runs_dir) / run_key(config)
    claim = Claim(folder, stale_after=stale_after)
    while not (folder / "final.pt").exists():
        if claim.try_acquire():
            try:
                if not (folder / "final.pt").exists():  # finished while the claim was being taken
                    train(config, runs_dir=runs_dir, device=device, progress=False)
                    return run_key(config), True
            finally:
                claim.release()
        else:
            time.sleep(poll)
    return run_key(config), False


def train_all(configs: Sequence[TrainConfig], *, runs_dir: str | Path, executor: Executor | None = None,
              device: str = "auto", stale_after: float = 600.0, threads: int | None = None) -> list[Run]:
    """Every run of `configs`, in order: those not finished in `runs_dir` trained first, here
    (`executor=None`, one after another) or as tasks of `executor`; then all loaded from `runs_dir`."""
    runs_dir = str(Path(runs_dir).absolute())
    todo = list({run_key(c): c for c in configs if not finished(c, runs_dir)}.values())
    if executor is None:
        for config in todo:
            train_claimed(config, runs_dir, device, stale_after=stale_after, threads=threads)
    else:
        futures = [executor.submit(train_claimed, config, runs_dir, device, stale_after=stale_after, threads=threads)
                   for config in todo]
        for future in futures:
            future.result()  # a task's error is raised here, with its traceback
    return [train(config, runs_dir=runs_dir, device=device, progress=False) for config in configs]
