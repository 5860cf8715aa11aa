"""Model cards for trained output folders, and publishing those folders to the Hugging Face Hub.

`write_model_card(output_dir)` reads what a training run left in its folder (`config.json`,
`eval_results.json`, `train_results.json`, `training_args.json`, `training_log.jsonl`) and writes
`README.md` from the templates in `hf_contrastive/model_cards/`: metadata the Hub understands
(`library_name`, `license`, `tags`, `datasets`, `pipeline_tag`, `base_model`, and a `model-index`
with the model's own evaluation results), and a body with usage, architecture, the training recipe,
the evaluation table with its baselines, a training-loss curve (`training_loss.png`) and the
framework versions. Training calls it at the end of every run; it can be run again on any output
folder.

`push_to_hub(output_dir, repo_id)` creates the repository if needed and uploads the folder in one
commit (without checkpoints and logs), with the card's usage snippet pointing at the repository.
The local folder is only read, so a failed upload leaves it as it was.
"""

from __future__ import annotations

import json
import math
import shlex
from importlib.metadata import version
from pathlib import Path
from typing import Optional

from huggingface_hub import CommitInfo, CommitOperationAdd, EvalResult, HfApi, ModelCard, ModelCardData, get_token
from huggingface_hub.errors import HFValidationError, HfHubHTTPError, OfflineModeIsEnabled
from huggingface_hub.errors import HTTPError as HTTPClientError  # base of HfHubHTTPError and of connection failures
from huggingface_hub.utils import filter_repo_objects, validate_repo_id
from transformers import AutoConfig

TEMPLATES = Path(__file__).resolve().parent / "model_cards"
LOSS_CURVE = "training_loss.png"
# what a push leaves out of an output folder: resumable checkpoints, tensorboard logs, the per-step
# log (its curve is in training_loss.png), the CLEAR tokenizer's training copy, hidden files
PUSH_IGNORE_PATTERNS = ["checkpoints/*", "runs/*", "tokenizer/*", "training_log.jsonl", "previous_run_*/*", ".*", "*/.*"]
#: the Hub's sentence-similarity widget on a CLEAR card: one sentence compared with three
SENTENCE_WIDGET = [
    {
        "source_sentence": "The central bank raised interest rates again.",
        "sentences": [
            "Borrowing costs went up after the bank's decision.",
            "The striker scored twice in the second half.",
            "Interest rates were increased by the central bank.",
        ],
    }
]
_METRICS = {
    "linear_accuracy": ("accuracy", "Linear probe accuracy"),
    "knn_accuracy": ("accuracy", "Weighted kNN accuracy"),
}
#: sentence-similarity results in eval_results.json: sts_<split>_spearman (x 100), and with a prefix
#: for each baseline; the card's rows, in order
_STS_ROWS = (("", "this model"), ("start_model_", "the pretrained start, as shipped"),
             ("random_encoder_", "same architecture, untrained"), ("bag_of_words_", "bag of words (TF-IDF cosine)"))  # fmt: skip
def _read_json(path: Path) -> dict:
    """The JSON object in `path` ({} when there is no such file); an unreadable one names the file."""
    if not path.exists():
        return {}
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); restore it from the training run, or train again.") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} must hold a JSON object, not {type(value).__name__}.")
    return value


def _draw_loss_curve(output_dir: Path) -> None:
    log_path = output_dir / "training_log.jsonl"
    if not log_path.exists():
        return
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    if not records:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    for key in ("loss", "mlm_loss", "contrastive_loss"):
        points = [(r["step"], r[key]) for r in records if key in r]
        if points:
            axis.plot(*zip(*points), label=key)
    axis.set_xlabel("optimiser step")
    axis.set_ylabel("training loss")
    axis.legend()
    figure.tight_layout()
    figure.savefig(output_dir / LOSS_CURVE, dpi=100)
    plt.close(figure)


def escape_markdown(value: object) -> str:
    """A user-given string (a data set name, a folder name) safe in a card's body and table cells:
    one line (so no `---` or `#` starts a line), Markdown's special characters escaped (a `|` no
    longer splits a cell, `<b>` is no tag, `*` no emphasis)."""
    text = " ".join(str(value).split())
    return "".join("\\" + c if c in "\\`*_{}[]<>#|~" else c for c in text)


def _table(rows: list[tuple[str, object]]) -> str:
    return "\n".join(f"| {name} | {value} |" for name, value in rows if value not in (None, ""))


