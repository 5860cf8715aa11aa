"""Shared test helpers."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accelerate_launch(script: Path, *args: str, num_processes: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``script`` under ``accelerate launch`` with ``num_processes`` real CPU processes (gloo).

    ``ACCELERATE_USE_CPU=1`` together with ``--multi_gpu`` is what makes accelerate start a
    MULTI_CPU run; either alone silently runs single-process (ENVIRONMENT.md). Tests must still
    assert the world size the script saw.
    """
    env = dict(os.environ, ACCELERATE_USE_CPU="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", str(num_processes), "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port()),
        str(script), *args,
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)
    if result.returncode != 0:
        pytest.fail(f"accelerate launch failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result
