"""Streaming vs map-style training on the same data: examples/second, 1 and 2 processes.

Writes the embedded MNIST digits' 4,000 training images 8 times over as 8 parquet shards (32,000
rows, so that the runs stay within one pass over the data: the steady state of a large stream;
the test images as one more shard), then trains the default SimCLR recipe on that folder with `scripts/train.py` for a
fixed number of steps, once loading it whole (map-style, the default) and once with `--streaming`
(a `datasets.IterableDataset` split per process by `split_dataset_by_node`, shuffle buffer 10,000
rows), on 1 process and on 2 CPU processes over gloo. Reports the median examples/second the loop
logged (every 5 steps, the first window dropped; `bench_training.run`).

The end of a pass costs a streamed parquet set about 5 s per process: datasets' parquet reader
sleeps that long whenever a shuffled stream is closed (its workaround for apache/arrow#45214).
Small data streamed for many passes is therefore slow; this benchmark measures the steady state.

    .venv/bin/python benchmarks/bench_streaming.py               # 60 steps a run
    .venv/bin/python benchmarks/bench_streaming.py --steps 100
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import REPO_ROOT, run  # noqa: E402

sys.path.insert(0, str(REPO_ROOT))
from hf_contrastive.data import load_mnist_digits  # noqa: E402

SHARDS = 8


def write_shards(folder: Path) -> None:
    train = load_mnist_digits("train")
    for shard in range(SHARDS):
        train.to_parquet(str(folder / f"train-{shard:05d}-of-{SHARDS:05d}.parquet"))
    load_mnist_digits("test").to_parquet(str(folder / "test-00000-of-00001.parquet"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        write_shards(Path(tmp))
        data = ("--dataset_name", tmp)
        print(f"{cores} CPU cores; SimCLR default recipe, batch 256 per process, {args.steps} steps, {SHARDS} parquet shards of 4,000 rows")
        print(f"{'processes':<10} {'map-style ex/s':>15} {'streaming ex/s':>15} {'streaming / map':>16}")
        for processes in (1, 2):
            threads = max(1, cores // processes)
            loaded = run("simclr", processes, args.steps, threads, data)
            streamed = run("simclr", processes, args.steps, threads, (*data, "--streaming"))
            print(f"{processes:<10} {loaded:>15.1f} {streamed:>15.1f} {streamed / loaded:>16.2f}")


if __name__ == "__main__":
    main()
