# Copyright 2026 The hf_contrastive authors. Apache-2.0.
"""Image processor of SimCLR models: what a downstream user runs on an image before the encoder.

Any image (PIL in any mode, a uint8 or float tensor or array, with 1 to 4 channels) is converted
to the channel count the model was trained with, resized on its shorter side, centre-cropped to
the training size and normalised with the training statistics. Saved next to the weights as
`preprocessor_config.json`, so `AutoImageProcessor.from_pretrained(folder)` and
`pipeline("image-feature-extraction", model=folder)` prepare images the way the model expects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers.image_processing_backends import TorchvisionBackend
from transformers.image_utils import PILImageResampling
from transformers.processing_utils import ImagesKwargs


class SimCLRImageProcessorKwargs(ImagesKwargs, total=False):
    num_channels: int


def _pil_to_uint8_array(image: Image.Image, num_channels: int) -> np.ndarray:
    """(H, W, C) uint8. 16-bit and 32-bit integer modes are scaled from 0-65535, float mode
    from [0, 1] (or taken as 0-255 when its values exceed 1)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        if image.mode == "F":
            array = array * 255.0 if array.size and array.max() <= 1.0 else array
        else:
            array = array / 257.0 if image.mode.startswith("I;16") or (array.size and array.max() > 255) else array
        gray = np.clip(np.rint(array), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], num_channels, axis=-1)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # transparent pixels over white, as an image viewer shows them
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    converted = image.convert("L" if num_channels == 1 else "RGB")
    array = np.array(converted, dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def to_uint8_tensor(image: Any, num_channels: int) -> torch.Tensor:
    """Convert one image to a `(num_channels, H, W)` uint8 tensor.

    Accepts a PIL image in any mode (L, RGB, RGBA, P, CMYK, LA, 1, I;16, I, F, ...), or a uint8 /
    float (values in [0, 1]) / uint16 tensor or array shaped (H, W), (C, H, W) or, for arrays,
    (H, W, C). Grayscale becomes RGB by repetition, RGB becomes grayscale with ITU-R 601-2 luma
    weights (PIL's), an alpha channel is dropped.
    """
    if num_channels not in (1, 3):
        raise ValueError(f"num_channels must be 1 (grayscale) or 3 (RGB), got {num_channels}.")
    if isinstance(image, Image.Image):
        array = _pil_to_uint8_array(image, num_channels)
        return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).contiguous()
    if isinstance(image, np.ndarray):
        if image.ndim == 3 and image.shape[-1] in (1, 2, 3, 4) and image.shape[0] not in (1, 2, 3, 4):
            image = np.moveaxis(image, -1, 0)
        image = torch.from_numpy(np.ascontiguousarray(image))
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"expected a PIL image, a tensor or a numpy array, got {type(image).__name__}.")
    if image.dim() == 2:
        image = image.unsqueeze(0)
    if image.dim() != 3 or image.shape[0] not in (1, 2, 3, 4):
        raise ValueError(f"expected an image of shape (H, W) or (C, H, W) with 1-4 channels, got {tuple(image.shape)}.")
    if image.numel() == 0:
        raise ValueError(f"the image is empty (shape {tuple(image.shape)}).")
    if image.is_floating_point():
        image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    elif image.dtype in (torch.uint16, torch.int32, torch.int64) and image.max() > 255:
        image = (image.to(torch.float64) / 257).round().clamp(0, 255).to(torch.uint8)
    else:
        image = image.to(torch.uint8)
    channels = image.shape[0]
    if channels in (2, 4):  # drop alpha
        image = image[: channels - 1]
    if image.shape[0] == num_channels:
        return image
    if num_channels == 3:
        return image.expand(3, -1, -1).contiguous()
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32).view(3, 1, 1)
    return (image.float() * weights).sum(0, keepdim=True).round().clamp(0, 255).to(torch.uint8)


class SimCLRImageProcessor(TorchvisionBackend):
    r"""Resize the shorter side to `size["shortest_edge"]`, centre-crop to `crop_size`, rescale to
    [0, 1] and normalise with `image_mean` / `image_std`, after converting every image to
    `num_channels` channels.

    Build it from a model config with `SimCLRImageProcessor.from_simclr_config(config)`: the crop is
    the training `image_size` and the shorter side is resized to `image_size / 0.875` (the usual
    224 / 256 ratio; no resizing margin for images of 32 px or less, which are cropped at their
    full size).
    """

    valid_kwargs = SimCLRImageProcessorKwargs
    resample = PILImageResampling.BILINEAR
    size = {"shortest_edge": 256}
    default_to_square = False
    crop_size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = False
    image_mean = [0.485, 0.456, 0.406]
    image_std = [0.229, 0.224, 0.225]
    num_channels = 3

    def process_image(self, image, do_convert_rgb=None, input_data_format=None, device=None, **kwargs) -> torch.Tensor:
        tensor = to_uint8_tensor(image, self.num_channels)
        return tensor.to(device) if device is not None else tensor

    @classmethod
    def from_simclr_config(cls, config) -> "SimCLRImageProcessor":
        crop = config.image_size
        shorter_side = crop if crop <= 32 else int(round(crop / 0.875))
        return cls(
            size={"shortest_edge": shorter_side},
            crop_size={"height": crop, "width": crop},
            image_mean=list(config.image_mean),
            image_std=list(config.image_std),
            num_channels=config.num_channels,
        )


SimCLRImageProcessor.register_for_auto_class("AutoImageProcessor")

__all__ = ["SimCLRImageProcessor", "to_uint8_tensor"]
