"""Parameter validation, profiles, results files."""

import json

import pytest

from icl_lib.profiles import PROFILES, check_parameters, resolve_device
from icl_lib.results import read_results, write_results


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"d": -1}, "d=-1 must be >= 2"), ({"C": 1}, "C=1 must be >= 2"), ({"n": 7, "C": 5}, "n=7 must be divisible by C=5"),
    ({"profile": "huge"}, "profile='huge' must be one of"), ({"seed": -3}, "seed=-3"),
    ({"results_path": "out.txt"}, "results_path"),
    ({"dims": [2, 1]}, "dims=1 must be >= 2"), ({"dims": []}, "dims=\\[\\]"), ({"steps": 0}, "steps=0 must be >= 1"),
])
def test_bad_parameters_fail_with_the_name(tmp_path, kwargs, message):
    args = {"profile": "smoke", "results_path": str(tmp_path / "r.json")} | kwargs
    with pytest.raises(ValueError, match=message):
        check_parameters(**args)


def test_profiles_grow(tmp_path):
    smoke, book, paper = PROFILES["smoke"], PROFILES["book"], PROFILES["paper"]
    assert smoke.n_proof_contexts < book.n_proof_contexts <= paper.n_proof_contexts
    assert check_parameters(profile="book", results_path=str(tmp_path / "y.json")) == book


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device='tpu'"):
        resolve_device("tpu")


def test_results_roundtrip_and_schema(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_results(path, chapter="c", profile="smoke", settings={"d": 3}, metrics={"d3.x": 1.5}, paper={"d3.x": 2.0})
    record = read_results(path)
    assert record == {"chapter": "c", "profile": "smoke", "settings": {"d": 3}, "metrics": {"d3.x": 1.5}, "paper": {"d3.x": 2.0}}
    assert json.loads(path.read_text())["metrics"]["d3.x"] == 1.5
    with pytest.raises(ValueError, match="not a finite number"):
        write_results(path, chapter="c", profile="smoke", settings={}, metrics={"x": float("nan")})
    with pytest.raises(ValueError, match="paper values without a metric"):
        write_results(path, chapter="c", profile="smoke", settings={}, metrics={"x": 1.0}, paper={"y": 1.0})
