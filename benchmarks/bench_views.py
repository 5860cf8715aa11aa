"""Views per second of SimCLR's view generation (hf_contrastive.augment.vision), three ways.

    python benchmarks/bench_views.py            # 32 px and 224 px, median of 3 repeats (~1.5 min, 2 idle cores)
    python benchmarks/bench_views.py --quick    # fewer images, one repeat (~20 s)

For each view size, the same operations with the same parameters (``cifar`` preset at 32 px: crop,
flip, colour jitter s = 0.5, grayscale, no blur; ``imagenet`` preset at 224 px: the same with
s = 1 and a 23 px Gaussian blur with p = 0.5), on random RGB images (32 x 32 for 32 px views,
256 x 256 for 224 px views), two views per image:

(a) ``v2-per-image``: ``MultiViewTransform(SimCLRViewTransform)`` on PIL images inside a
    ``torch.utils.data.DataLoader`` with 2 worker processes (each worker one torch thread), the
    usual ``Dataset`` set-up;
(b) ``batched-cpu``: ``BatchedSimCLRViews.multi_view`` on uint8 batches already stacked as one
    tensor, in the main process with 2 torch threads (PIL decoding / stacking is not timed);
(c) ``v1-pil``: a plain ``torchvision.transforms`` (v1) pipeline of the same operations on PIL
    images (written below), in a DataLoader with 2 workers: the baseline of the ratios.

Then the whole path of a training step at 224 px, from JPEG photos (500 x 375, quality 90, smooth
random content) to two normalised views per image, decoding included:

(r) ``recipe``: what ``scripts/train.py`` runs: in a DataLoader with 2 workers, decode, whole image
    (``crop_source``), ``stack_on_canvas``; in the main process (2 torch threads),
    ``BatchedSimCLRViews.multi_view`` with each image's size, so every crop is drawn from the whole
    photo;
(l) ``lightly``: lightly's ``SimCLRTransform(input_size=224)`` (the same operations, PIL per image)
    on the decoded photo in a DataLoader with 2 workers, when lightly is installed
    (``pip install lightly``);
(c) the v1 PIL pipeline on the decoded photo, DataLoader with 2 workers.

``batched-cuda`` is added when a GPU is present (images already on the device, synchronised).
Every number is the median over the repeats of one full pass over the images, after a warm-up
(DataLoader workers are persistent: worker start-up is not timed); the repeats of the methods
take turns, so that a burst of load from elsewhere hits all of them. The load average is printed
at the start and the end: the numbers mean little if something else is using the cores (the
batched CPU path, two OpenMP threads, suffers most from a busy machine).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as v1

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hf_contrastive.augment import (  # noqa: E402
    BatchedSimCLRViews, SimCLRViewTransform, crop_source, stack_on_canvas, to_uint8_tensor,
)  # fmt: skip


N_VIEWS = 2
WORKERS = 2


def v1_pipeline(t: SimCLRViewTransform) -> v1.Compose:
    """The same operations as ``t`` with torchvision.transforms v1 on PIL images."""
    s = t.jitter_strength
    ops = [
        v1.RandomResizedCrop(t.size, scale=tuple(t.crop_scale), ratio=tuple(t.crop_ratio)),
        v1.RandomHorizontalFlip(t.hflip_p),
        v1.RandomApply([v1.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=t.jitter_p),
        v1.RandomGrayscale(t.grayscale_p),
    ]
    if t.blur_p > 0:
        ops.append(v1.RandomApply([v1.GaussianBlur(t.blur_kernel, sigma=tuple(t.blur_sigma))], p=t.blur_p))
    ops += [v1.ToTensor(), v1.Normalize(t.mean, t.std)]
    return v1.Compose(ops)


class Views(Dataset):
    """``n_views`` views of each in-memory PIL image."""

    def __init__(self, images: list[Image.Image], transform) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.images[index]
        return torch.stack([self.transform(image) for _ in range(N_VIEWS)])


def loader_pass(loader: DataLoader) -> Callable[[], None]:
    """One full pass over ``loader`` (persistent workers: started once, by the warm-up)."""

    def one_pass() -> None:
        for _ in loader:
            pass

    for i, _ in enumerate(loader):  # warm-up: start the workers
        if i == 2 * WORKERS:
            break
    return one_pass


def batched_pass(views: BatchedSimCLRViews, images: torch.Tensor, batch_size: int) -> Callable[[], None]:
    """One pass of ``views.multi_view`` over ``images`` in batches of ``batch_size`` images."""

    def one_pass() -> None:
        for start in range(0, len(images), batch_size):
            views.multi_view(images[start : start + batch_size], n_views=N_VIEWS)
        if images.is_cuda:
            torch.cuda.synchronize()

    views.multi_view(images[:batch_size], n_views=N_VIEWS)  # warm-up
    return one_pass


def bench_size(preset: str, source_side: int, n_images: int, loader_batch: int, batched_batch: int, repeats: int) -> None:
    transform = SimCLRViewTransform.from_preset(preset)
    rng = np.random.default_rng(0)
    arrays = rng.integers(0, 256, (n_images, source_side, source_side, 3), dtype=np.uint8)
    pil_images = [Image.fromarray(a) for a in arrays]
    tensors = torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()
    n_views = n_images * N_VIEWS
    print(f"\n{transform.size} px views ({preset} preset) from {source_side} x {source_side} RGB images, "
          f"{n_images} images x {N_VIEWS} views, median of {repeats}:")  # fmt: skip

    def loader(per_image_transform) -> DataLoader:
        return DataLoader(
            Views(pil_images, per_image_transform), batch_size=loader_batch, num_workers=WORKERS,
            persistent_workers=True, shuffle=False,
        )  # fmt: skip

    torch.set_num_threads(2)
    batched = BatchedSimCLRViews.from_transform(transform)
    passes = {
        "v2-per-image": loader_pass(loader(transform)),
        "batched-cpu": batched_pass(batched, tensors, batched_batch),
        "v1-pil": loader_pass(loader(v1_pipeline(transform))),
    }
    if torch.cuda.is_available():
        passes["batched-cuda"] = batched_pass(BatchedSimCLRViews.from_transform(transform).cuda(), tensors.cuda(), batched_batch)
    times: dict[str, list[float]] = {name: [] for name in passes}
    for _ in range(repeats):  # round robin: a burst of load elsewhere hits every method alike
        for name, one_pass in passes.items():
            start = time.perf_counter()
            one_pass()
            times[name].append(time.perf_counter() - start)
    results = {name: n_views / statistics.median(t) for name, t in times.items()}

    baseline = results["v1-pil"]
    labels = {
        "v2-per-image": f"(a) v2 per-image, DataLoader {WORKERS} workers",
        "batched-cpu": f"(b) batched, CPU, {torch.get_num_threads()} threads, batch {batched_batch}",
        "batched-cuda": f"    batched, {torch.cuda.get_device_name() if torch.cuda.is_available() else ''}",
        "v1-pil": f"(c) v1 PIL, DataLoader {WORKERS} workers",
    }
    for name in ("v2-per-image", "batched-cpu", "batched-cuda", "v1-pil"):
        if name in results:
            print(f"  {labels[name]:<48} {results[name]:>10,.0f} views/s   x{results[name] / baseline:.2f} vs (c)")


class Photos(Dataset):
    """JPEG bytes -> ``transform(decoded RGB photo)`` (``transform`` None: the decoded photo)."""

    def __init__(self, jpegs: list[bytes], transform=None) -> None:
        self.jpegs, self.transform = jpegs, transform

    def __len__(self) -> int:
        return len(self.jpegs)

    def __getitem__(self, index: int):
        image = Image.open(io.BytesIO(self.jpegs[index])).convert("RGB")
        return image if self.transform is None else self.transform(image)


class TwoViews:
    """``N_VIEWS`` views of one image, stacked: from a one-view transform, or from a multi-view one
    returning a list (lightly's ``SimCLRTransform`` gives two)."""

    def __init__(self, transform, multi_view: bool = False) -> None:
        self.transform, self.multi_view = transform, multi_view

    def __call__(self, image) -> torch.Tensor:
        return torch.stack(self.transform(image) if self.multi_view else [self.transform(image) for _ in range(N_VIEWS)])


def recipe_collate(images: list[Image.Image]) -> tuple[torch.Tensor, torch.Tensor]:
    """The recipe's loader part: whole images (shrunk only beyond 4x a view's pixels) on a canvas."""
    return stack_on_canvas([crop_source(to_uint8_tensor(image, 3), 224) for image in images])


def bench_photos(n_images: int, batch: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    jpegs = []
    for _ in range(n_images):
        small = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).resize((500, 375), Image.BICUBIC)
        buffer = io.BytesIO()
        small.save(buffer, format="JPEG", quality=90)
        jpegs.append(buffer.getvalue())
    transform = SimCLRViewTransform.from_preset("imagenet")
    print(f"\n224 px views (imagenet preset) from 500 x 375 JPEG photos, decoding included, {n_images} images x "
          f"{N_VIEWS} views, median of {repeats}:")  # fmt: skip

    def loader(dataset, collate=None) -> DataLoader:
        return DataLoader(dataset, batch_size=batch, num_workers=WORKERS, persistent_workers=True, collate_fn=collate)

    torch.set_num_threads(2)
    views = BatchedSimCLRViews.from_transform(transform)
    recipe_loader = loader(Photos(jpegs), recipe_collate)

    def recipe_pass() -> None:
        for canvas, sizes in recipe_loader:
            views.multi_view(canvas, n_views=N_VIEWS, sizes=sizes)

    for i, _ in enumerate(recipe_loader):  # warm-up: start the workers
        if i == 2 * WORKERS:
            break
    passes = {"recipe": recipe_pass, "v1-pil": loader_pass(loader(Photos(jpegs, TwoViews(v1_pipeline(transform)))))}
    try:
        from lightly.transforms import SimCLRTransform

        passes["lightly"] = loader_pass(loader(Photos(jpegs, TwoViews(SimCLRTransform(input_size=224), multi_view=True))))
    except ImportError:
        print("  (lightly is not installed: pip install lightly, for its row)")
    times: dict[str, list[float]] = {name: [] for name in passes}
    for _ in range(repeats):
        for name, one_pass in passes.items():
            start = time.perf_counter()
            one_pass()
            times[name].append(time.perf_counter() - start)
    results = {name: n_images * N_VIEWS / statistics.median(t) for name, t in times.items()}
    labels = {
        "recipe": f"(r) recipe: loader {WORKERS} workers + batched views, batch {batch}",
        "lightly": f"(l) lightly SimCLRTransform, DataLoader {WORKERS} workers",
        "v1-pil": f"(c) v1 PIL, DataLoader {WORKERS} workers",
    }
    reference = results.get("lightly", results["v1-pil"])
    against = "(l)" if "lightly" in results else "(c)"
    for name in ("recipe", "lightly", "v1-pil"):
        if name in results:
            print(f"  {labels[name]:<56} {results[name]:>8,.0f} views/s   x{results[name] / reference:.2f} vs {against}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and one repeat")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes per method (default 3, --quick 1)")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    scale = 4 if args.quick else 1

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {load}")
    start = time.perf_counter()
    bench_size("cifar", 32, 8192 // scale, loader_batch=128, batched_batch=256, repeats=repeats)
    bench_size("imagenet", 256, 768 // scale, loader_batch=32, batched_batch=32, repeats=repeats)
    bench_photos(768 // scale, batch=32, repeats=repeats)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\ntotal {time.perf_counter() - start:.0f} s, load average at the end {load}")


if __name__ == "__main__":
    main()
