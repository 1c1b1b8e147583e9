"""The sampler of Section 2.1: exactness, vectorization, errors."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import chisquare, ks_2samp

from icl_lib.tasks import (
    SAMPLER_VERSION,
    candidate_counts,
    nearest_prototype,
    region_uniformity,
    sample_contexts,
    sample_contexts_plain,
    task_checks,
)

DIMS = [2, 3, 5, 10]


@pytest.mark.parametrize("d", DIMS)
def test_balance_membership_and_shapes(d):
    ctx = sample_contexts(1024, n=100, d=d, C=5, seed=d, dtype=torch.float64)
    assert ctx.x.shape == (1024, 100, d) and ctx.y.shape == (1024, 100) and ctx.y.dtype == torch.int64
    assert ctx.x_query.shape == (1024, d) and ctx.prototypes.shape == (1024, 5, d)
    checks = task_checks(ctx)
    assert checks["min_per_class"] == checks["max_per_class"] == 20
    assert checks["frac_in_region"] == 1.0 and checks["frac_query_in_region"] == 1.0
    assert torch.allclose(ctx.x.norm(dim=-1), torch.ones(1024, 100, dtype=torch.float64))
    assert torch.allclose(ctx.prototypes.norm(dim=-1), torch.ones(1024, 5, dtype=torch.float64))


@pytest.mark.parametrize("d", [2, 3, 5, 10])
def test_membership_in_float32(d):
    """In float32 a point may round across its region's edge, but only when it lies within float32
    rounding of that edge (measured on the same draw in float64)."""
    ctx32 = sample_contexts(2048, n=100, d=d, C=5, seed=1)
    ctx64 = sample_contexts(2048, n=100, d=d, C=5, seed=1, dtype=torch.float64)
    assert torch.allclose(ctx32.x.double(), ctx64.x, atol=1e-6)
    wrong = nearest_prototype(ctx32.x, ctx32.prototypes) != ctx32.y
    dots = torch.einsum("bmd,bcd->bmc", ctx64.x, ctx64.prototypes)
    top2 = dots.topk(2, dim=-1).values
    margin = top2[..., 0] - top2[..., 1]  # distance from the edge, in the score that labels points
    assert (margin[wrong] < 1e-5).all()
    assert wrong.double().mean() < 1e-4


def test_query_class_uniform():
    ctx = sample_contexts(20_000, n=10, d=3, C=5, seed=7)
    counts = torch.bincount(ctx.y_query, minlength=5).numpy()
    assert chisquare(counts).pvalue > 1e-3
    assert abs(counts / 20_000 - 0.2).max() < 0.015


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("query", [False, True])
@pytest.mark.parametrize("region", ["largest", "smallest"])  # the smallest: where the sampler mirrors candidates
def test_uniform_within_region(d, query, region):
    _, _, p = region_uniformity(d, n_points=4000, seed=11, query=query, region=region)
    assert p > 1e-3


def test_uniformity_test_has_power():
    """The KS test of uniformity rejects points biased towards the prototype."""
    ours, ref, _ = region_uniformity(3, n_points=4000, seed=11)
    biased = np.sqrt(np.clip(ours, 0, 1))  # moves every point towards its prototype
    assert ks_2samp(biased, ref).pvalue < 1e-6


def test_matches_plain_rejection_sampler_in_distribution():
    """Context-level statistics agree with the per-context numpy loop (independent implementation)."""
    fast = sample_contexts(3000, n=20, d=3, C=4, seed=3, dtype=torch.float64)
    plain = sample_contexts_plain(3000, n=20, d=3, C=4, seed=4)
    for stat in (lambda c: (c.x * c.prototypes.gather(1, c.y[..., None].expand(-1, -1, 3))).sum(-1).flatten(),
                 lambda c: (c.x_query * c.prototypes[torch.arange(len(c.y_query)), c.y_query]).sum(-1)):
        assert ks_2samp(stat(fast).numpy(), stat(plain).numpy()).pvalue > 1e-3


def test_tokens_layout():
    ctx = sample_contexts(8, n=10, d=3, C=5, seed=0)
    tokens = ctx.tokens()
    assert tokens.shape == (8, 11, 8)
    assert torch.equal(tokens[:, :10, :3], ctx.x) and torch.equal(tokens[:, -1, :3], ctx.x_query)
    assert torch.equal(tokens[:, :10, 3:].argmax(-1), ctx.y) and torch.equal(tokens[:, :10, 3:].sum(-1), torch.ones(8, 10))
    assert torch.equal(tokens[:, -1, 3:], torch.zeros(8, 5))


def test_seeded_and_reproducible():
    a = sample_contexts(64, d=5, seed=123)
    b = sample_contexts(64, d=5, seed=123)
    c = sample_contexts(64, d=5, seed=124)
    assert torch.equal(a.x, b.x) and torch.equal(a.x_query, b.x_query) and not torch.equal(a.x, c.x)


def test_d2_tiny_arcs_do_not_stall():
    """d = 2 regions as small as ~1e-6 of the circle are sampled directly, inside their arc."""
    angles = torch.tensor([0.0, 1e-5, 2e-5, 2.0, 4.0], dtype=torch.float64)
    z = torch.stack([angles.cos(), angles.sin()], -1).expand(256, 5, 2).contiguous()
    ctx = sample_contexts(256, n=100, d=2, C=5, seed=0, prototypes=z, dtype=torch.float64)
    assert (nearest_prototype(ctx.x, ctx.prototypes) == ctx.y).all()
    middle = torch.atan2(ctx.x[ctx.y == 1][:, 1], ctx.x[ctx.y == 1][:, 0])
    assert middle.min() >= 0.5e-5 - 1e-12 and middle.max() <= 1.5e-5 + 1e-12


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"n": 101}, "n=101 must be divisible by C=5"), ({"d": 1}, "d=1"), ({"C": 1}, "C=1"), ({"n": 0}, "n=0"),
    ({"d": 2.5}, "d=2.5"), ({"seed": -1}, "seed=-1"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name.replace("(", r"\(")):
        sample_contexts(4, **({"seed": 0} | kwargs))


def test_seed_is_required():
    with pytest.raises(ValueError, match="seed="):
        sample_contexts(4)


def test_batch_size_checked():
    with pytest.raises(ValueError, match="batch_size=0"):
        sample_contexts(0, seed=0)


def test_d2_arcs_cover_the_circle():
    ctx = sample_contexts(64, n=10, d=2, C=5, seed=2, dtype=torch.float64)
    theta = torch.atan2(ctx.x[..., 1], ctx.x[..., 0])
    assert theta.abs().max() <= math.pi + 1e-12


@pytest.mark.parametrize("d", [3, 10])
def test_torch_rejection_path_used_on_cuda_is_exact(d):
    """The batched torch rejection (the sampler on CUDA devices), run on the CPU: membership, balance,
    and the distribution within a class equal to the compiled CPU sampler's."""
    from icl_lib.tasks import _sample_by_rejection

    gen = torch.Generator().manual_seed(5)
    z = torch.randn(2000, 5, d, generator=gen, dtype=torch.float64)
    z = z / z.norm(dim=-1, keepdim=True)
    y_query = torch.randint(5, (2000,), generator=gen)
    x, x_query = _sample_by_rejection(z, 4, y_query, gen)
    y = torch.arange(5).repeat_interleave(4).expand(2000, 20)
    assert (nearest_prototype(x, z) == y).all()
    assert (nearest_prototype(x_query[:, None], z)[:, 0] == y_query).all()
    compiled = sample_contexts(2000, n=20, d=d, C=5, seed=6, dtype=torch.float64, prototypes=z)
    ours = (x * z.gather(1, y[..., None].expand(-1, -1, d))).sum(-1).flatten()
    theirs = (compiled.x * z.gather(1, compiled.y[..., None].expand(-1, -1, d))).sum(-1).flatten()
    assert ks_2samp(ours.numpy(), theirs.numpy()).pvalue > 1e-3


