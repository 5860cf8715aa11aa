"""The Accelerate training loop shared by SimCLR and CLEAR (`accelerate launch scripts/train.py`).

The loop knows nothing of images or text: a *task* (`hf_contrastive.tasks`) supplies the model,
the raw training data, a deterministic `collate` for the data loader, and `make_inputs`, which
draws the random views of one step. Because every step reseeds the random generators from
`(seed, process, step)`, a run that is killed and resumed from a checkpoint draws exactly the
views, masks and dropout of an uninterrupted run.

Negatives: the loss gathers embeddings from every process (`hf_contrastive.modeling.losses`), so
the global batch (`per_device_train_batch_size x processes`) provides the negatives. Gradient
accumulation makes the effective batch for the optimiser larger but does NOT add negatives: each
micro-batch's loss only contrasts the views of that micro-batch.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .hub import HubPushError, create_repository, push_to_hub, write_model_card
from .optim import LARS, get_cosine_schedule_with_warmup, lars_param_groups, scale_learning_rate


logger = get_logger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)$")
COMPLETE_MARKER = "checkpoint_complete.json"


# ----------------------------------------------------------------------------------------------
# Arguments (HfArgumentParser dataclasses; names follow transformers' example scripts)
# ----------------------------------------------------------------------------------------------


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
            "--config YAML file; e.g. '{\"temperature\": 0.2}'."
        },
    )
    tokenizer_name: Optional[str] = field(
        default=None, metadata={"help": "CLEAR: a pretrained tokenizer; default: train a WordPiece tokenizer on the data."}
    )
    vocab_size: int = field(default=8000, metadata={"help": "CLEAR: vocabulary size of the trained WordPiece tokenizer."})


@dataclass
class DataArguments:
    dataset_name: Optional[str] = field(
        default=None,
        metadata={
            "help": "A datasets Hub name, a local folder (imagefolder, text, csv, json, parquet files, or a "
            "save_to_disk folder), or an embedded set: 'mnist_digits' (SimCLR default) or 'bbc_news' (CLEAR default)."
        },
    )
    dataset_config_name: Optional[str] = field(default=None, metadata={"help": "The datasets config name."})
    train_split: str = field(default="train", metadata={"help": "Split to pre-train on."})
    eval_split: Optional[str] = field(default="test", metadata={"help": "Split for the linear evaluation; none to skip."})
    image_column: Optional[str] = field(default=None, metadata={"help": "Image column; auto-detected when unambiguous."})
    text_column: Optional[str] = field(default=None, metadata={"help": "Text column; auto-detected when unambiguous."})
    label_column: Optional[str] = field(default=None, metadata={"help": "Label column; auto-detected ('label', 'labels')."})
    max_train_samples: Optional[int] = field(default=None, metadata={"help": "Use only the first N training examples."})
    max_eval_samples: Optional[int] = field(
        default=None, metadata={"help": "Use at most N examples of each split for the evaluation (train and test)."}
    )
    max_seq_length: int = field(default=64, metadata={"help": "CLEAR: tokens per sentence after truncation."})
    view_preset: Optional[str] = field(
        default=None, metadata={"help": "SimCLR: augmentation preset (imagenet, cifar, digits); default by image size."}
    )
    view_overrides: Optional[str] = field(
        default=None, metadata={"help": "SimCLR: augmentation parameters overriding the preset (JSON or mapping)."}
    )
    sts_dataset: Optional[str] = field(
        default=None,
        metadata={"help": "CLEAR: a dataset (name or file) with sentence1, sentence2, score columns for Spearman."},
    )
    dataloader_num_workers: int = field(default=0, metadata={"help": "Data-loader worker processes."})


@dataclass
class ContrastiveTrainingArguments:
    output_dir: Optional[str] = field(default=None, metadata={"help": "Where the model, results and checkpoints go."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Allow writing into a non-empty output_dir (its checkpoints are kept)."}
    )
    per_device_train_batch_size: Optional[int] = field(
        default=None, metadata={"help": "Images/sentences per process and step; default: the recipe's (SimCLR 256, CLEAR 64)."}
    )
    per_device_eval_batch_size: int = field(default=256, metadata={"help": "Batch size of feature extraction."})
    learning_rate: Optional[float] = field(
        default=None,
        metadata={"help": "Peak learning rate; default: SimCLR's scaling rule for LARS (--lr_scaling), CLEAR 5e-4."},
    )
    lr_scaling: str = field(default="sqrt", metadata={"help": "LARS default rate: 'linear' (0.3 B/256) or 'sqrt' (0.075 sqrt(B))."})
    optimizer: Optional[str] = field(
        default=None, metadata={"help": "'lars' or 'adamw'; default: the recipe's (SimCLR lars, CLEAR adamw)."}
    )
    weight_decay: Optional[float] = field(
        default=None, metadata={"help": "Weight decay, not on biases and norm layers; default: SimCLR 1e-6, CLEAR 0.01."}
    )
    num_train_epochs: Optional[float] = field(
        default=None, metadata={"help": "Epochs over the training data; default: the recipe's (SimCLR 50, CLEAR 0.5)."}
    )
    max_train_steps: Optional[int] = field(default=None, metadata={"help": "Stop after this many optimiser steps."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Fraction of the steps with linear warmup."})
    gradient_accumulation_steps: int = field(
        default=1, metadata={"help": "Micro-batches per optimiser step (more samples per step, not more negatives)."}
    )
    max_grad_norm: Optional[float] = field(default=None, metadata={"help": "Clip gradients to this norm."})
    n_views: int = field(default=2, metadata={"help": "Views per image (SimCLR/SupCon)."})
    loss: Optional[str] = field(default=None, metadata={"help": "SimCLR: 'ntxent' or 'supcon' (labels as positives)."})
    temperature: Optional[float] = field(default=None, metadata={"help": "Loss temperature (overrides the config)."})
    sync_batchnorm: bool = field(default=False, metadata={"help": "Synchronise batch norm over GPUs (SimCLR's global BN)."})
    torch_compile: bool = field(default=False, metadata={"help": "Compile the model with torch.compile."})
    mixed_precision: Optional[str] = field(
        default=None, metadata={"help": "'no', 'fp16' or 'bf16'; default: accelerate's config / launch flag."}
    )
    checkpointing_steps: Optional[str] = field(
        default=None, metadata={"help": "Save a resumable checkpoint every N optimiser steps, or 'epoch'."}
    )
    resume_from_checkpoint: Optional[str] = field(
        default=None, metadata={"help": "A checkpoint folder, or 'latest' for the newest complete one in output_dir."}
    )
    eval_steps: Optional[int] = field(default=None, metadata={"help": "Also evaluate every N steps (default: at the end)."})
    logging_steps: int = field(default=10, metadata={"help": "Log metrics every N steps."})
    report_to: str = field(default="tensorboard", metadata={"help": "Accelerate trackers: 'tensorboard', 'all', 'none'."})
    seed: int = field(default=42, metadata={"help": "Random seed (initialisation, data order, views)."})
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


def parse_json_or_mapping(value: Any, name: str) -> dict:
    """`--model_config '{"a": 1}'` from the command line, or a mapping from a YAML/JSON config."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"--{name} must be a JSON object, e.g. '{{\"temperature\": 0.2}}'; got {value!r} ({error}).")
    if not isinstance(parsed, dict):
        raise ValueError(f"--{name} must be a JSON object, got {value!r}.")
    return parsed


