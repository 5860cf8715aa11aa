"""The Accelerate training loop shared by SimCLR and CLEAR (`accelerate launch scripts/train.py`).

The loop knows no modality. It is handed a *recipe* (`hf_contrastive.recipes.Recipe`, built by
`scripts/train.py` once the accelerator exists) that supplies the model, the raw training data, a
deterministic `collate` for the data loader, `make_inputs` (the random views of one step), the
evaluation and the preprocessor to save. The run reads as four steps, like transformers'
`run_mlm_no_trainer.py`:

1. `setup`: accelerator, output folder, recipe, recipe defaults for unset options, data loader,
   optimiser, schedule, `accelerator.prepare`, resuming from a checkpoint;
2. `train_epoch`, once per epoch: every step reseeds the random generators from
   `(seed, process, step)`, so a run killed and resumed from a checkpoint draws exactly the views,
   masks and dropout of an uninterrupted run;
3. `finish`: save the model and its preprocessor, evaluate through them, write the results and the
   model card, push to the Hub if asked.

Negatives: the loss gathers embeddings from every process (`hf_contrastive.modeling.losses`), so
the global batch (`per_device_train_batch_size x processes`) provides the negatives. Gradient
accumulation makes the effective batch for the optimiser larger but does NOT add negatives: each
micro-batch's loss only contrasts the views of that micro-batch.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration, broadcast_object_list, gather_object, set_seed
from torch.utils.data import DataLoader, IterableDataset
from tqdm.auto import tqdm

from ..hub import HubPushError, create_repository, push_to_hub, write_model_card
from ..optim import LARS, get_cosine_schedule_with_warmup, lars_param_groups, scale_learning_rate
from .arguments import RESULT_OPTIONS, UNSAVED_OPTIONS, ContrastiveTrainingArguments
from .checkpoints import (
    agreed_checkpoint, find_checkpoint, keep_checkpoints_per_machine, on_every_process, load_checkpoint, read_marker, resume_fingerprint, resume_mismatches,
    save_checkpoint, truncate_log,
)  # fmt: skip
from .gradcache import batch_norm_in_chunks, cached_gradient_step, exact_chunks_advice
from .guards import DivergenceGuard
from .hardware import default_mixed_precision, describe_hardware, loader_settings
from .output_folder import finished_run_step, prepare_output_dir
from .stopping import StopRequested, StopSignals, stop_with_launcher
from .streams import StreamPosition, stream_batches

logger = get_logger(__name__)

TRAINING_LOG = "training_log.jsonl"


@dataclass
class TrainingRun:
    """Everything one run holds between its steps."""

    args: ContrastiveTrainingArguments
    accelerator: Accelerator
    recipe: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_loader: DataLoader
    options: dict
    peak_lr: float
    global_batch: int
    steps_per_epoch: int
    max_train_steps: int
    num_epochs: int
    report_to: Optional[str]
    checkpointing_every: Optional[int]
    fingerprint: dict = field(default_factory=dict)
    guard: Optional[DivergenceGuard] = None
    completed_steps: int = 0
    finished_before: bool = False
    resumed_from: Optional[Path] = None  # the checkpoint this run resumed from (never rotated away)
    start_epoch: int = 0
    resume_micro_steps: int = 0
    history: list = field(default_factory=list)
    start_time: float = field(default_factory=time.time)
    progress: Any = None
    signals: Optional[StopSignals] = None
    stream_position: Optional[StreamPosition] = None  # --streaming: where this process is in its stream
    make_loader: Optional[Callable[[Any], DataLoader]] = None  # --streaming: a loader for one pass


def step_seed(seed: int, process_index: int, micro_step: int) -> int:
    """The seed of one micro-step of one process: views, masks and dropout depend only on it."""
    return (seed * 1_000_003 + process_index * 7_919 + micro_step) % (2**31 - 1)


def build_optimizer(model: torch.nn.Module, args: ContrastiveTrainingArguments, global_batch: int):
    """LARS (learning rate by SimCLR's rule when none is given) or AdamW, with norm and bias
    parameters excluded from weight decay; returns the optimiser and its peak learning rate."""
    groups = lars_param_groups(model, weight_decay=args.weight_decay)
    if args.optimizer == "lars":
        lr = args.learning_rate if args.learning_rate is not None else scale_learning_rate(global_batch, args.lr_scaling)
        return LARS(groups, lr=lr, weight_decay=args.weight_decay), lr
    if args.optimizer == "adamw":
        if args.learning_rate is None:
            raise ValueError("--optimizer adamw needs --learning_rate (SimCLR's scaling rule is for LARS).")
        return torch.optim.AdamW(groups, lr=args.learning_rate, weight_decay=args.weight_decay), args.learning_rate
    raise ValueError(f"--optimizer must be 'lars' or 'adamw', got {args.optimizer!r}.")


def _checkpointing_every(value: Optional[str]) -> Optional[int]:
    if value is None or value == "epoch":
        return None
    if not str(value).isdigit() or int(value) < 1:
        raise ValueError(f"--checkpointing_steps must be a positive integer or 'epoch', got {value!r}.")
    return int(value)


def create_accelerator(args: ContrastiveTrainingArguments) -> Accelerator:
    """The run's accelerator; the main process also checks the output folder (each machine its own
    when the machines share no disk) and, with `--push_to_hub`, creates the repository (a bad token
    fails now, not after training)."""
    report_to = None if args.report_to == "none" else args.report_to
    cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    precision = default_mixed_precision(args.mixed_precision, os.environ, cuda_bf16)
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=precision,
        log_with=report_to,
        project_dir=args.output_dir,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    if accelerator.is_main_process:
        aside = prepare_output_dir(args.output_dir, bool(args.resume_from_checkpoint), args.overwrite_output_dir)
        if aside is not None:
            accelerator.print(f"--overwrite_output_dir: the previous run's files were moved into {aside}")
        if args.push_to_hub:
            args.hub_model_id = create_repository(
                args.hub_model_id or Path(args.output_dir).resolve().name,
                private=args.hub_private_repo or None, revision=args.hub_revision, token=args.hub_token,
            )  # fmt: skip
    if precision is not None and args.mixed_precision is None:
        logger.info("mixed_precision bf16: the default on a CUDA device with bf16 (the losses stay float32); "
                    "--mixed_precision no trains in float32", main_process_only=True)  # fmt: skip
    accelerator.wait_for_everyone()
    if keep_checkpoints_per_machine(accelerator, args.output_dir, bool(args.resume_from_checkpoint), args.overwrite_output_dir):
        logger.info("The machines' --output_dir are not one shared folder: each machine keeps its own checkpoints", main_process_only=True)
    return accelerator


def setup(
    args: ContrastiveTrainingArguments, build_recipe: Callable[[Accelerator, ContrastiveTrainingArguments], Any], options: dict
) -> TrainingRun:
    """Step 1: everything up to the first training step."""
    accelerator = create_accelerator(args)
    set_seed(args.seed)
    recipe = build_recipe(accelerator, args)
    for name, value in recipe.training_defaults.items():  # options left unset take the recipe's value
        if getattr(args, name) is None:
            setattr(args, name, value)
    model = recipe.model
    if args.sync_batchnorm and accelerator.num_processes > 1:
        if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            logger.warning("--sync_batchnorm: the model has no batch norm to synchronise (e.g. backbone_norm='group').", main_process_only=True)
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if args.contrastive_chunk_size:
        advice = exact_chunks_advice(model)
        logger.info(f"Cached gradients in chunks of {args.contrastive_chunk_size}; batch norm: "
                    f"{batch_norm_in_chunks(model, args.contrastive_chunk_size)}{f' ({advice})' if advice else ''}", main_process_only=True)
    global_batch = args.per_device_train_batch_size * accelerator.num_processes
    streaming = isinstance(recipe.train_dataset, IterableDataset)
    if streaming and not args.max_train_steps:
        raise ValueError("--streaming needs --max_train_steps: a stream has no length to count epochs in.")
    if not streaming and len(recipe.train_dataset) < global_batch:
        raise ValueError(
            f"The training set has {len(recipe.train_dataset)} examples, fewer than one global batch "
            f"({args.per_device_train_batch_size} x {accelerator.num_processes} processes = {global_batch}); "
            "lower --per_device_train_batch_size."
        )
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", accelerator.num_processes))  # (set by the launcher per machine)
    workers, pin_memory = loader_settings(accelerator.device.type, options.get("dataloader_num_workers"), os.cpu_count() or 1, local_processes)
    if options.get("dataloader_num_workers") is None and workers:
        logger.info(f"dataloader_num_workers {workers}: on CUDA, the machine's cores per process minus one (at most 8)", main_process_only=True)
    loader_options = {
        "batch_size": args.per_device_train_batch_size,
        "drop_last": True,  # a contrastive batch's size sets its number of negatives: keep it constant
        "collate_fn": recipe.collate, "num_workers": workers, "pin_memory": pin_memory,
    }  # fmt: skip
    # a stream is already this process's part, shuffled (the recipe split it); a map-style set is
    # shuffled by the seeded sampler and split per process by accelerate
    train_loader = DataLoader(recipe.train_dataset, shuffle=not streaming, **loader_options)
    optimizer, peak_lr = build_optimizer(model, args, global_batch)
    if streaming:  # (the whole run is one "epoch"; the stream's own passes are counted in its position)
        steps_per_epoch = max_train_steps = args.max_train_steps
    else:
        steps_per_epoch = math.ceil(len(train_loader) / accelerator.num_processes / args.gradient_accumulation_steps)
        max_train_steps = args.max_train_steps or math.ceil(args.num_train_epochs * steps_per_epoch)
    warmup_steps = int(args.warmup_ratio * max_train_steps)
    scheduler = get_cosine_schedule_with_warmup(
        optimizer, num_warmup_steps=warmup_steps * accelerator.num_processes,
        num_training_steps=max_train_steps * accelerator.num_processes,
    )  # fmt: skip
    if args.torch_compile:
        model = torch.compile(model)
    if streaming:
        model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    else:
        model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)

    options = {**options, **recipe.resolved_options(), **asdict(args)}
    for name in UNSAVED_OPTIONS:
        options.pop(name, None)
    run = TrainingRun(
        args=args, accelerator=accelerator, recipe=recipe, model=model, optimizer=optimizer, scheduler=scheduler,
        train_loader=train_loader, options=options, peak_lr=peak_lr, global_batch=global_batch,
        steps_per_epoch=steps_per_epoch, max_train_steps=max_train_steps,
        num_epochs=math.ceil(max_train_steps / steps_per_epoch), report_to=None,
        checkpointing_every=_checkpointing_every(args.checkpointing_steps),
        fingerprint=resume_fingerprint(recipe, accelerator.unwrap_model(model).config, {
            "num_processes": accelerator.num_processes, "mixed_precision": accelerator.mixed_precision,
            "peak_learning_rate": peak_lr, "max_train_steps": max_train_steps,
            **{name: getattr(args, name) for name in RESULT_OPTIONS},
        }),
        # the reference weights are the run's start, also when it resumes
        guard=DivergenceGuard(model, accelerator, peak_lr, warmup_steps, recipe.chance_loss(global_batch)),
    )  # fmt: skip
    if streaming:
        run.stream_position = StreamPosition()
        run.make_loader = lambda dataset: DataLoader(dataset, **loader_options)
    if args.resume_from_checkpoint:
        resume(run)
        if run.finished_before:
            return run
    run.report_to = None if args.report_to == "none" else args.report_to
    if run.report_to:
        accelerator.init_trackers("runs", config={k: v for k, v in options.items() if isinstance(v, (int, float, str, bool))})
    logger.info(
        f"Training {recipe.name}: {'a stream of' if streaming else len(recipe.train_dataset)} examples, "
        f"{accelerator.num_processes} process(es), "
        f"global batch {global_batch} x {recipe.n_views} views, {max_train_steps} steps, "
        f"{args.optimizer} peak lr {peak_lr:.4g}, precision {accelerator.mixed_precision}",
        main_process_only=True,
    )
    run.progress = tqdm(
        range(max_train_steps), initial=run.completed_steps, disable=not accelerator.is_local_main_process, desc="training"
    )
    return run


def resume(run: TrainingRun) -> None:
    """Continue from the checkpoint `--resume_from_checkpoint` names, after checking it belongs to
    this run (its fingerprint); a checkpoint at the last step of a finished run leaves everything
    as it is (`run.finished_before`)."""
    args, accelerator = run.args, run.accelerator
    path = agreed_checkpoint(accelerator, args.output_dir, args.resume_from_checkpoint)
    run.resumed_from = path
    marker = on_every_process(accelerator, lambda: _checked_marker(run, path))  # (machines may hold their own)
    run.completed_steps = marker["step"]
    finished = [finished_run_step(args.output_dir)]  # (machine 0's folder holds the finished run's files)
    if accelerator.num_processes > 1:
        broadcast_object_list(finished)
    if run.completed_steps >= run.max_train_steps and finished[0] == run.completed_steps:
        run.finished_before = True
        accelerator.print(
            f"{args.output_dir} holds a finished run ({run.completed_steps} steps, the last checkpoint {path.name}): "
            "nothing to do, nothing changed."
        )
        return
    accelerator.print(f"Resuming from {path} (step {run.completed_steps} of {run.max_train_steps})")
    on_every_process(accelerator, lambda: load_checkpoint(accelerator, path))
    if run.stream_position is not None:
        run.stream_position = StreamPosition(*marker["stream_positions"][accelerator.process_index])
    if accelerator.is_main_process:
        truncate_log(Path(args.output_dir, TRAINING_LOG), run.completed_steps)
    run.start_epoch = run.completed_steps // run.steps_per_epoch
    run.resume_micro_steps = (run.completed_steps % run.steps_per_epoch) * args.gradient_accumulation_steps


def _checked_marker(run: TrainingRun, path: Path) -> dict:
    """The checkpoint's marker, once its fingerprint says it belongs to this run."""
    args, marker = run.args, read_marker(path)
    if "fingerprint" not in marker and not args.ignore_resume_mismatch:
        raise ValueError(
            f"{path} was written before checkpoints recorded their run's options, so this run cannot check that it "
            "continues the same one. If it does (same data, batch, processes, seed, model), pass --ignore_resume_mismatch."
        )
    differences = resume_mismatches(marker.get("fingerprint", {}), run.fingerprint)
    if differences and not args.ignore_resume_mismatch:
        listed = "\n  ".join(differences)
        raise ValueError(
            f"{path} was written by a run with other options; resuming it would continue a different run:\n  {listed}\n"
            "Run with the checkpoint's options, start a new run (another --output_dir, or --overwrite_output_dir), "
            "or force the resume with --ignore_resume_mismatch."
        )
    if differences:
        logger.warning(f"Resuming {path} despite {len(differences)} difference(s) (--ignore_resume_mismatch).", main_process_only=True)
    return marker


