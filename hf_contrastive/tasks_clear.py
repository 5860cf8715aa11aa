"""The CLEAR task of the shared training loop: sentences, tokenizer, augmented views, evaluation."""

from __future__ import annotations

import random
from pathlib import Path

import torch
from accelerate import Accelerator
from transformers import AutoConfig, AutoModel, AutoTokenizer

from .augment.text import CLEARAugmenter
from .data.loading import find_column, load_split
from .data.text_collator import CLEARDataCollator
from .data.tokenizer import add_del_token, train_wordpiece_tokenizer
from .evaluation import bag_of_words_features, encode_sentences, linear_probe_accuracy, sentence_similarity_spearman
from .modeling import CLEARConfig, CLEARForPreTraining, CLEARModel
from .tasks import evaluation_subset, probe_scores
from .training import parse_json_or_mapping

# The CPU default recipe: a 4-layer, 128-wide BERT on BBC News sentences. Mean pooling: with the
# paper's [CLS] pooling this small randomly initialised BERT starts with nearly identical sentence
# embeddings, where the contrastive loss sat at log(2N - 1) for the first steps we measured.
DEFAULT_CLEAR_CONFIG = {
    "text_config": {
        "model_type": "bert", "hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4,
        "intermediate_size": 512, "max_position_embeddings": 128,
    },
    "pooling": "mean",
    "projection_dim": 64,
    "temperature": 0.1,
}  # fmt: skip
TOKENIZER_FOLDER = "tokenizer"


class CLEARTask:
    # the default recipe's training options (configs/clear_bbc.yaml)
    recipe_defaults = {
        "per_device_train_batch_size": 64, "optimizer": "adamw", "learning_rate": 5e-4, "weight_decay": 0.01,
        "num_train_epochs": 0.5,
    }  # fmt: skip
    def __init__(self, model_args, data_args, args, accelerator: Accelerator) -> None:
        self.args, self.data_args, self.accelerator = args, data_args, accelerator
        dataset_name = data_args.dataset_name or "bbc_news"
        train = load_split(dataset_name, data_args.train_split, data_args.dataset_config_name)
        if data_args.max_train_samples:
            train = train.select(range(min(data_args.max_train_samples, len(train))))
        self.text_column = find_column(train, data_args.text_column, "text")
        self.label_column = find_column(train, data_args.label_column, "label", required=False)
        self.train_dataset = train

        self.tokenizer = self._tokenizer(model_args, args, accelerator, train)
        overrides = parse_json_or_mapping(model_args.model_config, "model_config")
        if args.temperature is not None:
            overrides["temperature"] = args.temperature
        self.model = self._model(model_args, overrides)
        config = self.model.config
        self.augmenter = CLEARAugmenter(
            augmentations=config.augmentations,
            pair=config.augmentation_pair,
            word_deletion_ratio=config.word_deletion_ratio,
            span_deletion_ratio=config.span_deletion_ratio,
            reordering_ratio=config.reordering_ratio,
            synonym_substitution_ratio=config.synonym_substitution_ratio,
            max_words=data_args.max_seq_length,
            del_token=config.del_token,
        )
        self.collator = CLEARDataCollator(
            self.tokenizer, self.augmenter, max_length=data_args.max_seq_length,
            mlm_probability=config.mlm_probability, text_column=self.text_column, del_token=config.del_token,
        )  # fmt: skip
        self.eval_splits = None
        if data_args.eval_split and self.label_column is not None:
            test = load_split(dataset_name, data_args.eval_split, data_args.dataset_config_name)
            self.eval_splits = (evaluation_subset(train, data_args.max_eval_samples), evaluation_subset(test, data_args.max_eval_samples))

    def _tokenizer(self, model_args, args, accelerator: Accelerator, train):
        name = model_args.tokenizer_name or model_args.model_name_or_path
        if name:
            tokenizer = AutoTokenizer.from_pretrained(name)
            add_del_token(tokenizer)
            return tokenizer
        # Train once, on the main process, and save: the WordPiece trainer is not repeatable, so a
        # resumed run (and every other process) must read the same vocabulary.
        folder = Path(args.output_dir) / TOKENIZER_FOLDER
        if accelerator.is_main_process and not (folder / "tokenizer.json").exists():
            tokenizer = train_wordpiece_tokenizer(
                train[self.text_column], vocab_size=model_args.vocab_size, model_max_length=self.data_args.max_seq_length
            )
            tokenizer.save_pretrained(folder)
        accelerator.wait_for_everyone()
        return AutoTokenizer.from_pretrained(folder)

    def _model(self, model_args, overrides: dict) -> CLEARForPreTraining:
        path = model_args.model_name_or_path
        if path and AutoConfig.from_pretrained(path).model_type == "clear":
            model = CLEARForPreTraining.from_pretrained(path, **overrides)
        elif path:  # any masked-LM encoder: its weights start f, the heads are new
            config = CLEARConfig(text_config=AutoConfig.from_pretrained(path), **overrides)
            model = CLEARForPreTraining(config)
            model.clear.encoder.load_state_dict(AutoModel.from_pretrained(path).state_dict(), strict=False)
            config.name_or_path = path
        else:
            fields = {**DEFAULT_CLEAR_CONFIG, **overrides}
            text_config = dict(fields.pop("text_config"))
            text_config["vocab_size"] = len(self.tokenizer)
            text_config["pad_token_id"] = self.tokenizer.pad_token_id
            text_config.setdefault("max_position_embeddings", max(128, self.data_args.max_seq_length))
            model = CLEARForPreTraining(CLEARConfig(text_config=text_config, **fields))
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

    def evaluate(self, model: CLEARForPreTraining, baselines: bool = True) -> dict[str, float]:
        """Topic classification from frozen sentence embeddings (linear probe and weighted kNN,
        fit on the training split's sentences, scored on the evaluation split's), Spearman on
        `--sts_dataset` if given; with `baselines`, the same for a bag of words and an untrained
        encoder."""
        if not self.accelerator.is_main_process:
            return {}
        results = {}
        if self.eval_splits is not None:
            train, test = self.eval_splits
            results.update(self._probe(model.clear, train, test, prefix=""))
            if baselines:
                torch.manual_seed(self.args.seed)
                untrained = CLEARModel(model.config).to(next(model.parameters()).device)
                results.update(self._probe(untrained, train, test, prefix="random_encoder_"))
                bow_train, bow_test = bag_of_words_features(train[self.text_column], test[self.text_column], sparse=True)
                results["bag_of_words_linear_accuracy"] = linear_probe_accuracy(
                    bow_train, train[self.label_column], bow_test, test[self.label_column]
                )["accuracy"]
        if self.data_args.sts_dataset:
            sts = load_split(self.data_args.sts_dataset, self.data_args.eval_split or "test")
            results["sts_spearman"] = sentence_similarity_spearman(
                model.clear, self.tokenizer, sts, max_length=self.data_args.max_seq_length
            )
        return results

    def _probe(self, encoder, train, test, prefix: str) -> dict[str, float]:
        def embed(split):
            return encode_sentences(
                encoder, self.tokenizer, split[self.text_column],
                batch_size=self.args.per_device_eval_batch_size, max_length=self.data_args.max_seq_length,
            )  # fmt: skip

        labels = [torch.tensor(split[self.label_column]) for split in (train, test)]
        return probe_scores(embed(train), labels[0], embed(test), labels[1], prefix=prefix)

    def save_preprocessor(self, output_dir: str) -> None:
        self.tokenizer.save_pretrained(output_dir)

    def extra_train_results(self) -> dict:
        return {}  # the augmentations are all in the saved config
