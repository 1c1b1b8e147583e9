"""Verdicts are shown by the chapters and guarded by the build: no chapter asserts one, a chapter at
a budget too small completes and says "not reproduced", and a changed verdict fails the check."""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from icl_lib import expected
from icl_lib.results import write_results
from icl_lib.thresholds import THRESHOLDS, thresholds_table
from icl_lib.verdicts import Verdict

ROOT = Path(__file__).resolve().parents[1]


def test_no_chapter_asserts_a_verdict_or_a_rule_threshold():
    pattern = re.compile(r"^\s*assert\b.*(verdict|reproduced|< tolerance|min_cos|max_diff|settled|choice ==|rho|_p\b|\]\[2\] >|"
                         r"1e-3|mirrored <)", re.M)
    for source in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        assert not pattern.findall(source.read_text()), f"{source.name} asserts a verdict or its rule"


def _results(tmp_path, verdicts, findings=None, metrics=None):
    write_results(tmp_path / "05_extraction.json", chapter="05_extraction", profile="book", settings={},
                  metrics=metrics or {"d3.reading_by_grid_include_query": 0.0}, verdicts=verdicts, findings=findings)


def test_a_changed_verdict_fails_the_check(tmp_path, monkeypatch):
    good = [Verdict("extracted_d3", "(7.1, 31)", "c", "s", "reproduced")]
    monkeypatch.setitem(expected.EXPECTED, "book", {("05_extraction", "extracted_d3"): "reproduced",
                                                    ("05_extraction", "metric:d3.reading_by_grid_include_query"): 0.0})
    _results(tmp_path, good)
    assert expected.mismatches(tmp_path, "book") == []
    assert expected.main([str(tmp_path), "--profile", "book"]) == 0
    _results(tmp_path, [Verdict("extracted_d3", "(5, 25)", "c", "s", "not reproduced")])
    assert expected.mismatches(tmp_path, "book") == [
        "05_extraction: extracted_d3: expected 'reproduced', got 'not reproduced'"]
    assert expected.main([str(tmp_path), "--profile", "book"]) == 1
    _results(tmp_path, good, metrics={"d3.reading_by_grid_include_query": 1.0})  # the reading's evidence moved
    assert len(expected.mismatches(tmp_path, "book")) == 1


def test_a_missing_claim_or_finding_fails_the_check(tmp_path, monkeypatch):
    monkeypatch.setitem(expected.EXPECTED, "book", {("05_extraction", "extraction_works"): "reproduced",
                                                    ("05_extraction", "finding:x"): "a valley"})
    _results(tmp_path, [], findings={"x": "an interior optimum"})
    wrong = expected.mismatches(tmp_path, "book")
    assert wrong == ["05_extraction: extraction_works: expected 'reproduced', got 'missing'",
                     "05_extraction: finding:x: expected 'a valley', got 'an interior optimum'"]


def test_every_expected_claim_is_a_claim_of_the_paper():
    from icl_lib.paper import CLAIMS

    for profile, entries in expected.EXPECTED.items():
        for chapter, claim in entries:
            assert (ROOT / "notebooks" / f"{chapter}.py").is_file(), (profile, chapter)
            assert claim.startswith(("finding:", "metric:")) or claim in CLAIMS, (profile, claim)


def test_the_thresholds_table_gives_each_a_reason_and_reads_the_measured_value(tmp_path):
    assert all(len(t.reason) > 40 for t in THRESHOLDS)
    write_results(tmp_path / "09_beyond.json", chapter="09_beyond", profile="book", settings={},
                  metrics={"d2.n100.loss_se_512_relative": 0.0375})
    table = thresholds_table(tmp_path)
    assert len(table.rows) == len(THRESHOLDS)
    measured = {row[0].split(" (")[0]: row[3] for row in table.rows}
    assert "0.0375 (09_beyond)" in measured["a gain matters"]
    assert "not computed in this build" in measured["near-optimal set"]  # no 06 results here


def test_chapter_3_at_a_budget_too_small_completes_and_says_not_reproduced(tmp_path):
    """A reader's rerun at 40 steps: the chapter runs to its end and its results answer "not
    reproduced", where it used to stop on an assertion."""
    notebook = tmp_path / "03.ipynb"
    bin_dir = Path(sys.executable).parent
    subprocess.run([bin_dir / "jupytext", "--quiet", "--to", "ipynb", "-o", notebook,
                    ROOT / "notebooks" / "03_linear_vs_gd.py"], check=True)
    results = tmp_path / "03.json"
    subprocess.run([bin_dir / "papermill", "--no-progress-bar", notebook, tmp_path / "out.ipynb", "-p", "profile", "smoke",
                    "-p", "steps", "40", "-y", "dims: [3]", "-p", "results_path", str(results),
                    "-p", "runs_dir", str(tmp_path / "runs")], check=True, capture_output=True, cwd=tmp_path)
    (verdict,) = json.loads(results.read_text())["verdicts"]
    assert verdict["claim"] == "linear_learns_gd" and verdict["verdict"] == "not reproduced"
    assert "0.08% of the paper's" not in verdict["setting"] and "of the paper's 200,000 × 2048" in verdict["setting"]


