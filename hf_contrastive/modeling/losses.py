# Copyright 2026 The hf_contrastive authors. Apache-2.0.
"""Contrastive losses: NT-Xent (SimCLR) and SupCon, with negatives gathered from every process.

This file is copied next to the modeling code of every saved model (``trust_remote_code``), so it
imports nothing from the rest of the package.

Both losses are one computation. For every anchor view ``i`` with unit-norm embedding ``z_i``,
the set ``A(i)`` of all other views in the (global) batch and the set ``P(i)`` of its positives::

    loss_i = -(t / t_b) * 1/|P(i)| * sum_{p in P(i)} log( exp(z_i.z_p / t) / sum_{a in A(i)} exp(z_i.z_a / t) )
           =  (t / t_b) * ( logsumexp_{a in A(i)} (z_i.z_a / t)  -  z_i . (sum_{p in P(i)} z_p) / (t |P(i)|) )

which is equation 2 (L_out) of Khosla et al. 2020 and, with one positive per anchor and
``t_b = t``, the l(i, j) of SimCLR's Algorithm 1 (Chen et al. 2020). The second line is how it is
computed: the positive term needs only the per-group sums of embeddings (no N x N mask), and the
log-sum-exp is a custom autograd function that keeps at most one anchors x columns float32 matrix
alive (or one ``chunk_size`` x columns slice of it), where a direct implementation keeps five to
eight.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn


__all__ = ["NTXentLoss", "SupConLoss", "gather_with_grad", "supervised_contrastive_loss"]


# ----------------------------------------------------------------------------------------------
# Gathering across processes, gradient kept
# ----------------------------------------------------------------------------------------------


def _world() -> tuple[int, int]:
    """(rank, world size) of the default process group, or (0, 1) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _AllGatherWithGrad(torch.autograd.Function):
    """Concatenate every process's ``tensor`` along dim 0; the backward pass sends each process
    the sum over all processes of the gradient of its own rows (what DDP then averages)."""

    @staticmethod
    def forward(ctx, tensor: Tensor, sizes: list[int]) -> Tensor:
        rank, world_size = _world()
        max_size = max(sizes)
        padded = tensor.new_zeros((max_size, *tensor.shape[1:]))
        padded[: tensor.shape[0]] = tensor
        buffers = [torch.empty_like(padded) for _ in range(world_size)]
        dist.all_gather(buffers, padded.contiguous())
        ctx.offset = sum(sizes[:rank])
        ctx.size = tensor.shape[0]
        return torch.cat([buffer[:size] for buffer, size in zip(buffers, sizes)])

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        grad = grad_output.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.offset : ctx.offset + ctx.size], None


def _gather_sizes(local_size: int, device: torch.device) -> list[int]:
    _, world_size = _world()
    size = torch.tensor([local_size], device=device, dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(world_size)]
    dist.all_gather(sizes, size)
    return [int(s.item()) for s in sizes]


def gather_with_grad(tensor: Tensor) -> tuple[Tensor, int]:
    """Gather ``tensor`` from every process along dim 0, keeping the gradient.

    ``accelerate.utils.gather`` returns a tensor without gradient, so negatives from the other
    processes would not train this process's encoder rows that they touch. Here the backward pass
    all-reduces the gradient of the gathered tensor and hands each process the rows it owns. Local
    sizes may differ between processes (e.g. the last, smaller batch).

    Returns:
        ``(gathered, offset)``: the concatenation in rank order and the index of this process's
        first row in it. Outside a distributed run: ``(tensor, 0)``.
    """
    rank, world_size = _world()
    if world_size == 1:
        return tensor, 0
    sizes = _gather_sizes(tensor.shape[0], tensor.device)
    gathered = _AllGatherWithGrad.apply(tensor, sizes)
    return gathered, sum(sizes[:rank])


def _gather_no_grad(tensor: Tensor) -> Tensor:
    _, world_size = _world()
    if world_size == 1:
        return tensor
    sizes = _gather_sizes(tensor.shape[0], tensor.device)
    padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    buffers = [torch.empty_like(padded) for _ in range(world_size)]
    dist.all_gather(buffers, padded)
    return torch.cat([buffer[:size] for buffer, size in zip(buffers, sizes)])


# ----------------------------------------------------------------------------------------------
# Log-sum-exp over all columns but one, with one similarity matrix in memory
# ----------------------------------------------------------------------------------------------


