"""The in-context classification task of Section 2.1 (chapter `01_task`).

C prototypes z_1..z_C are drawn uniformly on the sphere S^{d-1}; every point of the sphere
belongs to the class of its nearest prototype. A context holds n/C points of each class, each
uniform on the sphere *within* its class region, and a query whose class is uniform over the C
classes and whose position is uniform within that class region.

Exactness. Rejection sampling is done per context on one i.i.d. stream of uniform candidates:
the first n/C candidates that land in each class are the context points of that class and the
next candidate of the query's class is the query. Since the candidates are i.i.d., each kept
point is uniform in its region and independent of the others. A context whose stream falls
short keeps drawing from its own stream; the prototypes are never redrawn (that would bias the
task against contexts with a small region). On the circle (d = 2) a region is an arc between
two midpoints, so points are drawn directly as angles inside the arc, without rejection: the
smallest arc is heavy-tailed and rejection would stall on it.

Every context comes from its own random stream (`icl_lib._compiled_sampler`), derived from the
seed and its index in the batch, so `sample_contexts(m, seed=s)` is the first m contexts of
`sample_contexts(M, seed=s)` for any M >= m. Which seed a data set uses is decided in one place,
`icl_lib.streams`, so that data sets of different purposes never share a stream.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from icl_lib.validation import check_fits_in_memory, check_positive_int

# Identifies the random stream that a seed produces. Change it whenever a seed would give other
# contexts (a new sampling algorithm): it is part of every run's cache key.
SAMPLER_VERSION = ("6: seed hashed by numpy's SeedSequence; compiled per-context xoshiro256** + ziggurat for prototypes "
                   "and query class, then arcs by angle (d=2) or candidates in blocks of 16 with the last region's "
                   "candidates mirrored into a half or quarter sphere (d>=3); CPU for every device")

__all__ = ["SAMPLER_VERSION", "Contexts", "sample_contexts", "sample_tokens", "TokenSampler", "nearest_prototype",
           "candidate_counts"]


@dataclass(frozen=True)
class Contexts:
    """A batch of classification contexts (Section 2.1).

    Context points are stored grouped by class (class 0 first). The models have no positional
    encoding, so their predictions do not depend on this order.
    """

    x: torch.Tensor  # (B, n, d) context inputs on the unit sphere
    y: torch.Tensor  # (B, n) int64 labels in 0..C-1
    x_query: torch.Tensor  # (B, d)
    y_query: torch.Tensor  # (B,) int64
    prototypes: torch.Tensor  # (B, C, d) class vectors z_c (hidden from the model)

    @property
    def batch_size(self) -> int:
        return self.x.shape[0]

    @property
    def n(self) -> int:
        return self.x.shape[1]

    @property
    def d(self) -> int:
        return self.x.shape[2]

    @property
    def C(self) -> int:  # noqa: N802 (the paper's name)
        return self.prototypes.shape[1]

    def query_similarity(self) -> torch.Tensor:
        """<x_i, x_query> for every context point, (B, n): what every step of Eqs. 1-3 weighs the labels by."""
        return (self.x @ self.x_query.unsqueeze(-1)).squeeze(-1)

    def y_onehot(self) -> torch.Tensor:
        """One-hot labels, (B, n, C), in the dtype of `x`."""
        return torch.nn.functional.one_hot(self.y, self.C).to(self.x.dtype)

    def tokens(self) -> torch.Tensor:
        """The input matrix X of Section 2.2: rows [x_i, onehot(y_i)], query row [x_query, 0] last.

        Returns (B, n+1, d+C).
        """
        context_rows = torch.cat([self.x, self.y_onehot()], dim=-1)  # (B, n, d+C)
        zeros = self.x_query.new_zeros(self.batch_size, 1, self.C)
        query_row = torch.cat([self.x_query[:, None, :], zeros], dim=-1)  # (B, 1, d+C)
        return torch.cat([context_rows, query_row], dim=1)  # (B, n+1, d+C)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Contexts:
        """Move to a device and/or cast the float tensors to `dtype`."""
        return Contexts(
            x=self.x.to(device=device, dtype=dtype),
            y=self.y.to(device=device),
            x_query=self.x_query.to(device=device, dtype=dtype),
            y_query=self.y_query.to(device=device),
            prototypes=self.prototypes.to(device=device, dtype=dtype),
        )

    def with_query(self, x_query: torch.Tensor) -> Contexts:
        """The same contexts with another query input (used for sensitivities d yhat / d x_query)."""
        return replace(self, x_query=x_query)

    def __getitem__(self, index: slice | torch.Tensor) -> Contexts:
        return Contexts(self.x[index], self.y[index], self.x_query[index], self.y_query[index], self.prototypes[index])


def nearest_prototype(points: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """Label of the nearest prototype for unit vectors: argmax_c <x, z_c>.

    points (B, m, d), prototypes (B, C, d) -> (B, m) int64.
    """
    return torch.einsum("bmd,bcd->bmc", points, prototypes).argmax(dim=-1)


# Rejection sampling (d >= 3) fills the smallest class region last, and its area falls like 1/C^2:
# at C = 1000 that is about 10^6 candidates per context (seconds); beyond, the compiled loop, which no
# signal interrupts, would run for hours.
MAX_CLASSES = 1000


def _check_task_arguments(batch_size: int, n: int, d: int, C: int) -> None:
    check_positive_int("batch_size", batch_size)
    check_positive_int("n", n)
    check_positive_int("d", d, minimum=2)
    check_positive_int("C", C, minimum=2)
    if n % C != 0:
        raise ValueError(f"n={n} must be divisible by C={C} (the context holds n/C points per class)")
    if d >= 3 and C > MAX_CLASSES:
        raise ValueError(f"C={C} must be <= {MAX_CLASSES} at d >= 3: the smallest of C random class regions has an "
                         "area of order 1/C^2, so rejection sampling would examine about C^2 candidates per context "
                         "in a compiled loop that cannot be interrupted")


def _check_token_buffer(out: torch.Tensor, batch_size: int, n: int, d: int, C: int, dtype: torch.dtype) -> None:
    """`out` must be what `sample_tokens` would allocate: (B, n+1, d+C) on the CPU, feature-major."""
    shape = (batch_size, n + 1, d + C)
    if tuple(out.shape) != shape or out.dtype != dtype or out.device.type != "cpu" or not out.mT.is_contiguous():
        raise ValueError(f"out must be a CPU {dtype} tensor of shape {shape} stored feature-major "
                         f"(torch.empty({batch_size}, {d + C}, {n + 1}).mT); got {out.dtype} {tuple(out.shape)} "
                         f"on {out.device}, strides {out.stride()}")


def _check_seed(seed: object) -> int:
    if seed is None:
        raise ValueError("pass seed= (a non-negative int): sampling is always seeded")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative int")
    return int(seed)


def _kernel_seed(seed: int) -> np.uint64:
    """The compiled samplers' seed for `seed`, hashed by numpy's SeedSequence so that nearby seeds
    give unrelated streams; context b's stream derives from it and b."""
    return np.random.SeedSequence(seed).generate_state(1, np.uint64)[0]


