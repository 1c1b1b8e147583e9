"""The CUDA path, on a machine with a GPU; skipped (with its reason shown) where torch sees none.

On CUDA a step's gradient comes from autograd through `SelfAttention` and the update from
torch.optim's Adam (`icl_lib.training`), while the sampler runs on the CPU for every device and
its batches are copied over. So the device's contexts must equal the CPU's exactly, and a float32
run trained on the GPU must end where the CPU run ends, up to float32 rounding amplified over the
steps (the stated tolerance below)."""

from dataclasses import replace

import pytest
import torch

from icl_lib.streams import contexts_for
from icl_lib.training import TrainConfig, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the GPU path is not tested here")

CONFIG = TrainConfig(kind="softmax", d=5, C=5, n=100, steps=50, lr=1e-3, clip=1.0, batch_size=256, eval_every=25,
                     n_eval=64, checkpoint_every=1000)
# float32 on different hardware and summation orders: relative 1e-3 of the weights' scale after 50 steps
RTOL = 1e-3


def test_device_contexts_are_the_cpu_contexts():
    cpu = contexts_for("checks", 512, n=100, d=5, C=5, seed=3)
    gpu = contexts_for("checks", 512, n=100, d=5, C=5, seed=3, device="cuda")
    assert gpu.x.device.type == "cuda"
    for a, b in ((cpu.x, gpu.x), (cpu.y, gpu.y), (cpu.x_query, gpu.x_query), (cpu.y_query, gpu.y_query)):
        assert torch.equal(a, b.cpu())


@pytest.mark.parametrize("kind", ["softmax", "linear", "two_layer"])
def test_a_cuda_run_ends_where_the_cpu_run_ends(tmp_path, kind):
    config = replace(CONFIG, kind=kind, clip=1e-3 if kind == "linear" else 1.0)
    cpu = train(config, runs_dir=tmp_path / "cpu", device="cpu", progress=False)
    gpu = train(config, runs_dir=tmp_path / "cuda", device="cuda", progress=False)
    matrices = [(a, b) for x, y in zip(cpu.member_layers(), gpu.member_layers(), strict=True)
                for a, b in zip(x.as_tuple(), y.as_tuple(), strict=True)]
    for a, b in matrices:
        scale = float(a.abs().max())
        assert torch.allclose(a, b.cpu(), rtol=RTOL, atol=RTOL * scale), float((a - b.cpu()).abs().max()) / scale
    assert gpu.history["eval_loss"][-1][0] == pytest.approx(cpu.history["eval_loss"][-1][0], rel=RTOL)


def test_a_cuda_ensemble_trains_each_member_as_alone(tmp_path):
    ensemble = replace(CONFIG, seeds=(0, 1), lr=(1e-3, 3e-3))
    run = train(ensemble, runs_dir=tmp_path, device="cuda", progress=False)
    alone = train(replace(CONFIG, seeds=(1,), lr=3e-3), runs_dir=tmp_path, device="cuda", progress=False)
    for a, b in zip(run.weights.member(1).as_tuple(), alone.weights.as_tuple(), strict=True):
        assert torch.allclose(a, b, rtol=RTOL, atol=RTOL * float(b.abs().max()))
