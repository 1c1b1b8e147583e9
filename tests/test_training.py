"""The training engine: equivalence with a plain implementation, ensembles, resume, the run cache."""

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from icl_lib.models import SelfAttention, Weights, full_attention_logits
from icl_lib.runs import DamagedRunError, load_checked, save_checked
from icl_lib.training import (
    TrainConfig,
    _batch,
    init_weights,
    learning_rate,
    run_key,
    train,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL = TrainConfig(kind="softmax", d=3, C=4, n=20, steps=24, lr=3e-3, clip=0.05, batch_size=32, eval_every=6,
                    n_eval=16, checkpoint_every=5, schedule="warmup_cosine", warmup_steps=4, dtype="float64")


def _plain_train(config: TrainConfig, member: int) -> Weights:
    """Plain twin: one model, full (n+1)x(n+1) attention, torch.optim.Adam, clipping as optax's
    clip_by_global_norm (the paper's stack: no epsilon, unlike torch's clip_grad_norm_)."""
    init = init_weights(config)
    model = SelfAttention(config.kind, config.d, config.C, include_query=config.include_query, dtype=torch.float64)
    model.load_weights(init.member(member))
    opt = torch.optim.Adam(model.parameters(), lr=config.lrs[member])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: learning_rate(config, step))
    for step in range(config.steps):
        tokens, y_query = _batch(config, step)
        if not config.shared_data:
            tokens, y_query = tokens[member], y_query[member]
        loss = torch.nn.functional.cross_entropy(full_attention_logits(model, tokens), y_query)
        opt.zero_grad()
        loss.backward()
        norm = math.sqrt(sum(float((p.grad**2).sum()) for p in model.parameters()))
        if norm > config.clip:
            for p in model.parameters():
                p.grad.mul_(config.clip / norm)
        opt.step()
        sched.step()
    return model.weights()


@pytest.mark.parametrize("kind", ["linear", "softmax"])
def test_engine_equals_plain_training(tmp_path, kind):
    config = replace(SMALL, kind=kind, seeds=(3, 4), lr=(3e-3, 1e-2), clip=0.05 if kind == "softmax" else 1e-3)
    run = train(config, runs_dir=tmp_path, progress=False)
    for member in range(2):
        plain = _plain_train(config, member)
        for fast, ref in zip(run.weights.as_tuple(), plain.as_tuple(), strict=True):
            assert torch.allclose(fast[member], ref, rtol=1e-9, atol=1e-12)


def test_ensemble_members_with_independent_data_equal_plain(tmp_path):
    config = replace(SMALL, seeds=(0, 1), shared_data=False)
    run = train(config, runs_dir=tmp_path, progress=False)
    plain = _plain_train(config, 1)
    assert torch.allclose(run.weights.W_Q[1], plain.W_Q, rtol=1e-9, atol=1e-12)


def test_prefetch_does_not_change_the_run(tmp_path):
    a = train(SMALL, runs_dir=tmp_path / "a", progress=False, prefetch=True)
    b = train(SMALL, runs_dir=tmp_path / "b", progress=False, prefetch=False)
    assert torch.equal(a.weights.W_O, b.weights.W_O) and a.history["eval_loss"] == b.history["eval_loss"]


def test_resume_in_process_is_exact(tmp_path):
    whole = train(SMALL, runs_dir=tmp_path / "whole", progress=False)
    partial = train(SMALL, runs_dir=tmp_path / "resumed", progress=False, stop_after=13)  # checkpoint at 10
    assert not (partial.path / "final.pt").exists() and (partial.path / "checkpoint.pt").exists()
    resumed = train(SMALL, runs_dir=tmp_path / "resumed", progress=False)
    for a, b in zip(whole.weights.as_tuple(), resumed.weights.as_tuple(), strict=True):
        assert torch.equal(a, b)
    assert whole.history["step"] == resumed.history["step"] and whole.history["eval_loss"] == resumed.history["eval_loss"]
    assert all(torch.equal(x, y) for s, t in zip(whole.history["snapshots"], resumed.history["snapshots"], strict=True)
               for x, y in zip(s, t, strict=True))


