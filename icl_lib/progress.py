"""Progress a person can read while the book builds: which run trains, how far it is, how long the
rest will take, and who holds a run another process waits for.

A chapter's kernel writes its cells' output into the notebook, where nobody watches it while the
build runs. The kernel's own stderr (`sys.__stderr__`) is papermill's, so it reaches the terminal
of `make book`: there a live tqdm line shows the runs done out of the total, the run in flight with
its steps, and the time left from the cost plan's measured rates (`icl_lib.sweep.estimated_seconds`).
When that stderr is no terminal (CI, a log), the same information goes as plain lines, at most
one every `LOG_EVERY` seconds per run, to the file named by the environment variable
ICL_PROGRESS_LOG (the Makefile sets it to the tree's build.log), and nowhere when it is unset.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

__all__ = ["LOG_ENV", "LOG_EVERY", "terminal", "log_line", "duration_text", "RunsProgress", "PoolProgress"]

LOG_ENV = "ICL_PROGRESS_LOG"
LOG_EVERY = 30.0  # seconds between two lines about one run in the log: a long run shows it lives


def terminal():
    """The terminal the build runs in (the kernel's real stderr) or None when it is no terminal."""
    stream = sys.__stderr__
    try:
        return stream if stream is not None and stream.isatty() else None
    except ValueError:  # closed
        return None


def log_line(text: str) -> None:
    """Append one line, time-stamped, to the progress log (ICL_PROGRESS_LOG), if one is set; and
    write it to the terminal, if there is one."""
    stamped = f"{datetime.now().strftime('%H:%M:%S')} {text}"
    path = os.environ.get(LOG_ENV)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(stamped + "\n")
    screen = terminal()
    if screen is not None:
        tqdm.write(stamped, file=screen)


def duration_text(seconds: float | None) -> str:
    """Seconds as a person reads them ("5 min 12 s", "20 s"): the build's lines and the status page."""
    if seconds is None:
        return "unknown"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


class RunsProgress:
    """Progress of `train_all` training `configs` here, one after another: `start(i)` before run i,
    `step(t)` as it trains, `close()` after the last. `seconds` are the estimated seconds of each run (None
    where no rate was measured), `cores` the cores they share."""

    def __init__(self, labels: Sequence[str], steps: Sequence[int], seconds: Sequence[float | None], *, cores: int) -> None:
        self.labels, self.steps, self.cores = list(labels), list(steps), max(1, cores)
        self.seconds = list(seconds)
        self.index, self.started, self.last_line = -1, time.monotonic(), 0.0
        self.run_started = self.started
        screen = terminal()
        self.bar = None if screen is None else tqdm(total=1, file=screen, dynamic_ncols=True, leave=False,
                                                    bar_format="{desc} {percentage:3.0f}% |{bar:20}| {postfix}")

    def _left(self, fraction_of_current: float) -> float | None:
        """Seconds left by the measured rates, corrected by how fast the run in flight actually goes
        (on a shared machine it can be several times slower than the rates measured alone)."""
        rest = self.seconds[self.index:]
        if any(s is None for s in rest):
            return None
        planned = (rest[0] * (1 - fraction_of_current) + sum(rest[1:])) / self.cores
        expected_so_far = rest[0] * fraction_of_current / self.cores
        elapsed = time.monotonic() - self.run_started
        return planned * (elapsed / expected_so_far if fraction_of_current > 0.05 and expected_so_far > 0 else 1.0)

    def start(self, index: int) -> None:
        self.index, self.last_line, self.run_started = index, 0.0, time.monotonic()
        log_line(f"training run {index + 1}/{len(self.labels)}: {self.labels[index]} "
                 f"({self.steps[index]:,} steps; all left: about {duration_text(self._left(0.0))} by the measured rates)")
        if self.bar is not None:
            self.bar.reset(total=self.steps[index])
            self.bar.set_description_str(f"run {index + 1}/{len(self.labels)} {self.labels[index]}")

    def step(self, step: int) -> None:
        total = self.steps[self.index]
        left = self._left(step / total)
        if self.bar is not None:
            self.bar.n = step
            self.bar.set_postfix_str(f"step {step:,}/{total:,}, about {duration_text(left)} left", refresh=True)
        now = time.monotonic()
        if os.environ.get(LOG_ENV) and now - self.last_line >= LOG_EVERY and self.bar is None:
            self.last_line = now
            log_line(f"  run {self.index + 1}/{len(self.labels)}: step {step:,}/{total:,}, about {duration_text(left)} left")

    def close(self) -> None:
        _close(self.bar, len(self.labels), self.started)


def _close(bar: tqdm | None, runs: int, started: float) -> None:
    """The end of a training phase: the live line goes, and the log gets the total, in the words
    the status page reads ("trained N run(s) in ...")."""
    if bar is not None:
        bar.close()
    if runs:
        log_line(f"trained {runs} run(s) in {duration_text(time.monotonic() - started)}")


class PoolProgress:
    """Progress of `train_all` training runs as tasks of an executor (Dask workers), several at a
    time: `done(i)` when run i has finished, `close()` after the last. One live line on a terminal
    (runs done out of all, the last one finished, the time left) and one line per finished run in the
    log. `seconds` are the runs' estimated seconds (None where no rate was measured), `workers` the
    runs trained at once; the time left is the estimate of the runs not done, corrected by how fast
    the finished ones went against theirs."""

    def __init__(self, labels: Sequence[str], seconds: Sequence[float | None], *, workers: int) -> None:
        self.labels, self.seconds, self.workers = list(labels), list(seconds), max(1, workers)
        self.finished: list[int] = []
        self.started = time.monotonic()
        screen = terminal()
        self.bar = None if screen is None else tqdm(total=len(self.labels), file=screen, dynamic_ncols=True, leave=False,
                                                    bar_format="runs {n}/{total} |{bar:20}| {postfix}")
        log_line(f"training {len(self.labels)} run(s) on {self.workers} worker(s); about "
                 f"{duration_text(self._left())} by the measured rates")

    def _left(self) -> float | None:
        if any(s is None for s in self.seconds):
            return None
        done = sum(self.seconds[i] for i in self.finished)
        rest = sum(self.seconds) - done
        elapsed = time.monotonic() - self.started
        if done > 0 and elapsed > 0:
            return rest * elapsed / done  # at the pace the finished runs went
        return rest / self.workers  # the plan alone

    def done(self, index: int) -> None:
        self.finished.append(index)
        left = self._left()
        text = f"{self.labels[index]} trained; about {duration_text(left)} left"
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(text, refresh=True)
        log_line(f"run {len(self.finished)}/{len(self.labels)}: {text}")

    def close(self) -> None:
        _close(self.bar, len(self.labels), self.started)
