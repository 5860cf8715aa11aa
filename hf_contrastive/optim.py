"""Optimisation for contrastive pre-training: LARS, its parameter groups, SimCLR's learning-rate
scaling and the warmup-then-cosine schedule.

The schedule itself is transformers' :func:`~transformers.get_cosine_schedule_with_warmup` (linear
warmup from 0, then a half cosine to 0: SimCLR appendix B.1), re-exported here.
"""

from __future__ import annotations

import math
from typing import Iterable, Literal

import torch
from torch import nn
from torch.optim import Optimizer
from transformers import get_cosine_schedule_with_warmup


__all__ = ["LARS", "lars_param_groups", "scale_learning_rate", "get_cosine_schedule_with_warmup"]


class LARS(Optimizer):
    r"""Layer-wise Adaptive Rate Scaling (You et al. 2017), the variant SimCLR uses.

    For every parameter ``w`` with gradient ``g`` in a group with ``lars_adaptation=True``::

        g  <- g + weight_decay * w
        trust_ratio = trust_coefficient * ||w|| / ||g||      (1 where either norm is 0)
        v  <- momentum * v + lr * trust_ratio * g
        w  <- w - v                                          (Nesterov: w - (momentum * v + lr * trust_ratio * g))

    In groups with ``lars_adaptation=False`` (by SimCLR's convention: biases and normalisation
    parameters, see :func:`lars_param_groups`) the trust ratio is 1 and, in those groups built by
    :func:`lars_param_groups`, the weight decay is 0: plain SGD with momentum.

    Args:
        params: parameters or parameter groups; a group may set ``lars_adaptation``,
            ``weight_decay``, ``trust_coefficient``, ``momentum``, ``lr``.
        lr: learning rate (SimCLR: 0.3 x batch / 256, see :func:`scale_learning_rate`).
        momentum: 0.9 in SimCLR.
        weight_decay: 1e-6 in SimCLR.
        trust_coefficient: eta, 0.001 in SimCLR.
        nesterov: Nesterov momentum.

    Example::

        >>> model = torch.nn.Sequential(torch.nn.Linear(10, 10), torch.nn.BatchNorm1d(10))
        >>> optimizer = LARS(lars_param_groups(model, weight_decay=1e-6), lr=scale_learning_rate(512))
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 0.3,
        momentum: float = 0.9,
        weight_decay: float = 1e-6,
        trust_coefficient: float = 0.001,
        nesterov: bool = False,
    ) -> None:
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}.")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}.")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}.")
        if trust_coefficient <= 0:
            raise ValueError(f"trust_coefficient must be > 0, got {trust_coefficient}.")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            trust_coefficient=trust_coefficient,
            nesterov=nesterov,
            lars_adaptation=True,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if group["weight_decay"] != 0:
                    grad = grad.add(param, alpha=group["weight_decay"])
                if group["lars_adaptation"]:
                    param_norm = torch.linalg.vector_norm(param)
                    grad_norm = torch.linalg.vector_norm(grad)
                    trust_ratio = torch.where(
                        (param_norm > 0) & (grad_norm > 0),
                        group["trust_coefficient"] * param_norm / grad_norm,
                        torch.ones_like(param_norm),
                    )
                    scaled_grad = grad.mul(trust_ratio * lr)
                else:
                    scaled_grad = grad.mul(lr)
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = scaled_grad.clone()
                else:
                    state["momentum_buffer"].mul_(momentum).add_(scaled_grad)
                buffer = state["momentum_buffer"]
                update = buffer.mul(momentum).add_(scaled_grad) if group["nesterov"] else buffer
                param.sub_(update)
        return loss


def _is_norm_module(module: nn.Module) -> bool:
    norm_types = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
    return isinstance(module, norm_types) or "norm" in type(module).__name__.lower()


def lars_param_groups(model: nn.Module, weight_decay: float = 1e-6) -> list[dict]:
    """Split ``model``'s trainable parameters into the two groups SimCLR gives LARS.

    Biases and the parameters of normalisation layers (batch, layer, group norm, and any module
    whose class name contains "Norm", e.g. transformers' ``RMSNorm``) get neither weight decay nor
    the trust-ratio adaptation; every other parameter gets both. The groups also suit AdamW
    (the extra ``lars_adaptation`` key is ignored there).
    """
    excluded: set[int] = set()
    for module in model.modules():
        is_norm = _is_norm_module(module)
        for name, param in module.named_parameters(recurse=False):
            if is_norm or name == "bias" or name.endswith(".bias") or param.ndim <= 1:
                excluded.add(id(param))
    adapted, plain = [], []
    for param in model.parameters():
        if param.requires_grad:
            (plain if id(param) in excluded else adapted).append(param)
    return [
        {"params": adapted, "weight_decay": weight_decay, "lars_adaptation": True},
        {"params": plain, "weight_decay": 0.0, "lars_adaptation": False},
    ]


def scale_learning_rate(
    batch_size: int,
    scaling: Literal["linear", "sqrt"] = "linear",
    base_learning_rate: float | None = None,
) -> float:
    """SimCLR's learning rate for a global batch (Chen et al. 2020, appendix B.1).

    ``linear``: ``base x batch_size / 256`` with base 0.3 (the paper's default);
    ``sqrt``: ``base x sqrt(batch_size)`` with base 0.075 (better for small batches and long runs).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if scaling == "linear":
        return (0.3 if base_learning_rate is None else base_learning_rate) * batch_size / 256
    if scaling == "sqrt":
        return (0.075 if base_learning_rate is None else base_learning_rate) * math.sqrt(batch_size)
    raise ValueError(f"scaling must be 'linear' or 'sqrt', got {scaling!r}.")