def _log_step(run: TrainingRun, outputs, epoch: int, window: dict) -> None:
    args, accelerator = run.args, run.accelerator
    parts = {k: float(v.detach()) for k, v in outputs.items() if k.endswith("loss") and v is not None}
    record = {"step": run.completed_steps, "epoch": epoch, "learning_rate": run.scheduler.get_last_lr()[0], **parts}
    if run.completed_steps % args.logging_steps == 0 or run.completed_steps == run.max_train_steps:
        elapsed = time.time() - window["start"]
        record["examples_per_second"] = window["examples"] / max(elapsed, 1e-9)
        window.update(start=time.time(), examples=0)
        run.progress.set_postfix(loss=f"{parts.get('loss', float('nan')):.4f}")
        if run.report_to:
            accelerator.log(record, step=run.completed_steps)
    run.history.append(record)
    if accelerator.is_main_process:
        with open(Path(args.output_dir, TRAINING_LOG), "a") as log:
            log.write(json.dumps(record) + "\n")


def train_epoch(run: TrainingRun, epoch: int) -> None:
    """Step 2: one pass over the training data (or what remains of it after a resume)."""
    args, accelerator, model = run.args, run.accelerator, run.model
    model.train()
    resuming = epoch == run.start_epoch and run.resume_micro_steps
    if run.stream_position is not None:  # one endless "epoch", from where the stream was
        loader = stream_batches(run.recipe.train_dataset, run.stream_position, args.per_device_train_batch_size, run.make_loader)
        micro_step = run.resume_micro_steps
    else:
        run.train_loader.set_epoch(epoch)
        loader = accelerator.skip_first_batches(run.train_loader, run.resume_micro_steps) if resuming else run.train_loader
        micro_step = epoch * len(run.train_loader) + (run.resume_micro_steps if resuming else 0)
    window = {"start": time.time(), "examples": 0}
    for batch in loader:
        set_seed(step_seed(args.seed, accelerator.process_index, micro_step))
        micro_step += 1
        with accelerator.accumulate(model):
            inputs = run.recipe.make_inputs(batch, accelerator.device)
            if args.contrastive_chunk_size:  # the gradients are filled in chunks (training/gradcache.py)
                outputs = cached_gradient_step(model, inputs, args.contrastive_chunk_size, accelerator)
                run.guard.check_loss(outputs.loss, run.completed_steps + 1)
            else:
                outputs = model(**inputs)
                run.guard.check_loss(outputs.loss, run.completed_steps + 1)
                accelerator.backward(outputs.loss)
            if accelerator.sync_gradients and args.max_grad_norm is not None:
                accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            run.optimizer.step()
            run.scheduler.step()
            run.optimizer.zero_grad()
        window["examples"] += run.global_batch
        if not accelerator.sync_gradients:
            continue
        run.completed_steps += 1
        run.progress.update(1)
        _log_step(run, outputs, epoch, window)
        run.guard.check_step(run.completed_steps, run.history[-1])  # before this step's checkpoint
        # every N steps, and at the last one (so resuming a finished run finds it finished)
        last = run.completed_steps >= run.max_train_steps
        saved = bool(run.checkpointing_every) and (run.completed_steps % run.checkpointing_every == 0 or last)
        if saved:
            _save_checkpoint(run, epoch)
        stop = run.signals.requested_anywhere(accelerator) if run.signals else None
        if stop:  # every process stops at this step, with its checkpoint
            if not saved:
                _save_checkpoint(run, epoch)
            raise StopRequested(stop, run.completed_steps)
        if args.eval_steps and run.completed_steps % args.eval_steps == 0 and run.completed_steps < run.max_train_steps:
            periodic = run.recipe.evaluate(accelerator.unwrap_model(model), baselines=False) if accelerator.is_main_process else {}
            if run.report_to and periodic:
                accelerator.log({f"eval/{k}": v for k, v in periodic.items()}, step=run.completed_steps)
            model.train()
        if run.completed_steps >= run.max_train_steps:
            break
    if args.checkpointing_steps == "epoch":
        _save_checkpoint(run, epoch)


