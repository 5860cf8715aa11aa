"""Tests for hf_contrastive.hub: the model card a training run writes (metadata that
huggingface_hub parses back, model-index equal to eval_results.json, a usage snippet that runs
where the package is not installed), and publishing over real HTTP to a Hub-compatible server on
127.0.0.1 (`hub_server.LocalHub`): the pushed repository loads without the package and gives the
local model's outputs, the token never leaks, a failed push explains itself and changes nothing."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import huggingface_hub
import pytest
import torch
import yaml
from huggingface_hub import HfApi, ModelCard
from huggingface_hub.errors import RepositoryNotFoundError

from conftest import REPO_ROOT, TINY_CLEAR, TINY_SIMCLR, TRAIN, accelerate_launch, free_port, run_train, run_without_package, train_here
from hf_contrastive.hub import HubPushError, push_to_hub, write_model_card
from hf_contrastive.modeling import SimCLRConfig, SimCLRImageProcessor, SimCLRModel
from hub_server import LocalHub

TOKEN = "hf_SECRETtokenForTheLocalHub0123456789"  # distinctive, so a leak anywhere is found by search

@pytest.fixture(scope="module", params=["simclr", "clear"])
def trained_folder(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "run"
    # tensorboard (the default tracker) and checkpoints on: the folder has what a push must leave out
    common = ["--output_dir", str(out), "--max_train_steps", "3", "--max_eval_samples", "120", "--checkpointing_steps", "2"]
    if request.param == "simclr":
        train_here(*common, "--model_config", TINY_SIMCLR, "--per_device_train_batch_size", "16", "--max_train_samples", "64")
    else:
        train_here(*common, "--model", "clear", "--model_config", TINY_CLEAR, "--per_device_train_batch_size", "8",
                   "--max_train_samples", "300", "--vocab_size", "400")  # fmt: skip
    return request.param, out


def test_training_writes_a_card_whose_metadata_huggingface_hub_parses(trained_folder):
    model_type, folder = trained_folder
    text = (folder / "README.md").read_text()
    metadata = yaml.safe_load(text.split("---")[1])
    card = ModelCard.load(folder / "README.md", ignore_metadata_errors=False)  # huggingface_hub's checks, model-index too
    library, pipeline_tag = ("transformers", "image-feature-extraction") if model_type == "simclr" else ("sentence-transformers", "sentence-similarity")
    assert card.data.library_name == library and card.data.license == "apache-2.0"
    assert model_type in card.data.tags and "contrastive-learning" in card.data.tags
    assert card.data.pipeline_tag == pipeline_tag
    if model_type == "clear":  # what a sentence-transformers user recognises: the tags and the Hub's widget
        assert {"sentence-transformers", "sentence-similarity", "feature-extraction"} <= set(card.data.tags)
        widget = metadata["widget"][0]
        assert widget["source_sentence"] and len(widget["sentences"]) == 3
    assert metadata["model-index"][0]["name"] == "run"
    expected = json.loads((folder / "eval_results.json").read_text())
    recorded = {result.metric_name: result.metric_value for result in card.data.eval_results}
    probe = {name: value for name, value in recorded.items() if "Spearman" not in name}
    assert probe == {"Linear probe accuracy": expected["linear_accuracy"], "Weighted kNN accuracy": expected["knn_accuracy"]}
    if model_type == "clear":  # STS-B dev in every CLEAR run, with the Hub id of the matching data set
        results = metadata["model-index"][0]["results"]
        sts = [r for r in results if r["task"]["type"] == "sentence-similarity"]
        assert [(r["dataset"]["type"], r["dataset"]["split"]) for r in sts] == [("sentence-transformers/stsb", "validation")]
        assert sts[0]["metrics"][0]["value"] == expected["sts_validation_spearman"]
        assert f"| this model | {expected['sts_validation_spearman']:.2f} |" in text
        assert f"| bag of words (TF-IDF cosine) | {expected['bag_of_words_sts_validation_spearman']:.2f} |" in text
    assert (folder / "training_loss.png").stat().st_size > 1000 and "![training loss](training_loss.png)" in text
    train_results = json.loads((folder / "train_results.json").read_text())
    assert f"| hardware | {train_results['hardware']} |" in text and "CPU process(es)" in train_results["hardware"]
    assert f"| peak learning rate | {train_results['peak_learning_rate']:.4g}" in text
    assert "scripts/train.py --config training_args.json" in text
    if model_type == "simclr":  # the views actually used, resolved from the preset
        views = train_results["views"]
        assert views["preset"] == "digits" and f"random resized crop to {views['size']} px, scale {views['crop_scale']}" in text
    baseline = "raw pixels" if model_type == "simclr" else "bag of words"
    assert baseline in text and "same architecture, untrained" in text
    if model_type == "clear":
        assert "arXiv 2012.15466" in text and "@article{wu2020clear" in text


def test_usage_snippet_runs_without_the_package(trained_folder, tmp_path):
    """The local card's snippets load the folder by its name (no path in a card), from its parent,
    in a Python without hf_contrastive (CLEAR's with sentence-transformers too)."""
    model_type, folder = trained_folder
    snippet = "\n".join(re.findall(r"```python\n(.*?)```", (folder / "README.md").read_text(), re.S))  # every snippet
    assert f'from_pretrained("{folder.name}", trust_remote_code=True)' in snippet and str(folder.parent) not in snippet
    if model_type == "clear":
        assert f'SentenceTransformer("{folder.name}", trust_remote_code=True)' in snippet and "model.similarity(" in snippet
    script = snippet + "\nRESULT = {'shape': list((representation if 'representation' in dir() else embeddings).shape)}\n"
    report = run_without_package(script, workdir=folder.parent)
    assert report["package_importable"] is False and report["shape"][0] in (1, 2)


def test_card_can_be_rewritten_for_a_hub_repository(trained_folder):
    _, folder = trained_folder
    try:
        path = write_model_card(str(folder), repo_id="someone/simclr-digits", model_name="simclr-digits")
        text = path.read_text()
        assert 'from_pretrained("someone/simclr-digits", trust_remote_code=True)' in text
        assert ModelCard.load(path).data.model_name == "simclr-digits"
    finally:
        write_model_card(str(folder))  # back to the local card for the other tests


def test_card_has_no_path_and_user_strings_leave_its_tables_intact(trained_folder, tmp_path):
    """A training run from a local folder publishes no path (metadata or body), and a data set
    name holding `---`, `|` and a newline neither ends the metadata nor splits a table cell."""
    _, folder = trained_folder
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("checkpoints", "runs"))
    text = (copy / "README.md").read_text()
    metadata = yaml.safe_load(text.split("---")[1])
    assert "datasets" not in metadata  # the embedded set is no Hub data set
    assert str(folder.parent) not in text and not re.search(r"(^|[\s(\"'])/(tmp|work|home|root)/", text)

    results = json.loads((copy / "train_results.json").read_text())
    hostile = "evil---name | with\n--- a newline <b>"
    results["data"] = {**results["data"], "hub_id": hostile, "name": hostile, "description": f"the Hub data set {hostile}"}
    (copy / "train_results.json").write_text(json.dumps(results))
    text = write_model_card(str(copy)).read_text()
    front, body = text.split("\n---\n", 1)
    assert yaml.safe_load(front.lstrip("-\n"))["datasets"] == [hostile]  # quoted by the YAML writer
    ModelCard.load(copy / "README.md", ignore_metadata_errors=False)
    for table in re.findall(r"(?:^\|.*\|$\n?)+", body, re.M):
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table.splitlines()}
        assert len(widths) == 1, table  # every row of a table has the same cells
    assert "<b>" not in body and "\n--- a newline" not in body