class _LogSumExpExcludingSelf(torch.autograd.Function):
    """``lse_i = log sum_{k != self_i} exp(scale * anchors_i . columns_k)``.

    Forward and backward go over the anchors in row chunks. With one chunk the softmax computed in
    the forward pass is kept for the backward pass (one anchors x columns matrix, nothing else of
    that size); with several chunks nothing of that size is kept and each chunk's logits are
    recomputed in the backward pass (one extra matrix multiply, memory ``chunk_size x columns``).
    """

    @staticmethod
    def forward(ctx, anchors: Tensor, columns: Tensor, self_index: Tensor, scale: float, chunk_size: int):
        num_anchors = anchors.shape[0]
        row_max = anchors.new_empty(num_anchors, 1)
        row_total = anchors.new_empty(num_anchors, 1)
        keep_softmax = chunk_size >= num_anchors
        softmax = None
        for start in range(0, num_anchors, chunk_size):
            stop = min(start + chunk_size, num_anchors)
            # log-sum-exp in place (torch.logsumexp allocates two more matrices of this size)
            probabilities = _softmax_numerator(
                anchors[start:stop], columns, self_index[start:stop], scale, row_max[start:stop], out_row_max=True
            )
            torch.sum(probabilities, dim=1, keepdim=True, out=row_total[start:stop])
            if keep_softmax:
                softmax = probabilities.div_(row_total)
        ctx.scale = scale
        ctx.chunk_size = chunk_size
        ctx.save_for_backward(anchors, columns, self_index, row_max, row_total)
        ctx.softmax = softmax
        return (row_max + row_total.log()).squeeze(1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_lse: Tensor):
        anchors, columns, self_index, row_max, row_total = ctx.saved_tensors
        scale, chunk_size = ctx.scale, ctx.chunk_size
        grad_anchors = torch.empty_like(anchors)
        grad_columns = torch.zeros_like(columns)
        for start in range(0, anchors.shape[0], chunk_size):
            stop = min(start + chunk_size, anchors.shape[0])
            if ctx.softmax is not None:
                weights = ctx.softmax  # consumed in place: a second backward recomputes it
            else:  # the same operations as the forward pass, so the same bits
                weights = _softmax_numerator(anchors[start:stop], columns, self_index[start:stop], scale, row_max[start:stop])
                weights.div_(row_total[start:stop])
            # d lse_i / d logit_ik = softmax_ik; d logit_ik = scale * (a_i . dc_k + da_i . c_k)
            weights.mul_(grad_lse[start:stop, None] * scale)
            torch.mm(weights, columns, out=grad_anchors[start:stop])
            grad_columns.addmm_(weights.T, anchors[start:stop])
        ctx.softmax = None
        return grad_anchors, grad_columns, None, None, None


def _softmax_numerator(
    anchors: Tensor, columns: Tensor, self_index: Tensor, scale: float, row_max: Tensor, out_row_max: bool = False
) -> Tensor:
    """``exp(logits - row_max)`` with the self column at 0, computed in place in one matrix.

    With ``out_row_max=True`` the row maxima are computed and written into ``row_max``."""
    logits = torch.mm(anchors, columns.T).mul_(scale)
    logits[torch.arange(anchors.shape[0], device=anchors.device), self_index] = float("-inf")
    if out_row_max:
        torch.amax(logits, dim=1, keepdim=True, out=row_max)
    return logits.sub_(row_max).exp_()


# ----------------------------------------------------------------------------------------------
# The loss
# ----------------------------------------------------------------------------------------------


def _unit_rows(x: Tensor) -> Tensor:
    """Rows scaled to unit L2 norm, for any finite input: rows are first divided by their largest
    absolute entry (a constant for autograd, and normalisation is scale-invariant), so norms of
    1e30 do not overflow in the squares. All-zero rows stay zero."""
    largest = x.detach().abs().amax(dim=-1, keepdim=True)
    return F.normalize(x / torch.where(largest > 0, largest, torch.ones_like(largest)), dim=-1)


