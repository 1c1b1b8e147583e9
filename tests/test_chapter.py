"""The set-up and record calls every chapter makes (icl_lib.chapter)."""

import json

import pytest

from icl_lib import thresholds
from icl_lib.chapter import record_results, set_up
from icl_lib.profiles import get_profile, notebook_defaults
from icl_lib.readings import INCLUDE_QUERY
from icl_lib.verdicts import REPRODUCED, Verdict

CHAPTERS = ("01_task", "02_proofs", "03_linear_vs_gd", "04_softmax_vs_kernel_gd", "05_extraction",
            "06_d10_dynamics", "07_selection_vs_elimination", "08_recipe", "09_beyond",
            "10_two_layer")


def parameters(chapter, tmp_path, **changes):
    """A chapter's own parameters cell, writing to tmp_path, with `changes`."""
    values = notebook_defaults(chapter) | {"results_path": str(tmp_path / f"{chapter}.json")}
    if "runs_dir" in values:
        values["runs_dir"] = str(tmp_path / "runs")
    return values | changes


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapters_defaults_pass_and_fill_in_the_profiles_values(chapter, tmp_path):
    for profile in ("smoke", "book"):
        ch = set_up(chapter, parameters(chapter, tmp_path, profile=profile))
        prof = get_profile(profile)
        assert ch.profile == prof and ch.device == "cpu" and ch.overrides == {}
        assert ch.results_path == str(tmp_path / f"{chapter}.json")
        expected = {
            "03_linear_vs_gd": {"dims": list(prof.dims), "control_seeds": prof.control_seeds},
            "04_softmax_vs_kernel_gd": {"dims": list(prof.dims), "control_seeds": prof.control_seeds},
            "05_extraction": {"dims": list(prof.dims)},
            "06_d10_dynamics": {"d": prof.dynamics_setting.d, "lrs": tuple(sorted(prof.dynamics_setting.lrs)),
                                "include_query": INCLUDE_QUERY, "plateau_fraction": thresholds.PLATEAU_FRACTION},
            "07_selection_vs_elimination": {"dims": list(prof.selection_sweep.dims),
                                            "classes": list(prof.selection_sweep.classes),
                                            "lengths": list(prof.selection_sweep.lengths),
                                            "n_seeds": prof.selection_sweep.n_seeds,
                                            "min_agreement": thresholds.MIN_AGREEMENT,
                                            "max_loss_fraction": thresholds.MAX_LOSS_FRACTION},
            "08_recipe": {"dims": list(prof.dims), "init_seeds": prof.init_seeds,
                          "settle_tolerance": thresholds.SETTLE_TOLERANCE,
                          "init_tolerance": thresholds.INIT_TOLERANCE},
            "09_beyond": {"dims": sorted(prof.dims), "lengths": sorted(prof.beyond.lengths),
                          "contexts": prof.beyond.contexts, "min_gain": thresholds.MIN_GAIN,
                          "within": thresholds.NEAR_OPTIMAL},
            "10_two_layer": {"dims": list(prof.two_layer_setting.dims), "n_seeds": prof.two_layer_setting.seeds,
                             "contexts": prof.two_layer_setting.contexts, "min_gain": thresholds.MIN_GAIN},
        }.get(chapter, {})
        for name, value in expected.items():
            assert getattr(ch, name) == value, (chapter, profile, name)


