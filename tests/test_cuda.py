"""Tests that need a CUDA device (marked `cuda`, skipped without one; `benchmarks/gpu_check.sh`
runs them on a GPU machine), and the CPU check of the GPU benchmark's code path."""

import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO_ROOT
from hf_contrastive import SimCLRConfig, SimCLRForPreTraining

TINY = {"backbone_config": {"model_type": "resnet", "num_channels": 3, "embedding_size": 8, "hidden_sizes": [16, 32], "depths": [1, 1],
                            "layer_type": "basic"}, "image_size": 32, "cifar_stem": True, "projection_dim": 16}  # fmt: skip


def _views(batch: int = 32) -> torch.Tensor:
    return torch.rand(batch, 2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bf16_autocast_loss_is_finite_and_close_to_float32():
    """Property: under bf16 autocast the SimCLR loss (computed in float32 by design) stays finite
    and within 2% of the float32 loss of the same weights and views."""
    torch.manual_seed(0)
    model = SimCLRForPreTraining(SimCLRConfig(**TINY)).cuda().train().to(memory_format=torch.channels_last)
    views = _views().cuda()
    exact = model(views).loss
    with torch.autocast("cuda", dtype=torch.bfloat16):
        mixed = model(views).loss
    assert mixed.dtype == torch.float32 and torch.isfinite(mixed)
    assert abs(mixed.item() - exact.item()) <= 0.02 * exact.item()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_compile_gives_the_eager_loss_and_gradients():
    """Property: `torch.compile` of the model (NT-Xent and its gather path included) computes the
    eager loss and gradients on CUDA."""
    torch.manual_seed(0)
    model = SimCLRForPreTraining(SimCLRConfig(**TINY)).cuda().eval()  # eval: batch norm is deterministic
    views = _views().cuda()
    eager = model(views).loss
    eager.backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled = torch.compile(model)(views).loss
    compiled.backward()
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
    for gradient, reference in zip((p.grad for p in model.parameters()), expected):
        torch.testing.assert_close(gradient, reference, rtol=1e-3, atol=1e-5)


def test_gpu_benchmark_runs_its_code_path_on_the_cpu_at_toy_sizes():
    """benchmarks/bench_gpu.py with --device cpu --quick: every row runs and the table is printed
    (what a CPU can check of the GPU check)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "bench_gpu.py"), "--device", "cpu", "--quick", "--steps", "1"],
        capture_output=True, text=True, env=env, timeout=300, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row.split("|")[1].strip().split(",")[0] for row in rows] == [
        "SimCLR ResNet-50", "SimCLR ResNet-18", "SimCLR views", "CLEAR"
    ]
