# Copyright 2026 The hf_contrastive authors. Apache-2.0.
"""CLEAR (Wu et al. 2020, arXiv 2012.15466) sentence encoders as transformers models.

- `CLEARModel`: the encoder f (any BERT-family transformers encoder); `pooler_output` is the
  sentence embedding (`[CLS]` output or masked mean, `config.pooling`).
- `CLEARForPreTraining`: f + an MLM head + a projection head g; the loss is
  `mlm_weight * MLM + contrastive_weight * NT-Xent(g(f(view_a)), g(f(view_b)))`.
- `CLEARForSequenceClassification`: f + a linear classifier (fine-tuning or, with
  `freeze_encoder`, linear evaluation).

This file and its same-folder imports are copied next to every saved model, so a folder or Hub
repository loads with `trust_remote_code=True` without this package installed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import torch
import transformers
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput
from transformers.utils import ModelOutput

from .configuration_clear import CLEARConfig
from .losses import supervised_contrastive_loss


_AUTO_MAP = {
    "AutoConfig": "configuration_clear.CLEARConfig",
    "AutoModel": "modeling_clear.CLEARModel",
    "AutoModelForPreTraining": "modeling_clear.CLEARForPreTraining",
    "AutoModelForSequenceClassification": "modeling_clear.CLEARForSequenceClassification",
}


#: the files that make a folder a sentence-transformers model (its classic layout, which every
#: sentence-transformers version since 2 reads): the Transformer module at the root, then Pooling
SENTENCE_TRANSFORMERS_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json")


def write_sentence_transformers_config(save_directory: Union[str, Path], pooling: str, embedding_dimension: int, max_seq_length: int) -> None:
    """Make `save_directory` (a saved encoder with its tokenizer) a sentence-transformers folder:
    `SentenceTransformer(save_directory)` then runs the encoder and pools its token outputs with
    `pooling` ("cls": the first token; "mean": the masked mean), exactly `CLEARModel.pool`."""
    if pooling not in ("cls", "mean"):
        raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}.")
    folder = Path(save_directory)
    (folder / "1_Pooling").mkdir(parents=True, exist_ok=True)
    files = {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        ],
        "sentence_bert_config.json": {"max_seq_length": int(max_seq_length), "do_lower_case": False},
        "config_sentence_transformers.json": {
            "__version__": {"transformers": transformers.__version__, "pytorch": torch.__version__},
            "prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": int(embedding_dimension),
            "pooling_mode_cls_token": pooling == "cls", "pooling_mode_mean_tokens": pooling == "mean",
            "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False, "include_prompt": True,
        },
    }  # fmt: skip
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content, indent=2) + "\n")


@dataclass
class CLEARPreTrainingOutput(ModelOutput):
    """Output of `CLEARForPreTraining`.

    Args:
        loss (`torch.FloatTensor` of shape `()`): `mlm_weight * mlm_loss + contrastive_weight * contrastive_loss`
            (a missing part counts 0).
        mlm_loss (`torch.FloatTensor` of shape `()`, *optional*): masked-LM cross entropy, when `labels` are given.
        contrastive_loss (`torch.FloatTensor` of shape `()`, *optional*): NT-Xent between the two views.
        mlm_logits (`torch.FloatTensor` of shape `(num_masked_tokens, vocab_size)`, *optional*):
            the MLM head's logits at the masked positions (`labels != -100`), in row-major order.
        projections (`torch.FloatTensor` of shape `(batch_size, 2, projection_dim)`, *optional*): z of both views.
        sentence_embeddings (`torch.FloatTensor` of shape `(batch_size, 2, hidden_size)`, *optional*): h of both views.
    """

    loss: Optional[torch.FloatTensor] = None
    mlm_loss: Optional[torch.FloatTensor] = None
    contrastive_loss: Optional[torch.FloatTensor] = None
    mlm_logits: Optional[torch.FloatTensor] = None
    projections: Optional[torch.FloatTensor] = None
    sentence_embeddings: Optional[torch.FloatTensor] = None


class CLEARPreTrainedModel(PreTrainedModel):
    config: CLEARConfig
    config_class = CLEARConfig
    base_model_prefix = "clear"
    main_input_name = "input_ids"
    input_modalities = ("text",)
    supports_gradient_checkpointing = True
    _no_split_modules = []
    _keys_to_ignore_on_load_unexpected = [r"lm_head\.", r"projection_head\."]

    def __init__(self, config: CLEARConfig, *inputs, **kwargs):
        super().__init__(config, *inputs, **kwargs)
        config.auto_map = {**_AUTO_MAP, **(getattr(config, "auto_map", None) or {})}

    def _init_weights(self, module: nn.Module) -> None:
        """Heads: N(0, initializer_range) weights, zero biases, unit layer norms (BERT's scheme);
        the encoder initialises itself with its own `_init_weights`."""
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)


class CLEARModel(CLEARPreTrainedModel):
    """The sentence encoder f: token ids -> hidden states and the pooled sentence embedding."""

    def __init__(self, config: CLEARConfig):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.text_config)
        if getattr(self.encoder, "pooler", None) is not None:
            # BERT's tanh pooler is not CLEAR's sentence embedding; unused parameters also break DDP
            self.encoder.pooler = None
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.encoder.set_input_embeddings(value)

    def pool(self, last_hidden_state: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
        """The sentence embedding: the first ([CLS]) token's output, or the masked mean."""
        if self.config.pooling == "cls":
            return last_hidden_state[:, 0]
        if attention_mask is None:
            return last_hidden_state.mean(dim=1)
        mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
        return (last_hidden_state * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        inputs_embeds: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ) -> Union[tuple, BaseModelOutputWithPooling]:
        if input_ids is not None and input_ids.shape[0] == 0:
            raise ValueError("input_ids is an empty batch (batch_size 0); pass at least one sentence.")
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        encoder_kwargs = {"input_ids": input_ids, "attention_mask": attention_mask, "inputs_embeds": inputs_embeds}
        if token_type_ids is not None:
            encoder_kwargs["token_type_ids"] = token_type_ids
        outputs = self.encoder(**encoder_kwargs, output_hidden_states=output_hidden_states, return_dict=True)
        pooled = self.pool(outputs.last_hidden_state, attention_mask)
        if not return_dict:
            return tuple(v for v in (outputs.last_hidden_state, pooled, outputs.get("hidden_states")) if v is not None)
        return BaseModelOutputWithPooling(
            last_hidden_state=outputs.last_hidden_state,
            pooler_output=pooled,
            hidden_states=outputs.get("hidden_states"),
            attentions=outputs.get("attentions"),
        )

    def export_encoder(self, save_directory: str, tokenizer=None, max_seq_length: Optional[int] = None) -> None:
        """Save f as a plain transformers model of its own type (e.g. a `BertModel` folder, no
        remote code) that is also a sentence-transformers folder: `SentenceTransformer(folder)`
        gives exactly this model's sentence embedding (`pooler_output`).

        The weights are f's and nothing else: BERT's tanh pooler is not part of CLEAR and is not
        saved. A plain `AutoModel.from_pretrained(folder)` would build that pooler with random
        weights (`BertModel` always has one unless told otherwise), so load it with
        `add_pooling_layer=False` and pool `last_hidden_state` yourself ([CLS] or the masked
        mean, `config.pooling`), or use sentence-transformers, which pools the token outputs.

        Args:
            save_directory: the folder to write.
            tokenizer: the model's tokenizer (needed by sentence-transformers; saved beside).
            max_seq_length: tokens per sentence for sentence-transformers; default: the
                tokenizer's `model_max_length` if set sensibly, else the encoder's positions.
        """
        self.encoder.save_pretrained(save_directory)
        if tokenizer is not None:
            tokenizer.save_pretrained(save_directory)
        positions = getattr(self.config.text_config, "max_position_embeddings", 512)
        if max_seq_length is None:
            known = getattr(tokenizer, "model_max_length", None)
            max_seq_length = known if isinstance(known, int) and 0 < known <= positions else positions
        write_sentence_transformers_config(save_directory, self.config.pooling, self.config.hidden_size, max_seq_length)


class CLEARMaskedLMHead(nn.Module):
    """BERT's MLM head: dense -> activation -> layer norm -> decoder (weight tied to the input
    embeddings, own bias). RoBERTa's and DistilBERT's heads compute the same function."""

    def __init__(self, config: CLEARConfig):
        super().__init__()
        text_config = config.text_config
        hidden = config.hidden_size
        activation = getattr(text_config, "hidden_act", None) or getattr(text_config, "activation", "gelu")
        self.dense = nn.Linear(hidden, hidden)
        self.activation = ACT2FN[activation]
        self.layer_norm = nn.LayerNorm(hidden, eps=getattr(text_config, "layer_norm_eps", 1e-12))
        # the bias lives in the decoder, so resize_token_embeddings resizes it with the weight
        self.decoder = nn.Linear(hidden, text_config.vocab_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.layer_norm(self.activation(self.dense(hidden_states))))


class CLEARProjectionHead(nn.Module):
    """g: `projection_num_layers` linear layers with ReLU between them."""

    def __init__(self, config: CLEARConfig):
        super().__init__()
        hidden = config.projection_hidden_dim or config.hidden_size
        dims = [config.hidden_size] + [hidden] * (config.projection_num_layers - 1) + [config.projection_dim]
        layers: list[nn.Module] = []
        for index, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(d_in, d_out))
            if index < len(dims) - 2:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, sentence_embeddings: torch.Tensor) -> torch.Tensor:
        return self.layers(sentence_embeddings)


