"""Training throughput of the default recipes on this machine, 1 process vs 2 processes.

Runs `scripts/train.py` (the real loop: data loader, views or text augmentation, forward,
backward, optimiser step) for a fixed number of steps under `accelerate launch`, once with one
process and once with two CPU processes over gloo (`ACCELERATE_USE_CPU=1 --multi_gpu`), and
reports the median of the examples/second the loop logged (every 5 steps, warm-up window
dropped). With two processes the global batch is twice the per-process batch, as in any
data-parallel run.

    .venv/bin/python benchmarks/bench_training.py                 # SimCLR and CLEAR, 60 steps each
    .venv/bin/python benchmarks/bench_training.py --models simclr --steps 100
    .venv/bin/python benchmarks/bench_training.py --two_machines   # and 2 loopback "machines" (issue 13)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RECIPES = {
    "simclr": ["--model", "simclr", "--per_device_train_batch_size", "256"],
    "clear": ["--model", "clear", "--per_device_train_batch_size", "64"],
}


def run(model: str, processes: int, steps: int, threads_per_process: int, extra: tuple[str, ...] = (), machines: int = 1) -> float:
    """The median examples/second `scripts/train.py` logged (`extra`: more options). With
    `machines=2`, the processes are two loopback "machines" of one process each
    (`--num_machines 2 --machine_rank R`), each with its own output folder."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_machines", str(machines), "--mixed_precision", "no",
                  "--dynamo_backend", "no", "--num_processes", str(processes)]  # fmt: skip
        if processes > 1:
            launch += ["--multi_gpu", "--main_process_ip", "127.0.0.1", "--main_process_port", "29533"]
        training = [
            str(REPO_ROOT / "scripts" / "train.py"), *RECIPES[model],
            "--max_train_steps", str(steps), "--logging_steps", "5", "--eval_split", "", "--report_to", "none", *extra,
        ]  # fmt: skip
        # PYTHONPATH: this checkout's package, also when another one is installed (a checkout of an older commit)
        env = dict(os.environ, ACCELERATE_USE_CPU="1", OMP_NUM_THREADS=str(threads_per_process), PYTHONPATH=str(REPO_ROOT))
        started = [
            subprocess.Popen([*launch, *(["--machine_rank", str(rank)] if machines > 1 else []), *training,
                              "--output_dir", str(out if rank == 0 else Path(tmp) / f"machine{rank}")],
                             env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for rank in range(machines)
        ]  # fmt: skip
        for process in started:
            _, error = process.communicate()
            if process.returncode:
                raise RuntimeError(error.decode()[-3000:])
        rates = [r["examples_per_second"] for r in map(json.loads, (out / "training_log.jsonl").read_text().splitlines())
                 if "examples_per_second" in r]  # fmt: skip
        return statistics.median(rates[1:] if len(rates) > 2 else rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["simclr", "clear"], choices=sorted(RECIPES))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--two_machines", action="store_true",
                        help="also 2 loopback machines of one process each (own output folders) vs 2 processes on one machine")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"{cores} CPU cores; 1 process x {cores} threads vs 2 processes x {max(1, cores // 2)} thread(s)")
    header = f"{'model':<8} {'1 process ex/s':>15} {'2 processes ex/s':>17} {'ratio':>7}"
    print(header + (f" {'2 machines ex/s':>16} {'machines / processes':>21}" if args.two_machines else ""))
    for model in args.models:
        one = run(model, 1, args.steps, cores)
        two = run(model, 2, args.steps, max(1, cores // 2))
        line = f"{model:<8} {one:>15.1f} {two:>17.1f} {two / one:>7.2f}"
        if args.two_machines:
            machines = run(model, 2, args.steps, max(1, cores // 2), machines=2)
            line += f" {machines:>16.1f} {machines / two:>21.2f}"
        print(line)


if __name__ == "__main__":
    main()
