"""The repository's own consistency: pins, pairing of notebooks, lint."""

import re
import statistics
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def _pins(lines):
    return {line.strip() for line in lines if re.match(r"^\s*[A-Za-z0-9_.-]+==", line.strip().lstrip("- "))}


def test_environment_yml_installs_requirements_txt():
    env_lines = (ROOT / "environment.yml").read_text().splitlines()
    assert any(line.strip() == "- -r requirements.txt" for line in env_lines)
    assert any(re.search(r"python=3\.11\b", line) for line in env_lines)
    assert not any("==" in line for line in env_lines)  # one list of pins: requirements.txt


def test_the_library_declares_ranges_that_hold_the_books_pins():
    """pyproject.toml declares ranges (a cluster node keeps its own CUDA torch and Python); the
    book's pins in requirements.txt lie inside them; torch stays pinned for the book's own build."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {Requirement(p).name: Requirement(p) for p in _pins((ROOT / "requirements.txt").read_text().splitlines())}
    assert str(pins["torch"].specifier) == "==2.13.0"
    for dependency in map(Requirement, project["dependencies"]):
        assert not str(dependency.specifier).startswith("=="), f"{dependency} is pinned in pyproject.toml"
        pinned = next(iter(pins[dependency.name].specifier)).version
        assert dependency.specifier.contains(pinned), f"the book's {dependency.name}=={pinned} is outside {dependency}"
    assert {Requirement(r).name for r in project["optional-dependencies"]["cluster"]} == {"dask", "dask-jobqueue"}
    assert ">=3.11" in project["requires-python"] and "<" not in project["requires-python"]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_paired_ipynb_matches_its_py_source(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} missing: run `make sync`"
    a, b = jupytext.read(source), jupytext.read(paired)
    assert [(c.cell_type, c.source) for c in a.cells] == [(c.cell_type, c.source) for c in b.cells], \
        f"{paired.name} is out of date with {source.name}: run `make sync`"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_chapter_has_tagged_parameters(source):
    nb = jupytext.read(source)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = {line.split("=")[0].strip() for line in tagged[0].source.splitlines() if "=" in line}
    assert {"profile"} <= names and ("results_path" in names or "results_dir" in names)


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "icl_lib", "tests", "notebooks", "benchmarks"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_chapter_code_fits_the_book_column():
    """The book's text column holds 84 characters of code (book/_static/book.css): every line of
    every code cell fits it, and the chapters are formatted to that width (notebooks/ruff.toml)."""
    long = [f"{source.name}: {line}" for source in SOURCES for cell in jupytext.read(source).cells
            if cell.cell_type == "code" for line in cell.source.splitlines() if len(line) > 84]
    assert long == []
    assert re.search(r"^line-length = 84$", (ROOT / "notebooks" / "ruff.toml").read_text(), re.M)
    assert "font-size: 0.78rem" in (ROOT / "book" / "_static" / "book.css").read_text()
    result = subprocess.run([sys.executable, "-m", "ruff", "format", "--check", "notebooks"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_figure_has_a_name_a_caption_and_alt_text(source):
    """Each figure cell is a numbered figure the prose can cite ({numref}), with a caption, and alt
    text that describes it; a caption that names one of the paper's figures says "Paper Figure"."""
    for cell in jupytext.read(source).cells:
        if "plt.show()" not in cell.source:
            continue
        meta = cell.metadata.get("mystnb", {})
        figure, image = meta.get("figure", {}), meta.get("image", {})
        assert figure.get("name", "").startswith("fig-") and len(figure.get("caption", "")) > 40, cell.source[:80]
        assert len(image.get("alt", "")) > 40, f"{figure.get('name')}: no alt text"
        assert not re.search(r"(?<!Paper )(?<!paper's )\bFigures? \d", figure["caption"].split(":")[0]), figure["caption"]


def _shape(source: Path) -> tuple[float, list[int]]:
    """A chapter's share of prose (characters of its Markdown, against those of its code) and the
    length of each code cell in non-blank lines: how the house style measures "reads as prose"
    (the same measure as ../shared/tools/chapter_shape.py)."""
    prose = code = 0
    lengths = []
    for cell in jupytext.read(source).cells:
        lines = [line for line in cell.source.splitlines() if line.strip()]
        if cell.cell_type == "markdown":
            prose += sum(len(line.lstrip("# ")) for line in lines)
        else:
            code += sum(len(line) for line in lines)
            lengths.append(len(lines))
    return prose / (prose + code), lengths


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_each_chapter_reads_as_an_argument(source):
    """At least 40% prose (the Annotated Transformer's 43%), a median code cell of at most 15 lines
    and none over 40: set-up, rules and tables live in icl_lib, the chapter carries the argument."""
    share, lengths = _shape(source)
    assert share >= 0.40, f"{source.name}: {share:.1%} prose"
    assert statistics.median(lengths) <= 15 and max(lengths) <= 40, (source.name, lengths)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_code_is_folded_apart_from_the_parameters_and_the_method(source):
    """Every code cell is folded (hide-input) except the parameters cell and a few cells that state
    the method or a rule, each introduced as such by the Markdown just before it."""
    cells = jupytext.read(source).cells
    shown = [i for i, c in enumerate(cells) if c.cell_type == "code"
             and not {"hide-input", "parameters"} & set(c.metadata.get("tags", []))]
    assert len(shown) <= 5, f"{source.name}: {len(shown)} code cells shown"
    for i in shown:
        intro = cells[i - 1].source.lower() if cells[i - 1].cell_type == "markdown" else ""
        assert "method" in intro or "rule" in intro, (
            f"{source.name}: a shown code cell not introduced as the method or a rule: {cells[i].source[:60]!r}")
