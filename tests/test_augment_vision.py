"""Tests for hf_contrastive.augment.vision: SimCLR's view generation (Chen et al. 2020, appendix A).

Statistical tests use fixed seeds (deterministic) and tolerances set from the sampling error:
binomial frequencies within 4 standard deviations, two-sample Kolmogorov-Smirnov distances below
the 0.1% critical value, differences of means within 4 standard errors.
"""

import json
import math
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from hf_contrastive.augment import (
    CIFAR10_MEAN,
    DIGITS_MEAN,
    DIGITS_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PRESETS,
    BatchedSimCLRViews,
    MultiViewTransform,
    SimCLRViewTransform,
    crop_source,
    default_blur_kernel_size,
    sample_crop_boxes,
    stack_on_canvas,
    to_uint8_tensor,
)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

#: every op off, crop = whole image: the pipeline is the identity (then mean 0, std 1)
IDENTITY = dict(
    crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), hflip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0, mean=0.0, std=1.0
)  # fmt: skip


def colourful_image(side: int = 16, seed: int = 0) -> torch.Tensor:
    """uint8 (3, side, side), saturated colours in 50..205 (no clamping at 0 or 1 by the jitter's
    first step), left and right halves different (a flip is visible)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(50, 206, (3, side, side), generator=generator, dtype=torch.uint8)


def structured_image(side: int = 48) -> torch.Tensor:
    """uint8 (3, side, side): horizontal and vertical ramps and a stripe pattern, so crops, blur and
    colour changes all move the summary statistics."""
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    r, g = xx * 255 // (side - 1), yy * 255 // (side - 1)
    b = ((xx + yy) % 16 < 8) * 200 + 30
    return torch.stack([r, g, b]).to(torch.uint8)


def ramp_image(side: int = 64) -> torch.Tensor:
    """uint8 (3, side, side): red = 4 x column, green = 4 x row; a view's red and green ranges give
    its crop box."""
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    return torch.stack([xx * 4, yy * 4, torch.zeros_like(xx)]).to(torch.uint8)


def ks_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Two-sample Kolmogorov-Smirnov statistic sup |F_x - F_y|."""
    x, y = x.double().sort().values, y.double().sort().values
    grid = torch.cat([x, y])
    cdf_x = torch.searchsorted(x, grid, right=True) / len(x)
    cdf_y = torch.searchsorted(y, grid, right=True) / len(y)
    return (cdf_x - cdf_y).abs().max().item()


def ks_critical(n: int, m: int, c_alpha: float = 1.949) -> float:
    """The KS distance exceeded with probability 0.001 (c = 1.949) by samples of one distribution."""
    return c_alpha * math.sqrt((n + m) / (n * m))


def assert_binomial(count: int, n: int, p: float, what: str) -> None:
    tolerance = 4 * math.sqrt(p * (1 - p) / n)
    assert abs(count / n - p) <= tolerance, f"{what}: frequency {count / n:.3f}, expected {p} +- {tolerance:.3f}"