@pytest.mark.parametrize(("chapter", "changes", "message"), [
    ("03_linear_vs_gd", {"control_seeds": 0}, "control_seeds=0 must be >= 1"),
    ("04_softmax_vs_kernel_gd", {"control_seeds": 1}, "control_seeds=1 must be >= 2"),
    ("04_softmax_vs_kernel_gd", {"control_seeds": False}, "control_seeds=False"),
    ("04_softmax_vs_kernel_gd", {"compare_paper_lr": "yes"}, "compare_paper_lr='yes' must be True or False"),
    ("04_softmax_vs_kernel_gd", {"lr": True}, "lr=True must be a finite number > 0"),
    ("04_softmax_vs_kernel_gd", {"dims": [1]}, "dims=1"),
    ("02_proofs", {"tolerance": 1e-3}, r"tolerance=0.001 must be in \(0, 1e-6\)"),
    ("05_extraction", {"figure_d": 7}, r"figure_d=7 must be one of dims=\[2, 3, 5, 10\]"),
    ("06_d10_dynamics", {"lrs": [[0.01]]}, "lrs="),
    ("06_d10_dynamics", {"plateau_fraction": 1}, r"plateau_fraction=1 must be a number in \(0, 1\)"),
    ("07_selection_vs_elimination", {"first_seed": -1}, "first_seed=-1"),
    ("07_selection_vs_elimination", {"min_agreement": 2}, "min_agreement=2"),
    ("08_recipe", {"extra_lrs": ["3e-4"]}, "extra_lrs="),
    ("08_recipe", {"init_seeds": 0}, "init_seeds=0"),
    ("09_beyond", {"n": 30}, r"n=30 must be one of lengths="),
    ("09_beyond", {"contexts": 10**12}, "contexts"),
    ("09_beyond", {"within": 0}, "within=0"),
    ("10_two_layer", {"n_seeds": 1}, "n_seeds=1 must be >= 2"),
    ("10_two_layer", {"contexts": 10**9}, "contexts"),
    ("10_two_layer", {"min_gain": -0.1}, "min_gain=-0.1"),
    ("01_task", {"seed": -1}, "seed=-1"),
])
def test_a_bad_parameter_is_named_before_any_work(chapter, changes, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        set_up(chapter, parameters(chapter, tmp_path, **changes))
    assert list(tmp_path.iterdir()) == []  # nothing written, no runs folder made


def test_a_parameter_given_is_kept_and_recorded_as_an_override(tmp_path):
    ch = set_up("04_softmax_vs_kernel_gd", parameters("04_softmax_vs_kernel_gd", tmp_path, dims=[3], control_seeds=4))
    assert (ch.dims, ch.control_seeds) == ([3], 4)
    assert ch.overrides == {"dims": [3], "control_seeds": 4}
    with pytest.raises(AttributeError, match="no parameter 'figure_d'"):
        _ = ch.figure_d


def test_record_writes_results_and_pages_and_says_so(tmp_path, capsys):
    ch = set_up("08_recipe", parameters("08_recipe", tmp_path, profile="smoke"))
    verdict = Verdict(claim="extracted_d3_constant_lr", ours="o", criterion="k", setting="x", verdict=REPRODUCED)
    record_results(ch, settings={"a": 1}, metrics={"m": 1.5}, paper={"m": 2.0}, verdicts=[verdict],
                   pages={"recipe.md": "| a |\n"})
    written = json.loads((tmp_path / "08_recipe.json").read_text())
    assert written["metrics"] == {"m": 1.5} and written["paper"] == {"m": 2.0}
    assert written["profile"] == "smoke" and written["chapter"] == "08_recipe"
    assert [v["verdict"] for v in written["verdicts"]] == [REPRODUCED]
    assert (tmp_path / "recipe.md").read_text() == "| a |\n"
    out = capsys.readouterr().out
    assert "wrote 1 metrics, 1 verdict to" in out and "recipe.md beside it" in out
    with pytest.raises(ValueError, match="not a finite number"):
        record_results(ch, settings={}, metrics={"m": float("nan")})


def test_a_table_from_records_formats_each_column_and_names_a_missing_key():
    from icl_lib.results import Table

    records = [{"d": 2, "loss": 0.12345, "gain": None}, {"d": 10, "loss": 1.5, "gain": -0.0001}]
    table = Table.from_records(records, {"d": "d", "held-out loss": "loss", "gain": "gain"},
                               {"loss": ".3f", "gain": "+.1e"})
    assert table.header == ("d", "held-out loss", "gain")
    assert table.rows == [("2", "0.123", "—"), ("10", "1.500", "-1.0e-04")]
    with pytest.raises(KeyError, match="no 'accuracy'"):
        Table.from_records(records, {"accuracy": "accuracy"})


def test_flatten_names_nested_metrics_with_dots():
    from icl_lib.results import flatten

    assert flatten({"d3": {"loss": 1, "include_query_False": {"cos_sim": 0.5}}, "top": 2.0}) == {
        "d3.loss": 1.0, "d3.include_query_False.cos_sim": 0.5, "top": 2.0}
    assert all(type(v) is float for v in flatten({"a": {"b": 1}}).values())


def test_a_table_from_records_without_columns_takes_the_keys_as_headers():
    from icl_lib.results import Table

    table = Table.from_records([{"d": 3, "cos sim": 0.99912, "loss": 0.123456}], formats={"cos sim": ".3f"})
    assert table.header == ("d", "cos sim", "loss") and table.rows == [("3", "0.999", "0.1235")]
    assert Table.from_records([]).rows == []


def test_span_says_a_range_or_one_number():
    from icl_lib.results import span

    assert span([0.05, 0.00501, 0.0312]) == "0.0050–0.0500"
    assert span([0.02701, 0.02704], ".3f") == "0.027"
    assert span([]) == "—"


def test_table_cells_carry_their_column_and_links_render_in_html_and_markdown():
    from icl_lib.results import Link, Table

    table = Table.from_records([{"claim": "<b>x</b>", "ch.": Link("04", "../executed/04.html")}], classes="cards")
    html = table._repr_html_()
    assert '<td data-label="claim">&lt;b&gt;x&lt;/b&gt;</td>' in html
    assert '<td data-label="ch."><a href="../executed/04.html">04</a></td>' in html and 'class="table book-table cards"' in html
    assert table.markdown().splitlines()[-1] == "| &lt;b&gt;x&lt;/b&gt; | [04](../executed/04.html) |"
    assert repr(table).splitlines()[-1] == "<b>x</b> | 04"
    rows = Table(("a",), [("1",), ("2",)], row_classes=["", 'x"><script>'])._repr_html_()
    assert "<tr><td" in rows and '<tr class="x&quot;&gt;&lt;script&gt;">' in rows  # a class is escaped too
    with pytest.raises(ValueError, match="1 row classes for 2 rows"):
        Table(("a",), [("1",), ("2",)], row_classes=["x"])