def _encoder_parameters(folder: Path, prefix: str) -> Optional[int]:
    """Parameters of the encoder f, counted from the saved weights' header (no model is built)."""
    from safetensors import safe_open

    path = folder / "model.safetensors"
    if not path.exists():
        return None
    total = 0
    with safe_open(str(path), framework="pt") as weights:
        for name in weights.keys():
            if name.startswith(prefix) and not name.endswith(("running_mean", "running_var", "num_batches_tracked")):
                total += math.prod(weights.get_slice(name).get_shape())
    return total


def _number(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _evaluation_table(results: dict, baseline_name: str) -> str:
    rows = [("this model", results.get("linear_accuracy"), results.get("knn_accuracy"))]
    rows.append(("same architecture, untrained", results.get("random_encoder_linear_accuracy"), results.get("random_encoder_knn_accuracy")))
    for key, value in results.items():
        if key.endswith("_linear_accuracy") and not key.startswith("random_encoder"):
            name = baseline_name if key.startswith(("raw_pixels", "bag_of_words")) else key
            name = "the pretrained start, as shipped" if key.startswith("start_model_") else name
            rows.append((name, value, results.get(key.replace("_linear_accuracy", "_knn_accuracy"))))
    lines = [f"| {name} | {_number(linear)} | {_number(knn)} |" for name, linear, knn in rows if linear is not None]
    return "\n".join(lines) or "| (no evaluation recorded) | – | – |"


def _sts_splits(results: dict) -> list[str]:
    """The splits with a sentence-similarity result for this model, e.g. ["validation", "test"]."""
    return [key[len("sts_") : -len("_spearman")] for key in results if key.startswith("sts_") and key.endswith("_spearman")]


def _sts_table(results: dict, splits: list[str]) -> str:
    """Spearman x 100 per split, this model and its baselines (rows without results left out)."""
    header = "| representation | " + " | ".join(f"Spearman x 100, {split}" for split in splits) + " |"
    lines = [header, "| --- |" + " --- |" * len(splits)]
    for prefix, name in _STS_ROWS:
        values = [results.get(f"{prefix}sts_{split}_spearman") for split in splits]
        if any(value is not None for value in values):
            lines.append(f"| {name} | " + " | ".join("–" if v is None else f"{v:.2f}" for v in values) + " |")
    return "\n".join(lines)


def write_model_card(output_dir: str, repo_id: Optional[str] = None, model_name: Optional[str] = None) -> Path:
    """Write `README.md` (and `training_loss.png`, from `training_log.jsonl`) into a trained output
    folder and return the card's path; the arguments are `render_model_card`'s."""
    folder = Path(output_dir)
    _draw_loss_curve(folder)
    path = folder / "README.md"
    render_model_card(output_dir, repo_id=repo_id, model_name=model_name).save(path)
    return path


def render_model_card(output_dir: str, repo_id: Optional[str] = None, model_name: Optional[str] = None) -> ModelCard:
    """The model card of a trained output folder, without writing anything (see `write_model_card`).

    Args:
        output_dir: a folder written by `scripts/train.py` (or any folder with a SimCLR / CLEAR
            `config.json`; missing result files leave their sections short).
        repo_id: the Hub repository the card will live in, used in the usage snippet; defaults to
            the folder's path, which the snippet then loads directly.
        model_name: the card's title and `model-index` name; defaults to the folder's name.
    """
    folder = Path(output_dir)
    config = AutoConfig.from_pretrained(folder)
    if config.model_type not in ("simclr", "clear"):
        raise ValueError(f"{folder} holds a {config.model_type!r} model; model cards are for SimCLR and CLEAR folders.")
    eval_results = _read_json(folder / "eval_results.json")
    train_results = _read_json(folder / "train_results.json")
    args = _read_json(folder / "training_args.json")
    repo_id = repo_id or folder.resolve().name  # a local card loads its folder from the folder's parent: no paths
    model_name = model_name or folder.resolve().name
    data = train_results.get("data", {})
    dataset_label = data.get("name") or "unknown"  # an embedded set's key, "local folder", or the Hub id
    hub_dataset = data.get("hub_id")
    dataset_text = escape_markdown(data.get("description") or "its training data")
    evaluation_source = data.get("eval_source") or "none"
    split = _split_name(evaluation_source)

    if config.model_type == "simclr":
        supervised = config.loss == "supcon"
        task_type, pipeline_tag = "image-classification", "image-feature-extraction"
        tags = ["simclr", "contrastive-learning", "image-feature-extraction", "supcon" if supervised else "self-supervised"]
        backbone = config.backbone or f"transformers {type(config.backbone_config).__name__.replace('Config', '')}"
        if config.backbone_norm == "group":
            backbone += f" with group norm (up to {config.backbone_norm_groups} groups a layer) in place of batch norm"
        elif config.backbone_norm == "layer":
            backbone += " with layer norm (one-group group norm) in place of batch norm"
        base_model = _hub_id_or_none(config.pretrained_backbone)
        baseline_name = "raw pixels"
    else:
        supervised = False
        task_type, pipeline_tag = "text-classification", "sentence-similarity"
        tags = ["sentence-transformers", "sentence-similarity", "feature-extraction", "clear", "contrastive-learning", "self-supervised"]
        backbone = f"{config.text_config.model_type.upper()} ({config.text_config.num_hidden_layers} layers)"
        base_model = _hub_id_or_none(args.get("model_name_or_path"))
        baseline_name = "bag of words (TF-IDF)"

    card_results = []
    for key, (metric_type, metric_name) in _METRICS.items():
        if key in eval_results:
            card_results.append(
                EvalResult(
                    task_type="sentence-similarity" if key == "sts_spearman" else task_type,
                    dataset_type=hub_dataset or "custom",
                    dataset_name=dataset_label,
                    dataset_split=split,
                    metric_type=metric_type,
                    metric_name=metric_name,
                    metric_value=float(eval_results[key]),
                )
            )
    similarity = train_results.get("evaluation", {}).get("sentence_similarity", {})
    sts_hub_id = similarity.get("hub_id") or _hub_id_or_none(similarity.get("dataset"))
    sts_name = _sentence_pairs_name(similarity.get("dataset"), sts_hub_id)
    sts_splits = _sts_splits(eval_results)
    for split in sts_splits:
        card_results.append(
            EvalResult(
                task_type="sentence-similarity",
                dataset_type=sts_hub_id or "custom",
                dataset_name=sts_name,
                dataset_split=split,
                metric_type="spearman_cosine",
                metric_name="Spearman correlation of the cosine similarity (x 100)",
                metric_value=float(eval_results[f"sts_{split}_spearman"]),
            )
        )
    extra = {"widget": SENTENCE_WIDGET} if config.model_type == "clear" else {}
    card_data = ModelCardData(
        model_name=model_name,
        library_name="sentence-transformers" if config.model_type == "clear" else "transformers",
        license="apache-2.0",
        tags=tags,
        datasets=[hub_dataset] if hub_dataset else None,
        pipeline_tag=pipeline_tag,
        base_model=base_model,
        eval_results=card_results or None,
        **extra,
    )

    processes = train_results.get("num_processes")
    batch = train_results.get("global_batch_size")
    training_rows = [
        ("data", dataset_text),
        ("training rows", f"{data['train_rows']:,}" if data.get("train_rows") is not None
                          else f"streamed ({data['shards']} shards)" if data.get("streamed") else None),
        ("evaluation rows", f"{data['eval_rows']:,} ({escape_markdown(evaluation_source)})" if data.get("eval_rows") else "none"),
        ("views per example", config.n_views if config.model_type == "simclr" else "2 (one augmentation of a random pair each)"),
        ("augmentations", _augmentation_text(config, args, train_results.get("views"))),
        ("loss", _loss_text(config)),
        ("global batch", f"{batch} ({processes} process(es) x {args.get('per_device_train_batch_size')})" if batch else None),
        ("cached gradients", _cached_gradients_text(train_results.get("cached_gradients"))),
        ("optimiser", f"{args.get('optimizer')}, weight decay {args.get('weight_decay')}"),
        ("peak learning rate", _learning_rate_text(args, train_results)),
        ("schedule", f"linear warmup ({args.get('warmup_ratio')} of the steps), cosine decay"),
        ("steps", _steps_text(train_results)),
        ("precision", _precision_text(train_results)),
        ("seed", args.get("seed")),
        ("hardware", train_results.get("hardware")),
        ("training time", f"{train_results['train_runtime_seconds']:.0f} s" if "train_runtime_seconds" in train_results else None),
        ("final training loss", f"{train_results['final_loss']:.4f}" if train_results.get("final_loss") is not None else None),
    ]
    parameters = _encoder_parameters(folder, f"{config.model_type}.")
    template = TEMPLATES / f"{config.model_type}.md"
    return ModelCard.from_template(
        card_data,
        template_path=str(template),
        model_name=model_name,
        repo_id=repo_id,
        repo_id_literal=json.dumps(repo_id),
        evaluation_source=escape_markdown(evaluation_source) if evaluation_source != "none" else "none",
        scored_rows=f"{args['max_eval_samples']:,}" if args.get("max_eval_samples") else None,
        derived_table=_table(list(train_results.get("derived", {}).items())),
        sampled_images=train_results.get("image_statistics", {}).get("sampled"),
        method="supervised contrastive (SupCon)" if supervised else "SimCLR",
        loss_name="SupCon" if supervised else "NT-Xent",
        supervised=supervised,
        backbone=backbone,
        dataset=dataset_text,
        image_size=getattr(config, "image_size", None),
        num_channels=getattr(config, "num_channels", None),
        pooling=getattr(config, "pooling", None),
        hidden_size=config.hidden_size,
        projection_dim=config.projection_dim,
        head=_head_text(config),
        encoder_parameters=f"{parameters:,}" if parameters is not None else "an unknown number of",
        training_table=_table(training_rows),
        rerun_command=_rerun_command(train_results),
        evaluation_table=_evaluation_table(eval_results, baseline_name),
        probe="linear_accuracy" in eval_results,
        sts_table=_sts_table(eval_results, sts_splits) if sts_splits else None,
        sts_dataset=escape_markdown(sts_name),
        sts_pairs=", ".join(f"{split} {count:,}" for split, count in similarity.get("pairs", {}).items()),
        start_model=escape_markdown(train_results.get("start_model", {}).get("name") or ""),
        loss_curve=LOSS_CURVE if (folder / LOSS_CURVE).exists() else None,
        versions=_versions(),
    )


class HubPushError(RuntimeError):
    """An upload to the Hub failed or could not start; the message says why. The local folder is unchanged."""


def _why_it_failed(error: Exception) -> str:
    if isinstance(error, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set; unset it to upload."
    if isinstance(error, HfHubHTTPError) and error.response is not None:
        status = error.response.status_code
        server_message = (error.server_message or "").strip() or error.response.reason_phrase
        if status == 401:
            return (
                f"the Hub refused the token (401: {server_message}). Log in with `hf auth login`, set HF_TOKEN, "
                "or pass a token with write access (--hub_token / --token)."
            )
        if status == 403:
            return f"the token may not write there (403: {server_message}). Check the namespace and the token's permissions."
        return f"the Hub answered {status} ({server_message})."
    return f"the Hub could not be reached ({type(error).__name__}: {error}); check the network or HF_ENDPOINT."


def _check_repo_id(repo_id: str) -> None:
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"{repo_id!r} is not a Hub repository id ('user/name', 'org/name' or 'name'): {error}") from None


def _token_or_error(token: Optional[str]) -> str:
    token = token or get_token()
    if not token:
        raise HubPushError(
            "No Hub token found: log in with `hf auth login`, set HF_TOKEN, or pass a token with write access "
            "(--hub_token / --token)."
        )
    return token


def _create_repository(api: HfApi, repo_id: str, private: Optional[bool], revision: Optional[str]) -> str:
    if "/" not in repo_id:
        repo_id = f"{api.whoami()['name']}/{repo_id}"
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    if private and not api.repo_info(repo_id).private:
        raise HubPushError(
            f"{repo_id} exists and is public, but a private repository was asked for; nothing was uploaded. Make it "
            f"private first (its settings on the Hub, or HfApi().update_repo_settings({repo_id!r}, private=True)) "
            "or push without private."
        )
    if revision:
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    return repo_id


def create_repository(
    repo_id: str, private: Optional[bool] = None, revision: Optional[str] = None, token: Optional[str] = None
) -> str:
    """Create the model repository `repo_id` (and branch `revision`) unless it exists; return its full id.

    A `repo_id` without a namespace goes to the token's user, as on the Hub's website. Training
    calls this before its first step, so that a missing or refused token, a namespace the token
    may not create in, or a public repository where a private one was asked for fail before any
    training. (A valid token without write access to an existing repository is only refused by the
    upload itself.)

    Raises:
        ValueError: `repo_id` is not a valid repository id.
        HubPushError: no token, the Hub refused, or it could not be reached; the message says which.
    """
    _check_repo_id(repo_id)
    api = HfApi(token=_token_or_error(token))
    try:
        return _create_repository(api, repo_id, private, revision)
    except (HTTPClientError, ConnectionError) as error:
        raise HubPushError(f"Could not create the Hub repository {repo_id!r}: {_why_it_failed(error)}") from error


def push_to_hub(
    output_dir: str,
    repo_id: str,
    private: Optional[bool] = None,
    revision: Optional[str] = None,
    token: Optional[str] = None,
    commit_message: Optional[str] = None,
) -> CommitInfo:
    """Upload a trained output folder to the Hub as one commit, creating the repository if needed.

    Everything a user of the model needs goes up: config, safetensors weights, the modeling code
    for `trust_remote_code`, the image processor or tokenizer, the results and the model card; the
    card is rendered for the repository (its usage snippet loads `repo_id`, the title is the
    repository's name) without touching the local `README.md`. Checkpoints, tensorboard logs and
    the per-step log stay local (`PUSH_IGNORE_PATTERNS`). The folder is only read. Files pushed
    earlier and deleted locally since stay in the repository.

    Args:
        output_dir: a folder written by `scripts/train.py`.
        repo_id: `"user/name"`, `"org/name"`, or `"name"` for the token's user.
        private: create the repository as private; an existing public repository is refused
            (`HubPushError`) rather than uploaded to.
        revision: a branch to commit to, created from `main` if it does not exist.
        token: a Hub token with write access; default: `HF_TOKEN` or the `hf auth login` cache.
            It is sent to the Hub only, never written or printed.
        commit_message: default "Upload <model type> model trained with hf_contrastive".

    Returns:
        huggingface_hub's `CommitInfo` (`.commit_url`, `.oid`, `.repo_url`).

    Raises:
        FileNotFoundError: `output_dir` is not a finished training run's folder.
        ValueError: not a SimCLR / CLEAR folder, or `repo_id` is not a valid repository id.
        HubPushError: no token, the Hub refused the upload, or it could not be reached; nothing
            local changed.
    """
    folder = Path(output_dir)
    model_type = _read_json(folder / "config.json").get("model_type")
    if model_type is None:
        raise FileNotFoundError(
            f"{folder} has no config.json: give the --output_dir of a finished training run (a folder with "
            "config.json, model.safetensors and the preprocessor)."
        )
    if model_type not in ("simclr", "clear"):
        raise ValueError(f"{folder} holds a {model_type!r} model; push_to_hub publishes SimCLR and CLEAR folders.")
    for kind, names in (("weights", ("model.safetensors", "model.safetensors.index.json")),
                        ("preprocessor", ("preprocessor_config.json", "tokenizer_config.json"))):  # fmt: skip
        if not any((folder / name).is_file() for name in names):
            raise FileNotFoundError(f"{folder} has no {kind} ({' or '.join(names)}): the training run did not finish saving.")
    _check_repo_id(repo_id)
    api = HfApi(token=_token_or_error(token))
    files = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    operations = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name))
        for name in filter_repo_objects(files, ignore_patterns=PUSH_IGNORE_PATTERNS)
        if name != "README.md"
    ]
    try:
        repo_id = _create_repository(api, repo_id, private, revision)
        card = render_model_card(str(folder), repo_id=repo_id, model_name=repo_id.split("/")[-1])
        operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card).encode()))
        return api.create_commit(
            repo_id,
            operations,
            commit_message=commit_message or f"Upload {model_type} model trained with hf_contrastive",
            revision=revision,
        )
    except (HTTPClientError, ConnectionError) as error:
        retry = ["python", "scripts/push_to_hub.py", str(folder), "--repo_id", repo_id]
        retry += (["--private"] if private else []) + (["--revision", revision] if revision else [])
        raise HubPushError(
            f"Could not upload {folder} to {repo_id!r}: {_why_it_failed(error)} Nothing in {folder} was changed; "
            f"once this is fixed, run `{shlex.join(retry)}` (from the hf_contrastive sources) again."
        ) from error


