"""Training with Accelerate: options (`arguments`), resumable checkpoints (`checkpoints`) and the
loop (`loop`), which is handed a recipe and knows no modality."""

from .arguments import ContrastiveTrainingArguments, DataArguments, ModelArguments, parse_arguments, parse_json_or_mapping
from .checkpoints import COMPLETE_MARKER, find_checkpoint, save_checkpoint
from .loop import train

__all__ = [
    "COMPLETE_MARKER",
    "ContrastiveTrainingArguments",
    "DataArguments",
    "ModelArguments",
    "find_checkpoint",
    "parse_arguments",
    "parse_json_or_mapping",
    "save_checkpoint",
    "train",
]
