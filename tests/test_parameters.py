"""Parameter validation, profiles, results files."""

import json
import os
from pathlib import Path

import pytest

from icl_lib.profiles import PROFILES, Dynamics, check_parameters
from icl_lib.results import read_results, write_results
from icl_lib.training import resolve_device


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"d": -1}, "d=-1 must be >= 2"), ({"C": 1}, "C=1 must be >= 2"), ({"n": 7, "C": 5}, "n=7 must be divisible by C=5"),
    ({"profile": "huge"}, "profile='huge' must be one of"), ({"seed": -3}, "seed=-3"),
    ({"results_path": "out.txt"}, "results_path"),
    ({"dims": [2, 1]}, "dims=1 must be >= 2"), ({"dims": []}, "dims=\\[\\]"), ({"steps": 0}, "steps=0 must be >= 1"),
    ({"classes": [2, 1]}, "classes=1 must be >= 2"), ({"classes": [3], "n": 100}, "classes=\\[3\\].*divide n=100"),
    ({"lengths": [0]}, "lengths=0 must be >= 1"), ({"lengths": [20, 52], "C": 5}, "lengths=\\[20, 52\\].*multiple of C=5"),
    ({"classes": "5"}, "classes='5' must be a non-empty list"),
    ({"scheduler": "host:8786"}, "scheduler='host:8786' must be None"), ({"scheduler": "local:0"}, "scheduler='local:0'"),
    ({"scheduler": 8786}, "scheduler=8786"),
])
def test_bad_parameters_fail_with_the_name(tmp_path, kwargs, message):
    args = {"profile": "smoke", "results_path": str(tmp_path / "r.json")} | kwargs
    with pytest.raises(ValueError, match=message):
        check_parameters(**args)