def _hub_id_or_none(name: Optional[str]) -> Optional[str]:
    """`name` if it can be a Hub repository id; None for local paths (never published)."""
    if not name or Path(name).is_absolute() or Path(name).exists() or name.startswith((".", "~")):
        return None
    try:
        validate_repo_id(name)
    except HFValidationError:
        return None
    return name


def _sentence_pairs_name(dataset: Optional[str], hub_id: Optional[str]) -> str:
    """How the card names the sentence-pair set: STS-B, its Hub id, or a local file by its name
    only (a card carries no path)."""
    if dataset == "stsb":
        return "the STS benchmark (STS-B)"
    return hub_id or f"a local file of sentence pairs ({Path(dataset or 'pairs').name})"


def _split_name(evaluation_source: str) -> str:
    """The model-index split: the split's name, or what was held out."""
    if evaluation_source.startswith("split "):
        return evaluation_source.split("'")[1]
    return "held-out rows of the training split" if evaluation_source != "none" else "none"


def _cached_gradients_text(cached: Optional[dict]) -> Optional[str]:
    """The card's line on `--contrastive_chunk_size` (None: the row is left out, like every empty row)."""
    if not cached:
        return None
    return f"chunks of {cached['chunk_size']} views (GradCache); batch norm: {cached['batch_norm']}"