def _check_prototypes(prototypes: torch.Tensor, batch_size: int, C: int, d: int) -> torch.Tensor:
    """Given prototypes must be (B, C, d), finite and, within a context, distinct: a repeated or
    NaN prototype leaves a region empty, and rejection would then never end."""
    if not isinstance(prototypes, torch.Tensor):
        raise ValueError(f"prototypes must be a torch.Tensor of shape (batch_size, C, d), got {type(prototypes).__name__}")
    if tuple(prototypes.shape) != (batch_size, C, d):
        raise ValueError(f"prototypes must have shape (batch_size, C, d)={(batch_size, C, d)}, got {tuple(prototypes.shape)}")
    z = prototypes.detach().to(device="cpu", dtype=torch.float64)
    if not torch.isfinite(z).all() or (z.norm(dim=-1) == 0).any():
        raise ValueError("prototypes must be finite and non-zero")
    z = z / z.norm(dim=-1, keepdim=True)
    gap = torch.cdist(z, z) + torch.eye(C, dtype=torch.float64) * 3  # the diagonal out of the way
    if (gap < 1e-12).any():
        raise ValueError("prototypes of one context must be distinct (two equal ones leave a class without a region)")
    return z.contiguous()


def sample_contexts(
    batch_size: int,
    *,
    n: int = 100,
    d: int = 5,
    C: int = 5,
    seed: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    prototypes: torch.Tensor | None = None,
) -> Contexts:
    """Sample `batch_size` contexts of the task of Section 2.1, exactly, one stream per context.

    `prototypes` (B, C, d) may be given to condition on fixed class vectors (used by the tests of
    uniformity within a region); otherwise they are drawn uniformly on S^{d-1}. Sampling runs on
    the CPU (a compiled loop per context) for every `device`; the contexts are then moved there.
    See chapter `01_task`.
    """
    _check_task_arguments(batch_size, n, d, C)
    seed = _check_seed(seed)
    check_fits_in_memory(f"batch_size={batch_size}, n={n}, d={d}", batch_size * (n + 1) * (d + 1) * 8,
                         f"{batch_size} contexts of n={n} at d={d}")
    z = None if prototypes is None else _check_prototypes(prototypes, batch_size, C, d)
    x, x_query, z, y_query = _sample_compiled(batch_size, n // C, C, d, seed, dtype, z)
    y = torch.arange(C).repeat_interleave(n // C).expand(batch_size, n).contiguous()
    ctx = Contexts(x=x, y=y, x_query=x_query, y_query=y_query, prototypes=z.to(dtype))
    return ctx if device is None or torch.device(device).type == "cpu" else ctx.to(device)


def sample_tokens(
    batch_size: int,
    *,
    n: int = 100,
    d: int = 5,
    C: int = 5,
    seed: int,
    dtype: torch.dtype = torch.float32,
    out: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`sample_contexts(...).tokens()` and `.y_query` for the same arguments, without the Contexts.

    The training fast path: the compiled sampler writes the points straight into the token matrix.
    The tokens (B, n+1, d+C) are a transposed view of feature-major storage (B, d+C, n+1), the
    layout the compiled training step reads; torch ops take either. Equal to
    `sample_contexts(...).tokens()` (a test checks it).

    `out`, a CPU tensor of that shape, dtype and storage (`torch.empty(B, d+C, n+1).mT`), is
    overwritten entirely and returned instead of a new tensor (`TokenSampler` reuses one buffer
    seed after seed).
    """
    _check_task_arguments(batch_size, n, d, C)
    if out is not None:
        _check_token_buffer(out, batch_size, n, d, C, dtype)
    tokens = torch.empty(batch_size, d + C, n + 1, dtype=dtype).mT if out is None else out  # (B, n+1, d+C), feature-major
    return TokenSampler(tokens, n=n, d=d, C=C)(seed)


class TokenSampler:
    """`sample_tokens(batch_size, n=n, d=d, C=C, seed=seed, dtype=out.dtype, out=out)` for one
    buffer `out` and seed after seed: the training loop's sampler. Returns the buffer and a
    query-label tensor that the next call overwrites (a test checks both against `sample_tokens`).

    What does not change from one call to the next is done once: the buffer's views, the working
    arrays, and the label block: context rows are grouped by class, so the one-hot labels are the
    same in every batch. So nothing else may write to the buffer between calls.
    """

    def __init__(self, out: torch.Tensor, *, n: int, d: int, C: int) -> None:
        from icl_lib._compiled_sampler import BLOCK, sampler_kernel  # numba on first use: `import icl_lib.tasks` stays light

        batch_size = out.shape[0]
        _check_task_arguments(batch_size, n, d, C)
        _check_token_buffer(out, batch_size, n, d, C, out.dtype)
        self.out, self.n, self.d, self.C = out, n, d, C
        self.y_query = torch.empty(batch_size, dtype=torch.int64)
        self._kernel, self._block = sampler_kernel(d), BLOCK
        self._arrays = (np.empty((batch_size, C, d)), self.y_query.numpy(), out[:, :n, :d].numpy(), out[:, n, :d].numpy())
        self._none = np.empty(0, dtype=np.int64)
        labels = torch.zeros(n + 1, C, dtype=out.dtype)  # row c*k + j: class c; the query row: zeros
        labels[torch.arange(n), torch.arange(n) // (n // C)] = 1.0
        out[:, :, d:] = labels

    def __call__(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        z, y_query, x, x_query = self._arrays
        self._kernel(_kernel_seed(_check_seed(seed)), self.n // self.C, True, z, y_query, x, x_query, self._block, True,
                     self._none)
        return self.out, self.y_query


def _sample_compiled(batch_size: int, k: int, C: int, d: int, seed: int, dtype: torch.dtype,
                     prototypes: torch.Tensor | None = None, *, mirror: bool = True, examined: np.ndarray | None = None):
    """The compiled sampler of dimension d (`icl_lib._compiled_sampler`) into new tensors.

    Each context's prototypes (unless given, float64 (B, C, d)), query class and points come from
    its own stream. Points are drawn in float64 and written in `dtype`, into x (B, C*k, d) and
    x_query (B, d). `examined` (B,) int64, when given, gets each context's number of candidates
    (d >= 3); `mirror=False` turns the mirroring of the last open region off.
    Returns x, x_query, prototypes (B, C, d) in float64, y_query (B,).
    """
    from icl_lib._compiled_sampler import BLOCK, sampler_kernel  # numba on first use: `import icl_lib.tasks` stays light

    z = torch.empty(batch_size, C, d, dtype=torch.float64) if prototypes is None else prototypes.clone()
    y_query = torch.empty(batch_size, dtype=torch.int64)
    x, x_query = torch.empty(batch_size, C * k, d, dtype=dtype), torch.empty(batch_size, d, dtype=dtype)
    sampler_kernel(d)(_kernel_seed(seed), k, prototypes is None, z.numpy(), y_query.numpy(), x.numpy(), x_query.numpy(),
                      BLOCK, mirror, np.empty(0, dtype=np.int64) if examined is None else examined)
    return x, x_query, z, y_query


def candidate_counts(batch_size: int, *, n: int = 100, d: int = 5, C: int = 5, seed: int, mirror: bool = True) -> np.ndarray:
    """Candidates examined for each context of `sample_contexts(batch_size, n=n, d=d, C=C, seed=seed)`
    on the CPU (d >= 3), (batch_size,) int64: the sampler's cost in a figure that does not depend
    on the machine. `mirror=False`: the same prototypes and query classes without the mirroring
    of the last open region's candidates.
    """
    _check_task_arguments(batch_size, n, d, C)
    if d < 3:
        raise ValueError(f"d={d}: candidate counts exist for the rejection sampler only (d >= 3)")
    examined = np.empty(batch_size, dtype=np.int64)
    _sample_compiled(batch_size, n // C, C, d, _check_seed(seed), torch.float64, mirror=mirror, examined=examined)
    return examined