def supervised_contrastive_loss(
    features: Tensor,
    labels: Optional[Tensor] = None,
    temperature: float = 0.07,
    base_temperature: float = 0.07,
    gather_distributed: bool = True,
    chunk_size: Optional[int] = None,
) -> Tensor:
    """Functional form of :class:`SupConLoss` (see there); ``features`` is (N, n_views, D)."""
    _check_temperature(temperature, "temperature")
    _check_temperature(base_temperature, "base_temperature")
    if features.dim() != 3:
        raise ValueError(
            f"features must have shape (batch_size, n_views, dim), got {tuple(features.shape)}. "
            "Stack the views with torch.stack([view_1, view_2, ...], dim=1)."
        )
    local_size, n_views, _ = features.shape
    if labels is None and n_views < 2:
        raise ValueError(
            f"features has {n_views} view per sample and no labels are given: without labels the "
            "positives are the other views of the same sample, so at least 2 views are needed."
        )
    if labels is not None:
        if labels.dim() != 1 or labels.shape[0] != local_size:
            raise ValueError(
                f"labels must have shape (batch_size,) = ({local_size},) to match features "
                f"{tuple(features.shape)}, got {tuple(labels.shape)}."
            )
        if labels.is_floating_point() or labels.is_complex():
            raise ValueError(f"labels must be integer class ids, got dtype {labels.dtype}.")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of anchor rows or None, got {chunk_size}.")

    device = features.device
    with torch.autocast(device_type=device.type, enabled=False):
        # float32 for half precision inputs; float64 stays float64 (gradcheck, references)
        local = _unit_rows(features.to(torch.promote_types(features.dtype, torch.float32)))  # (n, V, D)
        rank, world_size = _world() if gather_distributed else (0, 1)
        if world_size > 1:
            everyone, offset = gather_with_grad(local)
        else:
            everyone, offset = local, 0
        global_size = everyone.shape[0]
        if global_size < 2:
            raise ValueError(
                f"the contrastive loss needs at least 2 samples in the global batch for negatives, got "
                f"{global_size} (local batch {local_size} x {world_size} process(es)); use a larger batch size."
            )

        # Group of each sample: its label, or its own index (positives = its other views).
        if labels is None:
            sample_group = torch.arange(global_size, device=device)
        else:
            all_labels = _gather_no_grad(labels.to(device)) if world_size > 1 else labels.to(device)
            sample_group = torch.unique(all_labels, return_inverse=True)[1]
        column_group = sample_group.repeat_interleave(n_views)  # columns ordered sample-major
        columns = everyone.reshape(global_size * n_views, -1)
        anchors = local.reshape(local_size * n_views, -1)
        anchor_group = column_group[offset * n_views : (offset + local_size) * n_views]
        self_index = torch.arange(offset * n_views, (offset + local_size) * n_views, device=device)

        group_size = torch.bincount(column_group)
        num_positives = group_size[anchor_group] - 1
        group_sum = columns.new_zeros((group_size.shape[0], columns.shape[1])).index_add_(0, column_group, columns)
        positive_sum = group_sum[anchor_group] - anchors  # sum over P(i) of z_p

        scale = 1.0 / temperature
        rows = anchors.shape[0]
        lse = _LogSumExpExcludingSelf.apply(anchors, columns, self_index, scale, chunk_size or rows)
        mean_positive_logit = (anchors * positive_sum).sum(dim=1) * scale / num_positives.clamp_min(1)
        per_anchor = (temperature / base_temperature) * (lse - mean_positive_logit)

        # Mean over the anchors of the global batch that have a positive. Anchors without one are
        # left out (they have no term in equation 2) instead of producing 0/0 = NaN.
        has_positive = num_positives > 0
        num_valid = int((group_size[column_group] > 1).sum().item())
        if num_valid == 0:
            return (per_anchor * 0.0).sum()
        # Each process returns sum(own anchors) / num_valid * world_size: DDP averages gradients
        # over processes, which makes them exactly the global batch's gradients.
        local_loss = per_anchor.masked_fill(~has_positive, 0.0).sum() * (world_size / num_valid)
        if world_size == 1:
            return local_loss
        # The value reported on every process is the global loss (the mean of the local ones);
        # the gradient stays this process's share.
        global_value = local_loss.detach().clone()
        dist.all_reduce(global_value, op=dist.ReduceOp.SUM)
        global_value /= world_size
        return local_loss + (global_value - local_loss.detach())


def _check_temperature(value: float, name: str) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")


