"""Tests for hf_contrastive.evaluation: linear probe, weighted kNN, STS Spearman, feature extraction
and the raw-input baselines. Every model here is a tiny fake; nothing touches the network."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse
import torch
from PIL import Image
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from transformers import PreTrainedTokenizerFast
from transformers.modeling_outputs import BaseModelOutputWithPooling

from hf_contrastive.evaluation import (
    DEFAULT_C_GRID,
    bag_of_words_features,
    encode_sentences,
    extract_features,
    flatten_pixels,
    knn_accuracy,
    linear_probe_accuracy,
    sentence_similarity_spearman,
    spearman_correlation,
)

NUM_CLASSES, DIM = 5, 16


def gaussian_blobs(points_per_class: int, seed: int, spread: float = 10.0):
    """5 well-separated Gaussian blobs in 16-d (centres ~N(0, spread^2), unit noise), fixed centres."""
    centres = np.random.default_rng(1234).normal(size=(NUM_CLASSES, DIM)) * spread
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(NUM_CLASSES), points_per_class)
    features = centres[labels] + rng.normal(size=(labels.shape[0], DIM))
    return torch.tensor(features, dtype=torch.float32), torch.tensor(labels)


# --------------------------------------------------------------------------------------------------
# linear probe and kNN on synthetic features
# --------------------------------------------------------------------------------------------------


def test_separable_clusters_are_classified_almost_perfectly():
    """Property: on linearly separable, well-clustered features both protocols reach >= 99%."""
    train_x, train_y = gaussian_blobs(50, seed=0)
    test_x, test_y = gaussian_blobs(50, seed=1)
    probe = linear_probe_accuracy(train_x, train_y, test_x, test_y)
    assert probe["accuracy"] >= 0.99
    assert probe["C"] in DEFAULT_C_GRID
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=20) >= 0.99
    # the default k=200 exceeds the 250 / class-balanced train set's class size but still works
    assert knn_accuracy(train_x, train_y, test_x, test_y) >= 0.99


def test_random_labels_give_about_chance():
    """Property: features carrying no information about the labels give about chance (1/5)."""
    rng = np.random.default_rng(0)
    train_x, test_x = rng.normal(size=(400, DIM)), rng.normal(size=(400, DIM))
    train_y, test_y = rng.integers(0, NUM_CLASSES, 400), rng.integers(0, NUM_CLASSES, 400)
    assert linear_probe_accuracy(train_x, train_y, test_x, test_y, C=[0.01, 1.0])["accuracy"] < 0.35
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=50) < 0.35


def test_linear_probe_is_deterministic_and_uses_a_fixed_C_as_given():
    """Property: same inputs and seed give the same result; a number C is used without a search."""
    train_x, train_y = gaussian_blobs(20, seed=2, spread=1.0)
    test_x, test_y = gaussian_blobs(20, seed=3, spread=1.0)
    first = linear_probe_accuracy(train_x, train_y, test_x, test_y, C=[0.01, 0.1, 1.0], seed=5)
    second = linear_probe_accuracy(train_x, train_y, test_x, test_y, C=[1.0, 0.1, 0.01], seed=5)
    assert first == second
    assert linear_probe_accuracy(train_x, train_y, test_x, test_y, C=0.5)["C"] == 0.5


def test_linear_probe_standardises_with_train_statistics():
    """Property: the probe is invariant to a per-dimension affine rescaling of the features
    (standardisation fitted on train undoes it), so huge offsets do not break it."""
    train_x, train_y = gaussian_blobs(30, seed=4, spread=1.0)
    test_x, test_y = gaussian_blobs(30, seed=5, spread=1.0)
    scale, shift = torch.logspace(-3, 3, DIM), torch.linspace(-1e4, 1e4, DIM)
    plain = linear_probe_accuracy(train_x, train_y, test_x, test_y, C=1.0)
    shifted = linear_probe_accuracy(train_x * scale + shift, train_y, test_x * scale + shift, test_y, C=1.0)
    assert shifted["accuracy"] == pytest.approx(plain["accuracy"], abs=1e-9)


def test_linear_probe_accepts_string_labels_and_sparse_features():
    """Property: labels may be any hashable values; scipy sparse features are accepted."""
    train_x, train_y = gaussian_blobs(20, seed=6)
    test_x, test_y = gaussian_blobs(20, seed=7)
    names = np.array(["a", "b", "c", "d", "e"])
    sparse_train = scipy.sparse.csr_matrix(train_x.clamp(min=0).numpy())
    sparse_test = scipy.sparse.csr_matrix(test_x.clamp(min=0).numpy())
    result = linear_probe_accuracy(sparse_train, names[train_y], sparse_test, names[test_y], C=1.0)
    assert result["accuracy"] >= 0.9


def test_knn_similarity_weighting_beats_unweighted_majority():
    """Property: Wu et al.'s exp(s / tau) weighting lets one very close neighbour outvote two far
    ones (an unweighted majority, approached with a huge temperature, picks the far class)."""
    train_x = torch.tensor([[1.0, 0.02], [0.5, 0.866], [0.5, -0.866]])  # cos to query: ~1, 0.5, 0.5
    train_y = torch.tensor([0, 1, 1])
    query, query_label = torch.tensor([[1.0, 0.0]]), torch.tensor([0])
    assert knn_accuracy(train_x, train_y, query, query_label, k=3, temperature=0.1) == 1.0
    assert knn_accuracy(train_x, train_y, query, query_label, k=3, temperature=1e4) == 0.0
    # k=1 is nearest-neighbour; k above n_train is capped
    assert knn_accuracy(train_x, train_y, query, query_label, k=1) == 1.0
    assert knn_accuracy(train_x, train_y, query, query_label, k=50, temperature=0.1) == 1.0


def test_knn_is_chunk_size_invariant_and_stable_for_tiny_temperatures():
    """Property: the test set's chunking does not change the answer, and temperatures small enough
    that exp(s / tau) overflows float32 still give finite, correct votes."""
    train_x, train_y = gaussian_blobs(30, seed=8, spread=1.0)
    test_x, test_y = gaussian_blobs(30, seed=9, spread=1.0)
    reference = knn_accuracy(train_x, train_y, test_x, test_y, k=10, batch_size=1000)
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=10, batch_size=7) == reference
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=10, num_classes=NUM_CLASSES) == reference
    tiny = knn_accuracy(train_x, train_y, test_x, test_y, k=10, temperature=1e-4)
    nearest = knn_accuracy(train_x, train_y, test_x, test_y, k=1)
    assert tiny == nearest  # tau -> 0 puts all the weight on the nearest neighbour


# --------------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [linear_probe_accuracy, knn_accuracy])
def test_bad_inputs_raise_clear_errors(metric):
    """Property: empty features, mismatched lengths or dims and a single train class are refused."""
    x, y = torch.randn(10, 4), torch.tensor([0, 1] * 5)
    with pytest.raises(ValueError, match="empty"):
        metric(torch.empty(0, 4), torch.empty(0, dtype=torch.long), x, y)
    with pytest.raises(ValueError, match="rows but"):
        metric(x, y[:9], x, y)
    with pytest.raises(ValueError, match="rows but"):
        metric(x, y, x[:3], y)
    with pytest.raises(ValueError, match="dimension"):
        metric(x, y, torch.randn(10, 5), y)
    with pytest.raises(ValueError, match="single class"):
        metric(x, torch.zeros(10, dtype=torch.long), x, y)


def test_knn_and_probe_argument_errors():
    """Property: k < 1, a non-positive temperature or C, and labels outside num_classes are refused."""
    x, y = torch.randn(10, 4), torch.tensor([0, 1] * 5)
    for k in (0, -3):
        with pytest.raises(ValueError, match="k must be"):
            knn_accuracy(x, y, x, y, k=k)
    with pytest.raises(ValueError, match="temperature"):
        knn_accuracy(x, y, x, y, temperature=0.0)
    with pytest.raises(ValueError, match="num_classes"):
        knn_accuracy(x, y, x, y + 5, num_classes=2)
    with pytest.raises(ValueError, match="C must be"):
        linear_probe_accuracy(x, y, x, y, C=0.0)
    with pytest.raises(ValueError, match="C must be"):
        linear_probe_accuracy(x, y, x, y, C=[])


# --------------------------------------------------------------------------------------------------
# Spearman / STS
# --------------------------------------------------------------------------------------------------


def pairs_with_cosines(cosines):
    """Unit 2-d vector pairs whose cosine similarities are exactly `cosines`."""
    angles = torch.arccos(torch.tensor(cosines, dtype=torch.float64))
    first = torch.stack([torch.ones_like(angles), torch.zeros_like(angles)], dim=1)
    second = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return first, second


def test_spearman_is_one_for_monotone_and_minus_one_for_reversed():
    """Property: only the ranking matters: cosines monotone in the scores give 1.0 (even through a
    non-linear map), reversed scores give -1.0."""
    first, second = pairs_with_cosines([-0.9, -0.2, 0.1, 0.5, 0.99])
    scores = np.array([0.0, 0.3, 1.0, 4.0, 5.0])
    assert spearman_correlation(first, second, scores) == pytest.approx(1.0)
    assert spearman_correlation(first, second, scores[::-1].copy()) == pytest.approx(-1.0)
    assert spearman_correlation(first.numpy() * 7.0, second.numpy(), np.exp(scores)) == pytest.approx(1.0)


def test_spearman_errors():
    """Property: mismatched lengths/shapes, empty input and a single pair are refused."""
    first, second = pairs_with_cosines([0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="scores"):
        spearman_correlation(first, second, [1.0, 2.0])
    with pytest.raises(ValueError, match="differ in shape"):
        spearman_correlation(first, second[:2], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="empty"):
        spearman_correlation(torch.empty(0, 2), torch.empty(0, 2), [])
    with pytest.raises(ValueError, match="two pairs"):
        spearman_correlation(first[:1], second[:1], [1.0])


WORDS = ["apple", "river", "stone", "cloud", "tiger", "piano", "lemon", "forest", "rocket"]


@pytest.fixture(scope="module")
def wordpiece_tokenizer():
    """A real WordPiece `PreTrainedTokenizerFast` trained offline on the test words ([CLS] a [SEP])."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    trainer = trainers.WordPieceTrainer(vocab_size=500, min_frequency=1, special_tokens=special, show_progress=False)
    tokenizer.train_from_iterator([" ".join(WORDS)] * 3, trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    for word in WORDS:  # whole words are single tokens, so the bag-of-tokens model below is exact
        assert len(fast(word, add_special_tokens=False)["input_ids"]) == 1
    return fast


class BagOfTokensEncoder(nn.Module):
    """Fake sentence encoder: pooler_output = token counts (identity embeddings summed under the
    attention mask). Its forward has no **kwargs and no token_type_ids argument on purpose."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.embeddings = nn.Embedding(vocab_size, vocab_size)
        with torch.no_grad():
            self.embeddings.weight.copy_(torch.eye(vocab_size))
        self.dropout = nn.Dropout(0.5)
        self.modes_seen = []

    def forward(self, input_ids, attention_mask=None):
        self.modes_seen.append(self.training)
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        pooled = (self.dropout(self.embeddings(input_ids)) * mask.unsqueeze(-1)).sum(dim=1)
        return BaseModelOutputWithPooling(last_hidden_state=None, pooler_output=pooled)


def sts_pairs():
    """Pair m shares m of its 4 words: with [CLS]/[SEP] counted, cos = (2 + m) / 6, increasing in m."""
    base = WORDS[:4]
    first, second, scores = [], [], []
    for shared in range(5):
        first.append(" ".join(base))
        second.append(" ".join(base[:shared] + WORDS[4 : 4 + 4 - shared]))
        scores.append(float(shared))
    return {"sentence1": first, "sentence2": second, "score": scores}


def test_sentence_similarity_spearman_with_fake_encoder(wordpiece_tokenizer):
    """Property: the STS helper embeds both columns with pooler_output (in eval mode, mode restored,
    padding masked across batches) and reproduces the known ranking: Spearman 1.0, reversed -1.0."""
    from datasets import Dataset

    model = BagOfTokensEncoder(len(wordpiece_tokenizer)).train()
    data = sts_pairs()
    result = sentence_similarity_spearman(model, wordpiece_tokenizer, Dataset.from_dict(data), batch_size=2)
    assert result == pytest.approx(1.0)
    assert model.training and model.modes_seen and not any(model.modes_seen)
    data["score"] = data["score"][::-1]
    assert sentence_similarity_spearman(model, wordpiece_tokenizer, data, batch_size=3) == pytest.approx(-1.0)
    embeddings = encode_sentences(model, wordpiece_tokenizer, data["sentence2"], batch_size=2)
    assert embeddings.shape == (5, len(wordpiece_tokenizer)) and embeddings.dtype == torch.float32
    assert embeddings.sum(dim=1).tolist() == [6.0] * 5  # 4 words + [CLS] + [SEP], padding masked out


def test_sentence_similarity_missing_column_lists_available_columns(wordpiece_tokenizer):
    """Property: a missing column raises a ValueError naming it and listing the dataset's columns."""
    from datasets import Dataset

    model = BagOfTokensEncoder(len(wordpiece_tokenizer))
    dataset = Dataset.from_dict(sts_pairs()).rename_column("score", "label")
    with pytest.raises(ValueError, match=r"'score'.*\['sentence1', 'sentence2', 'label'\]"):
        sentence_similarity_spearman(model, wordpiece_tokenizer, dataset)
    assert sentence_similarity_spearman(model, wordpiece_tokenizer, dataset, score_column="label") == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------
# extract_features
# --------------------------------------------------------------------------------------------------


class TinyImageEncoder(nn.Module):
    main_input_name = "pixel_values"

    def __init__(self):
        super().__init__()
        self.dropout = nn.Dropout(0.5)
        self.norm = nn.BatchNorm1d(12)
        self.linear = nn.Linear(12, 3)
        self.modes_seen = []

    def forward(self, pixel_values):
        self.modes_seen.append(self.training)
        hidden = self.linear(self.norm(self.dropout(pixel_values.flatten(1))))
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=hidden)


