"""Stopping a run on request: SIGTERM and SIGINT (Ctrl-C), to the worker or to its launcher.

- During the training steps a signal only asks to stop: the current step finishes, every process
  agrees on the step to stop at, a checkpoint of that step is written, and the run exits with
  128 + the signal's number after saying where the checkpoint is and how to resume. The same
  signal a second time stops at once.
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
_LAUNCHERS = ("accelerate", "torch.distributed.run", "torchrun")


class StopRequested(Exception):
    """A signal asked the run to stop; `signal_number` says which."""

    def __init__(self, signal_number: int):
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


def stop_with_launcher() -> bool:
    """When this process was started by `accelerate launch` (or torchrun), have the kernel send it
    SIGTERM if the launcher dies; returns whether it was arranged (Linux only)."""
    parent = Path(f"/proc/{os.getppid()}/cmdline")
    if not sys.platform.startswith("linux") or not parent.exists():
        return False
    command = parent.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    if not any(name in command for name in _LAUNCHERS):
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
        elif self.deferred and number == self.received:  # the same signal again (Ctrl-C twice): now
            self.deferred = False
            raise StopRequested(number)
        # (anything else is ignored: e.g. the SIGTERM that follows a Ctrl-C once the launcher has died)

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