def _precision_text(train_results: dict) -> str:
    precision = train_results.get("mixed_precision")
    if precision is None:
        return "not recorded"
    return "float32" if precision == "no" else f"{precision} mixed precision (autocast; the losses in float32)"


def _head_text(config) -> str:
    layers = config.projection_num_layers
    batch_norm = getattr(config, "projection_batch_norm", False)
    return f"{layers} linear layers with ReLU{' and batch norm' if batch_norm else ''}"


def _learning_rate_text(args: dict, train_results: dict) -> Optional[str]:
    peak = train_results.get("peak_learning_rate", args.get("learning_rate"))
    if peak is None:
        return None
    rule = "" if args.get("learning_rate") is not None else f" (SimCLR's {args.get('lr_scaling')} scaling of the global batch)"
    return f"{peak:.4g}{rule}" if args.get("optimizer") == "lars" else f"{peak:.4g}"


def _rerun_command(train_results: dict) -> str:
    processes = train_results.get("num_processes") or 1
    launch = "accelerate launch"
    if processes > 1:  # on CPUs, accelerate runs several processes only with both of these (ENVIRONMENT.md)
        launch = f"accelerate launch --multi_gpu --num_processes {processes}"
        if train_results.get("device_type", "cpu") == "cpu":
            launch = f"ACCELERATE_USE_CPU=1 {launch}"
    return f"{launch} scripts/train.py --config training_args.json --output_dir my-run"


