"""Streaming a `datasets` source (`--streaming`): data that does not fit, or lives as shards.

The training rows arrive as a `datasets.IterableDataset` (Hub names, local `imagefolder` / `text`
/ `json` / `parquet` folders and files, webdataset `.tar` shards through datasets' `webdataset`
builder, and the embedded sets), so nothing is loaded whole. What needs rows in memory gets a
small map-style part of the stream:

- `TrainingData.train`: the first `STREAM_SAMPLE_ROWS` training rows, from which the recipe
  derives its defaults (channels, size, statistics, a tokenizer) and on which the evaluation probe
  is fit. These rows are trained on, as the probe's training rows are in a map-style run.
- `TrainingData.eval`: the first `STREAM_EVAL_ROWS` (or `--max_eval_samples`) rows of the
  evaluation split; when the source has none, the first rows of the training stream, which are then
  set aside: the training stream leaves out every row with the same content (`HeldOutRows`), so
  neither the processes' split nor the loader workers' nor a duplicate elsewhere in the data lets
  one be trained on. (`IterableDataset.skip` would not do: once the stream is split between
  processes, each process skips that many of its own rows.)

Images stay encoded in the stream (the recipe's collate decodes them), so that reading rows
without training on them (skipping on resume, the held-out filter) never decodes an image.

`stream_for_process` then gives each process its part: `split_dataset_by_node` (whole shards per
process when the shard count divides by the processes, else every n-th example) and a seeded
shuffle buffer.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

from datasets import Dataset, Image, IterableDataset, load_dataset, load_from_disk
from datasets.distributed import split_dataset_by_node

from .loading import _FILE_BUILDERS, AUTO_EVAL_SPLITS, EMBEDDED, NO_EVALUATION, TrainingData

#: training rows read into memory for the recipe's derived defaults and the probe's fit
STREAM_SAMPLE_ROWS = 2_000
#: evaluation rows read into memory when --max_eval_samples is not given
STREAM_EVAL_ROWS = 1_000
#: shards an in-memory source (an embedded set, a save_to_disk folder) is cut into when streamed
IN_MEMORY_SHARDS = 8


def stream_splits(dataset_name: str, config_name: Optional[str] = None) -> dict[str, IterableDataset]:
    """Every split of a source as an `IterableDataset`; the sources `loading.load_splits` reads."""
    if dataset_name in EMBEDDED:
        loader = EMBEDDED[dataset_name][0]
        return {split: loader(split).to_iterable_dataset(num_shards=IN_MEMORY_SHARDS) for split in ("train", "test")}
    path = Path(dataset_name)
    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        loaded = load_from_disk(str(path))
        if isinstance(loaded, Dataset):
            return {"train": loaded.to_iterable_dataset(num_shards=IN_MEMORY_SHARDS)}
        return {split: rows.to_iterable_dataset(num_shards=IN_MEMORY_SHARDS) for split, rows in loaded.items()}
    if path.is_file():
        builder = _FILE_BUILDERS.get(path.suffix.lower(), "webdataset" if path.suffix.lower() == ".tar" else None)
        if builder is None:
            raise ValueError(f"Don't know how to stream {path}; use one of {sorted(_FILE_BUILDERS) + ['.tar']} or a folder.")
        return {"train": load_dataset(builder, data_files={"train": str(path)}, streaming=True)["train"]}
    return dict(load_dataset(dataset_name, config_name, streaming=True))


def _undecoded(stream: IterableDataset) -> IterableDataset:
    for name, feature in (stream.features or {}).items():
        if isinstance(feature, Image) and feature.decode:
            stream = stream.cast_column(name, Image(decode=False))
    return stream


def _first_rows(stream: IterableDataset, count: int, what: str, rows: Optional[list[dict]] = None) -> Dataset:
    """The first `count` rows of an (undecoded) stream (or those `rows` of it, already read), in
    memory, with their images decoded."""
    rows = list(stream.take(count)) if rows is None else rows
    if not rows:
        raise ValueError(f"{what} holds no rows; nothing to train or evaluate on.")
    dataset = Dataset.from_list(rows, features=stream.features)
    for name, feature in dataset.features.items():
        if isinstance(feature, Image):
            dataset = dataset.cast_column(name, Image(decode=True))
    return dataset


def _content_key(row: dict) -> str:
    digest = hashlib.sha1()
    for name in sorted(row):
        value = row[name]
        if isinstance(value, dict) and ("bytes" in value or "path" in value):  # an encoded image
            value = value.get("bytes") or value.get("path")
        digest.update(name.encode() + b"\0" + (value if isinstance(value, bytes) else repr(value).encode()) + b"\0")
    return digest.hexdigest()


class HeldOutRows:
    """`filter` predicate: True for a row whose content is not one of the held-out rows'."""

    def __init__(self, rows: list[dict]) -> None:
        self.keys = {_content_key(row) for row in rows}

    def __call__(self, row: dict) -> bool:
        return _content_key(row) not in self.keys


