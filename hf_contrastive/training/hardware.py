"""What the run runs on: the hardware line of train_results.json and the card, and the data
loader's settings for the device (worker processes, pinned memory)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Optional

import torch
from accelerate import Accelerator


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


def loader_settings(device_type: str, requested_workers: Optional[int], cpu_count: int, local_processes: int) -> tuple[int, bool]:
    """The data loader's worker processes and memory pinning: on CUDA, the machine's cores shared
    by its processes, at most 8 per process (decoding and cropping then overlap the GPU's step),
    with pinned memory for the copy to the GPU; on the CPU, no workers (the step uses the cores)
    and no pinning. A `--dataloader_num_workers` the user gave is kept."""
    on_cuda = device_type == "cuda"
    if requested_workers is not None:
        return requested_workers, on_cuda
    return (min(max(cpu_count // max(local_processes, 1) - 1, 0), 8), True) if on_cuda else (0, False)
