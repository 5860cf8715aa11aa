"""The CLEAR collator: raw sentences in, two augmented views and MLM inputs out, in one pass.

CLEAR (Wu et al. 2020, arXiv 2012.15466) trains its encoder with the sum of a masked language
modelling loss on the original sentences and a contrastive loss on two augmented views of each
sentence (L = L_MLM + L_CL). This collator makes the inputs of both from one batch of
raw text.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from ..augment.text import DEL_TOKEN, CLEARAugmenter

# Tokenizer components under which "X Y" tokenises as X's tokens then Y's tokens (a space is
# always a boundary, and nothing on one side of it changes the other): per-character
# normalizers, and pre-tokenizers that split on whitespace (plus ones that only split further).
_PER_CHARACTER_NORMALIZERS = frozenset(
    {"BertNormalizer", "Lowercase", "NFC", "NFD", "NFKC", "NFKD", "StripAccents", "Strip"}
)
_WHITESPACE_PRE_TOKENIZERS = frozenset({"BertPreTokenizer", "Whitespace", "WhitespaceSplit"})
_FURTHER_SPLITTING_PRE_TOKENIZERS = frozenset({"Punctuation", "Digits"})


def _component_types(spec: Optional[dict], list_key: str) -> list[str]:
    if spec is None:
        return []
    if spec.get("type") == "Sequence":
        return [t for part in spec.get(list_key, []) for t in _component_types(part, list_key)]
    return [spec.get("type", "?")]


class SpaceSplitEncoder:
    """Token ids of texts from cached token ids of their space-separated pieces.

    For BERT-style tokenizers (per-character normalizer, whitespace-splitting pre-tokenizer, no
    added token containing a space) the ids of ``"X Y"`` are the ids of ``"X"`` followed by those
    of ``"Y"``; a piece seen before then costs one dictionary look-up instead of normalising,
    splitting and WordPiece-matching it again. Encoding a sentence this way is an order of
    magnitude faster than the Rust tokenizer, and gives exactly the same ids as
    ``tokenizer(text, truncation=True, max_length=max_length)["input_ids"]`` (checked on probe
    texts at construction; `for_tokenizer` returns None where that does not hold).

    Args:
        backend: the Rust tokenizer (a private copy is kept).
        max_length: truncation length, special tokens included.
        truncation_side: "right" (keep the beginning) or "left".
        max_entries: the cache is emptied when it would grow past this many pieces.
    """

    PROBES = (
        "Hello, world! It's a well-known [DEL] test.",
        "Zürich  café 東京\tnaïve   résumé -- 3.5% x[DEL]y",
        "",
    )

    def __init__(self, backend: Tokenizer, max_length: int, truncation_side: str = "right", max_entries: int = 1 << 18):
        self.backend = Tokenizer.from_str(backend.to_str())
        self.backend.no_truncation()
        self.backend.no_padding()
        self._encode_batch = getattr(self.backend, "encode_batch_fast", self.backend.encode_batch)
        probe = self.backend.encode("a", add_special_tokens=True)
        content = [i for i, special in enumerate(probe.special_tokens_mask) if not special]
        if not content:
            raise ValueError("cannot locate the content in the tokenizer's template")
        self.prefix = probe.ids[: content[0]]
        self.suffix = probe.ids[content[-1] + 1 :]
        self.max_length = max_length
        self.budget = max(0, max_length - len(self.prefix) - len(self.suffix))
        self.keep_left = truncation_side == "left"
        self.max_entries = max_entries
        self.cache: dict[str, list[int]] = {}

    @classmethod
    def for_tokenizer(
        cls, tokenizer: PreTrainedTokenizerBase, max_length: int, max_entries: int = 1 << 18
    ) -> Optional["SpaceSplitEncoder"]:
        """An encoder for ``tokenizer`` when its pieces encode independently, else None."""
        backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
        if not isinstance(backend, Tokenizer) or max_entries <= 0:
            return None
        spec = json.loads(backend.to_str())
        normalizers = set(_component_types(spec.get("normalizer"), "normalizers"))
        pre_tokenizers = set(_component_types(spec.get("pre_tokenizer"), "pretokenizers"))
        if not normalizers <= _PER_CHARACTER_NORMALIZERS:
            return None
        if not pre_tokenizers & _WHITESPACE_PRE_TOKENIZERS:
            return None
        if not pre_tokenizers <= _WHITESPACE_PRE_TOKENIZERS | _FURTHER_SPLITTING_PRE_TOKENIZERS:
            return None
        if any(any(c.isspace() for c in token.get("content", "")) for token in spec.get("added_tokens", [])):
            return None
        try:
            encoder = cls(backend, max_length, getattr(tokenizer, "truncation_side", "right"), max_entries)
        except ValueError:
            return None
        reference = Tokenizer.from_str(backend.to_str())
        reference.no_padding()
        reference.enable_truncation(max_length, direction=getattr(tokenizer, "truncation_side", "right"))
        if encoder(list(cls.PROBES)) != [e.ids for e in reference.encode_batch(list(cls.PROBES))]:
            return None
        encoder.cache.clear()
        return encoder

    def __call__(self, texts: Sequence[str]) -> list[list[int]]:
        cache = self.cache
        pieces = [text.split(" ") for text in texts]
        missing = {piece for row in pieces for piece in row if piece not in cache}
        if missing:
            if len(cache) + len(missing) > self.max_entries:
                cache.clear()
                missing = {piece for row in pieces for piece in row}
            missing_list = list(missing)
            for piece, encoding in zip(missing_list, self._encode_batch(missing_list, add_special_tokens=False)):
                cache[piece] = encoding.ids
        budget, prefix, suffix = self.budget, self.prefix, self.suffix
        out = []
        for row in pieces:
            if self.keep_left or len(row) <= budget:
                content = list(itertools.chain.from_iterable(map(cache.__getitem__, row)))
            else:  # a long text: stop once the budget is filled
                content = []
                for piece in row:
                    content += cache[piece]
                    if len(content) >= budget:
                        break
            if len(content) > budget:
                content = content[len(content) - budget :] if self.keep_left else content[:budget]
            out.append(prefix + content + suffix)
        return out


class CLEARDataCollator:
    """Build CLEAR's training inputs from a batch of raw sentences.

    Returns a dict of `torch.LongTensor`s:

    * ``input_ids_a``, ``attention_mask_a``, ``input_ids_b``, ``attention_mask_b``: the two
      augmented views (`CLEARAugmenter`, one pair of augmentations drawn for the whole batch),
      tokenised with truncation to ``max_length`` and padded to the longest row of each view;
      row k of view a and row k of view b come from sentence k (the positive pair);
    * ``input_ids``, ``attention_mask``, ``labels``: the original sentences with BERT's masked
      language modelling corruption (each maskable token chosen with ``mlm_probability``; of the
      chosen, 80% become ``[MASK]``, 10% a random token, 10% stay), done by transformers'
      `DataCollatorForLanguageModeling.torch_mask_tokens`; ``labels`` holds the original id at
      chosen positions and -100 everywhere else. Special tokens, padding and ``[DEL]`` are never
      chosen (they are in the special tokens mask passed to it).

    Token ids are exactly ``tokenizer(texts, truncation=True, max_length=max_length)``'s. For speed,
    BERT-style fast tokenizers go through `SpaceSplitEncoder` (cached ids of space-separated
    pieces); other fast tokenizers through a private copy of their Rust tokenizer; slow ones through
    ``tokenizer(...)``. The caller's tokenizer settings are never changed; build the collator after
    the tokenizer is final (tokens added later are not seen).

    Works as the ``collate_fn`` of a `torch.utils.data.DataLoader` (the augmentation then runs in
    its workers; each worker reseeds the augmenter from its own seed, so workers do not repeat one
    another's views) and as the ``data_collator`` of transformers' `Trainer` (with
    ``remove_unused_columns=False``).

    Args:
        tokenizer: a transformers tokenizer (a fast one, for speed) whose special tokens include
            ``del_token``: ``tokenizer.add_special_tokens({"extra_special_tokens": ["[DEL]"]}, replace_extra_special_tokens=False)``
            then ``model.resize_token_embeddings(len(tokenizer))`` when it does not.
        augmenter: makes the two views from a list of sentences; default
            ``CLEARAugmenter(max_words=max_length, seed=seed)`` (all four augmentations, a pair
            drawn per batch).
        max_length: truncation length of every sequence (views and originals), special tokens included.
        mlm_probability: the chance each maskable token of an original sentence is chosen (0.15).
        text_column: the examples' text field when examples are dicts (a list of str works too).
        mask_replace_prob, random_replace_prob: BERT's 80/10/10 split (see transformers).
        seed: seeds the masking generator (transformers' own per-worker logic) and, when no
            augmenter is given, the default augmenter.
        pad_to_multiple_of: pad every tensor's length to a multiple of this (e.g. 8 for tensor cores).
        del_token: the deletion marker the augmenter writes.
        word_cache_size: pieces `SpaceSplitEncoder` keeps (0: always run the tokenizer).

    >>> collator = CLEARDataCollator(tokenizer, CLEARAugmenter(pair=("word_deletion", "reordering")))  # doctest: +SKIP
    >>> batch = collator([{"text": "The cat sat on the mat."}, {"text": "Stocks fell on Monday."}])  # doctest: +SKIP
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        augmenter: Optional[Callable[[list[str]], tuple[list[str], list[str]]]] = None,
        max_length: int = 128,
        mlm_probability: float = 0.15,
        text_column: str = "text",
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        seed: Optional[int] = None,
        pad_to_multiple_of: Optional[int] = None,
        del_token: str = DEL_TOKEN,
        word_cache_size: int = 1 << 18,
    ) -> None:
        if del_token not in tokenizer.all_special_tokens:
            raise ValueError(
                f"the tokenizer has no special token {del_token!r} "
                f"(its special tokens: {tokenizer.all_special_tokens}). "
                f"CLEAR's deletions write {del_token!r}; add it with "
                f'`tokenizer.add_special_tokens({{"extra_special_tokens": ["{del_token}"]}}, replace_extra_special_tokens=False)` and resize the '
                "model's embeddings with `model.resize_token_embeddings(len(tokenizer))`."
            )
        if tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer has no pad token; set one (e.g. tokenizer.pad_token = '[PAD]').")
        if max_length < 2:
            raise ValueError(f"max_length must be >= 2, got {max_length}.")
        self.tokenizer = tokenizer
        self.augmenter = augmenter if augmenter is not None else CLEARAugmenter(max_words=max_length, seed=seed)
        self.max_length = max_length
        self.text_column = text_column
        self.pad_to_multiple_of = pad_to_multiple_of
        self.del_token = del_token
        self.del_token_id = tokenizer.convert_tokens_to_ids(del_token)
        self.mlm = DataCollatorForLanguageModeling(
            tokenizer=tokenizer,
            mlm=True,
            mlm_probability=mlm_probability,
            mask_replace_prob=mask_replace_prob,
            random_replace_prob=random_replace_prob,
            seed=seed,
        )
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids) | {self.del_token_id}), dtype=torch.long)
        self._seeded_pid: Optional[int] = None
        self.word_encoder = SpaceSplitEncoder.for_tokenizer(tokenizer, max_length, word_cache_size)
        self._backend: Optional[Tokenizer] = None
        backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
        if self.word_encoder is None and isinstance(backend, Tokenizer):
            self._backend = Tokenizer.from_str(backend.to_str())  # a private copy: the caller's stays as it is
            self._backend.no_padding()
            self._backend.enable_truncation(max_length, direction=getattr(tokenizer, "truncation_side", "right"))
            self._encode_batch = getattr(self._backend, "encode_batch_fast", self._backend.encode_batch)

    @property
    def mlm_probability(self) -> float:
        return self.mlm.mlm_probability

    def _texts(self, examples: Sequence[Union[str, Mapping[str, Any]]]) -> list[str]:
        if not examples:
            raise ValueError("CLEARDataCollator got an empty batch.")
        if isinstance(examples[0], str):
            return list(examples)  # type: ignore[arg-type]
        if self.text_column not in examples[0]:
            raise KeyError(
                f"column {self.text_column!r} not in the examples, which have {sorted(examples[0])}; set text_column."
            )
        return [example[self.text_column] or "" for example in examples]  # type: ignore[index]

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """``tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]``, fast."""
        if self.word_encoder is not None:
            return self.word_encoder(texts)
        if self._backend is not None:
            return [encoding.ids for encoding in self._encode_batch(texts)]
        return self.tokenizer(
            texts, truncation=True, max_length=self.max_length, return_attention_mask=False, return_token_type_ids=False
        )["input_ids"]

    def _encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids padded to the longest row (on the tokenizer's ``padding_side``), attention mask."""
        ids = self.token_ids(texts)
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        width = int(lengths.max())
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
        positions = np.arange(width)
        if self.tokenizer.padding_side == "left":
            mask = positions >= width - lengths[:, None]
        else:
            mask = positions < lengths[:, None]
        input_ids = np.full((len(ids), width), self.tokenizer.pad_token_id, dtype=np.int64)
        input_ids[mask] = flat
        return torch.from_numpy(input_ids), torch.from_numpy(mask.astype(np.int64))

    def _reseed_in_worker(self) -> None:
        info = torch.utils.data.get_worker_info()
        if info is not None and self._seeded_pid != os.getpid() and hasattr(self.augmenter, "reseed"):
            # every worker holds a copy of the augmenter and its generator: reseed from the
            # worker's seed (base_seed + worker id, new every epoch unless workers persist)
            self.augmenter.reseed(info.seed)
            self._seeded_pid = os.getpid()
        if self.mlm.seed is not None and (self.mlm.generator is None or self.mlm._generator_pid != os.getpid()):
            self.mlm.create_rng("pt")

    def __call__(self, examples: Sequence[Union[str, Mapping[str, Any]]]) -> dict[str, torch.Tensor]:
        self._reseed_in_worker()
        texts = self._texts(examples)
        view_a, view_b = self.augmenter(texts)
        if len(view_a) != len(texts) or len(view_b) != len(texts):
            raise ValueError(
                f"the augmenter returned {len(view_a)} and {len(view_b)} views for {len(texts)} sentences."
            )
        input_ids, attention_mask = self._encode(texts)
        input_ids_a, attention_mask_a = self._encode(view_a)
        input_ids_b, attention_mask_b = self._encode(view_b)
        special_tokens_mask = torch.isin(input_ids, self.special_ids)
        input_ids, labels = self.mlm.torch_mask_tokens(input_ids, special_tokens_mask=special_tokens_mask)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": labels,
            "input_ids_a": input_ids_a,
            "attention_mask_a": attention_mask_a,
            "input_ids_b": input_ids_b,
            "attention_mask_b": attention_mask_b,
        }

    def __repr__(self) -> str:
        return (
            f"CLEARDataCollator(max_length={self.max_length}, mlm_probability={self.mlm_probability}, "
            f"text_column={self.text_column!r}, augmenter={self.augmenter!r})"
        )


__all__ = ["CLEARDataCollator", "SpaceSplitEncoder"]