@pytest.mark.parametrize("profile", ["book", "smoke"])
def test_the_makefile_checks_the_expected_verdicts_after_the_chapters(profile):
    makefile = (ROOT / "Makefile").read_text()
    execute = makefile[makefile.index("\nexecute:"):makefile.index("\nbook:")]
    assert "-m icl_lib.expected $(TREE)/results --profile $(PROFILE)" in execute
    assert profile in expected.EXPECTED


def test_the_flattening_rule_is_ten_percent_per_tenth_of_the_run():
    from icl_lib.curves import flattening_step
    from icl_lib.thresholds import flat_rule

    rate, window = flat_rule(60_000, 121)
    assert rate == pytest.approx(math.log(1.1) / 6000) and window == 12
    steps = np.linspace(0, 60_000, 121)
    growing = np.exp(steps * 2 * rate)  # twice the threshold throughout: never flat
    assert flattening_step(steps, growing, threshold=rate, window=window) is None
    flat_late = np.exp(np.minimum(steps, 30_000) * 2 * rate)  # stops growing half way
    # found within one window before the kink: the window that starts there already fits under the rate
    assert 30_000 - 6000 <= flattening_step(steps, flat_late, threshold=rate, window=window) <= 30_000


@pytest.mark.parametrize(("chapter", "args", "message"), [
    ("07_selection_vs_elimination", ["-p", "first_seed", "-1"], "first_seed=-1 must be >= 0"),
    ("06_d10_dynamics", ["-y", "lrs: [[0.01]]"], "lrs=[0.01] must be a finite number"),
    ("04_softmax_vs_kernel_gd", ["-p", "control_seeds", "0"], "control_seeds=0 must be >= 2"),
    ("03_linear_vs_gd", ["-p", "control_seeds", "False"], "control_seeds=False must be an integer"),
])
def test_a_bad_parameter_is_named_before_any_work(tmp_path, chapter, args, message):
    notebook = tmp_path / "in.ipynb"
    bin_dir = Path(sys.executable).parent
    subprocess.run([bin_dir / "jupytext", "--quiet", "--to", "ipynb", "-o", notebook, ROOT / "notebooks" / f"{chapter}.py"],
                   check=True)
    done = subprocess.run([bin_dir / "papermill", "--no-progress-bar", notebook, tmp_path / "out.ipynb", "-p", "profile",
                           "smoke", *args, "-p", "results_path", str(tmp_path / "r.json"), "-p", "runs_dir",
                           str(tmp_path / "runs")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0 and message in done.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "r.json").exists()


def test_chapter_9_refuses_contexts_too_many_for_memory_before_training(tmp_path):
    notebook = tmp_path / "in.ipynb"
    bin_dir = Path(sys.executable).parent
    subprocess.run([bin_dir / "jupytext", "--quiet", "--to", "ipynb", "-o", notebook, ROOT / "notebooks" / "09_beyond.py"],
                   check=True)
    done = subprocess.run([bin_dir / "papermill", "--no-progress-bar", notebook, tmp_path / "out.ipynb", "-p", "profile",
                           "smoke", "-p", "contexts", str(10**9), "-p", "results_path", str(tmp_path / "r.json"),
                           "-p", "runs_dir", str(tmp_path / "runs")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0 and "contexts: 1000000000 search and" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_the_readmes_rerun_leaves_the_books_outputs_untouched(tmp_path):
    """The README's rerun example, run as written in a book tree: the book's executed notebook and
    results stay as they were; the rerun's results go to _build/rerun/ with the parameters it
    changed, and the book's pages refuse them."""
    from icl_lib.results import read_book_results

    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Rerunning a chapter\n\n```bash\n(.*?)```", readme, re.S).group(1)
    bin_dir = Path(sys.executable).parent
    for folder in ("notebooks", "executed", "results"):
        (tmp_path / folder).mkdir()
    (tmp_path / "_toc.yml").write_text("root: book/intro\n")
    (tmp_path / "Makefile").write_text("")
    subprocess.run([bin_dir / "jupytext", "--quiet", "--to", "ipynb", "-o", tmp_path / "notebooks" / "02_proofs.ipynb",
                    ROOT / "notebooks" / "02_proofs.py"], check=True)
    book_files = {tmp_path / "executed" / "02_proofs.ipynb": "the book's notebook",
                  tmp_path / "results" / "02_proofs.json": "the book's results"}
    for path, text in book_files.items():
        path.write_text(text)
    for line in block.strip().splitlines():
        subprocess.run(line.replace(".venv/bin/", f"{bin_dir}/"), shell=True, check=True, cwd=tmp_path,
                       capture_output=True)
    assert all(path.read_text() == text for path, text in book_files.items())
    rerun = json.loads((tmp_path / "_build" / "rerun" / "results" / "02_proofs.json").read_text())
    assert rerun["overrides"] == {"d": 10, "n": 50} and rerun["profile"] == "book"
    with pytest.raises(ValueError, match="02_proofs.json.*'d': 10"):
        read_book_results(tmp_path / "_build" / "rerun" / "results", ["02_proofs"], profile="book")
