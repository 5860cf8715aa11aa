"""What the run runs on: the hardware line of train_results.json and the card, the default
precision on CUDA, and the data loader's settings for the device (worker processes, pinned
memory)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Mapping, Optional

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


def default_mixed_precision(requested: Optional[str], environment: Mapping[str, str], cuda_bf16: bool) -> Optional[str]:
    """The precision to give the Accelerator: `--mixed_precision` when the user gave it; else
    `"bf16"` on a CUDA device that supports it (`cuda_bf16`) unless the launcher asked for a mixed
    precision of its own (`ACCELERATE_MIXED_PRECISION` fp16 / bf16 / fp8) or the CPU
    (`ACCELERATE_USE_CPU`); else None (accelerate's config or launch flag, "no" by default).
    `accelerate launch` exports "no" both when its user says so and when nobody did, so a user who
    wants float32 on CUDA says `--mixed_precision no` to scripts/train.py."""
    if requested is not None:
        return requested
    if environment.get("ACCELERATE_MIXED_PRECISION", "no").lower() not in ("no", ""):
        return None
    if environment.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes") or not cuda_bf16:
        return None
    return "bf16"
