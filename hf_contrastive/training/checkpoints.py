"""Resumable checkpoints: written under a temporary name and renamed once complete, so a kill at
any moment leaves either no `step_N` folder or a complete one; found again by `latest`; with
`--checkpoints_total_limit N`, only the newest N complete ones are kept.

Machines that share no disk (each with its own `--output_dir`) each keep whole checkpoints
(`keep_checkpoints_per_machine`): every machine's first process writes the model, optimiser and
scheduler into its own folder (accelerate's `save_on_each_node`), every process its random state,
and a resume takes the newest step that every machine holds (`agreed_checkpoint`).

Each checkpoint's completion marker records the run's *fingerprint*: the resolved options that
change the result (recipe, data, batch per process and processes, seed, optimiser, schedule, model
config). A resume compares it with the new run's and refuses on any difference
(`resume_mismatches`), unless told `--ignore_resume_mismatch`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Optional

from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, gather_object

from .output_folder import PROBE_PREFIX, prepare_output_dir

CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)$")
COMPLETE_MARKER = "checkpoint_complete.json"


def checkpoint_dir(output_dir: str) -> Path:
    return Path(output_dir) / "checkpoints"


def save_checkpoint(
    accelerator: Accelerator, output_dir: str, step: int, epoch: int, fingerprint: dict,
    total_limit: Optional[int] = None, resumed_from: Optional[Path] = None, extra: Optional[dict] = None,
) -> Path:  # fmt: skip
    """`accelerator.save_state` into `checkpoints/.tmp-step_N`, then a completion marker (step,
    epoch, the run's `fingerprint` and any `extra` entries, e.g. stream positions), then an atomic
    rename to `checkpoints/step_N`; with `total_limit`, once every process has renamed,
    `rotate_checkpoints`. The main process writes, or each machine's first process into its own
    folder when machines keep their own checkpoints (`keep_checkpoints_per_machine`)."""
    final = checkpoint_dir(output_dir) / f"step_{step}"
    temporary = checkpoint_dir(output_dir) / f".tmp-step_{step}"
    writer = accelerator.is_local_main_process if accelerator.project_configuration.save_on_each_node else accelerator.is_main_process
    if writer and temporary.exists():
        shutil.rmtree(temporary)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary))
    accelerator.wait_for_everyone()
    if writer:
        (temporary / COMPLETE_MARKER).write_text(json.dumps({"step": step, "epoch": epoch, "fingerprint": fingerprint, **(extra or {})}, indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
    accelerator.wait_for_everyone()  # (no machine deletes an older checkpoint before every machine holds the new one)
    if writer and total_limit is not None:
        rotate_checkpoints(output_dir, total_limit, keep_also=[final] + ([resumed_from] if resumed_from else []))
    accelerator.wait_for_everyone()
    return final


def complete_checkpoints(output_dir: str) -> list[Path]:
    """The complete `step_N` checkpoints, oldest (smallest N) first; `.tmp-*` ones are not listed."""
    found = []
    for path in checkpoint_dir(output_dir).glob("step_*"):
        match = CHECKPOINT_PATTERN.match(path.name)
        if match and (path / COMPLETE_MARKER).exists():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def rotate_checkpoints(output_dir: str, total_limit: int, keep_also: list[Path]) -> list[Path]:
    """`--checkpoints_total_limit`: delete the oldest complete checkpoints beyond the newest
    `total_limit`, never one in `keep_also` (the one just written, the one this run resumed from)
    and never a `.tmp-` one being written; returns what was deleted."""
    kept = {path.resolve() for path in keep_also}
    complete = complete_checkpoints(output_dir)
    deleted = [path for path in complete[: max(len(complete) - total_limit, 0)] if path.resolve() not in kept]
    for path in deleted:
        shutil.rmtree(path)
    return deleted


def keep_checkpoints_per_machine(accelerator: Accelerator, output_dir: str, resume: bool, overwrite: bool) -> bool:
    """Whether each machine must keep its own checkpoints, and if so, make it so: True when the
    machines' `output_dir` are a folder each (`_unshared_output_dirs`); then accelerate saves on
    each machine (`save_on_each_node`) and every other machine's folder gets the checks machine 0's
    got (`prepare_output_dir`)."""
    if accelerator.num_processes == 1 or not _unshared_output_dirs(accelerator, output_dir):
        return False
    accelerator.project_configuration.save_on_each_node = True

    def check_own_folder() -> None:
        if accelerator.is_local_main_process and not accelerator.is_main_process:
            prepare_output_dir(output_dir, resume, overwrite)

    on_every_process(accelerator, check_own_folder, "use its --output_dir")
    return True


def _unshared_output_dirs(accelerator: Accelerator, output_dir: str) -> bool:
    """Whether the machines' `output_dir` are not one folder: every machine's first process writes a
    probe file into its own, and every process says whose probes it sees. One folder for all, or
    one folder for each machine; anything between (some machines sharing a folder, others not) is
    refused, as the shared folder would get two writers."""
    token = broadcast_object_list([uuid.uuid4().hex])[0]
    mine = Path(output_dir) / f"{PROBE_PREFIX}{token}-{accelerator.process_index}"
    if accelerator.is_local_main_process:
        mine.parent.mkdir(parents=True, exist_ok=True)
        mine.touch()
    accelerator.wait_for_everyone()
    seen = sorted(int(p.name.rsplit("-", 1)[1]) for p in Path(output_dir).glob(f"{PROBE_PREFIX}{token}-*"))
    everyone = gather_object([(accelerator.process_index, accelerator.is_local_main_process, seen)])
    accelerator.wait_for_everyone()
    if accelerator.is_local_main_process:
        mine.unlink()
    firsts = [index for index, first, _ in everyone if first]
    if all(seen == firsts for _, _, seen in everyone):
        return False
    if any(first and seen != [index] for index, first, seen in everyone):
        raise ValueError(
            f"Some machines share an --output_dir ({output_dir}) and others do not (the probe files each machine's first "
            f"process sees, by process: {[(index, seen) for index, _, seen in everyone]}). Give every machine the same "
            "shared folder, or every machine its own (then each keeps its own checkpoints)."
        )
    return True


def agreed_checkpoint(accelerator: Accelerator, output_dir: str, resume_from_checkpoint: str) -> Path:
    """`find_checkpoint` on every process when machines keep their own checkpoints, agreed across
    them: `latest` is the newest complete step that every machine holds (a kill can leave one a
    step ahead); a named checkpoint must be complete, and of the same step, on every machine."""
    if not accelerator.project_configuration.save_on_each_node:
        return find_checkpoint(output_dir, resume_from_checkpoint)
    held = gather_object([[int(CHECKPOINT_PATTERN.match(p.name)[1]) for p in complete_checkpoints(output_dir)]])
    if resume_from_checkpoint == "latest":
        common = set.intersection(*map(set, held))
        if not common:
            raise FileNotFoundError(
                f"--resume_from_checkpoint latest: no complete checkpoint step that every machine holds (their "
                f"--output_dir/checkpoints hold steps {held}, by process). Copy one checkpoints/step_N folder of machine 0 "
                "into every machine's --output_dir/checkpoints, or start without --resume_from_checkpoint."
            )
        return checkpoint_dir(output_dir) / f"step_{max(common)}"
    try:
        step = read_marker(find_checkpoint(output_dir, resume_from_checkpoint))["step"]
    except (OSError, ValueError, KeyError):  # (missing, incomplete or unreadable here: refused on every process below)
        step = None
    steps = gather_object([step])
    if None in steps or len(set(steps)) > 1:
        raise FileNotFoundError(
            f"--resume_from_checkpoint {resume_from_checkpoint} is not the same complete checkpoint on every machine "
            f"(its step by process: {steps}). Copy machine 0's into every machine's folder, or use latest."
        )
    return Path(resume_from_checkpoint)


def on_every_process(accelerator: Accelerator, action: Callable[[], Any], what: str = "resume") -> Any:
    """`action()` on every process (an action without collectives); when it fails on any process,
    every process raises (the others saying that process could not do `what`), so that none is
    left waiting for the others in a collective."""
    try:
        result, error = action(), None
    except (OSError, ValueError, KeyError, RuntimeError) as caught:
        result, error = None, caught
    if accelerator.num_processes > 1:
        failures = [f for f in gather_object([None if error is None else (accelerator.process_index, str(error))]) if f]
        if failures and error is None:
            index, message = failures[0]
            raise RuntimeError(f"Process {index} (another machine's folder) could not {what}: {message}")
    if error is not None:
        raise error
    return result


def find_checkpoint(output_dir: str, resume_from_checkpoint: str) -> Path:
    """The checkpoint to resume from: `latest` is the complete `step_N` with the largest N
    (incomplete `.tmp-*` folders are never used)."""
    if resume_from_checkpoint == "latest":
        candidates = complete_checkpoints(output_dir)
        if not candidates:
            raise FileNotFoundError(
                f"--resume_from_checkpoint latest: no complete checkpoint in {checkpoint_dir(output_dir)}. "
                "Start without --resume_from_checkpoint, or give a checkpoint folder."
            )
        return candidates[-1]
    path = Path(resume_from_checkpoint)
    if not (path / COMPLETE_MARKER).exists():
        raise FileNotFoundError(
            f"{path} is not a complete checkpoint (no {COMPLETE_MARKER}: it was interrupted while being written, "
            "or is not a checkpoint folder). Use --resume_from_checkpoint latest to take the newest complete one."
        )
    return path


#: bookkeeping keys of a config that are not settings (left out of the fingerprint)
_CONFIG_BOOKKEEPING = {"transformers_version", "_name_or_path", "architectures", "auto_map", "dtype", "torch_dtype"}


def _config_settings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _config_settings(v) for k, v in value.items() if k not in _CONFIG_BOOKKEEPING}
    return value


def hash_of(value: Any) -> Optional[str]:
    """A short content hash of a JSON-able value (None stays None)."""
    if value is None:
        return None
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def resume_fingerprint(recipe: Any, model_config: Any, training: dict[str, Any]) -> dict:
    """What must match for a checkpoint to be resumed by this run: the recipe and what it records
    about the data, views and derived values (`recipe.train_results()`, the held-out rows as a
    hash), the model config's settings, and the `training` values that change the result."""
    record = dict(recipe.train_results())
    heldout = record.pop("heldout_indices", None)
    record.pop("evaluation", None)  # what the evaluation scores (e.g. CLEAR's sentence pairs) does not change training
    data = dict(record.get("data", {}))
    if data.get("dataset_name") and Path(data["dataset_name"]).exists():  # ./d and /abs/d are one data set
        data["dataset_name"] = str(Path(data["dataset_name"]).resolve())
    record["data"] = data
    return {
        "recipe": recipe.name, **record, "heldout_rows": hash_of(heldout),
        "model_config": _config_settings(model_config.to_dict()), **training,
    }  # fmt: skip


def read_marker(path: Path) -> dict:
    """A complete checkpoint's marker: `{"step", "epoch", "fingerprint"}`."""
    return json.loads((path / COMPLETE_MARKER).read_text())


def _flatten(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        flat = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def resume_mismatches(saved: dict, current: dict) -> list[str]:
    """Every difference between a checkpoint's fingerprint and the new run's, one line each
    (`name: checkpoint value -> this run's value`), compared after a JSON round trip."""
    saved, current = (_flatten(json.loads(json.dumps(f, default=str))) for f in (saved, current))
    missing = "(not recorded)"
    return [
        f"{key}: {saved.get(key, missing)!r} -> {current.get(key, missing)!r}"
        for key in sorted(set(saved) | set(current))
        if saved.get(key, missing) != current.get(key, missing)
    ]


def load_checkpoint(accelerator: Accelerator, path: Path) -> None:
    """Restore model, optimiser, scheduler and generators from `path`."""
    try:
        accelerator.load_state(str(path))
    except Exception as error:  # noqa: BLE001 - any failure to read it means the checkpoint is unusable
        raise RuntimeError(f"Could not load checkpoint {path}: {error}. It may be corrupt; delete it or resume from another.") from error


def truncate_log(log_path: Path, completed_steps: int) -> None:
    """Drop the log records of steps a killed run made after the checkpoint it resumes from."""
    if log_path.exists():
        lines = log_path.read_text().splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= completed_steps]
        if kept != lines:  # (a log with nothing to drop is left as it is)
            log_path.write_text("".join(line + "\n" for line in kept))
