"""Data: the embedded default data sets and the collators that make contrastive views."""

from .collators import SimCLRDataCollator
from .digits import load_mnist_digits

__all__ = ["SimCLRDataCollator", "load_mnist_digits"]