def detect(op: str, views: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Which of ``views`` (N, 3, H, W), made from ``image`` with only ``op`` possibly on and
    mean 0 / std 1, show that op."""
    source = image.float().div(255).expand_as(views)
    if op == "flip":
        flipped = (views - source.flip(-1)).abs().amax(dim=(1, 2, 3)) < 1e-4
        unchanged = (views - source).abs().amax(dim=(1, 2, 3)) < 1e-4
        assert bool((flipped ^ unchanged).all()), "every view is the image or its mirror"
        return flipped
    if op == "grayscale":
        return (views[:, 0] - views[:, 1]).abs().amax(dim=(1, 2)) < 1e-6
    return (views - source).abs().amax(dim=(1, 2, 3)) > 1e-3  # jitter, blur


ONE_OP = {
    "flip": dict(hflip_p=0.3),
    "jitter": dict(jitter_p=0.3),
    "grayscale": dict(grayscale_p=0.3),
    "blur": dict(blur_p=0.3, blur_sigma=(1.0, 2.0)),  # sigma 0.1 leaves a 3 px kernel at the identity
}


# ---------------------------------------------------------------------------------------------
# Views are random and independent
# ---------------------------------------------------------------------------------------------


def test_two_views_of_one_image_differ():
    """MultiViewTransform and BatchedSimCLRViews.multi_view draw each view independently."""
    torch.manual_seed(0)
    transform = SimCLRViewTransform.from_preset("cifar")
    image = Image.fromarray(structured_image(40).permute(1, 2, 0).numpy())
    views = MultiViewTransform(transform, n_views=2)(image)
    assert views.shape == (2, 3, 32, 32)
    assert (views[0] - views[1]).abs().max() > 0.1

    batched = BatchedSimCLRViews.from_transform(transform)
    pairs = batched.multi_view(structured_image(40).expand(4, -1, -1, -1), n_views=2)
    assert pairs.shape == (4, 2, 3, 32, 32)
    assert ((pairs[:, 0] - pairs[:, 1]).abs().amax(dim=(1, 2, 3)) > 0.1).all()


def test_batched_views_follow_the_generator():
    """The same generator seed gives the same batch of views; another seed gives other views."""
    batched = BatchedSimCLRViews.from_preset("imagenet", size=24)
    images = torch.randint(0, 256, (6, 3, 30, 40), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    a = batched(images, generator=torch.Generator().manual_seed(1))
    b = batched(images, generator=torch.Generator().manual_seed(1))
    c = batched(images, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().amax(dim=(1, 2, 3)).min() > 0


# ---------------------------------------------------------------------------------------------
# Each operation happens with its probability
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", list(ONE_OP))
def test_per_image_op_probability(op):
    """With the crop at the identity and every other op off, an op with p = 0.3 shows on 30% of
    views (binomial, 4 sd) in SimCLRViewTransform."""
    torch.manual_seed(0)
    image = colourful_image()
    transform = SimCLRViewTransform(size=16, **{**IDENTITY, **ONE_OP[op]})
    n = 400
    views = torch.stack([transform(image) for _ in range(n)])
    assert_binomial(int(detect(op, views, image).sum()), n, 0.3, f"per-image {op}")


@pytest.mark.parametrize("op", list(ONE_OP))
def test_batched_op_probability(op):
    """The same for BatchedSimCLRViews: each sample draws its own Bernoulli(p)."""
    image = colourful_image()
    batched = BatchedSimCLRViews(size=16, **{**IDENTITY, **ONE_OP[op]})
    n = 3000
    views = batched(image.expand(n, -1, -1, -1), generator=torch.Generator().manual_seed(0))
    assert_binomial(int(detect(op, views, image).sum()), n, 0.3, f"batched {op}")


def test_identity_settings_give_the_image_back():
    """With every op off and the crop covering the whole image, both paths return the image."""
    image = colourful_image()
    expected = image.float() / 255
    torch.testing.assert_close(SimCLRViewTransform(size=16, **IDENTITY)(image), expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(BatchedSimCLRViews(size=16, **IDENTITY)(image[None])[0], expected, atol=1e-6, rtol=0)


def test_kernels_match_torchvision():
    """The colour and blur kernels with per-sample parameters compute torchvision's functions:
    adjust_brightness / contrast / saturation / hue and gaussian_blur, sample by sample (gray
    pixels and ties between channels included); the per-image ColorJitter and blur agree with
    v2.ColorJitter and v2.GaussianBlur for the same drawn parameters."""
    from torchvision.transforms.v2 import functional as TF

    from hf_contrastive.augment import vision

    x = torch.rand(6, 3, 20, 17, generator=torch.Generator().manual_seed(0))
    x[0] = 0.5  # gray: no hue
    x[1, 0] = x[1, 1]  # red = green ties
    x[2] = (x[2] * 4).round() / 4  # many ties
    factors = torch.tensor([0.2, 0.7, 1.0, 1.3, 1.8, 0.0])
    shifts = torch.tensor([0.1, -0.3, 0.5, -0.5, 0.2, 0.0])
    sigmas = torch.tensor([0.1, 0.5, 1.0, 1.5, 2.0, 0.7])
    checks = [
        (vision._adjust_brightness, TF.adjust_brightness, factors),
        (vision._adjust_contrast, TF.adjust_contrast, factors),
        (vision._adjust_saturation, TF.adjust_saturation, factors),
        (vision._adjust_hue, TF.adjust_hue, shifts),
    ]
    for ours, reference, values in checks:
        expected = torch.stack([reference(x[i], float(values[i])) for i in range(6)])
        torch.testing.assert_close(ours(x.clone(), values), expected, atol=2e-6, rtol=0)
    blurred = torch.stack([TF.gaussian_blur(x[i], [7, 7], [float(sigmas[i])] * 2) for i in range(6)])
    torch.testing.assert_close(vision._gaussian_blur(x, sigmas, 7), blurred, atol=2e-6, rtol=0)

    torch.manual_seed(0)
    ours, reference = vision._ColorJitter(0.8, 0.8, 0.8, 0.2), v2.ColorJitter(0.8, 0.8, 0.8, 0.2)
    for i in range(6):
        params = reference.make_params([x[i]])
        torch.testing.assert_close(ours.transform(x[i], params), reference.transform(x[i], params), atol=2e-6, rtol=0)
    blur = vision.RandomGaussianBlur(23, sigma=(0.1, 2.0), p=1.0)
    params = blur.make_params([x[0]])
    expected = TF.gaussian_blur(x[3], [23, 23], [params["sigma"]] * 2)
    torch.testing.assert_close(blur.transform(x[3], params), expected, atol=2e-6, rtol=0)


def test_batched_jitter_parameters():
    """Jitter factors lie in SimCLR's ranges ([1 - 0.8 s, 1 + 0.8 s], hue [-0.2 s, 0.2 s]), and the
    order of the four adjustments is a uniform random permutation per sample."""
    s = 0.5
    params = BatchedSimCLRViews(jitter_strength=s).sample_parameters(20000, 32, 32, torch.Generator().manual_seed(0))
    for name in ("brightness", "contrast", "saturation"):
        assert params[name].min() >= 1 - 0.8 * s and params[name].max() <= 1 + 0.8 * s
        assert abs(params[name].mean().item() - 1.0) < 0.01
    assert params["hue"].abs().max() <= 0.2 * s and abs(params["hue"].mean().item()) < 0.005
    assert (params["sigma"] >= 0.1).all() and (params["sigma"] <= 2.0).all()
    order = params["jitter_order"]
    assert (order.sort(dim=1).values == torch.arange(4)).all()
    for step in range(4):
        counts = torch.bincount(order[:, step], minlength=4)
        for count in counts.tolist():
            assert_binomial(count, len(order), 0.25, f"adjustment at step {step}")


# ---------------------------------------------------------------------------------------------
# Every input kind gives the right output
# ---------------------------------------------------------------------------------------------


def make_pil(mode: str, width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    if mode == "I":
        return Image.fromarray(rng.integers(0, 65536, (height, width)).astype(np.int32))
    if mode == "F":
        return Image.fromarray(rng.uniform(0, 255, (height, width)).astype(np.float32))
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (height, width), dtype=np.uint8)]))
    if mode == "LA":
        return Image.fromarray(rgb[..., :2].copy())
    return Image.fromarray(rgb).convert(mode)


MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "LA", "YCbCr"]


def assert_normalised_view(view: torch.Tensor, num_channels: int, size: int, mean, std) -> None:
    assert view.shape == (num_channels, size, size)
    assert view.dtype == torch.float32
    assert torch.isfinite(view).all()
    mean = torch.tensor(mean).view(-1, 1, 1).expand(num_channels, 1, 1)
    std = torch.tensor(std).view(-1, 1, 1).expand(num_channels, 1, 1)
    low, high = (0 - mean) / std, (1 - mean) / std  # the range of normalised [0, 1] pixels
    assert (view >= low - 1e-5).all() and (view <= high + 1e-5).all()


@pytest.mark.parametrize("num_channels", [1, 3])
@pytest.mark.parametrize("image_size", [(5, 3), (40, 30)], ids=["tiny-3x5", "40x30"])
@pytest.mark.parametrize("mode", MODES)
def test_every_pil_mode_and_size_gives_a_normalised_view(mode, image_size, num_channels):
    """Any PIL mode, and images smaller than the crop (upsampled), give float32
    (num_channels, size, size) within the normalised range of [0, 1] pixels."""
    torch.manual_seed(0)
    transform = SimCLRViewTransform.from_preset("imagenet", size=32, num_channels=num_channels)
    image = make_pil(mode, *image_size)
    assert image.mode == mode
    for _ in range(3):
        assert_normalised_view(transform(image), num_channels, 32, transform.mean, transform.std)


@pytest.mark.parametrize("shape", [(5, 7), (1, 5, 7), (3, 5, 7), (4, 5, 7), (3, 3, 5)])
@pytest.mark.parametrize("num_channels", [1, 3])
def test_uint8_tensors_give_a_normalised_view(shape, num_channels):
    """uint8 (H, W) and (C, H, W) tensors with C in 1, 3, 4, tiny ones included."""
    torch.manual_seed(0)
    transform = SimCLRViewTransform.from_preset("cifar", num_channels=num_channels)
    image = torch.randint(0, 256, shape, dtype=torch.uint8)
    assert_normalised_view(transform(image), num_channels, 32, transform.mean, transform.std)
    assert_normalised_view(transform(image.numpy() if len(shape) == 2 else image.permute(1, 2, 0).numpy()),
                           num_channels, 32, transform.mean, transform.std)  # fmt: skip


@pytest.mark.parametrize("shape", [(4, 3, 3, 5), (4, 1, 40, 30), (4, 40, 30), (4, 4, 9, 9)])
@pytest.mark.parametrize("num_channels", [1, 3])
def test_batched_inputs_give_normalised_views(shape, num_channels):
    """BatchedSimCLRViews takes (B, C, H, W) with C in 1, 3, 4 and (B, H, W), tiny images too."""
    batched = BatchedSimCLRViews.from_preset("imagenet", size=32, num_channels=num_channels)
    images = torch.randint(0, 256, shape, dtype=torch.uint8)
    views = batched(images)
    assert views.shape == (shape[0], num_channels, 32, 32)
    for view in views:
        assert_normalised_view(view, num_channels, 32, batched.mean, batched.std)


def test_mode_conversions():
    """to_uint8_tensor's mode handling: 16-bit scaled to 8 bits, 1-bit to 0/255, float on PIL's
    0..255 scale (clipped), alpha composited over white, grayscale repeated, RGB to luma."""
    sixteen = Image.fromarray(np.array([[0, 257, 65535]], dtype=np.uint16))
    assert to_uint8_tensor(sixteen, 1).tolist() == [[[0, 1, 255]]]
    bits = Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).convert("1")
    assert to_uint8_tensor(bits, 1).tolist() == [[[0, 255]]]
    floats = Image.fromarray(np.array([[-5.0, 127.6, 300.0]], dtype=np.float32))
    assert to_uint8_tensor(floats, 1).tolist() == [[[0, 128, 255]]]
    transparent = Image.new("RGBA", (2, 2), (10, 20, 30, 0))
    assert (to_uint8_tensor(transparent, 3) == 255).all()
    opaque = torch.tensor([10, 20, 30, 255], dtype=torch.uint8).view(4, 1, 1)
    assert to_uint8_tensor(opaque, 3).flatten().tolist() == [10, 20, 30]
    gray = torch.tensor([[7, 9]], dtype=torch.uint8)
    assert to_uint8_tensor(gray, 3).tolist() == [[[7, 9]]] * 3
    red = Image.new("RGB", (1, 1), (255, 0, 0))
    assert to_uint8_tensor(red, 1).item() == 76  # luma 0.2989 x 255, truncated as PIL and torchvision do
    palette = Image.new("RGB", (3, 2), (0, 128, 255)).convert("P")
    assert to_uint8_tensor(palette, 3).shape == (3, 2, 3)
    cmyk = Image.new("CMYK", (2, 2), (0, 0, 0, 0))  # no ink: white
    assert (to_uint8_tensor(cmyk, 3) == 255).all()


# ---------------------------------------------------------------------------------------------
# The batched path draws from the per-image path's distribution
# ---------------------------------------------------------------------------------------------


def view_statistics(views: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-view summaries (views normalised with mean 0.5, std 0.5): channel means, spread,
    horizontal / vertical detail (crop scale, blur), colourfulness (jitter, grayscale)."""
    x = views * 0.5 + 0.5
    return {
        "mean_red": x[:, 0].mean(dim=(1, 2)),
        "mean_green": x[:, 1].mean(dim=(1, 2)),
        "mean_blue": x[:, 2].mean(dim=(1, 2)),
        "std": x.std(dim=(1, 2, 3)),
        "horizontal_detail": (x[..., 1:] - x[..., :-1]).abs().mean(dim=(1, 2, 3)),
        "vertical_detail": (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3)),
        "colourfulness": (x[:, 0] - x[:, 1]).abs().mean(dim=(1, 2)),
    }


