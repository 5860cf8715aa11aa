"""Faults: runs killed at a chosen moment and resumed, finished runs resumed, checkpoints of another
run, output folders started over, and config files with wrong types. Each test names the finding
of issue 11 it guards against.

The harness (`start_run`, `kill_when`, `folder_state`) starts a real `scripts/train.py`, kills it
with SIGKILL once a file shows it has reached the chosen moment, and compares what is on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import torch
from safetensors.torch import load_file

from conftest import REPO_ROOT, TINY_CLEAR, TINY_SIMCLR, TRAIN, free_port, run_train, train_here
from hf_contrastive.training import COMPLETE_MARKER, find_checkpoint, parse_arguments

# the repro: 256 rows / batch 32 = 8 steps an epoch, so step 10 is not at an epoch boundary
RUN = [
    "--model_config", TINY_SIMCLR, "--per_device_train_batch_size", "32", "--max_train_samples", "256",
    "--max_train_steps", "10", "--checkpointing_steps", "1", "--seed", "3", "--report_to", "none",
    "--per_device_eval_batch_size", "128", "--max_eval_samples", "300",
]  # fmt: skip


# ------------------------------------------------------------------------------------------ harness


def start_run(*args: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen([sys.executable, str(TRAIN), *args], env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_when(process: subprocess.Popen, reached: Callable[[], bool], timeout: float = 240) -> None:
    """SIGKILL `process` as soon as `reached()` (polled every 5 ms) says it is at the chosen moment."""
    deadline = time.time() + timeout
    while not reached():
        assert process.poll() is None, f"the run ended before the moment to kill it: {process.stderr.read()[-2000:]!r}"
        assert time.time() < deadline, "the run never reached the moment to kill it"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()


def folder_state(folder: Path) -> dict[str, tuple[str, int]]:
    """{relative path: (sha256, mtime in ns)} of every file under `folder`."""
    return {
        str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def assert_same_weights(expected: Path, actual: Path) -> None:
    reference, other = load_file(expected), load_file(actual)
    assert reference.keys() == other.keys()
    for key in reference:
        assert torch.equal(reference[key], other[key]), key


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run with a checkpoint at every step (the reference every test compares with)."""
    out = tmp_path_factory.mktemp("faults") / "reference"
    run_train("--output_dir", str(out), *RUN)
    return out


# ------------------------------------------------------------------- 1. resuming at or after the end


def test_killed_mid_epoch_and_resumed_ends_with_the_weights_of_the_uninterrupted_run(finished, tmp_path):
    """SIGKILL once the step-4 checkpoint appears (mid-epoch 1), resume with `latest`: the final
    weights equal, bit for bit, those of the run left alone (CPU, fixed seed), and the log holds
    each step once. A half-written `.tmp-step_N` left by a kill is never taken for a checkpoint."""
    out = tmp_path / "run"
    process = start_run("--output_dir", str(out), *RUN)
    kill_when(process, lambda: (out / "checkpoints" / "step_4" / COMPLETE_MARKER).exists())
    latest = find_checkpoint(str(out), "latest")
    assert int(latest.name.split("_")[1]) < 10, "killed too late: the run had finished"
    half_written = out / "checkpoints" / ".tmp-step_99"
    half_written.mkdir()
    (half_written / "model.safetensors").write_bytes(b"truncated")  # what a kill while saving leaves
    assert find_checkpoint(str(out), "latest") == latest

    run_train("--output_dir", str(out), *RUN, "--resume_from_checkpoint", "latest")
    assert_same_weights(finished / "model.safetensors", out / "model.safetensors")
    steps = [json.loads(line)["step"] for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 11))