def test_extract_features_runs_in_eval_mode_restores_modes_and_returns_labels():
    """Property: the forward sees eval mode and no grad; each submodule's previous mode (a frozen
    BatchNorm inside a training model included) is restored; features are float32 on the CPU, in
    order, equal to the eval-mode forward; labels are popped and concatenated."""
    torch.manual_seed(0)
    model = TinyImageEncoder().train()
    model.norm.eval()
    pixels, labels = torch.randn(10, 3, 2, 2), torch.arange(10) % 3
    loader = DataLoader(
        [{"pixel_values": p, "labels": l} for p, l in zip(pixels, labels)], batch_size=4, shuffle=False
    )
    features, got_labels = extract_features(model, loader, disable_tqdm=True)
    assert model.training and not model.norm.training and model.dropout.training
    assert model.modes_seen == [False] * 3
    assert features.shape == (10, 3) and features.dtype == torch.float32 and features.device.type == "cpu"
    assert not features.requires_grad
    assert torch.equal(got_labels, labels)
    with torch.no_grad():
        expected = model.eval()(pixels).pooler_output
    torch.testing.assert_close(features, expected)

    normalized, _ = extract_features(model, loader, normalize=True, disable_tqdm=True)
    torch.testing.assert_close(normalized.norm(dim=1), torch.ones(10))


