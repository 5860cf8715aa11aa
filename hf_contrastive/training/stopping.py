"""Stopping a run on request: SIGTERM and SIGINT (Ctrl-C), to the worker or to its launcher.

- During the training steps a signal only asks to stop: the current step finishes, every process
  agrees on the step to stop at, a checkpoint of that step is written, and the run exits with
  128 + the signal's number after saying where the checkpoint is and how to resume. A second
  Ctrl-C stops at once (a repeated SIGTERM does not: one stop often arrives twice).
- Outside the steps (loading, the final evaluation) a signal stops at once with the same advice:
  the latest complete checkpoint resumes the run. Once stopping, further signals are ignored.
- `accelerate launch` with one process does not pass a SIGTERM on to its worker (it is killed and
  the worker trains on, orphaned); a worker started by accelerate's launcher therefore asks the
  kernel for a SIGTERM when its launcher dies (Linux `PR_SET_PDEATHSIG`), so `kill LAUNCHER_PID`
  stops training too. (With several processes torchrun's agent forwards the signal itself.)
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path
from typing import Optional

import torch

_PR_SET_PDEATHSIG = 1
#: the parent's program or module when it is a launcher: `accelerate launch`, `python -m
#: accelerate.commands.launch`, torchrun, `python -m torch.distributed.run`
_LAUNCHERS = ("accelerate", "accelerate.commands.launch", "torchrun", "torch.distributed.run")


class StopRequested(Exception):
    """A signal asked the run to stop; `signal_number` says which, `step` the step the run stopped
    at the end of (None when it stopped at once)."""

    def __init__(self, signal_number: int, step: Optional[int] = None):
        name = signal.Signals(signal_number).name
        super().__init__(name if step is None else f"{name} at the end of step {step}")
        self.signal_number, self.step = signal_number, step


def stop_with_launcher() -> bool:
    """When this process was started by `accelerate launch` (or torchrun), have the kernel send it
    SIGTERM if the launcher dies; returns whether it was arranged (Linux only)."""
    parent = Path(f"/proc/{os.getppid()}/cmdline")
    if not sys.platform.startswith("linux") or not parent.exists():
        return False
    words = parent.read_bytes().decode(errors="replace").split("\0")[:4]  # e.g. python -m accelerate.commands.launch
    if not any(Path(word).name in _LAUNCHERS for word in words):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return False
    if os.getppid() == 1:  # the launcher died before the request: stop as it would have asked
        os.kill(os.getpid(), signal.SIGTERM)
    return True


class StopSignals:
    """SIGTERM / SIGINT handlers for a run. In `deferred` mode (the training steps) a signal is
    recorded for the loop to act on at the end of the step; otherwise, or on a second signal, it
    raises `StopRequested` at once. `restore()` puts the previous handlers back."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: Optional[int] = None
        self.deferred = False
        self._previous = {number: signal.signal(number, self._handle) for number in self.SIGNALS}

    def _handle(self, number: int, frame) -> None:
        if self.received is None:
            self.received = number
            if not self.deferred:
                raise StopRequested(number)
        elif self.deferred and number == self.received == signal.SIGINT:  # Ctrl-C twice: now
            self.deferred = False
            raise StopRequested(number)
        # Anything else is ignored: a repeated SIGTERM is how one stop arrives twice (a signal to the
        # process group reaches the worker, then again through its dying launcher or torchrun).

    def requested_anywhere(self, accelerator) -> Optional[int]:
        """The signal received by this or any other process (a collective call: every process
        makes it at the same step, so all stop at the same one), else None."""
        flag = torch.tensor([self.received or 0], device=accelerator.device)
        if accelerator.num_processes > 1:
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return int(flag) or None

    def restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
