# Copyright 2026 The hf_contrastive authors. Apache-2.0.
"""SimCLR (Chen et al. 2020) and supervised contrastive (Khosla et al. 2020) image encoders as
transformers models.

- `SimCLRModel`: the encoder f; `pooler_output` is the representation h kept after training.
- `SimCLRForPreTraining`: f + projection head g + the contrastive loss on z = g(h).
- `SimCLRForImageClassification`: f + a linear classifier, for linear evaluation (frozen f) and
  fine-tuning.

This file and its same-folder imports are copied next to every saved model, so a folder or Hub
repository loads with `trust_remote_code=True` without this package installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Sequence, Union

import torch
import torchvision
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import (
    BaseModelOutputWithPoolingAndNoAttention,
    ImageClassifierOutputWithNoAttention,
)
from transformers.utils import ModelOutput, logging

from .configuration_simclr import SimCLRConfig
from .losses import supervised_contrastive_loss


logger = logging.get_logger(__name__)


@dataclass
class SimCLRPreTrainingOutput(ModelOutput):
    """Output of `SimCLRForPreTraining`.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            The contrastive loss (NT-Xent or SupCon, as configured), in float32.
        projections (`torch.FloatTensor` of shape `(batch_size, n_views, projection_dim)`):
            z = g(h) for every view, before normalisation (the loss normalises).
        representations (`torch.FloatTensor` of shape `(batch_size, n_views, hidden_size)`):
            h = f(x) for every view, what is kept after pre-training.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            The backbone's hidden states for all views, with `output_hidden_states=True`.
    """

    loss: Optional[torch.FloatTensor] = None
    projections: Optional[torch.FloatTensor] = None
    representations: Optional[torch.FloatTensor] = None
    hidden_states: Optional[tuple[torch.FloatTensor, ...]] = None


def norm_groups(channels: int, most: int) -> int:
    """Groups of a group norm over `channels`: the largest divisor of `channels` that is at most `most`
    and leaves at least 2 channels a group (one channel a group is instance norm, the group-norm
    paper's worst setting, Wu and He 2018 table 3b). ResNet layers of 64 channels or more get 32."""
    groups = min(most, max(channels // 2, 1))
    while channels % groups:
        groups -= 1
    return groups


def replace_batch_norm(module: nn.Module, norm: Literal["group", "layer"], most_groups: int) -> int:
    """Replace every 2-d batch norm inside `module` by group norm (`norm="group"`, `norm_groups`
    groups) or by one-group group norm (`"layer"`), each with a fresh affine transform (Wu and He
    2018, "Group Normalization", eq. 1 with the group sets S_i of section 3.1); returns how many were
    replaced."""
    replaced = 0
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            channels = child.num_features
            groups = {"group": norm_groups(channels, most_groups), "layer": 1}[norm]
            setattr(module, name, nn.GroupNorm(groups, channels, eps=child.eps, affine=child.affine))
            replaced += 1
        else:
            replaced += replace_batch_norm(child, norm, most_groups)
    return replaced


class SimCLRTorchvisionResNet(nn.Module):
    """A torchvision ResNet without its classifier, returning the last feature map, the pooled
    representation and optionally every stage's output.

    With `cifar_stem`, the stem is SimCLR's for 32 px images: one 3x3 stride-1 convolution and no
    max-pool (Chen et al. 2020, appendix B.9).
    """

    def __init__(self, config: SimCLRConfig):
        super().__init__()
        resnet = getattr(torchvision.models, config.backbone)(weights=None)
        if config.cifar_stem:
            resnet.conv1 = nn.Conv2d(config.num_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            resnet.maxpool = nn.Identity()
        elif config.num_channels != 3:
            resnet.conv1 = nn.Conv2d(config.num_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.conv1, self.bn1, self.relu, self.maxpool = resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.gradient_checkpointing = False

    def forward(self, pixel_values: torch.Tensor, output_hidden_states: bool = False):
        hidden = self.maxpool(self.relu(self.bn1(self.conv1(pixel_values))))
        hidden_states = (hidden,) if output_hidden_states else None
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            if self.gradient_checkpointing and self.training:
                hidden = self._gradient_checkpointing_func(stage.__call__, hidden)
            else:
                hidden = stage(hidden)
            if output_hidden_states:
                hidden_states = hidden_states + (hidden,)
        return hidden, self.avgpool(hidden).flatten(1), hidden_states


# Every Auto class a saved folder must answer to with trust_remote_code, whichever class saved it
# (transformers' save_pretrained only adds the saving class's own entry).
_AUTO_MAP = {
    "AutoConfig": "configuration_simclr.SimCLRConfig",
    "AutoModel": "modeling_simclr.SimCLRModel",
    "AutoModelForPreTraining": "modeling_simclr.SimCLRForPreTraining",
    "AutoModelForImageClassification": "modeling_simclr.SimCLRForImageClassification",
}


class SimCLRPreTrainedModel(PreTrainedModel):
    config: SimCLRConfig
    config_class = SimCLRConfig
    base_model_prefix = "simclr"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = []
    # a pre-training checkpoint loads into the encoder or the classifier without g
    _keys_to_ignore_on_load_unexpected = [r"projection_head\."]

    def __init__(self, config: SimCLRConfig, *inputs, **kwargs):
        super().__init__(config, *inputs, **kwargs)
        config.auto_map = {**_AUTO_MAP, **(getattr(config, "auto_map", None) or {})}

    def _init_weights(self, module: nn.Module) -> None:
        """torchvision's ResNet initialisation for the backbone (a transformers backbone uses its
        own `_init_weights`), PyTorch's default for g, N(0, initializer_range) for a classifier."""
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.GroupNorm) and module.weight is not None:  # backbone_norm="group" / "layer"
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm)):
            if module.weight is not None:
                init.ones_(module.weight)
                init.zeros_(module.bias)
            if module.running_mean is not None:
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.Linear):
            if getattr(module, "_is_classifier", False):
                init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            else:
                init.kaiming_uniform_(module.weight, a=5**0.5)
            if module.bias is not None:
                init.zeros_(module.bias)


def _check_pixel_values(pixel_values: torch.Tensor, config: SimCLRConfig) -> None:
    if not isinstance(pixel_values, torch.Tensor) or pixel_values.dim() != 4:
        shape = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else type(pixel_values).__name__
        raise ValueError(f"pixel_values must be a (batch_size, channels, height, width) tensor, got {shape}.")
    if pixel_values.shape[0] == 0:
        raise ValueError("pixel_values is an empty batch (batch_size 0); pass at least one image.")
    if pixel_values.shape[1] != config.num_channels:
        raise ValueError(
            f"pixel_values has {pixel_values.shape[1]} channels but the model expects {config.num_channels} "
            f"(config.num_channels). Convert the images (e.g. with the model's image processor, or "
            f"hf_contrastive.augment.vision with num_channels={config.num_channels})."
        )


class SimCLRModel(SimCLRPreTrainedModel):
    """The encoder f: `pixel_values` -> `last_hidden_state` (the backbone's last feature map or
    token sequence) and `pooler_output` = h, the representation used downstream."""

    def __init__(self, config: SimCLRConfig):
        super().__init__(config)
        if config.backbone_config is None:
            self.backbone = SimCLRTorchvisionResNet(config)
        else:
            self.backbone = AutoModel.from_config(config.backbone_config)
            if config.cifar_stem:  # SimCLR's small-image stem (appendix B.9) in a transformers ResNet
                embedder = self.backbone.embedder.embedder
                width = embedder.convolution.out_channels
                embedder.convolution = nn.Conv2d(config.num_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
                self.backbone.embedder.pooler = nn.Identity()
        if config.backbone_norm != "batch" and not replace_batch_norm(self.backbone, config.backbone_norm, config.backbone_norm_groups):
            raise ValueError(
                f"backbone_norm={config.backbone_norm!r} replaces the backbone's batch norm, and this "
                f"{type(self.backbone).__name__} has none; leave backbone_norm at 'batch'."
            )
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ) -> Union[tuple, BaseModelOutputWithPoolingAndNoAttention]:
        _check_pixel_values(pixel_values, self.config)
        output_hidden_states = output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if isinstance(self.backbone, SimCLRTorchvisionResNet):
            last_hidden_state, pooled, hidden_states = self.backbone(pixel_values, output_hidden_states)
        else:
            outputs = self.backbone(pixel_values=pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
            last_hidden_state, hidden_states = outputs.last_hidden_state, outputs.get("hidden_states")
            pooled = outputs.get("pooler_output")
            if pooled is None:  # token models without a pooler: mean over tokens
                pooled = last_hidden_state.mean(dim=1)
            pooled = pooled.flatten(1)
        if not return_dict:
            return tuple(v for v in (last_hidden_state, pooled, hidden_states) if v is not None)
        return BaseModelOutputWithPoolingAndNoAttention(
            last_hidden_state=last_hidden_state, pooler_output=pooled, hidden_states=hidden_states
        )

    def load_pretrained_backbone(self, name_or_path: str) -> None:
        """Replace the backbone's random weights with pretrained ones the user has.

        torchvision backbone: a torchvision weights name (`"DEFAULT"`, `"IMAGENET1K_V1"`, downloaded
        by torchvision) or a local `.safetensors` / `.pth` state dict of the torchvision model.
        transformers backbone: a model id or folder for `AutoModel.from_pretrained`. The stem is
        kept from the weights only where its shape matches (not with `cifar_stem` or 1 channel).
        Refused with `backbone_norm` other than `"batch"`: the weights were trained with batch norm.
        """
        if self.config.backbone_norm != "batch":
            raise ValueError(
                f"Pretrained weights were trained with batch norm, and this backbone has {self.config.backbone_norm} norm "
                "in its place (backbone_norm), which would normalise their features differently. Train it from scratch, "
                "or keep backbone_norm='batch' (with --contrastive_chunk_size, batch norm then normalises each chunk)."
            )
        if isinstance(self.backbone, SimCLRTorchvisionResNet):
            if name_or_path.endswith(".safetensors"):
                from safetensors.torch import load_file

                state_dict = load_file(name_or_path)
            elif name_or_path.endswith((".pth", ".pt", ".bin")):
                state_dict = torch.load(name_or_path, map_location="cpu", weights_only=True)
            else:
                weights = torchvision.models.get_model_weights(self.config.backbone)[name_or_path]
                state_dict = weights.get_state_dict(progress=True)
            own = self.backbone.state_dict()
            usable = {k: v for k, v in state_dict.items() if k in own and own[k].shape == v.shape}
            skipped = sorted(set(own) - set(usable))
            self.backbone.load_state_dict(usable, strict=False)
            if skipped:
                logger.warning(f"Pretrained backbone: kept random weights for {skipped} (shape or name differs).")
        else:
            pretrained = AutoModel.from_pretrained(name_or_path, config=self.config.backbone_config)
            self.backbone.load_state_dict(pretrained.state_dict())
        self.config.pretrained_backbone = name_or_path


class SimCLRProjectionHead(nn.Module):
    """g: `projection_num_layers` linear layers with ReLU between them (v1: Linear-ReLU-Linear),
    optionally batch norm after each (v2: three layers, BN, no bias before a BN)."""

    def __init__(self, config: SimCLRConfig):
        super().__init__()
        hidden = config.projection_hidden_dim or config.hidden_size
        dims = [config.hidden_size] + [hidden] * (config.projection_num_layers - 1) + [config.projection_dim]
        layers: list[nn.Module] = []
        for index, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            last = index == len(dims) - 2
            layers.append(nn.Linear(d_in, d_out, bias=not config.projection_batch_norm))
            if config.projection_batch_norm:
                layers.append(nn.BatchNorm1d(d_out, affine=not last))
            if not last:
                layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)

    def forward(self, representations: torch.Tensor) -> torch.Tensor:
        return self.layers(representations)


def _stack_views(pixel_values: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
    if isinstance(pixel_values, (list, tuple)):
        if len(pixel_values) < 1 or any(not isinstance(v, torch.Tensor) or v.dim() != 4 for v in pixel_values):
            raise ValueError("a list of views must hold (batch_size, channels, height, width) tensors, one per view.")
        pixel_values = torch.stack(list(pixel_values), dim=1)
    if not isinstance(pixel_values, torch.Tensor) or pixel_values.dim() != 5:
        shape = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else type(pixel_values).__name__
        raise ValueError(
            f"SimCLRForPreTraining takes the views of each image as pixel_values of shape "
            f"(batch_size, n_views, channels, height, width) or a list of (batch_size, channels, height, "
            f"width) views; got {shape}. Make the views with hf_contrastive.augment.vision.MultiViewTransform."
        )
    return pixel_values


class SimCLRForPreTraining(SimCLRPreTrainedModel):
    """f + projection head g + contrastive loss (NT-Xent, or SupCon with `labels`).

    Every view of the batch goes through f in one forward pass (so batch norm sees all views), then
    g; the loss compares the z of all views of all images of the global batch.
    """

    def __init__(self, config: SimCLRConfig):
        super().__init__(config)
        self.simclr = SimCLRModel(config)
        self.projection_head = SimCLRProjectionHead(config)
        self.post_init()

    def forward(
        self,
        pixel_values: Union[torch.Tensor, Sequence[torch.Tensor]],
        labels: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ) -> Union[tuple, SimCLRPreTrainingOutput]:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, n_views, channels, height, width)`, or a list of
            `(batch_size, channels, height, width)` tensors, one per view): the augmented views of each image.
        labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            Class ids; with `config.loss == "supcon"` every view of the same class is a positive.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        views = _stack_views(pixel_values)
        batch_size, n_views = views.shape[:2]
        if self.config.loss == "supcon" and labels is None:
            raise ValueError("config.loss is 'supcon', which needs labels of shape (batch_size,); pass labels=...")
        if self.config.loss == "ntxent" and labels is not None:
            logger.warning_once("config.loss is 'ntxent': the labels passed to SimCLRForPreTraining are ignored.")
            labels = None
        outputs = self.simclr(
            views.flatten(0, 1), output_hidden_states=output_hidden_states, return_dict=True
        )
        representations = outputs.pooler_output
        projections = self.projection_head(representations)
        representations = representations.unflatten(0, (batch_size, n_views))
        projections = projections.unflatten(0, (batch_size, n_views))
        loss = self.contrastive_loss(projections, labels)
        if not return_dict:
            return tuple(v for v in (loss, projections, representations, outputs.hidden_states) if v is not None)
        return SimCLRPreTrainingOutput(
            loss=loss, projections=projections, representations=representations, hidden_states=outputs.hidden_states
        )


    def contrastive_loss(self, projections: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The configured loss (NT-Xent, or SupCon with `labels`) of `projections` (batch_size, n_views, D)."""
        return supervised_contrastive_loss(
            projections,
            labels,
            temperature=self.config.temperature,
            base_temperature=self.config.base_temperature,
            gather_distributed=self.config.gather_distributed,
            chunk_size=self.config.loss_chunk_size,
        )

    def cached_step_parts(self, chunk_size: int, pixel_values, labels: Optional[torch.Tensor] = None, **kwargs):
        """What a cached-gradient step (GradCache; `hf_contrastive.training.gradcache`) needs: the
        rows it embeds in chunks (every view of the batch, `(batch_size x n_views, C, H, W)`), the
        embedding of a chunk of rows (z = g(f(x))), the loss of all the rows' embeddings (the
        same loss `forward` computes) and the per-sample loss terms (none)."""
        views = _stack_views(pixel_values)
        batch_size, n_views = views.shape[:2]
        if self.config.loss == "supcon" and labels is None:
            raise ValueError("config.loss is 'supcon', which needs labels of shape (batch_size,); pass labels=...")
        labels = labels if self.config.loss == "supcon" else None

        def embed(rows: torch.Tensor) -> torch.Tensor:
            return self.projection_head(self.simclr(rows, return_dict=True).pooler_output)

        def loss(projections: torch.Tensor, per_sample_total: torch.Tensor) -> SimCLRPreTrainingOutput:
            projections = projections.unflatten(0, (batch_size, n_views))
            return SimCLRPreTrainingOutput(loss=self.contrastive_loss(projections, labels), projections=projections)

        return views.flatten(0, 1), embed, loss, []


class SimCLRForImageClassification(SimCLRPreTrainedModel):
    """f + a linear classifier on h. With `config.freeze_backbone` f is frozen (no gradient, batch
    norm in inference mode even in `train()`): the linear evaluation protocol."""

    def __init__(self, config: SimCLRConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.simclr = SimCLRModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.classifier._is_classifier = True
        if config.freeze_backbone:
            self.simclr.requires_grad_(False)
        self.post_init()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.config.freeze_backbone:
            self.simclr.eval()
        return self

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ) -> Union[tuple, ImageClassifierOutputWithNoAttention]:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_backbone):
            outputs = self.simclr(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(outputs.pooler_output)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.float(), labels.to(logits.device).view(-1))
        if not return_dict:
            return tuple(v for v in (loss, logits, outputs.hidden_states) if v is not None)
        return ImageClassifierOutputWithNoAttention(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


SimCLRConfig.register_for_auto_class()
SimCLRModel.register_for_auto_class("AutoModel")
SimCLRForPreTraining.register_for_auto_class("AutoModelForPreTraining")
SimCLRForImageClassification.register_for_auto_class("AutoModelForImageClassification")

__all__ = [
    "SimCLRForImageClassification",
    "SimCLRForPreTraining",
    "SimCLRModel",
    "SimCLRPreTrainedModel",
    "SimCLRPreTrainingOutput",
]