# ----------------------------------------------------------------------------------------------
# Checkpoints: written under a temporary name, renamed when complete
# ----------------------------------------------------------------------------------------------


def checkpoint_dir(output_dir: str) -> Path:
    return Path(output_dir) / "checkpoints"


def save_checkpoint(accelerator: Accelerator, output_dir: str, step: int, epoch: int, extra: dict) -> Path:
    """`accelerator.save_state` into `checkpoints/.tmp-step_N`, then a completion marker, then an
    atomic rename to `checkpoints/step_N`. A kill at any point leaves either no `step_N` or a
    complete one."""
    final = checkpoint_dir(output_dir) / f"step_{step}"
    temporary = checkpoint_dir(output_dir) / f".tmp-step_{step}"
    if accelerator.is_main_process and temporary.exists():
        shutil.rmtree(temporary)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (temporary / COMPLETE_MARKER).write_text(json.dumps({"step": step, "epoch": epoch, **extra}))
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
    accelerator.wait_for_everyone()
    return final


def find_checkpoint(output_dir: str, resume_from_checkpoint: str) -> Path:
    """The checkpoint to resume from: `latest` is the complete `step_N` with the largest N
    (incomplete `.tmp-*` folders are never used)."""
    if resume_from_checkpoint == "latest":
        candidates = []
        for path in checkpoint_dir(output_dir).glob("step_*"):
            match = CHECKPOINT_PATTERN.match(path.name)
            if match and (path / COMPLETE_MARKER).exists():
                candidates.append((int(match.group(1)), path))
        if not candidates:
            raise FileNotFoundError(
                f"--resume_from_checkpoint latest: no complete checkpoint in {checkpoint_dir(output_dir)}. "
                "Start without --resume_from_checkpoint, or give a checkpoint folder."
            )
        return max(candidates)[1]
    path = Path(resume_from_checkpoint)
    if not (path / COMPLETE_MARKER).exists():
        raise FileNotFoundError(
            f"{path} is not a complete checkpoint (no {COMPLETE_MARKER}: it was interrupted while being written, "
            "or is not a checkpoint folder). Use --resume_from_checkpoint latest to take the newest complete one."
        )
    return path


