"""Tests for hf_contrastive.modeling (SimCLR config, models, image processor): Auto classes,
bit-identical save/load, remote code without the package, training steps on real digits,
transformers' Trainer, and clear errors for bad input."""

import numpy as np
import pytest
import torch
from PIL import Image
from conftest import run_without_package
from safetensors.torch import load_file
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
    ResNetConfig,
    Trainer,
    TrainingArguments,
    ViTConfig,
    pipeline,
)

from hf_contrastive import (
    SimCLRConfig,
    SimCLRForImageClassification,
    SimCLRForPreTraining,
    SimCLRImageProcessor,
    SimCLRModel,
)
from hf_contrastive.data import load_mnist_digits
from hf_contrastive.modeling.modeling_simclr import norm_groups


def tiny_configs():
    """A torchvision ResNet-18 (CIFAR stem, 1 channel) and a small transformers ResNet."""
    return {
        "torchvision": SimCLRConfig(backbone="resnet18", cifar_stem=True, num_channels=1, image_size=16, projection_dim=16),
        "transformers": SimCLRConfig(
            backbone_config=ResNetConfig(
                num_channels=1, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"
            ),
            num_channels=1,
            image_size=16,
            projection_dim=16,
            projection_num_layers=3,
            projection_batch_norm=True,
        ),
    }


@pytest.fixture(params=["torchvision", "transformers"])
def config(request):
    return tiny_configs()[request.param]


def views(batch=4, n_views=2, size=16, channels=1, seed=0):
    return torch.randn(batch, n_views, channels, size, size, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------


def test_config_defaults_and_representation_size():
    assert SimCLRConfig().backbone == "resnet18" and SimCLRConfig().hidden_size == 512
    assert SimCLRConfig(backbone="resnet50").hidden_size == 2048
    assert SimCLRConfig(backbone_config=ViTConfig(hidden_size=48)).hidden_size == 48
    assert SimCLRConfig(num_channels=1).image_mean == [0.1307]
    assert SimCLRConfig(temperature=0.2).base_temperature == 0.2


def test_config_round_trips_through_json_with_a_transformers_backbone(tmp_path):
    config = tiny_configs()["transformers"]
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, SimCLRConfig)
    assert isinstance(loaded.backbone_config, ResNetConfig)
    assert loaded.backbone_config.hidden_sizes == [8, 16] and loaded.projection_batch_norm


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"backbone": "resnet9000"}, "Unknown backbone 'resnet9000'. Use one of"),
        ({"backbone": "resnet18", "backbone_config": ResNetConfig()}, "not both"),
        ({"backbone_config": ResNetConfig(num_channels=3), "num_channels": 1}, "set both to the channel count"),
        ({"loss": "triplet"}, "loss must be 'ntxent' or 'supcon'"),
        ({"image_mean": [0.5, 0.5]}, "one value per channel"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"backbone_norm": "instance"}, r"backbone_norm must be one of \['batch', 'group', 'layer'\]"),
        ({"backbone_norm": "group", "backbone_norm_groups": 0}, "backbone_norm_groups must be a positive integer"),
        ({"backbone_norm_groups": 8}, "backbone_norm_groups=8 is for group norm; set backbone_norm='group' too"),
    ],
)
def test_config_rejects_bad_values_with_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimCLRConfig(**kwargs)


# ---------------------------------------------------------------------------------------------
# Forward passes
# ---------------------------------------------------------------------------------------------


def test_pretraining_output_shapes_and_loss(config):
    model = SimCLRForPreTraining(config)
    output = model(views(batch=4, n_views=3))
    assert output.loss.dtype == torch.float32 and torch.isfinite(output.loss)
    assert output.projections.shape == (4, 3, 16)
    assert output.representations.shape == (4, 3, config.hidden_size)
    as_tuple = model(views(batch=4, n_views=3), return_dict=False)
    assert isinstance(as_tuple, tuple) and as_tuple[0].shape == ()


def test_list_of_views_equals_stacked_views(config):
    model = SimCLRForPreTraining(config).eval()
    stacked = views()
    torch.testing.assert_close(model(stacked).loss, model([stacked[:, 0], stacked[:, 1]]).loss)


def test_supcon_uses_labels_as_positives():
    config = tiny_configs()["torchvision"]
    config.loss, config.temperature, config.base_temperature = "supcon", 0.1, 0.1
    model = SimCLRForPreTraining(config).eval()
    x = views(batch=6)
    same = model(x, labels=torch.zeros(6, dtype=torch.long)).loss
    distinct = model(x, labels=torch.arange(6)).loss
    assert not torch.allclose(same, distinct)
    with pytest.raises(ValueError, match="needs labels"):
        model(x)