def _save_checkpoint(run: TrainingRun, epoch: int) -> None:
    args, extra = run.args, {}
    if run.stream_position is not None:  # every process's place in its stream, by process index
        extra["stream_positions"] = gather_object([[run.stream_position.pass_index, run.stream_position.rows]])
    save_checkpoint(
        run.accelerator, args.output_dir, run.completed_steps, epoch, run.fingerprint,
        total_limit=args.checkpoints_total_limit, resumed_from=run.resumed_from, extra=extra,
    )  # fmt: skip


def finish(run: TrainingRun) -> dict:
    """Step 3: save the model and its preprocessor, evaluate through the saved preprocessor, write
    the results and the model card, push if asked; returns the evaluation results."""
    args, accelerator, recipe = run.args, run.accelerator, run.recipe
    run.progress.close()
    train_seconds = time.time() - run.start_time
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(run.model)
    results, push_error = {}, None
    if accelerator.is_main_process:
        unwrapped.save_pretrained(args.output_dir, is_main_process=True)
        recipe.save_preprocessor(args.output_dir)
        results = recipe.evaluate(unwrapped, preprocessor_dir=args.output_dir, baselines=not args.skip_baselines)
        train_results = {
            "train_runtime_seconds": train_seconds,
            "steps": run.completed_steps,
            "global_batch_size": run.global_batch,
            "num_processes": accelerator.num_processes,
            "final_loss": run.history[-1]["loss"] if run.history else None,
            "epochs": run.completed_steps / run.steps_per_epoch if run.stream_position is None else None,
            "peak_learning_rate": run.peak_lr,
            "mixed_precision": accelerator.mixed_precision,
            "hardware": describe_hardware(accelerator),
            "device_type": accelerator.device.type,
            "dataloader_num_workers": run.train_loader.num_workers,
            **({"cached_gradients": {"chunk_size": args.contrastive_chunk_size,
                                     "batch_norm": batch_norm_in_chunks(unwrapped, args.contrastive_chunk_size)}}
               if args.contrastive_chunk_size else {}),
            **({"stream_position": {"pass": run.stream_position.pass_index, "rows": run.stream_position.rows}}
               if run.stream_position is not None else {}),
            **recipe.train_results(),
        }
        output = Path(args.output_dir)
        (output / "train_results.json").write_text(json.dumps(train_results, indent=2))
        (output / "eval_results.json").write_text(json.dumps(results, indent=2))
        (output / "training_args.json").write_text(json.dumps(run.options, indent=2, default=str))
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


