# Copyright 2026 The hf_contrastive authors. Apache-2.0.
"""CLEAR model configuration."""

from __future__ import annotations

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec


AUGMENTATIONS = ("word_deletion", "span_deletion", "reordering", "synonym_substitution")


class CLEARConfig(PreTrainedConfig):
    r"""Configuration of a CLEAR sentence encoder (Wu et al. 2020, "CLEAR: Contrastive Learning for
    Sentence Representation", arXiv 2012.15466): a Transformer encoder f pre-trained with masked
    language modelling plus a contrastive loss between two augmented copies of each sentence.

    Args:
        text_config (`dict` or `PreTrainedConfig`, *optional*, defaults to `BertConfig()`):
            The encoder's own transformers config: BERT by default (the paper's architecture);
            RoBERTa, DistilBERT or any model `AutoModel` builds from a config and whose MLM head
            is dense -> activation -> layer norm -> decoder (BERT-family).
        pooling (`str`, *optional*, defaults to `"cls"`):
            The sentence embedding: `"cls"`, the first token's output (the paper), or `"mean"`,
            the mean of the token outputs under the attention mask.
        projection_hidden_dim (`int`, *optional*):
            Hidden width of the projection head g; defaults to the encoder's hidden size.
        projection_dim (`int`, *optional*, defaults to 128):
            Output dimension of g, where the contrastive loss is computed.
        projection_num_layers (`int`, *optional*, defaults to 2):
            Linear layers of g, ReLU between them (SimCLR's head, which CLEAR adopts).
        temperature (`float`, *optional*, defaults to 0.1):
            tau of the NT-Xent loss between the two augmented views.
        gather_distributed (`bool`, *optional*, defaults to `True`):
            In a distributed run, use every process's sentences as negatives.
        loss_chunk_size (`int`, *optional*):
            Anchor rows per chunk of the loss's similarity matrix (memory bound).
        mlm_weight (`float`, *optional*, defaults to 1.0):
            Weight of the masked-language-model loss in the total (the paper: MLM + contrastive).
        contrastive_weight (`float`, *optional*, defaults to 1.0):
            Weight of the contrastive loss in the total.
        mlm_probability (`float`, *optional*, defaults to 0.15):
            Fraction of tokens the collator selects for MLM (80% `[MASK]`, 10% random, 10% kept).
        augmentations (`list[str]`, *optional*, defaults to all four):
            The set each minibatch draws its two augmentations from: `word_deletion`,
            `span_deletion`, `reordering`, `synonym_substitution`.
        augmentation_pair (`list[str]`, *optional*):
            A fixed pair instead of random draws, e.g. `["word_deletion", "reordering"]` (the
            paper's best for sentiment) or `["span_deletion", "synonym_substitution"]` (paraphrase).
        word_deletion_ratio (`float`, *optional*, defaults to 0.3): fraction of words deleted.
        span_deletion_ratio (`float`, *optional*, defaults to 0.3): fraction of words in deleted spans.
        reordering_ratio (`float`, *optional*, defaults to 0.3): fraction of words in swapped spans.
        synonym_substitution_ratio (`float`, *optional*, defaults to 0.3): fraction of words replaced.
            (0.3 is nlpaug's default and stronger than EDA's 0.1, as contrastive learning prefers;
            the paper's ablations vary the ratios: set them to reproduce one.)
        del_token (`str`, *optional*, defaults to `"[DEL]"`): the token that marks deleted words.
        freeze_encoder (`bool`, *optional*, defaults to `False`):
            `CLEARForSequenceClassification` only: train the classifier on a frozen f (linear
            evaluation).
        classifier_dropout (`float`, *optional*, defaults to 0.1): dropout before the classifier.
        initializer_range (`float`, *optional*, defaults to 0.02): std of the heads' initialisation.
        tie_word_embeddings (`bool`, *optional*, defaults to `True`):
            Tie the MLM decoder to the encoder's input embeddings, as BERT does.

    Example:

    ```python
    >>> from transformers import BertConfig
    >>> from hf_contrastive import CLEARConfig, CLEARForPreTraining

    >>> config = CLEARConfig(text_config=BertConfig(vocab_size=8000, hidden_size=256, num_hidden_layers=4,
    ...                                             num_attention_heads=4, intermediate_size=1024))
    >>> model = CLEARForPreTraining(config)
    ```
    """

    model_type = "clear"
    sub_configs_defaults = {"text_config": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    text_config: dict | PreTrainedConfig | None = None
    pooling: str = "cls"
    projection_hidden_dim: int | None = None
    projection_dim: int = 128
    projection_num_layers: int = 2
    temperature: float = 0.1
    gather_distributed: bool = True
    loss_chunk_size: int | None = None
    mlm_weight: float = 1.0
    contrastive_weight: float = 1.0
    mlm_probability: float = 0.15
    augmentations: list[str] | None = None
    augmentation_pair: list[str] | None = None
    word_deletion_ratio: float = 0.3
    span_deletion_ratio: float = 0.3
    reordering_ratio: float = 0.3
    synonym_substitution_ratio: float = 0.3
    del_token: str = "[DEL]"
    freeze_encoder: bool = False
    classifier_dropout: float = 0.1
    initializer_range: float = 0.02
    tie_word_embeddings: bool = True

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {self.pooling!r}.")
        if self.augmentations is None:
            self.augmentations = list(AUGMENTATIONS)
        self.augmentations = list(self.augmentations)
        chosen = self.augmentations + list(self.augmentation_pair or [])
        unknown = sorted(set(chosen) - set(AUGMENTATIONS))
        if unknown:
            raise ValueError(f"Unknown augmentation(s) {unknown}; choose from {list(AUGMENTATIONS)}.")
        if self.augmentation_pair is not None:
            self.augmentation_pair = list(self.augmentation_pair)
            if len(self.augmentation_pair) != 2:
                raise ValueError(f"augmentation_pair must name exactly 2 augmentations, got {self.augmentation_pair}.")
        for name in ("word_deletion_ratio", "span_deletion_ratio", "reordering_ratio", "synonym_substitution_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}.")
        if not 0.0 < self.mlm_probability < 1.0:
            raise ValueError(f"mlm_probability must be in (0, 1), got {self.mlm_probability}.")
        if self.mlm_weight < 0 or self.contrastive_weight < 0 or self.mlm_weight + self.contrastive_weight == 0:
            raise ValueError("mlm_weight and contrastive_weight must be >= 0 and not both 0.")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}.")

    @property
    def hidden_size(self) -> int:
        """Dimension of the sentence embedding."""
        for name in ("hidden_size", "dim", "d_model"):
            value = getattr(self.text_config, name, None)
            if isinstance(value, int):
                return value
        raise ValueError(f"Cannot tell the hidden size of {type(self.text_config).__name__}.")


__all__ = ["CLEARConfig", "AUGMENTATIONS"]
