"""The CLEAR recipe: sentences, the tokenizer, the augmented views, the MLM masks and the probe."""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from transformers import AutoModel, AutoTokenizer

from ..augment.text import CLEARAugmenter
from ..data.loading import describe_source, drop_empty_texts, find_column, first_rows, load_split
from ..data.text_collator import CLEARDataCollator
from ..data.tokenizer import add_del_token, train_wordpiece_tokenizer
from ..evaluation import bag_of_words_features, encode_sentences, linear_probe_accuracy, probe_scores, sentence_similarity_spearman
from ..modeling import CLEARConfig, CLEARForPreTraining, CLEARModel
from ..modeling.modeling_clear import write_sentence_transformers_config
from ..training.arguments import parse_json_or_mapping
from .sources import (
    build_config, checkpoint_fields, fitting_batch_size, load_checkpoint_config, load_pretrained, load_recipe_data, merge_fields,
)  # fmt: skip

logger = get_logger(__name__)
TOKENIZER_FOLDER = "tokenizer"


@dataclass(frozen=True)
class CLEARDefaults:
    """Every default of the CLEAR recipe: a 4-layer, 128-wide BERT on BBC News sentences (CPU-sized).

    Mean pooling: with the paper's [CLS] pooling this small randomly initialised BERT starts with
    nearly identical sentence embeddings, where the contrastive loss sat at log(2N - 1) for the
    first steps we measured.
    """

    # training options (their command-line names)
    dataset_name: str = "bbc_news"
    output_dir: str = "outputs/clear-default"
    per_device_train_batch_size: int = 64
    optimizer: str = "adamw"
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    num_train_epochs: float = 0.5
    max_seq_length: int = 64
    vocab_size: int = 8000
    # the model (CLEARConfig fields the recipe sets)
    temperature: float = 0.1
    pooling: str = "mean"
    projection_dim: int = 64
    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 512

    def options(self) -> dict[str, Any]:
        names = ("dataset_name", "output_dir", "per_device_train_batch_size", "optimizer", "learning_rate", "weight_decay",
                 "num_train_epochs", "max_seq_length", "vocab_size", "temperature")  # fmt: skip
        return {name: getattr(self, name) for name in names}

    def training_defaults(self) -> dict[str, Any]:
        names = ("per_device_train_batch_size", "optimizer", "learning_rate", "weight_decay", "num_train_epochs")
        return {k: getattr(self, k) for k in names}


