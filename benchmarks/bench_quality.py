"""Quality of the default SimCLR recipe on data it was not tuned on (issue 10's table).

For each set, trains with the default recipe (no options but the data, the output folder and,
where a set's default length would not fit, `--max_train_steps`), then prints the linear / kNN
accuracy of the trained encoder, the same architecture untrained and the processed raw pixels
(all from the run's own `eval_results.json`), the wall time and the command.

    python benchmarks/bench_quality.py --sets digits openclipart sklearn_digits openclipart_gray32
    python benchmarks/bench_quality.py --sets heldout      # the set kept aside, run once at the end

Sets written here (under --work_dir) from data that ships on the machine:
  sklearn_digits       scikit-learn's 1,797 8x8 digits (train only: the recipe holds out 10%)
  openclipart_gray32   every openclipart image of the categories with >= 100 images that the embedded
                       `openclipart` subset does not use, as 32 px grayscale thumbnails (not digits)
  heldout              openclipart's categories with 50-99 images (plants, buildings, education), RGB,
                       natural size: never used while choosing the recipe
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, Features, Image
from PIL import Image as PILImage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from hf_contrastive.data.openclipart import _readable, _subset  # noqa: E402


def sklearn_digits(folder: Path) -> str:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = [PILImage.fromarray((image * 255 / 16).round().astype(np.uint8)) for image in digits.images]
    features = Features({"image": Image(), "label": ClassLabel(names=[str(d) for d in range(10)])})
    Dataset.from_dict({"image": images, "label": digits.target.tolist()}, features=features).save_to_disk(folder)
    return str(folder)


def _openclipart_rows(categories: list[str], exclude: set[str]) -> tuple[list[str], list[int]]:
    root = Path("/usr/share/openclipart/png")
    paths, labels = [], []
    for label, name in enumerate(categories):
        for path in sorted((root / name).rglob("*.png")):
            if str(path) not in exclude and _readable(str(path)):
                paths.append(str(path))
                labels.append(label)
    return paths, labels


def openclipart_gray32(folder: Path) -> str:

    categories, rows = _subset()
    paths, labels = _openclipart_rows(list(categories), {row[0] for row in rows})
    rng = np.random.default_rng(0)
    order = rng.permutation(len(paths))
    images = []
    for i in order:
        image = PILImage.open(paths[i])
        image = image.convert("RGBA")
        background = PILImage.new("RGBA", image.size, (255, 255, 255, 255))
        image = PILImage.alpha_composite(background, image).convert("L")
        image.thumbnail((32, 32))
        canvas = PILImage.new("L", (32, 32), 255)
        canvas.paste(image, ((32 - image.width) // 2, (32 - image.height) // 2))
        images.append(canvas)
    features = Features({"image": Image(), "label": ClassLabel(names=list(categories))})
    Dataset.from_dict({"image": images, "label": [labels[i] for i in order]}, features=features).save_to_disk(folder)
    return str(folder)


def heldout(folder: Path) -> str:
    categories = ["plants", "buildings", "education"]
    paths, labels = _openclipart_rows(categories, set())
    order = np.random.default_rng(0).permutation(len(paths))
    features = Features({"image": Image(), "label": ClassLabel(names=categories)})
    Dataset.from_dict({"image": [paths[i] for i in order], "label": [labels[i] for i in order]}, features=features).save_to_disk(folder)
    return str(folder)


SETS = {
    # name: (how to get --dataset_name, a cap on the steps where the recipe's length runs far past 5 CPU-minutes)
    "digits": (lambda work: "mnist_digits", []),
    "openclipart": (lambda work: "openclipart", ["--max_train_steps", "30"]),
    "sklearn_digits": (lambda work: sklearn_digits(work / "sklearn_digits"), []),
    "openclipart_gray32": (lambda work: openclipart_gray32(work / "openclipart_gray32"), ["--max_train_steps", "600"]),
    "heldout": (lambda work: heldout(work / "heldout"), ["--max_train_steps", "30"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["digits", "openclipart", "sklearn_digits", "openclipart_gray32"], choices=sorted(SETS))
    parser.add_argument("--work_dir", default="outputs/quality")
    args = parser.parse_args()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.sets:
        make, extra = SETS[name]
        dataset = make(work) if not (work / name).exists() or name in ("digits", "openclipart") else str(work / name)
        out = work / f"run-{name}"
        command = [sys.executable, "-m", "accelerate.commands.launch", "scripts/train.py", "--dataset_name", dataset,
                   "--output_dir", str(out), "--overwrite_output_dir", "--report_to", "none", *extra]  # fmt: skip
        start = time.time()
        subprocess.run(command, cwd=REPO, check=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
        wall = time.time() - start
        results = json.loads((out / "eval_results.json").read_text())
        train = json.loads((out / "train_results.json").read_text())
        rows.append((name, results, train, wall, " ".join(["accelerate launch scripts/train.py", "--dataset_name", dataset, *extra])))
        print(f"{name}: {json.dumps(results)}", flush=True)
    print("\n| set | size, channels, preset | trained linear / kNN | untrained linear / kNN | raw pixels linear / kNN | training s | wall s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r, t, wall, _ in rows:
        derived = f"{t['views']['size']} px, {t['views']['num_channels']} ch, {t['views']['preset']}"
        cell = lambda p: f"{r.get(p + 'linear_accuracy', float('nan')):.3f} / {r.get(p + 'knn_accuracy', float('nan')):.3f}"  # noqa: E731
        print(f"| {name} | {derived} | {cell('')} | {cell('random_encoder_')} | {cell('raw_pixels_')} | {t['train_runtime_seconds']:.0f} | {wall:.0f} |")
    print()
    for name, *_, command in rows:
        print(f"{name}: {command}")


if __name__ == "__main__":
    main()
