"""Evaluation of frozen representations: linear probe, weighted kNN and sentence similarity.

Three protocols, each on features computed once by a frozen encoder f (`*Model.pooler_output`):

- **Linear evaluation** (Kolesnikov et al. 2019; Chen et al. 2020, SimCLR §B.5; Kornblith et al.
  2019 for the L-BFGS logistic-regression variant): a linear classifier is trained on the frozen
  features of the train split and its accuracy on the test split is reported.
  `linear_probe_accuracy`.
- **Weighted k-nearest neighbours** (Wu et al. 2018, "Unsupervised Feature Learning via
  Non-Parametric Instance Discrimination", §3.4), the monitor used by InstDisc, MoCo and many
  SimCLR reimplementations: cosine similarity between L2-normalised features, the top-k train
  neighbours of a test point each vote for their class with weight exp(s_i / tau).
  `knn_accuracy`.
- **Semantic textual similarity** (STS-B; Cer et al. 2017, as evaluated by SentEval, Sentence-BERT
  and CLEAR): Spearman's rank correlation between the cosine similarity of the two sentence
  embeddings of each pair and the gold similarity score. `spearman_correlation`,
  `sentence_similarity_spearman`.

Raw-input baselines to compare against (a linear probe on pixels, on bag-of-words counts):
`flatten_pixels`, `bag_of_words_features`.

Example:

    >>> features, labels = extract_features(model, train_loader)            # doctest: +SKIP
    >>> test_features, test_labels = extract_features(model, test_loader)   # doctest: +SKIP
    >>> linear_probe_accuracy(features, labels, test_features, test_labels) # doctest: +SKIP
    {'accuracy': 0.91, 'C': 0.1}
    >>> knn_accuracy(features, labels, test_features, test_labels, k=200)   # doctest: +SKIP
    0.89
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
import scipy.sparse
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from tqdm.auto import tqdm

__all__ = [
    "DEFAULT_C_GRID",
    "bag_of_words_features",
    "encode_sentences",
    "extract_features",
    "flatten_pixels",
    "knn_accuracy",
    "linear_probe_accuracy",
    "probe_scores",
    "bag_of_words_similarity_spearman",
    "sentence_similarity_spearman",
    "spearman_correlation",
]

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence]
FeatureMatrix = Union[torch.Tensor, np.ndarray, scipy.sparse.spmatrix, scipy.sparse.sparray]

#: Inverse L2 strengths tried by `linear_probe_accuracy` when `C=None` (log-spaced, as in the
#: regularisation sweep of Kornblith et al. 2019, coarser to stay cheap).
DEFAULT_C_GRID: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    """Put every submodule in eval mode, then restore each one's own previous mode (a model with,
    say, frozen BatchNorm layers inside a training model comes back exactly as it was)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _accepted_inputs(model: nn.Module, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only the keyword arguments `model.forward` accepts (all of them if it takes **kwargs),
    so a tokenizer's `token_type_ids` do not break a model that has no such argument."""
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return dict(inputs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(inputs)
    return {key: value for key, value in inputs.items() if key in parameters}


def _pooler_output(outputs: Any) -> torch.Tensor:
    pooled = getattr(outputs, "pooler_output", None)
    if pooled is None and isinstance(outputs, Mapping):
        pooled = outputs.get("pooler_output")
    if pooled is None:
        raise ValueError(
            f"the model returned {type(outputs).__name__} without a `pooler_output`; evaluation needs an "
            "encoder f (`AutoModel`, e.g. SimCLRModel / CLEARModel) whose output carries `pooler_output`."
        )
    return pooled


def _to_device(value: Any, device: torch.device) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _as_label_array(labels: ArrayLike, name: str) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one label per sample), got shape {array.shape}.")
    return array


def _as_dense_float(features: Any, name: str) -> torch.Tensor:
    if scipy.sparse.issparse(features):
        features = features.toarray()
    if isinstance(features, torch.Tensor):
        tensor = features.detach()
    else:
        tensor = torch.as_tensor(np.asarray(features))
    if tensor.dim() != 2:
        raise ValueError(f"{name} must be a 2-D (num_samples, dim) matrix, got shape {tuple(tensor.shape)}.")
    return tensor.float()


def _check_pair(features_shape: tuple, labels: np.ndarray, split: str) -> None:
    if features_shape[0] == 0:
        raise ValueError(f"{split}_features is empty (0 samples).")
    if features_shape[0] != labels.shape[0]:
        raise ValueError(
            f"{split}_features has {features_shape[0]} rows but {split}_labels has {labels.shape[0]} labels."
        )


def _check_train_test(train_shape: tuple, train_labels, test_shape: tuple, test_labels) -> None:
    _check_pair(train_shape, train_labels, "train")
    _check_pair(test_shape, test_labels, "test")
    if len(train_shape) != 2 or len(test_shape) != 2:
        raise ValueError(f"features must be 2-D (num_samples, dim); got {train_shape} and {test_shape}.")
    if train_shape[1] != test_shape[1]:
        raise ValueError(f"train features have dimension {train_shape[1]} but test features {test_shape[1]}.")
    num_train_classes = np.unique(train_labels).shape[0]
    if num_train_classes < 2:
        raise ValueError(
            f"train_labels hold a single class ({train_labels[0]!r}); a classifier needs at least two classes."
        )


# --------------------------------------------------------------------------------------------------
# 1. features from a frozen encoder
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def extract_features(
    model: nn.Module,
    dataloader: Iterable,
    *,
    input_key: Optional[Union[str, Sequence[str]]] = None,
    label_key: str = "labels",
    device: Optional[Union[str, torch.device]] = None,
    normalize: bool = False,
    disable_tqdm: bool = False,
    desc: str = "Extracting features",
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Run the frozen encoder over `dataloader` and collect `outputs.pooler_output`.

    The forward runs under `torch.no_grad()` with the model in eval mode (BatchNorm uses its running
    statistics, dropout is off); every submodule's previous train/eval mode is restored afterwards.

    Args:
        model: any transformers model whose output has `pooler_output` (`SimCLRModel` fed
            `pixel_values`, `CLEARModel` fed `input_ids` / `attention_mask`, ...).
        dataloader: yields dicts of tensors (the collators of `hf_contrastive.data`), or
            `(inputs, labels)` / `(inputs,)` tuples as torchvision data sets give.
        input_key: for dict batches, the key (or keys) passed to the model; `None` passes every key
            but `label_key`. For tuple batches, the keyword the first element is passed as; `None`
            takes `model.main_input_name` (`pixel_values` for vision models).
        label_key: the dict entry holding the labels; popped before the forward and returned.
        device: where the forward runs; default the model's own device.
        normalize: L2-normalise each feature vector (cosine geometry, as `knn_accuracy` uses).
        disable_tqdm: hide the progress bar (e.g. `not accelerator.is_local_main_process`).

    Returns:
        `(features, labels)`: features a float32 `(N, D)` tensor on the CPU; labels an `(N,)` tensor
        on the CPU, or `None` when the batches carry no labels.
    """
    device = torch.device(device) if device is not None else _model_device(model)
    default_key = getattr(model, "main_input_name", "pixel_values")
    features: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    batches_with_labels = batches_without_labels = 0
    with _eval_mode(model):
        for batch in tqdm(dataloader, desc=desc, disable=disable_tqdm):
            batch_labels = None
            if isinstance(batch, Mapping):
                batch = dict(batch)
                batch_labels = batch.pop(label_key, None)
                if input_key is None:
                    inputs = batch
                else:
                    keys = [input_key] if isinstance(input_key, str) else list(input_key)
                    missing = [key for key in keys if key not in batch]
                    if missing:
                        raise ValueError(f"batch has no {missing}; it holds {sorted(batch)}.")
                    inputs = {key: batch[key] for key in keys}
            elif isinstance(batch, (list, tuple)) and len(batch) in (1, 2):
                if input_key is not None and not isinstance(input_key, str):
                    raise ValueError("tuple batches take a single `input_key` (a string).")
                inputs = {input_key or default_key: batch[0]}
                batch_labels = batch[1] if len(batch) == 2 else None
            else:
                raise ValueError(
                    f"unsupported batch type {type(batch).__name__}; expected a dict of tensors or an "
                    "(inputs, labels) tuple."
                )
            inputs = {key: _to_device(value, device) for key, value in inputs.items()}
            pooled = _pooler_output(model(**inputs)).detach().float().cpu()
            features.append(pooled.reshape(pooled.shape[0], -1))
            if batch_labels is None:
                batches_without_labels += 1
            else:
                batches_with_labels += 1
                labels.append(torch.as_tensor(batch_labels).detach().cpu().reshape(-1))
    if not features:
        raise ValueError("the dataloader yielded no batches; cannot extract features.")
    if batches_with_labels and batches_without_labels:
        raise ValueError(f"only {batches_with_labels} of {len(features)} batches carried `{label_key}`.")
    all_features = torch.cat(features)
    if normalize:
        all_features = F.normalize(all_features, dim=1)
    return all_features, (torch.cat(labels) if labels else None)


# --------------------------------------------------------------------------------------------------
# 2. linear evaluation
# --------------------------------------------------------------------------------------------------


def _fit_logistic_regression(features, labels: np.ndarray, C: float, max_iter: int, seed: int) -> LogisticRegression:
    # lbfgs on >2 classes fits the multinomial (softmax) model; L2 penalty with strength 1/C.
    classifier = LogisticRegression(C=C, solver="lbfgs", max_iter=max_iter, random_state=seed)
    return classifier.fit(features, labels)


def _validation_split(labels: np.ndarray, fraction: float, seed: int):
    """Hold `fraction` of the train split out, stratified by class where every class has >= 2
    samples and the held-out part can hold one of each; random otherwise."""
    indices = np.arange(labels.shape[0])
    _, counts = np.unique(labels, return_counts=True)
    n_val = max(1, int(math.ceil(fraction * labels.shape[0])))
    n_classes = counts.shape[0]
    can_stratify = counts.min() >= 2 and n_val >= n_classes and labels.shape[0] - n_val >= n_classes
    stratify = labels if can_stratify else None
    fit_idx, val_idx = train_test_split(indices, test_size=n_val, random_state=seed, shuffle=True, stratify=stratify)
    return fit_idx, val_idx


def linear_probe_accuracy(
    train_features: FeatureMatrix,
    train_labels: ArrayLike,
    test_features: FeatureMatrix,
    test_labels: ArrayLike,
    *,
    C: Optional[Union[float, Sequence[float]]] = None,
    max_iter: int = 1000,
    validation_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, float]:
    """Linear evaluation protocol: a linear classifier on frozen features, accuracy on the test split.

    Follows the L-BFGS logistic-regression variant of the protocol (Kornblith et al. 2019, "Do
    Better ImageNet Models Transfer Better?"; used for SimCLR's transfer results, Chen et al. 2020
    §B.5/B.8): features are standardised with statistics fitted on the train split only, then a
    multinomial logistic regression with an L2 penalty (scikit-learn `LogisticRegression`, lbfgs)
    is trained on the train split and scored on the test split.

    Regularisation: `C` is scikit-learn's inverse L2 strength. A number uses it as is. A sequence
    (or `None`, meaning `DEFAULT_C_GRID`) is a grid: `validation_fraction` of the train split is held
    out (stratified by class when possible, seeded by `seed`), one classifier per C is fitted on the
    rest, the C with the best validation accuracy wins (ties go to the smaller C, i.e. stronger
    regularisation), and the final classifier is refitted on the whole train split with it. The
    test split is never used for the choice.

    Features may be dense (tensor / array) or scipy sparse (e.g. `bag_of_words_features(...,
    sparse=True)`); sparse features are scaled to unit variance without mean centering
    (`StandardScaler(with_mean=False)`), which would destroy their sparsity. Labels may be any
    hashable values. Deterministic for a given `seed`.

    Returns:
        `{"accuracy": test accuracy in [0, 1], "C": the C used}`.
    """
    train_y = _as_label_array(train_labels, "train_labels")
    test_y = _as_label_array(test_labels, "test_labels")
    sparse = scipy.sparse.issparse(train_features) or scipy.sparse.issparse(test_features)
    if sparse:
        train_x = scipy.sparse.csr_matrix(train_features, dtype=np.float64)
        test_x = scipy.sparse.csr_matrix(test_features, dtype=np.float64)
    else:
        train_x = _as_dense_float(train_features, "train_features").double().cpu().numpy()
        test_x = _as_dense_float(test_features, "test_features").double().cpu().numpy()
    _check_train_test(train_x.shape, train_y, test_x.shape, test_y)
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}.")

    if C is None:
        grid = list(DEFAULT_C_GRID)
    elif isinstance(C, numbers.Real):
        grid = [float(C)]
    else:
        grid = sorted(float(c) for c in C)
    if not grid or any(not c > 0 for c in grid):
        raise ValueError(f"C must be a positive number or a non-empty sequence of them, got {C!r}.")
    if len(grid) > 1 and not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}.")

    def scaled(fit_x, *others):
        scaler = StandardScaler(with_mean=not sparse).fit(fit_x)
        return [scaler.transform(x) for x in (fit_x, *others)]

    chosen = grid[0]
    if len(grid) > 1:
        fit_idx, val_idx = _validation_split(train_y, validation_fraction, seed)
        if np.unique(train_y[fit_idx]).shape[0] < 2:
            raise ValueError("the train split is too small to hold out a validation split with two classes left.")
        fit_x, val_x = scaled(train_x[fit_idx], train_x[val_idx])
        best = -1.0
        for c in grid:
            classifier = _fit_logistic_regression(fit_x, train_y[fit_idx], c, max_iter, seed)
            val_accuracy = float(classifier.score(val_x, train_y[val_idx]))
            if val_accuracy > best:
                best, chosen = val_accuracy, c
    train_scaled, test_scaled = scaled(train_x, test_x)
    classifier = _fit_logistic_regression(train_scaled, train_y, chosen, max_iter, seed)
    accuracy = float(np.mean(classifier.predict(test_scaled) == test_y))
    return {"accuracy": accuracy, "C": chosen}


# --------------------------------------------------------------------------------------------------
# 3. weighted kNN
# --------------------------------------------------------------------------------------------------


def probe_scores(train_x, train_y, test_x, test_y, prefix: str = "") -> dict[str, float]:
    """Linear-probe and weighted-kNN accuracy of frozen features, fit on train, scored on test:
    `{prefix}linear_accuracy`, `{prefix}knn_accuracy`."""
    return {
        f"{prefix}linear_accuracy": linear_probe_accuracy(train_x, train_y, test_x, test_y)["accuracy"],
        f"{prefix}knn_accuracy": knn_accuracy(train_x, train_y, test_x, test_y),
    }


def _class_indices(train_y: np.ndarray, test_y: np.ndarray, num_classes: Optional[int]):
    if num_classes is None:
        classes, inverse = np.unique(np.concatenate([train_y, test_y]), return_inverse=True)
        inverse = inverse.reshape(-1)
        return (
            torch.as_tensor(inverse[: train_y.shape[0]], dtype=torch.long),
            torch.as_tensor(inverse[train_y.shape[0] :], dtype=torch.long),
            classes.shape[0],
        )
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
    out = []
    for name, y in (("train_labels", train_y), ("test_labels", test_y)):
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"with num_classes given, {name} must be integers, got dtype {y.dtype}.")
        if y.min() < 0 or y.max() >= num_classes:
            raise ValueError(f"{name} must lie in [0, num_classes={num_classes}), got [{y.min()}, {y.max()}].")
        out.append(torch.as_tensor(y, dtype=torch.long))
    return out[0], out[1], num_classes


@torch.no_grad()
def knn_accuracy(
    train_features: ArrayLike,
    train_labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    *,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: Optional[int] = None,
    batch_size: int = 256,
    device: Optional[Union[str, torch.device]] = None,
) -> float:
    """Weighted k-nearest-neighbour accuracy (Wu et al. 2018, InstDisc §3.4; the monitor of MoCo).

    Features are L2-normalised, so the similarity s_i between a test point and train point i is
    their cosine. The `k` most similar train points (k capped at the train size) each vote for
    their class c_i with weight exp(s_i / temperature); the prediction is the class with the largest
    summed weight:

        w_c = sum_{i in N_k} exp(s_i / tau) * 1[c_i = c],    prediction = argmax_c w_c

    Weights are computed as exp((s_i - max_j s_j) / tau), the same ranking without overflow for
    small tau. The test set is processed in chunks of `batch_size` rows with torch (memory
    `batch_size x n_train`). Labels may be any values (mapped to class indices) unless
    `num_classes` is given, in which case they must be integers in [0, num_classes).

    Returns:
        test accuracy in [0, 1].
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}.")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    train_y = _as_label_array(train_labels, "train_labels")
    test_y = _as_label_array(test_labels, "test_labels")
    train_x = _as_dense_float(train_features, "train_features")
    test_x = _as_dense_float(test_features, "test_features")
    _check_train_test(tuple(train_x.shape), train_y, tuple(test_x.shape), test_y)
    train_c, test_c, n_classes = _class_indices(train_y, test_y, num_classes)

    device = torch.device(device) if device is not None else train_x.device
    train_x = F.normalize(train_x.to(device), dim=1)
    test_x = F.normalize(test_x.to(device), dim=1)
    train_c, test_c = train_c.to(device), test_c.to(device)
    k = min(int(k), train_x.shape[0])

    correct = 0
    for start in range(0, test_x.shape[0], batch_size):
        similarity = test_x[start : start + batch_size] @ train_x.T  # (b, n_train) cosines
        top_similarity, top_index = similarity.topk(k, dim=1)  # (b, k)
        weights = torch.exp((top_similarity - top_similarity[:, :1]) / temperature)
        votes = torch.zeros(similarity.shape[0], n_classes, device=device, dtype=weights.dtype)
        votes.scatter_add_(1, train_c[top_index], weights)
        correct += int((votes.argmax(dim=1) == test_c[start : start + batch_size]).sum())
    return correct / test_x.shape[0]


# --------------------------------------------------------------------------------------------------
# 4. sentence similarity (STS-B protocol)
# --------------------------------------------------------------------------------------------------


def spearman_correlation(embeddings_1: ArrayLike, embeddings_2: ArrayLike, scores: ArrayLike) -> float:
    """Spearman rank correlation between cos(embeddings_1[i], embeddings_2[i]) and scores[i].

    The STS protocol (Cer et al. 2017; Reimers & Gurevych 2019 and CLEAR, Wu et al. 2020, report
    it x 100): the model is not trained on the pairs; its cosine similarity only has to rank them
    as the gold scores do. Computed with `scipy.stats.spearmanr`; `nan` (with scipy's warning) if
    either the similarities or the scores are all equal.
    """
    first = _as_dense_float(embeddings_1, "embeddings_1")
    second = _as_dense_float(embeddings_2, "embeddings_2")
    gold = _as_label_array(scores, "scores").astype(np.float64)
    if first.shape[0] == 0:
        raise ValueError("embeddings are empty (0 pairs).")
    if first.shape != second.shape:
        raise ValueError(f"embeddings_1 {tuple(first.shape)} and embeddings_2 {tuple(second.shape)} differ in shape.")
    if gold.shape[0] != first.shape[0]:
        raise ValueError(f"{first.shape[0]} embedding pairs but {gold.shape[0]} scores.")
    if first.shape[0] < 2:
        raise ValueError("a rank correlation needs at least two pairs.")
    cosine = F.cosine_similarity(first.double(), second.double(), dim=1).numpy()
    return float(spearmanr(cosine, gold).statistic)


@torch.no_grad()
def encode_sentences(
    model: nn.Module,
    tokenizer: Any,
    sentences: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int = 128,
    device: Optional[Union[str, torch.device]] = None,
    disable_tqdm: bool = True,
    desc: str = "Encoding sentences",
) -> torch.Tensor:
    """Sentence embeddings `model(**tokenizer(batch)).pooler_output` as a float32 `(N, D)` CPU tensor,
    row i for `sentences[i]` (batched longest first, to pad little).

    The model runs in eval mode under `torch.no_grad()` (its previous modes are restored). Only the
    tokenizer outputs that `model.forward` accepts are passed.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    sentences = list(sentences)
    if not sentences:
        raise ValueError("no sentences to encode.")
    device = torch.device(device) if device is not None else _model_device(model)
    # longest first, so each batch pads to sentences of about its own length (as sentence-transformers
    # does); the rows are put back in the caller's order at the end
    order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
    ordered = [sentences[i] for i in order]
    chunks = []
    with _eval_mode(model):
        starts = range(0, len(sentences), batch_size)
        for start in tqdm(starts, desc=desc, disable=disable_tqdm):
            encoded = tokenizer(
                ordered[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            inputs = {key: _to_device(value, device) for key, value in _accepted_inputs(model, encoded).items()}
            chunks.append(_pooler_output(model(**inputs)).detach().float().cpu())
    embeddings = torch.empty_like(torch.cat(chunks))
    embeddings[torch.tensor(order)] = torch.cat(chunks)
    return embeddings


def _column(dataset: Any, name: str) -> list:
    if hasattr(dataset, "column_names"):
        available = list(dataset.column_names)
    elif isinstance(dataset, Mapping):
        available = list(dataset.keys())
    else:
        raise ValueError(f"dataset must be a `datasets.Dataset` or a dict of columns, got {type(dataset).__name__}.")
    if name not in available:
        raise ValueError(f"column {name!r} not found in the dataset; available columns: {available}.")
    return list(dataset[name])


def sentence_similarity_spearman(
    model: nn.Module,
    tokenizer: Any,
    dataset: Any,
    *,
    sentence1_column: str = "sentence1",
    sentence2_column: str = "sentence2",
    score_column: str = "score",
    batch_size: int = 64,
    max_length: int = 128,
    device: Optional[Union[str, torch.device]] = None,
    disable_tqdm: bool = True,
) -> float:
    """STS evaluation of a sentence encoder: Spearman correlation between the cosine similarity of
    the embeddings (`model(...).pooler_output`) of both sentences of each pair and the gold score.

    Args:
        model: the sentence encoder f (e.g. `CLEARModel`), any model returning `pooler_output`.
        tokenizer: a transformers tokenizer (called with `padding=True, truncation=True,
            max_length=max_length, return_tensors="pt"`).
        dataset: a `datasets.Dataset` (e.g. the STS-B validation/test split) or a dict of columns.
        sentence1_column, sentence2_column, score_column: column names (GLUE's STS-B calls the
            score `label`; `mteb/stsbenchmark-sts` calls it `score`).

    Raises:
        ValueError: a column is missing (the message lists the available columns).
    """
    first = _column(dataset, sentence1_column)
    second = _column(dataset, sentence2_column)
    scores = _column(dataset, score_column)
    kwargs = dict(batch_size=batch_size, max_length=max_length, device=device, disable_tqdm=disable_tqdm)
    embeddings_1 = encode_sentences(model, tokenizer, first, desc=f"Encoding {sentence1_column}", **kwargs)
    embeddings_2 = encode_sentences(model, tokenizer, second, desc=f"Encoding {sentence2_column}", **kwargs)
    return spearman_correlation(embeddings_1, embeddings_2, np.asarray(scores, dtype=np.float64))


def bag_of_words_similarity_spearman(sentences1: Sequence[str], sentences2: Sequence[str], scores: ArrayLike) -> float:
    """The STS baseline without a model: Spearman correlation between the TF-IDF cosine similarity
    of each pair and the gold score. The vocabulary and inverse document frequencies are fitted on
    the pairs' own sentences (no scores are used); a sentence with no known word has cosine 0."""
    first, second = list(sentences1), list(sentences2)
    if len(first) != len(second) or not first:
        raise ValueError(f"need as many sentences1 as sentences2 (and some): got {len(first)} and {len(second)}.")
    vectorizer = TfidfVectorizer(dtype=np.float64).fit(first + second)
    cosine = np.asarray(vectorizer.transform(first).multiply(vectorizer.transform(second)).sum(axis=1)).ravel()
    return float(spearmanr(cosine, np.asarray(scores, dtype=np.float64)).statistic)


# --------------------------------------------------------------------------------------------------
# 5. raw-input baselines
# --------------------------------------------------------------------------------------------------


def _image_to_chw(image: Any) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.dim() == 2:
            tensor = tensor.unsqueeze(0)
    else:  # PIL image or HW / HWC numpy array
        array = np.array(image)  # a writable copy
        if array.dtype == object or array.ndim not in (2, 3):
            raise ValueError(f"cannot read {type(image).__name__} as an image (array shape {array.shape}).")
        tensor = torch.from_numpy(array)
        tensor = tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)
    if tensor.dim() != 3:
        raise ValueError(f"an image must be (channels, height, width) or (height, width), got {tuple(tensor.shape)}.")
    if tensor.dtype == torch.bool:
        return tensor.float()
    if not tensor.is_floating_point():
        return tensor.float() / 255.0
    return tensor.float()


