"""The command-line options of training, as `HfArgumentParser` dataclasses.

Names follow transformers' example scripts (`--output_dir`, `--dataset_name`,
`--per_device_train_batch_size`, `--learning_rate`, ...). An option whose default is `None` and
whose help says "the recipe's default" takes its value from the recipe (`hf_contrastive.recipes`):
`scripts/train.py --help` prints each recipe's value next to it. Every option is also settable in
a YAML or JSON file given with `--config`; precedence is command line > `--config` file >
the starting checkpoint's config > the recipe's default (> what the recipe derives from the data).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml
from transformers import HfArgumentParser

RECIPE_DEFAULT = "the recipe's default"
#: options holding a mapping (JSON on the command line, a mapping in a --config file)
MAPPING_OPTIONS = ("model_config", "view_overrides")
#: options never written to training_args.json (nor given to the trackers): the token and the Hub
#: options, so that `train.py --config training_args.json` (the card's rerun command) does not push,
#: and how this run treated its folder, so that the rerun starts a new run of its own
UNSAVED_OPTIONS = (
    "push_to_hub", "hub_model_id", "hub_token", "hub_private_repo", "hub_revision",
    "resume_from_checkpoint", "overwrite_output_dir", "ignore_resume_mismatch",
)  # fmt: skip
#: training options that change the result: a checkpoint resumes only a run with the same values
RESULT_OPTIONS = (
    "per_device_train_batch_size", "gradient_accumulation_steps", "seed", "optimizer", "weight_decay",
    "warmup_ratio", "max_grad_norm", "sync_batchnorm", "contrastive_chunk_size",
)  # fmt: skip


@dataclass
class ModelArguments:
    model: str = field(default="simclr", metadata={"help": "What to pre-train: 'simclr' (images) or 'clear' (sentences)."})
    model_name_or_path: Optional[str] = field(
        default=None,
        metadata={
            "help": "Start from this checkpoint: a SimCLR/CLEAR folder or Hub id; for 'clear' also any masked-LM "
            "model (its tokenizer gets [DEL] and its embeddings are resized). Default: random initialisation."
        },
    )
    model_config: Optional[str] = field(
        default=None,
        metadata={
            "help": "Config fields of the model (SimCLRConfig / CLEARConfig) as a JSON string, or a mapping in a "
            "--config file, e.g. '{\"temperature\": 0.2}'; merged into the recipe's (or the checkpoint's) config, "
            "a partial backbone_config / text_config into the derived one."
        },
    )
    num_channels: Optional[int] = field(
        default=None, metadata={"help": "SimCLR: input channels (1 or 3); default: derived from the data (1 if all grayscale)."}
    )
    image_size: Optional[int] = field(
        default=None,
        metadata={"help": "SimCLR: training image side in px; default: derived from the data (its size up to 64 px, else 224)."},
    )
    tokenizer_name: Optional[str] = field(
        default=None, metadata={"help": "CLEAR: a pretrained tokenizer; default: train a WordPiece tokenizer on the data."}
    )
    vocab_size: Optional[int] = field(default=None, metadata={"help": f"CLEAR: size of the trained WordPiece vocabulary; {RECIPE_DEFAULT}."})


@dataclass
class DataArguments:
    dataset_name: Optional[str] = field(
        default=None,
        metadata={
            "help": "A datasets Hub name, a local folder (imagefolder, text, csv, json, parquet files, or a "
            "save_to_disk folder), one data file, or an embedded set: 'mnist_digits', 'openclipart', 'bbc_news'; "
            f"{RECIPE_DEFAULT}."
        },
    )
    dataset_config_name: Optional[str] = field(default=None, metadata={"help": "The datasets config name."})
    train_split: str = field(default="train", metadata={"help": "Split to pre-train on."})
    eval_split: str = field(
        default="auto",
        metadata={
            "help": "Split for the evaluation. 'auto': the data's 'test' split, else its 'validation' split, else "
            "--validation_split_percentage of the training rows held out (never trained on). 'none' skips evaluation."
        },
    )
    validation_split_percentage: float = field(
        default=10,
        metadata={"help": "Percent of the training rows held out (seeded, stratified by label) when there is no evaluation split."},
    )
    image_column: Optional[str] = field(default=None, metadata={"help": "Image column; auto-detected when unambiguous."})
    text_column: Optional[str] = field(default=None, metadata={"help": "Text column; auto-detected when unambiguous."})
    label_column: Optional[str] = field(default=None, metadata={"help": "Label column; auto-detected ('label', 'labels', 'fine_label', webdataset's 'cls', a ClassLabel)."})
    max_train_samples: Optional[int] = field(default=None, metadata={"help": "Use only the first N training examples."})
    max_eval_samples: Optional[int] = field(
        default=None, metadata={"help": "Use at most N examples of each split for the evaluation (train and test)."}
    )
    max_seq_length: Optional[int] = field(default=None, metadata={"help": f"CLEAR: tokens per sentence after truncation; {RECIPE_DEFAULT}."})
    view_preset: Optional[str] = field(
        default=None,
        metadata={
            "help": "SimCLR: augmentation preset (imagenet, cifar, grayscale, digits); default: derived from the data "
            "(digits for the embedded digits, grayscale for other 1-channel data, cifar up to 64 px, else imagenet)."
        },
    )
    view_overrides: Optional[str] = field(
        default=None, metadata={"help": "SimCLR: augmentation parameters overriding the preset (JSON or mapping)."}
    )
    sts_dataset: Optional[str] = field(
        default=None,
        metadata={
            "help": "CLEAR: sentence pairs with similarity scores, scored (Spearman x 100 of the embeddings' cosine) at "
            "every evaluation: 'stsb' (the embedded STS benchmark), or a dataset / file with sentence1, sentence2 and "
            f"score (or label) columns; 'none' skips it; {RECIPE_DEFAULT}."
        },
    )
    sts_splits: str = field(
        default="validation",
        metadata={"help": "CLEAR: the --sts_dataset splits to score, comma-separated, e.g. 'validation,test'."},
    )
    streaming: bool = field(
        default=False,
        metadata={
            "help": "Stream the data (a datasets IterableDataset: Hub sets, local folders or files, webdataset .tar "
            "shards) instead of loading it whole; needs --max_train_steps. Each process reads its own shards when "
            "their number divides by the processes (else every n-th row). The first 2,000 training rows are also read "
            "into memory for the derived defaults and the probe's fit; the evaluation reads the first --max_eval_samples "
            "(default 1,000) rows of the evaluation split, or sets that many first training rows aside."
        },
    )
    shuffle_buffer_size: int = field(
        default=10_000, metadata={"help": "--streaming: rows in the seeded shuffle buffer of each process's stream."}
    )
    dataloader_num_workers: Optional[int] = field(
        default=None,
        metadata={"help": "Data-loader worker processes; default: none on the CPU, on CUDA the machine's cores per process minus one (at most 8)."},
    )


@dataclass
class ContrastiveTrainingArguments:
    output_dir: Optional[str] = field(
        default=None, metadata={"help": "Where the model, results and checkpoints go; default outputs/<model>-default."}
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Start a clean run in a non-empty output_dir: its files are first moved into "
            "output_dir/previous_run_N/ (nothing is deleted)."
        },
    )
    per_device_train_batch_size: Optional[int] = field(
        default=None, metadata={"help": f"Images/sentences per process and step; {RECIPE_DEFAULT}."}
    )
    per_device_eval_batch_size: int = field(default=256, metadata={"help": "Batch size of feature extraction."})
    learning_rate: Optional[float] = field(
        default=None,
        metadata={"help": f"Peak learning rate; {RECIPE_DEFAULT} (for LARS without one: SimCLR's rule, --lr_scaling)."},
    )
    lr_scaling: str = field(default="sqrt", metadata={"help": "LARS default rate: 'linear' (0.3 B/256) or 'sqrt' (0.075 sqrt(B))."})
    optimizer: Optional[str] = field(default=None, metadata={"help": f"'lars' or 'adamw'; {RECIPE_DEFAULT}."})
    weight_decay: Optional[float] = field(
        default=None, metadata={"help": f"Weight decay, not on biases and norm layers; {RECIPE_DEFAULT}."}
    )
    num_train_epochs: Optional[float] = field(default=None, metadata={"help": f"Epochs over the training data; {RECIPE_DEFAULT}."})
    max_train_steps: Optional[int] = field(default=None, metadata={"help": "Stop after this many optimiser steps."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Fraction of the steps with linear warmup."})
    gradient_accumulation_steps: int = field(
        default=1, metadata={"help": "Micro-batches per optimiser step (more samples per step, not more negatives)."}
    )
    max_grad_norm: Optional[float] = field(default=None, metadata={"help": "Clip gradients to this norm."})
    n_views: Optional[int] = field(default=None, metadata={"help": "SimCLR/SupCon: views per image; the config's (2) by default."})
    loss: Optional[str] = field(
        default=None, metadata={"help": "SimCLR: 'ntxent' or 'supcon' (labels as positives); default: the config's."}
    )
    temperature: Optional[float] = field(default=None, metadata={"help": "Loss temperature; default: the config's."})
    sync_batchnorm: bool = field(default=False, metadata={"help": "Synchronise batch norm over GPUs (SimCLR's global BN)."})
    torch_compile: bool = field(default=False, metadata={"help": "Compile the model with torch.compile."})
    contrastive_chunk_size: Optional[int] = field(
        default=None,
        metadata={
            "help": "Cached gradients (GradCache): embed the batch's views in chunks of N without gradients, take the "
            "loss's gradient over the whole batch, then run each chunk again with gradients (CLEAR: its masked-LM "
            "loss in chunks of N sentences too). Peak memory is one chunk's activations, whatever the batch; the "
            "gradients are the un-chunked step's, except that batch norm in training mode normalises each chunk by its "
            "own statistics (ghost batches; with --sync_batchnorm, the chunk's across processes; SimCLR's "
            "--model_config '{\"backbone_norm\": \"group\"}' has none in f, and none in g unless projection_batch_norm: exact). "
            "Default: off."
        },
    )
    mixed_precision: Optional[str] = field(
        default=None,
        metadata={
            "help": "'no', 'fp16' or 'bf16'; default: bf16 on a CUDA device that supports it, unless accelerate's "
            "config / launch flag asks for fp16 or bf16; 'no' (float32) on the CPU. The losses compute in float32 either way."
        },
    )
    checkpointing_steps: Optional[str] = field(
        default=None, metadata={"help": "Save a resumable checkpoint every N optimiser steps, or 'epoch'."}
    )
    checkpoints_total_limit: Optional[int] = field(
        default=None,
        metadata={
            "help": "Keep only the newest N complete checkpoints: older ones are deleted after each save, never the "
            "one this run resumed from nor one still being written. Default: keep all."
        },
    )
    resume_from_checkpoint: Optional[str] = field(
        default=None, metadata={"help": "A checkpoint folder, or 'latest' for the newest complete one in output_dir."}
    )
    ignore_resume_mismatch: bool = field(
        default=False,
        metadata={
            "help": "Resume even when the checkpoint was written with other options (data, batch, seed, model "
            "config, ...); without it such a resume is refused with the list of differences."
        },
    )
    eval_steps: Optional[int] = field(default=None, metadata={"help": "Also evaluate every N steps (default: at the end)."})
    logging_steps: int = field(default=10, metadata={"help": "Log metrics every N steps."})
    report_to: str = field(default="tensorboard", metadata={"help": "Accelerate trackers: 'tensorboard', 'all', 'none'."})
    seed: int = field(default=42, metadata={"help": "Random seed (initialisation, data order, views, held-out rows)."})
    skip_baselines: bool = field(default=False, metadata={"help": "Do not evaluate the raw-input and random-encoder baselines."})
    push_to_hub: bool = field(
        default=False,
        metadata={"help": "Upload the output folder to the Hub at the end (main process; checkpoints and logs stay local)."},
    )
    hub_model_id: Optional[str] = field(
        default=None, metadata={"help": "Hub repository: 'user/name', 'org/name' or 'name'; default: the output folder's name."}
    )
    hub_token: Optional[str] = field(
        default=None,
        repr=False,
        metadata={
            "help": "Hub token with write access; default: HF_TOKEN or `hf auth login` (prefer those: `accelerate "
            "launch` prints a failed command line, token included). Never saved or printed by this package."
        },
    )
    hub_private_repo: bool = field(default=False, metadata={"help": "Create the Hub repository as private."})
    hub_revision: Optional[str] = field(default=None, metadata={"help": "Hub branch to push to, created if needed (default: main)."})


ARGUMENT_CLASSES = (ModelArguments, DataArguments, ContrastiveTrainingArguments)


def parse_json_or_mapping(value: Any, name: str) -> dict:
    """`--model_config '{"a": 1}'` from the command line, or a mapping from a YAML/JSON config."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"--{name} must be a JSON object, e.g. '{{\"temperature\": 0.2}}'; got {value!r} ({error}).") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"--{name} must be a JSON object, got {value!r}.")
    return parsed