def test_kill_during_the_final_evaluation_then_resume_equals_the_uninterrupted_run(finished, tmp_path):
    """Finding 1: killed in its final evaluation (after the step-10 checkpoint), a run resumed with
    `latest` used to take step 11. Now it trains no further: the same weights bit for bit, and
    `steps` is `--max_train_steps`."""
    out = tmp_path / "run"
    process = start_run("--output_dir", str(out), *RUN)
    kill_when(process, lambda: (out / "model.safetensors").exists())  # finish saves the model, then evaluates
    assert not (out / "eval_results.json").exists(), "killed too late: the evaluation had finished"

    run_train("--output_dir", str(out), *RUN, "--resume_from_checkpoint", "latest")
    assert_same_weights(finished / "model.safetensors", out / "model.safetensors")
    assert json.loads((out / "train_results.json").read_text())["steps"] == 10
    steps = [json.loads(line)["step"] for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 11))
    assert not (out / "checkpoints" / "step_11").exists()


def test_a_finished_run_resumed_does_nothing_and_changes_no_file(finished, tmp_path, capsys):
    """Finding 1: re-running a finished command with `--resume_from_checkpoint latest` used to train
    a step more and overwrite the saved model; now every file keeps its bytes and its mtime."""
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    before = folder_state(out)
    results = train_here("--output_dir", str(out), *RUN, "--resume_from_checkpoint", "latest")
    assert "holds a finished run (10 steps" in capsys.readouterr().out
    assert results == json.loads((out / "eval_results.json").read_text())
    assert folder_state(out) == before


def test_the_last_step_is_always_checkpointed_so_a_finished_run_is_recognised(tmp_path, capsys):
    """With `--checkpointing_steps 4` and 10 steps, the newest checkpoint used to be step 8, and a
    finished run resumed with `latest` retrained steps 9-10 and rewrote its outputs."""
    out = tmp_path / "run"
    argv = ["--output_dir", str(out), *RUN, "--skip_baselines"]
    argv[argv.index("--checkpointing_steps") + 1] = "4"
    train_here(*argv)
    assert sorted(int(p.name.split("_")[1]) for p in (out / "checkpoints").iterdir()) == [4, 8, 10]
    before = folder_state(out)
    train_here(*argv, "--resume_from_checkpoint", "latest")
    assert "holds a finished run (10 steps" in capsys.readouterr().out and folder_state(out) == before


# ------------------------------------------------------------------ 2. a checkpoint of another run


@pytest.mark.parametrize(
    "change,difference",
    [
        (["--seed", "4"], "seed: 3 -> 4"),
        (["--per_device_train_batch_size", "16"], "per_device_train_batch_size: 32 -> 16"),
        (["--max_train_samples", "192"], "data.train_rows: 256 -> 192"),
        (["--temperature", "0.2"], "model_config.temperature: 0.5 -> 0.2"),
        (["--dataset_name", "DIGITS_COPY"], "data.dataset_name: 'mnist_digits' -> "),
    ],
)
def test_resuming_a_checkpoint_of_another_run_is_refused_with_the_differences(finished, tmp_path, change, difference):
    """Finding 2: a changed seed, batch, sample count, model config or data set used to resume
    without a word; now it is refused, each difference listed with the option that forces it."""
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    if "DIGITS_COPY" in change:
        from hf_contrastive.data import load_training_data

        copy = tmp_path / "digits_copy"
        load_training_data("mnist_digits", max_train_samples=300).train.save_to_disk(copy)
        change = ["--dataset_name", str(copy)]
    argv = ["--output_dir", str(out), *RUN, "--resume_from_checkpoint", str(out / "checkpoints" / "step_5")]
    for option, value in zip(change[::2], change[1::2]):
        if option in argv:
            argv[argv.index(option) + 1] = value
        else:
            argv += [option, value]
    before = folder_state(out)
    with pytest.raises(ValueError, match="written by a run with other options") as refused:
        train_here(*argv)
    assert difference in str(refused.value) and "--ignore_resume_mismatch" in str(refused.value)
    assert folder_state(out) == before


def test_resuming_with_another_number_of_processes_is_refused(finished, tmp_path):
    """Finding 2, the processes: a 1-process checkpoint resumed by 2 processes (a global batch twice
    as large) is refused, on every process, naming the difference."""
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    env = dict(os.environ, ACCELERATE_USE_CPU="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1",
               "--main_process_port", str(free_port()), str(TRAIN), "--output_dir", str(out), *RUN,
               "--resume_from_checkpoint", str(out / "checkpoints" / "step_5")]  # fmt: skip
    result = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert result.stderr.count("num_processes: 1 -> 2") >= 2, result.stderr[-3000:]  # both processes refuse


