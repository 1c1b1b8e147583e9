"""Each chapter's key numbers, written as JSON next to the paper's values.

Schema: {"chapter", "profile", "settings": {...}, "metrics": {name: number},
"paper": {name: number}} with flat names such as `d3.c_eta_extracted`. Later chapters and
the summary page read these files.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

__all__ = ["write_results", "read_results", "comparison_table"]


def write_results(
    path: str | Path,
    *,
    chapter: str,
    profile: str,
    settings: dict[str, object],
    metrics: dict[str, float],
    paper: dict[str, float] | None = None,
) -> dict[str, object]:
    """Atomically write a chapter's results; every metric must be a finite number."""
    for name, value in {**metrics, **(paper or {})}.items():
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"metric {name}={value!r} is not a finite number")
    unknown = set(paper or {}) - set(metrics)
    if unknown:
        raise ValueError(f"paper values without a metric of ours: {sorted(unknown)}")
    record = {"chapter": chapter, "profile": profile, "settings": settings, "metrics": metrics, "paper": paper or {}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
    return record


def read_results(path: str | Path) -> dict[str, object]:
    record = json.loads(Path(path).read_text())
    missing = {"chapter", "profile", "settings", "metrics", "paper"} - set(record)
    if missing:
        raise ValueError(f"{path}: not a results file (missing {sorted(missing)})")
    return record


def comparison_table(
    rows: list[tuple[str, ...]], header: tuple[str, ...] = ("quantity", "paper", "this book", "setting")
) -> str:
    """A Markdown table: one row per quantity, the paper's statement beside ours."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