def train(
    args: ContrastiveTrainingArguments,
    build_recipe: Callable[[Accelerator, ContrastiveTrainingArguments], Any],
    options: Optional[dict] = None,
) -> dict:
    """Pre-train, evaluate and save; returns the evaluation results.

    Args:
        args: the training options.
        build_recipe: `(accelerator, args) -> recipe`, called once the accelerator exists (see
            `hf_contrastive.recipes.build_recipe`).
        options: the model and data options, saved with `args` in `training_args.json`.
    """
    if args.output_dir is None:
        raise ValueError("--output_dir is required (the recipe's default is filled in by scripts/train.py).")
    stop_with_launcher()
    signals = StopSignals()
    try:
        run = setup(args, build_recipe, options or {})
        if run.finished_before:  # (its results are in machine 0's folder; other processes return {} as finish() does)
            run.accelerator.end_training()
            return json.loads(Path(args.output_dir, "eval_results.json").read_text()) if run.accelerator.is_main_process else {}
        run.signals, signals.deferred = signals, True  # a signal now stops at the end of a step
        for epoch in range(run.start_epoch, run.num_epochs):
            if run.completed_steps >= run.max_train_steps:  # (a resume at the last step trains no further)
                break
            train_epoch(run, epoch)
        stop = signals.requested_anywhere(run.accelerator)  # a signal after the last step's check
        if stop:
            raise StopRequested(stop)  # (the last step's checkpoint is written when checkpointing is on)
        signals.deferred = False
        return finish(run)
    except StopRequested as stop:
        _report_stop(args, stop)
        raise
    finally:
        signals.restore()


def _report_stop(args: ContrastiveTrainingArguments, stop: StopRequested) -> None:
    """Say, once, where the run can be resumed from."""
    if os.environ.get("RANK", "0") != "0":
        return
    try:
        where = f"The latest complete checkpoint is {find_checkpoint(args.output_dir, 'latest')}"
        advice = ("resume with the same command and --resume_from_checkpoint latest (machines that keep their own "
                  "checkpoints resume from the newest step every machine holds).")
    except FileNotFoundError:
        where, advice = "No checkpoint was written", "start the same command again."
    print(f"Stopped by {stop}. {where}; {advice}", flush=True)