def flatten_pixels(images: Union[torch.Tensor, Sequence[Any]]) -> torch.Tensor:
    """Raw-pixel baseline features: each image as one float32 vector of its pixels in [0, 1].

    `images` is a `(N, C, H, W)` tensor or a sequence of PIL images / `(C, H, W)` or `(H, W)`
    tensors / HWC numpy arrays, all the same size (resize them first otherwise). Integer pixels are
    divided by 255; float pixels are taken to be in [0, 1] already. Pixels are flattened in
    channel-height-width order whatever the input type. Returns a `(N, C*H*W)` tensor.
    """
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        images = list(images)
    images = list(images)
    if not images:
        raise ValueError("no images to flatten.")
    tensors = [_image_to_chw(image) for image in images]
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"images differ in size/channels {sorted(shapes)}; resize them to one size first.")
    return torch.stack(tensors).reshape(len(tensors), -1)


def bag_of_words_features(
    train_texts: Sequence[str],
    test_texts: Sequence[str],
    *,
    max_features: Optional[int] = 10000,
    tfidf: bool = True,
    sparse: bool = False,
    **vectorizer_kwargs: Any,
) -> tuple[Union[torch.Tensor, scipy.sparse.csr_matrix], Union[torch.Tensor, scipy.sparse.csr_matrix]]:
    """Bag-of-words baseline features for text classification.

    The vocabulary (the `max_features` most frequent terms) and, with `tfidf=True`, the inverse
    document frequencies are fitted on `train_texts` only (scikit-learn `TfidfVectorizer`, else
    `CountVectorizer`; extra keyword arguments go to it, e.g. `ngram_range=(1, 2)`). Returns the
    `(train, test)` matrices as dense float32 tensors, or with `sparse=True` as float32 scipy CSR
    matrices; both kinds go straight into `linear_probe_accuracy`.
    """
    train_texts, test_texts = list(train_texts), list(test_texts)
    if not train_texts or not test_texts:
        raise ValueError("train_texts and test_texts must both be non-empty.")
    vectorizer_class = TfidfVectorizer if tfidf else CountVectorizer
    vectorizer = vectorizer_class(max_features=max_features, dtype=np.float32, **vectorizer_kwargs)
    train = vectorizer.fit_transform(train_texts).tocsr().astype(np.float32)
    test = vectorizer.transform(test_texts).tocsr().astype(np.float32)
    if sparse:
        return train, test
    return torch.from_numpy(train.toarray()), torch.from_numpy(test.toarray())
