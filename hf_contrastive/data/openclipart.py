"""An embedded colour image set: clip art from Debian's `openclipart-png` (public domain).

`apt-get install openclipart-png` (done by `scripts/setup.sh`) puts 8,121 PNG images under
`/usr/share/openclipart/png/<category>/[subcategory/]`. This module takes a fixed, seeded,
class-balanced subset: every top-level category with at least 100 images except `unsorted` (a
bin, not a category), 120 images each (files over 16 megapixels or unreadable skipped) (the smallest such category has 135), split 100 / 20 per
category into train / test. Images keep their natural size and mode (RGBA, LA, P); the package's
one image conversion (`to_uint8_tensor`, used by the views and the saved image processor)
composites alpha onto white.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import PIL.Image
from datasets import ClassLabel, Dataset, Features, Image

OPENCLIPART_ROOT = Path("/usr/share/openclipart/png")
MIN_IMAGES = 100
PER_CATEGORY = 120
TEST_PER_CATEGORY = 20
EXCLUDED = ("unsorted",)
MAX_PIXELS = 4096 * 4096
_SEED = 0


def openclipart_folder() -> Path:
    if not OPENCLIPART_ROOT.is_dir():
        raise FileNotFoundError(
            f"The embedded openclipart images are read from {OPENCLIPART_ROOT}, which is missing: "
            "apt-get install -y --no-install-recommends openclipart-png (scripts/setup.sh does it)."
        )
    return OPENCLIPART_ROOT


def _readable(path: str) -> bool:
    """The file opens as an image below PIL's decompression-bomb limit (a few clip-art files are
    drawn on canvases of hundreds of megapixels)."""
    try:
        with warnings.catch_warnings():  # PIL warns about the very files this check leaves out
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(path) as image:
                return image.width * image.height <= MAX_PIXELS
    except (OSError, PIL.Image.DecompressionBombError):
        return False


@lru_cache(maxsize=1)
def _subset() -> tuple[tuple[str, ...], tuple[tuple[str, int, bool], ...]]:
    """(categories, ((path, label, is_test), ...)), fixed by the seed."""
    root = openclipart_folder()
    files = {d.name: sorted(str(p) for p in d.rglob("*.png")) for d in sorted(root.iterdir()) if d.is_dir()}
    categories = tuple(name for name, paths in files.items() if len(paths) >= MIN_IMAGES and name not in EXCLUDED)
    rng = np.random.default_rng(_SEED)
    rows = []
    for label, name in enumerate(categories):
        chosen = [files[name][i] for i in rng.permutation(len(files[name])) if _readable(files[name][i])][:PER_CATEGORY]
        rows.extend((path, label, rank < TEST_PER_CATEGORY) for rank, path in enumerate(chosen))
    order = rng.permutation(len(rows))  # classes interleaved
    return categories, tuple(rows[i] for i in order)


def load_openclipart(split: str = "train") -> Dataset:
    """The clip-art subset as a `datasets.Dataset` with columns `image` (PNG files, decoded on
    access) and `label` (ClassLabel, the category).

    Args:
        split: `"train"` (100 images a category), `"test"` (20) or `"all"`.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}.")
    categories, rows = _subset()
    chosen = [(path, label) for path, label, is_test in rows if split == "all" or is_test == (split == "test")]
    features = Features({"image": Image(), "label": ClassLabel(names=list(categories))})
    return Dataset.from_dict(
        {"image": [path for path, _ in chosen], "label": [label for _, label in chosen]}, features=features, split=split
    )