def test_batched_matches_per_image_distribution():
    """Over 1000 views of one image with the full pipeline (blur on), every per-view statistic has
    the same distribution in both paths (KS below the 0.1% critical value, means within 4 standard
    errors); a batched path with half the colour strength is told apart (the test has power)."""
    params = dict(size=32, mean=0.5, std=0.5)  # ImageNet recipe at 32 px: blur kernel 3
    image, n = structured_image(), 1000
    torch.manual_seed(0)
    transform = SimCLRViewTransform(**params)
    per_image = view_statistics(torch.stack([transform(image) for _ in range(n)]))
    batch = image.expand(n, -1, -1, -1)
    batched = view_statistics(BatchedSimCLRViews(**params)(batch, generator=torch.Generator().manual_seed(0)))
    critical = ks_critical(n, n)
    for name in per_image:
        a, b = per_image[name], batched[name]
        assert ks_distance(a, b) < critical, f"{name}: KS {ks_distance(a, b):.3f} >= {critical:.3f}"
        standard_error = math.sqrt(a.var().item() / n + b.var().item() / n)
        assert abs(a.mean().item() - b.mean().item()) < 4 * standard_error, name
        assert 0.85 < b.std().item() / a.std().item() < 1.15, name

    weaker = BatchedSimCLRViews(**params, jitter_strength=0.5)
    weaker_stats = view_statistics(weaker(batch, generator=torch.Generator().manual_seed(0)))
    assert max(ks_distance(per_image[k], weaker_stats[k]) for k in per_image) > critical