def test_extract_features_tuple_batches_input_key_and_unlabelled():
    """Property: (inputs, labels) tuples go in as model.main_input_name; input_key selects dict
    entries; batches without labels give labels None; an output without pooler_output is refused."""
    model = TinyImageEncoder()
    pixels, labels = torch.randn(6, 3, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    features, got = extract_features(model, DataLoader(TensorDataset(pixels, labels), batch_size=4), disable_tqdm=True)
    assert features.shape == (6, 3) and torch.equal(got, labels)

    dict_loader = DataLoader([{"pixel_values": p, "extra": 1} for p in pixels], batch_size=4)
    features_2, none = extract_features(model, dict_loader, input_key="pixel_values", disable_tqdm=True)
    assert none is None and torch.equal(features_2, features)
    with pytest.raises(ValueError, match="no \\['images'\\]"):
        extract_features(model, dict_loader, input_key="images", disable_tqdm=True)

    class NoPooler(nn.Module):
        def forward(self, pixel_values):
            return {"last_hidden_state": pixel_values}

    with pytest.raises(ValueError, match="pooler_output"):
        extract_features(NoPooler(), dict_loader, input_key="pixel_values", disable_tqdm=True)


# --------------------------------------------------------------------------------------------------
# raw-input baselines
# --------------------------------------------------------------------------------------------------


def test_flatten_pixels_scales_to_unit_interval_and_matches_across_input_types():
    """Property: PIL images and uint8 CHW tensors flatten to the same [0, 1] vectors; sizes must match."""
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8) for _ in range(3)]
    from_pil = flatten_pixels([Image.fromarray(a) for a in arrays])
    from_tensor = flatten_pixels(torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a in arrays]))
    assert from_pil.shape == (3, 60) and from_pil.dtype == torch.float32
    assert 0.0 <= from_pil.min() and from_pil.max() <= 1.0
    torch.testing.assert_close(from_pil, from_tensor)
    assert flatten_pixels([Image.new("L", (2, 2), color=255)]).tolist() == [[1.0] * 4]
    with pytest.raises(ValueError, match="differ"):
        flatten_pixels([Image.new("RGB", (2, 2)), Image.new("RGB", (3, 2))])
    with pytest.raises(ValueError, match="no images"):
        flatten_pixels([])


