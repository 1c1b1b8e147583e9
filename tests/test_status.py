"""The status page is written from papermill's records of the executed notebooks."""

import json

import pytest

from icl_lib.status import chapter_status, status_markdown, write_status


def _notebook(path, title, seconds, *, profile="smoke", exception=None, papermill=True):
    metadata = {"papermill": {"duration": seconds, "start_time": "2026-11-30T10:20:54.65+00:00", "exception": exception,
                              "parameters": {"profile": profile}}} if papermill else {}
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": [f"# {title}\n", "text"]}],
                                "metadata": metadata}))


def test_status_lists_every_chapter_with_its_wall_time_and_profile(tmp_path):
    _notebook(tmp_path / "01_task.ipynb", "The task", 65.4)
    _notebook(tmp_path / "02_proofs.ipynb", "The proofs", 7.2, profile="book", exception=True)
    (tmp_path / "README.ipynb").write_text("{}")  # not a chapter: ignored
    text = status_markdown(tmp_path)
    lines = text.splitlines()
    assert lines[2] == "| The task | smoke | 2026-11-30 10:20 | 1 min 05 s | ran to the end |"
    assert lines[3] == "| The proofs | book | 2026-11-30 10:20 | 7 s | raised an error |"
    assert "All chapters: 1 min 13 s; every run came from the cache" in text
    out = write_status(tmp_path, tmp_path / "results" / "status.md")
    assert out.read_text() == text or out.read_text().splitlines()[:4] == lines[:4]


def test_a_notebook_not_run_by_papermill_is_named(tmp_path):
    _notebook(tmp_path / "03_linear.ipynb", "Linear", 1.0, papermill=False)
    with pytest.raises(ValueError, match="03_linear.ipynb was not executed by papermill"):
        chapter_status(tmp_path / "03_linear.ipynb")
    with pytest.raises(ValueError, match="no executed chapters"):
        status_markdown(tmp_path / "empty")


def test_html_in_a_parameter_reaches_the_page_as_text(tmp_path):
    _notebook(tmp_path / "01_task.ipynb", "The <b>task</b>", 1.0, profile="<script>alert(1)</script>")
    text = status_markdown(tmp_path)
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "The &lt;b&gt;task&lt;/b&gt;" in text


def test_a_chapter_ends_with_one_line_of_wall_time_and_verdicts(tmp_path):
    from icl_lib.results import write_results
    from icl_lib.status import chapter_line
    from icl_lib.verdicts import Verdict

    _notebook(tmp_path / "04_softmax_vs_kernel_gd.ipynb", "Softmax", 312.2)
    write_results(tmp_path / "04_softmax_vs_kernel_gd.json", chapter="04_softmax_vs_kernel_gd", profile="book",
                  settings={}, metrics={}, verdicts=[Verdict("softmax_learns_eq1", "o", "c", "s", "reproduced"),
                                                     Verdict("adaptive_not_simpler", "o", "c", "s", "not resolved")])
    line = chapter_line(tmp_path / "04_softmax_vs_kernel_gd.ipynb", tmp_path)
    assert line == "04 softmax vs kernel gd: 5 min 12 s; 1 not resolved, 1 reproduced"


def test_the_status_gives_the_share_of_training_from_the_build_log(tmp_path):
    _notebook(tmp_path / "03_linear.ipynb", "Linear", 200.0)
    log = tmp_path / "build.log"
    log.write_text("10:00:00 training run 1/2: linear d=2 (10,000 steps; all left: about 1 min 00 s)\n"
                   "10:01:00 trained 2 run(s) in 1 min 40 s\n10:02:00 03 linear: 3 min 20 s; 1 reproduced\n"
                   "10:03:00 trained 1 run(s) in 20 s\n10:04:00 analysis cache hit: x\n"
                   "10:04:01 analysis computed: y in 3.0 s\n10:04:02 analysis cache hit: z\n")
    text = status_markdown(tmp_path, log)
    assert "All chapters: 3 min 20 s, of which training 2 min 00 s (60%)" in text
    assert "2 searches read, 1 computed" in text
    assert "every run came from the cache" in status_markdown(tmp_path, tmp_path / "missing.log")


def test_the_status_says_what_make_train_did_before_the_chapters(tmp_path):
    _notebook(tmp_path / "03_linear.ipynb", "Linear", 20.0)
    train = tmp_path / "train.log"
    train.write_text("10:00:00 training 50 run(s) on 2 worker(s); about 30 min 00 s by the measured rates\n"
                     "10:10:00 run 1/50: linear d=2 trained; about 20 min 00 s left\n"
                     "10:31:05 trained 50 run(s) in 31 min 05 s\n")
    text = status_markdown(tmp_path, tmp_path / "build.log", train)
    assert "Before the chapters, `make train` trained 50 run(s) on 2 worker(s) in 31 min 05 s." in text
    assert "make train" not in status_markdown(tmp_path, tmp_path / "build.log", tmp_path / "none.log")