# ---------------------------------------------------------------- publishing over HTTP


@pytest.fixture(scope="module")
def local_hub():
    with LocalHub(tokens={TOKEN: "alice"}) as hub:
        yield hub


@pytest.fixture
def hub(local_hub, monkeypatch):
    """The local Hub as huggingface_hub's endpoint in this process, no ambient token."""
    local_hub.patch_endpoint(monkeypatch)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", os.devnull)
    local_hub.fail_with = None
    return local_hub


def folder_state(folder) -> dict:
    """Every file under `folder` with its content hash and modification time."""
    return {
        path.relative_to(folder).as_posix(): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*")) if path.is_file()
    }  # fmt: skip


RESULTS_AND_CARD = {"README.md", "training_loss.png", "eval_results.json", "train_results.json", "training_args.json"}
# what a repository must hold: weights, config, the modeling code remote code imports, the preprocessor
EXPECTED_UPLOAD = {
    "simclr": {"config.json", "model.safetensors", "configuration_simclr.py", "modeling_simclr.py", "losses.py",
               "image_processing_simclr.py", "preprocessor_config.json"} | RESULTS_AND_CARD,
    "clear": {"config.json", "model.safetensors", "configuration_clear.py", "modeling_clear.py", "losses.py",
              "tokenizer.json", "tokenizer_config.json", "modules.json", "sentence_bert_config.json",
              "config_sentence_transformers.json", "1_Pooling/config.json"} | RESULTS_AND_CARD,
}  # fmt: skip
STAYS_LOCAL = ("checkpoints/", "runs/", "tokenizer/", "training_log.jsonl")