def test_bag_of_words_baseline_on_a_tiny_corpus():
    """Property: topic words separate two topics, dense and sparse outputs agree, the vocabulary is
    fitted on train only (unseen test words are dropped), and both feed linear_probe_accuracy."""
    sport = ["the team won the match", "a goal in the final match", "the coach praised the team", "match day for the team"]
    money = ["the bank raised interest rates", "stocks and bank shares fell", "interest on the bank loan", "rates and stocks rose"]
    train_texts, train_labels = sport[:3] + money[:3], [0, 0, 0, 1, 1, 1]
    test_texts, test_labels = [sport[3], money[3], "zebra quokka"], [0, 1, 0]
    dense_train, dense_test = bag_of_words_features(train_texts, test_texts)
    sparse_train, sparse_test = bag_of_words_features(train_texts, test_texts, sparse=True)
    assert isinstance(dense_train, torch.Tensor) and dense_train.dtype == torch.float32
    assert scipy.sparse.issparse(sparse_train) and sparse_train.dtype == np.float32
    torch.testing.assert_close(dense_test, torch.from_numpy(sparse_test.toarray()))
    assert dense_test[2].abs().sum() == 0  # words never seen in train have no column
    assert dense_train.shape[1] == bag_of_words_features(train_texts, test_texts, tfidf=False)[0].shape[1]
    assert bag_of_words_features(train_texts, test_texts, max_features=3)[0].shape[1] == 3
    dense = linear_probe_accuracy(dense_train[:], train_labels, dense_test[:2], test_labels[:2], C=1.0)
    sparse = linear_probe_accuracy(sparse_train, train_labels, sparse_test[:2], test_labels[:2], C=1.0)
    assert dense["accuracy"] == 1.0 and sparse["accuracy"] == 1.0
    assert math.isclose(knn_accuracy(dense_train, train_labels, dense_test[:2], test_labels[:2], k=3), 1.0)
    with pytest.raises(ValueError, match="non-empty"):
        bag_of_words_features([], test_texts)