def _at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """Half-precision logits in float32 for the loss (under autocast); float32 and float64 as they are."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def _pad_to(tensor: torch.Tensor, length: int, value: int) -> torch.Tensor:
    if tensor.shape[1] == length:
        return tensor
    return nn.functional.pad(tensor, (0, length - tensor.shape[1]), value=value)


class CLEARForPreTraining(CLEARPreTrainedModel):
    """f + MLM head + projection head g. `forward` takes the MLM inputs (`input_ids`,
    `attention_mask`, `labels` with -100 on unmasked positions) and the two augmented views
    (`input_ids_a`, `attention_mask_a`, `input_ids_b`, `attention_mask_b`; row k of each from
    sentence k), as `hf_contrastive.data.CLEARDataCollator` makes them. Either part may be left out.
    """

    def __init__(self, config: CLEARConfig):
        super().__init__(config)
        self.clear = CLEARModel(config)
        self.lm_head = CLEARMaskedLMHead(config)
        self.projection_head = CLEARProjectionHead(config)
        embedding_name = next(
            name for name, param in self.named_parameters() if param is self.clear.get_input_embeddings().weight
        )
        self._tied_weights_keys = {"lm_head.decoder.weight": embedding_name}
        self.post_init()

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings: nn.Module) -> None:
        self.lm_head.decoder = new_embeddings

    def get_input_embeddings(self) -> nn.Module:
        return self.clear.get_input_embeddings()

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        input_ids_a: Optional[torch.Tensor] = None,
        attention_mask_a: Optional[torch.Tensor] = None,
        input_ids_b: Optional[torch.Tensor] = None,
        attention_mask_b: Optional[torch.Tensor] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ) -> Union[tuple, CLEARPreTrainingOutput]:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if (input_ids_a is None) != (input_ids_b is None):
            raise ValueError("Pass both views (input_ids_a and input_ids_b) for the contrastive loss, or neither.")
        if input_ids is None and input_ids_a is None:
            raise ValueError("Nothing to compute: pass input_ids (+ labels) for MLM and/or input_ids_a/_b for the contrastive loss.")

        mlm_loss = mlm_logits = None
        if input_ids is not None and labels is not None and self.config.mlm_weight > 0:
            mlm_logits, cross_entropy = self._masked_lm(input_ids, attention_mask, labels)
            # mean over the masked tokens; a batch with none masked (short or all-special sentences)
            # contributes 0, not 0/0
            mlm_loss = cross_entropy / (labels != -100).sum().clamp_min(1)

        contrastive_loss = projections = sentence_embeddings = None
        if input_ids_a is not None and self.config.contrastive_weight > 0:
            if input_ids_a.shape[0] != input_ids_b.shape[0]:
                raise ValueError(
                    f"The two views must hold the same sentences row by row; got {input_ids_a.shape[0]} and "
                    f"{input_ids_b.shape[0]} rows."
                )
            # both views in one pass through f
            both_ids, both_mask = self._both_views(input_ids_a, attention_mask_a, input_ids_b, attention_mask_b)
            pooled = self.clear(both_ids, attention_mask=both_mask, return_dict=True).pooler_output
            sentence_embeddings = torch.stack(pooled.chunk(2), dim=1)  # (batch, 2, hidden)
            projections = self.projection_head(sentence_embeddings)
            contrastive_loss = self._contrastive_loss(projections)

        loss = sum(
            weight * part
            for weight, part in ((self.config.mlm_weight, mlm_loss), (self.config.contrastive_weight, contrastive_loss))
            if part is not None
        )
        if not return_dict:
            values = (loss, mlm_loss, contrastive_loss, mlm_logits, projections, sentence_embeddings)
            return tuple(v for v in values if v is not None)
        return CLEARPreTrainingOutput(
            loss=loss,
            mlm_loss=mlm_loss,
            contrastive_loss=contrastive_loss,
            mlm_logits=mlm_logits,
            projections=projections,
            sentence_embeddings=sentence_embeddings,
        )


    def _masked_lm(
        self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor], labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The MLM head's logits at the masked tokens (`labels != -100`) and the sum of their cross
        entropy (at least float32). The vocabulary projection runs only where a token is to be
        predicted: on a 30k vocabulary the full (batch, seq, vocab) logits cost as much as the encoder."""
        hidden = self.clear(input_ids, attention_mask=attention_mask, return_dict=True).last_hidden_state
        masked = labels != -100
        logits = self.lm_head(hidden[masked])
        return logits, nn.functional.cross_entropy(_at_least_float32(logits), labels[masked], reduction="sum")

    def _both_views(
        self, input_ids_a: torch.Tensor, attention_mask_a: Optional[torch.Tensor],
        input_ids_b: torch.Tensor, attention_mask_b: Optional[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Token ids and attention masks of view a's rows, then view b's, padded to one length."""
        mask_a = attention_mask_a if attention_mask_a is not None else torch.ones_like(input_ids_a)
        mask_b = attention_mask_b if attention_mask_b is not None else torch.ones_like(input_ids_b)
        length = max(input_ids_a.shape[1], input_ids_b.shape[1])
        pad_id = self.config.text_config.pad_token_id or 0
        ids = torch.cat([_pad_to(input_ids_a, length, pad_id), _pad_to(input_ids_b, length, pad_id)])
        return ids, torch.cat([_pad_to(mask_a, length, 0), _pad_to(mask_b, length, 0)])

    def _contrastive_loss(self, projections: torch.Tensor) -> torch.Tensor:
        """NT-Xent of the two views' projections `(batch_size, 2, D)` (SupCon without labels)."""
        return supervised_contrastive_loss(
            projections, None, temperature=self.config.temperature, base_temperature=self.config.temperature,
            gather_distributed=self.config.gather_distributed, chunk_size=self.config.loss_chunk_size,
        )  # fmt: skip

    def cached_step_parts(
        self,
        chunk_size: int,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        input_ids_a: Optional[torch.Tensor] = None,
        attention_mask_a: Optional[torch.Tensor] = None,
        input_ids_b: Optional[torch.Tensor] = None,
        attention_mask_b: Optional[torch.Tensor] = None,
        **kwargs,
    ):
        """What a cached-gradient step (GradCache; `hf_contrastive.training.gradcache`) needs, for the
        same loss as `forward`: the rows it embeds in chunks (both views, `(2 x batch_size, 2, length)`:
        token ids and attention mask of view a's rows, then view b's), the embedding z = g(f(x)) of
        a chunk of rows, the loss of all rows' z plus the per-sample terms, and those per-sample
        terms: the masked-LM loss in chunks of `chunk_size` sentences, each the sum of its tokens'
        cross entropy over all the batch's masked tokens (so the terms add up to the batch's mean)."""
        if input_ids_a is None or input_ids_b is None or self.config.contrastive_weight <= 0:
            raise ValueError("The cached-gradient step needs both views (input_ids_a, input_ids_b) and contrastive_weight > 0.")
        rows = torch.stack(self._both_views(input_ids_a, attention_mask_a, input_ids_b, attention_mask_b), dim=1)

        def embed(chunk: torch.Tensor) -> torch.Tensor:
            return self.projection_head(self.clear(chunk[:, 0], attention_mask=chunk[:, 1], return_dict=True).pooler_output)

        per_sample = []
        if input_ids is not None and labels is not None and self.config.mlm_weight > 0:
            total = (labels != -100).sum().clamp_min(1)

            def mlm_term(part: slice) -> torch.Tensor:
                mask = attention_mask[part] if attention_mask is not None else None
                return self.config.mlm_weight * self._masked_lm(input_ids[part], mask, labels[part])[1] / total

            per_sample = [
                (lambda part=slice(start, start + chunk_size): mlm_term(part)) for start in range(0, input_ids.shape[0], chunk_size)
            ]

        def loss(projections: torch.Tensor, per_sample_total: torch.Tensor) -> CLEARPreTrainingOutput:
            projections = torch.stack(projections.chunk(2), dim=1)
            contrastive = self._contrastive_loss(projections)
            mlm_loss = per_sample_total / self.config.mlm_weight if per_sample else None
            return CLEARPreTrainingOutput(
                loss=self.config.contrastive_weight * contrastive + per_sample_total, mlm_loss=mlm_loss,
                contrastive_loss=contrastive, projections=projections,
            )  # fmt: skip

        return rows, embed, loss, per_sample

class CLEARForSequenceClassification(CLEARPreTrainedModel):
    """f + dropout + a linear classifier on the sentence embedding. `num_labels == 1` is
    regression (mean squared error, e.g. STS-B), otherwise cross entropy. With
    `config.freeze_encoder` f gets no gradient (linear evaluation)."""

    def __init__(self, config: CLEARConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.clear = CLEARModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        if config.freeze_encoder:
            self.clear.requires_grad_(False)
        self.post_init()

    def forward(
        self,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        token_type_ids: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs,
    ) -> Union[tuple, SequenceClassifierOutput]:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_encoder):
            outputs = self.clear(
                input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                output_hidden_states=output_hidden_states, return_dict=True,
            )  # fmt: skip
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None
        if labels is not None:
            if self.num_labels == 1:
                loss = nn.functional.mse_loss(logits.float().squeeze(-1), labels.float().view(-1))
            else:
                loss = nn.functional.cross_entropy(logits.float(), labels.view(-1))
        if not return_dict:
            return tuple(v for v in (loss, logits, outputs.hidden_states) if v is not None)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


CLEARConfig.register_for_auto_class()
CLEARModel.register_for_auto_class("AutoModel")
CLEARForPreTraining.register_for_auto_class("AutoModelForPreTraining")
CLEARForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")

__all__ = [
    "CLEARForPreTraining",
    "CLEARForSequenceClassification",
    "CLEARModel",
    "CLEARPreTrainedModel",
    "CLEARPreTrainingOutput",
]