def build_parser(recipe_defaults: Optional[dict[str, dict[str, Any]]] = None) -> HfArgumentParser:
    """The training parser. `recipe_defaults` ({recipe: {option: value}}) is printed in `--help`
    next to every option that takes the recipe's default."""
    parser = HfArgumentParser(ARGUMENT_CLASSES)
    parser.add_argument("--config", default=None, help="A YAML or JSON file of options (command-line options win).")
    for action in parser._actions:
        name = action.dest
        values = {recipe: options[name] for recipe, options in (recipe_defaults or {}).items() if name in options}
        if values and action.help:
            action.help += " [" + "; ".join(f"{recipe}: {value}" for recipe, value in values.items()) + "]"
    return parser


def _config_file_values(parser: argparse.ArgumentParser, path: Path) -> dict[str, Any]:
    """The options of a --config file, each converted with its option's type (a YAML `1` for a
    string option becomes "1", `2.7` for an integer option is an error naming the option)."""
    if not path.is_file():
        parser.error(f"--config {path}: no such file")
    try:
        values = yaml.safe_load(path.read_text()) or {}  # YAML is a superset of JSON
    except yaml.YAMLError as error:
        parser.error(f"--config {path} is not valid YAML/JSON (only plain values are accepted): {error}")
    if not isinstance(values, dict):
        parser.error(f"--config {path} must hold a mapping of option names to values")
    actions = {action.dest: action for action in parser._actions}
    unknown = sorted(set(values) - set(actions) - {"config"})
    if unknown:
        parser.error(f"--config {path}: unknown option(s) {unknown}")
    converted = {}
    for name, value in values.items():
        if name == "config":
            parser.error(f"--config {path}: a config file cannot name another --config")
        action = actions[name]
        if name in MAPPING_OPTIONS and isinstance(value, dict):
            value = json.dumps(value)
        elif action.type is bool or isinstance(action.default, bool):
            if not isinstance(value, bool):
                parser.error(f"--config {path}: {name} must be true or false, got {value!r}")
        elif value is not None and callable(action.type):
            try:
                value = action.type(value if isinstance(value, str) else str(value))
            except (TypeError, ValueError, argparse.ArgumentTypeError):
                parser.error(f"--config {path}: {name}: {value!r} is not a valid {getattr(action.type, '__name__', 'value')}")
        converted[name] = value
    return converted