@pytest.mark.parametrize("d", [2, 3, 10])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sample_tokens_equals_contexts_tokens(d, dtype):
    from icl_lib.tasks import sample_tokens

    tokens, y_query = sample_tokens(64, n=20, d=d, C=4, seed=17, dtype=dtype)
    ctx = sample_contexts(64, n=20, d=d, C=4, seed=17, dtype=dtype)
    assert torch.equal(tokens, ctx.tokens()) and torch.equal(y_query, ctx.y_query)


def _compiled(seed, B, C, d, k, *, block=16, fold=True, prototypes=None):  # noqa: N803
    """The compiled sampler called directly: prototypes, y_query, x, x_query and the number of
    candidates each context examined."""
    from icl_lib._compiled_sampler import sampler_kernel

    z = np.empty((B, C, d)) if prototypes is None else np.ascontiguousarray(np.broadcast_to(prototypes, (B, C, d)))
    y_query, examined = np.empty(B, dtype=np.int64), np.empty(B, dtype=np.int64)
    x, x_query = np.empty((B, C * k, d)), np.empty((B, d))
    sampler_kernel(d)(np.uint64(seed), k, prototypes is None, z, y_query, x, x_query, block,
                      fold, examined)
    return z, y_query, x, x_query, examined


def test_the_stream_of_sampler_version_5_is_unchanged():
    """Values drawn with sampler version 5 before the kernel was compiled once per d. A change
    that moves them changes every run: it must come with a new SAMPLER_VERSION (and new values)."""
    assert SAMPLER_VERSION.startswith("5:")
    ctx = sample_contexts(16, d=5, seed=123, dtype=torch.float64)
    assert ctx.y_query.tolist() == [0, 1, 2, 1, 4, 4, 2, 4, 2, 0, 3, 2, 3, 0, 4, 1]
    np.testing.assert_allclose(ctx.x[0, 0].numpy(), [-0.26538517698470543, -0.008296756399979344, 0.3656268494414564,
                                                     -0.10024496767956992, 0.886436588308759], rtol=1e-14)
    np.testing.assert_allclose(ctx.x_query[-1].numpy(), [0.5817520893551074, -0.4951769310811493, -0.3794064715178153,
                                                         0.4536995201384873, -0.2580150930711796], rtol=1e-14)
    assert candidate_counts(16, d=5, seed=123).tolist() == [117, 149, 118, 127, 155, 117, 122, 137, 127, 143, 125, 158,
                                                            166, 149, 152, 115]


