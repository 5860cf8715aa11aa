"""Training images per second of SimCLRForPreTraining on this machine, with the FLOPs per image, so
the fraction of the machine's matrix-multiply rate is visible.

One training step = both views through f and g, the NT-Xent loss, backward, a LARS step. FLOPs
are counted by `torch.utils.flop_counter.FlopCounterMode` on one step (forward + backward), the
machine's rate by timing a square float32 matrix multiply of similar size in the same run.

    python benchmarks/bench_simclr_step.py                       # ResNet-18 CIFAR stem 32 px, ResNet-50 224 px
    python benchmarks/bench_simclr_step.py --batch-32 64 --batch-224 8 --steps 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from hf_contrastive import LARS, SimCLRConfig, SimCLRForPreTraining, lars_param_groups


def matmul_rate(size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times)


def measure(config: SimCLRConfig, batch: int, steps: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model = SimCLRForPreTraining(config).train()
    optimizer = LARS(lars_param_groups(model), lr=0.3)
    views = torch.randn(batch, 2, config.num_channels, config.image_size, config.image_size)

    def step():
        loss = model(views).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step()  # also the warm-up
    flops_per_image = counter.get_total_flops() / batch
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times), flops_per_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-32", type=int, default=128, help="images per step at 32 px")
    parser.add_argument("--batch-224", type=int, default=16, help="images per step at 224 px")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    rate = matmul_rate()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; float32 matmul 2048^3: {rate / 1e9:.0f} GFLOP/s")
    print(f"{'model':<30} {'batch':>6} {'images/s':>9} {'GFLOP/image':>12} {'achieved GFLOP/s':>17} {'of matmul rate':>15}")
    cases = [
        ("ResNet-18, CIFAR stem, 32 px", SimCLRConfig(backbone="resnet18", cifar_stem=True, image_size=32), args.batch_32),
        ("ResNet-50, 224 px", SimCLRConfig(backbone="resnet50", image_size=224, temperature=0.1), args.batch_224),
    ]
    for name, config, batch in cases:
        images_per_second, flops = measure(config, batch, args.steps)
        achieved = images_per_second * flops
        print(f"{name:<30} {batch:>6} {images_per_second:>9.1f} {flops / 1e9:>12.2f} {achieved / 1e9:>17.1f} {achieved / rate:>15.0%}")


if __name__ == "__main__":
    main()
