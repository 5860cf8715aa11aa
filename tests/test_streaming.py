"""Streaming (`--streaming`, issue 13 item 1): each process reads its own part of a sharded stream,
rows set aside for the evaluation are never trained on, and a run resumed from a checkpoint
continues with exactly the rows (and so the weights) of the uninterrupted run, on 1 and 2 processes.

The data are real digits written by the tests as 8 parquet shards (with an `id` column) and as 8
webdataset `.tar` shards (`png` + `cls` files per sample, read by datasets' webdataset builder).
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from itertools import islice
from pathlib import Path

import datasets
import pytest
from torch.utils.data import DataLoader

from conftest import TINY_SIMCLR, TRAIN, accelerate_launch, train_here
from hf_contrastive.data import load_mnist_digits
from hf_contrastive.data.streaming import load_streaming_data, stream_for_process, stream_splits
from hf_contrastive.training.streams import StreamPosition, stream_batches
from test_faults import assert_same_weights

SHARDS, ROWS_PER_SHARD = 8, 24


@pytest.fixture(scope="module")
def parquet_shards(tmp_path_factory) -> Path:
    """8 training shards of 24 digits (an `id` column names each row) and one test shard."""
    folder = tmp_path_factory.mktemp("parquet_shards")
    rows = load_mnist_digits("train").select(range(SHARDS * ROWS_PER_SHARD))
    rows = rows.add_column("id", list(range(len(rows))))
    for shard in range(SHARDS):
        rows.shard(SHARDS, shard, contiguous=True).to_parquet(str(folder / f"train-{shard:05d}-of-{SHARDS:05d}.parquet"))
    load_mnist_digits("test").select(range(60)).to_parquet(str(folder / "test-00000-of-00001.parquet"))
    return folder


@pytest.fixture(scope="module")
def webdataset_shards(tmp_path_factory) -> Path:
    """8 webdataset shards of 24 digits each: `<key>.png` and `<key>.cls` per sample, no test split."""
    folder = tmp_path_factory.mktemp("webdataset_shards")
    rows = load_mnist_digits("train").select(range(SHARDS * ROWS_PER_SHARD))
    for shard in range(SHARDS):
        with tarfile.open(folder / f"train-{shard:05d}.tar", "w") as tar:
            for index in range(shard * ROWS_PER_SHARD, (shard + 1) * ROWS_PER_SHARD):
                png = io.BytesIO()
                rows[index]["image"].save(png, format="PNG")
                for name, payload in ((f"{index:06d}.png", png.getvalue()), (f"{index:06d}.cls", str(rows[index]["label"]).encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
    return folder


def _keys(webdataset_shards: Path):
    """The training stream of the webdataset shards, reduced to each sample's number."""
    return stream_splits(str(webdataset_shards))["train"].select_columns(["__key__"]).map(lambda row: {"id": int(row["__key__"])})


# ------------------------------------------------------------------------------- splitting the stream


@pytest.mark.parametrize("processes, mode", [(2, "whole shards: 4 of the 8 shards"), (3, "every 3th row")])
def test_each_process_reads_its_own_rows_and_together_every_row_once(webdataset_shards, processes, mode):
    """8 shards over 2 processes: whole shards each; over 3 (8 does not divide by 3): every 3rd row.
    Either way no row is read by two processes and every row by one."""
    parts = [stream_for_process(_keys(webdataset_shards), rank, processes, seed=5, shuffle_buffer_size=16) for rank in range(processes)]
    assert all(mode in split for _, split in parts)
    read = [[row["id"] for row in part] for part, _ in parts]
    assert sorted(sum(read, [])) == list(range(SHARDS * ROWS_PER_SHARD))
    assert read[0] != sorted(read[0])  # (the buffer shuffles)


def test_rows_set_aside_for_evaluation_are_in_no_process_stream(webdataset_shards):
    """Without an evaluation split, the first rows are set aside; no process's stream (the stream is
    split per process after they are taken) holds one of them: each sample's `__key__` is checked."""
    data = load_streaming_data(str(webdataset_shards), eval_split="auto", max_eval_samples=40)
    assert "set aside" in data.eval_source and len(data.eval) == 40
    held = set(data.eval["__key__"])
    assert held == {f"{index:06d}" for index in range(40)}
    trained = []
    for rank in range(2):
        part, _ = stream_for_process(data.stream.select_columns(["__key__"]), rank, 2, seed=1, shuffle_buffer_size=8)
        trained += [row["__key__"] for row in part]
    assert not held & set(trained)
    assert len(trained) == len(set(trained)) == SHARDS * ROWS_PER_SHARD - 40
    assert data.train.features["png"].decode and data.stream.features["png"].decode is False  # (decoded in memory only)


# ------------------------------------------------------------------------------ resuming the stream