class SupConLoss(nn.Module):
    r"""Supervised contrastive loss, L_out of Khosla et al. 2020 (equation 2).

    .. math::
        \mathcal{L} = \frac{1}{|I|} \sum_{i \in I} \frac{-\tau / \tau_b}{|P(i)|} \sum_{p \in P(i)}
        \log \frac{\exp(z_i \cdot z_p / \tau)}{\sum_{a \in A(i)} \exp(z_i \cdot z_a / \tau)}

    Every view of every sample is an anchor ``i``; ``A(i)`` is every other view in the global batch
    and ``P(i)`` the views in ``A(i)`` with the same label. With ``labels=None`` the positives are
    the other views of the same sample, which is SimCLR's loss (for 2 views it equals
    :class:`NTXentLoss` at the same temperature when ``base_temperature == temperature``).
    Embeddings are L2-normalised here; the loss is computed in float32 whatever the autocast
    dtype (float16 / bfloat16 inputs are upcast; float64 inputs stay float64). Anchors without any
    positive (a label seen once, one view) are left out of the mean.

    In a distributed run (``torch.distributed`` initialised, e.g. under ``accelerate launch``) and
    with ``gather_distributed=True``, features and labels are gathered from every process with the
    gradient kept, so the global batch provides the negatives; each process computes the rows of
    its own anchors against all gathered columns. The returned value is the global batch's loss on
    every process, and DDP's gradient averaging gives exactly the gradients of one process on the
    global batch.

    Memory: the largest tensor is one ``(n_local * n_views) x (N_global * n_views)`` float32
    matrix, or ``chunk_size x (N_global * n_views)`` with ``chunk_size`` set (its logits are then
    recomputed in the backward pass, about a third more time).

    Args:
        temperature: tau in the formula.
        base_temperature: tau_b; the loss is scaled by tau / tau_b (0.07 / 0.07 = 1 by default).
        gather_distributed: gather negatives from all processes when running distributed.
        chunk_size: anchor rows per chunk of the similarity matrix; ``None`` computes it at once.

    Inputs:
        features: (N, n_views, D), the projections of every view.
        labels: optional (N,) integer class ids.

    Example::

        >>> loss_fn = SupConLoss(temperature=0.1)
        >>> features = torch.randn(8, 2, 128)        # 8 images, 2 views, 128-d projections
        >>> labels = torch.tensor([0, 1, 0, 1, 2, 2, 3, 3])
        >>> loss = loss_fn(features, labels)
    """

    def __init__(
        self,
        temperature: float = 0.07,
        base_temperature: float = 0.07,
        gather_distributed: bool = True,
        chunk_size: Optional[int] = None,
    ) -> None:
        super().__init__()
        _check_temperature(temperature, "temperature")
        _check_temperature(base_temperature, "base_temperature")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive number of anchor rows or None, got {chunk_size}.")
        self.temperature = float(temperature)
        self.base_temperature = float(base_temperature)
        self.gather_distributed = gather_distributed
        self.chunk_size = chunk_size

    def forward(self, features: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        return supervised_contrastive_loss(
            features,
            labels,
            temperature=self.temperature,
            base_temperature=self.base_temperature,
            gather_distributed=self.gather_distributed,
            chunk_size=self.chunk_size,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, base_temperature={self.base_temperature}"


class NTXentLoss(nn.Module):
    r"""Normalized temperature-scaled cross entropy of SimCLR (Chen et al. 2020, Algorithm 1).

    With cosine similarities :math:`s_{ij}` between the 2N views of a minibatch,

    .. math::
        \ell(i, j) = -\log \frac{\exp(s_{ij} / \tau)}{\sum_{k=1}^{2N} \mathbb{1}_{[k \neq i]} \exp(s_{ik} / \tau)},
        \qquad \mathcal{L} = \frac{1}{2N} \sum_{k=1}^{N} \left[\ell(2k-1, 2k) + \ell(2k, 2k-1)\right]

    i.e. every view is an anchor whose positive is the other view of its image and whose
    negatives are the other 2(N-1) views; the loss is the mean over all 2N anchors. In a
    distributed run with ``gather_distributed=True`` the views of every process are negatives (see
    :class:`SupConLoss`, of which this is the unlabelled two-view case).

    Args:
        temperature: tau (0.5 for SimCLR on CIFAR-10, 0.1 at large batch sizes on ImageNet).
        gather_distributed: gather negatives from all processes when running distributed.
        chunk_size: anchor rows per chunk of the similarity matrix; ``None`` computes it at once.

    Inputs:
        z_a, z_b: (N, D) projections of the two views; row k of each comes from image k.

    Example::

        >>> loss_fn = NTXentLoss(temperature=0.5)
        >>> z_a, z_b = torch.randn(256, 128), torch.randn(256, 128)
        >>> loss = loss_fn(z_a, z_b)
    """

    def __init__(self, temperature: float = 0.5, gather_distributed: bool = True, chunk_size: Optional[int] = None) -> None:
        super().__init__()
        _check_temperature(temperature, "temperature")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive number of anchor rows or None, got {chunk_size}.")
        self.temperature = float(temperature)
        self.gather_distributed = gather_distributed
        self.chunk_size = chunk_size

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        if z_a.dim() != 2 or z_a.shape != z_b.shape:
            raise ValueError(
                f"z_a and z_b must both have shape (batch_size, dim) with row k of each from the same "
                f"sample, got {tuple(z_a.shape)} and {tuple(z_b.shape)}."
            )
        return supervised_contrastive_loss(
            torch.stack([z_a, z_b], dim=1),
            labels=None,
            temperature=self.temperature,
            base_temperature=self.temperature,
            gather_distributed=self.gather_distributed,
            chunk_size=self.chunk_size,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
