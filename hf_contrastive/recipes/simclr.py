"""The SimCLR / SupCon recipe: images, their views, the encoder, and the linear / kNN evaluation.

Before the model is built, the recipe looks at a seeded sample of the training images
(`image_statistics`) and derives what the data decides (`derive_image_defaults`): the channels (1
if every sampled image is grayscale, else 3), the training size (the data's own up to 64 px, else
224), the ResNet stem (SimCLR's 3x3 stride-1 stem for small images, the ImageNet stem for large
ones), the views' preset and the normalisation statistics. Each derived value is logged, recorded
in `train_results.json`, shown in the card, and yields to its option (`--num_channels`,
`--image_size`, `--view_preset`, `--model_config`), to a starting checkpoint's config, and to
`--loss` / `--temperature` / `--n_views`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from torch.utils.data import DataLoader
from datasets import Image as DatasetsImage

from ..augment.vision import BatchedSimCLRViews, crop_source, stack_on_canvas
from ..data.loading import describe_source, drop_unreadable_images, find_column, first_rows
from ..evaluation import extract_features, probe_scores
from ..modeling import SimCLRConfig, SimCLRForPreTraining, SimCLRImageProcessor, SimCLRModel
from ..modeling.image_processing_simclr import match_channels, to_uint8_tensor
from ..training.arguments import parse_json_or_mapping
from .sources import (
    build_config, checkpoint_fields, fitting_batch_size, load_checkpoint_config, load_pretrained, load_recipe_data, merge_fields,
    rows_to_train_on,
)  # fmt: skip

logger = get_logger(__name__)


@dataclass(frozen=True)
class SimCLRDefaults:
    """Every default of the SimCLR recipe (CPU-sized: a few minutes on 2 cores for the embedded digits)."""

    # training options (their command-line names)
    dataset_name: str = "mnist_digits"
    output_dir: str = "outputs/simclr-default"
    per_device_train_batch_size: int = 256
    optimizer: str = "lars"  # learning rate: SimCLR's rule from the global batch (--lr_scaling)
    weight_decay: float = 1e-6
    num_train_epochs: float = 60
    # the model (SimCLRConfig fields the recipe sets)
    temperature: float = 0.5  # SimCLR's CIFAR-10 value
    n_views: int = 2
    projection_dim: int = 64
    # the encoder: a small ResNet (basic blocks); ResNet-18 learns too little in a few CPU minutes
    embedding_size: int = 16
    hidden_sizes: tuple[int, ...] = (16, 32, 64, 128)
    depths: tuple[int, ...] = (1, 1, 1, 1)
    # what is derived from the data
    small_image_max: int = 64  # images up to this side keep their size and get the 3x3 stride-1 stem
    large_image_size: int = 224  # larger images are trained at this size with the ImageNet stem
    statistics_sample: int = 1000  # images sampled (seeded) to derive channels, size and statistics
    # the raw-pixel baseline: larger processed images are area-averaged to this side (a linear probe
    # on 150,528 pixel values of 224 px images took over half an hour on 1,200 images here)
    raw_pixel_side: int = 32

    def options(self) -> dict[str, Any]:
        """The defaults that are command-line options, for `--help`."""
        names = ("dataset_name", "output_dir", "per_device_train_batch_size", "optimizer", "weight_decay",
                 "num_train_epochs", "temperature", "n_views")  # fmt: skip
        return {name: getattr(self, name) for name in names}

    def training_defaults(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("per_device_train_batch_size", "optimizer", "weight_decay", "num_train_epochs")}


@dataclass
class ImageStatistics:
    """What a seeded sample of the training images says."""

    sampled: int
    grayscale: bool  # every sampled image has equal channels (or one channel)
    typical_size: int  # median shorter side, px
    mean: dict[int, list[float]] = field(default_factory=dict)  # {1: [...], 3: [...]}: per channel, pixels in [0, 1]
    std: dict[int, list[float]] = field(default_factory=dict)


def image_statistics(dataset, image_column: str, sample_size: int, seed: int) -> ImageStatistics:
    """Channels, typical size and per-channel mean / std (as 1 and as 3 channels) of up to
    `sample_size` images drawn with `seed`, each converted as training converts it (alpha over
    white). Every image weighs the same in the statistics, whatever its size."""
    count = min(sample_size, len(dataset))
    indices = np.sort(np.random.default_rng(seed).choice(len(dataset), size=count, replace=False))
    grayscale, sides = True, []
    moments = {1: np.zeros((2, 1)), 3: np.zeros((2, 3))}
    for index in indices.tolist():  # one image decoded at a time
        rgb = to_uint8_tensor(dataset[index][image_column], 3)
        grayscale = grayscale and bool((rgb[0] == rgb[1]).all() and (rgb[1] == rgb[2]).all())
        sides.append(min(rgb.shape[-2:]))
        for channels, tensor in ((3, rgb), (1, match_channels(rgb, 1))):
            pixels = tensor.flatten(1).double() / 255
            moments[channels] += torch.stack([pixels.mean(1), (pixels**2).mean(1)]).numpy()
    mean = {c: (m[0] / count) for c, m in moments.items()}
    std = {c: np.sqrt(np.maximum(m[1] / count - mean[c] ** 2, 1e-12)) for c, m in moments.items()}
    return ImageStatistics(
        sampled=count, grayscale=grayscale, typical_size=int(np.median(sides)),
        mean={c: [round(float(v), 4) for v in mean[c]] for c in mean},
        std={c: [round(float(v), 4) for v in std[c]] for c in std},
    )  # fmt: skip


def derive_image_defaults(stats: ImageStatistics, defaults: SimCLRDefaults) -> dict[str, Any]:
    """The model choices the data decides (before any option overrides them; the views' preset
    follows from the resulting channels and size)."""
    num_channels = 1 if stats.grayscale else 3
    small = stats.typical_size <= defaults.small_image_max
    image_size = stats.typical_size if small else defaults.large_image_size
    return {
        "num_channels": num_channels,
        "image_size": image_size,
        "cifar_stem": small,
        "image_mean": stats.mean[num_channels],
        "image_std": stats.std[num_channels],
    }


def _backbone(defaults: SimCLRDefaults, num_channels: int, small: bool) -> dict[str, Any]:
    """The recipe's ResNet. Small images: SimCLR's 3x3 stride-1 stem, then a first stage of stride 2
    (a full-resolution first stage costs about 4x the CPU time at 28 px);
    large images: the ImageNet stem (stride 4), a stride-1 first stage."""
    return {
        "model_type": "resnet", "num_channels": num_channels, "embedding_size": defaults.embedding_size,
        "hidden_sizes": list(defaults.hidden_sizes), "depths": list(defaults.depths), "layer_type": "basic",
        "downsample_in_first_stage": small,
    }  # fmt: skip


def _normalisation(fields: dict[str, Any]) -> str:
    """The backbone's normalisation a SimCLR config's fields ask for, in words ("batch norm", "group norm
    of up to 32 groups", "layer norm")."""
    norm = fields.get("backbone_norm", "batch")
    return f"group norm of up to {fields.get('backbone_norm_groups', 32)} groups" if norm == "group" else f"{norm} norm"


class SimCLRRecipe:
    """SimCLR (Chen et al. 2020) or SupCon (Khosla et al. 2020, `loss="supcon"`) on any image data."""

    name = "simclr"

    def __init__(self, model_args, data_args, args, accelerator: Accelerator, defaults: SimCLRDefaults = SimCLRDefaults()) -> None:
        self.model_args, self.data_args, self.args, self.accelerator = model_args, data_args, args, accelerator
        self.defaults = defaults
        self.dataset_name = data_args.dataset_name or defaults.dataset_name
        overrides = parse_json_or_mapping(model_args.model_config, "model_config")
        wants_labels = args.loss == "supcon" or (args.loss is None and overrides.get("loss") == "supcon")
        self.data = load_recipe_data(data_args, args.seed, self.dataset_name)
        self.image_column = find_column(self.data.train, data_args.image_column, "image")
        self.label_column = find_column(self.data.train, data_args.label_column, "label", required=wants_labels)
        self._drop_unreadable_images()
        #: what the loader iterates: the training rows, or this process's part of the stream
        self.train_dataset = rows_to_train_on(self.data, data_args, accelerator, args.seed)

        self.statistics = image_statistics(self.data.train, self.image_column, defaults.statistics_sample, args.seed)
        self.config, self.derived = self._config(overrides)
        if self.config.loss == "supcon" and self.label_column is None:
            self.label_column = find_column(self.data.train, data_args.label_column, "label")  # names the fix
        path = model_args.model_name_or_path
        self.model = (
            load_pretrained(SimCLRForPreTraining, path, config=self.config) if path else SimCLRForPreTraining(self.config)
        )
        # channels-last convolution weights: about 1.6x faster training steps for the recipe's ResNet on
        # the CPU (benchmarks/bench_simclr_step.py); the saved weights are the same values
        self.model.to(memory_format=torch.channels_last)
        self.n_views = self.config.n_views
        digits = self.dataset_name == "mnist_digits"
        view_preset = data_args.view_preset or self._preset_for(self.config, digits)
        if not data_args.view_preset:
            self.derived["view_preset"] = view_preset
        self.view_preset = view_preset
        self.views = BatchedSimCLRViews.from_preset(
            view_preset, size=self.config.image_size, num_channels=self.config.num_channels,
            mean=self.config.image_mean, std=self.config.image_std,
            **parse_json_or_mapping(data_args.view_overrides, "view_overrides"),
        )  # fmt: skip
        self.processor = SimCLRImageProcessor.from_simclr_config(self.config)
        self.training_defaults = defaults.training_defaults()
        if args.per_device_train_batch_size is None and self.data.stream is None:
            batch = fitting_batch_size(defaults.per_device_train_batch_size, len(self.data.train), accelerator.num_processes)
            if batch != defaults.per_device_train_batch_size:
                self.training_defaults["per_device_train_batch_size"] = self.derived["per_device_train_batch_size"] = batch
        logger.info(self._derived_line(), main_process_only=True)

    def _drop_unreadable_images(self) -> None:
        """Skip the few images that cannot be read (named in the log); refuse a data set with more.
        (With --streaming, the rows read into memory are checked; a stream's unreadable image stops
        the run with PIL's error when its batch is made.)"""
        parts = self.data.drop_rows(lambda rows, what: drop_unreadable_images(rows, self.image_column, what), self.dataset_name)
        skipped = [file for part in parts for file in part]
        if skipped:
            logger.warning(f"Skipped {len(skipped)} unreadable image(s): {'; '.join(skipped[:10])}", main_process_only=True)

    # ---- the model config, from its sources -------------------------------------------------------------

    def _config(self, overrides: dict) -> tuple[SimCLRConfig, dict]:
        """The config (see `sources` for the precedence) and the derived values it kept."""
        model_args, args, defaults = self.model_args, self.args, self.defaults
        derived = derive_image_defaults(self.statistics, defaults)
        path = model_args.model_name_or_path
        if path:
            checkpoint = load_checkpoint_config(path)
            if checkpoint.model_type != "simclr":
                raise ValueError(
                    f"--model_name_or_path {path} holds a {checkpoint.model_type!r} model; --model simclr starts from a "
                    "SimCLR folder (use --model clear for a CLEAR or masked-LM start)."
                )
            fields, derived, sources = checkpoint_fields(checkpoint), {}, f"the checkpoint {path}"
            trained, asked = _normalisation(fields), _normalisation({**fields, **overrides})
            if asked != trained:
                raise ValueError(
                    f"--model_config asks for {asked} in place of the {trained} the checkpoint {path} was trained with: its "
                    "weights would be normalised differently. Leave backbone_norm out to start from it, or train the other "
                    "normalisation from scratch (without --model_name_or_path)."
                )
        else:
            fields = {
                "temperature": defaults.temperature, "n_views": defaults.n_views, "projection_dim": defaults.projection_dim,
                "backbone_config": _backbone(defaults, derived["num_channels"], derived["cifar_stem"]),
                **{k: derived[k] for k in ("num_channels", "image_size", "cifar_stem", "image_mean", "image_std")},
            }  # fmt: skip
            sources = "the recipe's defaults and the data"
        fields = merge_fields(fields, overrides, nested=("backbone_config",))
        if overrides:
            sources += ", --model_config"
        if "backbone" in overrides and "backbone_config" not in overrides:
            fields.pop("backbone_config", None)  # a torchvision ResNet replaces the derived transformers one
        cli = {
            "num_channels": model_args.num_channels, "image_size": model_args.image_size, "loss": args.loss,
            "temperature": args.temperature, "n_views": args.n_views,
        }  # fmt: skip
        cli = {k: v for k, v in cli.items() if v is not None}
        if cli:
            sources += ", " + ", ".join(f"--{k}" for k in cli)
        fields.update(cli)
        if "temperature" in cli and "base_temperature" not in overrides:
            fields["base_temperature"] = None  # follows the temperature
        user = {**overrides, **cli}
        if not path and "num_channels" in user:  # the backbone's input and the statistics follow the channels
            channels = fields["num_channels"]
            backbone = fields.get("backbone_config")
            if isinstance(backbone, dict) and "num_channels" not in overrides.get("backbone_config", {}):
                fields["backbone_config"] = {**backbone, "num_channels": channels}
            if "image_mean" not in user:
                fields["image_mean"] = self.statistics.mean.get(channels)
                fields["image_std"] = self.statistics.std.get(channels)
        if not path and "image_size" in user and "cifar_stem" not in user:  # the stem follows the size
            fields["cifar_stem"] = fields["image_size"] <= defaults.small_image_max
            backbone = fields.get("backbone_config")
            if isinstance(backbone, dict) and "downsample_in_first_stage" not in overrides.get("backbone_config", {}):
                fields["backbone_config"] = {**backbone, "downsample_in_first_stage": fields["cifar_stem"]}
        kept = {k: v for k, v in derived.items() if k not in user}
        return build_config(SimCLRConfig, fields, sources), kept

    def _preset_for(self, config: SimCLRConfig, digits: bool) -> str:
        if config.num_channels == 1:
            return "digits" if digits else "grayscale"
        return "cifar" if config.image_size <= self.defaults.small_image_max else "imagenet"

    def _derived_line(self) -> str:
        c = self.config
        stem = "3x3 stride-1 stem" if c.cifar_stem else "ImageNet stem"
        return (
            f"Data: {self.dataset_name} ({self._training_rows()}; evaluation: {self.data.eval_source}). "
            f"From {self.statistics.sampled} sampled images ({'all grayscale' if self.statistics.grayscale else 'colour'}, "
            f"typical side {self.statistics.typical_size} px): num_channels={c.num_channels}, image_size={c.image_size}, "
            f"{stem}, view preset {self.view_preset}, mean {c.image_mean}, std {c.image_std}. Derived (not given): "
            f"{sorted(self.derived) or 'none'}; override with --num_channels, --image_size, --view_preset, --model_config."
        )

    def _training_rows(self) -> str:
        if self.data.stream is not None:
            return f"streamed; the first {len(self.data.train):,} training rows derive the defaults"
        return f"{len(self.data.train)} training rows"

    # ---- training --------------------------------------------------------------------------------------

    def _source_uint8(self, image: Any) -> torch.Tensor:
        """Deterministic part, in the loader (its workers when there are): decode, channels, and the
        whole image shrunk only when it is much larger than a view (`crop_source`)."""
        if isinstance(image, dict):  # an encoded image of a stream (see data.streaming)
            image = DatasetsImage().decode_example(image)
        return crop_source(to_uint8_tensor(image, self.config.num_channels), self.config.image_size)

    def collate(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        """The batch's whole images on one canvas with their sizes: each view's random crop (in
        `make_inputs`, seeded by the step) is drawn from the whole image, as SimCLR's
        RandomResizedCrop is, whatever its shape."""
        images, sizes = stack_on_canvas([self._source_uint8(e[self.image_column]) for e in examples])
        batch = {"images": images, "sizes": sizes}
        if self.config.loss == "supcon":
            batch["labels"] = torch.tensor([int(e[self.label_column]) for e in examples])
        return batch

    def make_inputs(self, batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
        images = batch["images"].to(device, non_blocking=True)
        inputs = {"pixel_values": self.views.to(device).multi_view(images, n_views=self.config.n_views, sizes=batch["sizes"])}
        if self.config.loss == "supcon":
            inputs["labels"] = batch["labels"].to(device)
        return inputs

    # ---- evaluation ------------------------------------------------------------------------------------

    def processed_batches(self, dataset, processor: SimCLRImageProcessor, label_column: str) -> list[dict[str, torch.Tensor]]:
        """`dataset` as batches of `{"pixel_values", "labels"}`, every image prepared by `processor`
        (the saved image processor: exactly what a user of the published model runs)."""

        def collate(rows: list[dict]) -> dict[str, torch.Tensor]:
            pixels = processor([row[self.image_column] for row in rows], return_tensors="pt")["pixel_values"]
            return {"pixel_values": pixels, "labels": torch.tensor([int(row[label_column]) for row in rows])}

        return list(DataLoader(dataset, batch_size=self.args.per_device_eval_batch_size, collate_fn=collate))

    def evaluate(self, model: SimCLRForPreTraining, preprocessor_dir: Optional[str] = None, baselines: bool = True) -> dict[str, float]:
        """Linear-probe and weighted-kNN accuracy of h on the evaluation rows (classifier fit on the
        training rows), every image prepared by the saved image processor; with `baselines` the
        same for this architecture untrained and the processed pixels (area-averaged to
        `raw_pixel_side` when larger)."""
        label_column = self.label_column or find_column(self.data.train, self.data_args.label_column, "label", required=False)
        if self.data.eval is None or label_column is None:
            return {}
        processor = SimCLRImageProcessor.from_pretrained(preprocessor_dir) if preprocessor_dir else self.processor
        limit = self.data_args.max_eval_samples
        # each split goes through the processor once; its batches then feed every representation
        splits = [self.processed_batches(first_rows(split, limit), processor, label_column) for split in (self.data.train, self.data.eval)]

        def probe(encoder, prefix: str) -> dict[str, float]:
            (train_x, train_y), (test_x, test_y) = [extract_features(encoder, batches, disable_tqdm=True) for batches in splits]
            return probe_scores(train_x, train_y, test_x, test_y, prefix=prefix)

        results = probe(model.simclr, "")
        if baselines:
            torch.manual_seed(self.args.seed)
            results.update(probe(SimCLRModel(self.config).to(next(model.parameters()).device), "random_encoder_"))
            (train_x, train_y), (test_x, test_y) = [
                (torch.cat([self._raw_pixels(b["pixel_values"]) for b in batches]), torch.cat([b["labels"] for b in batches]))
                for batches in splits
            ]
            results.update(probe_scores(train_x, train_y, test_x, test_y, prefix="raw_pixels_"))
        return results

    def _raw_pixels(self, pixel_values: torch.Tensor) -> torch.Tensor:
        side = self.defaults.raw_pixel_side
        if pixel_values.shape[-1] > side:
            pixel_values = torch.nn.functional.adaptive_avg_pool2d(pixel_values, side)
        return pixel_values.flatten(1)

    # ---- what is saved ---------------------------------------------------------------------------------

    def chance_loss(self, global_batch: int) -> tuple[str, Optional[float]]:
        """NT-Xent when every view is equally similar to every other, log(V N - 1) for N images of
        V views (nothing learnt, or a collapse). None for SupCon: with few classes its reachable
        range above its floor, log(positives), is a few percent of that value, too narrow to tell
        a stuck run from a slow one."""
        if self.config.loss == "supcon":
            return "loss", None
        return "loss", math.log(self.n_views * global_batch - 1)

    def save_preprocessor(self, output_dir: str) -> None:
        self.processor.save_pretrained(output_dir)

    def resolved_options(self) -> dict[str, Any]:
        return {**asdict(self.model_args), **asdict(self.data_args), "dataset_name": self.dataset_name}

    def train_results(self) -> dict[str, Any]:
        rows = None if self.data.stream is not None else len(self.data.train) + (len(self.data.eval) if self.data.eval is not None else 0)
        return {
            "data": {"dataset_name": self.dataset_name, **describe_source(self.dataset_name, rows, "images"), **self.data.describe()},
            "derived": self.derived,
            "image_statistics": asdict(self.statistics),
            "views": {"preset": self.view_preset, **self.views.to_dict()},
            "heldout_indices": self.data.heldout_indices,
        }
