"""Divergence guards: stop a run that has gone wrong before it saves anything more.

Three signs, each checked at every optimiser step before that step's checkpoint is written:

- a non-finite loss;
- weights whose global L2 norm has grown more than `WEIGHT_NORM_GROWTH_LIMIT` times over the
  run's start: a divergence the loss may not show (NT-Xent saturates at log(2N - 1) while the
  weights explode, as AdamW at a learning rate of 1e6 does);
- an NT-Xent loss (SimCLR, CLEAR's contrastive part) that stays within `CHANCE_TOLERANCE` of its
  chance value log(2N - 1) for `CHANCE_STEPS` steps in a row after warm-up: the views are no
  closer than any other pair, so nothing is being learnt or the representation has collapsed.
  (Its floor is 0, so the band is 2% of its whole range; SupCon's range above its floor can be a
  few percent of its chance value, so SupCon runs get the other two guards only.)

Each raises `FloatingPointError` with a message naming the likely cause (the learning rate).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from accelerate import Accelerator

WEIGHT_NORM_GROWTH_LIMIT = 100.0
CHANCE_STEPS, CHANCE_TOLERANCE = 50, 0.02


def weight_norm(model: torch.nn.Module, accelerator: Accelerator) -> float:
    """The L2 norm of all trainable weights (summed over processes when they hold shards)."""
    squares = sum(p.detach().float().pow(2).sum() for p in model.parameters() if p.requires_grad)
    squares = torch.as_tensor(squares, device=accelerator.device).reshape(1)
    if accelerator.distributed_type == "FSDP":  # each process holds a shard
        squares = accelerator.reduce(squares, reduction="sum")
    return float(squares.sqrt())  # (otherwise every process holds the same weights)


class DivergenceGuard:
    """The guards of one run.

    Args:
        model: the model being trained; its norm now is the reference (take it before resuming,
            so that a resumed run has the reference of the run it continues).
        accelerator: the run's accelerator.
        peak_lr: the peak learning rate, for the messages.
        warmup_steps: the loss-at-chance guard waits until they are over.
        chance: the name of the contrastive loss among the step's logged losses, and its value
            at chance (`Recipe.chance_loss`; None turns that check off).
    """

    def __init__(self, model: torch.nn.Module, accelerator: Accelerator, peak_lr: float, warmup_steps: int,
                 chance: tuple[str, Optional[float]]):  # fmt: skip
        self.model, self.accelerator, self.peak_lr, self.warmup_steps = model, accelerator, peak_lr, warmup_steps
        self.chance_name, self.chance_value = chance
        self.initial_norm = weight_norm(model, accelerator)
        self.steps_at_chance = 0

    def check_loss(self, loss: torch.Tensor, step: int) -> None:
        """Before the backward pass: the loss is finite."""
        if not torch.isfinite(loss.detach()).all():
            self._stop(
                f"The loss became {loss.item()} at step {step}. Lower --learning_rate, raise the temperature, or try "
                "--mixed_precision no."
            )

    def check_step(self, step: int, losses: dict[str, float]) -> None:
        """After an optimiser step (`step` done, `losses` its logged values): weights and loss."""
        norm = weight_norm(self.model, self.accelerator)
        if not math.isfinite(norm) or norm > WEIGHT_NORM_GROWTH_LIMIT * self.initial_norm:
            self._stop(
                f"Training diverged at step {step}: the weights' norm went from {self.initial_norm:.3g} to {norm:.3g} "
                f"(more than {WEIGHT_NORM_GROWTH_LIMIT:.0f}x). The learning rate ({self.peak_lr:.3g} at its peak) is most "
                "likely too high: lower --learning_rate."
            )
        value: Optional[float] = losses.get(self.chance_name)
        if value is None or self.chance_value is None or step <= self.warmup_steps:
            return
        at_chance = abs(value - self.chance_value) <= CHANCE_TOLERANCE * self.chance_value
        self.steps_at_chance = self.steps_at_chance + 1 if at_chance else 0
        if self.steps_at_chance >= CHANCE_STEPS:
            self._stop(
                f"Training is stuck: for the last {CHANCE_STEPS} steps (to step {step}) the {self.chance_name} stayed "
                f"within {CHANCE_TOLERANCE:.0%} of its chance value {self.chance_value:.4f}, so the encoder learns nothing "
                f"or has collapsed. The learning rate ({self.peak_lr:.3g} at its peak) is the most likely cause: try a "
                "lower --learning_rate (or check the views and the temperature)."
            )

    def _stop(self, message: str) -> None:
        self.accelerator.end_training()
        raise FloatingPointError(message + " Nothing was saved after the last checkpoint.")
