"""View generation for contrastive learning: SimCLR's image augmentations (``vision``)."""

from .vision import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    DIGITS_MEAN,
    DIGITS_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PRESETS,
    BatchedSimCLRViews,
    MultiViewTransform,
    RandomGaussianBlur,
    SimCLRViewTransform,
    crop_source,
    default_blur_kernel_size,
    sample_crop_boxes,
    stack_on_canvas,
    to_uint8_tensor,
)


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
