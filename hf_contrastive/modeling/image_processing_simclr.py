# Copyright 2026 The hf_contrastive authors. Apache-2.0.
"""Image processor of SimCLR models: what a downstream user runs on an image before the encoder.

Any image (PIL in any mode, a uint8 tensor or array with 1, 3 or 4 channels) is converted to
the channel count the model was trained with (`to_uint8_tensor`, which the training views use too), resized on its shorter side, centre-cropped to
the training size and normalised with the training statistics. Saved next to the weights as
`preprocessor_config.json`, so `AutoImageProcessor.from_pretrained(folder)` and
`pipeline("image-feature-extraction", model=folder)` prepare images the way the model expects.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import PIL.Image
import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as TF
from transformers.image_processing_backends import TorchvisionBackend
from transformers.image_utils import PILImageResampling
from transformers.processing_utils import ImagesKwargs


class SimCLRImageProcessorKwargs(ImagesKwargs, total=False):
    num_channels: int


ImageLike = Union[PIL.Image.Image, Tensor, np.ndarray]

_ALPHA_MODES = {"RGBA", "LA", "PA", "La", "RGBa"}
_WIDE_INT_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


def _composite_on_white(rgba: PIL.Image.Image) -> PIL.Image.Image:
    """RGBA -> RGB over a white background, as transformers' ``convert_to_rgb`` does."""
    background = PIL.Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return PIL.Image.alpha_composite(background, rgba).convert("RGB")


def _pil_to_uint8(image: PIL.Image.Image) -> Tensor:
    """PIL image of any mode -> (1 or 3, H, W) uint8."""
    mode = image.mode
    if mode in ("L", "RGB"):
        pass
    elif mode == "1":
        image = image.convert("L")  # 0 / 255
    elif mode in _WIDE_INT_MODES:
        # 16-bit (I;16*) and 32-bit integer images: the 0..65535 range of 16-bit PNG/TIFF files mapped
        # onto 0..255 (65535 -> 255, rounded); 32-bit values outside 0..65535 are clipped.
        pixels = np.asarray(image).astype(np.int64).clip(0, 65535)
        return torch.from_numpy(((pixels + 128) // 257).astype(np.uint8)).unsqueeze(0)
    elif mode == "F":
        # float images are read on PIL's own scale (convert("L") clips them to 0..255); a float image
        # in [0, 1] should be scaled by the caller: to_uint8_tensor((array * 255).round().astype(np.uint8)).
        pixels = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0).clip(0, 255)
        return torch.from_numpy(np.rint(pixels).astype(np.uint8)).unsqueeze(0)
    elif mode in _ALPHA_MODES or (mode == "P" and "transparency" in image.info):
        image = _composite_on_white(image.convert("RGBA"))
    else:  # P, CMYK, YCbCr, HSV, LAB, RGBX, ...
        try:
            image = image.convert("RGB")
        except (ValueError, OSError) as error:
            raise ValueError(f"Cannot convert a PIL image of mode {mode!r} to RGB ({error}); convert it first.") from error
    return TF.pil_to_tensor(image)


def match_channels(image: Tensor, num_channels: int) -> Tensor:
    """uint8 (..., C, H, W) with C in {1, 3, 4} -> (..., num_channels, H, W); 4 is RGBA (over white)."""
    channels = image.shape[-3]
    if channels == 4:
        rgb, alpha = image[..., :3, :, :].float(), image[..., 3:, :, :].float() / 255.0
        image = (rgb * alpha + 255.0 * (1.0 - alpha)).round_().to(torch.uint8)
        channels = 3
    if channels == num_channels:
        return image
    if num_channels == 3:  # grayscale -> RGB
        return image.expand(*image.shape[:-3], 3, *image.shape[-2:]).contiguous()
    return TF.rgb_to_grayscale(image, num_output_channels=1)


def to_uint8_tensor(image: ImageLike, num_channels: int = 3) -> Tensor:
    """Any supported image -> ``(num_channels, H, W)`` uint8 tensor, the input of every view.

    Args:
        image: a PIL image of any mode (``1``, ``L``, ``P``, ``RGB``, ``RGBA``, ``LA``, ``CMYK``,
            ``YCbCr``, ``I;16``, ``I``, ``F``, ...); a uint8 tensor ``(C, H, W)`` with C in 1, 3, 4
            (RGBA) or ``(H, W)``; or a uint8 numpy array ``(H, W)`` or channels-last ``(H, W, C)``.
            Alpha is composited over white (as transformers' ``convert_to_rgb``); 16-bit images are
            scaled from 0..65535 to 0..255; ``F`` (float) images are read on the 0..255 scale.
        num_channels: 1 or 3, the channels of the backbone: RGB becomes luma (ITU-R 601-2) for 1,
            grayscale is repeated for 3.
    """
    if num_channels not in (1, 3):
        raise ValueError(f"num_channels must be 1 or 3 (the backbone's input channels), got {num_channels!r}.")
    if isinstance(image, PIL.Image.Image):
        if image.width == 0 or image.height == 0:
            raise ValueError(f"Empty image of size {image.size}; every image needs at least one pixel.")
        tensor = _pil_to_uint8(image)
    elif isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(
                f"numpy images must be uint8, got {image.dtype}; for floats in [0, 1] pass "
                "(array * 255).round().astype(np.uint8), or a PIL image."
            )
        if image.ndim not in (2, 3):
            raise ValueError(f"numpy images must be (H, W) or channels-last (H, W, C), got shape {image.shape}.")
        tensor = torch.from_numpy(np.ascontiguousarray(image))
        tensor = tensor.unsqueeze(0) if image.ndim == 2 else tensor.permute(2, 0, 1)
        return to_uint8_tensor(tensor, num_channels)
    elif isinstance(image, Tensor):
        if image.dtype != torch.uint8:
            raise ValueError(
                f"image tensors must be uint8 in 0..255, got {image.dtype}; for floats in [0, 1] pass "
                "(image * 255).round().clamp(0, 255).to(torch.uint8)."
            )
        if image.ndim == 2:
            image = image.unsqueeze(0)
        if image.ndim != 3 or image.shape[0] not in (1, 3, 4):
            raise ValueError(
                f"image tensors must be (C, H, W) with C in 1, 3, 4 (RGBA), or (H, W); got shape {tuple(image.shape)}. "
                "A channels-last (H, W, C) tensor needs .permute(2, 0, 1); a batch goes to BatchedSimCLRViews."
            )
        if image.shape[1] == 0 or image.shape[2] == 0:
            raise ValueError(f"Empty image of shape {tuple(image.shape)}; every image needs at least one pixel.")
        tensor = image
    else:
        raise TypeError(f"Expected a PIL image, a uint8 tensor or a uint8 numpy array, got {type(image).__name__}.")
    return match_channels(tensor, num_channels)



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

__all__ = ["SimCLRImageProcessor", "match_channels", "to_uint8_tensor"]
