"""Training images per second of SimCLRForPreTraining on this machine, with the FLOPs per image, so
the fraction of the machine's matrix-multiply rate is visible; each model in the default (NCHW)
and the channels-last memory format, which the SimCLR recipe trains in, with their ratio.

One training step = both views through f and g, the NT-Xent loss, backward, a LARS step. FLOPs
are counted by `torch.utils.flop_counter.FlopCounterMode` on one step (forward + backward), the
machine's rate by timing a square float32 matrix multiply of similar size in the same run.

    python benchmarks/bench_simclr_step.py                       # the recipe's 28 px ResNet, ResNet-18 CIFAR stem 32 px, ResNet-50 224 px
    python benchmarks/bench_simclr_step.py --batch-32 64 --batch-224 8 --steps 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from hf_contrastive import LARS, SimCLRConfig, SimCLRForPreTraining, lars_param_groups
from hf_contrastive.recipes import SimCLRDefaults


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


def measure(config: SimCLRConfig, batch: int, steps: int, channels_last: bool) -> tuple[float, float]:
    torch.manual_seed(0)
    model = SimCLRForPreTraining(config).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
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
    parser.add_argument("--batch-28", type=int, default=256, help="images per step for the recipe's 28 px ResNet")
    parser.add_argument("--batch-32", type=int, default=128, help="images per step at 32 px")
    parser.add_argument("--batch-224", type=int, default=16, help="images per step at 224 px")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    rate = matmul_rate()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; float32 matmul 2048^3: {rate / 1e9:.0f} GFLOP/s")
    print(f"{'model':<30} {'format':<13} {'batch':>6} {'images/s':>9} {'GFLOP/image':>12} {'achieved GFLOP/s':>17} {'of matmul rate':>15}")
    recipe = SimCLRDefaults()
    default_backbone = {"model_type": "resnet", "num_channels": 1, "embedding_size": recipe.embedding_size, "layer_type": "basic",
                        "hidden_sizes": list(recipe.hidden_sizes), "depths": list(recipe.depths), "downsample_in_first_stage": True}  # fmt: skip
    cases = [
        ("recipe ResNet, 3x3 stem, 28 px", SimCLRConfig(backbone_config=default_backbone, num_channels=1, cifar_stem=True, image_size=28), args.batch_28),
        ("ResNet-18, CIFAR stem, 32 px", SimCLRConfig(backbone="resnet18", cifar_stem=True, image_size=32), args.batch_32),
        ("ResNet-50, 224 px", SimCLRConfig(backbone="resnet50", image_size=224, temperature=0.1), args.batch_224),
    ]
    for name, config, batch in cases:
        speeds = {}
        for channels_last in (False, True):
            images_per_second, flops = measure(config, batch, args.steps, channels_last)
            achieved = images_per_second * flops
            form = "channels_last" if channels_last else "NCHW"
            speeds[form] = images_per_second
            print(f"{name:<30} {form:<13} {batch:>6} {images_per_second:>9.1f} {flops / 1e9:>12.2f} {achieved / 1e9:>17.1f} {achieved / rate:>15.0%}")
        print(f"{name:<30} channels_last / NCHW images per second: {speeds['channels_last'] / speeds['NCHW']:.2f}x")


if __name__ == "__main__":
    main()