def prepare_output_dir(args: ContrastiveTrainingArguments) -> None:
    output = Path(args.output_dir)
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(f"--output_dir {output} exists and is not a folder.")
    existing = [p.name for p in output.iterdir()] if output.exists() else []
    if existing and not args.resume_from_checkpoint and not args.overwrite_output_dir:
        raise FileExistsError(
            f"--output_dir {output} is not empty ({', '.join(sorted(existing)[:5])}...). Resume with "
            "--resume_from_checkpoint latest, pass --overwrite_output_dir to write into it (nothing is deleted), "
            "or choose another folder."
        )
    output.mkdir(parents=True, exist_ok=True)


# ----------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------


def describe_hardware(accelerator: Accelerator) -> str:
    """What the run ran on, for train_results.json and the model card: GPUs by name, or the CPU."""
    if accelerator.device.type == "cuda":
        return f"{accelerator.num_processes} x {torch.cuda.get_device_name(accelerator.device)}"
    if accelerator.device.type != "cpu":
        return f"{accelerator.num_processes} x {accelerator.device.type}"
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")), cpu)
    return (
        f"{accelerator.num_processes} CPU process(es) x {torch.get_num_threads()} thread(s), {cpu} "
        f"({os.cpu_count()} logical cores)"
    )


def step_seed(seed: int, process_index: int, micro_step: int) -> int:
    """The seed of one micro-step of one process: views, masks and dropout depend only on it."""
    return (seed * 1_000_003 + process_index * 7_919 + micro_step) % (2**31 - 1)


def build_optimizer(model: torch.nn.Module, args: ContrastiveTrainingArguments, global_batch: int):
    groups = lars_param_groups(model, weight_decay=args.weight_decay)
    if args.optimizer == "lars":
        lr = args.learning_rate if args.learning_rate is not None else scale_learning_rate(global_batch, args.lr_scaling)
        return LARS(groups, lr=lr, weight_decay=args.weight_decay), lr
    if args.optimizer == "adamw":
        lr = args.learning_rate if args.learning_rate is not None else 1e-3
        return torch.optim.AdamW(groups, lr=lr, weight_decay=args.weight_decay), lr
    raise ValueError(f"--optimizer must be 'lars' or 'adamw', got {args.optimizer!r}.")