def test_output_paths_are_checked_before_any_work_and_nothing_is_created(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="runs_dir=5 must be a path"):
        check_parameters(profile="smoke", results_path=str(tmp_path / "r.json"), runs_dir=5)
    with pytest.raises(ValueError, match="is a file, not a folder"):
        check_parameters(profile="smoke", results_path=str(blocker / "r.json"))
    with pytest.raises(ValueError, match="runs_dir=.*is a file"):
        check_parameters(profile="smoke", results_path=str(tmp_path / "r.json"), runs_dir=str(blocker))
    (tmp_path / "taken.json").mkdir()
    with pytest.raises(ValueError, match="results_path=.*taken.json' is a folder; it must name a .json file"):
        check_parameters(profile="smoke", results_path=str(tmp_path / "taken.json"))
    check_parameters(profile="smoke", results_path=str(tmp_path / "new" / "r.json"), runs_dir=str(tmp_path / "runs"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "taken.json"]  # validation creates nothing


def test_a_read_only_results_folder_is_refused_at_once(tmp_path, monkeypatch):
    """os.access says the folder is read-only (as it would for a non-root user on a 0500 folder)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != folder)
    with pytest.raises(ValueError, match="results_path=.*ro is not writable"):
        check_parameters(profile="smoke", results_path=str(folder / "r.json"))


def test_default_outputs_go_to_the_books_tree_wherever_papermill_runs(tmp_path, monkeypatch):
    from icl_lib.profiles import book_root, output_path

    (tmp_path / "_toc.yml").write_text("root: intro\n")
    (tmp_path / "executed").mkdir()
    for cwd in (tmp_path, tmp_path / "executed"):  # papermill --cwd executed, or run from the repository's root
        monkeypatch.chdir(cwd)
        assert book_root() == tmp_path
        assert output_path(None, "results/01_task.json") == str(tmp_path / "results" / "01_task.json")
    assert output_path("elsewhere/r.json", "results/01_task.json") == "elsewhere/r.json"


def test_the_paper_profile_runs_the_papers_budgets():
    """Appendix G's budgets; Appendix I's "60,000 evaluation iterations" of every 100 steps are 6,000,000 steps."""
    paper = PROFILES["paper"]
    assert paper.linear.steps == 200_000 and paper.softmax.steps == 2_000_000
    assert paper.linear.batch_size == paper.softmax.batch_size == paper.dynamics.batch_size == 2048
    assert paper.dynamics.steps == 6_000_000 and paper.dynamics_setting == Dynamics(d=10, lrs=(5e-5, 1e-4, 8e-4, 3e-3))
    assert (paper.n_search, paper.n_eval, paper.n_align, paper.grid_points) == (10_000, 512, 100, 100)


def test_parameters_left_at_none_take_the_profiles_value(tmp_path):
    """Chapters pass steps=None, batch_size=None, ...: not checked; a given value is."""
    check_parameters(profile="smoke", results_path=str(tmp_path / "r.json"), steps=None, batch_size=None)
    with pytest.raises(ValueError, match="batch_size=0"):
        check_parameters(profile="smoke", results_path=str(tmp_path / "r.json"), steps=None, batch_size=0)


def test_profiles_grow(tmp_path):
    smoke, book, paper = PROFILES["smoke"], PROFILES["book"], PROFILES["paper"]
    assert smoke.n_proof_contexts < book.n_proof_contexts <= paper.n_proof_contexts
    assert check_parameters(profile="book", results_path=str(tmp_path / "y.json")) == book


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device='tpu'"):
        resolve_device("tpu")


def test_results_roundtrip_and_schema(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_results(path, chapter="c", profile="smoke", settings={"d": 3}, metrics={"d3.x": 1.5}, paper={"d3.x": 2.0})
    record = read_results(path)
    assert record == {"chapter": "c", "profile": "smoke", "settings": {"d": 3}, "metrics": {"d3.x": 1.5}, "paper": {"d3.x": 2.0},
                      "verdicts": [], "findings": {}, "overrides": {}}
    assert json.loads(path.read_text())["metrics"]["d3.x"] == 1.5
    with pytest.raises(ValueError, match="not a finite number"):
        write_results(path, chapter="c", profile="smoke", settings={}, metrics={"x": float("nan")})
    with pytest.raises(ValueError, match="paper values without a metric"):
        write_results(path, chapter="c", profile="smoke", settings={}, metrics={"x": 1.0}, paper={"y": 1.0})


def test_training_settings_fill_the_papers_softmax_rates():
    from icl_lib.paper import SOFTMAX_LR, softmax_lr

    paper = PROFILES["paper"]
    assert paper.training_settings("softmax", 3)["lr"] == 3e-5 and paper.training_settings("softmax", 10)["lr"] == 5e-4
    assert paper.training_settings("softmax", 3)["steps"] == 2_000_000
    assert paper.training_settings("linear", 5) == paper.linear.fields(5) and paper.linear.lr == 5e-5
    assert SOFTMAX_LR == {2: 6e-4, 3: 3e-5, 5: 1e-4, 10: 5e-4}  # Appendix G
    assert softmax_lr(4) == 3e-5 and softmax_lr(8) == 5e-4  # nearest listed d (ties: the smaller)
    with pytest.raises(ValueError, match="kind='kernel'"):
        paper.training_settings("kernel", 3)
    # chapter 07's many-seed runs: the paper's softmax settings in the paper profile, 20 seeds as Figure 11
    assert paper.training_settings("selection", 2)["lr"] == 6e-4 and paper.selection_sweep.n_seeds == 20
    assert PROFILES["book"].selection_sweep.n_seeds == 20
    # chapter 06: the four constant rates of Figure 10 at d = 10, one ensemble member each
    for name in ("book", "paper"):
        dynamics = PROFILES[name].training_settings("dynamics", 10)
        assert dynamics["lr"] == (5e-5, 1e-4, 8e-4, 3e-3) and dynamics["schedule"] == "constant"
        assert PROFILES[name].dynamics_setting.d == 10
    assert PROFILES["paper"].dynamics.batch_size == 2048 and PROFILES["paper"].dynamics.steps == 6_000_000
    assert PROFILES["book"].dynamics.steps == 60_000  # 1% of the paper's steps (chapter 06 says so)


def test_config_from_profile_ignores_none_overrides():
    from icl_lib.training import config_from_profile

    book = PROFILES["book"]
    cfg = config_from_profile("linear", 5, book.training_settings("linear", 5), steps=None, lr=None, seeds=[3])
    assert cfg.steps == book.linear.steps and cfg.lr == book.linear.lr and cfg.seeds == (3,)
    assert config_from_profile("linear", 5, book.training_settings("linear", 5), steps=7).steps == 7
    with pytest.raises(ValueError, match="no learning rate"):
        config_from_profile("softmax", 3, book.training_settings("linear", 3) | {"lr": None})
    # d = 2 trains longer in the book profile (its optimum is nearly nearest-neighbour); other d do not
    assert book.training_settings("softmax", 2)["steps"] == 12_000 and book.training_settings("softmax", 3)["steps"] == 3000


def test_fraction_and_bool_checks_name_the_parameter():
    from icl_lib.validation import check_bool, check_fraction

    assert check_fraction("f", 1) == 1.0 and check_fraction("f", 0.5, include_one=False) == 0.5
    for bad in (0, -0.1, 1.5, True, "0.5", float("nan")):
        with pytest.raises(ValueError, match=r"f=.* must be a number in \(0, 1\]"):
            check_fraction("f", bad)
    with pytest.raises(ValueError, match=r"plateau_fraction=1 must be a number in \(0, 1\)"):
        check_fraction("plateau_fraction", 1, include_one=False)
    assert check_bool("include_query", False) is False
    with pytest.raises(ValueError, match="include_query='yes' must be True or False"):
        check_bool("include_query", "yes")


def test_budget_text_names_the_dimensions_with_another_budget():
    from icl_lib.training import budget_text, config_from_profile

    book = PROFILES["book"]
    configs = [config_from_profile("softmax", d, book.training_settings("softmax", d)) for d in (2, 3, 5, 10)]
    assert budget_text(configs) == "3000 steps × 1024 (d=2: 12000 steps)"
    assert budget_text(configs[1:]) == "3000 steps × 1024"


@pytest.mark.parametrize(("values", "message"), [
    ([[0.01]], "lrs=\\[0.01\\] must be a finite number"), (["3e-4"], "is text, not a number"),
    ([1e-3, 1e-3], "must not repeat"), ([], "non-empty list"), (0.01, "must be a non-empty list"), ([True], "lrs=True"),
])
def test_rate_lists_name_the_parameter(values, message):
    from icl_lib.validation import check_rates

    with pytest.raises(ValueError, match=message):
        check_rates("lrs", values)
    assert check_rates("lrs", [3e-4, 1e-3]) == (3e-4, 1e-3) and check_rates("extra_lrs", [], empty=True) == ()


def test_only_a_chapters_own_parameters_and_tree_profile_write_to_the_books_tree(tmp_path, monkeypatch):
    from icl_lib.profiles import chapter_outputs, notebook_defaults

    defaults = notebook_defaults("02_proofs")
    assert defaults["profile"] == "book" and defaults["d"] == 5 and defaults["results_path"] is None
    book = tmp_path / "book"
    for folder in (book / "notebooks", book / "executed", book / "_build" / "smoke" / "executed"):
        folder.mkdir(parents=True)
    for tree in (book, book / "_build" / "smoke"):
        (tree / "_toc.yml").write_text("root: intro\n")
    (book / "Makefile").write_text("")
    monkeypatch.chdir(book / "executed")
    assert chapter_outputs("02_proofs", defaults) == (str(book / "results" / "02_proofs.json"), str(book / "runs"), {})
    rerun = str(book / "_build" / "rerun" / "results" / "02_proofs.json")
    assert chapter_outputs("02_proofs", defaults | {"d": 10}) == (rerun, str(book / "runs"), {"d": 10})
    assert chapter_outputs("02_proofs", defaults | {"profile": "smoke"})[0] == rerun  # another profile's results
    assert chapter_outputs("02_proofs", defaults | {"device": "cpu"})[2] == {}  # where it runs is no override
    monkeypatch.chdir(book / "_build" / "smoke" / "executed")  # make test's tree
    smoke = book / "_build" / "smoke"
    assert chapter_outputs("02_proofs", defaults | {"profile": "smoke"})[0] == str(smoke / "results" / "02_proofs.json")
    assert chapter_outputs("02_proofs", defaults | {"results_path": "x.json", "d": 4})[0] == "x.json"
