"""Training throughput and peak memory on a GPU, in the precision and memory format the recipes use
there: SimCLR ResNet-50 at 224 px and ResNet-18 at 32 px (bf16 autocast, channels_last, LARS), the
batched SimCLR views on the GPU, and CLEAR with a BERT-base-sized encoder (bf16 autocast, AdamW).
Synthetic inputs (uint8 images, random token ids), so it needs neither `datasets` nor `nlpaug`:
only torch, transformers and this checkout (`PYTHONPATH=.`). One table at the end.

    python benchmarks/bench_gpu.py                            # on a CUDA machine (benchmarks/gpu_check.sh runs it)
    python benchmarks/bench_gpu.py --device cpu --quick       # the same code path at toy sizes (the test suite runs this)

Per row: steps timed after 3 warm-up steps (the median step), examples per second, and the peak
memory allocated by torch (CUDA only).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch
from transformers import BertConfig

from hf_contrastive import LARS, CLEARConfig, CLEARForPreTraining, SimCLRConfig, SimCLRForPreTraining, lars_param_groups
from hf_contrastive.augment.vision import BatchedSimCLRViews


@dataclass
class Row:
    name: str
    batch: int
    per_second: float
    unit: str
    peak_gib: float | None


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(step: Callable[[], None], steps: int, device: torch.device) -> float:
    """The median seconds of `steps` calls of `step` after 3 warm-up calls."""
    for _ in range(3):
        step()
    _synchronize(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def simclr_row(name: str, config: SimCLRConfig, batch: int, steps: int, device: torch.device) -> Row:
    """One SimCLR step on `batch` images (2 views each, as the recipe feeds them): views made on the
    device from uint8 images, f + g + NT-Xent under bf16 autocast, backward, LARS."""
    _reset_peak(device)
    torch.manual_seed(0)
    model = SimCLRForPreTraining(config).to(device).train().to(memory_format=torch.channels_last)
    optimizer = LARS(lars_param_groups(model), lr=0.3)
    views = BatchedSimCLRViews.from_preset("imagenet" if config.image_size > 64 else "cifar", size=config.image_size).to(device)
    side = int(config.image_size * 1.15)
    images = torch.randint(0, 256, (batch, 3, side, side), dtype=torch.uint8, device=device)

    def step() -> None:
        with torch.no_grad():
            pixel_values = torch.stack([views(images), views(images)], dim=1)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = model(pixel_values).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    seconds = _time(step, steps, device)
    return Row(f"{name}, {config.image_size} px, bf16, channels_last", batch, batch / seconds, "images/s", _peak(device))


def views_row(size: int, batch: int, steps: int, device: torch.device) -> Row:
    """The batched SimCLR views alone (imagenet preset: crop, flip, colour jitter, grayscale, blur)."""
    _reset_peak(device)
    views = BatchedSimCLRViews.from_preset("imagenet", size=size).to(device)
    images = torch.randint(0, 256, (batch, 3, int(size * 1.15), int(size * 1.15)), dtype=torch.uint8, device=device)
    seconds = _time(lambda: views(images), steps, device)
    return Row(f"SimCLR views, {size} px (batched, on the device)", batch, batch / seconds, "views/s", _peak(device))


def clear_row(text_config: BertConfig, batch: int, length: int, steps: int, device: torch.device) -> Row:
    """One CLEAR step: MLM (15% of the tokens masked) and NT-Xent between two views of each
    sentence, under bf16 autocast, AdamW."""
    _reset_peak(device)
    torch.manual_seed(0)
    model = CLEARForPreTraining(CLEARConfig(text_config=text_config, pooling="mean", temperature=0.05)).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    vocab = text_config.vocab_size
    ids = torch.randint(5, vocab, (batch, length), device=device)
    labels = torch.where(torch.rand(batch, length, device=device) < 0.15, ids, torch.full_like(ids, -100))
    view_a, view_b = torch.randint(5, vocab, (2, batch, length), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=labels, input_ids_a=view_a, input_ids_b=view_b).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    seconds = _time(step, steps, device)
    layers = f"{text_config.num_hidden_layers} layers x {text_config.hidden_size}"
    return Row(f"CLEAR, BERT {layers}, {length} tokens", batch, batch / seconds, "sentences/s", _peak(device))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per row")
    parser.add_argument("--quick", action="store_true", help="toy sizes: checks the code path, measures nothing useful")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; run with --device cpu --quick to check the script on a CPU")
    quick = args.quick
    bert_base = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
    if quick:
        bert_base = BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    rows = [
        simclr_row("SimCLR ResNet-50", SimCLRConfig(backbone="resnet50", image_size=32 if quick else 224), 4 if quick else 256, args.steps, device),
        simclr_row("SimCLR ResNet-18, CIFAR stem", SimCLRConfig(backbone="resnet18", cifar_stem=True, image_size=32), 8 if quick else 512,
                   args.steps, device),  # fmt: skip
        views_row(32 if quick else 224, 8 if quick else 256, args.steps, device),
        clear_row(bert_base, 4 if quick else 64, 16 if quick else 64, args.steps, device),
    ]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\n{name}; torch {torch.__version__}; median of {args.steps} steps after 3 warm-up steps" + (" (--quick: toy sizes)" if quick else ""))
    print(f"| {'run':<50} | batch | {'per second':>20} | peak memory |")
    print(f"| {'-' * 50} | ----- | {'-' * 20} | ----------- |")
    for row in rows:
        peak = f"{row.peak_gib:.1f} GiB" if row.peak_gib is not None else "–"
        print(f"| {row.name:<50} | {row.batch:>5} | {row.per_second:>8.1f} {row.unit:<11} | {peak:>11} |")


if __name__ == "__main__":
    main()
