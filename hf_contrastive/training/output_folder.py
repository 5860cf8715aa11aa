"""The rules of the output folder: one run per folder, nothing already saved lost or changed.

- A non-empty folder is refused unless the run resumes (`--resume_from_checkpoint`) or starts over
  (`--overwrite_output_dir`).
- `--overwrite_output_dir` starts a clean run: the previous run's files are moved, untouched, into
  `previous_run_N/` inside the folder (N = 1, 2, ...; earlier `previous_run_*` folders stay where
  they are). Nothing is deleted, and the new run never appends to the old run's log nor resumes
  from its checkpoints.
- A finished run is recognised by its model card (the last file `finish` writes) beside a
  `train_results.json` that records its steps, so resuming it does nothing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Optional

#: files of this prefix tell which processes see which output folder (training/checkpoints.py)
PROBE_PREFIX = ".probe-"

PREVIOUS_RUN = re.compile(r"^previous_run_(\d+)$")
#: written last by a finished run (the model card), and the results that name its steps
FINISHED_MARKER, RESULTS = "README.md", "train_results.json"


def prepare_output_dir(output_dir: str, resume: bool, overwrite: bool) -> Optional[Path]:
    """Create `output_dir`, or check an existing one may be used; with `overwrite`, move what it
    holds into a new `previous_run_N/` and return that folder."""
    output = Path(output_dir)
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(f"--output_dir {output} exists and is not a folder.")
    # (a probe file left by a run killed at start-up is not a result: see training/checkpoints.py)
    existing = sorted(p.name for p in output.iterdir() if not p.name.startswith(PROBE_PREFIX)) if output.exists() else []
    if resume and overwrite:
        raise ValueError(
            "--overwrite_output_dir starts a clean run (the previous one is moved aside) and "
            "--resume_from_checkpoint continues one: pass one of them."
        )
    if not existing or resume:
        output.mkdir(parents=True, exist_ok=True)
        return None
    if not overwrite:
        raise FileExistsError(
            f"--output_dir {output} is not empty ({', '.join(existing[:5])}{', ...' if len(existing) > 5 else ''}). "
            "Resume it with --resume_from_checkpoint latest, start over with --overwrite_output_dir (the previous "
            "run is moved into previous_run_N/, nothing is deleted), or choose another folder."
        )
    to_move = [name for name in existing if not PREVIOUS_RUN.match(name)]
    if not to_move:
        return None
    taken = [int(m.group(1)) for m in map(PREVIOUS_RUN.match, existing) if m]
    aside = output / f"previous_run_{max(taken, default=0) + 1}"
    aside.mkdir()
    for name in to_move:
        os.replace(output / name, aside / name)  # a rename inside one folder: nothing is copied or lost
    return aside


def finished_run_step(output_dir: str) -> Optional[int]:
    """The step count of the finished run in `output_dir` (None when it has not finished)."""
    output = Path(output_dir)
    if not (output / FINISHED_MARKER).exists() or not (output / RESULTS).exists():
        return None
    try:
        return int(json.loads((output / RESULTS).read_text())["steps"])
    except (ValueError, KeyError, TypeError):
        return None
