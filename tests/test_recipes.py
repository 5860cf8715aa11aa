"""Tests for hf_contrastive.recipes: defaults derived from the user's data, precedence of the
config's sources, the evaluation split, and evaluation through the saved preprocessing."""

import json

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from datasets import ClassLabel, Dataset, Features, Image
from PIL import Image as PILImage
from transformers import AutoImageProcessor, AutoModel

from conftest import TINY_SIMCLR, run_train
from hf_contrastive.augment import to_uint8_tensor
from hf_contrastive.data import load_training_data
from hf_contrastive.evaluation import extract_features
from hf_contrastive.recipes import build_recipe
from hf_contrastive.training import parse_arguments

QUICK = ["--report_to", "none", "--per_device_eval_batch_size", "64"]


def colour_images(count: int, size: tuple[int, int], seed: int = 0, grayscale: bool = False) -> list[PILImage.Image]:
    """Images with class-dependent colour blobs (2 classes alternate), RGB or grayscale."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        pixels = rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8)
        pixels[: size[1] // 2, :, i % 3] += 150  # a bright band whose channel / place depends on the class
        if grayscale:
            pixels = np.repeat(pixels.mean(2, keepdims=True).astype(np.uint8), 3, axis=2)
        images.append(PILImage.fromarray(pixels).convert("L" if grayscale else "RGB"))
    return images


@pytest.fixture(scope="module")
def cifar_like(tmp_path_factory):
    """A CIFAR-100-style `save_to_disk` set: RGB 32 px in `img`, labels in `fine_label`."""
    folder = tmp_path_factory.mktemp("cifar") / "data"
    rows = {"img": colour_images(120, (32, 32)), "fine_label": [i % 3 for i in range(120)]}
    Dataset.from_dict(rows, features=Features({"img": Image(), "fine_label": ClassLabel(num_classes=3)})).save_to_disk(folder)
    return folder


def image_folder(root, count: int, size: tuple[int, int], grayscale: bool = False):
    """An `imagefolder` with only a train split: root/train/<class>/*.png."""
    for i, image in enumerate(colour_images(count, size, grayscale=grayscale)):
        target = root / "train" / f"class{i % 3}"
        target.mkdir(parents=True, exist_ok=True)
        image.save(target / f"{i:04d}.png")
    return root


def recipe_for(*argv: str, output_dir=None):
    """The recipe a run with `argv` builds (a CLEAR recipe trains its tokenizer into `output_dir`)."""
    model_args, data_args, args = parse_arguments([*argv, "--output_dir", str(output_dir or "outputs/unused")])
    return build_recipe(model_args, data_args, args, Accelerator(cpu=True))


# ---------------------------------------------------------------- defaults derived from the data


def test_rgb_32px_set_trains_as_three_channel_32px_with_the_cifar_stem_and_its_own_statistics(cifar_like, tmp_path):
    out = tmp_path / "run"
    run_train("--dataset_name", str(cifar_like), "--output_dir", str(out), "--max_train_steps", "2",
              "--per_device_train_batch_size", "16", "--skip_baselines", *QUICK)  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    train_results = json.loads((out / "train_results.json").read_text())
    assert (config["num_channels"], config["image_size"], config["cifar_stem"]) == (3, 32, True)
    assert config["backbone_config"]["num_channels"] == 3
    assert train_results["views"]["preset"] == "cifar" and train_results["derived"]["num_channels"] == 3
    # the statistics are the data's own (not CIFAR-10's nor ImageNet's), measured on the training rows
    rows = Dataset.load_from_disk(str(cifar_like))
    pixels = np.stack([np.asarray(image, dtype=np.float64) / 255 for image in rows["img"]])
    heldout = set(train_results["heldout_indices"])
    trained = pixels[[i for i in range(len(pixels)) if i not in heldout]]
    np.testing.assert_allclose(config["image_mean"], trained.mean(axis=(0, 1, 2)), atol=2e-4)
    assert json.loads((out / "preprocessor_config.json").read_text())["image_mean"] == config["image_mean"]
    assert "eval_rows" in train_results["data"] and json.loads((out / "eval_results.json").read_text())["linear_accuracy"] > 0


def test_grayscale_data_that_is_not_digits_gets_flips(tmp_path):
    recipe = recipe_for("--dataset_name", str(image_folder(tmp_path / "gray", 30, (40, 40), grayscale=True)))
    assert recipe.config.num_channels == 1 and recipe.config.image_size == 40
    assert recipe.view_preset == "grayscale" and recipe.views.hflip_p == 0.5
    digits = recipe_for("--max_train_samples", "300")  # the embedded digits keep the digits preset
    assert digits.view_preset == "digits" and digits.views.hflip_p == 0.0


def test_large_rgb_images_go_to_224_with_the_imagenet_stem(tmp_path):
    recipe = recipe_for("--dataset_name", str(image_folder(tmp_path / "large", 12, (300, 200))))
    assert (recipe.config.num_channels, recipe.config.image_size, recipe.config.cifar_stem) == (3, 224, False)
    assert recipe.view_preset == "imagenet" and recipe.statistics.typical_size == 200
    # the loader hands the views the whole 300 x 200 image (not a centre-cropped square): the
    # random crop of every view is drawn from all of it
    row = recipe.data.train[0]
    batch = recipe.collate([row])
    assert batch["sizes"].tolist() == [[200, 300]]
    assert torch.equal(batch["images"][0], to_uint8_tensor(row[recipe.image_column], 3))


def test_options_win_over_every_derived_value(cifar_like):
    recipe = recipe_for(
        "--dataset_name", str(cifar_like), "--num_channels", "1", "--image_size", "24", "--view_preset", "digits",
        "--model_config", json.dumps({"image_mean": [0.5], "image_std": [0.2], "cifar_stem": False, "projection_dim": 8}),
    )  # fmt: skip
    config = recipe.config
    assert (config.num_channels, config.image_size, config.cifar_stem, config.projection_dim) == (1, 24, False, 8)
    assert config.backbone_config.num_channels == 1 and config.image_mean == [0.5] and config.image_std == [0.2]
    assert recipe.view_preset == "digits" and recipe.views.size == 24
    assert not {"num_channels", "image_size", "cifar_stem", "image_mean", "image_std", "view_preset"} & set(recipe.derived)
    # a partial model_config merges into the derived backbone instead of failing
    partial = recipe_for("--dataset_name", str(cifar_like), "--model_config", '{"num_channels": 1, "image_size": 32}')
    assert partial.config.backbone_config.num_channels == 1 and partial.config.backbone_config.hidden_sizes[-1] == 128
    assert len(partial.config.image_mean) == 1  # the statistics follow the channels


# ---------------------------------------------------------------- precedence of the config's sources


def test_loss_precedence_model_config_and_checkpoint_then_command_line(tmp_path):
    small = ["--max_train_samples", "300", "--model_config"]
    assert recipe_for(*small, '{"loss": "supcon"}').config.loss == "supcon"
    assert recipe_for(*small, '{"loss": "supcon"}', "--loss", "ntxent").config.loss == "ntxent"
    checkpoint = tmp_path / "supcon"
    run_train("--output_dir", str(checkpoint), "--model_config", TINY_SIMCLR, "--loss", "supcon", "--max_train_steps", "1",
              "--per_device_train_batch_size", "16", "--max_train_samples", "64", "--eval_split", "none", *QUICK)  # fmt: skip
    start = ["--max_train_samples", "300", "--model_name_or_path", str(checkpoint)]
    assert recipe_for(*start).config.loss == "supcon"
    assert recipe_for(*start, "--loss", "ntxent").config.loss == "ntxent"
    assert recipe_for(*start, "--temperature", "0.3").config.temperature == 0.3
    # the checkpoint's weights were trained with batch norm: another normalisation is refused, not loaded into
    with pytest.raises(ValueError, match=r"asks for group norm of up to 32 groups in place of the batch norm the checkpoint .* Leave backbone_norm out"):
        recipe_for(*start, "--model_config", '{"backbone_norm": "group"}')


@pytest.mark.parametrize("route", [["--temperature", "0"], ["--model_config", '{"temperature": 0}']])
def test_a_zero_temperature_is_refused_with_the_configs_message_before_training(route, tmp_path):
    for model in ("simclr", "clear"):
        with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
            recipe_for("--model", model, "--max_train_samples", "300", "--vocab_size", "300", *route, output_dir=tmp_path / model)
    if route[0] == "--temperature":  # and the command line stops before any step
        result = run_train("--output_dir", str(tmp_path / "run"), "--max_train_samples", "64", *route, *QUICK, check=False)
        assert result.returncode != 0 and "temperature must be > 0, got 0" in result.stderr
        assert not (tmp_path / "run" / "training_log.jsonl").exists()


# ---------------------------------------------------------------- the evaluation split


def test_a_train_only_folder_holds_out_ten_percent_disjoint_from_training(tmp_path):
    folder = image_folder(tmp_path / "train_only", 60, (20, 20))
    data = load_training_data(str(folder), seed=3)
    assert data.eval is not None and len(data.eval) == 6 and len(data.train) == 54
    all_rows = load_training_data(str(folder), eval_split="none").train
    held = data.heldout_indices
    assert sorted(np.bincount(np.asarray(all_rows["label"])[held])) == [2, 2, 2]  # stratified
    as_bytes = [np.asarray(image).tobytes() for image in all_rows["image"]]
    train_images = {np.asarray(image).tobytes() for image in data.train["image"]}
    assert train_images.isdisjoint(as_bytes[i] for i in held) and len(train_images) == 54
    assert load_training_data(str(folder), seed=3).heldout_indices == held  # seeded


@pytest.mark.parametrize("spelling", ["none", "None", "null", ""])
def test_eval_split_none_skips_evaluation_and_the_card_says_so(spelling, tmp_path):
    data = load_training_data("mnist_digits", eval_split=spelling)
    assert data.eval is None and len(data.train) == 4000
    if spelling == "none":
        out = tmp_path / "run"
        result = run_train("--output_dir", str(out), "--eval_split", spelling, "--model_config", TINY_SIMCLR, "--max_train_steps", "1",
                           "--per_device_train_batch_size", "16", "--max_train_samples", "64", *QUICK)  # fmt: skip
        assert json.loads((out / "eval_results.json").read_text()) == {}
        # the derived values are logged where the user sees them (INFO reaches the console of train.py)
        assert "INFO - hf_contrastive.recipes.simclr - [RANK 0] Data: mnist_digits" in result.stderr and "Derived (not given)" in result.stderr
        assert "No evaluation was run" in (out / "README.md").read_text()


def test_a_single_file_is_never_scored_on_its_own_rows(tmp_path):
    data_file = tmp_path / "sentences.jsonl"
    data_file.write_text("".join(json.dumps({"text": f"sentence number {i}", "label": i % 2}) + "\n" for i in range(60)))
    data = load_training_data(str(data_file))
    assert set(data.train["text"]).isdisjoint(data.eval["text"]) and (len(data.train), len(data.eval)) == (54, 6)
    with pytest.raises(ValueError, match="no split 'test'.*--eval_split auto"):
        load_training_data(str(data_file), eval_split="test")
    with pytest.raises(ValueError, match="is the training split"):
        load_training_data(str(data_file), eval_split="train")


# ---------------------------------------------------------------- evaluation is the published preprocessing


@pytest.mark.parametrize("size", [28, 32, 224])
def test_evaluation_features_equal_automodel_and_autoimageprocessor_from_the_folder(size, tmp_path):
    """The recipe's evaluation features are what a user gets from the saved folder, at any size
    (above 32 px the processor resizes to size / 0.875 before its centre crop)."""
    folder = image_folder(tmp_path / "data", 9, (50, 37))
    tiny = TINY_SIMCLR.replace('"image_size": 16', f'"image_size": {size}')
    recipe = recipe_for("--dataset_name", str(folder), "--model_config", tiny, "--eval_split", "none")
    out = tmp_path / "saved"
    recipe.model.save_pretrained(out)
    recipe.save_preprocessor(str(out))
    processor = AutoImageProcessor.from_pretrained(out)
    features, _ = extract_features(recipe.model.simclr, recipe.processed_batches(recipe.train_dataset, processor, "label"))
    encoder = AutoModel.from_pretrained(out).eval()
    with torch.no_grad():
        expected = encoder(**processor(list(recipe.train_dataset["image"]), return_tensors="pt")).pooler_output
    assert features.shape == expected.shape and torch.allclose(features, expected, atol=1e-5)
    assert processor.crop_size["height"] == size


def test_a_set_smaller_than_one_batch_gets_a_fitting_batch_and_a_given_one_is_kept(tmp_path):
    folder = image_folder(tmp_path / "small", 60, (20, 20))  # 54 training rows after the held-out 10%
    recipe = recipe_for("--dataset_name", str(folder))
    assert recipe.training_defaults["per_device_train_batch_size"] == 32 == recipe.derived["per_device_train_batch_size"]
    given = recipe_for("--dataset_name", str(folder), "--per_device_train_batch_size", "256")
    assert "per_device_train_batch_size" not in given.derived  # the loop then refuses it, naming the fix


@pytest.mark.parametrize(("modes", "expected"), [({"pooling_mode_cls_token": True}, "cls"), ({"pooling_mode_mean_tokens": True}, "mean")])
def test_the_start_models_sentence_transformers_pooling_is_read_as_clear_names_it(tmp_path, modes, expected):
    """Property: the pooling declared in modules.json -> 1_Pooling/config.json is CLEAR's; a folder
    without modules.json is not a sentence-transformers model (None); a mode CLEAR cannot express
    is an error naming it."""
    from hf_contrastive.modeling.modeling_clear import write_sentence_transformers_config
    from hf_contrastive.recipes.sources import sentence_transformers_pooling

    assert sentence_transformers_pooling(str(tmp_path)) is None
    write_sentence_transformers_config(tmp_path, expected, 8, 16)
    assert sentence_transformers_pooling(str(tmp_path)) == expected
    path = tmp_path / "1_Pooling" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **modes, "pooling_mode_max_tokens": True}))
    with pytest.raises(ValueError, match="pooling_mode_max_tokens"):
        sentence_transformers_pooling(str(tmp_path))