def test_a_sampler_kernel_refuses_arrays_of_another_dimension():
    from icl_lib._compiled_sampler import sampler_kernel

    z, y_query = np.empty((4, 5, 3)), np.empty(4, dtype=np.int64)
    with pytest.raises(ValueError, match="dimension"):
        sampler_kernel(4)(np.uint64(0), 2, True, z, y_query, np.empty((4, 10, 3)), np.empty((4, 3)),
                          16, True, np.empty(0, dtype=np.int64))


def test_compiled_sampler_result_does_not_depend_on_the_block_size():
    """Candidates are drawn in blocks; unused draws at the end are discarded, and a context's
    mirroring starts with the candidate after the one that left a single class open, wherever it
    falls in a block, so any block size (1: one candidate at a time) gives the same contexts."""
    one_at_a_time = _compiled(99, 64, 5, 4, 4, block=1)
    for block in (3, 16, 64):
        assert all(np.array_equal(a, b) for a, b in zip(_compiled(99, 64, 5, 4, 4, block=block), one_at_a_time, strict=True))
    unmirrored = _compiled(99, 64, 5, 4, 4, fold=False)
    assert (unmirrored[4] > one_at_a_time[4]).mean() > 0.5  # the mirrors were used: not a vacuous check


def _region_points(z, c, count, rng):
    """`count` i.i.d. uniform points of class c's region, by plain rejection from an independent numpy stream."""
    out, have = [], 0
    while have < count:
        v = rng.standard_normal((200_000, z.shape[1]))
        v /= np.linalg.norm(v, axis=-1, keepdims=True)
        kept = v[(v @ z.T).argmax(-1) == c]
        out.append(kept)
        have += len(kept)
    return np.concatenate(out)[:count]


