"""Where a training run lives: `runs/<key>/`, its files written atomically with a checksum.

A finished run is a `Run` (config, final weights, history); `checkpoint.pt` holds a run in
progress. A damaged file is refused with its name, never served; a diverged run (non-finite
weights) is never saved; temporary files of a killed write are cleaned up. The key
(`icl_lib.training.run_key`) hashes the full config, so a changed config gets another folder.
Chapters: every chapter that trains (03-09), through `icl_lib.sweep.train_each`.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from icl_lib.files import atomic_write
from icl_lib.models import SelfAttention, Weights, as_layers
from icl_lib.tasks import Contexts
from icl_lib.two_layer import PARAMETER_NAMES, TwoLayerSoftmax

if TYPE_CHECKING:
    from icl_lib.training import TrainConfig

__all__ = ["Run", "DamagedRunError", "build_model", "load_into", "parameter_names",
           "save_checked", "load_checked", "load_run", "check_finite",
           "remove_stale_temporary_files"]


@dataclass
class Run:
    """A (possibly finished) training run: config, final weights, history."""

    config: TrainConfig
    weights: Weights | tuple[Weights, ...]  # (S, D, D) each; one Weights per layer for a two-layer run
    history: dict[str, list] = field(default_factory=dict)  # step, eval_loss (S per entry), snapshots
    path: Path | None = None

    def model(self, member: int = 0, *, dtype: torch.dtype = torch.float64) -> SelfAttention | TwoLayerSoftmax:
        """Member `member` as a single model (float64 by default, for sensitivities)."""
        return _member_model(self.config, self.weights, member, dtype)

    def snapshot_model(self, index: int, member: int = 0, *,
                       dtype: torch.dtype = torch.float64) -> SelfAttention | TwoLayerSoftmax:
        """Member `member` at the `index`-th evaluation step."""
        return _member_model(self.config, as_layers(self.history["snapshots"][index]), member, dtype)

    def member_layers(self, member: int = 0) -> tuple[Weights, ...]:
        """Member `member`'s final weights, one Weights per layer."""
        layers = (self.weights,) if isinstance(self.weights, Weights) else self.weights
        return tuple(w.member(member) for w in layers)

    def predictor(self, member: int = 0, index: int | None = None) -> Callable[[Contexts], torch.Tensor]:
        """Contexts -> logits of member `member`, final (index=None) or at the `index`-th evaluation."""
        model = self.model(member) if index is None else self.snapshot_model(index, member)
        return lambda ctx: model(ctx.tokens())

    def loss_curve(self, member: int = 0) -> tuple[list[int], list[float]]:
        """(steps, evaluation loss of member `member` at each), as the figures of training curves take it."""
        return list(self.history["step"]), [float(loss[member]) for loss in self.history["eval_loss"]]

    def snapshot_predictors(self, member: int = 0) -> list[Callable[[Contexts], torch.Tensor]]:
        return [self.predictor(member, i) for i in range(len(self.history["step"]))]

    def snapshot_weights(self, member: int = 0) -> Weights:
        """Member `member`'s weights at every evaluation step, (T, D, D) each."""
        return Weights(*(torch.stack([s[i][member] for s in self.history["snapshots"]]) for i in range(4)))


def build_model(config: TrainConfig, *, ensemble: int | None = None,
                dtype: torch.dtype | None = None) -> SelfAttention | TwoLayerSoftmax:
    """The model a run trains, with zero weights."""
    dtype = dtype or getattr(torch, config.dtype)
    if config.kind == "two_layer":
        return TwoLayerSoftmax(config.d, config.C, include_query=config.include_query, ensemble=ensemble, dtype=dtype)
    return SelfAttention(config.kind, config.d, config.C, include_query=config.include_query, ensemble=ensemble,
                         dtype=dtype)


def load_into(model: SelfAttention | TwoLayerSoftmax, weights: Weights | tuple[Weights, ...]) -> None:
    """Copy `as_layers` weights into a model of `build_model`."""
    if isinstance(model, TwoLayerSoftmax):
        model.load_layers(weights)
    else:
        model.load_weights(weights)


def parameter_names(model: SelfAttention | TwoLayerSoftmax) -> tuple[str, ...]:
    return PARAMETER_NAMES if isinstance(model, TwoLayerSoftmax) else ("W_Q", "W_K", "W_V", "W_O")


def _member_model(config: TrainConfig, weights: Weights | tuple[Weights, ...], member: int,
                  dtype: torch.dtype) -> SelfAttention | TwoLayerSoftmax:
    model = build_model(config, dtype=dtype)
    layers = weights.member(member) if isinstance(weights, Weights) else tuple(w.member(member) for w in weights)
    load_into(model, layers)  # copies, casting to the model's dtype
    return model


def save_checked(obj: object, path: Path) -> None:
    """Save `obj` atomically, with a checksum of its bytes that `load_checked` verifies."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    atomic_write(path, lambda f: f.write(_MAGIC + hashlib.sha256(data).digest() + data))


class DamagedRunError(RuntimeError):
    """A run file that is truncated or altered: it is never served."""


_MAGIC = b"icl-run-sha256\n"  # then the 32-byte SHA-256 of the torch.save bytes, then those bytes


def load_checked(file: Path, device: str | torch.device = "cpu") -> dict:
    """Load a run file saved by `save_checked`, refusing one whose checksum does not match (a flipped
    bit, a truncated copy). Files written before checksums were added load without the check."""
    fix = f"delete the folder {file.parent} to train the run again"
    data = file.read_bytes()
    if data.startswith(_MAGIC):
        digest, data = data[len(_MAGIC):len(_MAGIC) + 32], data[len(_MAGIC) + 32:]
        if hashlib.sha256(data).digest() != digest:
            raise DamagedRunError(f"{file} is damaged (its checksum does not match its contents): {fix}")
    try:
        return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except (EOFError, OSError, RuntimeError, pickle.UnpicklingError) as error:
        raise DamagedRunError(f"{file} cannot be read ({type(error).__name__}: {error}): {fix}") from error


def check_finite(weights: torch.Tensor, config: TrainConfig, step: int, path: Path) -> None:
    """Refuse to save a diverged run (non-finite weights) as a checkpoint or a finished run."""
    bad = (~torch.isfinite(weights.flatten(1))).any(dim=1).nonzero().flatten().tolist()
    if bad:
        rates = [config.lrs[m] for m in bad]
        raise FloatingPointError(
            f"the run in {path} diverged by step {step}: member(s) {bad} (learning rates {rates}) have non-finite weights; "
            "nothing was saved for this step. Lower the learning rate or the clipping threshold.")


def remove_stale_temporary_files(path: Path, *, older_than: float = 60.0) -> None:
    """Temporary files of atomic writes that a killed process left behind (never read; removed
    once older than `older_than` seconds, so a write in progress elsewhere is left alone)."""
    now = time.time()
    for tmp in path.glob(".*.tmp"):
        try:
            if now - tmp.stat().st_mtime > older_than:
                tmp.unlink()
        except FileNotFoundError:
            pass


def load_run(final_file: Path, config: TrainConfig, path: Path) -> Run:
    state = load_checked(final_file)
    if state["config"] != config.to_dict():
        raise RuntimeError(f"{final_file} belongs to another config: refusing to serve a stale run")
    return Run(config, as_layers(state["weights"]), state["history"], path)