def _steps_text(train_results: dict) -> Optional[str]:
    steps, epochs = train_results.get("steps"), train_results.get("epochs")
    return None if steps is None else f"{steps}" + (f" ({epochs:.2f} epochs)" if epochs is not None else "")


def _loss_text(config) -> str:
    if config.model_type == "clear":
        return f"{config.mlm_weight} x MLM + {config.contrastive_weight} x NT-Xent (temperature {config.temperature})"
    if config.loss == "supcon":
        return f"SupCon (temperature {config.temperature}, base temperature {config.base_temperature})"
    return f"NT-Xent (temperature {config.temperature})"


def _augmentation_text(config, args: dict, views: Optional[dict]) -> str:
    if config.model_type == "clear":
        pair = config.augmentation_pair
        ratios = ", ".join(f"{name} {getattr(config, name + '_ratio')}" for name in config.augmentations)
        return f"fixed pair {pair}" if pair else f"a random pair per batch from: {ratios}"
    if not views:  # a folder from before train_results.json recorded the views
        return f"SimCLR views, preset {args.get('view_preset') or 'chosen by image size'}"
    blur = f"Gaussian blur p={views['blur_p']} (sigma {views['blur_sigma']})" if views["blur_p"] else "no blur"
    return (
        f"SimCLR views (preset {views['preset']}): random resized crop to {views['size']} px, scale {views['crop_scale']}, "
        f"aspect ratio [{views['crop_ratio'][0]:.2f}, {views['crop_ratio'][1]:.2f}]; horizontal flip p={views['hflip_p']}; "
        f"colour jitter strength {views['jitter_strength']} p={views['jitter_p']}; grayscale p={views['grayscale_p']}; {blur}"
    )


def _versions() -> str:
    names = ("hf_contrastive", "transformers", "torch", "accelerate", "datasets", "huggingface_hub", "safetensors")
    lines = []
    for name in names:
        try:
            lines.append(f"- {name} {version(name)}")
        except Exception:  # noqa: BLE001 - a package missing here is simply not listed
            continue
    return "\n".join(lines)