def test_group_norm_groups_are_at_most_the_given_number_with_two_channels_a_group():
    assert [norm_groups(c, 32) for c in (1, 2, 4, 16, 24, 64, 96, 2048)] == [1, 1, 2, 8, 12, 32, 32, 32]
    assert norm_groups(64, 8) == 8


@pytest.mark.parametrize("norm", ["group", "layer"])
def test_group_and_layer_norm_backbones_encode_each_image_independently_of_its_batch(config, norm):
    """backbone_norm replaces every batch norm of f (g's stays), so in training mode an image's
    representation is the same alone as in a batch: what makes the cached-gradient step exact. With
    batch norm it is not (the control)."""
    pixels = views()[:, 0]
    batch_norms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in SimCLRModel(config).modules())
    for backbone_norm in ("batch", norm):
        torch.manual_seed(0)
        model = SimCLRModel(SimCLRConfig(**{**config.to_dict(), "backbone_norm": backbone_norm})).train()
        alone, in_batch = model(pixels[:1]).pooler_output, model(pixels).pooler_output[:1]
        if backbone_norm == "batch":
            assert not torch.allclose(alone, in_batch, atol=1e-3)
            continue
        group_norms = [m for m in model.modules() if isinstance(m, torch.nn.GroupNorm)]
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
        assert len(group_norms) == batch_norms
        assert all(m.num_groups == (1 if norm == "layer" else norm_groups(m.num_channels, 32)) for m in group_norms)
        torch.testing.assert_close(alone, in_batch, rtol=1e-4, atol=1e-5)
    head = SimCLRForPreTraining(SimCLRConfig(**{**config.to_dict(), "backbone_norm": norm})).projection_head
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in head.modules()) == config.projection_batch_norm


def randomise_group_norms(model: torch.nn.Module) -> None:
    """Group norm weights unlike their initialisation, so that a load that re-initialised them would show."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.GroupNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator))


def test_a_group_norm_model_saves_and_loads_every_weight(config, tmp_path):
    """from_pretrained rebuilds the group norms from the config: no missing or unexpected key, the
    same weights and outputs."""
    model = SimCLRForPreTraining(SimCLRConfig(**{**config.to_dict(), "backbone_norm": "group"})).eval()
    randomise_group_norms(model)
    model.save_pretrained(tmp_path)
    loaded, info = SimCLRForPreTraining.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    for (name, tensor), (_, loaded_tensor) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(tensor, loaded_tensor), name
    with torch.no_grad():
        assert torch.equal(model(views()).projections, loaded.eval()(views()).projections)


def test_backbone_norm_on_a_backbone_without_batch_norm_is_refused():
    vit = ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=16, patch_size=8, num_channels=1)
    with pytest.raises(ValueError, match="replaces the backbone's batch norm, and this ViTModel has none"):
        SimCLRModel(SimCLRConfig(backbone_config=vit, num_channels=1, image_size=16, backbone_norm="group"))


def test_encoder_outputs(config):
    model = SimCLRModel(config).eval()
    pixels = views()[:, 0]
    output = model(pixels, output_hidden_states=True)
    assert output.pooler_output.shape == (4, config.hidden_size)
    assert output.last_hidden_state.shape[0] == 4 and len(output.hidden_states) >= 2


def test_frozen_classifier_trains_only_the_head_and_keeps_batch_norm_statistics():
    config = tiny_configs()["torchvision"]
    config.freeze_backbone, config.num_labels = True, 3
    model = SimCLRForImageClassification(config).train()
    running_mean = model.simclr.backbone.bn1.running_mean.clone()
    output = model(views()[:, 0], labels=torch.tensor([0, 1, 2, 0]))
    output.loss.backward()
    assert output.logits.shape == (4, 3)
    assert all(p.grad is None for p in model.simclr.parameters())
    assert model.classifier.weight.grad is not None
    assert torch.equal(model.simclr.backbone.bn1.running_mean, running_mean)


def test_bf16_autocast_and_channels_last(config):
    model = SimCLRForPreTraining(config).eval()
    x = views()
    reference = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x)
    assert low.loss.dtype == torch.float32 and torch.isfinite(low.loss)
    model = model.to(memory_format=torch.channels_last)
    cl = model(x.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (4, 2)))
    torch.testing.assert_close(cl.projections, reference.projections, rtol=1e-4, atol=1e-4)


def test_gradient_checkpointing_gives_the_same_gradients():
    config = tiny_configs()["torchvision"]
    torch.manual_seed(0)
    model = SimCLRForPreTraining(config).eval()  # eval: batch norm statistics are not updated twice
    x = views()
    model(x).loss.backward()
    reference = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.activation_checkpointing_enable()
    assert model.simclr.backbone.gradient_checkpointing
    model.train()
    model.simclr.backbone.eval()
    model.projection_head.eval()
    model(x).loss.backward()
    for expected, param in zip(reference, model.parameters()):
        torch.testing.assert_close(param.grad, expected)


# ---------------------------------------------------------------------------------------------
# Save / load
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_class", [SimCLRModel, SimCLRForPreTraining, SimCLRForImageClassification])
def test_save_then_load_is_bit_identical(model_class, config, tmp_path):
    model = model_class(config).eval()
    inputs = views() if model_class is SimCLRForPreTraining else views()[:, 0]
    with torch.no_grad():
        before = model(inputs, return_dict=False)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and not list(tmp_path.glob("*.bin"))
    loaded = model_class.from_pretrained(tmp_path).eval()
    for (name, tensor), (_, loaded_tensor) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(tensor, loaded_tensor), name
    with torch.no_grad():
        after = loaded(inputs, return_dict=False)
    for a, b in zip(before, after):
        assert torch.equal(a, b)


def test_pretraining_checkpoint_loads_as_encoder_and_as_classifier(config, tmp_path, caplog):
    pretraining = SimCLRForPreTraining(config).eval()
    pretraining.save_pretrained(tmp_path)
    pixels = views()[:, 0]

    encoder = AutoModel.from_pretrained(tmp_path).eval()
    assert type(encoder) is SimCLRModel
    assert not any(key.startswith("projection_head") for key in encoder.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(encoder(pixels).pooler_output, pretraining.simclr(pixels).pooler_output, rtol=0, atol=0)

    classifier = AutoModelForImageClassification.from_pretrained(tmp_path, num_labels=5).eval()
    assert type(classifier) is SimCLRForImageClassification and classifier.classifier.out_features == 5
    with torch.no_grad():
        assert torch.equal(classifier.simclr(pixels).pooler_output, pretraining.simclr(pixels).pooler_output)
    assert type(AutoModelForPreTraining.from_pretrained(tmp_path)) is SimCLRForPreTraining


REMOTE_SCRIPT = """
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import AutoImageProcessor, AutoModel