class CLEARRecipe:
    """CLEAR (Wu et al. 2020): MLM plus NT-Xent between two augmented copies of each sentence."""

    name = "clear"
    n_views = 2

    def __init__(self, model_args, data_args, args, accelerator: Accelerator, defaults: CLEARDefaults = CLEARDefaults()) -> None:
        self.model_args, self.data_args, self.args, self.accelerator = model_args, data_args, args, accelerator
        self.defaults = defaults
        if args.loss not in (None, "ntxent"):
            raise ValueError(f"--loss {args.loss!r}: CLEAR's contrastive loss is NT-Xent (leave --loss unset).")
        if args.n_views not in (None, 2):
            raise ValueError(f"--n_views {args.n_views}: CLEAR contrasts exactly 2 augmented copies of each sentence.")
        self.dataset_name = data_args.dataset_name or defaults.dataset_name
        self.max_seq_length = data_args.max_seq_length or defaults.max_seq_length
        self.data = load_recipe_data(data_args, args.seed, self.dataset_name)
        self.train_dataset = self.data.train
        self.text_column = find_column(self.train_dataset, data_args.text_column, "text")
        self.label_column = find_column(self.train_dataset, data_args.label_column, "label", required=False)
        dropped = sum(self.data.drop_rows(lambda rows, what: drop_empty_texts(rows, self.text_column, what), self.dataset_name))
        self.train_dataset = self.data.train
        if dropped:
            logger.warning(f"Dropped {dropped:,} rows whose text is empty or only whitespace.", main_process_only=True)

        self.tokenizer = self._tokenizer()
        self.model = self._model(parse_json_or_mapping(model_args.model_config, "model_config"))
        config = self.model.config
        self.augmenter = CLEARAugmenter(
            augmentations=config.augmentations,
            pair=config.augmentation_pair,
            word_deletion_ratio=config.word_deletion_ratio,
            span_deletion_ratio=config.span_deletion_ratio,
            reordering_ratio=config.reordering_ratio,
            synonym_substitution_ratio=config.synonym_substitution_ratio,
            max_words=self.max_seq_length,
            del_token=config.del_token,
        )
        self.collator = CLEARDataCollator(
            self.tokenizer, self.augmenter, max_length=self.max_seq_length,
            mlm_probability=config.mlm_probability, text_column=self.text_column, del_token=config.del_token,
        )  # fmt: skip
        self.training_defaults = defaults.training_defaults()
        if args.per_device_train_batch_size is None:
            batch = fitting_batch_size(defaults.per_device_train_batch_size, len(self.train_dataset), accelerator.num_processes)
            if batch != defaults.per_device_train_batch_size:
                self.training_defaults["per_device_train_batch_size"] = batch
                logger.info(f"per_device_train_batch_size {batch}: the recipe's {defaults.per_device_train_batch_size} "
                            f"is more than the {len(self.train_dataset)} training rows hold", main_process_only=True)
        logger.info(
            f"Data: {self.dataset_name} ({len(self.train_dataset)} training rows; evaluation: {self.data.eval_source}); "
            f"text column {self.text_column!r}, label column {self.label_column!r}; pooling {config.pooling}, "
            f"max_seq_length {self.max_seq_length}, vocabulary {len(self.tokenizer)}.",
            main_process_only=True,
        )

    def _tokenizer(self):
        name = self.model_args.tokenizer_name or self.model_args.model_name_or_path
        if name:
            tokenizer = AutoTokenizer.from_pretrained(name)
            add_del_token(tokenizer)
            return tokenizer
        # Train once, on the main process, and save: the WordPiece trainer is not repeatable, so a
        # resumed run (and every other process) must read the same vocabulary.
        folder = Path(self.args.output_dir) / TOKENIZER_FOLDER
        if self.accelerator.is_main_process and not (folder / "tokenizer.json").exists():
            tokenizer = train_wordpiece_tokenizer(
                self.train_dataset[self.text_column], vocab_size=self.model_args.vocab_size or self.defaults.vocab_size,
                model_max_length=self.max_seq_length,
            )  # fmt: skip
            tokenizer.save_pretrained(folder)
        self.accelerator.wait_for_everyone()
        return AutoTokenizer.from_pretrained(folder)

    def _model(self, overrides: dict) -> CLEARForPreTraining:
        """The model; its config from (by precedence) --temperature > --model_config > the checkpoint's > the recipe's."""
        path, defaults = self.model_args.model_name_or_path, self.defaults
        cli = {"temperature": self.args.temperature} if self.args.temperature is not None else {}
        checkpoint = load_checkpoint_config(path) if path else None
        if checkpoint is not None and checkpoint.model_type == "clear":
            fields = merge_fields(checkpoint_fields(checkpoint), {**overrides, **cli}, nested=("text_config",))
            config = build_config(CLEARConfig, fields, f"the checkpoint {path}, --model_config, --temperature")
            model = load_pretrained(CLEARForPreTraining, path, config=config)
        elif checkpoint is not None:  # any masked-LM encoder: its weights start f, the heads are new
            if checkpoint.model_type in ("simclr",):
                raise ValueError(f"--model_name_or_path {path} holds a SimCLR model; --model clear starts from CLEAR or a masked LM.")
            fields = merge_fields({"text_config": checkpoint.to_dict()}, {**overrides, **cli}, nested=("text_config",))
            model = CLEARForPreTraining(build_config(CLEARConfig, fields, f"the encoder {path}, --model_config, --temperature"))
            model.clear.encoder.load_state_dict(load_pretrained(AutoModel, path).state_dict(), strict=False)
            model.config.name_or_path = path
        else:
            text_config = {
                "model_type": "bert", "hidden_size": defaults.hidden_size, "num_hidden_layers": defaults.num_hidden_layers,
                "num_attention_heads": defaults.num_attention_heads, "intermediate_size": defaults.intermediate_size,
                "max_position_embeddings": max(128, self.max_seq_length), "vocab_size": len(self.tokenizer),
                "pad_token_id": self.tokenizer.pad_token_id,
            }  # fmt: skip
            base = {"text_config": text_config, "pooling": defaults.pooling, "projection_dim": defaults.projection_dim,
                    "temperature": defaults.temperature}  # fmt: skip
            fields = merge_fields(base, {**overrides, **cli}, nested=("text_config",))
            model = CLEARForPreTraining(build_config(CLEARConfig, fields, "the recipe's defaults, --model_config, --temperature"))
        if model.get_input_embeddings().num_embeddings != len(self.tokenizer):
            model.resize_token_embeddings(len(self.tokenizer))
        return model

    def collate(self, examples: list[dict]) -> list[str]:
        return [example[self.text_column] or "" for example in examples]

    def make_inputs(self, texts: list[str], device: torch.device) -> dict[str, torch.Tensor]:
        # the loop has seeded python's generator for this step: views and masks follow from it
        self.augmenter.reseed(random.getrandbits(63))
        batch = self.collator(texts)
        return {key: value.to(device, non_blocking=True) for key, value in batch.items()}

    def evaluate(self, model: CLEARForPreTraining, preprocessor_dir: Optional[str] = None, baselines: bool = True) -> dict[str, float]:
        """Topic classification from frozen sentence embeddings (linear probe and weighted kNN, fit
        on the training rows, scored on the evaluation rows), tokenised by the saved tokenizer;
        Spearman on `--sts_dataset` if given; with `baselines`, the same for a bag of words and an
        untrained encoder."""
        tokenizer = AutoTokenizer.from_pretrained(preprocessor_dir) if preprocessor_dir else self.tokenizer
        results: dict[str, float] = {}
        if self.data.eval is not None and self.label_column is not None:
            limit = self.data_args.max_eval_samples
            train, test = first_rows(self.train_dataset, limit), first_rows(self.data.eval, limit)
            results.update(self._probe(model.clear, tokenizer, train, test, prefix=""))
            if baselines:
                torch.manual_seed(self.args.seed)
                untrained = CLEARModel(model.config).to(next(model.parameters()).device)
                results.update(self._probe(untrained, tokenizer, train, test, prefix="random_encoder_"))
                bow_train, bow_test = bag_of_words_features(train[self.text_column], test[self.text_column], sparse=True)
                results["bag_of_words_linear_accuracy"] = linear_probe_accuracy(
                    bow_train, train[self.label_column], bow_test, test[self.label_column]
                )["accuracy"]
        if self.data_args.sts_dataset and self.data.eval is not None:
            sts = load_split(self.data_args.sts_dataset, "test")
            results["sts_spearman"] = sentence_similarity_spearman(model.clear, tokenizer, sts, max_length=self.max_seq_length)
        return results

    def _probe(self, encoder, tokenizer, train, test, prefix: str) -> dict[str, float]:
        def embed(split):
            return encode_sentences(
                encoder, tokenizer, split[self.text_column],
                batch_size=self.args.per_device_eval_batch_size, max_length=self.max_seq_length,
            )  # fmt: skip

        labels = [torch.tensor(split[self.label_column]) for split in (train, test)]
        return probe_scores(embed(train), labels[0], embed(test), labels[1], prefix=prefix)

    def chance_loss(self, global_batch: int) -> tuple[str, float]:
        """The NT-Xent part at chance, log(2N - 1): the two copies of each sentence are no closer
        than any other pair."""
        return "contrastive_loss", math.log(2 * global_batch - 1)

    def save_preprocessor(self, output_dir: str) -> None:
        """The tokenizer, and the sentence-transformers files: the output folder is also a
        `SentenceTransformer` folder giving the model's own sentence embedding."""
        self.tokenizer.save_pretrained(output_dir)
        config = self.model.config
        write_sentence_transformers_config(output_dir, config.pooling, config.hidden_size, self.max_seq_length)

    def resolved_options(self) -> dict[str, Any]:
        return {
            **asdict(self.model_args), **asdict(self.data_args), "dataset_name": self.dataset_name,
            "max_seq_length": self.max_seq_length, "vocab_size": self.model_args.vocab_size or self.defaults.vocab_size,
        }  # fmt: skip

    def train_results(self) -> dict[str, Any]:
        rows = len(self.train_dataset) + (len(self.data.eval) if self.data.eval is not None else 0)
        return {
            "data": {"dataset_name": self.dataset_name, **describe_source(self.dataset_name, rows, "texts"), **self.data.describe()},
            "heldout_indices": self.data.heldout_indices,
        }