@pytest.mark.parametrize(("d", "C"), [(3, 5), (5, 5), (10, 5), (4, 2), (5, 10)])
def test_tail_fold_mirrors_hold_the_region(d, C):  # noqa: N803
    """The mirrors of a region are unit, orthogonal, and every point of the region lies on their
    positive side (the condition that makes mirroring exact); two mirrors exactly when some pair
    of the normals z_c - z_j is at a right or obtuse angle."""
    from icl_lib._compiled_sampler import _tail_fold

    rng = np.random.default_rng(100 * d + C)
    used = set()
    for _ in range(6):
        z = rng.standard_normal((C, d))
        z /= np.linalg.norm(z, axis=-1, keepdims=True)
        for c in range(C):
            w = np.empty((2, d))
            m = _tail_fold(z, c, w)
            a = z[c] - np.delete(z, c, axis=0)
            acute = bool(((a @ a.T)[np.triu_indices(C - 1, 1)] > 0).all())
            assert m == (1 if acute else 2)
            np.testing.assert_allclose(np.linalg.norm(w[:m], axis=-1), 1.0, atol=1e-12)
            if m == 2:
                assert abs(w[0] @ w[1]) < 1e-12
            assert (_region_points(z, c, 2000, rng) @ w[:m].T >= -1e-12).all()
            used.add(m)
    assert used == ({1} if C == 2 else {1, 2})


def test_mirrored_candidates_keep_the_law_of_the_smallest_region():
    """Prototypes with one small region (2-4% of the sphere; at d = 3 random prototypes give one
    within a few dozen draws): most of its points come after the other classes are full, so they
    are drawn mirrored. Their law matches plain rejection from an independent stream and the
    unmirrored sampler (KS on the projections onto every prototype and the mirrors), and they
    cost fewer candidates."""
    from icl_lib._compiled_sampler import _tail_fold

    d, C, k, B = 3, 5, 10, 3000  # noqa: N806
    rng = np.random.default_rng(3)
    while True:
        z = rng.standard_normal((C, d))
        z /= np.linalg.norm(z, axis=-1, keepdims=True)
        share = np.bincount((rng.standard_normal((20_000, d)) @ z.T).argmax(-1), minlength=C) / 20_000
        if 0.02 < share.min() < 0.04:
            break
    c = int(share.argmin())
    w = np.empty((2, d))
    w = w[:_tail_fold(z, c, w)]
    *_, x_mirrored, _, examined_mirrored = _compiled(5, B, C, d, k, prototypes=z)
    *_, x_plain, _, examined_plain = _compiled(6, B, C, d, k, prototypes=z, fold=False)
    reference = _region_points(z, c, B * k, rng)
    ours, plain = x_mirrored[:, c * k:(c + 1) * k].reshape(-1, d), x_plain[:, c * k:(c + 1) * k].reshape(-1, d)
    assert ((ours @ z.T).argmax(-1) == c).all()
    for u in (*z, *w):
        assert ks_2samp(ours @ u, reference @ u).pvalue > 1e-3
        assert ks_2samp(ours @ u, plain @ u).pvalue > 1e-3
    # mirroring starts once the second-smallest region (6%) is full: 315 candidates -> 214 here
    assert examined_mirrored.mean() < 0.75 * examined_plain.mean()


