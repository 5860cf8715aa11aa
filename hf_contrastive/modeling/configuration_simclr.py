# Copyright 2026 The hf_contrastive authors. Apache-2.0.
"""SimCLR model configuration."""

from __future__ import annotations

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec


TORCHVISION_BACKBONES = {
    # name: dimension of the pooled representation h
    "resnet18": 512,
    "resnet34": 512,
    "resnet50": 2048,
    "resnet101": 2048,
    "resnet152": 2048,
    "wide_resnet50_2": 2048,
    "wide_resnet101_2": 2048,
}

# backbone_norm: the normalisation layers of the encoder f
BACKBONE_NORMS = ("batch", "group", "layer")

# normalisation statistics by channel count when none are given (ImageNet / MNIST)
_DEFAULT_MEAN = {3: [0.485, 0.456, 0.406], 1: [0.1307]}
_DEFAULT_STD = {3: [0.229, 0.224, 0.225], 1: [0.3081]}


class SimCLRConfig(PreTrainedConfig):
    r"""Configuration of a SimCLR image encoder f, its projection head g and its contrastive loss
    (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations";
    Khosla et al. 2020 for the supervised loss).

    Args:
        backbone (`str`, *optional*, defaults to `"resnet18"` when `backbone_config` is not given):
            A torchvision ResNet: one of `resnet18`, `resnet34`, `resnet50`, `resnet101`,
            `resnet152`, `wide_resnet50_2`, `wide_resnet101_2`. Leave unset when giving
            `backbone_config`.
        backbone_config (`dict` or `PreTrainedConfig`, *optional*):
            The config of any transformers vision model (e.g. `ViTConfig`, `ResNetConfig`,
            `ConvNextConfig`) to use as f instead of a torchvision ResNet; built with
            `AutoModel.from_config`. Its `pooler_output` (flattened) is the representation h, or the
            mean of `last_hidden_state` over tokens for models without a pooler.
        cifar_stem (`bool`, *optional*, defaults to `False`):
            Replace the 7x7 stride-2 first convolution and the max-pool by one 3x3 stride-1
            convolution, as SimCLR does for 32 px CIFAR images (appendix B.9). For torchvision ResNets
            and transformers `ResNetConfig` backbones.
        backbone_norm (`str`, *optional*, defaults to `"batch"`):
            The normalisation layers of f. `"batch"`: the backbone's own batch norm. `"group"`: every
            batch norm of f replaced by group norm (Wu and He 2018) with up to `backbone_norm_groups`
            groups (a layer gets the largest divisor of its channels that is at most that and leaves
            at least 2 channels a group: 32 in ResNet layers of 64 channels or more); `"layer"`: by
            group norm with one group (layer norm over channels and pixels). Group and layer norm
            normalise each image on its own, so f is the same function whatever the batch:
            the choice for `--contrastive_chunk_size` (exact gradients in chunks) and for batches too
            small for batch statistics. Batch norm in g (`projection_batch_norm`) is not affected:
            leave that off for exact chunks. Weights trained with one normalisation do not fit
            another: `SimCLRModel.load_pretrained_backbone` and the training recipe refuse them, while
            `from_pretrained` with a changed `backbone_norm` loads them with transformers' warning of
            unexpected (or missing) keys.
        backbone_norm_groups (`int`, *optional*, defaults to 32):
            Most groups a layer gets with `backbone_norm="group"` (32 is the group-norm paper's
            default); only with `backbone_norm="group"`.
        pretrained_backbone (`str`, *optional*):
            Where the backbone's starting weights came from (a torchvision weights name such as
            `IMAGENET1K_V1`, a local weights file, or a transformers model id or folder), recorded
            for the model card. Load them with `SimCLRModel.load_pretrained_backbone`; a config alone
            always builds random weights.
        num_channels (`int`, *optional*, defaults to 3):
            Channels of the input images (1 for grayscale digits, 3 for RGB).
        image_size (`int`, *optional*, defaults to 224):
            Side of the square input images the model is trained on (the views' size).
        image_mean (`list[float]`, *optional*):
            Per-channel normalisation mean of the inputs; ImageNet's (3 channels) or MNIST's
            (1 channel) by default.
        image_std (`list[float]`, *optional*):
            Per-channel normalisation standard deviation, defaults as `image_mean`.
        projection_hidden_dim (`int`, *optional*):
            Width of the hidden layers of g; defaults to the dimension of h (2048 for ResNet-50, as in
            the paper).
        projection_dim (`int`, *optional*, defaults to 128):
            Output dimension of g, the space the loss is computed in.
        projection_num_layers (`int`, *optional*, defaults to 2):
            Linear layers in g. 2 is SimCLR v1 (Linear-ReLU-Linear); 3 with `projection_batch_norm`
            is SimCLR v2.
        projection_batch_norm (`bool`, *optional*, defaults to `False`):
            Batch normalisation after every linear layer of g (SimCLR v2), without a bias in those
            layers.
        n_views (`int`, *optional*, defaults to 2):
            Views of every image per training step (2 for SimCLR; SupCon also uses more). NT-Xent
            needs at least 2.
        loss (`str`, *optional*, defaults to `"ntxent"`):
            `"ntxent"`: SimCLR's NT-Xent, positives are the other views of the same image (with more
            than 2 views, every other view is a positive). `"supcon"`: supervised contrastive loss,
            every view of an image with the same label is a positive; needs `labels`.
        temperature (`float`, *optional*, defaults to 0.5):
            tau of the loss (0.5 is SimCLR's CIFAR-10 value, 0.1 its large-batch ImageNet value, 0.07
            SupCon's).
        base_temperature (`float`, *optional*):
            SupCon's tau_b; the loss is scaled by tau / tau_b. Defaults to `temperature`.
        gather_distributed (`bool`, *optional*, defaults to `True`):
            In a distributed run, use the views of every process as negatives.
        loss_chunk_size (`int`, *optional*):
            Compute the loss's similarity matrix this many anchor rows at a time to bound its memory.
        freeze_backbone (`bool`, *optional*, defaults to `False`):
            `SimCLRForImageClassification` only: keep f frozen (no gradient, batch-norm statistics
            fixed) and train the linear classifier alone, the linear evaluation protocol.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the linear classifier.

    Example:

    ```python
    >>> from hf_contrastive import SimCLRConfig, SimCLRForPreTraining
    >>> from transformers import ResNetConfig

    >>> config = SimCLRConfig(backbone="resnet18", cifar_stem=True, image_size=32)   # torchvision ResNet-18
    >>> config = SimCLRConfig(backbone_config=ResNetConfig(hidden_sizes=[64, 128], depths=[1, 1]))  # any transformers model
    >>> model = SimCLRForPreTraining(config)
    ```
    """

    model_type = "simclr"
    sub_configs_defaults = {
        "backbone_config": SubConfigSpec(config_class=AutoConfig, model_type="resnet", optional=True),
    }

    backbone: str | None = None
    backbone_config: dict | PreTrainedConfig | None = None
    cifar_stem: bool = False
    backbone_norm: str = "batch"
    backbone_norm_groups: int = 32
    pretrained_backbone: str | None = None
    num_channels: int = 3
    image_size: int = 224
    image_mean: list[float] | None = None
    image_std: list[float] | None = None
    projection_hidden_dim: int | None = None
    projection_dim: int = 128
    projection_num_layers: int = 2
    projection_batch_norm: bool = False
    n_views: int = 2
    loss: str = "ntxent"
    temperature: float = 0.5
    base_temperature: float | None = None
    gather_distributed: bool = True
    loss_chunk_size: int | None = None
    freeze_backbone: bool = False
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.backbone_config is not None and self.backbone is not None:
            raise ValueError(
                f"Give either backbone={self.backbone!r} (a torchvision ResNet) or backbone_config (a "
                "transformers model config), not both."
            )
        if self.backbone_config is None:
            if self.backbone is None:
                self.backbone = "resnet18"
            if self.backbone not in TORCHVISION_BACKBONES:
                raise ValueError(
                    f"Unknown backbone {self.backbone!r}. Use one of {sorted(TORCHVISION_BACKBONES)}, or pass "
                    "backbone_config=<a transformers vision config, e.g. ViTConfig(...)> for any other model."
                )
        else:
            backbone_channels = getattr(self.backbone_config, "num_channels", self.num_channels)
            if backbone_channels != self.num_channels:
                raise ValueError(
                    f"num_channels={self.num_channels} but backbone_config.num_channels={backbone_channels}; "
                    "set both to the channel count of your images."
                )
        if self.num_channels < 1:
            raise ValueError(f"num_channels must be >= 1, got {self.num_channels}.")
        if self.image_mean is None:
            self.image_mean = list(_DEFAULT_MEAN.get(self.num_channels, [0.5] * self.num_channels))
        if self.image_std is None:
            self.image_std = list(_DEFAULT_STD.get(self.num_channels, [0.5] * self.num_channels))
        self.image_mean, self.image_std = list(self.image_mean), list(self.image_std)
        if len(self.image_mean) != self.num_channels or len(self.image_std) != self.num_channels:
            raise ValueError(
                f"image_mean and image_std need one value per channel ({self.num_channels}), got "
                f"{self.image_mean} and {self.image_std}."
            )
        if self.loss not in ("ntxent", "supcon"):
            raise ValueError(f"loss must be 'ntxent' or 'supcon', got {self.loss!r}.")
        if isinstance(self.n_views, bool) or not isinstance(self.n_views, int) or self.n_views < 1:
            raise ValueError(f"n_views must be a positive integer (2 for SimCLR), got {self.n_views!r}.")
        if self.loss == "ntxent" and self.n_views < 2:
            raise ValueError(f"NT-Xent needs n_views >= 2 (the positives are the other views), got {self.n_views}.")
        if self.cifar_stem and self.backbone_config is not None and self.backbone_config.model_type != "resnet":
            raise ValueError(
                f"cifar_stem is for ResNet backbones; backbone_config is a {self.backbone_config.model_type!r} model."
            )
        if self.backbone_norm not in BACKBONE_NORMS:
            raise ValueError(f"backbone_norm must be one of {list(BACKBONE_NORMS)}, got {self.backbone_norm!r}.")
        groups = self.backbone_norm_groups
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f"backbone_norm_groups must be a positive integer, got {groups!r}.")
        if groups != 32 and self.backbone_norm != "group":
            raise ValueError(
                f"backbone_norm_groups={groups} is for group norm; set backbone_norm='group' too "
                f"(backbone_norm is {self.backbone_norm!r})."
            )
        if self.projection_num_layers < 1:
            raise ValueError(f"projection_num_layers must be >= 1, got {self.projection_num_layers}.")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}.")
        if self.base_temperature is None:
            self.base_temperature = self.temperature

    @property
    def hidden_size(self) -> int:
        """Dimension of the representation h (the `pooler_output` of `SimCLRModel`)."""
        if self.backbone_config is None:
            return TORCHVISION_BACKBONES[self.backbone]
        for name in ("hidden_size", "hidden_dim", "embed_dim"):
            value = getattr(self.backbone_config, name, None)
            if isinstance(value, int):
                return value
        sizes = getattr(self.backbone_config, "hidden_sizes", None) or getattr(self.backbone_config, "num_features", None)
        if isinstance(sizes, (list, tuple)):
            return sizes[-1]
        if isinstance(sizes, int):
            return sizes
        raise ValueError(
            f"Cannot tell the representation size of {type(self.backbone_config).__name__}; "
            "set projection_hidden_dim and use a backbone with hidden_size or hidden_sizes."
        )


__all__ = ["SimCLRConfig"]
