"""Training with Accelerate: options (`arguments`), resumable checkpoints (`checkpoints`), the
output folder's rules (`output_folder`), divergence guards (`guards`), stopping on SIGTERM / SIGINT
(`stopping`) and the loop (`loop`), which is handed a recipe and knows no modality."""

from .arguments import ContrastiveTrainingArguments, DataArguments, ModelArguments, parse_arguments, parse_json_or_mapping
from .checkpoints import COMPLETE_MARKER, find_checkpoint, save_checkpoint
from .loop import train
from .stopping import StopRequested

__all__ = [
    "COMPLETE_MARKER",
    "ContrastiveTrainingArguments",
    "DataArguments",
    "ModelArguments",
    "find_checkpoint",
    "parse_arguments",
    "parse_json_or_mapping",
    "StopRequested",
    "save_checkpoint",
    "train",
]
