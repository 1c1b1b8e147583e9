"""Training self-attention on the task, as in Appendix G, with runs stored as artifacts.

- Adam (default betas), gradient clipping by global norm *per model*, cross-entropy on the
  query, a fresh batch of contexts every step, no causal mask.
- An ensemble of S models (seeds and/or learning rates) is trained in one batched computation;
  Adam and clipping are applied per model, so each member follows exactly the trajectory it
  would follow alone (a test checks this).
- The batch of step t is the data set ("train", data_seed, stream, t) of `icl_lib.streams`
  (`training_batch`): a run resumed from any checkpoint sees the same data, a background thread
  may sample ahead (on CUDA), and no evaluation or search set of the book is ever a training batch.
- On the CPU a step's loss and gradient come from one compiled loop per context
  (`icl_lib._compiled_attention`); on other devices from autograd through `SelfAttention`.
  Tests check the two against each other, and the trainer against a plain twin.
- A run lives in `runs/<key>/`, where the key (`run_key`) hashes the full config and the library
  version: a finished run is loaded, not retrained; a changed config gets another key. How its
  files are written and read back is `icl_lib.runs`.
Chapters: `03_linear_vs_gd`, `04_softmax_vs_kernel_gd`, `05_extraction`, `06_d10_dynamics`,
`07_selection_vs_elimination`, `08_recipe`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import queue
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.optim.adam import adam
from tqdm import tqdm

import icl_lib
from icl_lib import paper
from icl_lib.files import atomic_write
from icl_lib.metrics import per_context_loss
from icl_lib.models import SelfAttention, Weights, as_layers, as_matrices
from icl_lib.runs import (
    Run,
    build_model,
    check_finite,
    load_checked,
    load_into,
    load_run,
    parameter_names,
    remove_stale_temporary_files,
    save_checked,
)
from icl_lib.streams import contexts_for, stream_seed
from icl_lib.tasks import SAMPLER_VERSION, Contexts, TokenSampler, sample_contexts
from icl_lib.two_layer import TwoLayerSoftmax
from icl_lib.validation import check_bool, check_choice, check_fits_in_memory, check_positive_float, check_positive_int

__all__ = ["TrainConfig", "train",
           "learning_rate", "init_weights", "eval_contexts", "training_batch", "run_key",
           "config_from_profile", "resolve_device", "budget_text",
           "budget_against_paper", "keep_freed_memory"]

ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch's and optax's defaults; the paper changes neither
SCHEDULES = ("constant", "warmup_cosine")
_INT_FIELDS = ("d", "steps", "C", "n", "batch_size", "data_seed", "warmup_steps", "eval_every", "n_eval", "eval_seed",
               "checkpoint_every")
INIT_MODES = ("multiplier", "variance")
KINDS = ("linear", "softmax", "two_layer")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run (and so its cache key)."""

    kind: str  # "linear" | "softmax" | "two_layer" (`icl_lib.two_layer`, chapter 10)
    d: int
    steps: int
    lr: float | tuple[float, ...]  # peak learning rate; a tuple gives one per ensemble member
    clip: float  # max global norm of each model's gradient
    C: int = 5
    n: int = 100
    batch_size: int = 2048
    seeds: tuple[int, ...] = (0,)  # one model per seed (initialisation)
    data_seed: int = 0
    shared_data: bool = True  # all members see the same batches (False: one stream per member)
    schedule: str = "constant"
    warmup_steps: int = 0
    final_lr_fraction: float = 0.0  # cosine decays to this fraction of the peak
    init_scale: float = 0.002  # "we rescale the weights by 0.002" (Appendix G)
    init_mode: str = "multiplier"  # 0.002 * N(0, 1/(d+C)) entries; "variance": N(0, 0.002/(d+C))
    include_query: bool = True  # the query token attends to itself
    eval_every: int = 100
    n_eval: int = 512  # fixed evaluation set (Appendix G)
    eval_seed: int = 0  # the evaluation set is the data set ("eval", eval_seed) of icl_lib.streams
    checkpoint_every: int = 1000
    dtype: str = "float32"

    def __post_init__(self) -> None:
        self._check()
        # one representation per value, so that equal configs hash to the same run key (a numpy
        # integer or a list would not even serialise; a learning rate 0.01 and 1e-2 are one run)
        normal = {name: int(getattr(self, name)) for name in _INT_FIELDS} | {
            "seeds": tuple(int(s) for s in self.seeds), "clip": float(self.clip), "init_scale": float(self.init_scale),
            "final_lr_fraction": float(self.final_lr_fraction),
            "lr": tuple(float(v) for v in self.lr) if isinstance(self.lr, tuple | list) else float(self.lr)}
        for name, value in normal.items():
            object.__setattr__(self, name, value)

    def _check(self) -> None:
        for name in ("lr", "clip", "init_scale", "final_lr_fraction"):
            values = getattr(self, name) if isinstance(getattr(self, name), tuple | list) else [getattr(self, name)]
            if any(isinstance(v, str) for v in values):  # papermill -y and PyYAML read 1e-2 as text
                raise ValueError(f"{name}={getattr(self, name)!r} is text, not a number (in YAML write 0.01 or 1.0e-2)")
        check_bool("shared_data", self.shared_data)
        check_bool("include_query", self.include_query)
        check_choice("kind", self.kind, KINDS)
        check_positive_int("d", self.d, minimum=2)
        check_positive_int("C", self.C, minimum=2)
        check_positive_int("n", self.n)
        if self.n % self.C:
            raise ValueError(f"n={self.n} must be divisible by C={self.C}")
        for name in ("steps", "batch_size", "eval_every", "n_eval", "checkpoint_every"):
            check_positive_int(name, getattr(self, name))
        check_positive_float("clip", self.clip)
        check_positive_float("init_scale", self.init_scale)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("init_mode", self.init_mode, INIT_MODES)
        check_choice("dtype", self.dtype, ("float32", "float64"))
        if not isinstance(self.seeds, tuple | list) or not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds={self.seeds!r} must be a non-empty tuple of distinct ints")
        for seed in self.seeds:
            check_positive_int("seeds", seed, minimum=0)
        for name in ("data_seed", "eval_seed", "warmup_steps"):
            check_positive_int(name, getattr(self, name), minimum=0)
        lrs = self.lrs
        if len(lrs) != self.ensemble:
            raise ValueError(f"lr has {len(lrs)} values for {self.ensemble} seeds")
        for value in self.lr if isinstance(self.lr, tuple | list) else [self.lr]:
            check_positive_float("lr", value)  # before `lrs` turns True into 1.0
        if self.warmup_steps < 0 or self.warmup_steps >= self.steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be in [0, steps={self.steps})")
        if isinstance(self.final_lr_fraction, bool) or not 0 <= self.final_lr_fraction <= 1:
            raise ValueError(f"final_lr_fraction={self.final_lr_fraction} must be in [0, 1]")
        member_tokens = self.batch_size * (self.n + 1) * (self.d + self.C) * (4 if self.dtype == "float32" else 8)
        check_fits_in_memory("batch_size", member_tokens * (1 if self.shared_data else self.ensemble),
                             f"a batch of {self.batch_size} contexts of n={self.n}")

    @property
    def layers(self) -> int:
        """Attention layers of the model: two for "two_layer", else one."""
        return 2 if self.kind == "two_layer" else 1

    @property
    def ensemble(self) -> int:
        return len(self.seeds)

    @property
    def lrs(self) -> tuple[float, ...]:
        return tuple(self.lr) if isinstance(self.lr, tuple | list) else (float(self.lr),) * len(self.seeds)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _identity(config: TrainConfig) -> dict[str, object]:
    """What a run depends on: its config, the library version and the data stream's version."""
    return {"config": config.to_dict(), "version": icl_lib.__version__, "sampler": SAMPLER_VERSION}