def test_candidate_counts_are_those_of_sample_contexts():
    """candidate_counts(seed=s) counts the candidates of the contexts sample_contexts(seed=s) returns."""
    from icl_lib.tasks import _make_generator

    kernel_seed = int(torch.randint(0, 2**62, (1,), generator=_make_generator(3, None, torch.device("cpu"))))
    for mirror in (True, False):
        *_, examined = _compiled(kernel_seed, 256, 5, 4, 4, fold=mirror)
        assert np.array_equal(candidate_counts(256, n=20, d=4, C=5, seed=3, mirror=mirror), examined)
    ctx = sample_contexts(256, n=20, d=4, C=5, seed=3, dtype=torch.float64)
    assert np.array_equal(ctx.x.numpy(), _compiled(kernel_seed, 256, 5, 4, 4)[2])
    with pytest.raises(ValueError, match="d=2"):
        candidate_counts(8, d=2, seed=0)


def test_mirroring_cuts_the_candidates_of_the_paper_task():
    """d = 5, C = 5, n = 100 with random prototypes: fewer candidates per context (here 167.6
    without mirrors, 136.7 with), with the same prototypes and query classes."""
    mirrored, plain = _compiled(1, 2048, 5, 5, 20), _compiled(1, 2048, 5, 5, 20, fold=False)
    assert np.array_equal(mirrored[0], plain[0]) and np.array_equal(mirrored[1], plain[1])
    assert 0.75 < mirrored[4].mean() / plain[4].mean() < 0.88
    assert plain[4].mean() > 160


def test_sample_tokens_are_stored_feature_major():
    """The training step reads tokens as (B, d+C, n+1) storage; sample_tokens writes them that way."""
    from icl_lib.tasks import sample_tokens

    tokens, _ = sample_tokens(8, n=10, d=3, C=5, seed=0)
    assert tokens.shape == (8, 11, 8) and tokens.mT.is_contiguous()


@pytest.mark.parametrize("d", [2, 3, 5])
def test_sample_tokens_overwrite_a_reused_buffer_entirely(d):
    """The training loop samples every step into one buffer: the result must not depend on what
    the buffer held (NaN here, then the previous batch)."""
    from icl_lib.tasks import sample_tokens

    out = torch.full((16, d + 4, 21), float("nan")).mT
    for seed in (17, 18):
        tokens, y_query = sample_tokens(16, n=20, d=d, C=4, seed=seed, out=out)
        fresh, fresh_y = sample_tokens(16, n=20, d=d, C=4, seed=seed)
        assert tokens is out and torch.equal(tokens, fresh) and torch.equal(y_query, fresh_y)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_token_sampler_equals_sample_tokens_seed_after_seed(d):
    """The training loop's sampler (one buffer, arrays made once) gives `sample_tokens`'s batches."""
    from icl_lib.tasks import TokenSampler, sample_tokens

    sample = TokenSampler(torch.full((16, d + 4, 21), float("nan")).mT, n=20, d=d, C=4)
    for seed in (17, 18, 17):
        tokens, y_query = sample(seed)
        fresh, fresh_y = sample_tokens(16, n=20, d=d, C=4, seed=seed)
        assert tokens is sample.out and torch.equal(tokens, fresh) and torch.equal(y_query, fresh_y)


@pytest.mark.parametrize("out", [torch.empty(16, 7, 20).mT, torch.empty(16, 7, 21, dtype=torch.float64).mT,
                                 torch.empty(16, 21, 7)], ids=["shape", "dtype", "row-major"])
def test_a_token_buffer_of_another_shape_dtype_or_layout_is_refused(out):
    from icl_lib.tasks import sample_tokens

    with pytest.raises(ValueError, match=r"out must be a CPU torch.float32 tensor of shape \(16, 21, 7\) stored feature-major"):
        sample_tokens(16, n=20, d=3, C=4, seed=0, out=out)


@pytest.mark.parametrize("d", [2, 3])
def test_prototypes_of_the_wrong_shape_are_refused(d):
    with pytest.raises(ValueError, match=r"prototypes must have shape \(batch_size, C, d\)=\(4, 5, "):
        sample_contexts(4, d=d, seed=0, prototypes=torch.zeros(3, 5, d))
