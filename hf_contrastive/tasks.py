"""What the shared training loop needs from each modality: model, data, views, evaluation.

A task exposes `model`, `train_dataset`, `collate` (deterministic: raw examples -> tensors, run by
the data loader), `make_inputs(batch, device)` (the random part of a step: views, masks; the loop
seeds it), `evaluate(model, baselines)` and `save_preprocessor(output_dir)`.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from accelerate import Accelerator
from torchvision.transforms.v2 import functional as TF

from .augment.vision import BatchedSimCLRViews
from .data.loading import find_column, load_split
from .evaluation import flatten_pixels, knn_accuracy, linear_probe_accuracy
from .modeling import SimCLRConfig, SimCLRForPreTraining, SimCLRImageProcessor, SimCLRModel
from .modeling.image_processing_simclr import to_uint8_tensor
from .training import parse_json_or_mapping

# The CPU default recipe: a small ResNet (basic blocks, 32-64-128 channels) on the 28 px digits.
# ResNet-18 learns too little in a few CPU minutes to show (ENVIRONMENT.md: 33 images/s).
DEFAULT_SIMCLR_CONFIG = {
    "backbone_config": {
        "model_type": "resnet", "num_channels": 1, "embedding_size": 32, "hidden_sizes": [32, 64, 128],
        "depths": [1, 1, 1], "layer_type": "basic", "downsample_in_first_stage": False,
    },
    "num_channels": 1,
    "image_size": 28,
    "projection_dim": 64,
    "temperature": 0.5,
}  # fmt: skip


def evaluation_subset(dataset, limit: Optional[int]):
    """The first `limit` examples (all with `limit=None`), as `--max_eval_samples` asks."""
    return dataset.select(range(min(limit, len(dataset)))) if limit else dataset


def probe_scores(train_x, train_y, test_x, test_y, prefix: str = "") -> dict[str, float]:
    """Linear-probe and weighted-kNN accuracy of frozen features, fit on train, scored on test."""
    return {
        f"{prefix}linear_accuracy": linear_probe_accuracy(train_x, train_y, test_x, test_y)["accuracy"],
        f"{prefix}knn_accuracy": knn_accuracy(train_x, train_y, test_x, test_y),
    }


class SimCLRTask:
    # the default recipe's training options (configs/simclr_mnist.yaml): about 2 minutes on 2 CPU cores
    recipe_defaults = {"per_device_train_batch_size": 256, "optimizer": "lars", "weight_decay": 1e-6, "num_train_epochs": 50}
    def __init__(self, model_args, data_args, args, accelerator: Accelerator) -> None:
        self.args, self.data_args, self.accelerator = args, data_args, accelerator
        dataset_name = data_args.dataset_name or "mnist_digits"
        train = load_split(dataset_name, data_args.train_split, data_args.dataset_config_name)
        if data_args.max_train_samples:
            train = train.select(range(min(data_args.max_train_samples, len(train))))
        self.image_column = find_column(train, data_args.image_column, "image")
        loss = args.loss or "ntxent"
        self.label_column = find_column(train, data_args.label_column, "label", required=loss == "supcon")
        overrides = parse_json_or_mapping(model_args.model_config, "model_config")
        if model_args.model_name_or_path:
            self.model = SimCLRForPreTraining.from_pretrained(model_args.model_name_or_path, **overrides)
        else:
            fields = {**(DEFAULT_SIMCLR_CONFIG if not overrides.get("backbone") else {}), **overrides}
            self.model = SimCLRForPreTraining(SimCLRConfig(**fields))
        config = self.model.config
        config.loss = loss
        if args.temperature is not None:
            config.temperature = config.base_temperature = args.temperature
        self.config = config
        self.train_dataset = train
        self.eval_splits = None
        if data_args.eval_split:
            self.eval_splits = (
                evaluation_subset(train, data_args.max_eval_samples),
                evaluation_subset(load_split(dataset_name, data_args.eval_split, data_args.dataset_config_name), data_args.max_eval_samples),
            )
        preset = data_args.view_preset or ("digits" if config.num_channels == 1 else ("cifar" if config.image_size <= 64 else "imagenet"))
        self.view_preset = preset
        self.views = BatchedSimCLRViews.from_preset(
            preset, size=config.image_size, num_channels=config.num_channels, mean=config.image_mean, std=config.image_std,
            **parse_json_or_mapping(data_args.view_overrides, "view_overrides"),
        )  # fmt: skip
        self.processor = SimCLRImageProcessor.from_simclr_config(config)

    def _fixed_size_uint8(self, image: Any) -> torch.Tensor:
        """Deterministic part: channels, then shorter side to image_size and a centre crop, so a batch
        stacks; the random crop of the views then works on this image."""
        tensor = to_uint8_tensor(image, self.config.num_channels)
        size = self.config.image_size
        if tensor.shape[-2:] != (size, size):
            tensor = TF.center_crop(TF.resize(tensor, size, antialias=True), [size, size])
        return tensor

    def collate(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        batch = {"images": torch.stack([self._fixed_size_uint8(e[self.image_column]) for e in examples])}
        if self.label_column is not None:
            batch["labels"] = torch.tensor([int(e[self.label_column]) for e in examples])
        return batch

    def make_inputs(self, batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
        images = batch["images"].to(device, non_blocking=True)
        inputs = {"pixel_values": self.views.to(device).multi_view(images, n_views=self.args.n_views)}
        if self.config.loss == "supcon":
            inputs["labels"] = batch["labels"].to(device)
        return inputs

    def _normalised(self, images: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.config.image_mean).view(1, -1, 1, 1)
        std = torch.tensor(self.config.image_std).view(1, -1, 1, 1)
        return (images.float() / 255 - mean) / std

    def _features(self, encoder: SimCLRModel, dataset) -> tuple[torch.Tensor, torch.Tensor]:
        was_training = encoder.training
        encoder.eval()
        device = next(encoder.parameters()).device
        features, labels = [], []
        batch_size = self.args.per_device_eval_batch_size
        with torch.no_grad():
            for start in range(0, len(dataset), batch_size):
                rows = dataset[start : start + batch_size]
                images = torch.stack([self._fixed_size_uint8(image) for image in rows[self.image_column]])
                features.append(encoder(self._normalised(images).to(device)).pooler_output.float().cpu())
                labels.extend(int(label) for label in rows[self.eval_label_column])
        encoder.train(was_training)
        return torch.cat(features), torch.tensor(labels)

    @property
    def eval_label_column(self) -> str:
        return self.label_column or find_column(self.train_dataset, self.data_args.label_column, "label")

    def evaluate(self, model: SimCLRForPreTraining, baselines: bool = True) -> dict[str, float]:
        """Linear-probe and weighted-kNN accuracy of h on the evaluation split (classifier fit on the
        training split), and with `baselines` the same for the raw pixels and for this architecture
        untrained."""
        if self.eval_splits is None or not self.accelerator.is_main_process:
            return {}
        train, test = self.eval_splits
        results = self._probe(model.simclr, train, test, prefix="")
        if baselines:
            torch.manual_seed(self.args.seed)
            random_encoder = SimCLRModel(self.config).to(next(model.parameters()).device)
            results.update(self._probe(random_encoder, train, test, prefix="random_encoder_"))
            pixels = [flatten_pixels([self._fixed_size_uint8(image) for image in split[self.image_column]]) for split in (train, test)]
            labels = [torch.tensor(split[self.eval_label_column]) for split in (train, test)]
            results["raw_pixels_linear_accuracy"] = linear_probe_accuracy(pixels[0], labels[0], pixels[1], labels[1])["accuracy"]
        return results

    def _probe(self, encoder, train, test, prefix: str) -> dict[str, float]:
        return probe_scores(*self._features(encoder, train), *self._features(encoder, test), prefix=prefix)

    def save_preprocessor(self, output_dir: str) -> None:
        self.processor.save_pretrained(output_dir)

    def extra_train_results(self) -> dict:
        """What train_results.json records beyond the loop's figures: the views' resolved parameters."""
        return {"views": {"preset": self.view_preset, **self.views.to_dict()}}


def build_task(model_args, data_args, args, accelerator: Accelerator):
    if model_args.model == "simclr":
        return SimCLRTask(model_args, data_args, args, accelerator)
    if model_args.model == "clear":
        from .tasks_clear import CLEARTask

        return CLEARTask(model_args, data_args, args, accelerator)
    raise ValueError(f"--model must be 'simclr' or 'clear', got {model_args.model!r}.")
