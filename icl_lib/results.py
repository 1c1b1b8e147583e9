"""Each chapter's key numbers and verdicts, written as JSON next to the paper's values, and the
tables that show them.

Schema: {"chapter", "profile", "settings": {...}, "metrics": {name: number},
"paper": {name: number}, "verdicts": [record, ...]} with flat metric names such as
`d3.c_eta_extracted` and verdict records from `icl_lib.verdicts.Verdict.as_record`. Later
chapters and the summary page read these files.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path

from icl_lib.files import atomic_write

__all__ = ["Table", "write_results", "read_results", "read_book_results", "comparison_table"]

_VERDICT_FIELDS = {"claim", "title", "words", "source", "ours", "criterion", "setting", "verdict", "budget_dependent",
                   "paper_budget"}


class Table:
    """A table shown as HTML in the book (Markdown output would reach the page as raw `|` text:
    myst-nb renders it as CommonMark, which has no tables) and as aligned text elsewhere."""

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[str]], *, classes: str = "") -> None:
        self.header, self.rows, self.classes = tuple(header), [tuple(map(str, r)) for r in rows], classes
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"a row has {len(row)} cells for {len(self.header)} columns: {row}")

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        return f'<table class="table book-table {self.classes}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def __repr__(self) -> str:
        return "\n".join(" | ".join(row) for row in (self.header, *self.rows))

    def markdown(self) -> str:
        """The table as MyST Markdown (for pages written as Markdown, such as the introduction).
        MyST passes raw HTML through, so text outside backticks is HTML-escaped (a parameter value
        such as '<script>' must reach the page as text); code and roles in backticks are kept."""
        def cell(text: str) -> str:
            parts = text.replace("\n", " ").split("`")
            parts[::2] = [html.escape(part, quote=False) for part in parts[::2]]
            return "`".join(parts).replace("|", "\\|")

        lines = ["| " + " | ".join(map(cell, self.header)) + " |", "|" + "---|" * len(self.header)]
        return "\n".join(lines + ["| " + " | ".join(map(cell, r)) + " |" for r in self.rows])


def write_results(
    path: str | Path,
    *,
    chapter: str,
    profile: str,
    settings: dict[str, object],
    metrics: dict[str, float],
    paper: dict[str, float] | None = None,
    verdicts: Sequence[object] = (),
    findings: dict[str, str] | None = None,
    overrides: dict[str, object] | None = None,
) -> dict[str, object]:
    """Atomically write a chapter's results; every metric must be a finite number. `verdicts` are
    `icl_lib.verdicts.Verdict`s (stored as their records); `findings` the book's own answers to
    questions the paper leaves open, by name (a label each, e.g. "an interior optimum");
    `overrides` the parameters that differ from the chapter's defaults
    (`icl_lib.profiles.chapter_outputs`): the book's pages take no file that has any."""
    for name, value in {**metrics, **(paper or {})}.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"metric {name}={value!r} is not a finite number")
    unknown = set(paper or {}) - set(metrics)
    if unknown:
        raise ValueError(f"paper values without a metric of ours: {sorted(unknown)}")
    records = [v.as_record() for v in verdicts]
    record = {"chapter": chapter, "profile": profile, "settings": settings, "metrics": metrics, "paper": paper or {},
              "verdicts": records, "findings": dict(findings or {}), "overrides": dict(overrides or {})}
    atomic_write(path, lambda f: f.write(json.dumps(record, indent=2, sort_keys=True).encode()))
    return record


def read_results(path: str | Path) -> dict[str, object]:
    record = json.loads(Path(path).read_text())
    missing = {"chapter", "profile", "settings", "metrics", "paper", "verdicts", "findings", "overrides"} - set(record)
    if missing:
        raise ValueError(f"{path}: not a results file of this version (missing {sorted(missing)}): rerun its chapter")
    for verdict in record["verdicts"]:
        if set(verdict) != _VERDICT_FIELDS:
            raise ValueError(f"{path}: a verdict record with fields {sorted(verdict)}, expected {sorted(_VERDICT_FIELDS)}")
    return record


def read_book_results(results_dir: str | Path, chapters: Sequence[str], *, profile: str) -> dict[str, dict[str, object]]:
    """The results of `chapters` that the book's pages may show: every file present, from `profile`,
    and none from a rerun with other parameters than the chapter's own (its "overrides"), each
    refused with an error naming the files."""
    if not isinstance(chapters, list | tuple) or not chapters or not all(isinstance(c, str) for c in chapters):
        raise ValueError(f"chapters={chapters!r} must be a non-empty list of chapter names, e.g. ['01_task', '02_proofs']")
    files = {name: Path(results_dir) / f"{name}.json" for name in chapters}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(f"results files missing (run the chapters first, e.g. `make book`): {missing}")
    records = {name: read_results(path) for name, path in files.items()}
    rerun = {str(files[name]): r["overrides"] for name, r in records.items() if r["overrides"]}
    if rerun:
        raise ValueError("results of a rerun with other parameters than the chapter's own cannot go into the book's "
                         f"pages (rerun those chapters with their defaults): {rerun}")
    stale = {str(files[name]): r["profile"] for name, r in records.items() if r["profile"] != profile}
    if stale:
        raise ValueError(f"results from another profile than {profile!r} (rerun those chapters): {stale}")
    return records


def comparison_table(
    rows: list[tuple[str, ...]], header: tuple[str, ...] = ("quantity", "paper", "this book", "setting")
) -> Table:
    """One row per quantity, the paper's statement beside ours."""
    return Table(header, rows)