def load_streaming_data(
    dataset_name: str, train_split: str = "train", eval_split: Optional[str] = "auto", config_name: Optional[str] = None,
    max_eval_samples: Optional[int] = None,
) -> TrainingData:  # fmt: skip
    """The training stream and its in-memory parts (see the module's docstring)."""
    splits = {name: _undecoded(split) for name, split in stream_splits(dataset_name, config_name).items()}
    if train_split not in splits:
        raise ValueError(f"{dataset_name!r} has no split {train_split!r}; its splits are {sorted(splits)}. Set --train_split.")
    stream = splits[train_split]
    eval_rows = max_eval_samples or STREAM_EVAL_ROWS
    result = TrainingData(train=None, eval=None, eval_source="none")
    if eval_split is not None and eval_split.strip() not in NO_EVALUATION:
        if eval_split == train_split:
            raise ValueError(f"--eval_split {eval_split!r} is the training split; use another split, auto or none.")
        name = next((s for s in AUTO_EVAL_SPLITS if s in splits and s != train_split), None) if eval_split == "auto" else eval_split
        if name is not None:
            if name not in splits:
                raise ValueError(f"{dataset_name!r} has no split {name!r}; its splits are {sorted(splits)}. Set --eval_split.")
            result.eval = _first_rows(splits[name], eval_rows, f"Split {name!r} of {dataset_name!r}")
            result.eval_source = f"the first {len(result.eval):,} rows of split {name!r}"
        else:
            held_out = list(stream.take(eval_rows))
            result.eval = _first_rows(stream, eval_rows, f"Split {train_split!r} of {dataset_name!r}", rows=held_out)
            stream = stream.filter(HeldOutRows(held_out))
            result.eval_source = f"the first {len(result.eval):,} rows of the {train_split!r} stream, set aside (not trained on)"
    what = f"Split {train_split!r} of {dataset_name!r}" + (
        f" after its first {len(result.eval):,} rows set aside for the evaluation (fewer with --max_eval_samples)"
        if result.eval is not None and "set aside" in result.eval_source else ""
    )
    result.train = _first_rows(stream, STREAM_SAMPLE_ROWS, what)
    result.stream = stream
    return result


def stream_for_process(
    stream: IterableDataset, process_index: int, num_processes: int, seed: int, shuffle_buffer_size: int
) -> tuple[IterableDataset, str]:
    """This process's part of the training stream, shuffled with a seeded buffer of
    `shuffle_buffer_size` rows (and, per epoch, a seeded order of shards); returns it with a line
    saying how the stream was split."""
    stream = stream.shuffle(seed=seed, buffer_size=shuffle_buffer_size)
    shards = stream.num_shards
    part = split_dataset_by_node(stream, rank=process_index, world_size=num_processes)
    if num_processes == 1:
        mode = f"{shards} shard(s), one process"
    elif shards % num_processes == 0:
        mode = f"whole shards: {shards // num_processes} of the {shards} shards per process"
    else:
        mode = (f"every {num_processes}th row per process ({shards} shards do not divide by {num_processes} processes: "
                "every process reads every shard; give the data a multiple of the process count in shards to read less)")  # fmt: skip
    return part, mode