def crop_boxes_from_ramp_views(views: torch.Tensor, size: int, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(area fraction, aspect ratio) of each view's crop, read from the red / green ramps: the span
    between the first and last output pixel centres is (size - 1) / size of the crop side."""
    pixels = views * 255 / 4
    width = (pixels[:, 0].amax(dim=(1, 2)) - pixels[:, 0].amin(dim=(1, 2))) * size / (size - 1)
    height = (pixels[:, 1].amax(dim=(1, 2)) - pixels[:, 1].amin(dim=(1, 2))) * size / (size - 1)
    return width * height / side**2, width / height


def test_batched_crops_match_per_image_crops():
    """The crops' area fraction and aspect ratio, read from the views of a coordinate-ramp image,
    have the same distribution in both paths, within SimCLR's ranges (scale 0.08-1, ratio 3/4-4/3)."""
    size, side, n = 32, 64, 1000
    params = dict(size=size, hflip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0, mean=0.0, std=1.0)
    image = ramp_image(side)
    torch.manual_seed(0)
    transform = SimCLRViewTransform(**params)
    area_a, ratio_a = crop_boxes_from_ramp_views(torch.stack([transform(image) for _ in range(n)]), size, side)
    batched = BatchedSimCLRViews(**params)(image.expand(n, -1, -1, -1), generator=torch.Generator().manual_seed(0))
    area_b, ratio_b = crop_boxes_from_ramp_views(batched, size, side)
    assert ks_distance(area_a, area_b) < ks_critical(n, n)
    assert ks_distance(ratio_a, ratio_b) < ks_critical(n, n)
    for area, ratio in ((area_a, ratio_a), (area_b, ratio_b)):
        assert area.min() > 0.05 and area.max() <= 1.02
        assert ratio.min() > 0.65 and ratio.max() < 1.5  # 3/4, 4/3 up to whole-pixel rounding
        assert 0.4 < area.mean() < 0.6  # E[U(0.08, 1)] = 0.54, fewer large crops fit


def test_crop_sampler_matches_torchvision():
    """sample_crop_boxes draws torchvision's RandomResizedCrop parameters: same distribution of
    every coordinate on a wide image (where attempts get rejected), same central fallback."""
    height, width, n = 30, 50, 4000
    crop = v2.RandomResizedCrop(8)
    torch.manual_seed(0)
    reference = torch.tensor(
        [[p["top"], p["left"], p["height"], p["width"]] for p in (crop.make_params([torch.zeros(3, height, width)]) for _ in range(n))]
    )  # fmt: skip
    boxes = sample_crop_boxes(n, height, width, generator=torch.Generator().manual_seed(0))
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= height).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 1] + boxes[:, 3] <= width).all()
    for column, name in enumerate(["top", "left", "height", "width"]):
        assert ks_distance(reference[:, column], boxes[:, column]) < ks_critical(n, n), name
    area_reference = (reference[:, 2] * reference[:, 3]).double() / (height * width)
    area = (boxes[:, 2] * boxes[:, 3]).double() / (height * width)
    assert ks_distance(area_reference, area) < ks_critical(n, n)

    # no attempt can fit (ratio 2-3 at full area of a square): the central crop, as torchvision
    fallback = v2.RandomResizedCrop(8, scale=(1.0, 1.0), ratio=(2.0, 3.0)).make_params([torch.zeros(3, 20, 20)])
    boxes = sample_crop_boxes(5, 20, 20, scale=(1.0, 1.0), ratio=(2.0, 3.0))
    expected = [fallback["top"], fallback["left"], fallback["height"], fallback["width"]]
    assert boxes.tolist() == [expected] * 5


