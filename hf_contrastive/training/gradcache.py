"""A contrastive step for batches larger than memory: cached gradients (GradCache; Gao, Zhang, Han
and Callan 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup").

A contrastive loss couples every sample of the global batch, so gradient accumulation cannot split
it. But the loss needs only the embeddings, not the encoder's activations. The step therefore:

1. embeds the batch's rows in chunks of `chunk_size` without gradients, keeping only the
   embeddings z (and each chunk's random state);
2. computes the loss of all of z (gathered across processes as always) and its gradient dL/dz;
3. embeds each chunk again, with gradients and the same random state (the same dropout masks), and
   back-propagates its slice of dL/dz: by the chain rule the parameters receive exactly the
   gradient of the un-chunked step.

Peak memory is one chunk's activations plus the batch's embeddings, whatever the batch size.
The cost is a second forward pass of the encoder (about 1.3x the step's time).

Batch norm: a chunk's forward pass normalises with that chunk's statistics ("ghost batches" of
`chunk_size` rows, as in Hoffer et al. 2017), so with batch norm in training mode the chunked step is
not the same function as the un-chunked one. The running statistics are updated once per chunk, by
the second pass only. `--sync_batchnorm` makes the statistics those of the chunk across all
processes. A model without batch norm (SimCLR's `backbone_norm="group"` or `"layer"` or a ViT, with
`projection_batch_norm` off as by default; CLEAR's BERT), or with batch norm in eval mode, gets exactly
the un-chunked gradients.

The model supplies the parts: `model.cached_step_parts(chunk_size, **inputs) -> (rows, embed, loss,
per_sample)`, where `embed(chunk of rows) -> z`, `loss(z of all rows, per-sample total) ->
ModelOutput`, and `per_sample` lists callables giving per-sample loss terms in chunks (CLEAR's
masked-LM loss), which need no cache: each is computed and back-propagated at once
(`SimCLRForPreTraining.cached_step_parts`, `CLEARForPreTraining.cached_step_parts`).

Processes: the second pass runs the unwrapped model (not DDP's forward, whose reducer expects one
backward pass per forward), so the step averages the gradients across processes itself.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from accelerate import Accelerator
from torch import nn


def _random_state(device: torch.device) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    return torch.get_rng_state(), (torch.cuda.get_rng_state(device) if device.type == "cuda" else None)


def _set_random_state(state: tuple[torch.Tensor, Optional[torch.Tensor]], device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """Half-precision embeddings (under autocast) in float32, as the losses compute; float32 and
    float64 as they are."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def _norm_buffers(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(buffer, copy) of every batch norm's running statistics, for the first pass to leave alone."""
    return [
        (buffer, buffer.detach().clone())
        for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)
        for buffer in module.buffers()
    ]  # fmt: skip


def _average_gradients(model: nn.Module, accelerator: Accelerator) -> None:
    """Mean of every gradient over the processes (what DDP's reducer does), in one flat bucket per dtype."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    for dtype in {g.dtype for g in grads}:
        same = [g for g in grads if g.dtype == dtype]
        flat = torch.cat([g.reshape(-1) for g in same])
        torch.distributed.all_reduce(flat)
        flat /= accelerator.num_processes
        offset = 0
        for g in same:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def batch_norm_in_chunks(model: nn.Module, chunk_size: int) -> str:
    """What batch norm does in the chunked step, for train_results.json and the card."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return "none in the model: the gradients are the un-chunked step's"
    if all(isinstance(m, nn.SyncBatchNorm) for m in norms):
        return f"synchronised across processes, per chunk of {chunk_size} rows a process (--sync_batchnorm)"
    return f"ghost batches: each chunk of {chunk_size} rows normalised by its own statistics"


def exact_chunks_advice(model: nn.Module) -> str:
    """What makes a SimCLR model's chunked step exact while batch norm remains in it: the config
    fields that remove it from the backbone (`backbone_norm`) or from g (`projection_batch_norm`);
    empty when there is none."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    fixes = ['"backbone_norm": "group"'] if any(not name.startswith("projection_head") for name in names) else []
    fixes += ['"projection_batch_norm": false'] if any(name.startswith("projection_head") for name in names) else []
    return f"for the un-chunked step's gradients: --model_config '{{{', '.join(fixes)}}}'" if fixes else ""


def cached_gradient_step(model: nn.Module, inputs: dict[str, Any], chunk_size: int, accelerator: Accelerator) -> Any:
    """Fill the parameters' gradients of one step of `model` (wrapped or not) on `inputs` by
    cached gradients in chunks of `chunk_size` rows (see the module's docstring); returns the
    model's output for the whole batch (its loss is the step's loss, detached). The gradients are
    scaled for gradient accumulation as `accelerator.backward` scales them."""
    unwrapped = accelerator.unwrap_model(model)
    rows, embed, loss_of, per_sample = unwrapped.cached_step_parts(chunk_size, **inputs)
    chunks = rows.split(chunk_size)
    device = rows.device
    scale = 1.0 / accelerator.gradient_accumulation_steps
    per_sample_total = torch.zeros((), device=device)
    for term in per_sample:  # 0. per-sample terms, chunk by chunk, each with its own graph
        with accelerator.autocast():
            value = term()
        (value * scale).backward()
        per_sample_total = per_sample_total + value.detach()
    states, embeddings = [], []
    saved = _norm_buffers(unwrapped)
    with torch.no_grad(), accelerator.autocast():  # 1. embeddings only, no activations kept
        for chunk in chunks:
            states.append(_random_state(device))
            embeddings.append(_at_least_float32(embed(chunk)))
    for buffer, copy in saved:
        buffer.copy_(copy)
    after = _random_state(device)

    z = torch.cat(embeddings).requires_grad_()  # 2. the loss of the whole batch and dL/dz
    with accelerator.autocast():
        outputs = loss_of(z, per_sample_total)
    (outputs.loss * scale).backward()
    for chunk, state, grad in zip(chunks, states, z.grad.split(chunk_size)):  # 3. again, with gradients
        _set_random_state(state, device)
        with accelerator.autocast():
            part = embed(chunk)
        _at_least_float32(part).backward(grad)
    _set_random_state(after, device)
    if accelerator.num_processes > 1:
        _average_gradients(unwrapped, accelerator)
    outputs.loss = outputs.loss.detach()
    return outputs
