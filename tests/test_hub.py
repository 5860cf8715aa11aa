"""Tests for hf_contrastive.hub: the model card a training run writes (metadata that
huggingface_hub parses back, model-index equal to eval_results.json, a usage snippet that runs
where the package is not installed)."""

import json
import re

import pytest
import yaml
from huggingface_hub import ModelCard

from conftest import TINY_CLEAR, TINY_SIMCLR, run_train, run_without_package
from hf_contrastive.hub import write_model_card

@pytest.fixture(scope="module", params=["simclr", "clear"])
def trained_folder(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "run"
    common = ["--output_dir", str(out), "--max_train_steps", "3", "--report_to", "none", "--max_eval_samples", "120"]
    if request.param == "simclr":
        run_train(*common, "--model_config", TINY_SIMCLR, "--per_device_train_batch_size", "16", "--max_train_samples", "64")
    else:
        run_train(*common, "--model", "clear", "--model_config", TINY_CLEAR, "--per_device_train_batch_size", "8",
                  "--max_train_samples", "300", "--vocab_size", "400")  # fmt: skip
    return request.param, out


def test_training_writes_a_card_whose_metadata_huggingface_hub_parses(trained_folder):
    model_type, folder = trained_folder
    text = (folder / "README.md").read_text()
    metadata = yaml.safe_load(text.split("---")[1])
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "transformers" and card.data.license == "apache-2.0"
    assert model_type in card.data.tags and "contrastive-learning" in card.data.tags
    assert card.data.pipeline_tag == ("image-feature-extraction" if model_type == "simclr" else "feature-extraction")
    assert metadata["model-index"][0]["name"] == "run"
    expected = json.loads((folder / "eval_results.json").read_text())
    recorded = {result.metric_name: result.metric_value for result in card.data.eval_results}
    assert recorded == {"Linear probe accuracy": expected["linear_accuracy"], "Weighted kNN accuracy": expected["knn_accuracy"]}
    assert (folder / "training_loss.png").stat().st_size > 1000 and "![training loss](training_loss.png)" in text
    baseline = "raw pixels" if model_type == "simclr" else "bag of words"
    assert baseline in text and "same architecture, untrained" in text
    if model_type == "clear":
        assert "arXiv 2012.15466" in text and "@article{wu2020clear" in text


def test_usage_snippet_runs_without_the_package(trained_folder, tmp_path):
    _, folder = trained_folder
    snippet = re.search(r"```python\n(.*?)```", (folder / "README.md").read_text(), re.S).group(1)
    assert str(folder) in snippet
    script = snippet + "\nRESULT = {'shape': list((representation if 'representation' in dir() else embeddings).shape)}\n"
    report = run_without_package(script, workdir=tmp_path)
    assert report["package_importable"] is False and report["shape"][0] in (1, 2)


def test_card_can_be_rewritten_for_a_hub_repository(trained_folder):
    _, folder = trained_folder
    path = write_model_card(str(folder), repo_id="someone/simclr-digits", model_name="simclr-digits")
    text = path.read_text()
    assert 'from_pretrained("someone/simclr-digits", trust_remote_code=True)' in text
    assert ModelCard.load(path).data.model_name == "simclr-digits"
    write_model_card(str(folder))  # back to the local card for the other tests