def test_ignore_resume_mismatch_forces_the_resume(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    argv = ["--output_dir", str(out), *RUN, "--resume_from_checkpoint", str(out / "checkpoints" / "step_5"), "--skip_baselines"]
    argv[argv.index("--seed") + 1] = "4"
    train_here(*argv, "--ignore_resume_mismatch")
    assert json.loads((out / "train_results.json").read_text())["steps"] == 10


# --------------------------------------------------------------------- 3. an output folder started over


def test_overwrite_output_dir_moves_the_previous_run_aside_and_starts_clean(finished, tmp_path):
    """Finding 3: `--overwrite_output_dir` used to append to the old log, keep the old checkpoints
    and let `latest` resume the old run; now the old run is moved, untouched, into previous_run_1/."""
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    old = folder_state(out)
    argv = ["--output_dir", str(out), *RUN, "--overwrite_output_dir", "--skip_baselines"]
    argv[argv.index("--max_train_steps") + 1] = "3"
    argv[argv.index("--checkpointing_steps") + 1] = "epoch"
    train_here(*argv)
    assert folder_state(out / "previous_run_1") == old  # the same bytes and mtimes, moved
    steps = [json.loads(line)["step"] for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_3"]

    train_here(*argv)  # once more: the second run goes to previous_run_2, the first stays where it is
    assert folder_state(out / "previous_run_1") == old
    assert (out / "previous_run_2" / "checkpoints" / "step_3").is_dir()


def test_overwrite_and_resume_together_are_refused(finished, tmp_path):
    with pytest.raises(ValueError, match="pass one of them"):
        train_here("--output_dir", str(finished), *RUN, "--overwrite_output_dir", "--resume_from_checkpoint", "latest")


# -------------------------------------------------------------------------- 4. typed --config files


@pytest.mark.parametrize(
    "line,message",
    [
        ("checkpointing_steps: 1", None),  # a YAML integer for a string option is fine
        ("max_train_steps: 2.7", "max_train_steps: 2.7 is not a valid int"),
        ("learning_rate: fast", "learning_rate: 'fast' is not a valid float"),
        ("skip_baselines: 3", "skip_baselines must be true or false"),
        ("seed: !!python/object/apply:os.system ['true']", "is not valid YAML/JSON"),
        ("max_train_step: 3", "unknown option(s) ['max_train_step']"),
    ],
)
def test_config_file_values_are_converted_or_refused_naming_the_key(tmp_path, capsys, line, message):
    """Finding 4: YAML values went in unconverted (`'int' object has no attribute 'isdigit'` after
    the data had loaded); now each is converted by its option's type, or refused at parse time."""
    config = tmp_path / "run.yaml"
    config.write_text(line + "\n")
    if message is None:
        assert parse_arguments(["--config", str(config)])[2].checkpointing_steps == "1"
        return
    with pytest.raises(SystemExit):
        parse_arguments(["--config", str(config)])
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------- 5. nonsensical numbers


@pytest.mark.parametrize(
    "option,value",
    [
        ("--max_train_samples", "0"), ("--gradient_accumulation_steps", "0"), ("--max_train_steps", "-1"),
        ("--per_device_train_batch_size", "0"), ("--checkpointing_steps", "0"), ("--num_train_epochs", "0"),
        ("--checkpoints_total_limit", "0"),
    ],
)  # fmt: skip
def test_nonsensical_numbers_are_refused_at_parse_time(capsys, option, value):
    """Finding 5: `--max_train_samples 0` meant "all data" and `--gradient_accumulation_steps 0` was
    a ZeroDivisionError; now each is refused before any data is read, naming the option."""
    with pytest.raises(SystemExit):
        parse_arguments([option, value])
    assert f"{option} must be" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- 5. bad data


def test_a_text_file_of_blank_lines_is_refused_and_blank_rows_are_dropped_with_a_count(tmp_path):
    """Finding 5: a text file of empty / whitespace-only lines trained (exit 0) on empty strings
    with a vocabulary of 6; now such a file is refused, and blank rows elsewhere are dropped."""
    from datasets import Dataset

    from hf_contrastive.data.loading import drop_empty_texts

    blank = tmp_path / "blank.txt"
    blank.write_text("\n   \n\t\n\n" * 50)
    with pytest.raises(ValueError, match=r"has no text: all \d+ rows of column 'text' are empty or whitespace"):
        train_here("--model", "clear", "--dataset_name", str(blank), "--output_dir", str(tmp_path / "run"), "--report_to", "none")
    kept, dropped = drop_empty_texts(Dataset.from_dict({"text": ["a sentence", " ", "", None, "another one"]}), "text", "the data")
    assert kept["text"] == ["a sentence", "another one"] and dropped == 3


def test_text_that_is_not_utf8_is_named_by_file_and_line(tmp_path):
    """Finding 5: invalid UTF-8 surfaced as a `DatasetGenerationError` whose cause was buried in
    the chain; now the error names the file and the line."""
    from hf_contrastive.data.loading import load_split

    data = tmp_path / "posts.txt"
    data.write_bytes("a first sentence\nsecond one\n".encode() + "caf\xe9 in latin-1\n".encode("latin-1") + b"last\n")
    with pytest.raises(ValueError, match=rf"{data}, line 3, is not valid UTF-8 \(byte 4: invalid continuation byte"):
        load_split(str(data), "train")


def _digit_folder(folder: Path, count: int, truncated: int) -> list[Path]:
    """An imagefolder of `count` PNG digits in two classes, the first `truncated` of them cut short."""
    from hf_contrastive.data import load_mnist_digits

    digits = load_mnist_digits("train").select(range(count))
    bad = []
    for index, row in enumerate(digits):
        path = folder / str(row["label"] % 2) / f"{index:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        row["image"].save(path)
        if index < truncated:
            path.write_bytes(path.read_bytes()[:60])
            bad.append(path)
    return bad


def test_an_unreadable_image_is_skipped_with_its_file_named_and_many_are_refused(tmp_path, caplog):
    """Finding 5: a truncated image killed the run from inside the data loader without naming the
    file; now one in a hundred is skipped with its file named, and more than 2% are refused."""

    few = tmp_path / "few"
    (truncated,) = _digit_folder(few, 101, truncated=1)
    args = ["--dataset_name", str(few), "--model_config", TINY_SIMCLR, "--per_device_train_batch_size", "16",
            "--max_train_steps", "2", "--report_to", "none", "--eval_split", "none"]  # fmt: skip
    with caplog.at_level("WARNING"):
        train_here(*args, "--output_dir", str(tmp_path / "run-few"))
    assert f"Skipped 1 unreadable image(s): {truncated} (" in caplog.text
    assert json.loads((tmp_path / "run-few" / "train_results.json").read_text())["data"]["train_rows"] == 100

    many = tmp_path / "many"
    _digit_folder(many, 100, truncated=5)
    args[args.index(str(few))] = str(many)
    with pytest.raises(ValueError, match=r"5 of 100 images cannot be read \(more than 2% are skipped only\): .*000\.png"):
        train_here(*args, "--output_dir", str(tmp_path / "run-many"))


# ------------------------------------------------------------------ 6. divergence that stays finite


def test_a_finite_divergence_stops_the_run_before_it_is_saved(tmp_path):
    """Finding 6: AdamW at 1e6 pinned the loss at log(2N - 1) while the weights reached 1e27, and
    the run "succeeded"; now the weight-norm guard stops it within the run, names the learning
    rate, and no checkpoint is written after it fires (the default recipes never trip it: every
    other training test runs them)."""
    out = tmp_path / "run"
    argv = ["--output_dir", str(out), *RUN, "--optimizer", "adamw", "--learning_rate", "1e6", "--warmup_ratio", "0"]
    with pytest.raises(FloatingPointError, match=r"Training diverged at step (\d+).*lower --learning_rate") as stopped:
        train_here(*argv)
    step = int(str(stopped.value).split("step ")[1].split(":")[0])
    assert step < 10 and not (out / "model.safetensors").exists()
    saved = sorted(int(p.name.split("_")[1]) for p in (out / "checkpoints").glob("step_*"))
    assert saved == list(range(1, step))  # checkpoints up to the step before; none of the diverged weights


def test_a_loss_stuck_at_chance_after_warmup_stops_the_run(tmp_path):
    """Finding 6, the other face: a contrastive loss that stays at log(2N - 1) (here: a learning
    rate of 0, the encoder learns nothing) stops the run once it has stayed within 2% of chance for
    50 steps in a row past warm-up, naming the learning rate; the checkpoints before are kept."""
    out = tmp_path / "run"
    argv = ["--output_dir", str(out), *RUN, "--learning_rate", "0", "--warmup_ratio", "0.1"]
    argv[argv.index("--max_train_steps") + 1] = "150"
    argv[argv.index("--checkpointing_steps") + 1] = "20"
    with pytest.raises(FloatingPointError, match=r"stuck: for the last 50 steps \(to step (\d+)\) the loss stayed within 2% of its chance value 4\.1431") as stopped:
        train_here(*argv)  # (chance: log(2 x 32 - 1))
    step = int(str(stopped.value).split("(to step ")[1].split(")")[0])
    assert 15 + 50 <= step < 150  # after the 15 warm-up steps, 50 at chance
    assert sorted(int(p.name.split("_")[1]) for p in (out / "checkpoints").iterdir()) == list(range(20, step, 20))
    assert not (out / "model.safetensors").exists()


# ------------------------------------------------------------------------------- 7. unclear errors


def test_a_truncated_starting_checkpoint_is_named_with_the_fix(finished, tmp_path):
    """Finding 7: a truncated model.safetensors under --model_name_or_path failed with `invalid
    header length` and no path; now the error names the folder and what to do."""
    start = tmp_path / "start"
    shutil.copytree(finished, start, ignore=shutil.ignore_patterns("checkpoints"))
    weights = start / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match=rf"--model_name_or_path {start}: could not load its weights .*truncated or corrupt"):
        train_here("--model_name_or_path", str(start), "--output_dir", str(tmp_path / "run"), *RUN)


def test_a_clear_folder_given_to_a_simclr_run_is_refused_before_any_weight_is_loaded(tmp_path, monkeypatch):
    """Finding 7: `--model_name_or_path` a CLEAR folder for a SimCLR run printed a 140-line load
    report before failing; now its config is read first and the error says which model to train
    (no weights are loaded: the loader that prints the report is never called)."""
    from transformers import PreTrainedModel

    from hf_contrastive import CLEARConfig, CLEARForPreTraining

    folder = tmp_path / "clear"
    CLEARForPreTraining(CLEARConfig(text_config=json.loads(TINY_CLEAR)["text_config"])).save_pretrained(folder)
    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(lambda *a, **k: pytest.fail("weights were loaded")))
    with pytest.raises(ValueError, match=rf"--model_name_or_path {folder} holds a 'clear' model; --model simclr starts from a SimCLR folder"):
        train_here("--model_name_or_path", str(folder), "--output_dir", str(tmp_path / "run"), *RUN)


