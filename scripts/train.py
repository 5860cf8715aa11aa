"""Pre-train a SimCLR or CLEAR model with Accelerate, evaluate it and save it.

    accelerate launch scripts/train.py                                  # SimCLR default: MNIST digits
    accelerate launch scripts/train.py --model clear                    # CLEAR default: BBC News
    accelerate launch scripts/train.py --dataset_name path/to/imagefolder   # your images: defaults derived from them
    accelerate launch scripts/train.py --config configs/supcon_mnist.yaml --max_train_steps 50
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 scripts/train.py   # 2 CPU processes

Every option is also settable in a YAML or JSON file given with --config (command-line options
override the file). `--help` lists them all, with each recipe's defaults.
"""

import logging
import sys
from dataclasses import asdict

from hf_contrastive.recipes import DEFAULTS, build_recipe, recipe_option_defaults
from hf_contrastive.training import StopRequested, parse_arguments, train


def main() -> None:
    # what the run derives and decides (defaults from the data, precision, workers, chunks) is logged
    # at INFO by the package; other libraries keep their warnings-only level
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%m/%d/%Y %H:%M:%S")
    logging.getLogger("hf_contrastive").setLevel(logging.INFO)
    model_args, data_args, training_args = parse_arguments(sys.argv[1:], recipe_option_defaults())
    if model_args.model not in DEFAULTS:
        raise SystemExit(f"--model must be 'simclr' or 'clear', got {model_args.model!r}.")
    training_args.output_dir = training_args.output_dir or DEFAULTS[model_args.model].output_dir
    try:
        train(
            training_args,
            lambda accelerator, args: build_recipe(model_args, data_args, args, accelerator),
            options={**asdict(model_args), **asdict(data_args)},
        )
    except StopRequested as stop:  # SIGTERM / SIGINT: the run said where to resume from
        raise SystemExit(128 + stop.signal_number) from None


if __name__ == "__main__":
    main()