def run_key(config: TrainConfig) -> str:
    """Hash of the run's identity (config, library version, sampler version): the run's folder name."""
    payload = json.dumps(_identity(config), sort_keys=True)
    return f"{config.kind}-d{config.d}-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' if available else 'cpu'; 'cuda' without a GPU is a clear error."""
    check_choice("device", device, ("auto", "cpu", "cuda"))
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but torch sees no CUDA device; use device='cpu' or 'auto'")
    return device


def learning_rate(config: TrainConfig, step: int) -> float:
    """Multiplier of the peak learning rate at `step` (0-based): constant, or linear warm-up then cosine decay."""
    if config.schedule == "constant":
        return 1.0
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.final_lr_fraction + (1 - config.final_lr_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


def init_weights(config: TrainConfig) -> Weights | tuple[Weights, ...]:
    """Small random weights, (S, D, D) each; member s is drawn from its own seed (a two-layer
    model: one Weights per layer, layer 1's matrices drawn first)."""
    D = config.d + config.C
    dtype = getattr(torch, config.dtype)
    mats = []
    for seed in config.seeds:
        gen = torch.Generator().manual_seed(seed)
        std = config.init_scale / math.sqrt(D) if config.init_mode == "multiplier" else math.sqrt(config.init_scale / D)
        mats.append(torch.randn(4 * config.layers, D, D, generator=gen, dtype=torch.float64) * std)
    stacked = torch.stack(mats).to(dtype)  # (S, 4 L, D, D)
    return as_layers([stacked[:, i].contiguous() for i in range(4 * config.layers)])


def eval_contexts(config: TrainConfig) -> Contexts:
    """The run's fixed evaluation contexts: the data set ("eval", eval_seed), never a training batch."""
    return contexts_for("eval", config.n_eval, n=config.n, d=config.d, C=config.C, seed=config.eval_seed,
                        dtype=getattr(torch, config.dtype))


def _batch_seed(config: TrainConfig, member: int, step: int) -> int:
    """The seed of the batch member `member` trains on at step `step`: the data set ("train",
    data_seed, stream, step) of `icl_lib.streams`, stream 0 shared by all members, s + 1 member s's own."""
    return stream_seed("train", config.data_seed, 0 if config.shared_data else member + 1, step)


def training_batch(config: TrainConfig, step: int, member: int = 0, *, dtype: torch.dtype | None = None) -> Contexts:
    """Exactly the contexts that member `member` trains on at step `step` (0-based), as Contexts
    (in the run's dtype unless `dtype` is given): what a run saw, for anyone to inspect."""
    check_positive_int("step", step, minimum=0)
    if not 0 <= member < config.ensemble:
        raise ValueError(f"member={member} must be in [0, {config.ensemble}) for a run of {config.ensemble} members")
    return sample_contexts(config.batch_size, n=config.n, d=config.d, C=config.C, seed=_batch_seed(config, member, step),
                           dtype=dtype or getattr(torch, config.dtype))


def _batch(config: TrainConfig, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens and query labels of training step `step`: (B, n+1, d+C), (B,); with independent
    data per member, (S, B, n+1, d+C), (S, B). The tokens are stored feature-major, in new tensors."""
    return _Batches(config)(step)


class _Batches:
    """`_batch(config, step)` sampled into one reused CPU buffer (`TokenSampler`), for the training
    loop: a fresh multi-megabyte batch every step would be served from new pages, each a page
    fault. What it returns is overwritten by the next call."""

    def __init__(self, config: TrainConfig) -> None:
        shape = (config.batch_size, config.d + config.C, config.n + 1)  # feature-major, as the compiled step reads
        self.config, self.tokens = config, torch.empty(shape if config.shared_data else (config.ensemble, *shape),
                                                       dtype=getattr(torch, config.dtype)).mT
        parts = [self.tokens] if config.shared_data else list(self.tokens)
        self.samplers = [TokenSampler(part, n=config.n, d=config.d, C=config.C) for part in parts]

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config.shared_data:
            return self.samplers[0](_batch_seed(self.config, 0, step))
        labels = [sampler(_batch_seed(self.config, s, step))[1] for s, sampler in enumerate(self.samplers)]
        return self.tokens, torch.stack(labels)


class _Prefetcher:
    """Samples the batches of steps [start, stop) in a background thread, in order."""

    def __init__(self, config: TrainConfig, start: int, stop: int, depth: int = 2) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._work, args=(config, start, stop), daemon=True)
        self._thread.start()

    def _work(self, config: TrainConfig, start: int, stop: int) -> None:
        try:
            for step in range(start, stop):
                self._queue.put(_batch(config, step))
        except BaseException as error:  # surfaced in the training thread
            self._queue.put(error)

    def get(self) -> tuple[torch.Tensor, torch.Tensor]:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item


def train(
    config: TrainConfig,
    *,
    runs_dir: str | Path = "runs",
    device: str = "cpu",
    progress: bool | None = None,
    stop_after: int | None = None,
    prefetch: bool | None = None,
    on_eval: Callable[[int], None] | None = None,
) -> Run:
    """Train (or load, or resume) the run of `config`. `stop_after` stops early at that step
    (used to test resuming); `progress=None` shows a bar only on a terminal. `prefetch` samples the
    next batch in a background thread; None: only on CUDA (on the CPU the sampler and the step
    would compete for the same cores). `on_eval(step)` is called at every evaluation (the build's
    progress line, `icl_lib.progress`)."""
    path = Path(runs_dir) / run_key(config)
    final_file, checkpoint_file = path / "final.pt", path / "checkpoint.pt"
    if final_file.exists():
        return load_run(final_file, config, path)
    S, dtype = config.ensemble, getattr(torch, config.dtype)
    model = build_model(config, ensemble=S, dtype=dtype)
    model.to(device)
    if path.is_dir():
        remove_stale_temporary_files(path)
    if checkpoint_file.exists():
        state = load_checked(checkpoint_file, device)
        if state["config"] != config.to_dict():
            raise RuntimeError(f"{checkpoint_file} belongs to another config")
        weights, adam_m, adam_v = (torch.stack(state[key], dim=1) for key in ("weights", "adam_m", "adam_v"))
        start, history = state["step"], state["history"]
    else:
        weights = torch.stack(as_matrices(init_weights(config)), dim=1).to(device)  # (S, 4 L, D, D): W_Q, W_K, W_V, W_O
        adam_m, adam_v = torch.zeros_like(weights), torch.zeros_like(weights)
        start, history = 0, {"step": [], "eval_loss": [], "snapshots": []}
        path.mkdir(parents=True, exist_ok=True)
        atomic_write(path / "config.json", lambda f: f.write(json.dumps(_identity(config), indent=2).encode()))
    lrs = np.array(config.lrs)  # (S,) float64
    eval_tokens = eval_contexts(config).to(device)
    stop = config.steps if stop_after is None else min(config.steps, stop_after)
    if prefetch is None:
        prefetch = torch.device(device).type == "cuda"
    batches = _Prefetcher(config, start, stop) if prefetch else None
    sample = _Batches(config) if not prefetch else None  # each step's batch sampled into one buffer
    on_device = torch.device(device).type != "cpu"
    # the compiled loop covers one layer; two layers go through autograd on every device
    if not on_device:
        keep_freed_memory()
    loss_and_grad = _autograd_loss_and_grad if on_device or config.layers > 1 else _compiled_step(config)
    clip_and_adam = _torch_clip_and_adam if on_device else _compiled_clip_and_adam

    def evaluate(step: int) -> None:
        load_into(model, as_layers(weights.unbind(1)))
        with torch.no_grad():
            loss = per_context_loss(model(eval_tokens.tokens()), eval_tokens.y_query).mean(-1)  # (S,)
        history["step"].append(step)
        history["eval_loss"].append(loss.cpu().tolist())
        history["snapshots"].append(tuple(w.cpu().clone() for w in weights.unbind(1)))

    if start == 0 and not history["step"]:
        evaluate(0)
    # progress=None: tqdm shows the bar on a terminal only (quiet in CI and in the built book)
    bar = tqdm(range(start, stop), initial=start, total=config.steps, disable=None if progress is None else not progress,
               desc=f"{config.kind} d={config.d}", unit="step", dynamic_ncols=True)
    for step in bar:
        tokens, y_query = batches.get() if batches else sample(step)
        if on_device:
            tokens, y_query = tokens.to(device), y_query.to(device)
        grad = loss_and_grad(config, model, weights, tokens, y_query)  # (S, 4, D, D) of the mean query cross-entropy
        t = step + 1
        clip_and_adam(grad, adam_m, adam_v, weights, config.clip, lrs * learning_rate(config, step), t)
        if t % config.eval_every == 0 or t == config.steps:
            evaluate(t)
            bar.set_postfix(loss=f"{min(history['eval_loss'][-1]):.4f}")
            if on_eval is not None:
                on_eval(t)
        if t % config.checkpoint_every == 0 and t < config.steps:
            check_finite(weights, config, t, path)
            save_checked({"config": config.to_dict(), "weights": tuple(weights.cpu().unbind(1)),
                          "adam_m": list(adam_m.cpu().unbind(1)), "adam_v": list(adam_v.cpu().unbind(1)), "step": t,
                          "history": history}, checkpoint_file)
    bar.close()
    final = as_layers([w.cpu().clone() for w in weights.unbind(1)])
    if stop == config.steps:
        check_finite(weights, config, stop, path)
        save_checked({"config": config.to_dict(), "weights": as_matrices(final), "history": history}, final_file)
        checkpoint_file.unlink(missing_ok=True)
    return Run(config, final, history, path)


def clip_per_member(grad: torch.Tensor, clip: float) -> None:
    """Clip each member's gradient, grad (S, ...), in place to global norm `clip`: the book's reading
    of Appendix G's clipping (`icl_lib.readings.CLIP_READING`), optax.clip_by_global_norm as in the
    paper's JAX stack (no epsilon, unlike torch's clip_grad_norm_)."""
    norm = torch.linalg.vector_norm(grad.flatten(1), dim=1)  # (S,)
    grad.mul_(torch.clamp(clip / norm, max=1.0).view(-1, *([1] * (grad.dim() - 1))))


def _torch_clip_and_adam(grad: torch.Tensor, adam_m: torch.Tensor, adam_v: torch.Tensor, weights: torch.Tensor,
                         clip: float, lrs: np.ndarray, t: int) -> None:
    """Any device, in place: `clip_per_member`, then step t (1-based) of torch.optim's Adam
    (functional form, default betas and eps) for each member s at its rate lrs[s], on the member's
    views of weights, moments and gradient (S, 4, D, D): one call per distinct rate."""
    clip_per_member(grad, clip)
    for lr in np.unique(lrs):
        members = np.flatnonzero(lrs == lr).tolist()
        steps = [torch.tensor(float(t - 1)) for _ in members]  # Adam counts the step itself
        adam([weights[s] for s in members], [grad[s] for s in members], [adam_m[s] for s in members],
             [adam_v[s] for s in members], [], steps, foreach=True, amsgrad=False, beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1],
             lr=float(lr), weight_decay=0.0, eps=ADAM_EPS, maximize=False)


def _compiled_clip_and_adam(grad: torch.Tensor, adam_m: torch.Tensor, adam_v: torch.Tensor, weights: torch.Tensor,
                            clip: float, lrs: np.ndarray, t: int) -> None:
    """CPU: `_torch_clip_and_adam` as one compiled loop (`icl_lib._compiled_attention.clip_and_adam`)."""
    from icl_lib._compiled_attention import clip_and_adam  # numba on first use, on the CPU only

    beta1, beta2 = ADAM_BETAS
    clip_and_adam(grad.numpy(), adam_m.numpy(), adam_v.numpy(), weights.numpy(), float(clip), lrs / (1 - beta1**t), beta1,
                  beta2, ADAM_EPS, 1 - beta2**t)


def _compiled_step(config: TrainConfig) -> Callable[..., torch.Tensor]:
    """CPU: the gradient of a step by the forward and backward pass in one compiled loop per context
    (`icl_lib._compiled_attention.CompiledStep`), with its working arrays allocated once: the
    gradient it returns is overwritten by the next call. Same signature as `_autograd_loss_and_grad`."""
    from icl_lib._compiled_attention import CompiledStep  # numba on first use, on the CPU only

    step = CompiledStep(config.ensemble, config.batch_size, config.n + 1, config.d + config.C, config.d,
                        getattr(torch, config.dtype), softmax=config.kind == "softmax", include_query=config.include_query)

    def loss_and_grad(config: TrainConfig, model: SelfAttention, weights: torch.Tensor, tokens: torch.Tensor,
                      y_query: torch.Tensor) -> torch.Tensor:
        return step(weights, tokens, y_query)[1]

    return loss_and_grad


@functools.cache  # once per process: find_library runs ldconfig
def keep_freed_memory() -> bool:
    """Let this process reuse the memory it frees instead of handing it back to the system: glibc's
    malloc (mallopt) serves blocks of up to 1 GiB from its heap and trims none of it. Training steps,
    grid searches and fits allocate and free the same multi-megabyte tensors many times a second;
    handed back and faulted in again each time, they cost a third of a two-layer step and two thirds
    of chapter 10's fits in system time. `train` and every chapter's `set_up` call it.
    Returns whether the setting took (False where the C library is not glibc); it lasts for the
    process."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, 1 << 30)) and bool(mallopt(m_trim_threshold, 1 << 30))


def _autograd_loss_and_grad(config: TrainConfig, model: SelfAttention | TwoLayerSoftmax, weights: torch.Tensor,
                            tokens: torch.Tensor, y_query: torch.Tensor) -> torch.Tensor:
    """Any device: autograd through the model's forward (one layer: the query row only)."""
    w = weights.detach().requires_grad_()
    logits = torch.func.functional_call(model, dict(zip(parameter_names(model), w.unbind(1), strict=True)), (tokens,))
    loss = per_context_loss(logits, y_query).mean(-1)  # (S,) mean cross-entropy on the query
    return torch.autograd.grad(loss.sum(), w)[0]


def _usual_steps(configs: list[TrainConfig]) -> int:
    """The number of steps most of `configs` train (the others are named beside it)."""
    return max({c.steps for c in configs}, key=[c.steps for c in configs].count)


def budget_text(configs: list[TrainConfig]) -> str:
    """The training budget of runs that differ only by d, for settings columns: "3000 steps × 1024",
    with the dimensions that train another number of steps in brackets ("(d=2: 12000 steps)")."""
    usual = _usual_steps(configs)
    others = sorted({(c.d, c.steps) for c in configs if c.steps != usual})
    return f"{usual} steps × {configs[0].batch_size}" + (
        " (" + ", ".join(f"d={d}: {steps} steps" for d, steps in others) + ")" if others else "")


def budget_against_paper(configs: TrainConfig | list[TrainConfig], paper_steps: int, *,
                         paper_batch: int = paper.BATCH_SIZE) -> str:
    """`budget_text` with the share of the paper's training contexts (steps x batch) that the usual
    budget sees, e.g. "3000 steps × 1024 (0.08% of the paper's 2,000,000 × 2048)": shown in every
    verdict's setting, beside the paper's budget."""
    configs = [configs] if isinstance(configs, TrainConfig) else list(configs)
    share = _usual_steps(configs) * configs[0].batch_size / (paper_steps * paper_batch)
    percent = f"{100 * share:.2g}%" if share >= 1e-6 else f"{100 * share:.1e}%"  # small shares keep a digit
    return f"{budget_text(configs)} ({percent} of the paper's {paper_steps:,} × {paper_batch})"


def config_from_profile(kind: str, d: int, settings: dict[str, object], **overrides: object) -> TrainConfig:
    """A TrainConfig from a profile's settings (`Profile.training_settings(kind, d)`); overrides that
    are None are ignored, so a notebook parameter left at None means "the profile's value"."""
    fields = dict(settings) | {k: v for k, v in overrides.items() if v is not None}
    if fields.get("lr") is None:
        raise ValueError(f"no learning rate for {kind} d={d}: pass lr=")
    return TrainConfig(kind=kind, d=d, **fields)