# `outputs(source, **kwargs)`: the representations a model (with its own preprocessor) gives for fixed inputs
OUTPUTS_CODE = {
    "simclr": """
import numpy as np, torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel

def outputs(source, **kwargs):
    model = AutoModel.from_pretrained(source, **kwargs).eval()
    processor = AutoImageProcessor.from_pretrained(source, **kwargs)
    pixels = np.random.default_rng(0).integers(0, 256, size=(3, 20, 20), dtype=np.uint8)
    with torch.no_grad():
        return model(**processor([Image.fromarray(array) for array in pixels], return_tensors="pt")).pooler_output
""",
    "clear": """
import torch
from transformers import AutoModel, AutoTokenizer

def outputs(source, **kwargs):
    model = AutoModel.from_pretrained(source, **kwargs).eval()
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    sentences = ["The market rose sharply on Monday.", "Rain is expected in the north.", "A short one."]
    with torch.no_grad():
        return model(**tokenizer(sentences, padding=True, return_tensors="pt")).pooler_output
""",
}


def assert_hub_copy_gives_local_outputs(model_type: str, folder, repo_id: str, hub, workdir, also_run: str = "") -> None:
    """In a fresh Python without hf_contrastive, download `repo_id` from `hub` with its own code
    (`trust_remote_code`) and compare its outputs with the installed package's model from `folder`."""
    namespace = {}
    exec(OUTPUTS_CODE[model_type], namespace)
    local = namespace["outputs"](str(folder))
    script = OUTPUTS_CODE[model_type] + also_run + f"""
model_module = type(AutoModel.from_pretrained({repo_id!r}, trust_remote_code=True)).__module__
RESULT = {{"outputs": outputs({repo_id!r}, trust_remote_code=True).tolist(), "model_module": model_module}}
"""
    report = run_without_package(script, workdir=workdir, hub_endpoint=hub.url)
    assert report["package_importable"] is False
    assert report["model_module"].startswith("transformers_modules.")  # the repository's own modeling code
    torch.testing.assert_close(torch.tensor(report["outputs"]), local, rtol=1e-5, atol=1e-6)


def test_pushed_repository_loads_without_the_package_and_gives_the_local_outputs(trained_folder, hub, tmp_path):
    """The upload holds everything a user needs and nothing else (no checkpoints or logs), the
    local folder is untouched, and a fresh Python without hf_contrastive downloads model and
    preprocessor over HTTP and reproduces the local model's outputs; the card's snippet runs there."""
    model_type, folder = trained_folder
    before, upload = folder_state(folder), EXPECTED_UPLOAD[model_type]
    assert all(any(name.startswith(local) for name in before) for local in STAYS_LOCAL if model_type == "clear" or local != "tokenizer/")
    repo_id = f"alice/{model_type}-tiny"
    commit = push_to_hub(str(folder), repo_id, token=TOKEN)

    assert folder_state(folder) == before
    remote = hub.files(repo_id)
    assert set(remote) == upload | {".gitattributes"}  # so nothing of STAYS_LOCAL
    assert all(remote[name] == (folder / name).read_bytes() for name in upload - {"README.md"})
    assert commit.oid == hub.commits(repo_id)[0]["sha"]
    card = ModelCard(remote["README.md"].decode())
    assert card.data.model_name == f"{model_type}-tiny"
    snippet = "\n".join(re.findall(r"```python\n(.*?)```", card.text, re.S))
    assert f'from_pretrained("{repo_id}", trust_remote_code=True)' in snippet
    assert_hub_copy_gives_local_outputs(model_type, folder, repo_id, hub, tmp_path, also_run=snippet)
    downloads = [path for method, path, status in hub.requests if method == "GET" and "/resolve/" in path and status == 200]
    assert any(path.endswith("/model.safetensors") and repo_id in path for path in downloads)