def test_crop_boxes_of_images_on_a_canvas_lie_in_each_image_and_equal_the_one_size_draw():
    """Per-sample sizes (images of several sizes on one canvas): every box lies in its own image
    (the fallback too); the same sizes for all draw exactly the boxes of one image size."""
    heights, widths = torch.tensor([30, 100, 20, 64] * 250), torch.tensor([100, 30, 20, 64] * 250)
    boxes = sample_crop_boxes(1000, heights, widths, generator=torch.Generator().manual_seed(3))
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= heights).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 1] + boxes[:, 3] <= widths).all()
    wide = boxes[0::4]  # the 30 x 100 images: their crops cover columns 0 and 99 too
    assert (wide[:, 1] == 0).any() and (wide[:, 1] + wide[:, 3] == 100).any()
    for scale, ratio in (((0.08, 1.0), (3 / 4, 4 / 3)), ((1.0, 1.0), (2.0, 3.0))):  # (the second: all fallbacks)
        one_size = sample_crop_boxes(64, 30, 100, scale, ratio, torch.Generator().manual_seed(1))
        per_sample = sample_crop_boxes(64, torch.full((64,), 30), torch.full((64,), 100), scale, ratio, torch.Generator().manual_seed(1))
        assert torch.equal(one_size, per_sample)


