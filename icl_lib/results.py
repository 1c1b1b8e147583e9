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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from icl_lib.files import atomic_write

__all__ = ["Table", "Link", "write_results", "read_results", "read_book_results", "comparison_table", "flatten",
           "span", "metrics_table"]

_VERDICT_FIELDS = {"claim", "title", "words", "source", "ours", "criterion", "setting", "verdict", "budget_dependent",
                   "paper_budget", "paper_value", "summary"}


@dataclass(frozen=True)
class Link:
    """A table cell that links to another page of the book (a path relative to the page that shows it)."""

    text: str
    href: str

    def __str__(self) -> str:
        return self.text


class Table:
    """A table shown as HTML in the book (Markdown output would reach the page as raw `|` text:
    myst-nb renders it as CommonMark, which has no tables) and as aligned text elsewhere. Every HTML
    cell carries its column's name (`data-label`), so that with the class "cards" a phone shows one
    card per row, each value labelled (book/_static/book.css)."""

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[object]], *, classes: str = "",
                 row_classes: Sequence[str] | None = None) -> None:
        self.header, self.classes = tuple(header), classes
        self.rows = [tuple(c if isinstance(c, Link) else str(c) for c in r) for r in rows]
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"a row has {len(row)} cells for {len(self.header)} columns: {row}")
        self.row_classes = tuple(row_classes) if row_classes is not None else ("",) * len(self.rows)
        if len(self.row_classes) != len(self.rows):
            raise ValueError(f"{len(self.row_classes)} row classes for {len(self.rows)} rows")

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, object]], columns: Mapping[str, str] | None = None,
                     formats: Mapping[str, str] | None = None, *, float_format: str = ".4f",
                     classes: str = "", row_classes: Sequence[str] | None = None) -> Table:
        """One row per record: `columns` maps each header to a key of the records (None: the first
        record's keys are the headers), `formats` a key to a format spec for its value (".3f",
        "+.3g"); other floats are shown with `float_format`, anything else with str(), and a missing
        value (None) as "—". `row_classes`: one HTML class per row (for the page's style sheet)."""
        records, formats = list(records), dict(formats or {})
        columns = dict(columns) if columns is not None else {key: key for key in (records[0] if records else {})}

        def cell(record: Mapping[str, object], key: str) -> str | Link:
            if key not in record:
                raise KeyError(f"a record has no {key!r} (it has {sorted(record)})")
            value = record[key]
            if value is None:
                return "—"
            if isinstance(value, Link):
                return value
            if key in formats:
                return format(value, formats[key])
            return format(value, float_format) if isinstance(value, float) else str(value)

        return cls(tuple(columns), [[cell(r, key) for key in columns.values()] for r in records], classes=classes,
                   row_classes=row_classes)

    def _repr_html_(self) -> str:
        def cell(label: str, value: str | Link) -> str:
            text = (f'<a href="{html.escape(value.href)}">{html.escape(value.text)}</a>' if isinstance(value, Link)
                    else html.escape(value))
            return f'<td data-label="{html.escape(label)}">{text}</td>'

        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join((f'<tr class="{html.escape(kind)}">' if kind else "<tr>")
                       + "".join(cell(h, c) for h, c in zip(self.header, row, strict=True)) + "</tr>"
                       for row, kind in zip(self.rows, self.row_classes, strict=True))
        return f'<table class="table book-table {self.classes}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def __repr__(self) -> str:
        return "\n".join(" | ".join(map(str, row)) for row in (self.header, *self.rows))

    def markdown(self) -> str:
        """The table as MyST Markdown (for pages written as Markdown, such as the introduction).
        MyST passes raw HTML through, so text outside backticks is HTML-escaped (a parameter value
        such as '<script>' must reach the page as text); code and roles in backticks are kept."""
        def cell(value: str | Link) -> str:
            if isinstance(value, Link):
                return f"[{cell(value.text)}]({value.href})"
            parts = value.replace("\n", " ").split("`")
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


def flatten(nested: Mapping[str, object], prefix: str = "") -> dict[str, float]:
    """Metric names from nested mappings: {"d3": {"loss": 0.2}} -> {"d3.loss": 0.2}, numbers as
    floats (the results' flat naming scheme, see the module docstring)."""
    flat: dict[str, float] = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = float(value)
    return flat


def span(values: Iterable[float], spec: str = ".4f") -> str:
    """The range of `values` for a sentence: "0.0050–0.0517", or one number when they agree at
    `spec`, or "—" when there are none."""
    shown = sorted({format(v, spec) for v in values}, key=float)
    return "—" if not shown else shown[0] if len(shown) == 1 else f"{shown[0]}–{shown[-1]}"


def metrics_table(records: Mapping[str, Mapping[str, object]]) -> Table:
    """Every metric of every chapter's results, with the paper's value where it states one."""
    def shown(value: object) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    return Table(("quantity", "paper", "this book", "profile"),
                 [(f"{name}: {key}", shown(r["paper"][key]) if key in r["paper"] else "", shown(value), r["profile"])
                  for name, r in records.items() for key, value in sorted(r["metrics"].items())])
