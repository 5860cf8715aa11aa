"""Loading any `datasets` source for training, and finding its image / text / label columns."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from datasets import ClassLabel, Dataset, DatasetDict, Image, Value, load_dataset, load_from_disk

from .bbc_news import load_bbc_news
from .digits import load_mnist_digits

EMBEDDED = {"mnist_digits": load_mnist_digits, "bbc_news": load_bbc_news}
_FILE_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet", ".txt": "text"}


def load_split(dataset_name: str, split: str, config_name: Optional[str] = None) -> Dataset:
    """One split of an embedded set (`mnist_digits`, `bbc_news`), a `save_to_disk` folder, a folder
    of files (`imagefolder`, `text`, `csv`, `json`, `parquet`: detected by `datasets`), one data
    file, or a Hub data set (online)."""
    try:
        dataset = _load(dataset_name, split, config_name)
    except ValueError as error:
        if "corresponds to no data" not in str(error):
            raise
        dataset = []  # datasets' way of saying the files hold no rows
    if len(dataset) == 0:
        raise ValueError(f"The {split!r} split of {dataset_name!r} is empty; nothing to train or evaluate on.")
    return dataset


def _load(dataset_name: str, split: str, config_name: Optional[str]) -> Dataset:
    if dataset_name in EMBEDDED:
        dataset = EMBEDDED[dataset_name](split)
    else:
        path = Path(dataset_name)
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
            loaded = load_from_disk(str(path))
            dataset = _pick_split(loaded, split, dataset_name) if isinstance(loaded, DatasetDict) else loaded
        elif path.is_file():
            builder = _FILE_BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise ValueError(f"Don't know how to read {path}; use one of {sorted(_FILE_BUILDERS)} or a folder.")
            dataset = _pick_split(load_dataset(builder, data_files={split: str(path)}), split, dataset_name)
        else:
            dataset = _pick_split(load_dataset(dataset_name, config_name), split, dataset_name)
    return dataset


def _pick_split(dataset_dict: DatasetDict, split: str, name: str) -> Dataset:
    if split not in dataset_dict:
        raise ValueError(f"{name!r} has no split {split!r}; its splits are {sorted(dataset_dict)}.")
    return dataset_dict[split]


def find_column(dataset: Dataset, wanted: Optional[str], kind: str, required: bool = True) -> Optional[str]:
    """The column named `wanted`, or the only column of the right kind (`image`, `text`, `label`)."""
    columns = list(dataset.column_names)
    option = {"image": "--image_column", "text": "--text_column", "label": "--label_column"}[kind]
    if wanted is not None:
        if wanted not in columns:
            raise ValueError(f"Column {wanted!r} ({option}) is not in the data set; its columns are {columns}.")
        return wanted
    features = dataset.features
    if kind == "image":
        candidates = [c for c in columns if isinstance(features[c], Image)] or [c for c in columns if c in ("image", "img")]
    elif kind == "text":
        named = [c for c in columns if c in ("text", "sentence", "content")]
        candidates = named or [c for c in columns if isinstance(features[c], Value) and features[c].dtype in ("string", "large_string")]
    else:
        candidates = [c for c in columns if isinstance(features[c], ClassLabel)] or [c for c in columns if c in ("label", "labels")]
    if len(candidates) == 1:
        return candidates[0]
    if not required and not candidates:
        return None
    found = f"several candidates {candidates}" if candidates else "none"
    raise ValueError(f"Cannot tell which column holds the {kind}s ({found}); the columns are {columns}. Set {option}.")