folder, out = sys.argv[1], sys.argv[2]
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
pixels = processor(Image.open(folder + "/probe.png"), return_tensors="pt")["pixel_values"]
with torch.no_grad():
    pooled = model(pixels).pooler_output
save_file({"pooled": pooled.contiguous(), "pixels": pixels.contiguous()}, out)
RESULT = {"class": type(model).__module__ + "." + type(model).__name__}
"""


@pytest.mark.parametrize("backbone", ["torchvision", "transformers", "transformers-group-norm"])
def test_remote_code_loads_without_the_package(backbone, tmp_path):
    """Also with backbone_norm="group": the remote code rebuilds the group norms the weights are for."""
    config = tiny_configs()[backbone.removesuffix("-group-norm")]
    if backbone.endswith("group-norm"):
        config = SimCLRConfig(**{**config.to_dict(), "backbone_norm": "group"})
    folder = tmp_path / "model"
    model = SimCLRForPreTraining(config).eval()
    randomise_group_norms(model)
    model.save_pretrained(folder)
    processor = SimCLRImageProcessor.from_simclr_config(config)
    processor.save_pretrained(folder)
    probe = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8))
    probe.save(folder / "probe.png")
    report = run_without_package(REMOTE_SCRIPT, str(folder), str(tmp_path / "out.safetensors"), workdir=tmp_path)
    assert report["package_importable"] is False
    assert report["class"].startswith("transformers_modules.") and report["class"].endswith("modeling_simclr.SimCLRModel")
    remote = load_file(tmp_path / "out.safetensors")
    local_pixels = processor(probe, return_tensors="pt")["pixel_values"]
    assert torch.equal(remote["pixels"], local_pixels)
    with torch.no_grad():
        assert torch.equal(remote["pooled"], model.simclr(local_pixels).pooler_output)


def test_image_processor_handles_any_mode_and_matches_training_statistics(tmp_path):
    config = tiny_configs()["torchvision"]
    processor = SimCLRImageProcessor.from_simclr_config(config)
    processor.save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is SimCLRImageProcessor and loaded.num_channels == 1
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    images = [
        rgb, rgb.convert("L"), rgb.convert("RGBA"), rgb.convert("P"), rgb.convert("CMYK"),
        Image.fromarray(rng.integers(0, 65536, (30, 40), dtype=np.uint16)), torch.randint(0, 256, (3, 9, 7), dtype=torch.uint8),
    ]  # fmt: skip
    pixels = loaded(images, return_tensors="pt")["pixel_values"]
    assert pixels.shape == (len(images), 1, 16, 16) and pixels.dtype == torch.float32
    low, high = (0 - 0.1307) / 0.3081, (1 - 0.1307) / 0.3081
    assert pixels.min() >= low - 1e-5 and pixels.max() <= high + 1e-5
    # a white image is normalised with the training statistics
    white = loaded(Image.new("L", (16, 16), 255), return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(white, torch.full((1, 1, 16, 16), high))


def test_image_feature_extraction_pipeline(tmp_path):
    config = tiny_configs()["transformers"]
    SimCLRForPreTraining(config).save_pretrained(tmp_path)
    SimCLRImageProcessor.from_simclr_config(config).save_pretrained(tmp_path)
    extractor = pipeline("image-feature-extraction", model=str(tmp_path), device="cpu")
    features = extractor(Image.new("RGB", (20, 20), (10, 200, 30)), pool=True, return_tensors=True)
    assert features.shape == (1, config.hidden_size)


# ---------------------------------------------------------------------------------------------
# Training on real digits
# ---------------------------------------------------------------------------------------------


def digit_views(n_images=64, n_views=2, seed=0):
    from hf_contrastive.augment.vision import MultiViewTransform, SimCLRViewTransform

    torch.manual_seed(seed)
    transform = MultiViewTransform(SimCLRViewTransform.from_preset("digits", size=16), n_views=n_views)
    digits = load_mnist_digits("train").select(range(n_images))
    return torch.stack([transform(image) for image in digits["image"]]), torch.tensor(digits["label"])


def test_a_few_optimisation_steps_on_real_digits_reduce_the_loss():
    torch.manual_seed(0)
    pixel_values, _ = digit_views()
    model = SimCLRForPreTraining(tiny_configs()["transformers"]).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = model(pixel_values).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1, losses


def test_transformers_trainer_trains_it(tmp_path):
    from hf_contrastive.augment.vision import SimCLRViewTransform
    from hf_contrastive.data.collators import SimCLRDataCollator

    torch.manual_seed(0)
    model = SimCLRForPreTraining(tiny_configs()["torchvision"])
    collator = SimCLRDataCollator(SimCLRViewTransform.from_preset("digits", size=16), n_views=2)
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=16, learning_rate=1e-3,
        report_to=[], remove_unused_columns=False, logging_steps=1, save_strategy="no", use_cpu=True,
    )  # fmt: skip
    trainer = Trainer(model=model, args=args, train_dataset=load_mnist_digits("train").select(range(64)), data_collator=collator)
    before = [p.detach().clone() for p in model.parameters()]
    result = trainer.train()
    assert result.global_step == 3 and np.isfinite(result.training_loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_bad_input_gives_clear_errors():
    model = SimCLRForPreTraining(tiny_configs()["torchvision"])
    with pytest.raises(ValueError, match="has 3 channels but the model expects 1"):
        model(views(channels=3))
    with pytest.raises(ValueError, match="empty batch"):
        model(views(batch=0))
    with pytest.raises(ValueError, match="at least 2 samples in the global batch"):
        model(views(batch=1))
    with pytest.raises(ValueError, match=r"\(batch_size, n_views, channels, height, width\)"):
        model(views()[:, 0])
    with pytest.raises(ValueError, match="Unknown backbone"):
        SimCLRForPreTraining(SimCLRConfig(backbone="resnet7"))


def test_pretrained_torchvision_weights_from_a_local_file(tmp_path):
    """load_pretrained_backbone takes a torchvision state dict the user has (here a safetensors file
    of a torchvision ResNet-18); the matching layers take its weights, the rest stay random. A
    group-norm backbone refuses them (they were trained with batch norm) and stays as it was."""
    import torchvision
    from safetensors.torch import save_file

    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    model = SimCLRModel(SimCLRConfig(backbone="resnet18", image_size=64))
    model.load_pretrained_backbone(str(path))
    assert torch.equal(model.backbone.layer3[0].conv1.weight, reference.layer3[0].conv1.weight)
    assert torch.equal(model.backbone.conv1.weight, reference.conv1.weight)
    assert model.config.pretrained_backbone == str(path)
    group_norm = SimCLRModel(SimCLRConfig(backbone="resnet18", image_size=64, backbone_norm="group"))
    before = group_norm.backbone.bn1.weight.clone()
    with pytest.raises(ValueError, match="trained with batch norm.*Train it from scratch, or keep backbone_norm='batch'"):
        group_norm.load_pretrained_backbone(str(path))
    assert torch.equal(group_norm.backbone.bn1.weight, before) and group_norm.config.pretrained_backbone is None