def train(model_args: ModelArguments, data_args: DataArguments, args: ContrastiveTrainingArguments) -> dict:
    """Pre-train, evaluate and save; returns the evaluation results."""
    from .tasks import build_task

    if args.output_dir is None:
        args.output_dir = os.path.join("outputs", f"{model_args.model}-default")
    report_to = None if args.report_to == "none" else args.report_to
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=report_to,
        project_dir=args.output_dir,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    if accelerator.is_main_process:
        prepare_output_dir(args)
        if args.push_to_hub:  # a bad token or repository fails now, not after training
            args.hub_model_id = create_repository(
                args.hub_model_id or Path(args.output_dir).resolve().name,
                private=args.hub_private_repo or None, revision=args.hub_revision, token=args.hub_token,
            )  # fmt: skip
    accelerator.wait_for_everyone()
    set_seed(args.seed)
    start_time = time.time()

    task = build_task(model_args, data_args, args, accelerator)
    for name, value in task.recipe_defaults.items():  # options left unset take the recipe's value
        if getattr(args, name) is None:
            setattr(args, name, value)
    model = task.model
    if args.sync_batchnorm and accelerator.num_processes > 1:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    global_batch = args.per_device_train_batch_size * accelerator.num_processes
    if len(task.train_dataset) < global_batch:
        raise ValueError(
            f"The training set has {len(task.train_dataset)} examples, fewer than one global batch "
            f"({args.per_device_train_batch_size} x {accelerator.num_processes} processes = {global_batch}); "
            "lower --per_device_train_batch_size."
        )
    train_loader = DataLoader(
        task.train_dataset,
        batch_size=args.per_device_train_batch_size,
        shuffle=True,
        drop_last=True,  # a contrastive batch's size sets its number of negatives: keep it constant
        collate_fn=task.collate,
        num_workers=data_args.dataloader_num_workers,
    )
    optimizer, peak_lr = build_optimizer(model, args, global_batch)
    steps_per_epoch = math.ceil(len(train_loader) / accelerator.num_processes / args.gradient_accumulation_steps)
    max_train_steps = args.max_train_steps or math.ceil(args.num_train_epochs * steps_per_epoch)
    num_epochs = math.ceil(max_train_steps / steps_per_epoch)
    warmup_steps = int(args.warmup_ratio * max_train_steps)
    scheduler = get_cosine_schedule_with_warmup(
        optimizer, num_warmup_steps=warmup_steps * accelerator.num_processes,
        num_training_steps=max_train_steps * accelerator.num_processes,
    )  # fmt: skip
    if args.torch_compile:
        model = torch.compile(model)
    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)

    checkpointing_every = None
    if args.checkpointing_steps is not None and args.checkpointing_steps != "epoch":
        if not args.checkpointing_steps.isdigit() or int(args.checkpointing_steps) < 1:
            raise ValueError(f"--checkpointing_steps must be a positive integer or 'epoch', got {args.checkpointing_steps!r}.")
        checkpointing_every = int(args.checkpointing_steps)

    hyperparameters = {**asdict(model_args), **asdict(data_args), **asdict(args)}
    # saved in training_args.json and given to the trackers: never the token, and no Hub options, so
    # that `train.py --config training_args.json` (the model card's rerun command) does not push
    for name in ("push_to_hub", "hub_model_id", "hub_token", "hub_private_repo", "hub_revision"):
        del hyperparameters[name]
    if report_to:
        accelerator.init_trackers("runs", config={k: v for k, v in hyperparameters.items() if isinstance(v, (int, float, str, bool))})

    completed_steps, start_epoch, resume_step = 0, 0, 0
    if args.resume_from_checkpoint:
        path = find_checkpoint(args.output_dir, args.resume_from_checkpoint)
        accelerator.print(f"Resuming from {path}")
        try:
            accelerator.load_state(str(path))
        except Exception as error:  # noqa: BLE001 - any failure to read it means the checkpoint is unusable
            raise RuntimeError(f"Could not load checkpoint {path}: {error}. It may be corrupt; delete it or resume from another.") from error
        info = json.loads((path / COMPLETE_MARKER).read_text())
        completed_steps = info["step"]
        if accelerator.is_main_process:  # drop log records of steps the killed run made after this checkpoint
            log_path = Path(args.output_dir, "training_log.jsonl")
            if log_path.exists():
                kept = [line for line in log_path.read_text().splitlines() if json.loads(line)["step"] <= completed_steps]
                log_path.write_text("".join(line + "\n" for line in kept))
        start_epoch = completed_steps // steps_per_epoch
        resume_step = (completed_steps % steps_per_epoch) * args.gradient_accumulation_steps

    logger.info(
        f"Training {model_args.model}: {len(task.train_dataset)} examples, {accelerator.num_processes} process(es), "
        f"global batch {global_batch} x {args.n_views if model_args.model == 'simclr' else 2} views, "
        f"{max_train_steps} steps, {args.optimizer} peak lr {peak_lr:.4g}",
        main_process_only=True,
    )
    progress = tqdm(range(max_train_steps), initial=completed_steps, disable=not accelerator.is_local_main_process, desc="training")
    history: list[dict] = []
    window_start, window_examples = time.time(), 0
    for epoch in range(start_epoch, num_epochs):
        model.train()
        train_loader.set_epoch(epoch)
        loader = accelerator.skip_first_batches(train_loader, resume_step) if epoch == start_epoch and resume_step else train_loader
        micro_step = epoch * len(train_loader) + (resume_step if epoch == start_epoch else 0)
        for batch in loader:
            set_seed(step_seed(args.seed, accelerator.process_index, micro_step))
            micro_step += 1
            with accelerator.accumulate(model):
                inputs = task.make_inputs(batch, accelerator.device)
                outputs = model(**inputs)
                loss = outputs.loss
                if not torch.isfinite(loss.detach()).all():
                    accelerator.end_training()
                    raise FloatingPointError(
                        f"The loss became {loss.item()} at step {completed_steps}. Nothing was saved from this run after "
                        "its last checkpoint. Lower --learning_rate, raise the temperature, or try --mixed_precision no."
                    )
                accelerator.backward(loss)
                if accelerator.sync_gradients and args.max_grad_norm is not None:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            window_examples += args.per_device_train_batch_size * accelerator.num_processes
            if not accelerator.sync_gradients:
                continue
            completed_steps += 1
            progress.update(1)
            parts = {k: float(v.detach()) for k, v in outputs.items() if k.endswith("loss") and v is not None}
            record = {"step": completed_steps, "epoch": epoch, "learning_rate": scheduler.get_last_lr()[0], **parts}
            if completed_steps % args.logging_steps == 0 or completed_steps == max_train_steps:
                elapsed = time.time() - window_start
                record["examples_per_second"] = window_examples / max(elapsed, 1e-9)
                window_start, window_examples = time.time(), 0
                progress.set_postfix(loss=f"{parts.get('loss', float('nan')):.4f}")
                if report_to:
                    accelerator.log(record, step=completed_steps)
            history.append(record)
            if accelerator.is_main_process:
                with open(Path(args.output_dir, "training_log.jsonl"), "a") as log:
                    log.write(json.dumps(record) + "\n")
            if checkpointing_every and completed_steps % checkpointing_every == 0:
                save_checkpoint(accelerator, args.output_dir, completed_steps, epoch, {})
            if args.eval_steps and completed_steps % args.eval_steps == 0 and completed_steps < max_train_steps:
                periodic = task.evaluate(accelerator.unwrap_model(model), baselines=False)
                if report_to:
                    accelerator.log({f"eval/{k}": v for k, v in periodic.items()}, step=completed_steps)
                model.train()
            if completed_steps >= max_train_steps:
                break
        if args.checkpointing_steps == "epoch":
            save_checkpoint(accelerator, args.output_dir, completed_steps, epoch, {})
        if completed_steps >= max_train_steps:
            break
    progress.close()
    train_seconds = time.time() - start_time

    accelerator.wait_for_everyone()
    push_error = None
    unwrapped = accelerator.unwrap_model(model)
    results = task.evaluate(unwrapped, baselines=not args.skip_baselines) if data_args.eval_split else {}
    if accelerator.is_main_process:
        unwrapped.save_pretrained(args.output_dir, is_main_process=True)
        task.save_preprocessor(args.output_dir)
        train_results = {
            "train_runtime_seconds": train_seconds,
            "steps": completed_steps,
            "global_batch_size": global_batch,
            "num_processes": accelerator.num_processes,
            "final_loss": history[-1]["loss"] if history else None,
            "epochs": completed_steps / steps_per_epoch,
            "peak_learning_rate": peak_lr,
            "hardware": describe_hardware(accelerator),
            "device_type": accelerator.device.type,
            **task.extra_train_results(),
        }
        Path(args.output_dir, "train_results.json").write_text(json.dumps(train_results, indent=2))
        Path(args.output_dir, "eval_results.json").write_text(json.dumps(results, indent=2))
        Path(args.output_dir, "training_args.json").write_text(json.dumps(hyperparameters, indent=2, default=str))
        write_model_card(args.output_dir)
        accelerator.print(json.dumps({"train": train_results, "eval": results}, indent=2))
        if args.push_to_hub:
            try:
                commit = push_to_hub(
                    args.output_dir, args.hub_model_id, private=args.hub_private_repo or None,
                    revision=args.hub_revision, token=args.hub_token, commit_message="End of training",
                )  # fmt: skip
                accelerator.print(f"Pushed to {commit.commit_url}")
            except HubPushError as error:  # the run itself is saved: finish it, then report the failure
                push_error = error
    accelerator.wait_for_everyone()
    accelerator.end_training()
    if push_error is not None:
        raise push_error
    return results