def test_crop_source_shrinks_only_images_beyond_four_times_a_views_pixels_keeping_their_shape():
    assert crop_source(torch.zeros(3, 200, 300, dtype=torch.uint8), 224).shape == (3, 200, 300)  # never enlarged
    assert crop_source(torch.zeros(3, 28, 28, dtype=torch.uint8), 28).shape == (3, 28, 28)
    big = crop_source(torch.zeros(3, 1000, 2000, dtype=torch.uint8), 224)
    assert big.shape == (3, 316, 633) and 316 * 633 <= 4 * 224 * 224


def test_views_of_a_wide_image_are_cropped_from_its_whole_width_and_never_see_the_padding():
    """The bug of issue 13: the crop worked on a centre-cropped square, so a wide photo's borders
    were never seen. A 32 x 96 image, red in its first 12 columns and blue in its last 12, grey
    between, sits on a canvas beside a larger black image: its views show red in some and blue in
    others, and never black (the canvas padding)."""
    wide = torch.full((3, 32, 96), 128, dtype=torch.uint8)
    wide[:, :, :12] = torch.tensor([255, 0, 0], dtype=torch.uint8).view(3, 1, 1)
    wide[:, :, -12:] = torch.tensor([0, 0, 255], dtype=torch.uint8).view(3, 1, 1)
    canvas, sizes = stack_on_canvas([wide, torch.zeros(3, 80, 100, dtype=torch.uint8)])
    assert canvas.shape == (2, 3, 80, 100) and sizes.tolist() == [[32, 96], [80, 100]]
    views = BatchedSimCLRViews(size=32, crop_scale=(0.08, 1.0), **{k: v for k, v in IDENTITY.items() if k not in ("crop_scale", "crop_ratio")})
    torch.manual_seed(0)
    pixels = views.multi_view(canvas, n_views=200, sizes=sizes)[0].permute(0, 2, 3, 1).reshape(200, -1, 3)
    red = ((pixels[..., 0] > 0.9) & (pixels[..., 2] < 0.1)).any(dim=1)
    blue = ((pixels[..., 2] > 0.9) & (pixels[..., 0] < 0.1)).any(dim=1)
    assert red.sum() > 20 and blue.sum() > 20
    assert pixels.max(dim=2).values.min() > 0.4  # every pixel of every view is red, blue or grey: no black


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batched_on_gpu_matches_cpu():
    """With the same (CPU) generator seed the GPU draws the same parameters and the same views."""
    batched = BatchedSimCLRViews.from_preset("imagenet", size=64)
    images = torch.randint(0, 256, (16, 3, 80, 96), dtype=torch.uint8)
    cpu = batched(images, generator=torch.Generator().manual_seed(0))
    gpu = batched.cuda()(images.cuda(), generator=torch.Generator().manual_seed(0))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=2e-3, rtol=0)


