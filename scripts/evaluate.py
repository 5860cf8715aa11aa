"""Evaluate a saved SimCLR or CLEAR model: linear probe and weighted kNN on frozen
representations (classifier fit on the training split, scored on the evaluation split), for CLEAR
sentence similarity (Spearman x 100 on --sts_dataset's --sts_splits: STS-B dev by default, or any
scored pair set), and the raw-input / untrained-encoder baselines.

    python scripts/evaluate.py --model_name_or_path outputs/simclr-default
    python scripts/evaluate.py --model_name_or_path outputs/clear-default --max_eval_samples 4000 --sts_splits validation,test
    python scripts/evaluate.py --model_name_or_path outputs/clear-default --sts_dataset my_pairs.csv --sts_splits train
    python scripts/evaluate.py --model_name_or_path outputs/simclr-default --dataset_name path/to/imagefolder --write_results

Takes the data options of scripts/train.py (`--dataset_name`, `--eval_split`, `--image_column`, ...,
or `--config` with a training recipe). Prints the results as JSON; with --write_results they also
replace `eval_results.json` in the model folder.
"""

import json
import sys
import tempfile
from pathlib import Path

from accelerate import Accelerator
from transformers import AutoConfig

from hf_contrastive.recipes import build_recipe, recipe_option_defaults  # noqa: E402
from hf_contrastive.training import parse_arguments  # noqa: E402


def main() -> None:
    argv = sys.argv[1:]
    write_results = "--write_results" in argv
    argv = [a for a in argv if a != "--write_results"]
    model_args, data_args, args = parse_arguments(argv, recipe_option_defaults())
    if not model_args.model_name_or_path:
        raise SystemExit("--model_name_or_path is required: the folder (or Hub id) of a trained SimCLR or CLEAR model.")
    model_args.model = AutoConfig.from_pretrained(model_args.model_name_or_path).model_type
    if model_args.model not in ("simclr", "clear"):
        raise SystemExit(f"{model_args.model_name_or_path} holds a {model_args.model!r} model, not a SimCLR or CLEAR one.")
    with tempfile.TemporaryDirectory() as scratch:
        args.output_dir = scratch  # the recipe never writes here when starting from a trained model
        accelerator = Accelerator()
        recipe = build_recipe(model_args, data_args, args, accelerator)
        model = recipe.model.to(accelerator.device)
        results = recipe.evaluate(model, preprocessor_dir=model_args.model_name_or_path, baselines=not args.skip_baselines)
    print(json.dumps(results, indent=2))
    if write_results:
        Path(model_args.model_name_or_path, "eval_results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
