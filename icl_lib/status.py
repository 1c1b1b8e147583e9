"""The book's status page: for every executed chapter, the profile, papermill's wall time, the
library and sampler versions, the date and the machine (`make book` writes it after executing,
`book/status.md` includes it), so that run times are read from the runs, never typed by hand.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime
from pathlib import Path

import torch

import icl_lib
from icl_lib.files import atomic_write
from icl_lib.progress import duration_text
from icl_lib.results import Table
from icl_lib.tasks import SAMPLER_VERSION

__all__ = ["chapter_status", "status_markdown", "write_status", "chapter_line"]


def chapter_status(notebook: str | Path) -> dict[str, object]:
    """What papermill recorded about one executed notebook: its title, profile, start, wall time
    in seconds and whether it raised."""
    path = Path(notebook)
    document = json.loads(path.read_text())
    run = document.get("metadata", {}).get("papermill")
    if not run or run.get("duration") is None:
        raise ValueError(f"{path} was not executed by papermill to the end: run `make book` (or papermill) first")
    title = next((line.lstrip("# ").strip() for cell in document["cells"] if cell["cell_type"] == "markdown"
                  for line in "".join(cell["source"]).splitlines() if line.startswith("# ")), path.stem)
    return {"file": path.name, "title": title, "profile": run["parameters"].get("profile", "(default)"),
            "start": run["start_time"], "seconds": float(run["duration"]), "failed": run.get("exception") is not None}


def training_seconds(log: str | Path) -> float:
    """Seconds spent training, summed from the progress log's "trained N run(s) in ..." lines
    (`icl_lib.progress`): 0 where the log is missing or nothing trained."""
    import re

    path = Path(log)
    if not path.is_file():
        return 0.0
    total = 0.0
    for found in re.finditer(r"trained \d+ run\(s\) in (?:(\d+) min )?(\d+) s", path.read_text()):
        total += 60 * int(found.group(1) or 0) + int(found.group(2))
    return total


def status_markdown(executed: str | Path, log: str | Path | None = None, train_log: str | Path | None = None) -> str:
    """The status page's table (Markdown) for the executed notebooks in `executed`, and the
    environment the page was written in; with the build's progress `log`, the share of the wall
    time spent training; with `make train`'s log (`train_log`), the runs trained before the chapters."""
    notebooks = sorted(Path(executed).glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise ValueError(f"no executed chapters in {executed}")
    rows = [chapter_status(nb) for nb in notebooks]
    table = Table(["Chapter", "Profile", "Executed (UTC)", "Wall time", "Outcome"],
                  [[row["title"], str(row["profile"]), str(row["start"])[:16].replace("T", " "), duration_text(row["seconds"]),
                    "raised an error" if row["failed"] else "ran to the end"] for row in rows])
    total = sum(row["seconds"] for row in rows)
    machine = f"{platform.machine()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"
    trained = training_seconds(log) if log is not None else 0.0
    text = Path(log).read_text() if log is not None and Path(log).is_file() else ""
    hits, computed = text.count("analysis cache hit:"), text.count("analysis computed:")
    summary = f"All chapters: {duration_text(total)}" + (
        f", of which training {duration_text(trained)} ({trained / total:.0%}); the rest is analysis, figures and "
        "reading cached runs." if trained else "; every run came from the cache (or no training log was kept).")
    first = _trained_first(train_log)
    cache = (f"Analysis cache (`analysis/`, `icl_lib.analysis_cache`): {hits} searches read, {computed} computed."
             if hits or computed else "")
    return "\n".join([
        table.markdown(), "",
        summary, "", *([first, ""] if first else []), *([cache, ""] if cache else []),
        f"- Library: `icl_lib` {icl_lib.__version__}; sampler version {SAMPLER_VERSION.split(':')[0]}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        f"- Machine: {machine}; the build's processes used {os.cpu_count()} cores",
        f"- Page written: {datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}", ""])


def _trained_first(train_log: str | Path | None) -> str:
    """What `make train` did before the chapters, from its log: "" where it kept none or trained nothing."""
    import re

    path = Path(train_log) if train_log is not None else None
    text = path.read_text() if path is not None and path.is_file() else ""
    found = re.search(r"training (\d+) run\(s\) on (\d+) worker", text)
    if not found:
        return ""
    return (f"Before the chapters, `make train` trained {found.group(1)} run(s) on {found.group(2)} worker(s) "
            f"in {duration_text(training_seconds(path))}.")


def write_status(executed: str | Path, out: str | Path, log: str | Path | None = None,
                 train_log: str | Path | None = None) -> Path:
    """Write `status_markdown(executed, log, train_log)` to `out` (atomically)."""
    out = Path(out)
    text = status_markdown(executed, log, train_log)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(text.encode()))
    return out


def chapter_line(notebook: str | Path, results_dir: str | Path) -> str:
    """One line for a chapter just executed: its name, papermill's wall time and its verdicts by
    kind, e.g. "04 softmax vs kernel gd: 5 min 12 s; 2 reproduced, 1 not resolved"."""
    from collections import Counter

    from icl_lib.results import read_results

    status = chapter_status(notebook)
    stem = Path(notebook).stem
    name = stem[:2] + " " + stem[3:].replace("_", " ")
    results = Path(results_dir) / f"{stem}.json"
    tally = Counter(v["verdict"] for v in read_results(results)["verdicts"]) if results.is_file() else Counter()
    verdicts = ", ".join(f"{count} {verdict}" for verdict, count in sorted(tally.items())) or "no verdicts"
    return f"{name}: {duration_text(float(status['seconds']))}; {verdicts}"


if __name__ == "__main__":  # python -m icl_lib.status <executed dir> <out.md> | --line <notebook> <results dir>
    import sys

    from icl_lib.progress import log_line

    if len(sys.argv) == 4 and sys.argv[1] == "--line":
        log_line(chapter_line(sys.argv[2], sys.argv[3]))
        raise SystemExit(0)
    if len(sys.argv) not in (3, 4, 5):
        raise SystemExit("usage: python -m icl_lib.status <executed notebooks folder> <status.md to write> "
                         "[build.log [train.log]]\n"
                         "       python -m icl_lib.status --line <executed notebook> <results folder>")
    print(write_status(*sys.argv[1:3], *sys.argv[3:5]))
