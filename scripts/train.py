"""Pre-train a SimCLR or CLEAR model with Accelerate, evaluate it and save it.

    accelerate launch scripts/train.py                                  # SimCLR default: MNIST digits
    accelerate launch scripts/train.py --model clear                    # CLEAR default: BBC News
    accelerate launch scripts/train.py --config configs/simclr_mnist.yaml --max_train_steps 50
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 scripts/train.py   # 2 CPU processes

Every option is also settable in a YAML or JSON file given with --config (command-line options
override the file). Run with --help for the full list.
"""

import sys
from pathlib import Path

import yaml
from transformers import HfArgumentParser

from hf_contrastive.training import ContrastiveTrainingArguments, DataArguments, ModelArguments, train


def parse_arguments(argv: list[str]):
    parser = HfArgumentParser((ModelArguments, DataArguments, ContrastiveTrainingArguments))
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            parser.error("--config needs a YAML or JSON file")
        path = Path(argv[index + 1])
        if not path.is_file():
            parser.error(f"--config {path}: no such file")
        values = yaml.safe_load(path.read_text()) or {}  # YAML is a superset of JSON
        if not isinstance(values, dict):
            parser.error(f"--config {path} must hold a mapping of option names to values")
        argv = argv[:index] + argv[index + 2 :]
        # the file's values become the defaults, so command-line options override them
        mapping_fields = {"model_config", "view_overrides"}
        known = {f for dataclass in parser.dataclass_types for f in dataclass.__dataclass_fields__}
        unknown = sorted(set(values) - known)
        if unknown:
            parser.error(f"--config {path}: unknown option(s) {unknown}")
        import json

        parser.set_defaults(**{k: (json.dumps(v) if k in mapping_fields and isinstance(v, dict) else v) for k, v in values.items()})
    return parser.parse_args_into_dataclasses(args=argv)


def main() -> None:
    model_args, data_args, training_args = parse_arguments(sys.argv[1:])
    train(model_args, data_args, training_args)


if __name__ == "__main__":
    main()
