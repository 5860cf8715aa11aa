"""Data: the embedded default data sets, `datasets` loading, collators and the offline tokenizer."""

from .bbc_news import load_bbc_news
from .collators import SimCLRDataCollator
from .digits import load_mnist_digits
from .loading import EMBEDDED, TrainingData, find_column, first_rows, load_split, load_training_data
from .openclipart import load_openclipart
from .text_collator import CLEARDataCollator
from .tokenizer import add_del_token, train_wordpiece_tokenizer

__all__ = [
    "CLEARDataCollator",
    "SimCLRDataCollator",
    "add_del_token",
    "EMBEDDED",
    "TrainingData",
    "find_column",
    "first_rows",
    "load_bbc_news",
    "load_mnist_digits",
    "load_openclipart",
    "load_split",
    "load_training_data",
    "train_wordpiece_tokenizer",
]