def test_push_names_an_invalid_config_json(finished, tmp_path):
    """Finding 7: push_to_hub.py on a folder with an invalid config.json did not name the file; now
    the check before any request does (a ValueError, which the script prints without a traceback)."""
    from hf_contrastive.hub import push_to_hub

    folder = tmp_path / "run"
    shutil.copytree(finished, folder, ignore=shutil.ignore_patterns("checkpoints"))
    (folder / "config.json").write_text('{"model_type": "simclr",')
    with pytest.raises(ValueError, match=rf"{folder / 'config.json'} is not valid JSON"):
        push_to_hub(str(folder), "me/x", token="unused")


# ---------------------------------------------------------------------------------- 8. stopping


def _launch(out: Path, *extra: str) -> subprocess.Popen:
    """`accelerate launch` of one CPU process in a session of its own (its own process group)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", str(TRAIN), "--output_dir", str(out), *LONG_RUN, *extra]  # fmt: skip
    return subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


LONG_RUN = [*RUN[: RUN.index("--max_train_steps")], "--max_train_steps", "200", "--checkpointing_steps", "25", "--seed", "3",
            "--report_to", "none", "--eval_split", "none"]  # fmt: skip


@pytest.mark.parametrize(
    "target,number", [("launcher", signal.SIGTERM), ("process group", signal.SIGINT), ("process group", signal.SIGTERM)]
)  # (SIGTERM to the group, as `timeout` or a scheduler sends it, reaches the worker twice: once through its launcher)
def test_a_signal_stops_the_worker_with_a_checkpoint_and_the_way_to_resume(tmp_path, target, number):
    """Finding 8: SIGTERM to `accelerate launch` alone left its worker training to the end, and a
    signal to the group stopped without a word. Now the worker stops within seconds at the end of
    its step, writes that step's checkpoint, says how to resume, exits non-zero; a resume
    completes the run."""
    import psutil

    out = tmp_path / "run"
    launcher = _launch(out)
    deadline = time.time() + 120
    while not (out / "checkpoints" / "step_25" / COMPLETE_MARKER).exists():
        assert launcher.poll() is None and time.time() < deadline, launcher.stdout.read()[-3000:]
        time.sleep(0.02)
    worker = psutil.Process(launcher.pid).children()[0]
    if target == "launcher":
        os.kill(launcher.pid, number)
    else:
        os.killpg(launcher.pid, number)
    worker.wait(timeout=30)  # psutil.TimeoutExpired if it trains on
    output = launcher.communicate(timeout=30)[0]
    assert launcher.returncode != 0
    latest = find_checkpoint(str(out), "latest")
    stopped_at = int(latest.name.split("_")[1])
    assert 25 <= stopped_at < 200, "the run was not stopped before its end"
    signal_name = "SIGTERM" if target == "launcher" else number.name  # (the launcher's death sends SIGTERM)
    # the stop came at the end of a step, with that step's checkpoint (not at once, mid-step)
    assert f"Stopped by {signal_name} at the end of step {stopped_at}. The latest complete checkpoint is {latest}" in output, output[-3000:]
    assert "--resume_from_checkpoint latest" in output

    if target == "launcher":  # (one resume shows the checkpoint is resumable)
        run_train("--output_dir", str(out), *LONG_RUN, "--resume_from_checkpoint", "latest")
        assert json.loads((out / "train_results.json").read_text())["steps"] == 200


# ---------------------------------------------------------------- 9. checkpoint rotation (issue 13)


def test_checkpoints_total_limit_keeps_the_newest_and_never_the_resumed_one_or_one_being_written(tmp_path):
    """--checkpoints_total_limit N keeps the newest N complete checkpoints, and never deletes the
    checkpoint the run resumed from, the one it just wrote, nor a `.tmp-` one in progress."""
    out = tmp_path / "run"
    rotate = ["--output_dir", str(out), *RUN]
    rotate[rotate.index("--max_train_steps") + 1] = "5"
    train_here(*rotate, "--checkpoints_total_limit", "2", "--eval_split", "none")  # (in this process: faster)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_4", "step_5"]

    # resume from an older checkpoint, with a write in progress beside it, keeping 1
    shutil.rmtree(out / "checkpoints" / "step_5")
    in_progress = out / "checkpoints" / ".tmp-step_9"
    in_progress.mkdir()
    (out / "README.md").unlink(missing_ok=True)
    train_here(*rotate, "--checkpoints_total_limit", "1", "--eval_split", "none", "--resume_from_checkpoint", str(out / "checkpoints" / "step_4"))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [".tmp-step_9", "step_4", "step_5"]


def test_machines_without_a_shared_disk_resume_from_the_newest_step_every_machine_holds(tmp_path, monkeypatch):
    """agreed_checkpoint (machines that keep their own checkpoints): `latest` is the newest step all
    of them hold; none in common, or a named checkpoint missing on one machine, is an error naming
    the fix. What the other machine sends over the process group is given here (the two-machine
    resume itself runs in tests/test_training.py)."""
    from types import SimpleNamespace

    from hf_contrastive.training import checkpoints

    for step in (2, 4, 6):
        folder = tmp_path / "checkpoints" / f"step_{step}"
        folder.mkdir(parents=True)
        (folder / COMPLETE_MARKER).write_text(json.dumps({"step": step}))
    accelerator = SimpleNamespace(project_configuration=SimpleNamespace(save_on_each_node=True))
    other_machine: list = []
    monkeypatch.setattr(checkpoints, "gather_object", lambda mine: mine + other_machine)

    other_machine[:] = [[2, 4]]  # machine 1 was killed before its step-6 checkpoint was complete
    assert checkpoints.agreed_checkpoint(accelerator, str(tmp_path), "latest") == tmp_path / "checkpoints" / "step_4"
    other_machine[:] = [[8]]
    with pytest.raises(FileNotFoundError, match=r"no complete checkpoint step that every machine holds .*\[\[2, 4, 6\], \[8\]\]"):
        checkpoints.agreed_checkpoint(accelerator, str(tmp_path), "latest")
    named = str(tmp_path / "checkpoints" / "step_4")
    other_machine[:] = [4]
    assert checkpoints.agreed_checkpoint(accelerator, str(tmp_path), named) == Path(named)
    other_machine[:] = [None]  # not complete on machine 1
    with pytest.raises(FileNotFoundError, match=r"not the same complete checkpoint on every machine \(its step by process: \[4, None\]\)"):
        checkpoints.agreed_checkpoint(accelerator, str(tmp_path), named)


def fake_process(index: int, first: bool):
    from types import SimpleNamespace

    return SimpleNamespace(process_index=index, is_local_main_process=first, num_processes=2, wait_for_everyone=lambda: None)


@pytest.mark.parametrize(
    "others, expected",
    [([(1, True, [1])], True),  # machine 1 sees only its own probe: a folder each
     ([(1, False, [0])], False),  # a second process of machine 0
     ([(1, True, [1]), (2, True, [1, 2])], "Some machines share an --output_dir")],  # machines 1 and 2 share one
    ids=["a-folder-each", "one-machine", "two-of-three-share"],
)  # fmt: skip
def test_which_machines_see_which_output_folder_decides_who_writes_checkpoints(tmp_path, monkeypatch, others, expected):
    """_unshared_output_dirs from machine 0's side (the other processes' answers given): one folder
    for all, or one for each machine; anything between is refused with what each one sees. The
    probe file is gone afterwards, and a left-over one does not make a folder 'not empty'."""
    from hf_contrastive.training import checkpoints
    from hf_contrastive.training.output_folder import prepare_output_dir

    monkeypatch.setattr(checkpoints, "broadcast_object_list", lambda objects: objects)
    monkeypatch.setattr(checkpoints, "gather_object", lambda mine: mine + others)
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            checkpoints._unshared_output_dirs(fake_process(0, True), str(tmp_path))
    else:
        assert checkpoints._unshared_output_dirs(fake_process(0, True), str(tmp_path)) is expected
    assert not list(tmp_path.iterdir())
    (tmp_path / ".probe-left-by-a-killed-run-0").touch()
    assert prepare_output_dir(str(tmp_path), resume=False, overwrite=False) is None


def test_an_error_on_one_process_is_raised_on_every_process(monkeypatch):
    """on_every_process: when another machine cannot resume (its own folder), this process raises too,
    naming it, instead of waiting for it in the next collective; its own error is raised as it is."""
    from hf_contrastive.training import checkpoints

    monkeypatch.setattr(checkpoints, "gather_object", lambda mine: mine + [(1, "its checkpoint is corrupt")])
    with pytest.raises(RuntimeError, match="Process 1 .* could not resume: its checkpoint is corrupt"):
        checkpoints.on_every_process(fake_process(0, True), lambda: {"step": 2})
    monkeypatch.setattr(checkpoints, "gather_object", lambda mine: mine + [None])
    assert checkpoints.on_every_process(fake_process(0, True), lambda: {"step": 2}) == {"step": 2}
    with pytest.raises(ValueError, match="other options"):
        checkpoints.on_every_process(fake_process(0, True), lambda: (_ for _ in ()).throw(ValueError("other options")))