def parse_arguments(
    argv: list[str], recipe_defaults: Optional[dict[str, dict[str, Any]]] = None
) -> tuple[ModelArguments, DataArguments, ContrastiveTrainingArguments]:
    """Parse `argv` (with an optional `--config FILE` whose values command-line options override)."""
    parser = build_parser(recipe_defaults)
    config_path = None
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            parser.error("--config needs a YAML or JSON file")
        config_path = Path(argv[index + 1])
        argv = argv[:index] + argv[index + 2 :]
        parser.set_defaults(**_config_file_values(parser, config_path))
    namespace = parser.parse_args(argv)
    groups = []
    for dataclass_type in ARGUMENT_CLASSES:
        names = dataclass_type.__dataclass_fields__
        groups.append(dataclass_type(**{k: v for k, v in vars(namespace).items() if k in names}))
    model_args, data_args, args = groups
    at_least_one = {
        "gradient_accumulation_steps": args.gradient_accumulation_steps, "per_device_train_batch_size": args.per_device_train_batch_size,
        "per_device_eval_batch_size": args.per_device_eval_batch_size, "max_train_steps": args.max_train_steps,
        "logging_steps": args.logging_steps, "eval_steps": args.eval_steps, "max_train_samples": data_args.max_train_samples,
        "max_eval_samples": data_args.max_eval_samples, "checkpoints_total_limit": args.checkpoints_total_limit,
        "shuffle_buffer_size": data_args.shuffle_buffer_size, "contrastive_chunk_size": args.contrastive_chunk_size,
    }  # fmt: skip
    for name, value in at_least_one.items():
        if value is not None and value < 1:
            parser.error(f"--{name} must be >= 1 (leave it unset for the default), got {value}")
    if args.num_train_epochs is not None and not args.num_train_epochs > 0:
        parser.error(f"--num_train_epochs must be > 0, got {args.num_train_epochs}")
    every = args.checkpointing_steps
    if every is not None and every != "epoch" and not (str(every).isdigit() and int(every) >= 1):
        parser.error(f"--checkpointing_steps must be a positive integer or 'epoch', got {every!r}")
    if not 0 < data_args.validation_split_percentage < 100:
        parser.error(f"--validation_split_percentage must be between 0 and 100, got {data_args.validation_split_percentage}")
    return model_args, data_args, args
