"""Tests for the CLEAR config and models: Auto classes, tied MLM decoder, bit-identical
save/load, remote code without the package, the plain-encoder export, the feature-extraction
pipeline, training steps on real sentences, and clear errors."""

import json

import pytest
import torch
from conftest import run_without_package
from safetensors.torch import load_file
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForPreTraining,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertModel,
    DistilBertConfig,
    pipeline,
)

from hf_contrastive import CLEARConfig, CLEARForPreTraining, CLEARForSequenceClassification, CLEARModel
from hf_contrastive.data.bbc_news import load_bbc_news
from hf_contrastive.data.tokenizer import train_wordpiece_tokenizer


@pytest.fixture(scope="module")
def sentences():
    return load_bbc_news("train").select(range(600))["text"]


@pytest.fixture(scope="module")
def tokenizer(sentences):
    return train_wordpiece_tokenizer(sentences, vocab_size=600, model_max_length=48)


def tiny_config(tokenizer, pooling="cls", family="bert"):
    if family == "bert":
        text_config = BertConfig(
            vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
    else:
        text_config = DistilBertConfig(
            vocab_size=len(tokenizer), dim=32, n_layers=2, n_heads=2, hidden_dim=64,
            max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
    return CLEARConfig(text_config=text_config, pooling=pooling, projection_dim=16, num_labels=5)


def encode(tokenizer, texts):
    return tokenizer(texts, padding=True, truncation=True, return_tensors="pt")


def test_config_defaults_validation_and_json_round_trip(tmp_path, tokenizer):
    default = CLEARConfig()
    assert isinstance(default.text_config, BertConfig) and default.pooling == "cls"
    assert default.augmentations == ["word_deletion", "span_deletion", "reordering", "synonym_substitution"]
    config = tiny_config(tokenizer, pooling="mean")
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, CLEARConfig) and loaded.text_config.hidden_size == 32 and loaded.pooling == "mean"
    for kwargs, message in [
        ({"pooling": "max"}, "pooling must be 'cls' or 'mean'"),
        ({"augmentations": ["back_translation"]}, "Unknown augmentation"),
        ({"augmentation_pair": ["word_deletion"]}, "exactly 2"),
        ({"word_deletion_ratio": 1.5}, r"word_deletion_ratio must be in \[0, 1\]"),
        ({"mlm_weight": 0, "contrastive_weight": 0}, "not both 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            CLEARConfig(**kwargs)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_sentence_embedding_pooling(tokenizer, pooling):
    model = CLEARModel(tiny_config(tokenizer, pooling)).eval()
    batch = encode(tokenizer, ["a short one", "a much longer sentence about the markets today"])
    with torch.no_grad():
        output = model(**batch)
    hidden, mask = output.last_hidden_state, batch["attention_mask"]
    expected = hidden[:, 0] if pooling == "cls" else (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    torch.testing.assert_close(output.pooler_output, expected)
    # padding does not change a sentence's embedding
    alone = model(**encode(tokenizer, ["a short one"])).pooler_output
    torch.testing.assert_close(alone[0], output.pooler_output[0], rtol=1e-4, atol=1e-5)


def test_mlm_decoder_is_tied_to_the_input_embeddings(tokenizer, tmp_path):
    model = CLEARForPreTraining(tiny_config(tokenizer))
    assert model.lm_head.decoder.weight is model.clear.get_input_embeddings().weight
    model.save_pretrained(tmp_path)
    assert "lm_head.decoder.weight" not in load_file(tmp_path / "model.safetensors")  # stored once, as the embeddings
    loaded = CLEARForPreTraining.from_pretrained(tmp_path)
    assert loaded.lm_head.decoder.weight is loaded.clear.get_input_embeddings().weight


def _inputs(tokenizer, model_class):
    batch = encode(tokenizer, ["shares rose sharply", "the minister resigned today", "a new phone was launched"])
    if model_class is CLEARForPreTraining:
        labels = batch["input_ids"].clone()
        labels[:, ::2] = -100
        return {**batch, "labels": labels, "input_ids_a": batch["input_ids"], "input_ids_b": batch["input_ids"].flip(0).flip(0)}
    return dict(batch)


@pytest.mark.parametrize("family", ["bert", "distilbert"])
@pytest.mark.parametrize("model_class", [CLEARModel, CLEARForPreTraining, CLEARForSequenceClassification])
def test_save_then_load_is_bit_identical(model_class, family, tokenizer, tmp_path):
    model = model_class(tiny_config(tokenizer, family=family)).eval()
    inputs = _inputs(tokenizer, model_class)
    if family == "distilbert":
        inputs.pop("token_type_ids", None)
    with torch.no_grad():
        before = model(**inputs, return_dict=False)
    model.save_pretrained(tmp_path)
    loaded = model_class.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        after = loaded(**inputs, return_dict=False)
    for a, b in zip(before, after):
        assert torch.equal(a, b)


def test_pretraining_checkpoint_loads_as_encoder_and_classifier(tokenizer, tmp_path):
    model = CLEARForPreTraining(tiny_config(tokenizer)).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    batch = encode(tokenizer, ["profits fell", "the team won"])
    encoder = AutoModel.from_pretrained(tmp_path).eval()
    assert type(encoder) is CLEARModel
    assert torch.equal(encoder(**batch).pooler_output, model.clear(**batch).pooler_output)
    classifier = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(classifier) is CLEARForSequenceClassification and classifier(**batch).logits.shape == (2, 5)
    assert type(AutoModelForPreTraining.from_pretrained(tmp_path)) is CLEARForPreTraining
    loaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert "[DEL]" in loaded_tokenizer.all_special_tokens
    assert loaded_tokenizer("profits fell")["input_ids"] == tokenizer("profits fell")["input_ids"]


def test_feature_extraction_pipeline(tokenizer, tmp_path):
    CLEARForPreTraining(tiny_config(tokenizer)).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    extractor = pipeline("feature-extraction", model=str(tmp_path), device="cpu")
    features = extractor("shares rose sharply", return_tensors=True)
    assert features.shape[0] == 1 and features.shape[-1] == 32


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_export_is_a_plain_encoder_and_a_sentence_transformers_folder_without_random_weights(tokenizer, tmp_path, pooling):
    """export_encoder writes the encoder's own weights only (no BERT pooler, which CLEAR never
    trained), loads with `add_pooling_layer=False` with nothing missing, and SentenceTransformer
    on the folder gives exactly the CLEAR model's sentence embedding, [CLS] or mean."""
    from sentence_transformers import SentenceTransformer

    model = CLEARModel(tiny_config(tokenizer, pooling=pooling)).eval()
    model.export_encoder(tmp_path, tokenizer=tokenizer)
    assert not [key for key in load_file(tmp_path / "model.safetensors") if "pooler" in key]
    plain, info = BertModel.from_pretrained(tmp_path, add_pooling_layer=False, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    pooling_config = json.loads((tmp_path / "1_Pooling" / "config.json").read_text())
    assert pooling_config["pooling_mode_cls_token"] == (pooling == "cls")
    assert json.loads((tmp_path / "sentence_bert_config.json").read_text())["max_seq_length"] == 48  # the tokenizer's
    sentences = ["profits fell", "the team won the cup after a long season"]
    with torch.no_grad():
        expected = model(**encode(tokenizer, sentences)).pooler_output
    encoded = SentenceTransformer(str(tmp_path), device="cpu").encode(sentences, convert_to_tensor=True)
    torch.testing.assert_close(encoded, expected, rtol=1e-5, atol=1e-6)


def test_a_cls_pooled_clear_folder_in_sentence_transformers_gives_the_cls_embedding(tokenizer, tmp_path):
    """The finding behind the sentence-transformers files: a cls-pooled CLEAR folder read by
    sentence-transformers must not be mean-pooled (cosine 0.62 to the model's own embedding)."""
    from sentence_transformers import SentenceTransformer

    from hf_contrastive.modeling.modeling_clear import write_sentence_transformers_config

    model = CLEARForPreTraining(tiny_config(tokenizer, pooling="cls")).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    write_sentence_transformers_config(tmp_path, "cls", 32, 48)
    sentences = ["shares rose sharply", "the minister resigned over the affair"]
    with torch.no_grad():
        expected = model.clear(**encode(tokenizer, sentences)).pooler_output
    encoded = SentenceTransformer(str(tmp_path), device="cpu").encode(sentences, convert_to_tensor=True)
    torch.testing.assert_close(encoded, expected, rtol=1e-5, atol=1e-6)


def test_plain_export_needs_no_remote_code(tokenizer, tmp_path):
    model = CLEARModel(tiny_config(tokenizer)).eval()
    model.export_encoder(tmp_path, tokenizer=tokenizer)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "bert" and "auto_map" not in config
    plain = AutoModel.from_pretrained(tmp_path).eval()
    assert type(plain) is BertModel
    batch = encode(tokenizer, ["profits fell", "the team won the cup"])
    with torch.no_grad():
        torch.testing.assert_close(plain(**batch).last_hidden_state[:, 0], model(**batch).pooler_output, rtol=0, atol=0)


REMOTE_SCRIPT = """
import torch
from safetensors.torch import save_file
from transformers import AutoModel, AutoTokenizer

folder, out = sys.argv[1], sys.argv[2]
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
batch = tokenizer(["shares rose sharply", "the minister resigned"], padding=True, return_tensors="pt")
with torch.no_grad():
    embeddings = model(**batch).pooler_output
save_file({"embeddings": embeddings.contiguous()}, out)
RESULT = {"class": type(model).__module__ + "." + type(model).__name__}
"""


def test_remote_code_loads_without_the_package(tokenizer, tmp_path):
    folder = tmp_path / "model"
    model = CLEARForPreTraining(tiny_config(tokenizer, pooling="mean")).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    report = run_without_package(REMOTE_SCRIPT, str(folder), str(tmp_path / "out.safetensors"), workdir=tmp_path)
    assert report["package_importable"] is False and report["class"].endswith("modeling_clear.CLEARModel")
    batch = encode(tokenizer, ["shares rose sharply", "the minister resigned"])
    with torch.no_grad():
        assert torch.equal(load_file(tmp_path / "out.safetensors")["embeddings"], model.clear(**batch).pooler_output)


def test_frozen_encoder_classifier_trains_only_the_head(tokenizer):
    config = tiny_config(tokenizer)
    config.freeze_encoder = True
    model = CLEARForSequenceClassification(config).train()
    batch = encode(tokenizer, ["shares rose", "the team won"])
    model(**batch, labels=torch.tensor([0, 3])).loss.backward()
    assert all(p.grad is None for p in model.clear.parameters()) and model.classifier.weight.grad is not None


def test_bad_input_gives_clear_errors(tokenizer):
    model = CLEARForPreTraining(tiny_config(tokenizer))
    batch = encode(tokenizer, ["one sentence", "another one"])
    with pytest.raises(ValueError, match="Pass both views"):
        model(input_ids_a=batch["input_ids"])
    with pytest.raises(ValueError, match="Nothing to compute"):
        model()
    with pytest.raises(ValueError, match="same sentences row by row"):
        model(input_ids_a=batch["input_ids"], input_ids_b=batch["input_ids"][:1])
    with pytest.raises(ValueError, match="at least 2 samples in the global batch"):
        model(input_ids_a=batch["input_ids"][:1], input_ids_b=batch["input_ids"][:1])
    with pytest.raises(ValueError, match="empty batch"):
        model.clear(input_ids=batch["input_ids"][:0])


def test_a_few_steps_on_real_sentences_lower_both_losses(tokenizer, sentences):
    """One collated batch of 32 BBC sentences (two augmented views + MLM masks, fixed), ten AdamW
    steps: the MLM and the contrastive loss both fall. (Mean pooling: with [CLS] pooling a tiny
    randomly initialised BERT starts with nearly identical sentence embeddings, where the
    contrastive gradient nearly vanishes, and needs many more steps to leave that point.)"""
    from hf_contrastive.augment.text import CLEARAugmenter
    from hf_contrastive.data import CLEARDataCollator

    torch.manual_seed(0)
    collator = CLEARDataCollator(
        tokenizer, CLEARAugmenter(pair=("word_deletion", "reordering"), seed=0), max_length=48, seed=0
    )
    batch = collator(list(sentences[:32]))
    model = CLEARForPreTraining(tiny_config(tokenizer, pooling="mean")).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    history = []
    for _ in range(10):
        output = model(**batch)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        history.append((output.mlm_loss.item(), output.contrastive_loss.item()))
    (mlm_first, contrastive_first), (mlm_last, contrastive_last) = history[0], history[-1]
    assert mlm_last < mlm_first - 0.2, history
    assert contrastive_last < contrastive_first - 1.0, history


def test_mlm_loss_of_a_batch_without_masked_tokens_is_zero_not_nan(tokenizer):
    model = CLEARForPreTraining(tiny_config(tokenizer))
    batch = encode(tokenizer, ["shares rose", "the team won"])
    output = model(**batch, labels=torch.full_like(batch["input_ids"], -100))
    assert output.mlm_loss.item() == 0.0 and torch.isfinite(output.loss)


def test_mlm_loss_and_logits_are_those_of_the_full_vocabulary_projection_at_the_masked_tokens(tokenizer, sentences):
    """Property: computing the MLM head only where labels != -100 changes nothing: the loss is the
    mean cross entropy of the head applied to every position, over the masked ones, and the logits
    are that projection's rows at the masked positions (row-major order); gradients flow the same."""
    torch.manual_seed(0)
    model = CLEARForPreTraining(tiny_config(tokenizer)).double().eval()  # no dropout: two passes, one function
    batch = encode(tokenizer, sentences[:6])
    labels = torch.full_like(batch["input_ids"], -100)
    chosen = torch.rand(labels.shape) < 0.3
    labels[chosen & batch["attention_mask"].bool()] = batch["input_ids"][chosen & batch["attention_mask"].bool()]
    output = model(**batch, labels=labels)
    full = model.lm_head(model.clear(**batch).last_hidden_state)
    expected = torch.nn.functional.cross_entropy(full.view(-1, full.shape[-1]), labels.view(-1), ignore_index=-100)
    assert output.mlm_logits.shape == (int((labels != -100).sum()), len(tokenizer))
    torch.testing.assert_close(output.mlm_logits, full[labels != -100], rtol=0, atol=1e-12)
    torch.testing.assert_close(output.mlm_loss, expected, rtol=0, atol=1e-12)  # (at least float32: a float64 model's stays float64)