# ---------------------------------------------------------------------------------------------
# Presets, overrides, serialisation
# ---------------------------------------------------------------------------------------------


def test_presets_carry_the_documented_values():
    """imagenet: 224 px, s = 1, blur 0.5 with a 23 px kernel; cifar: 32 px, s = 0.5, no blur;
    digits: 28 px, one channel, no flip, no blur, crop scale 0.3-1, MNIST statistics; grayscale:
    the CIFAR recipe on one channel, flips kept."""
    assert set(PRESETS) == {"imagenet", "cifar", "digits", "grayscale"}
    grayscale = SimCLRViewTransform.from_preset("grayscale")
    assert (grayscale.num_channels, grayscale.hflip_p, grayscale.jitter_strength, grayscale.blur_p) == (1, 0.5, 0.5, 0.0)
    imagenet = SimCLRViewTransform.from_preset("imagenet")
    assert (imagenet.size, imagenet.num_channels, imagenet.jitter_strength, imagenet.blur_p) == (224, 3, 1.0, 0.5)
    assert imagenet.blur_kernel == 23 and imagenet.blur_sigma == [0.1, 2.0]
    assert imagenet.crop_scale == [0.08, 1.0] and imagenet.crop_ratio == pytest.approx([3 / 4, 4 / 3])
    assert (imagenet.hflip_p, imagenet.jitter_p, imagenet.grayscale_p) == (0.5, 0.8, 0.2)
    assert imagenet.mean == list(IMAGENET_MEAN) and imagenet.std == list(IMAGENET_STD)
    assert imagenet == SimCLRViewTransform()  # the constructor's defaults are SimCLR's ImageNet recipe

    cifar = SimCLRViewTransform.from_preset("cifar")
    assert (cifar.size, cifar.num_channels, cifar.jitter_strength, cifar.blur_p) == (32, 3, 0.5, 0.0)
    assert (cifar.hflip_p, cifar.jitter_p, cifar.grayscale_p) == (0.5, 0.8, 0.2)
    assert cifar.mean == list(CIFAR10_MEAN)

    digits = SimCLRViewTransform.from_preset("digits")
    assert (digits.size, digits.num_channels, digits.hflip_p, digits.blur_p) == (28, 1, 0.0, 0.0)
    assert digits.crop_scale == [0.3, 1.0] and digits.jitter_strength == 0.5
    assert digits.mean == list(DIGITS_MEAN) and digits.std == list(DIGITS_STD) == [0.3081]
    assert digits(Image.new("L", (28, 28))).shape == (1, 28, 28)

    assert [default_blur_kernel_size(s) for s in (224, 96, 64, 32, 28, 8)] == [23, 9, 7, 3, 3, 3]


def test_overrides_and_serialisation():
    """from_preset(name, **overrides) changes only what is given; to_dict is JSON and rebuilds
    the transform; the batched twin carries the same parameters."""
    transform = SimCLRViewTransform.from_preset("cifar", size=64, blur_p=0.5, hflip_p=0.0)
    assert (transform.size, transform.blur_p, transform.hflip_p, transform.blur_kernel) == (64, 0.5, 0.0, 7)
    assert transform.jitter_strength == 0.5 and transform.mean == list(CIFAR10_MEAN)
    assert transform(torch.zeros(3, 10, 10, dtype=torch.uint8)).shape == (3, 64, 64)

    config = json.loads(json.dumps(transform.to_dict()))
    assert SimCLRViewTransform(**config) == transform
    assert BatchedSimCLRViews.from_transform(transform).to_dict() == transform.to_dict()
    assert BatchedSimCLRViews.from_preset("cifar", size=64, blur_p=0.5, hflip_p=0.0).to_dict() == transform.to_dict()
    assert pickle.loads(pickle.dumps(MultiViewTransform(transform))).transform == transform  # DataLoader workers

    gray = SimCLRViewTransform.from_preset("imagenet", num_channels=1)  # RGB statistics reduced by luma weights
    assert gray.mean == pytest.approx([0.2989 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406])
    rgb_digits = SimCLRViewTransform.from_preset("digits", num_channels=3)  # one value broadcast
    assert rgb_digits.mean == [0.1307] * 3
    assert SimCLRViewTransform(blur_kernel_size=5).blur_kernel == 5


