"""The sampler of Section 2.1: exactness, vectorization, errors."""


import numpy as np
import pytest
import torch
from scipy.stats import chisquare, ks_2samp

from icl_lib.task_checks import region_uniformity, sample_contexts_plain, task_checks
from icl_lib.tasks import SAMPLER_VERSION, candidate_counts, nearest_prototype, sample_contexts

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


def _arcs_by_sorting(z):
    """The arc of each prototype on the circle, computed apart from the sampler: sort the angles;
    each arc runs from the midpoint to the previous prototype to the midpoint to the next."""
    angle = np.arctan2(z[:, 1], z[:, 0])
    order = np.argsort(angle)
    s = angle[order]
    before, after = np.roll(s, 1), np.roll(s, -1)
    before[0] -= 2 * np.pi
    after[-1] += 2 * np.pi
    start, end = np.empty_like(angle), np.empty_like(angle)
    start[order], end[order] = (before + s) / 2, (s + after) / 2
    return start, end


def _outside_own_arc(points, labels, start, width):
    """Which points lie outside the arc [start, start + width] of their label (angles mod 2 pi)."""
    offset = (np.arctan2(points[:, 1], points[:, 0]) - start[labels]) % (2 * np.pi)
    return offset > width[labels] + 1e-12


def test_d2_arcs_tile_the_circle_and_hold_their_points():
    """The sampler's arcs (`class_arcs`) agree with an independent computation, are disjoint and
    their lengths sum to 2 pi; every context point and query lies in its class's arc."""
    from icl_lib._compiled_sampler import class_arcs

    ctx = sample_contexts(256, n=20, d=2, C=5, seed=2, dtype=torch.float64)
    for b in range(ctx.batch_size):
        z = ctx.prototypes[b].numpy()
        start, width = np.empty(5), np.empty(5)
        class_arcs(z, start, width)
        ref_start, ref_end = _arcs_by_sorting(z)
        np.testing.assert_allclose(start, ref_start, atol=1e-12)
        np.testing.assert_allclose(start + width, ref_end, atol=1e-12)
        assert (width > 0).all() and abs(width.sum() - 2 * np.pi) < 1e-12
        order = np.argsort(start % (2 * np.pi))  # disjoint: taken in order, each arc ends where the next starts
        gap = ((start + width)[order] - np.roll(start[order], -1) + np.pi) % (2 * np.pi) - np.pi
        np.testing.assert_allclose(gap, 0, atol=1e-12)
        points = np.concatenate([ctx.x[b].numpy(), ctx.x_query[b, None].numpy()])
        labels = np.concatenate([ctx.y[b].numpy(), [int(ctx.y_query[b])]])
        assert not _outside_own_arc(points, labels, start, width).any()


def test_d2_arc_check_has_power():
    """The check above catches a point moved just past the end of its arc."""
    from icl_lib._compiled_sampler import class_arcs

    ctx = sample_contexts(1, n=20, d=2, C=5, seed=2, dtype=torch.float64)
    start, width = np.empty(5), np.empty(5)
    class_arcs(ctx.prototypes[0].numpy(), start, width)
    theta = start[0] + width[0] + 1e-6
    assert _outside_own_arc(np.array([[np.cos(theta), np.sin(theta)]]), np.array([0]), start, width).all()


@pytest.mark.parametrize("d", [2, 3, 5])
def test_a_context_does_not_depend_on_its_batch(d):
    """Context b comes from its own stream: the first m contexts of a batch of M are the batch of m.
    (This is what lets the tests of `icl_lib.streams` catch a data set reused across purposes at
    every d.)"""
    small = sample_contexts(16, n=20, d=d, C=4, seed=31, dtype=torch.float64)
    large = sample_contexts(200, n=20, d=d, C=4, seed=31, dtype=torch.float64)
    for a, b in zip((small.x, small.y_query, small.x_query, small.prototypes),
                    (large.x, large.y_query, large.x_query, large.prototypes), strict=True):
        assert torch.equal(a, b[:16])


@pytest.mark.parametrize(("z", "message"), [
    (torch.tensor([[1.0, 0, 0], [float("nan"), 0, 0]]), "finite"),
    (torch.tensor([[1.0, 0, 0], [2.0, 0, 0]]), "distinct"),
    (torch.tensor([[1.0, 0], [0.0, 0]]), "non-zero"),
])
def test_prototypes_that_leave_a_region_empty_are_refused(z, message):
    """A NaN or repeated prototype leaves a class without a region: refused at once, never a hang."""
    d = z.shape[1]
    with pytest.raises(ValueError, match=message):
        sample_contexts(3, n=4, d=d, C=2, seed=0, prototypes=z.expand(3, 2, d))


@pytest.mark.parametrize("d", [2, 3, 10])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sample_tokens_equals_contexts_tokens(d, dtype):
    from icl_lib.tasks import sample_tokens

    tokens, y_query = sample_tokens(64, n=20, d=d, C=4, seed=17, dtype=dtype)
    ctx = sample_contexts(64, n=20, d=d, C=4, seed=17, dtype=dtype)
    assert torch.equal(tokens, ctx.tokens()) and torch.equal(y_query, ctx.y_query)


