"""The seed namespace (`icl_lib.streams`): data sets of different purposes never share a context."""

import pytest
import torch

from icl_lib.streams import PURPOSES, _purpose_id, contexts_for, stream_seed
from icl_lib.tasks import Contexts, sample_contexts
from icl_lib.training import TrainConfig, _batch, eval_contexts, training_batch


def _fingerprints(ctx: Contexts) -> set[bytes]:
    """One fingerprint per context: its float64 prototypes, drawn first from the context's stream."""
    z = ctx.prototypes.to(torch.float64).numpy()
    return {z[b].tobytes() for b in range(ctx.batch_size)}


def _config(d, shared_data):
    return TrainConfig(kind="softmax", d=d, steps=50, lr=1e-3, clip=1.0, C=4, n=20, batch_size=64, seeds=(0, 1),
                       shared_data=shared_data, n_eval=128)


@pytest.mark.parametrize("d", [2, 3])
def test_no_evaluation_search_or_alignment_context_is_a_training_context(d):
    """The first 50 steps of a run (shared data and each member's own stream) against the run's
    evaluation set and every other purpose's set, at the seeds the chapters use (0 and 1)."""
    training = set()
    for shared in (True, False):
        config = _config(d, shared)
        for step in range(50):
            for member in range(config.ensemble):
                training |= _fingerprints(training_batch(config, step, member, dtype=torch.float64))
    assert len(training) == 50 * 64 * 3  # the shared stream and two members' streams, every context distinct
    others = _fingerprints(eval_contexts(_config(d, True)))
    for purpose in PURPOSES:
        if purpose != "train":
            for seed in (0, 1):
                others |= _fingerprints(contexts_for(purpose, 256, n=20, d=d, C=4, seed=seed))
    assert not training & others


@pytest.mark.parametrize("d", [2, 3])
def test_the_overlap_check_catches_a_set_drawn_from_a_training_seed(d):
    """The check above has power: the scheme this namespace replaced (the batch of step t drawn
    with seed t, an evaluation set with seed 10,000) makes the evaluation set the start of the
    training batch of step 10,000, at every d."""
    batch = sample_contexts(64, n=20, d=d, C=4, seed=10_000)
    evaluation = sample_contexts(16, n=20, d=d, C=4, seed=10_000)
    assert _fingerprints(evaluation) <= _fingerprints(batch)


@pytest.mark.parametrize("shared_data", [True, False])
@pytest.mark.parametrize("d", [2, 3])
def test_training_batch_is_what_the_trainer_samples(shared_data, d):
    config = _config(d, shared_data)
    for step in (0, 7):
        tokens, y_query = _batch(config, step)
        for member in range(config.ensemble):
            ctx = training_batch(config, step, member)
            mine = (tokens, y_query) if shared_data else (tokens[member], y_query[member])
            assert torch.equal(ctx.tokens(), mine[0]) and torch.equal(ctx.y_query, mine[1])


def test_training_batch_checks_its_arguments():
    with pytest.raises(ValueError, match="member=2"):
        training_batch(_config(3, True), 0, member=2)
    with pytest.raises(ValueError, match="step=-1"):
        training_batch(_config(3, True), -1)


def test_streams_differ_by_purpose_seed_and_key():
    assert len({_purpose_id(p) for p in PURPOSES}) == len(PURPOSES)
    seeds = {stream_seed(p, s, *key) for p in PURPOSES for s in (0, 1) for key in ((), (0,), (1,), (0, 0), (0, 1))}
    assert len(seeds) == len(PURPOSES) * 2 * 5
    assert all(0 <= s < 2**63 for s in seeds)
    assert stream_seed("search", 3, 1) == stream_seed("search", 3, 1)  # a pure function of its arguments


def test_an_unknown_purpose_or_a_bad_seed_is_refused():
    with pytest.raises(ValueError, match="purpose='test'"):
        stream_seed("test")
    with pytest.raises(ValueError, match="seed=-1"):
        contexts_for("search", 4, n=10, d=3, C=5, seed=-1)