# ---------------------------------------------------------------------------------------------
# Clear errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_channels=2), "num_channels must be 1"),
        (dict(hflip_p=1.5), "hflip_p is a probability"),
        (dict(jitter_p=-0.1), "jitter_p is a probability"),
        (dict(grayscale_p=2), "grayscale_p is a probability"),
        (dict(blur_p=1.01), "blur_p is a probability"),
        (dict(crop_scale=(0.0, 1.0)), "crop_scale"),
        (dict(crop_scale=(0.5, 0.2)), "crop_scale"),
        (dict(crop_scale=(0.1, 1.5)), "crop_scale"),
        (dict(crop_ratio=(4 / 3, 3 / 4)), "crop_ratio"),
        (dict(jitter_strength=3.0), "jitter_strength"),
        (dict(blur_kernel_size=4), "odd"),
        (dict(blur_sigma=(0.0, 1.0)), "blur_sigma"),
        (dict(size=0), "size"),
        (dict(mean=(0.5, 0.5)), "one value per output channel"),
        (dict(std=(0.0, 1.0, 1.0)), "std must be positive"),
    ],
)
@pytest.mark.parametrize("cls", [SimCLRViewTransform, BatchedSimCLRViews])
def test_bad_parameters_raise_value_errors(cls, kwargs, message):
    """Each invalid parameter raises a ValueError that names it."""
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_unknown_preset_or_parameter_lists_the_valid_ones():
    """An unknown preset name or override raises a ValueError listing the valid ones."""
    with pytest.raises(ValueError, match=r"presets are \['cifar', 'digits', 'grayscale', 'imagenet'\]"):
        SimCLRViewTransform.from_preset("stl10")
    with pytest.raises(ValueError, match="parameters are"):
        BatchedSimCLRViews.from_preset("cifar", flip_p=0.5)


@pytest.mark.parametrize(
    "image, message",
    [
        (torch.rand(3, 8, 8), r"uint8.*\(image \* 255\)"),
        (torch.zeros(2, 8, 8, dtype=torch.uint8), r"\(C, H, W\) with C in 1, 3, 4"),
        (torch.zeros(8, 8, 3, dtype=torch.uint8), r"permute\(2, 0, 1\)"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.uint8), "BatchedSimCLRViews"),
        (torch.zeros(3, 0, 8, dtype=torch.uint8), "Empty image"),
        (np.zeros((8, 8), dtype=np.float32), "numpy images must be uint8"),
    ],
)
def test_bad_images_raise_value_errors(image, message):
    """Wrong dtype, channel count, layout, batch or empty image: a ValueError naming the fix."""
    with pytest.raises(ValueError, match=message):
        SimCLRViewTransform.from_preset("cifar")(image)


def test_bad_batches_raise_value_errors():
    """Empty batch, float batch, wrong channels or layout, n_views < 1: a ValueError naming the
    fix; an unsupported input type: a TypeError."""
    batched = BatchedSimCLRViews.from_preset("cifar")
    with pytest.raises(ValueError, match="Empty batch"):
        batched(torch.zeros(0, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="must be uint8"):
        batched(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        batched(torch.zeros(2, 2, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"permute\(0, 3, 1, 2\)"):
        batched(torch.zeros(2, 8, 8, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="n_views"):
        batched.multi_view(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), n_views=0)
    with pytest.raises(ValueError, match="n_views"):
        MultiViewTransform(SimCLRViewTransform(), n_views=0)
    with pytest.raises(TypeError, match="PIL image"):
        SimCLRViewTransform()([[0, 1], [2, 3]])