def test_killed_run_resumes_to_the_same_result(tmp_path):
    """SIGKILL a training process after its first checkpoint, resume, compare with an uninterrupted run."""
    config = replace(SMALL, steps=3000, checkpoint_every=20, eval_every=250)  # long enough to be killed mid-run
    script = (f"import sys; from icl_lib.training import *; from dataclasses import replace; "
              f"cfg = TrainConfig(**{config.to_dict()!r}); "
              f"train(cfg, runs_dir=sys.argv[1], progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "killed")], cwd=ROOT)
    checkpoint = tmp_path / "killed" / run_key(config) / "checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists(), "the run never wrote a checkpoint"
    assert not (checkpoint.parent / "final.pt").exists(), "the run finished before it was killed"
    resumed = train(config, runs_dir=tmp_path / "killed", progress=False)
    whole = train(config, runs_dir=tmp_path / "whole", progress=False)
    assert resumed.history["step"] == whole.history["step"]
    assert torch.equal(resumed.weights.W_K, whole.weights.W_K), float((resumed.weights.W_K - whole.weights.W_K).abs().max())
    assert resumed.history["eval_loss"] == whole.history["eval_loss"]


def test_finished_run_is_reused_and_a_changed_config_is_not(tmp_path):
    first = train(SMALL, runs_dir=tmp_path, progress=False)
    mtime = (first.path / "final.pt").stat().st_mtime_ns
    again = train(SMALL, runs_dir=tmp_path, progress=False)
    assert (again.path / "final.pt").stat().st_mtime_ns == mtime and torch.equal(again.weights.W_V, first.weights.W_V)
    changed = replace(SMALL, lr=1e-3)
    assert run_key(changed) != run_key(SMALL)
    other = train(changed, runs_dir=tmp_path, progress=False)
    assert other.path != first.path and not torch.equal(other.weights.W_V, first.weights.W_V)


def test_key_changes_with_library_and_sampler_versions(monkeypatch):
    import icl_lib
    import icl_lib.training as training

    key = run_key(SMALL)
    monkeypatch.setattr(icl_lib, "__version__", "9.9.9")
    assert run_key(SMALL) != key
    monkeypatch.undo()
    monkeypatch.setattr(training, "SAMPLER_VERSION", "another stream")
    assert run_key(SMALL) != key


def test_stale_file_under_a_key_is_refused(tmp_path):
    run = train(SMALL, runs_dir=tmp_path, progress=False)
    state = load_checked(run.path / "final.pt")
    state["config"]["lr"] = 123.0
    save_checked(state, run.path / "final.pt")
    with pytest.raises(RuntimeError, match="another config"):
        train(SMALL, runs_dir=tmp_path, progress=False)


@pytest.mark.parametrize("damage", ["flip a bit", "truncate"])
def test_a_damaged_run_file_is_refused_with_its_name(tmp_path, damage):
    """torch.load does not verify its input: without the checksum a flipped bit in final.pt would
    be served as different weights; a truncated file raised EOFError naming neither file nor fix."""
    run = train(SMALL, runs_dir=tmp_path, progress=False)
    final = run.path / "final.pt"
    data = bytearray(final.read_bytes())
    if damage == "flip a bit":
        data[len(data) // 2] ^= 0x01
    else:
        data = data[: len(data) // 2]
    final.write_bytes(bytes(data))
    with pytest.raises(DamagedRunError, match=f"{final}.*delete the folder"):
        train(SMALL, runs_dir=tmp_path, progress=False)


def test_run_files_written_before_checksums_still_load(tmp_path):
    run = train(SMALL, runs_dir=tmp_path, progress=False)
    state = load_checked(run.path / "final.pt")
    torch.save(state, run.path / "final.pt")  # the format without a checksum
    assert torch.equal(train(SMALL, runs_dir=tmp_path, progress=False).weights.W_Q, run.weights.W_Q)


def test_a_diverged_run_is_never_saved(tmp_path):
    """A learning rate so large that the weights overflow: the run stops with a clear error and
    leaves neither a checkpoint nor a finished run that a later call would serve."""
    diverging = replace(SMALL, lr=1e38, clip=1e38, dtype="float32", schedule="constant", warmup_steps=0)
    with pytest.raises(FloatingPointError, match="diverged"):
        train(diverging, runs_dir=tmp_path, progress=False)
    folder = tmp_path / run_key(diverging)
    assert not (folder / "final.pt").exists() and not (folder / "checkpoint.pt").exists()


def test_temporary_files_of_a_killed_write_are_removed(tmp_path):
    folder = tmp_path / run_key(SMALL)
    folder.mkdir()
    stale, fresh = folder / ".checkpoint.pt.abc.tmp", folder / ".checkpoint.pt.def.tmp"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"being written")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    train(SMALL, runs_dir=tmp_path, progress=False)
    assert not stale.exists() and fresh.exists()


def test_schedules():
    cfg = replace(SMALL, steps=100, warmup_steps=10, final_lr_fraction=0.1)
    assert learning_rate(cfg, 0) == pytest.approx(0.1) and learning_rate(cfg, 9) == pytest.approx(1.0)
    assert learning_rate(cfg, 10) == pytest.approx(1.0)
    assert learning_rate(cfg, 55) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert learning_rate(replace(cfg, schedule="constant"), 50) == 1.0


def test_init_modes():
    big = replace(SMALL, d=20, C=20, n=20)
    w = init_weights(big).W_Q
    assert w.std().item() == pytest.approx(0.002 / math.sqrt(40), rel=0.05)
    w = init_weights(replace(big, init_mode="variance")).W_Q
    assert w.std().item() == pytest.approx(math.sqrt(0.002 / 40), rel=0.05)


@pytest.mark.parametrize(("change", "message"), [
    ({"lr": -1.0}, "lr=-1.0"), ({"steps": 0}, "steps=0"), ({"kind": "kernel"}, "kind='kernel'"),
    ({"schedule": "step"}, "schedule='step'"), ({"lr": (1e-3, 2e-3)}, "lr has 2 values for 1 seeds"),
    ({"warmup_steps": 24}, "warmup_steps=24"), ({"n": 21}, "n=21 must be divisible by C=4"),
    ({"lr": True}, "lr=True must be a finite number"), ({"seeds": 5}, "seeds=5 must be a non-empty tuple"),
])
def test_config_errors(change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        replace(SMALL, **change)


@pytest.mark.parametrize("clip", [0.05, 100.0], ids=["clipped", "unclipped"])
def test_the_library_update_is_a_clip_per_member_then_adam(clip):
    """The torch update (torch.optim's Adam, used on CUDA): one step from fresh moments moves every
    weight by lr g / (|g| + eps) (Adam's bias-corrected first step), g being the member's gradient
    scaled to norm min(clip, |grad|), at the member's own rate."""
    from icl_lib.training import _torch_clip_and_adam

    gen = torch.Generator().manual_seed(5)
    weights = torch.randn(3, 4, 7, 7, generator=gen, dtype=torch.float64)
    grad = torch.randn(3, 4, 7, 7, generator=gen, dtype=torch.float64) * torch.tensor([0.1, 1.0, 10.0]).view(3, 1, 1, 1)
    start, clipped, lrs = weights.clone(), grad.clone(), np.array([1e-3, 3e-3, 1e-3])
    _torch_clip_and_adam(clipped, torch.zeros_like(grad), torch.zeros_like(grad), weights, clip, lrs, 1)
    for s in range(3):
        norm = float(grad[s].norm())
        assert torch.allclose(clipped[s], grad[s] * min(1.0, clip / norm), rtol=1e-14)
        expected = start[s] - lrs[s] * clipped[s] / (clipped[s].abs() + 1e-8)
        assert torch.allclose(weights[s], expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("clip", [0.05, 100.0], ids=["clipped", "unclipped"])
def test_compiled_clip_and_adam_equals_the_library_update(dtype, clip):
    """The CPU's compiled clip + Adam and the torch update (torch.optim's Adam) give the same
    gradient, moments and weights over a few steps of three members at two rates."""
    from icl_lib.training import _compiled_clip_and_adam, _torch_clip_and_adam

    gen = torch.Generator().manual_seed(5)
    weights, m = (torch.randn(3, 4, 7, 7, generator=gen, dtype=dtype) for _ in range(2))
    start = [weights, m, torch.rand(3, 4, 7, 7, generator=gen, dtype=dtype)]  # v is non-negative
    states = {update: [x.clone() for x in start] for update in (_torch_clip_and_adam, _compiled_clip_and_adam)}
    lrs = np.array([1e-3, 1e-2, 1e-3])
    for t in (1, 2, 3):
        grad = torch.randn(3, 4, 7, 7, generator=gen, dtype=dtype) * 0.1
        grads = {}
        for update, (weights, m, v) in states.items():
            grads[update] = grad.clone()
            update(grads[update], m, v, weights, clip, lrs, t)
        rtol = 1e-12 if dtype == torch.float64 else 1e-5
        assert torch.allclose(grads[_compiled_clip_and_adam], grads[_torch_clip_and_adam], rtol=rtol, atol=rtol * 1e-2)
        for a, b in zip(states[_compiled_clip_and_adam], states[_torch_clip_and_adam], strict=True):
            assert torch.allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
    clipped = float(grads[_torch_clip_and_adam][0].norm())
    assert clipped == pytest.approx(min(clip, float(grad[0].norm())), rel=1e-5)  # the clip was (or was not) applied
    assert not torch.equal(states[_torch_clip_and_adam][0], start[0])  # the weights moved


@pytest.mark.parametrize("shared_data", [True, False])
@pytest.mark.parametrize("d", [2, 3])
def test_batches_sampled_into_the_reused_buffer_equal_fresh_ones(shared_data, d):
    """`train` samples every step into one buffer; two steps in a row equal freshly allocated batches."""
    from icl_lib.training import _Batches

    config = replace(SMALL, d=d, seeds=(0, 1, 2), shared_data=shared_data, dtype="float32")
    sample = _Batches(config)
    for step in (3, 4):
        tokens, y_query = sample(step)
        fresh, fresh_y = _batch(config, step)
        assert tokens is sample.tokens and tokens.mT.is_contiguous()
        assert torch.equal(tokens, fresh) and torch.equal(y_query, fresh_y)


@pytest.mark.parametrize("kind", ["linear", "softmax"])
@pytest.mark.parametrize("include_query", [True, False])
@pytest.mark.parametrize("shared_data", [True, False])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scale", [0.5, 8.0], ids=["moderate", "underflow"])
def test_compiled_step_equals_autograd(kind, include_query, shared_data, dtype, scale):
    """The compiled loss and gradient (CPU) equal autograd through SelfAttention.forward (the path
    used on CUDA); at scale 8 softmax scores lie hundreds apart and most weights underflow to 0."""
    from icl_lib._compiled_attention import loss_and_grad
    from icl_lib.metrics import per_context_loss
    from icl_lib.training import _autograd_loss_and_grad

    config = replace(SMALL, kind=kind, include_query=include_query, seeds=(0, 1, 2), shared_data=shared_data, dtype=dtype)
    tokens, y_query = _batch(config, 3)
    torch_dtype = getattr(torch, dtype)
    weights = torch.randn(3, 4, 7, 7, generator=torch.Generator().manual_seed(1), dtype=torch_dtype) * scale
    model = SelfAttention(kind, 3, 4, include_query=include_query, ensemble=3, dtype=torch_dtype)
    loss, grad = loss_and_grad(weights, tokens, y_query, d=3, softmax=kind == "softmax", include_query=include_query)
    model.load_weights(Weights(*weights.unbind(1)))
    with torch.no_grad():
        reference_loss = per_context_loss(model(tokens), y_query).mean(-1)
    reference_grad = _autograd_loss_and_grad(config, model, weights, tokens, y_query)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    assert torch.allclose(loss, reference_loss, rtol=rtol, atol=rtol)
    assert torch.allclose(grad, reference_grad, rtol=rtol, atol=rtol * float(reference_grad.abs().max()))
    assert float(reference_grad.abs().max()) > 1e-3  # a real gradient, not zeros on both sides


def test_autograd_path_trains_to_the_same_weights(tmp_path, monkeypatch):
    """A run whose steps use the autograd gradient and the torch update (as on CUDA) ends where
    the compiled path ends."""
    import icl_lib.training as training

    config = replace(SMALL, steps=12)
    compiled = train(config, runs_dir=tmp_path / "compiled", progress=False)
    used = []

    def autograd_step(*args):
        used.append(1)
        return training._autograd_loss_and_grad(*args)

    monkeypatch.setattr(training, "_compiled_step", lambda config: autograd_step)
    monkeypatch.setattr(training, "_compiled_clip_and_adam", training._torch_clip_and_adam)
    autograd = train(config, runs_dir=tmp_path / "autograd", progress=False)
    assert len(used) == config.steps  # every step took the autograd path
    for a, b in zip(compiled.weights.as_tuple(), autograd.weights.as_tuple(), strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("profile", ["smoke", "book", "paper"])
def test_chapter_4s_run_config_is_the_profiles_softmax_settings(profile):
    """softmax_run_config, which chapters 4, 5 and 8 share, is the profile's softmax settings with
    the notebook's overrides: the configs (and so the cached runs) chapters 4 and 5 built inline."""
    from icl_lib import paper
    from icl_lib.chapter_runs import softmax_run_config
    from icl_lib.profiles import PROFILES
    from icl_lib.training import config_from_profile

    prof = PROFILES[profile]
    for d in prof.dims:
        settings = prof.training_settings("softmax", d)
        inline = config_from_profile("softmax", d, settings, C=5, n=100, seeds=(0,), include_query=False, n_eval=prof.n_eval)
        assert softmax_run_config(prof, d, C=5, n=100, seed=0, include_query=False) == inline
        assert softmax_run_config(prof, d, C=5, n=100, seed=0, include_query=True, steps=9000, lr=0.5) == replace(
            inline, steps=9000, lr=0.5, include_query=True)
        constant = {"lr": paper.softmax_lr(d), "schedule": "constant", "warmup_steps": 0}
        assert softmax_run_config(prof, d, C=5, n=100, seed=0, include_query=False, lr=0.5, changes=constant) == replace(
            inline, **constant)  # the paper's rate wins over the notebook's lr
        extra = softmax_run_config(prof, d, C=5, n=100, seed=0, include_query=False, seeds=(1, 2),
                                   changes={"shared_data": False})
        assert extra == replace(inline, seeds=(1, 2), shared_data=False)


def test_keep_freed_memory_takes_on_glibc_and_says_so_where_it_cannot(monkeypatch):
    import ctypes
    import platform

    from icl_lib.training import keep_freed_memory

    keep_freed_memory.cache_clear()
    if platform.libc_ver()[0] == "glibc":
        assert keep_freed_memory() is True
    keep_freed_memory.cache_clear()

    def no_library(*args, **kwargs):
        raise OSError("no C library here")

    monkeypatch.setattr(ctypes, "CDLL", no_library)
    assert keep_freed_memory() is False
    keep_freed_memory.cache_clear()
