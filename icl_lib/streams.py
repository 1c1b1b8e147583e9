"""One seed namespace for every data set of the book: training batches, evaluation, searches,
alignment, figures, checks (chapters 1-7).

A data set is named by its *purpose* and drawn from the seed
`SeedSequence(entropy=seed, spawn_key=(purpose, *key))`, where `seed` is the user's seed and `key`
what distinguishes sets of one purpose (a training step, an ensemble member). Sets of different
purposes, or of different keys, hash to unrelated 63-bit seeds, and every context of a set comes
from its own stream derived from that seed (`icl_lib.tasks`), so an evaluation or search context
is never a training context (a test checks the first steps of runs). No chapter offsets seeds
by hand.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from icl_lib.tasks import Contexts, sample_contexts
from icl_lib.validation import check_choice, check_positive_int

__all__ = ["PURPOSES", "stream_seed", "contexts_for"]

PURPOSES = (
    "train",  # the batch of a training step (key: data stream, step)
    "eval",  # a run's fixed evaluation set (Appendix G: 512 contexts)
    "search",  # grid and line searches of the baselines (Appendix G: 10,000 contexts)
    "align",  # the alignment metrics (Section 4: N = 100 contexts)
    "heldout",  # per-context metrics and classifications on held-out contexts
    "figure",  # contexts drawn in a figure
    "checks",  # the task's invariants (chapter 1)
    "uniformity",  # the tests of uniformity within a region (chapter 1)
    "proofs",  # the numerical checks of the constructions (chapter 2)
    "landscape",  # independent search sets of the valley's profile (chapter 9; key: the set)
)


def _purpose_id(purpose: str) -> int:
    """A fixed number per purpose name (CRC-32 of the name), so adding a purpose moves no other stream."""
    return zlib.crc32(check_choice("purpose", purpose, PURPOSES).encode())


def stream_seed(purpose: str, seed: int = 0, *key: int) -> int:
    """The seed of the data set `purpose` for the user's `seed` and `key`, an int in [0, 2^63)."""
    check_positive_int("seed", seed, minimum=0)
    for value in key:
        check_positive_int("key", value, minimum=0)
    sequence = np.random.SeedSequence(entropy=int(seed), spawn_key=(_purpose_id(purpose), *map(int, key)))
    return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))


def contexts_for(purpose: str, batch_size: int, *, n: int, d: int, C: int, seed: int = 0, key: tuple[int, ...] = (),
                 dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> Contexts:
    """`batch_size` contexts of the data set `purpose` (one of PURPOSES): the one way chapters draw
    their search, alignment, held-out, figure and check sets. float64 by default, as the baselines
    and the sensitivities are compared in float64."""
    return sample_contexts(batch_size, n=n, d=d, C=C, seed=stream_seed(purpose, seed, *key), dtype=dtype, device=device)