def test_push_to_a_private_branch(trained_folder, hub):
    model_type, folder = trained_folder
    name = f"branchy-{model_type}"  # no namespace: the token's user
    push_to_hub(str(folder), name, private=True, revision="dev", token=TOKEN, commit_message="first try")
    assert "model.safetensors" in hub.files(f"alice/{name}", "dev")
    assert set(hub.files(f"alice/{name}", "main")) == {".gitattributes"}
    assert hub.commits(f"alice/{name}", "dev")[0]["summary"] == "first try"
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=False).model_info(f"alice/{name}")  # private: invisible without the token
    assert HfApi(token=TOKEN).model_info(f"alice/{name}").private is True


def test_private_push_to_an_existing_public_repository_is_refused(trained_folder, hub):
    model_type, folder = trained_folder
    repo_id = f"alice/public-{model_type}"
    HfApi(token=TOKEN).create_repo(repo_id, private=False)
    with pytest.raises(HubPushError, match="exists and is public"):
        push_to_hub(str(folder), repo_id, private=True, token=TOKEN)
    assert set(hub.files(repo_id)) == {".gitattributes"}


def test_bad_arguments_fail_before_any_request(trained_folder, hub, tmp_path, monkeypatch):
    _, folder = trained_folder
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # no login cache here either
    requests_before = len(hub.requests)
    with pytest.raises(ValueError, match="is not a Hub repository id"):
        push_to_hub(str(folder), "alice/my model", token=TOKEN)
    with pytest.raises(HubPushError, match="No Hub token found"):
        push_to_hub(str(folder), "alice/x", token=None)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ValueError, match="publishes SimCLR and CLEAR folders"):
        push_to_hub(str(tmp_path / "other"), "alice/x", token=TOKEN)
    assert len(hub.requests) == requests_before


