"""Tests for hf_contrastive.data: the embedded digits and the SimCLR collator."""

import collections

import numpy as np
import pytest
import torch

from hf_contrastive.augment.vision import SimCLRViewTransform
from hf_contrastive.data import SimCLRDataCollator, load_mnist_digits


def test_embedded_digits_have_a_fixed_stratified_disjoint_split():
    train, test = load_mnist_digits("train"), load_mnist_digits("test")
    assert (len(train), len(test), len(load_mnist_digits("all"))) == (4000, 1000, 5000)
    assert collections.Counter(test["label"]) == {digit: 100 for digit in range(10)}
    assert collections.Counter(train["label"]) == {digit: 400 for digit in range(10)}
    image = train[0]["image"]
    assert image.mode == "L" and image.size == (28, 28)
    train_pixels = {np.asarray(im).tobytes() for im in train.select(range(500))["image"]}
    assert not train_pixels & {np.asarray(im).tobytes() for im in test["image"]}
    # the same split every time
    assert load_mnist_digits("test")["label"][:50] == test["label"][:50]
    with pytest.raises(ValueError, match="split must be"):
        load_mnist_digits("validation")


def test_collator_makes_aligned_views_and_labels():
    digits = load_mnist_digits("test").select(range(6))
    collator = SimCLRDataCollator(SimCLRViewTransform.from_preset("digits"), n_views=3, label_column="label")
    batch = collator(list(digits))
    assert batch["pixel_values"].shape == (6, 3, 1, 28, 28) and batch["pixel_values"].dtype == torch.float32
    assert batch["labels"].tolist() == digits["label"]
    # views of one image differ from each other
    assert not torch.equal(batch["pixel_values"][0, 0], batch["pixel_values"][0, 1])
    assert "labels" not in SimCLRDataCollator(SimCLRViewTransform.from_preset("digits"))(list(digits))


def test_collator_errors_name_the_fix():
    collator = SimCLRDataCollator(SimCLRViewTransform.from_preset("digits"), image_column="img")
    with pytest.raises(KeyError, match=r"\['img'\] not in the examples, which have \['image', 'label'\]"):
        collator(list(load_mnist_digits("test").select(range(2))))
    with pytest.raises(ValueError, match="empty batch"):
        collator([])
    with pytest.raises(ValueError, match="n_views"):
        SimCLRDataCollator(SimCLRViewTransform.from_preset("digits"), n_views=0)
