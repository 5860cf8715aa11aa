"""Shared test helpers."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN = REPO_ROOT / "scripts" / "train.py"
# tiny model configs (--model_config) for quick training runs in the tests
TINY_SIMCLR = json.dumps(
    {
        "backbone_config": {"model_type": "resnet", "num_channels": 1, "embedding_size": 8, "hidden_sizes": [8, 16],
                            "depths": [1, 1], "layer_type": "basic"},
        "num_channels": 1, "image_size": 16, "projection_dim": 16,
    }
)  # fmt: skip
TINY_CLEAR = json.dumps(
    {"text_config": {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "intermediate_size": 64}, "projection_dim": 16}
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accelerate_launch(
    script: Path, *args: str, num_processes: int = 2, timeout: float = 300, env: dict | None = None, cwd: Path = REPO_ROOT,
    config_file: Path | None = None,
) -> subprocess.CompletedProcess:  # fmt: skip
    """Run ``script`` under ``accelerate launch`` with ``num_processes`` real CPU processes (gloo).

    ``ACCELERATE_USE_CPU=1`` together with ``--multi_gpu`` is what makes accelerate start a
    MULTI_CPU run; either alone silently runs single-process (ENVIRONMENT.md). With `config_file`
    (a multi-GPU accelerate config), the file takes `--multi_gpu`'s place. Tests must still
    assert the world size the script saw.
    """
    env = dict(os.environ, ACCELERATE_USE_CPU="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT), **(env or {}))
    topology = ["--config_file", str(config_file)] if config_file else ["--multi_gpu", "--num_machines", "1", "--dynamo_backend", "no"]
    command = [
        sys.executable, "-m", "accelerate.commands.launch", *topology,
        "--num_processes", str(num_processes), "--mixed_precision", "no",
        "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port()),
        str(script), *args,
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if result.returncode != 0:
        pytest.fail(f"accelerate launch failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


def accelerate_launch_two_machines(script: Path, *args: str, output_dirs: tuple[Path, Path], timeout: float = 300) -> None:
    """Run ``script`` as two "machines" of one process each over loopback (`--num_machines 2
    --machine_rank R`, ENVIRONMENT.md), each with its own ``--output_dir``: machines that share no disk."""
    env = dict(os.environ, ACCELERATE_USE_CPU="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    port = str(free_port())
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "2", "--machine_rank", str(rank),
             "--num_processes", "2", "--main_process_ip", "127.0.0.1", "--main_process_port", port, "--mixed_precision", "no",
             "--dynamo_backend", "no", str(script), "--output_dir", str(output_dirs[rank]), *args],
            env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    errors = [process.communicate(timeout=timeout)[1] for process in processes]
    for rank, (process, error) in enumerate(zip(processes, errors)):
        if process.returncode != 0:
            pytest.fail(f"machine {rank} failed ({process.returncode}):\n{error[-6000:]}")


WITHOUT_PACKAGE_PREAMBLE = '''
import importlib.abc, json, sys

class BlockPackage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "hf_contrastive" or name.startswith("hf_contrastive."):
            raise ImportError("hf_contrastive is not installed here")

sys.meta_path.insert(0, BlockPackage())
try:
    import hf_contrastive  # noqa: F401
    PACKAGE_IMPORTABLE = True
except ImportError:
    PACKAGE_IMPORTABLE = False
'''


def run_without_package(script: str, *args: str, workdir: Path, hub_endpoint: str | None = None) -> dict:
    """Run `script` in a fresh Python in which `import hf_contrastive` fails (a meta-path finder
    refuses it), with an empty Hugging Face cache: offline, or talking to the Hub at `hub_endpoint`
    (`HF_ENDPOINT`) without a token. The script prints one JSON line last; returns that JSON with
    `package_importable` added."""
    path = workdir / "without_package.py"
    path.write_text(WITHOUT_PACKAGE_PREAMBLE + script + "\nprint(json.dumps({**RESULT, 'package_importable': PACKAGE_IMPORTABLE}))\n")
    env = {"HF_HOME": str(workdir / "hf_home"), "PATH": "/usr/bin:/bin", "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.update({"HF_ENDPOINT": hub_endpoint} if hub_endpoint else {"HF_HUB_OFFLINE": "1"})
    result = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, env=env, timeout=300, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_train(*args: str, timeout: float = 300, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT), **(env or {}))
    result = subprocess.run([sys.executable, str(TRAIN), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO_ROOT)
    if check and result.returncode != 0:
        pytest.fail(f"train.py failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def train_here(*argv: str) -> dict:
    """`scripts/train.py argv` in this process (faster than a subprocess: no interpreter start-up)."""
    from dataclasses import asdict

    from hf_contrastive.recipes import build_recipe
    from hf_contrastive.training import parse_arguments, train

    model_args, data_args, args = parse_arguments(list(argv))
    return train(args, lambda accelerator, a: build_recipe(model_args, data_args, a, accelerator), {**asdict(model_args), **asdict(data_args)})
