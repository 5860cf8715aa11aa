# Copyright 2026 The hf_contrastive authors. Apache-2.0.
"""SimCLR's stochastic data augmentation: random views of an image (Chen et al. 2020, appendix A).

Every view is drawn independently by the sequence of SimCLR's appendix A (and its reference code,
``google-research/simclr``, ``data_util.py``), each step with its own probability:

1. random resized crop: area fraction uniform in ``crop_scale`` (0.08-1), aspect ratio
   log-uniform in ``crop_ratio`` (3/4-4/3), resized to ``size`` x ``size`` (bilinear); up to 10
   attempts, then a central crop (the Inception-style crop of torchvision);
2. horizontal flip with probability ``hflip_p`` (0.5);
3. colour jitter with probability ``jitter_p`` (0.8): brightness, contrast and saturation factors
   uniform in [max(0, 1 - 0.8 s), 1 + 0.8 s], hue shift uniform in [-0.2 s, 0.2 s] for the
   strength ``s = jitter_strength`` (appendix A, listing 1: ``color_jitter``), the four
   adjustments applied in a random order with a multiplicative brightness factor (the reference
   code's ``color_jitter_rand``, which torchvision's ``ColorJitter`` also implements);
4. grayscale with probability ``grayscale_p`` (0.2), ``color_drop`` in listing 1;
5. Gaussian blur with probability ``blur_p`` (0.5): kernel side 10% of the image side (made odd),
   sigma uniform in ``blur_sigma`` ([0.1, 2.0]);

then conversion to float in [0, 1] and ``Normalize(mean, std)``. The output has ``num_channels``
channels, what the backbone expects: grayscale inputs are repeated to RGB, RGB inputs are reduced
to luma (ITU-R 601-2, as PIL and torchvision do) for a one-channel backbone.

Two implementations draw from the same distribution:

* :class:`SimCLRViewTransform`: one image (PIL image of any mode, uint8 tensor or array) -> one
  view, built from ``torchvision.transforms.v2``. For a ``Dataset`` / ``DataLoader`` worker.
  :class:`MultiViewTransform` stacks ``n_views`` of them.
* :class:`BatchedSimCLRViews`: a uint8 batch ``(B, C, H, W)`` -> ``(B, num_channels, size, size)``
  in one vectorised pass, CPU or GPU, every sample with its own random parameters (crops with
  ``torchvision.ops.roi_align``, blur as a separable depthwise convolution with per-sample
  kernels, hue rotation in HSV written as branch-free tensor arithmetic).

Presets (:data:`PRESETS`): ``imagenet`` (224 px, s = 1, blur on: the paper's ImageNet recipe),
``cifar`` (32 px, s = 0.5, no blur: appendix B.9), ``digits`` (28 px, one channel: MNIST-like
digits, see :data:`PRESETS` for the choices made there) and ``grayscale`` (the CIFAR recipe on one
channel, flips kept: any other grayscale data).

Example::

    >>> from PIL import Image
    >>> transform = SimCLRViewTransform.from_preset("cifar")
    >>> two_views = MultiViewTransform(transform, n_views=2)
    >>> two_views(Image.new("RGB", (40, 30))).shape
    torch.Size([2, 3, 32, 32])
    >>> batched = BatchedSimCLRViews.from_transform(transform)
    >>> batched(torch.zeros(8, 3, 32, 32, dtype=torch.uint8)).shape
    torch.Size([8, 3, 32, 32])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import roi_align
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as TF

# the conversion of any image lives beside the image processor, which saved models carry
from ..modeling.image_processing_simclr import match_channels, to_uint8_tensor


__all__ = [
    "BatchedSimCLRViews",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DIGITS_MEAN",
    "DIGITS_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MultiViewTransform",
    "PRESETS",
    "RandomGaussianBlur",
    "SimCLRViewTransform",
    "crop_source",
    "default_blur_kernel_size",
    "sample_crop_boxes",
    "stack_on_canvas",
    "to_uint8_tensor",
]

ImageLike = Union[PIL.Image.Image, Tensor, np.ndarray]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: CIFAR-10 training set, per-channel mean and standard deviation of the pixels in [0, 1].
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
#: MNIST training set (the usual 0.1307 / 0.3081).
DIGITS_MEAN = (0.1307,)
DIGITS_STD = (0.3081,)

#: ITU-R 601-2 luma weights, as ``PIL.Image.convert("L")`` and torchvision's ``rgb_to_grayscale``.
_LUMA = (0.2989, 0.587, 0.114)

PRESETS: dict[str, dict[str, Any]] = {
    # SimCLR's ImageNet recipe (appendix A): everything on, colour strength 1.
    "imagenet": dict(
        size=224, num_channels=3, crop_scale=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3), hflip_p=0.5,
        jitter_strength=1.0, jitter_p=0.8, grayscale_p=0.2, blur_p=0.5, blur_kernel_size=None,
        blur_sigma=(0.1, 2.0), mean=IMAGENET_MEAN, std=IMAGENET_STD,
    ),
    # SimCLR's CIFAR-10 recipe (appendix B.9): colour strength 0.5, no Gaussian blur.
    "cifar": dict(
        size=32, num_channels=3, crop_scale=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3), hflip_p=0.5,
        jitter_strength=0.5, jitter_p=0.8, grayscale_p=0.2, blur_p=0.0, blur_kernel_size=None,
        blur_sigma=(0.1, 2.0), mean=CIFAR10_MEAN, std=CIFAR10_STD,
    ),
    # MNIST-like digits (28 px, one channel), the CIFAR recipe adapted to digits:
    # * crop_scale (0.3, 1): a digit fills the central ~20 x 20 px of its 28 x 28 image; a crop of
    #   8% of the area (~8 px a side) usually holds one stroke and no longer tells a 1 from a 7, while
    #   30% (~15 px a side, three quarters of the digit box) keeps most of the digit's shape.
    # * hflip_p 0: a mirrored digit is another symbol (or another digit: 2/5-like confusions), so the
    #   flip would teach invariance to something that changes the class.
    # * jitter_strength 0.5: on one channel only brightness and contrast act (+-40%); saturation and
    #   hue have no effect on grayscale pixels (as in PIL and torchvision).
    # * grayscale_p 0 (the digits already are grayscale), blur_p 0 (at 28 px a 3 px kernel erases thin
    #   strokes; SimCLR also drops blur for its 32 px CIFAR recipe).
    "digits": dict(
        size=28, num_channels=1, crop_scale=(0.3, 1.0), crop_ratio=(3 / 4, 4 / 3), hflip_p=0.0,
        jitter_strength=0.5, jitter_p=0.8, grayscale_p=0.0, blur_p=0.0, blur_kernel_size=None,
        blur_sigma=(0.1, 2.0), mean=DIGITS_MEAN, std=DIGITS_STD,
    ),
    # Any other one-channel data (clothing, scans, grayscale photos): the CIFAR recipe on one channel,
    # keeping the horizontal flip (a mirrored shirt or scan is still a shirt or scan; only digit-like
    # symbols change meaning). Statistics: the recipe measures the data's own.
    "grayscale": dict(
        size=32, num_channels=1, crop_scale=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3), hflip_p=0.5,
        jitter_strength=0.5, jitter_p=0.8, grayscale_p=0.0, blur_p=0.0, blur_kernel_size=None,
        blur_sigma=(0.1, 2.0), mean=(0.5,), std=(0.25,),
    ),
}  # fmt: skip

_PARAM_NAMES = tuple(PRESETS["imagenet"])


def default_blur_kernel_size(size: int) -> int:
    """Blur kernel side for a ``size`` px view: 10% of the side, made odd (SimCLR appendix A).

    Same rounding as SimCLR's reference code (``radius = (size // 10) // 2``, ``2 radius + 1``):
    224 px -> 23, 96 px -> 9, 32 px -> 3; never below 3.
    """
    return max(3, 2 * ((size // 10) // 2) + 1)


# ----------------------------------------------------------------------------------------------
# Parameter checking (shared by the per-image and the batched implementation)
# ----------------------------------------------------------------------------------------------


def _check_probability(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} is a probability and must lie in [0, 1], got {value}; pass e.g. {name}=0.5.")
    return value


def _check_range(name: str, value: Sequence[float], low: float, high: float, low_open: bool = True) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max) of numbers, got {value!r}.") from None
    low_ok = a > low if low_open else a >= low
    if not (low_ok and a <= b <= high):
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be (min, max) with {bracket}{low} < min <= max <= {high}], got {value!r}.")
    return a, b


def _check_stats(name: str, value: Union[float, Sequence[float]], num_channels: int) -> tuple[float, ...]:
    values = (float(value),) if isinstance(value, (int, float)) else tuple(float(v) for v in value)
    if len(values) == 1:
        values = values * num_channels
    if len(values) != num_channels:
        raise ValueError(
            f"{name} has {len(values)} values but num_channels={num_channels}; give one value per output "
            f"channel (or a single value for all), e.g. {name}={values[:1] * num_channels}."
        )
    if name == "std" and min(values) <= 0:
        raise ValueError(f"std must be positive, got {values}.")
    return values


def _check_params(
    size: int,
    num_channels: int,
    crop_scale: Sequence[float],
    crop_ratio: Sequence[float],
    hflip_p: float,
    jitter_strength: float,
    jitter_p: float,
    grayscale_p: float,
    blur_p: float,
    blur_kernel_size: Optional[int],
    blur_sigma: Sequence[float],
    mean: Union[float, Sequence[float]],
    std: Union[float, Sequence[float]],
) -> dict[str, Any]:
    """Validate and normalise the augmentation parameters; the result is JSON-serialisable."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size is the side of the square view in pixels, a positive int; got {size!r}.")
    if num_channels not in (1, 3):
        raise ValueError(
            f"num_channels must be 1 (grayscale backbone) or 3 (RGB backbone), got {num_channels!r}; "
            "set it to the backbone's input channels (config.num_channels)."
        )
    jitter_strength = float(jitter_strength)
    if not 0.0 <= jitter_strength <= 2.5:
        raise ValueError(
            f"jitter_strength must lie in [0, 2.5] (hue shift 0.2 s must stay <= 0.5), got {jitter_strength}; "
            "SimCLR uses 1.0 on ImageNet and 0.5 on CIFAR-10."
        )
    if blur_kernel_size is not None:
        if isinstance(blur_kernel_size, bool) or not isinstance(blur_kernel_size, (int, np.integer)):
            raise ValueError(f"blur_kernel_size must be an odd int or None (10% of size), got {blur_kernel_size!r}.")
        if blur_kernel_size < 1 or blur_kernel_size % 2 == 0:
            raise ValueError(f"blur_kernel_size must be odd and positive, got {blur_kernel_size}; e.g. {blur_kernel_size + 1}.")
        if blur_kernel_size // 2 >= size:
            raise ValueError(
                f"blur_kernel_size={blur_kernel_size} is too large for size={size} (reflect padding needs "
                f"kernel_size // 2 < size); leave it None for 10% of the side."
            )
        blur_kernel_size = int(blur_kernel_size)
    return dict(
        size=int(size),
        num_channels=int(num_channels),
        crop_scale=list(_check_range("crop_scale", crop_scale, 0.0, 1.0)),
        crop_ratio=list(_check_range("crop_ratio", crop_ratio, 0.0, math.inf)),
        hflip_p=_check_probability("hflip_p", hflip_p),
        jitter_strength=jitter_strength,
        jitter_p=_check_probability("jitter_p", jitter_p),
        grayscale_p=_check_probability("grayscale_p", grayscale_p),
        blur_p=_check_probability("blur_p", blur_p),
        blur_kernel_size=blur_kernel_size,
        blur_sigma=list(_check_range("blur_sigma", blur_sigma, 0.0, math.inf)),
        mean=list(_check_stats("mean", mean, num_channels)),
        std=list(_check_stats("std", std, num_channels)),
    )


