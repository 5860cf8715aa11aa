"""Tests for hf_contrastive.training and scripts/train.py: the default recipes end to end with two
real processes, kill-and-resume equal to an uninterrupted run, and bad input."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

from conftest import REPO_ROOT, TINY_CLEAR, TINY_SIMCLR, TRAIN, accelerate_launch, run_train
from hf_contrastive import CLEARModel, SimCLRModel
from hf_contrastive.training import COMPLETE_MARKER

QUICK = ["--report_to", "none", "--per_device_eval_batch_size", "128"]


def test_simclr_default_recipe_runs_with_two_processes(tmp_path):
    out = tmp_path / "simclr"
    accelerate_launch(
        TRAIN, "--output_dir", str(out), "--max_train_steps", "3", "--per_device_train_batch_size", "16",
        "--model_config", TINY_SIMCLR, "--max_train_samples", "256", "--max_eval_samples", "200", *QUICK,
    )  # fmt: skip
    train_results = json.loads((out / "train_results.json").read_text())
    assert train_results["num_processes"] == 2 and train_results["global_batch_size"] == 32
    assert train_results["steps"] == 3
    results = json.loads((out / "eval_results.json").read_text())
    for key in ("linear_accuracy", "knn_accuracy", "raw_pixels_linear_accuracy", "random_encoder_linear_accuracy"):
        assert 0.0 <= results[key] <= 1.0
    encoder = AutoModel.from_pretrained(out)
    assert type(encoder) is SimCLRModel
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]


def test_clear_default_recipe_runs_with_two_processes(tmp_path):
    out = tmp_path / "clear"
    accelerate_launch(
        TRAIN, "--model", "clear", "--output_dir", str(out), "--max_train_steps", "2", "--per_device_train_batch_size", "8",
        "--model_config", TINY_CLEAR, "--max_train_samples", "400", "--max_eval_samples", "150", "--vocab_size", "500", *QUICK,
    )  # fmt: skip
    train_results = json.loads((out / "train_results.json").read_text())
    assert train_results["num_processes"] == 2 and train_results["steps"] == 2
    results = json.loads((out / "eval_results.json").read_text())
    assert {"linear_accuracy", "knn_accuracy", "bag_of_words_linear_accuracy"} <= set(results)
    assert type(AutoModel.from_pretrained(out)) is CLEARModel
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert all("mlm_loss" in r and "contrastive_loss" in r for r in log)


RESUME_ARGS = [
    "--max_train_steps", "6", "--per_device_train_batch_size", "16", "--model_config", TINY_SIMCLR,
    "--max_train_samples", "64", "--checkpointing_steps", "2", "--eval_split", "", "--seed", "7", *QUICK,
]  # fmt: skip


def test_saved_training_args_rerun_the_same_training(tmp_path):
    """The model card says `train.py --config training_args.json --output_dir new` retrains the
    model: every saved option is accepted back, and on the CPU the weights come out bit for bit."""
    first, second = tmp_path / "first", tmp_path / "second"
    run_train("--output_dir", str(first), *QUICK, "--model_config", TINY_SIMCLR, "--per_device_train_batch_size", "16",
              "--max_train_samples", "64", "--max_train_steps", "3", "--skip_baselines", "--max_eval_samples", "100")  # fmt: skip
    run_train("--config", str(first / "training_args.json"), "--output_dir", str(second))
    assert json.loads((second / "training_args.json").read_text()) == {
        **json.loads((first / "training_args.json").read_text()), "output_dir": str(second)
    }
    expected, rerun = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert expected.keys() == rerun.keys() and all(torch.equal(expected[key], rerun[key]) for key in expected)


def test_output_folder_with_results_is_never_overwritten_silently(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    result = run_train("--output_dir", str(out), *RESUME_ARGS, check=False)
    assert result.returncode != 0 and "is not empty" in result.stderr
    assert (out / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--label_column", "digit"], "Column 'digit' (--label_column) is not in the data set; its columns are ['image', 'label']"),
        (["--max_train_samples", "8"], "fewer than one global batch"),
        (["--resume_from_checkpoint", "latest"], "no complete checkpoint"),
        (["--model", "sentences"], "--model must be 'simclr' or 'clear'"),
        (["--model_config", "temperature=2"], "--model_config must be a JSON object"),
    ],
)
def test_bad_input_gives_a_clear_error(tmp_path, extra, message):
    args = ["--output_dir", str(tmp_path / "run"), *RESUME_ARGS]
    for option in ("--label_column", "--max_train_samples", "--model", "--model_config"):
        if option in extra and option in args:
            index = args.index(option)
            del args[index : index + 2]
    result = run_train(*args, *extra, "--loss", "supcon", check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-3000:]


def test_empty_dataset_is_refused(tmp_path):
    data = tmp_path / "empty.csv"
    data.write_text("text,label\n")
    result = run_train("--model", "clear", "--dataset_name", str(data), "--output_dir", str(tmp_path / "run"), *QUICK, check=False)
    assert result.returncode != 0 and "is empty" in result.stderr


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path):
    out = tmp_path / "run"
    args = ["--output_dir", str(out), *RESUME_ARGS]
    args[args.index("--max_train_steps") + 1] = "4"
    run_train(*args)
    shutil.rmtree(out / "checkpoints" / "step_4")  # the newest complete checkpoint is now step 2 of 4
    for file in (out / "checkpoints" / "step_2").glob("*.safetensors"):
        file.write_bytes(b"not a safetensors file")
    result = run_train(*args, "--resume_from_checkpoint", "latest", check=False)
    assert result.returncode != 0 and "may be corrupt" in result.stderr


def test_evaluate_script_scores_a_trained_folder(tmp_path):
    """scripts/evaluate.py reloads a trained folder and reproduces the end-of-training evaluation."""
    out = tmp_path / "run"
    args = ["--output_dir", str(out), *RESUME_ARGS]
    args[args.index("--eval_split") + 1] = "test"
    run_train(*args, "--max_eval_samples", "100", "--skip_baselines")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "evaluate.py"), "--model_name_or_path", str(out),
         "--max_train_samples", "64", "--max_eval_samples", "100", "--skip_baselines", "--report_to", "none"],
        capture_output=True, text=True, env=env, timeout=300, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout[result.stdout.index("{") :])
    assert printed == json.loads((out / "eval_results.json").read_text())


def test_supcon_views_bf16_accumulation_clipping_and_tensorboard(tmp_path):
    """The options of a SupCon run together: labels as positives, 3 views, bf16 autocast,
    gradient accumulation, clipping; metrics reach tensorboard."""
    out = tmp_path / "run"
    args = ["--output_dir", str(out), *RESUME_ARGS]
    args[args.index("--max_train_steps") + 1] = "2"
    args[args.index("--checkpointing_steps") + 1] = "epoch"
    args[args.index("--report_to") + 1] = "tensorboard"
    run_train(
        *args, "--loss", "supcon", "--n_views", "3", "--mixed_precision", "bf16", "--per_device_train_batch_size", "8",
        "--gradient_accumulation_steps", "2", "--max_grad_norm", "1.0", "--logging_steps", "1",
    )  # fmt: skip
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2] and all(np.isfinite(r["loss"]) for r in log)
    assert json.loads((out / "config.json").read_text())["loss"] == "supcon"
    assert list(out.rglob("events.out.tfevents.*")), "no tensorboard event file"
    assert (out / "checkpoints" / "step_2" / COMPLETE_MARKER).exists()


def test_clear_starts_from_a_pretrained_masked_lm_without_del_token(tmp_path):
    """The online path, offline: a local BERT masked-LM folder whose tokenizer lacks [DEL]; the run
    adds [DEL], resizes the embeddings and starts f from the folder's weights."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    from hf_contrastive.data import load_bbc_news

    words = sorted({w for s in load_bbc_news("train").select(range(300))["text"] for w in s.lower().split() if w.isalpha()})
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    pretrained = tmp_path / "bert"
    tokenizer = BertTokenizerFast(vocab_file=str(vocab))
    tokenizer.save_pretrained(pretrained)
    bert = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64))
    bert.save_pretrained(pretrained)

    out = tmp_path / "run"
    run_train(
        "--model", "clear", "--model_name_or_path", str(pretrained), "--output_dir", str(out), "--max_train_steps", "1",
        "--per_device_train_batch_size", "4", "--max_train_samples", "16", "--eval_split", "", "--learning_rate", "0",
        "--warmup_ratio", "0", *QUICK,
    )  # fmt: skip
    trained = CLEARModel.from_pretrained(out)
    assert trained.config.text_config.vocab_size == len(tokenizer) + 1
    assert "[DEL]" in AutoTokenizer.from_pretrained(out).all_special_tokens
    # learning rate 0: f is still the pretrained encoder (the [DEL] row is new)
    original = bert.bert.embeddings.word_embeddings.weight
    assert torch.equal(trained.encoder.embeddings.word_embeddings.weight[: len(tokenizer)], original)
    assert torch.equal(trained.encoder.encoder.layer[0].output.dense.weight, bert.bert.encoder.layer[0].output.dense.weight)
