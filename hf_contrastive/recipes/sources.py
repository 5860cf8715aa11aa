"""Where a recipe's data and model config come from.

`load_recipe_data`: the training and evaluation rows the data options name. The config helpers put
a model config together from its sources, in the order of precedence:
dedicated command-line options (`--loss`, `--temperature`, ...) > `--model_config` (from the
command line or a `--config` file) > the starting checkpoint's config > the recipe's defaults and
what it derived from the data. The result is built by the config class itself, so every value,
whatever its source, goes through the config's own validation before a model exists."""

from __future__ import annotations

import json
import math
from typing import Any, Optional

from accelerate.logging import get_logger
from transformers import AutoConfig, PreTrainedConfig
from transformers.utils import cached_file

from ..data.loading import TrainingData, load_training_data
from ..data.streaming import load_streaming_data, stream_for_process

logger = get_logger(__name__)

#: bookkeeping keys of a saved config.json that are not settings
_BOOKKEEPING = ("transformers_version", "model_type", "architectures", "_name_or_path", "auto_map", "dtype")


def load_recipe_data(data_args, seed: int, dataset_name: str) -> TrainingData:
    """The training and evaluation rows of `dataset_name` as the data options (`DataArguments`) ask
    (with `--streaming`, the training stream and its first rows: `data.streaming`)."""
    if data_args.streaming:
        if data_args.max_train_samples:
            raise ValueError("--max_train_samples reads the first N rows of a set loaded whole; with --streaming, "
                             "--max_train_steps says how much of the stream to train on.")  # fmt: skip
        return load_streaming_data(
            dataset_name, data_args.train_split, data_args.eval_split, data_args.dataset_config_name, data_args.max_eval_samples
        )  # fmt: skip
    return load_training_data(
        dataset_name, data_args.train_split, data_args.eval_split, data_args.dataset_config_name,
        data_args.validation_split_percentage, seed, data_args.max_train_samples, data_args.label_column,
    )  # fmt: skip


def rows_to_train_on(data: TrainingData, data_args, accelerator, seed: int) -> Any:
    """What the training loader iterates: the training rows, or with `--streaming` this process's
    part of the stream (its split is logged, and recorded as `data.stream_split`)."""
    if data.stream is None:
        return data.train
    part, split = stream_for_process(
        data.stream, accelerator.process_index, accelerator.num_processes, seed, data_args.shuffle_buffer_size
    )  # fmt: skip
    data.stream_split, data.shuffle_buffer_size = split, data_args.shuffle_buffer_size
    logger.info(f"Streaming {data.stream.num_shards} shard(s): {split}; shuffle buffer {data_args.shuffle_buffer_size:,} rows "
                f"(seed {seed}). Evaluation: {data.eval_source}.", main_process_only=True)  # fmt: skip
    return part


def fitting_batch_size(default: int, rows: int, processes: int) -> int:
    """The recipe's batch size, or, when the data has fewer rows than one global batch of it, the
    largest power of two that fits (a contrastive batch must be full: the loader drops the rest)."""
    per_process = rows // max(processes, 1)
    if per_process >= default or per_process < 2:
        return default  # (too few rows for any batch: the loop's error names the fix)
    return 2 ** int(math.log2(per_process))


def checkpoint_fields(config: PreTrainedConfig) -> dict[str, Any]:
    """A loaded config's settings as plain fields."""
    return {k: v for k, v in config.to_dict().items() if k not in _BOOKKEEPING}


def merge_fields(base: dict[str, Any], overrides: dict[str, Any], nested: tuple[str, ...]) -> dict[str, Any]:
    """`base` updated by `overrides`; a `nested` sub-config given as a mapping is merged key by key
    into the base's (a partial `backbone_config` / `text_config` changes only what it names)
    unless it names another `model_type`."""
    merged = dict(base)
    for key, value in overrides.items():
        inner = merged.get(key)
        same_type = isinstance(value, dict) and value.get("model_type", (inner or {}).get("model_type")) == (inner or {}).get("model_type")
        if key in nested and isinstance(inner, dict) and isinstance(value, dict) and same_type:
            merged[key] = {**inner, **value}
        else:
            merged[key] = value
    return merged


def build_config(config_class: type[PreTrainedConfig], fields: dict[str, Any], sources: str) -> PreTrainedConfig:
    """`config_class(**fields)`; a refused value is reported with where the values came from."""
    try:
        return config_class(**fields)
    except (ValueError, TypeError) as error:
        raise ValueError(f"Invalid model configuration ({sources}): {error}") from None


def load_checkpoint_config(path: str) -> PreTrainedConfig:
    """The config of the `--model_name_or_path` start; an unreadable one is reported with its path."""
    try:
        return AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"--model_name_or_path {path}: could not read its config.json ({error}).") from None


def load_pretrained(model_class: Any, path: str, **kwargs) -> Any:
    """`model_class.from_pretrained(path, **kwargs)`; unreadable weights (a truncated or corrupt
    safetensors file, a missing file) are reported with the folder and the fix."""
    try:
        return model_class.from_pretrained(path, **kwargs)
    except Exception as error:  # noqa: BLE001 - safetensors, OSError, ValueError, ...: all mean "cannot load"
        raise ValueError(
            f"--model_name_or_path {path}: could not load its weights ({type(error).__name__}: {error}). The weights "
            "file may be truncated or corrupt: copy or download it again, or start from another checkpoint."
        ) from None


#: sentence-transformers' pooling modes (1_Pooling/config.json) that CLEARConfig.pooling can express
_SENTENCE_TRANSFORMERS_POOLING = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean"}


def _read_json_file(path: str, filename: str) -> Optional[Any]:
    located = cached_file(path, filename, _raise_exceptions_for_missing_entries=False,
                          _raise_exceptions_for_connection_errors=False)  # fmt: skip
    if located is None:
        return None
    with open(located, encoding="utf-8") as handle:
        return json.load(handle)


def sentence_transformers_pooling(path: str) -> Optional[str]:
    """The pooling a sentence-transformers model folder (or Hub id) declares, as CLEARConfig names
    it ("cls" or "mean"); None when `path` is not a sentence-transformers model. A pooling CLEAR
    cannot reproduce (max, weighted mean, last token, several at once) is an error naming the fix."""
    modules = _read_json_file(path, "modules.json")
    if not modules:
        return None
    pooling_modules = [m for m in modules if str(m.get("type", "")).endswith(".Pooling")]
    if not pooling_modules:
        return None
    settings = _read_json_file(path, f"{pooling_modules[0].get('path', '1_Pooling')}/config.json") or {}
    modes = [mode for mode, value in settings.items() if mode.startswith("pooling_mode_") and value is True]
    if len(modes) == 1 and modes[0] in _SENTENCE_TRANSFORMERS_POOLING:
        return _SENTENCE_TRANSFORMERS_POOLING[modes[0]]
    raise ValueError(
        f"--model_name_or_path {path}: its sentence-transformers pooling is {modes or 'not set'}; CLEAR pools with "
        "'cls' or 'mean'. Choose one with --model_config '{\"pooling\": \"mean\"}'."
    )
