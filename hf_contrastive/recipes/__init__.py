"""Recipes: what the training loop needs from one modality, with its defaults in one place.

A recipe is built once the accelerator exists (`build_recipe`); it loads the data, derives the
defaults it can from the data, builds the model and supplies, to the modality-free loop
(`hf_contrastive.training.loop`), the members of `Recipe`. Each recipe's defaults are a dataclass
(`SimCLRDefaults`, `CLEARDefaults`): the only place their numbers are written; `scripts/train.py
--help` prints them.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol, runtime_checkable

from accelerate import Accelerator
from torch import nn

from .clear import PRETRAINED_START_DEFAULTS, CLEARDefaults, CLEARRecipe
from .simclr import SimCLRDefaults, SimCLRRecipe


@runtime_checkable
class Recipe(Protocol):
    """What the training loop uses of a recipe."""

    name: str  # "simclr" or "clear"
    model: nn.Module  # the *ForPreTraining model: forward(**make_inputs(...)) returns a loss
    train_dataset: Any  # map-style rows the DataLoader batches and `collate` turns into tensors
    training_defaults: dict[str, Any]  # values for the training options the user left unset
    n_views: int  # views per example and step (for the log)

    def collate(self, examples: list[dict]) -> Any:
        """Deterministic: raw rows -> a batch (run by the data loader)."""

    def make_inputs(self, batch: Any, device: Any) -> dict:
        """The random part of a step (views, masks): the loop has seeded every generator."""

    def evaluate(self, model: nn.Module, preprocessor_dir: Optional[str] = None, baselines: bool = True) -> dict[str, float]:
        """Scores on the evaluation split (main process; {} when there is none), through the
        preprocessor saved in `preprocessor_dir` (or the recipe's own, identical one)."""

    def chance_loss(self, global_batch: int) -> tuple[str, Optional[float]]:
        """The name of the contrastive loss among the model's outputs and its value at chance (the
        divergence guard stops a run stuck there; None: no such check for this loss)."""

    def save_preprocessor(self, output_dir: str) -> None:
        """The image processor or tokenizer a user of the saved model needs."""

    def resolved_options(self) -> dict[str, Any]:
        """The data / model options with the recipe's defaults filled in (for training_args.json)."""

    def train_results(self) -> dict[str, Any]:
        """What train_results.json records from the recipe: the data, the derived values, the views."""


RECIPES = {"simclr": SimCLRRecipe, "clear": CLEARRecipe}
DEFAULTS = {"simclr": SimCLRDefaults(), "clear": CLEARDefaults()}


def recipe_option_defaults() -> dict[str, dict[str, Any]]:
    """{recipe: {option: default}}, what `--help` prints beside each option taking a recipe default."""
    shown = {**DEFAULTS, "clear from a pretrained encoder": PRETRAINED_START_DEFAULTS}
    return {name: defaults.options() for name, defaults in shown.items()}


def build_recipe(model_args, data_args, args, accelerator: Accelerator) -> Recipe:
    """The recipe `--model` names, built for this run."""
    if model_args.model not in RECIPES:
        raise ValueError(f"--model must be 'simclr' or 'clear', got {model_args.model!r}.")
    return RECIPES[model_args.model](model_args, data_args, args, accelerator)


__all__ = ["PRETRAINED_START_DEFAULTS", "CLEARDefaults", "CLEARRecipe", "DEFAULTS", "RECIPES", "Recipe", "SimCLRDefaults", "SimCLRRecipe", "build_recipe", "recipe_option_defaults"]