@pytest.mark.parametrize("workers", [0, 2])
def test_a_stream_resumed_from_its_position_gives_the_batches_of_the_uninterrupted_one(webdataset_shards, workers):
    """Batches after a resume at a position (mid-pass, in the second pass, mid-round of two loader
    workers) are those the uninterrupted stream gives next (192 rows: 6 batches of 32 a pass;
    with 2 workers 4 shards each)."""
    stream, _ = stream_for_process(_keys(webdataset_shards), 0, 1, seed=7, shuffle_buffer_size=40)

    def make_loader(dataset):
        return DataLoader(dataset, batch_size=32, drop_last=True, num_workers=workers, collate_fn=lambda rows: [r["id"] for r in rows])

    whole = list(islice(stream_batches(stream, StreamPosition(), 32, make_loader), 15))
    assert sorted(sum(whole[:6], [])) == list(range(192)) and whole[6:12] != whole[:6]  # (pass 2 reshuffled)
    for done in (3, 9):
        position = StreamPosition()
        list(islice(stream_batches(stream, position, 32, make_loader), done))
        resumed = StreamPosition(position.pass_index, position.rows)  # (what a checkpoint records)
        assert list(islice(stream_batches(stream, resumed, 32, make_loader), 15 - done)) == whole[done:]


STREAMED_RUN = [
    "--streaming", "--model_config", TINY_SIMCLR, "--per_device_train_batch_size", "32", "--max_train_steps", "10",
    "--checkpointing_steps", "4", "--shuffle_buffer_size", "48", "--seed", "3", "--report_to", "none",
    "--skip_baselines", "--per_device_eval_batch_size", "64",
]  # fmt: skip


def _resume_in(folder: Path, reference: Path, step: int) -> None:
    """`folder` holds `reference`'s checkpoint at `step`: what a run killed after that step leaves."""
    shutil.copytree(reference / "checkpoints" / f"step_{step}", folder / "checkpoints" / f"step_{step}")


def test_a_streaming_run_resumed_mid_stream_ends_with_the_weights_of_the_uninterrupted_run(parquet_shards, tmp_path, monkeypatch):
    """One process, 10 steps of 32 over 192 rows (6 steps a pass): resumed from step 8 (in the
    second pass), the weights equal the uninterrupted run's; train_results records the stream."""
    # datasets sleeps 5 s whenever a shuffled parquet stream is closed (its apache/arrow#45214
    # workaround, for threads still reading at interpreter exit); this process reads on
    monkeypatch.setattr(datasets.config, "SLEEP_TIME_ON_THREADS_SHUTDOWN", 0)
    reference = tmp_path / "reference"
    train_here("--output_dir", str(reference), "--dataset_name", str(parquet_shards), *STREAMED_RUN)
    record = json.loads((reference / "train_results.json").read_text())
    assert record["data"]["streamed"] and record["data"]["eval_source"] == "the first 60 rows of split 'test'"
    assert record["stream_position"] == {"pass": 1, "rows": 4 * 32}
    resumed = tmp_path / "resumed"
    _resume_in(resumed, reference, 8)
    train_here("--output_dir", str(resumed), "--dataset_name", str(parquet_shards), "--resume_from_checkpoint", "latest", *STREAMED_RUN)
    assert_same_weights(reference / "model.safetensors", resumed / "model.safetensors")


def test_two_processes_stream_their_own_webdataset_shards_and_resume_exactly(webdataset_shards, tmp_path):
    """2 CPU processes over 8 webdataset shards (4 whole shards each, the first 32 rows set aside
    for the evaluation), 6 steps resumed from step 4: the weights equal the uninterrupted run's."""
    run = ["--dataset_name", str(webdataset_shards), "--max_eval_samples", "32", *STREAMED_RUN]
    run[run.index("--per_device_train_batch_size") + 1] = "16"
    run[run.index("--max_train_steps") + 1] = "6"
    reference = tmp_path / "reference"
    accelerate_launch(TRAIN, "--output_dir", str(reference), *run)
    record = json.loads((reference / "train_results.json").read_text())
    assert record["num_processes"] == 2 and record["data"]["stream_split"].startswith("whole shards: 4 of the 8 shards")
    marker = json.loads((reference / "checkpoints" / "step_4" / "checkpoint_complete.json").read_text())
    assert len(marker["stream_positions"]) == 2
    resumed = tmp_path / "resumed"
    _resume_in(resumed, reference, 4)
    accelerate_launch(TRAIN, "--output_dir", str(resumed), "--resume_from_checkpoint", "latest", *run)
    assert_same_weights(reference / "model.safetensors", resumed / "model.safetensors")


def test_streaming_without_a_step_count_is_refused_with_the_fix(parquet_shards, tmp_path):
    run = [a for a in STREAMED_RUN]
    del run[run.index("--max_train_steps") : run.index("--max_train_steps") + 2]
    with pytest.raises(ValueError, match="--streaming needs --max_train_steps"):
        train_here("--output_dir", str(tmp_path / "out"), "--dataset_name", str(parquet_shards), *run)
    with pytest.raises(ValueError, match="--max_train_steps says how much of the stream"):
        train_here("--output_dir", str(tmp_path / "out2"), "--dataset_name", str(parquet_shards), "--max_train_samples", "50", *STREAMED_RUN)