def test_model_classes_own_push_to_hub_still_works(trained_folder, hub, tmp_path):
    """transformers' PreTrainedModel.push_to_hub (not ours) uploads the remote code with the weights."""
    model_type, folder = trained_folder
    env = dict(os.environ, HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN, HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH=str(REPO_ROOT))
    auto = "AutoImageProcessor" if model_type == "simclr" else "AutoTokenizer"
    script = (
        f"import hf_contrastive  # registers the Auto classes\nfrom transformers import AutoModel, {auto}\n"
        f"AutoModel.from_pretrained({str(folder)!r}).push_to_hub('alice/own-{model_type}')\n"
        f"{auto}.from_pretrained({str(folder)!r}).push_to_hub('alice/own-{model_type}')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_hub_copy_gives_local_outputs(model_type, folder, f"alice/own-{model_type}", hub, tmp_path)


@pytest.mark.parametrize("failure", ["server down", "offline mode", "bad token", "namespace refused", "server error", "commit error"])
def test_failed_push_says_what_failed_and_leaves_the_folder_unchanged(trained_folder, hub, monkeypatch, failure):
    model_type, folder = trained_folder
    before = folder_state(folder)
    token, repo_id = TOKEN, f"alice/{model_type}-{failure.replace(' ', '-')}"
    if failure == "server down":
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{free_port()}")
        expected = "could not be reached"
    elif failure == "offline mode":
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        expected = "HF_HUB_OFFLINE is set"
    elif failure == "bad token":
        token, expected = "hf_wrongTokenWrongTokenWrong", "refused the token (401"
    elif failure == "namespace refused":
        repo_id, expected = "bob/not-yours", "may not write there (403"
    else:  # a 500 on everything, or only on the commit once the repository exists
        hub.fail_with, expected = 500, "answered 500"
        hub.fail_only = "/commit/" if failure == "commit error" else None
        # huggingface_hub retries 5xx five times with 23 s of back-off in all: skip the waiting
        monkeypatch.setattr(huggingface_hub.utils._http, "time", SimpleNamespace(sleep=lambda seconds: None))
    with pytest.raises(HubPushError, match=re.escape(expected)) as raised:
        push_to_hub(str(folder), repo_id, token=token)
    message = str(raised.value)
    assert f"Nothing in {folder} was changed" in message and TOKEN not in message and token not in message
    assert folder_state(folder) == before
    hub.fail_with = hub.fail_only = None
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    exists = HfApi(endpoint=hub.url, token=TOKEN).repo_exists(repo_id)
    assert exists == (failure == "commit error")  # that failure came after the repository was created
    assert not exists or set(hub.files(repo_id)) == {".gitattributes"}  # and left no half upload


def test_push_to_hub_script_pushes_and_reports_failures_without_a_traceback(hub, tmp_path):
    folder = tmp_path / "model"
    config = SimCLRConfig(**json.loads(TINY_SIMCLR))
    SimCLRModel(config).save_pretrained(folder)
    SimCLRImageProcessor.from_simclr_config(config).save_pretrained(folder)
    env = dict(os.environ, HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH=str(REPO_ROOT))
    env.pop("HF_TOKEN", None)

    def push(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess:
        command = [sys.executable, str(REPO_ROOT / "scripts" / "push_to_hub.py"), *args]
        run_env = {**env, "HF_TOKEN": token} if token else env
        return subprocess.run(command, env=run_env, capture_output=True, text=True, timeout=120)

    pushed = push(str(folder), "--repo_id", "script-push", "--revision", "v1")
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    assert "Pushed" in pushed.stdout and "model.safetensors" in hub.files("alice/script-push", "v1")
    failures = [
        ((str(folder), "--repo_id", "alice/x"), "hf_wrongTokenWrongTokenWrong", "refused the token (401"),
        ((str(folder), "--repo_id", "alice/x"), None, "No Hub token found"),
        ((str(tmp_path / "nope"), "--repo_id", "alice/x"), TOKEN, "has no config.json"),
    ]
    with ThreadPoolExecutor(len(failures)) as pool:  # (independent runs: side by side)
        results = list(pool.map(lambda case: push(*case[0], token=case[1]), failures))
    for (_, _, message), failed in zip(failures, results):
        assert failed.returncode == 1 and message in failed.stderr and "Traceback" not in failed.stderr
        assert TOKEN not in failed.stderr and "hf_wrongTokenWrongTokenWrong" not in failed.stderr


def test_training_pushes_once_at_the_end_and_the_token_never_leaks(local_hub, tmp_path):
    """`train.py --push_to_hub --hub_token T` with 2 processes: the main process alone creates the
    repository and makes one commit with the model, and T appears in no file the run wrote
    (training_args.json, tensorboard events, checkpoints, card, ...), in no file on the Hub and in no
    output, although the server saw it in the Authorization header."""
    out = tmp_path / "run"
    env = {"HF_ENDPOINT": local_hub.url, "HF_HOME": str(tmp_path / "hf_home"), "HF_TOKEN_PATH": os.devnull}
    earlier_requests = len(local_hub.requests)
    result = accelerate_launch(
        TRAIN, "--output_dir", str(out), "--max_train_steps", "2", "--checkpointing_steps", "1", "--max_eval_samples", "100",
        "--model_config", TINY_SIMCLR, "--per_device_train_batch_size", "8", "--max_train_samples", "64",
        "--push_to_hub", "--hub_model_id", "pushed-at-end", "--hub_private_repo", "--hub_token", TOKEN,
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert json.loads((out / "train_results.json").read_text())["num_processes"] == 2
    assert result.stdout.count("Pushed to") == 1
    # one process talks to the Hub: it creates the repository before training, and again (409: exists) when pushing
    creates = [status for method, path, status in local_hub.requests[earlier_requests:] if path == "/api/repos/create"]
    assert creates == [200, 409]
    assert [commit["summary"] for commit in local_hub.commits("alice/pushed-at-end")] == ["End of training", "initial commit"]
    remote = local_hub.files("alice/pushed-at-end")
    assert remote["model.safetensors"] == (out / "model.safetensors").read_bytes()
    rerun = "ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 scripts/train.py --config training_args.json"
    assert rerun in remote["README.md"].decode()
    assert any(TOKEN in value for value in local_hub.received_authorization)
    assert HfApi(endpoint=local_hub.url, token=TOKEN).model_info("alice/pushed-at-end").private is True
    assert list((out / "runs").rglob("events.out.tfevents.*")) and (out / "checkpoints").is_dir()
    assert not [name for name in remote if name.startswith(STAYS_LOCAL)]
    secret = TOKEN.encode()  # every file the run wrote: output folder, Hugging Face cache, working directory
    leaks = [path for path in tmp_path.rglob("*") if path.is_file() and secret in path.read_bytes()]
    leaks += [name for name, content in remote.items() if secret in content]
    assert not leaks and TOKEN not in result.stdout + result.stderr
    saved_options = json.loads((out / "training_args.json").read_text())
    assert not {"push_to_hub", "hub_token", "hub_model_id"} & set(saved_options)  # rerunning it does not push


def test_failed_push_at_the_end_of_training_keeps_the_run_and_says_so(local_hub, tmp_path):
    out = tmp_path / "run"
    local_hub.fail_with, local_hub.fail_only = 403, "/commit/"  # the repository refuses the upload
    try:
        result = run_train(
            "--output_dir", str(out), "--max_train_steps", "2", "--model_config", TINY_SIMCLR, "--report_to", "none",
            "--per_device_train_batch_size", "16", "--max_train_samples", "64", "--max_eval_samples", "100",
            "--push_to_hub", "--hub_model_id", "refused-at-end", "--hub_token", TOKEN,
            env={"HF_ENDPOINT": local_hub.url}, check=False,
        )  # fmt: skip
    finally:
        local_hub.fail_with = local_hub.fail_only = None
    assert result.returncode != 0 and "may not write there (403" in result.stderr
    assert "scripts/push_to_hub.py" in result.stderr and TOKEN not in result.stdout + result.stderr
    assert {"model.safetensors", "README.md", "eval_results.json"} <= {path.name for path in out.iterdir()}


def test_training_with_a_refused_token_stops_before_the_first_step(local_hub, tmp_path):
    out = tmp_path / "run"
    result = run_train(
        "--output_dir", str(out), "--max_train_steps", "2", "--model_config", TINY_SIMCLR, "--push_to_hub",
        "--hub_token", "hf_wrongTokenWrongTokenWrong", env={"HF_ENDPOINT": local_hub.url}, check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "refused the token (401" in result.stderr
    assert not (out / "model.safetensors").exists() and "hf_wrongTokenWrongTokenWrong" not in result.stderr + result.stdout


def test_a_wheel_carries_the_card_templates(tmp_path):
    """write_model_card must work from a regular (non-editable) install: the templates are package data."""
    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT / "hf_contrastive", source / "hf_contrastive", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("hf_contrastive-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"hf_contrastive/model_cards/simclr.md", "hf_contrastive/model_cards/clear.md"} <= set(names)


def test_a_clear_output_folder_is_a_sentence_transformers_folder_giving_the_models_embedding(trained_folder, tmp_path):
    """Issue 12's finding: sentence-transformers guessed mean pooling for a CLEAR folder (cosine
    0.62 to the model's own embedding for a cls-pooled model). A training run's folder now holds
    modules.json and 1_Pooling/config.json with the model's pooling, and SentenceTransformer gives
    exactly `pooler_output`, with the package and without it (trust_remote_code)."""
    from sentence_transformers import SentenceTransformer

    model_type, folder = trained_folder
    if model_type != "clear":
        pytest.skip("SimCLR folders are image models")
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] == (config["pooling"] == "mean") and pooling["word_embedding_dimension"] == 32
    namespace = {}
    exec(OUTPUTS_CODE["clear"], namespace)
    expected = namespace["outputs"](str(folder))
    sentences = ["The market rose sharply on Monday.", "Rain is expected in the north.", "A short one."]
    encoded = SentenceTransformer(str(folder), device="cpu").encode(sentences, convert_to_tensor=True)
    torch.testing.assert_close(encoded, expected, rtol=1e-5, atol=1e-6)
    script = f"""
from sentence_transformers import SentenceTransformer
RESULT = {{"st": SentenceTransformer({folder.name!r}, trust_remote_code=True, device="cpu").encode({sentences!r}).tolist()}}
"""
    report = run_without_package(script, workdir=folder.parent)
    assert report["package_importable"] is False
    torch.testing.assert_close(torch.tensor(report["st"]), expected, rtol=1e-5, atol=1e-6)
