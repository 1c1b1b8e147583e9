"""The task's invariants measured on samples, and a plain twin of the sampler (chapter `01_task`, the tests).

The sampler of `icl_lib.tasks` is exact by construction; these measure it: balance, membership,
uniform query classes (`task_checks`), uniformity within a region against plain rejection from an
independent generator (`region_uniformity`), and `sample_contexts_plain`, a per-context numpy
rejection loop used as an independent reference by the tests and as the plain implementation of
the benchmark.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import chisquare, ks_2samp

from icl_lib.tasks import Contexts, _check_seed, _check_task_arguments, nearest_prototype, sample_contexts
from icl_lib.validation import check_choice

__all__ = ["task_checks", "region_uniformity", "sample_contexts_plain"]


def sample_contexts_plain(
    batch_size: int,
    *,
    n: int = 100,
    d: int = 5,
    C: int = 5,
    seed: int,
    prototypes: np.ndarray | None = None,
) -> Contexts:
    """Plain twin of `sample_contexts`: a per-context, per-candidate numpy rejection loop.

    Used only by the tests (as an independent reference distribution) and the benchmarks.
    """
    _check_task_arguments(batch_size, n, d, C)
    rng = np.random.default_rng(seed)
    k = n // C
    xs, ys, xqs, yqs, zs = [], [], [], [], []
    for b in range(batch_size):
        z = rng.standard_normal((C, d)) if prototypes is None else np.asarray(prototypes[b], dtype=float)
        z = z / np.linalg.norm(z, axis=-1, keepdims=True)
        yq = int(rng.integers(C))
        points: list[list[np.ndarray]] = [[] for _ in range(C)]
        query = None
        while query is None or any(len(p) < k for p in points):
            v = rng.standard_normal(d)
            v /= np.linalg.norm(v)
            c = int(np.argmax(z @ v))
            if len(points[c]) < k:
                points[c].append(v)
            elif c == yq and query is None:  # the (k+1)-th candidate of the query's class
                query = v
        xs.append(np.concatenate([np.stack(p) for p in points]))
        ys.append(np.repeat(np.arange(C), k))
        xqs.append(query)
        yqs.append(yq)
        zs.append(z)
    to = torch.as_tensor
    return Contexts(
        x=to(np.stack(xs)), y=to(np.stack(ys)), x_query=to(np.stack(xqs)), y_query=to(np.array(yqs)), prototypes=to(np.stack(zs))
    )


def task_checks(ctx: Contexts) -> dict[str, float]:
    """The task's invariants on a batch, as numbers a reader can see (chapter `01_task`).

    - `min_per_class`, `max_per_class`: points of each class per context (both n/C when balanced);
    - `frac_in_region`: share of context points whose nearest prototype is their label (1.0);
    - `frac_query_in_region`: the same for the queries (1.0);
    - `query_class_chi2_p`: chi-square p-value of the query classes against uniform.
    """
    counts = torch.nn.functional.one_hot(ctx.y, ctx.C).sum(dim=1)  # (B, C)
    in_region = nearest_prototype(ctx.x, ctx.prototypes) == ctx.y
    query_in_region = nearest_prototype(ctx.x_query[:, None], ctx.prototypes)[:, 0] == ctx.y_query
    query_counts = torch.bincount(ctx.y_query, minlength=ctx.C).cpu().numpy()
    return {
        "min_per_class": int(counts.min()),
        "max_per_class": int(counts.max()),
        "frac_in_region": float(in_region.double().mean()),
        "frac_query_in_region": float(query_in_region.double().mean()),
        "query_class_chi2_p": float(chisquare(query_counts).pvalue),
    }


def region_uniformity(d: int, *, C: int = 5, n: int = 100, n_points: int = 20_000, seed: int = 0, query: bool = False,
                      region: str = "largest"):
    """Two-sample KS test: are the points of one class region uniform within it?

    One set of prototypes is fixed (seeded). Ours: the points of class c* (the largest region, or
    with region="smallest" the smallest, where the sampler's mirroring acts) from `sample_contexts`
    conditioned on those prototypes (or its queries of class c*, with `query=True`). Reference:
    i.i.d. uniform points on the sphere kept when their nearest prototype is c*, drawn by numpy's
    generator (another algorithm than the sampler's, from the same seed). The statistic is
    <x, z_{c*}>. Returns (ours, reference, p_value).
    """
    check_choice("region", region, ("largest", "smallest"))
    rng = np.random.default_rng(_check_seed(seed))
    z = rng.standard_normal((C, d))
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    reference: list[np.ndarray] = []
    count, target = 0, None
    while count < n_points:
        v = rng.standard_normal((max(4 * n_points, 10_000), d))
        v /= np.linalg.norm(v, axis=-1, keepdims=True)
        label = (v @ z.T).argmax(-1)
        if target is None:
            sizes = np.bincount(label, minlength=C)
            target = int(sizes.argmax() if region == "largest" else sizes.argmin())
        kept = v[label == target]
        reference.append(kept)
        count += len(kept)
    ref_stat = (np.concatenate(reference)[:n_points] @ z[target])
    per_context = 1 if query else n // C
    batch = -(-n_points // per_context) * (C if query else 1)  # queries of class c* are 1/C of the contexts
    protos = torch.as_tensor(z, dtype=torch.float64).expand(batch, C, d).contiguous()
    ctx = sample_contexts(batch, n=n, d=d, C=C, seed=seed, dtype=torch.float64, prototypes=protos)
    pts = ctx.x_query[ctx.y_query == target] if query else ctx.x[ctx.y == target]
    ours = (pts.numpy() @ z[target])[:n_points]
    return ours, ref_stat, float(ks_2samp(ours, ref_stat).pvalue)
