"""The offline default tokenizer: a WordPiece vocabulary trained on the training corpus with the
`tokenizers` library, saved as a transformers fast tokenizer with CLEAR's `[DEL]` special token.

The `tokenizers` trainer does not give the same vocabulary twice (ENVIRONMENT.md), so a run saves
the tokenizer it trained in its output folder and a resumed run loads it instead of training again.
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

DEL_TOKEN = "[DEL]"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", DEL_TOKEN]


def train_wordpiece_tokenizer(
    texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2, model_max_length: int = 128
) -> PreTrainedTokenizerFast:
    """Train a lower-casing BERT-style WordPiece tokenizer on `texts`.

    `[DEL]` is a special token (never split, never masked by the MLM collator), and every
    sequence is wrapped as `[CLS] ... [SEP]` (pairs as `[CLS] a [SEP] b [SEP]`).
    """
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        additional_special_tokens=[DEL_TOKEN],
        model_max_length=model_max_length,
    )


def add_del_token(tokenizer: PreTrainedTokenizerFast) -> int:
    """Add `[DEL]` as a special token to a pretrained tokenizer (if missing); returns how many tokens
    were added, so the caller can resize the model's embeddings."""
    if DEL_TOKEN in tokenizer.all_special_tokens:
        return 0
    return tokenizer.add_special_tokens({"extra_special_tokens": [DEL_TOKEN]}, replace_extra_special_tokens=False)