def _compiled(seed, B, C, d, k, *, block=16, fold=True, prototypes=None):
    """The compiled sampler called directly: prototypes, y_query, x, x_query and the number of
    candidates each context examined."""
    from icl_lib._compiled_sampler import sampler_kernel

    z = np.empty((B, C, d)) if prototypes is None else np.ascontiguousarray(np.broadcast_to(prototypes, (B, C, d)))
    y_query, examined = np.empty(B, dtype=np.int64), np.empty(B, dtype=np.int64)
    x, x_query = np.empty((B, C * k, d)), np.empty((B, d))
    sampler_kernel(d)(np.uint64(seed), k, prototypes is None, z, y_query, x, x_query, block,
                      fold, examined)
    return z, y_query, x, x_query, examined


def test_the_stream_of_sampler_version_6_is_unchanged():
    """Values drawn with sampler version 6 (d = 5 and d = 2). A change that moves them changes every
    run: it must come with a new SAMPLER_VERSION (and new values here)."""
    assert SAMPLER_VERSION.startswith("6:")
    ctx = sample_contexts(16, d=5, seed=123, dtype=torch.float64)
    assert ctx.y_query.tolist() == [4, 4, 3, 1, 3, 1, 4, 0, 1, 3, 4, 4, 0, 2, 1, 2]
    np.testing.assert_allclose(ctx.x[0, 0].numpy(), [0.2559574838963622, -0.5757655312246754, 0.38896067829319264,
                                                     -0.4403648409899008, -0.5077087915849495], rtol=1e-14)
    np.testing.assert_allclose(ctx.x_query[-1].numpy(), [0.4283153875933653, 0.5591824321058173, -0.16873502601559873,
                                                         -0.06664272188582084, 0.6862566393049561], rtol=1e-14)
    assert candidate_counts(16, d=5, seed=123).tolist() == [120, 240, 142, 190, 127, 112, 121, 125, 128, 112, 111, 135,
                                                            136, 148, 121, 138]
    arcs = sample_contexts(4, d=2, seed=123, dtype=torch.float64)
    assert arcs.y_query.tolist() == [3, 3, 2, 4]
    np.testing.assert_allclose(arcs.x[0, 0].numpy(), [-0.15816168918136828, -0.9874132266054046], rtol=1e-14)
    np.testing.assert_allclose(arcs.x_query[-1].numpy(), [-0.5082819920766386, -0.861190696960089], rtol=1e-14)


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
def test_tail_fold_mirrors_hold_the_region(d, C):
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

    d, C, k, B = 3, 5, 10, 3000
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
    from icl_lib.tasks import _kernel_seed

    kernel_seed = _kernel_seed(3)
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


def _ziggurat_normals(count: int, seed: int) -> np.ndarray:
    """`count` draws of the compiled sampler's normal generator (xoshiro256** + ziggurat)."""
    from numba import njit

    from icl_lib._compiled_sampler import _normal, _seeded_state

    @njit
    def draw(count, seed):
        s0, s1, s2, s3 = _seeded_state(seed, 0)  # context 0's stream
        out = np.empty(count)
        for i in range(count):
            out[i], s0, s1, s2, s3 = _normal(s0, s1, s2, s3)
        return out

    return draw(count, seed)


def test_the_hand_written_normals_have_the_law_of_numpys():
    """The sampler's own normals (kept for speed, benchmarks/README.md) against the library's,
    numpy's Generator: a two-sample KS test, the ziggurat's tail beyond R = 3.44 against the exact
    normal tail, and the same KS test rejecting normals 2% too wide (it has power)."""
    from scipy.stats import norm

    ours = _ziggurat_normals(1_000_000, 11)
    library = np.random.default_rng(np.random.SeedSequence(11, spawn_key=(1,))).standard_normal(1_000_000)
    assert ks_2samp(ours, library).pvalue > 1e-3
    tail = np.mean(np.abs(ours) > 3.442619855899)
    expected = 2 * norm.sf(3.442619855899)  # 5.8e-4: the rarely taken tail path
    assert abs(tail - expected) < 5 * np.sqrt(expected / len(ours))
    assert ks_2samp(ours * 1.02, library).pvalue < 1e-6


def test_sizes_the_compiled_sampler_cannot_finish_are_refused_at_once():
    import time

    import numpy as np

    start = time.perf_counter()
    with pytest.raises(ValueError, match="C=1000000 must be <= 1000 at d >= 3"):
        sample_contexts(1, n=10**6, d=3, C=10**6, seed=0)
    assert time.perf_counter() - start < 1.0  # refused, not started
    with pytest.raises(ValueError, match="prototypes must be a torch.Tensor"):
        sample_contexts(2, n=10, d=3, C=5, seed=0, prototypes=np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="batch_size=1000000, n=10000, d=3: .* needs"):
        sample_contexts(10**6, n=10**4, d=3, C=5, seed=0)