def _preset_params(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """A preset's parameters with ``overrides`` applied.

    When ``num_channels`` is overridden to 1 for an RGB preset and ``mean`` / ``std`` are not
    given, the preset's statistics are reduced to one channel with the luma weights (exact for the
    mean, an upper bound for the standard deviation).
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; the presets are {sorted(PRESETS)}.")
    unknown = sorted(set(overrides) - set(_PARAM_NAMES))
    if unknown:
        raise ValueError(f"Unknown augmentation parameter(s) {unknown}; the parameters are {list(_PARAM_NAMES)}.")
    params = {**PRESETS[name], **overrides}
    if params["num_channels"] == 1:
        for key in ("mean", "std"):
            if key not in overrides and len(params[key]) == 3:
                params[key] = (sum(w * v for w, v in zip(_LUMA, params[key])),)
    return params


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


# ----------------------------------------------------------------------------------------------
# Tensor kernels, float images in [0, 1], one parameter per sample (both implementations use the
# blur and hue kernels; the batched one all of them)
# ----------------------------------------------------------------------------------------------


def _luma(x: Tensor) -> Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luma; (N, 1, H, W) unchanged."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


def _per_sample(values: Tensor) -> Tensor:
    return values.view(-1, 1, 1, 1)


# The colour adjustments are torchvision's (``adjust_brightness`` / ``_contrast`` / ``_saturation``
# on float images): multiply, or blend with the luma mean / the luma image, then clamp to [0, 1].


def _adjust_brightness(x: Tensor, factor: Tensor) -> Tensor:
    return (x * _per_sample(factor)).clamp_(0.0, 1.0)


def _adjust_contrast(x: Tensor, factor: Tensor) -> Tensor:
    mean = _luma(x).mean(dim=(1, 2, 3), keepdim=True)
    f = _per_sample(factor)
    return (x * f + mean * (1.0 - f)).clamp_(0.0, 1.0)


def _adjust_saturation(x: Tensor, factor: Tensor) -> Tensor:
    f = _per_sample(factor)
    return (x * f + _luma(x) * (1.0 - f)).clamp_(0.0, 1.0)


def _adjust_hue(x: Tensor, shift: Tensor) -> Tensor:
    """Rotate the hue of (N, 3, H, W) RGB in [0, 1] by ``shift`` (N,) turns, keeping HSV's value and
    saturation: torchvision's ``adjust_hue`` (RGB -> HSV, h += shift mod 1, HSV -> RGB) written
    directly. With the hue in sextants h6 in [0, 6) (PIL's formula) the inverse map is, per channel,
    ``max - (max - min) * clamp(min(k, 4 - k), 0, 1)`` with ``k = (n + h6) mod 6`` and n = 5, 3, 1
    for R, G, B: the piecewise-linear HSV hexcone, without branches."""
    r, g, b = x.unbind(1)
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    delta = maxc - minc
    r_is_max, g_is_max = maxc == r, maxc == g
    numerator = torch.where(r_is_max, g - b, torch.where(g_is_max, b - r + 2.0 * delta, r - g + 4.0 * delta))
    h6 = numerator / torch.where(delta > 0, delta, torch.ones_like(delta)) + 6.0 * shift.view(-1, 1, 1)
    n = torch.tensor([5.0, 3.0, 1.0], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    k = torch.remainder(h6.unsqueeze(1) + n, 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return maxc.unsqueeze(1) - delta.unsqueeze(1) * ramp


def _gaussian_blur(x: Tensor, sigma: Tensor, kernel_size: int) -> Tensor:
    """Per-sample Gaussian blur of (N, C, H, W): separable depthwise convolution, reflect padding,
    the kernel of torchvision's ``gaussian_blur`` (exp(-i^2 / 2 sigma^2), normalised)."""
    n, c, height, width = x.shape
    radius = kernel_size // 2
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.softmax(-(offsets.view(1, -1) ** 2) / (2.0 * sigma.view(-1, 1) ** 2), dim=1)  # (N, k)
    kernel = kernel.repeat_interleave(c, dim=0)  # one kernel per (sample, channel)
    flat = F.pad(x.reshape(1, n * c, height, width), (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel.view(n * c, 1, 1, kernel_size), groups=n * c)
    flat = F.conv2d(flat, kernel.view(n * c, 1, kernel_size, 1), groups=n * c)
    return flat.view(n, c, height, width)


# ----------------------------------------------------------------------------------------------
# One view of one image: torchvision.transforms.v2
# ----------------------------------------------------------------------------------------------


class _ColorJitter(v2.ColorJitter):
    """``v2.ColorJitter`` (same parameters, same random order and factors), with the hue rotation
    of float RGB tensors computed by :func:`_adjust_hue`: the same result as torchvision's
    ``adjust_hue`` (to float rounding) without its HSV round trip, 2.5x faster."""

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not (isinstance(inpt, Tensor) and inpt.is_floating_point() and inpt.shape[-3] == 3):
            return super().transform(inpt, params)
        adjust = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, None)
        names = ("brightness_factor", "contrast_factor", "saturation_factor", "hue_factor")
        output = inpt
        for fn_id in params["fn_idx"].tolist():
            factor = params[names[fn_id]]
            if factor is None:
                continue
            if fn_id == 3:
                flat = output.reshape(-1, *output.shape[-3:])
                output = _adjust_hue(flat, flat.new_full((flat.shape[0],), factor)).reshape(output.shape)
            else:
                output = adjust[fn_id](output, factor)
        return output


class RandomGaussianBlur(v2.Transform):
    """Gaussian blur with probability ``p`` and sigma uniform in ``sigma`` (SimCLR appendix A).

    The distribution of ``v2.RandomApply([v2.GaussianBlur(kernel_size, sigma)], p)`` and the same
    kernel and reflect padding, computed as two 1-D convolutions: torchvision convolves with the
    full k x k kernel, 8x the work for SimCLR's 23 px kernel at 224 px (most of a view's cost).
    Takes float tensors ``(..., C, H, W)``.
    """

    def __init__(self, kernel_size: int, sigma: Sequence[float] = (0.1, 2.0), p: float = 0.5) -> None:
        super().__init__()
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd positive int, got {kernel_size!r}.")
        self.kernel_size = kernel_size
        self.sigma = _check_range("sigma", sigma, 0.0, math.inf)
        self.p = _check_probability("p", p)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        apply = bool(torch.rand(1) < self.p)
        return dict(apply=apply, sigma=float(torch.empty(1).uniform_(*self.sigma)) if apply else None)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not params["apply"]:
            return inpt
        shape = inpt.shape
        batch = inpt.reshape(-1, *shape[-3:])
        sigma = torch.full((batch.shape[0],), params["sigma"], dtype=batch.dtype, device=batch.device)
        return _gaussian_blur(batch, sigma, self.kernel_size).reshape(shape)


class SimCLRViewTransform:
    """One random SimCLR view of one image (Chen et al. 2020, appendix A), with ``transforms.v2``.

    Args:
        size: side of the square output view, in pixels (224 ImageNet, 32 CIFAR). Images smaller
            than ``size`` are upsampled by the crop.
        num_channels: channels of the output, 1 or 3: what the backbone expects.
        crop_scale: range of the crop's area as a fraction of the image (SimCLR: 0.08-1).
        crop_ratio: range of the crop's aspect ratio, sampled log-uniformly (SimCLR: 3/4-4/3).
        hflip_p: probability of a horizontal flip (0.5).
        jitter_strength: colour distortion strength s; brightness, contrast and saturation factors
            are drawn from [max(0, 1 - 0.8 s), 1 + 0.8 s] and the hue shift from [-0.2 s, 0.2 s]
            (1.0 ImageNet, 0.5 CIFAR; 0 disables the jitter). On one channel only brightness and
            contrast have an effect.
        jitter_p: probability of applying the colour jitter (0.8).
        grayscale_p: probability of converting the view to grayscale (0.2).
        blur_p: probability of a Gaussian blur (0.5 ImageNet, 0 CIFAR).
        blur_kernel_size: odd kernel side; None takes 10% of ``size``
            (:func:`default_blur_kernel_size`).
        blur_sigma: range of the blur's standard deviation, sampled uniformly ((0.1, 2.0)).
        mean, std: per-channel statistics for ``Normalize`` (one value for all channels allowed).

    Call it on a PIL image (any mode), a uint8 ``(C, H, W)`` / ``(H, W)`` tensor or a uint8 array
    (see :func:`to_uint8_tensor`); it returns a float32 ``(num_channels, size, size)`` tensor. It
    draws from torch's global random generator (seeded per worker by the ``DataLoader``).

    Example::

        >>> transform = SimCLRViewTransform.from_preset("imagenet", blur_p=0.0)
        >>> transform(torch.zeros(3, 300, 200, dtype=torch.uint8)).shape
        torch.Size([3, 224, 224])
    """

    def __init__(
        self,
        size: int = 224,
        num_channels: int = 3,
        crop_scale: Sequence[float] = (0.08, 1.0),
        crop_ratio: Sequence[float] = (3 / 4, 4 / 3),
        hflip_p: float = 0.5,
        jitter_strength: float = 1.0,
        jitter_p: float = 0.8,
        grayscale_p: float = 0.2,
        blur_p: float = 0.5,
        blur_kernel_size: Optional[int] = None,
        blur_sigma: Sequence[float] = (0.1, 2.0),
        mean: Union[float, Sequence[float]] = IMAGENET_MEAN,
        std: Union[float, Sequence[float]] = IMAGENET_STD,
    ) -> None:
        self._params = _check_params(
            size, num_channels, crop_scale, crop_ratio, hflip_p, jitter_strength, jitter_p, grayscale_p,
            blur_p, blur_kernel_size, blur_sigma, mean, std,
        )  # fmt: skip
        for name, value in self._params.items():
            setattr(self, name, value)
        self.pipeline = self._build_pipeline()

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "SimCLRViewTransform":
        """The preset ``name`` (``imagenet``, ``cifar``, ``digits``; see :data:`PRESETS`) with any
        parameter overridden by keyword, e.g. ``from_preset("cifar", size=64, blur_p=0.5)``."""
        return cls(**_preset_params(name, overrides))

    @property
    def blur_kernel(self) -> int:
        """The blur kernel side in use (``blur_kernel_size`` or 10% of ``size``, odd)."""
        return self.blur_kernel_size or default_blur_kernel_size(self.size)

    def _build_pipeline(self) -> v2.Compose:
        p = self._params
        s = p["jitter_strength"]
        ops: list[Callable] = [
            # the crop runs on uint8 (torchvision's fast antialiased path), the rest on float
            v2.RandomResizedCrop(
                p["size"], scale=tuple(p["crop_scale"]), ratio=tuple(p["crop_ratio"]),
                interpolation=InterpolationMode.BILINEAR, antialias=True,
            ),
            v2.ToDtype(torch.float32, scale=True),
        ]  # fmt: skip
        if p["hflip_p"] > 0:
            ops.append(v2.RandomHorizontalFlip(p["hflip_p"]))
        if s > 0 and p["jitter_p"] > 0:
            jitter = _ColorJitter(brightness=0.8 * s, contrast=0.8 * s, saturation=0.8 * s, hue=0.2 * s)
            ops.append(v2.RandomApply([jitter], p=p["jitter_p"]))
        if p["grayscale_p"] > 0 and p["num_channels"] == 3:
            ops.append(v2.RandomGrayscale(p["grayscale_p"]))
        if p["blur_p"] > 0:
            ops.append(RandomGaussianBlur(self.blur_kernel, sigma=tuple(p["blur_sigma"]), p=p["blur_p"]))
        ops.append(v2.Normalize(mean=p["mean"], std=p["std"]))
        return v2.Compose(ops)

    def __call__(self, image: ImageLike) -> Tensor:
        """One random view: float32 ``(num_channels, size, size)``, normalised."""
        return self.pipeline(to_uint8_tensor(image, self.num_channels))

    def to_dict(self) -> dict[str, Any]:
        """All parameters, JSON-serialisable; ``SimCLRViewTransform(**t.to_dict())`` rebuilds ``t``."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self._params.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SimCLRViewTransform) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_describe(self._params)})"


class MultiViewTransform:
    """``n_views`` independent views of one image, stacked: ``(n_views, C, size, size)``.

    SimCLR uses two views per image (the positive pair); SupCon and multi-crop methods use more.

    Args:
        transform: the view transform, typically a :class:`SimCLRViewTransform`.
        n_views: number of views per image (>= 1).
    """

    def __init__(self, transform: Callable[[ImageLike], Tensor], n_views: int = 2) -> None:
        if not callable(transform):
            raise ValueError(f"transform must be callable (e.g. a SimCLRViewTransform), got {type(transform).__name__}.")
        if isinstance(n_views, bool) or not isinstance(n_views, int) or n_views < 1:
            raise ValueError(f"n_views must be a positive int (2 for SimCLR), got {n_views!r}.")
        self.transform = transform
        self.n_views = n_views

    def __call__(self, image: ImageLike) -> Tensor:
        if isinstance(self.transform, SimCLRViewTransform):  # convert the image once
            image = to_uint8_tensor(image, self.transform.num_channels)
            return torch.stack([self.transform.pipeline(image) for _ in range(self.n_views)])
        return torch.stack([self.transform(image) for _ in range(self.n_views)])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transform!r}, n_views={self.n_views})"


# ----------------------------------------------------------------------------------------------
# A whole batch at once: vectorised tensor ops, per-sample random parameters
# ----------------------------------------------------------------------------------------------


#: batch chunk on CPU, in output values (see BatchedSimCLRViews.forward)
_CPU_CHUNK_VALUES = 2**20


def _uniform(low: float, high: float, n: int, generator: Optional[torch.Generator], device: torch.device) -> Tensor:
    return torch.rand(n, generator=generator, device=device, dtype=torch.float64) * (high - low) + low


def sample_crop_boxes(
    batch_size: int,
    height: Union[int, Tensor],
    width: Union[int, Tensor],
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    generator: Optional[torch.Generator] = None,
    attempts: int = 10,
) -> Tensor:
    """Random resized crop boxes, ``(batch_size, 4)`` int64 rows ``(top, left, height, width)``.

    The distribution of ``torchvision.transforms.v2.RandomResizedCrop.make_params`` (Inception /
    SimCLR crop), vectorised: every sample draws ``attempts`` (area fraction uniform in ``scale``,
    aspect ratio log-uniform in ``ratio``) at once and keeps the first that fits in the image, its
    position uniform among the integer offsets; a sample with no fitting attempt gets the central
    crop of the largest in-range aspect ratio, as torchvision does. ``height`` and ``width`` are
    the image's, or each sample's (``(batch_size,)`` tensors: images of several sizes, each at the
    top left of a common canvas); the same draws give the same boxes either way.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    height = torch.as_tensor(height, dtype=torch.float64, device=device).expand(batch_size)
    width = torch.as_tensor(width, dtype=torch.float64, device=device).expand(batch_size)
    n = batch_size * attempts
    area = (height * width)[:, None] * _uniform(scale[0], scale[1], n, generator, device).view(batch_size, attempts)
    log_ratio = _uniform(math.log(ratio[0]), math.log(ratio[1]), n, generator, device).view(batch_size, attempts)
    aspect = torch.exp(log_ratio)
    w = torch.round(torch.sqrt(area * aspect))
    h = torch.round(torch.sqrt(area / aspect))
    fits = (w > 0) & (w <= width[:, None]) & (h > 0) & (h <= height[:, None])
    first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # index of the first fitting attempt
    w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)
    found = fits.any(dim=1)

    # fallback: central crop (torchvision's rule)
    in_ratio = width / height
    narrow, wide = in_ratio < min(ratio), in_ratio > max(ratio)
    fallback_w = torch.where(wide, torch.round(height * max(ratio)), width)
    fallback_h = torch.where(narrow, torch.round(width / min(ratio)), height)
    w = torch.where(found, w, fallback_w)
    h = torch.where(found, h, fallback_h)

    # uniform integer offsets in [0, H - h] x [0, W - w]
    u = torch.rand(2, batch_size, generator=generator, device=device, dtype=torch.float64)
    top = torch.minimum(torch.floor(u[0] * (height - h + 1)), height - h)
    left = torch.minimum(torch.floor(u[1] * (width - w + 1)), width - w)
    top = torch.where(found, top, torch.div(height - h, 2, rounding_mode="floor"))
    left = torch.where(found, left, torch.div(width - w, 2, rounding_mode="floor"))
    return torch.stack([top, left, h, w], dim=1).to(torch.int64)


class BatchedSimCLRViews(nn.Module):
    """SimCLR views of a whole uint8 batch in one vectorised pass, on CPU or GPU.

    The distribution of :class:`SimCLRViewTransform` (same parameters, same order of operations,
    Chen et al. 2020 appendix A), with every sample's random parameters drawn independently:

    * crop: :func:`sample_crop_boxes` (torchvision's RandomResizedCrop rule), cut and resized by
      ``torchvision.ops.roi_align`` (bilinear; averaging ``ceil(crop side / size)`` samples per
      output pixel when shrinking, in place of the antialiasing filter);
    * flip, grayscale, blur: per-sample Bernoulli masks;
    * colour jitter: per-sample Bernoulli mask, factors and a random order of the four adjustments,
      each applied with torchvision's formulas (brightness ``x f``, contrast and saturation blends
      with the luma mean / luma image, hue as a rotation in HSV), clamped to [0, 1] after each;
    * blur: sigma per sample, separable depthwise ``conv2d`` with reflect padding.

    Args:
        the same as :class:`SimCLRViewTransform`; or build it with :meth:`from_transform` /
        :meth:`from_preset`.

    ``forward(images, generator=None, sizes=None)``: ``images`` is uint8 ``(B, C, H, W)`` with C
    in 1, 3, 4 (RGBA) or ``(B, H, W)``; images of several sizes go on a common canvas
    (:func:`stack_on_canvas`), with ``sizes`` saying each one's extent, so that every crop is drawn
    from the whole image, as SimCLR's RandomResizedCrop is. Returns float32 ``(B, num_channels, size, size)``, normalised, on the images'
    device. ``generator`` (a ``torch.Generator``) makes the draw reproducible; without it torch's
    global generator is used. The random parameters are drawn on the generator's device (CPU by
    default), so a seed gives the same views on CPU and GPU up to floating-point rounding.

    Example::

        >>> views = BatchedSimCLRViews.from_preset("cifar")
        >>> batch = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
        >>> views.multi_view(batch, n_views=2).shape
        torch.Size([16, 2, 3, 32, 32])
    """

    def __init__(
        self,
        size: int = 224,
        num_channels: int = 3,
        crop_scale: Sequence[float] = (0.08, 1.0),
        crop_ratio: Sequence[float] = (3 / 4, 4 / 3),
        hflip_p: float = 0.5,
        jitter_strength: float = 1.0,
        jitter_p: float = 0.8,
        grayscale_p: float = 0.2,
        blur_p: float = 0.5,
        blur_kernel_size: Optional[int] = None,
        blur_sigma: Sequence[float] = (0.1, 2.0),
        mean: Union[float, Sequence[float]] = IMAGENET_MEAN,
        std: Union[float, Sequence[float]] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self._params = _check_params(
            size, num_channels, crop_scale, crop_ratio, hflip_p, jitter_strength, jitter_p, grayscale_p,
            blur_p, blur_kernel_size, blur_sigma, mean, std,
        )  # fmt: skip
        for name, value in self._params.items():
            setattr(self, name, value)
        self.register_buffer("mean_tensor", torch.tensor(self._params["mean"]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std_tensor", torch.tensor(self._params["std"]).view(1, -1, 1, 1), persistent=False)

    @classmethod
    def from_transform(cls, transform: SimCLRViewTransform) -> "BatchedSimCLRViews":
        """The batched twin of a :class:`SimCLRViewTransform` (same parameters)."""
        return cls(**transform.to_dict())

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "BatchedSimCLRViews":
        """See :meth:`SimCLRViewTransform.from_preset`."""
        return cls(**_preset_params(name, overrides))

    @property
    def blur_kernel(self) -> int:
        return self.blur_kernel_size or default_blur_kernel_size(self.size)

    def to_dict(self) -> dict[str, Any]:
        """All parameters, JSON-serialisable (the same keys as :meth:`SimCLRViewTransform.to_dict`)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self._params.items()}

    def extra_repr(self) -> str:
        return _describe(self._params)

    def sample_parameters(
        self, batch_size: int, height: Union[int, Tensor], width: Union[int, Tensor], generator: Optional[torch.Generator] = None
    ) -> dict[str, Tensor]:
        """Every sample's random parameters, on the generator's device (CPU by default); the crop
        boxes lie within ``height`` x ``width``, the batch's image size or each sample's (tensors).

        Keys: ``boxes`` (B, 4) int64 (top, left, height, width); ``flip``, ``jitter``,
        ``grayscale``, ``blur`` (B,) bool; ``brightness``, ``contrast``, ``saturation``, ``hue``,
        ``sigma`` (B,) float; ``jitter_order`` (B, 4) int64, a permutation of (brightness,
        contrast, saturation, hue) per sample.
        """
        device = generator.device if generator is not None else torch.device("cpu")
        p, s = self._params, self._params["jitter_strength"]

        def bernoulli(prob: float) -> Tensor:
            return torch.rand(batch_size, generator=generator, device=device) < prob

        def uniform(low: float, high: float) -> Tensor:
            return _uniform(low, high, batch_size, generator, device).float()

        return dict(
            boxes=sample_crop_boxes(batch_size, height, width, p["crop_scale"], p["crop_ratio"], generator),
            flip=bernoulli(p["hflip_p"]),
            jitter=bernoulli(p["jitter_p"] if s > 0 else 0.0),
            brightness=uniform(max(0.0, 1 - 0.8 * s), 1 + 0.8 * s),
            contrast=uniform(max(0.0, 1 - 0.8 * s), 1 + 0.8 * s),
            saturation=uniform(max(0.0, 1 - 0.8 * s), 1 + 0.8 * s),
            hue=uniform(-0.2 * s, 0.2 * s),
            jitter_order=torch.rand(batch_size, 4, generator=generator, device=device).argsort(dim=1),
            grayscale=bernoulli(p["grayscale_p"]),
            blur=bernoulli(p["blur_p"]),
            sigma=uniform(*p["blur_sigma"]),
        )

    def _check_images(self, images: Tensor) -> Tensor:
        if not isinstance(images, Tensor):
            raise ValueError(
                f"BatchedSimCLRViews takes a uint8 tensor (B, C, H, W), got {type(images).__name__}; "
                "use SimCLRViewTransform for single PIL images."
            )
        if images.dtype != torch.uint8:
            raise ValueError(
                f"images must be uint8 in 0..255, got {images.dtype}; for floats in [0, 1] pass "
                "(images * 255).round().clamp(0, 255).to(torch.uint8)."
            )
        if images.ndim == 3:
            images = images.unsqueeze(1)  # (B, H, W) grayscale
        if images.ndim != 4 or images.shape[1] not in (1, 3, 4):
            raise ValueError(
                f"images must be a batch (B, C, H, W) with C in 1, 3, 4 (RGBA), or (B, H, W); got shape "
                f"{tuple(images.shape)}. Channels-last batches need .permute(0, 3, 1, 2); a single image needs "
                ".unsqueeze(0) or SimCLRViewTransform."
            )
        if images.shape[0] == 0:
            raise ValueError("Empty batch (B = 0): pass at least one image.")
        if images.shape[2] == 0 or images.shape[3] == 0:
            raise ValueError(f"Empty images of shape {tuple(images.shape)}; every image needs at least one pixel.")
        return images

    def forward(self, images: Tensor, generator: Optional[torch.Generator] = None, sizes: Optional[Tensor] = None) -> Tensor:
        """``(B, C, H, W)`` uint8 -> ``(B, num_channels, size, size)`` float32 views, one per image.
        ``sizes`` ((B, 2) rows (height, width), e.g. from :func:`stack_on_canvas`): each image is
        that top-left part of its ``H x W`` canvas, and its crop is drawn from the whole of it."""
        images = self._check_images(images)
        batch, _, height, width = images.shape
        if sizes is not None:
            height, width = sizes.to(torch.float64).cpu().unbind(1)
        params = {k: v.to(images.device) for k, v in self.sample_parameters(batch, height, width, generator).items()}
        if images.device.type != "cpu":
            return self._views(images, params)
        # On CPU, chunks of about a million output values keep every intermediate in the caches
        # (one pass over a 64 x 3 x 224 x 224 float batch is ~40 MB): 2-3x faster at 224 px.
        chunk = max(1, _CPU_CHUNK_VALUES // (self.num_channels * self.size * self.size))
        if batch <= chunk:
            return self._views(images, params)
        out = torch.empty(batch, self.num_channels, self.size, self.size, dtype=torch.float32)
        for start in range(0, batch, chunk):
            part = slice(start, start + chunk)
            out[part] = self._views(images[part], {k: v[part] for k, v in params.items()})
        return out

    def _views(self, images: Tensor, params: dict[str, Tensor]) -> Tensor:
        """The five steps of SimCLR's augmentation on a checked uint8 batch, with given parameters."""
        batch = images.shape[0]
        x = match_channels(images, self.num_channels).float().div_(255.0)

        # 1. random resized crop: box (x1, y1, x2, y2) in pixel-edge coordinates; aligned=True puts
        #    pixel k's centre at k + 0.5, so the box covers exactly the cropped pixels.
        top, left, h, w = params["boxes"].to(x.dtype).unbind(1)
        index = torch.arange(batch, device=x.device, dtype=x.dtype)
        rois = torch.stack([index, left, top, left + w, top + h], dim=1)
        x = roi_align(x, rois, output_size=(self.size, self.size), spatial_scale=1.0, sampling_ratio=-1, aligned=True)

        # 2. horizontal flip
        if self.hflip_p > 0:
            flip = params["flip"]
            x[flip] = x[flip].flip(-1)

        # 3. colour jitter: the four adjustments in a per-sample random order; at step t, sample i
        #    gets adjustment order[i, t] (if its jitter is on)
        jitter = params["jitter"]
        if jitter.any():
            adjustments = [(_adjust_brightness, params["brightness"]), (_adjust_contrast, params["contrast"])]
            if self.num_channels == 3:  # saturation and hue leave one-channel images unchanged
                adjustments += [(_adjust_saturation, params["saturation"]), (_adjust_hue, params["hue"])]
            order = params["jitter_order"]
            for step in range(4):
                for op, (adjust, factor) in enumerate(adjustments):
                    selected = torch.nonzero(jitter & (order[:, step] == op)).squeeze(1)
                    if selected.numel():
                        x[selected] = adjust(x[selected], factor[selected])

        # 4. grayscale (luma, repeated over the channels)
        if self.num_channels == 3 and self.grayscale_p > 0:
            gray = params["grayscale"]
            x[gray] = _luma(x[gray]).expand(-1, 3, -1, -1)

        # 5. Gaussian blur
        if self.blur_p > 0:
            selected = torch.nonzero(params["blur"]).squeeze(1)
            if selected.numel():
                x[selected] = _gaussian_blur(x[selected], params["sigma"][selected].to(x.dtype), self.blur_kernel)

        return (x - self.mean_tensor) / self.std_tensor

    def multi_view(
        self, images: Tensor, n_views: int = 2, generator: Optional[torch.Generator] = None, sizes: Optional[Tensor] = None
    ) -> Tensor:
        """``n_views`` independent views of every image: ``(B, n_views, num_channels, size, size)``
        (``sizes``: see :meth:`forward`)."""
        if isinstance(n_views, bool) or not isinstance(n_views, int) or n_views < 1:
            raise ValueError(f"n_views must be a positive int (2 for SimCLR), got {n_views!r}.")
        images = self._check_images(images)
        repeated = images.repeat_interleave(n_views, dim=0)
        sizes = sizes.repeat_interleave(n_views, dim=0) if sizes is not None else None
        views = self.forward(repeated, generator=generator, sizes=sizes)
        return views.view(images.shape[0], n_views, *views.shape[1:])


#: images are cut down to this many times the view's pixels before the crop (see `crop_source`)
SOURCE_PIXELS_PER_VIEW_PIXEL = 4


def crop_source(image: Tensor, size: int) -> Tensor:
    """The image a view of ``size`` px is cropped from: the whole uint8 ``(C, H, W)`` image,
    shrunk (antialiased, aspect kept) when it has more than ``SOURCE_PIXELS_PER_VIEW_PIXEL`` times
    a view's pixels (448 x 448 for 224 px views), never enlarged. A crop of the smallest area
    SimCLR draws (8%) of such a source still has more pixels than the view, as it has in a typical
    ImageNet photo, while the data loader moves and crops bounded images."""
    height, width = image.shape[-2:]
    budget = SOURCE_PIXELS_PER_VIEW_PIXEL * size * size
    if height * width <= budget:
        return image
    factor = math.sqrt(budget / (height * width))
    return TF.resize(image, [max(1, math.floor(height * factor)), max(1, math.floor(width * factor))], antialias=True)


def stack_on_canvas(images: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """uint8 ``(C, H_i, W_i)`` images of any sizes -> a ``(B, C, max H, max W)`` canvas with each
    image at its top left, and their ``(B, 2)`` sizes (for :meth:`BatchedSimCLRViews.forward`).
    Each image's last row and column are repeated into the padding, so that the bilinear crop at an
    image's edge reads what it reads at the edge of an image alone (``roi_align`` clamps there)."""
    sizes = torch.tensor([image.shape[-2:] for image in images], dtype=torch.int64)
    height, width = (int(v) for v in sizes.max(dim=0).values)
    canvas = torch.empty(len(images), images[0].shape[0], height, width, dtype=torch.uint8)
    for index, image in enumerate(images):
        h, w = image.shape[-2:]
        canvas[index, :, :h, :w] = image
        canvas[index, :, :h, w:] = image[:, :, w - 1 : w]
        canvas[index, :, h:, :] = canvas[index, :, h - 1 : h, :]
    return canvas, sizes