# --------------------------------------------------------------------------------------------------
# the package's own encoders
# --------------------------------------------------------------------------------------------------


def test_works_with_the_package_encoders(wordpiece_tokenizer):
    """Property: extract_features drives a tiny SimCLRModel (pixel_values) and a tiny CLEARModel
    (input_ids / attention_mask), and sentence_similarity_spearman drives CLEARModel, giving finite
    results and leaving the models in train mode."""
    from transformers import BertConfig, ResNetConfig

    from hf_contrastive import CLEARConfig, CLEARModel, SimCLRConfig, SimCLRModel

    torch.manual_seed(0)
    resnet = ResNetConfig(num_channels=1, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")
    simclr = SimCLRModel(SimCLRConfig(backbone_config=resnet, num_channels=1, image_size=16, projection_dim=16)).train()
    pixels, labels = torch.randn(12, 1, 16, 16), torch.arange(12) % 2
    features, got = extract_features(simclr, DataLoader(TensorDataset(pixels, labels), batch_size=5), disable_tqdm=True)
    assert features.shape == (12, simclr.config.hidden_size) and torch.equal(got, labels) and simclr.training
    assert 0.0 <= knn_accuracy(features, got, features, got, k=3) <= 1.0

    text_config = BertConfig(
        vocab_size=len(wordpiece_tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32, pad_token_id=wordpiece_tokenizer.pad_token_id,
    )  # fmt: skip
    clear = CLEARModel(CLEARConfig(text_config=text_config, projection_dim=8)).train()
    data = sts_pairs()
    encoded = [dict(wordpiece_tokenizer(s, padding="max_length", max_length=8, return_tensors="pt")) for s in data["sentence1"]]
    loader = DataLoader([{k: v[0] for k, v in e.items()} | {"labels": i} for i, e in enumerate(encoded)], batch_size=2)
    text_features, text_labels = extract_features(clear, loader, disable_tqdm=True)
    assert text_features.shape == (5, 16) and text_labels.tolist() == [0, 1, 2, 3, 4]
    rho = sentence_similarity_spearman(clear, wordpiece_tokenizer, data, batch_size=2)
    assert -1.0 <= rho <= 1.0 and clear.training


def test_spearman_equals_sentence_transformers_evaluator_on_the_same_embeddings():
    """Property: our STS score is sentence-transformers' EmbeddingSimilarityEvaluator's
    spearman_cosine, given the same embeddings (here: random ones with real STS-B scores, fed to
    the evaluator through a stand-in model whose encode returns them: sentences1, then sentences2)."""
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    from hf_contrastive.data.sts_b import load_sts_b

    pairs = load_sts_b("validation").select(range(300))
    generator = torch.Generator().manual_seed(0)
    first, second = torch.randn(300, 16, generator=generator), torch.randn(300, 16, generator=generator)
    second = 0.6 * second + torch.tensor(pairs["score"]).unsqueeze(1) * first / 5  # correlated with the scores
    calls = [(pairs["sentence1"], first), (pairs["sentence2"], second)]

    class Embeddings:
        similarity_fn_name = "cosine"
        model_card_data = SimpleNamespace(set_evaluation_metrics=lambda *args, **kwargs: None)

        def encode(self, sentences, **kwargs):
            expected, embeddings = calls.pop(0)
            assert list(sentences) == list(expected)
            return embeddings.numpy()

    evaluator = EmbeddingSimilarityEvaluator(pairs["sentence1"], pairs["sentence2"], pairs["score"], main_similarity="cosine")
    theirs = evaluator(Embeddings())["spearman_cosine"]
    ours = spearman_correlation(first, second, pairs["score"])
    assert ours == pytest.approx(theirs, abs=1e-9) and ours > 0.3


def test_bag_of_words_similarity_ranks_by_shared_words():
    """Property: the TF-IDF cosine baseline ranks pairs by the words they share (a pair with no
    shared word has cosine 0), so scores in the order of sharing give Spearman 1."""
    from hf_contrastive.evaluation import bag_of_words_similarity_spearman

    data = sts_pairs()
    assert bag_of_words_similarity_spearman(data["sentence1"], data["sentence2"], data["score"]) == pytest.approx(1.0)
    assert bag_of_words_similarity_spearman(data["sentence1"], data["sentence2"], data["score"][::-1]) == pytest.approx(-1.0)


def test_encode_sentences_returns_rows_in_the_callers_order_whatever_the_lengths(wordpiece_tokenizer):
    """Property: batching longest first does not reorder the output: row i is sentence i's
    embedding, the same as encoding that sentence alone."""
    model = BagOfTokensEncoder(len(wordpiece_tokenizer))
    sentences = [" ".join(WORDS[: 1 + (3 * k) % 7]) for k in range(9)]  # lengths 1, 4, 7, 3, 6, 2, 5, 1, 4 words
    together = encode_sentences(model, wordpiece_tokenizer, sentences, batch_size=2)
    alone = torch.cat([encode_sentences(model, wordpiece_tokenizer, [s]) for s in sentences])
    assert torch.equal(together, alone)
