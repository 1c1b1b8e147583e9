"""The analysis cache: a hit returns what was computed, and any change of the inputs or of the
library's source is a miss."""

import pytest
import torch

from icl_lib import analysis_cache, progress
from icl_lib.analysis_cache import ContextSpec, cache_key, cached_call
from icl_lib.baselines import grid_search_adaptive, log_grid

SPEC = ContextSpec("search", 64, n=10, d=3, C=5)


def test_a_search_is_computed_once_and_then_read(tmp_path, monkeypatch):
    log = tmp_path / "build.log"
    monkeypatch.setenv(progress.LOG_ENV, str(log))
    calls = []

    def search(ctx, etas, sigmas, *, include_query):
        calls.append(1)
        return grid_search_adaptive(ctx, etas, sigmas, include_query=include_query)

    etas, sigmas = log_grid(-1.0, 2.0, 5), log_grid(-1.0, 2.0, 4)
    first = cached_call(search, SPEC, etas, sigmas, include_query=False, cache_dir=tmp_path / "cache")
    again = cached_call(search, SPEC, etas, sigmas, include_query=False, cache_dir=tmp_path / "cache")
    assert len(calls) == 1 and first[:2] == again[:2] and torch.equal(first[2], again[2])
    assert first[:2] == grid_search_adaptive(SPEC.draw(), etas, sigmas, include_query=False)[:2]
    text = log.read_text()
    assert "analysis computed: " in text and "analysis cache hit: " in text
    cached_call(search, SPEC, etas, sigmas, include_query=True, cache_dir=tmp_path / "cache")  # another argument
    cached_call(search, ContextSpec("search", 64, n=10, d=3, C=5, seed=1), etas, sigmas, include_query=False,
                cache_dir=tmp_path / "cache")  # other contexts
    cached_call(search, SPEC, etas, sigmas, include_query=False, cache_dir=None)  # no cache
    assert len(calls) == 4 and len(list((tmp_path / "cache").iterdir())) == 3


def test_the_key_covers_the_contexts_the_arguments_and_the_librarys_source(monkeypatch):
    base = cache_key("f", SPEC, torch.tensor([1.0, 2.0]), flag=True)
    assert base == cache_key("f", SPEC, torch.tensor([1.0, 2.0]), flag=True)
    assert base != cache_key("f", SPEC, torch.tensor([1.0, 2.5]), flag=True)
    assert base != cache_key("f", ContextSpec("heldout", 64, n=10, d=3, C=5), torch.tensor([1.0, 2.0]), flag=True)
    assert base != cache_key("g", SPEC, torch.tensor([1.0, 2.0]), flag=True)
    monkeypatch.setattr(analysis_cache, "source_digest", lambda module: "another library")
    assert base != cache_key("f", SPEC, torch.tensor([1.0, 2.0]), flag=True)
    with pytest.raises(ValueError, match="cannot key the analysis cache on object"):
        cache_key("f", object())


def test_the_digest_covers_what_a_function_uses_and_not_the_rest():
    from icl_lib.analysis_cache import dependencies, source_digest

    assert {"icl_lib.baselines", "icl_lib.metrics", "icl_lib.tasks"} <= set(dependencies("icl_lib.baselines"))
    assert "icl_lib.statistics" in dependencies("icl_lib.beyond")  # landscape_set's interval
    assert "icl_lib.expected" not in dependencies("icl_lib.beyond") and "icl_lib.status" not in dependencies("icl_lib.beyond")
    assert source_digest("icl_lib.baselines") != source_digest("icl_lib.beyond")


def test_the_eq1_search_of_chapters_4_5_6_is_one_entry(tmp_path):
    from icl_lib.analysis_cache import eq1_grid_search
    from icl_lib.baselines import adaptive_grid

    ours = eq1_grid_search(SPEC, 6, include_query=False, cache_dir=tmp_path)
    direct = grid_search_adaptive(SPEC.draw(), *adaptive_grid(3, 6), include_query=False)
    assert ours[:2] == direct[:2] and torch.equal(ours[2], direct[2])
    # the same entry as a direct cached call with the same grid: chapter 4's and chapter 6's are shared
    cached_call(grid_search_adaptive, SPEC, *adaptive_grid(3, 6), include_query=False, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
