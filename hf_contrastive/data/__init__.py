"""Data: the embedded default data sets and the collators that make contrastive views."""

from .digits import load_mnist_digits

__all__ = ["load_mnist_digits"]
