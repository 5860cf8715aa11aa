"""Run under `accelerate launch` with 2 CPU processes by tests/test_losses.py.

Each process takes its (uneven) share of one global batch, computes a loss with gathered
negatives, backpropagates into a small linear model and averages the gradients like DDP; it also
computes the single-process result on the whole global batch, and writes both to a JSON file.
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from accelerate import Accelerator

from hf_contrastive import NTXentLoss, SupConLoss

GLOBAL_BATCH = 8
LOCAL_SIZES = (5, 3)  # deliberately uneven, as a last batch can be
LOSSES = ("ntxent", "supcon", "supcon_chunked")


def global_problem():
    generator = torch.Generator().manual_seed(1234)
    model = torch.nn.Linear(6, 10)
    with torch.no_grad():
        model.weight.copy_(torch.randn(10, 6, generator=generator))
        model.bias.copy_(torch.randn(10, generator=generator))
    inputs = torch.randn(GLOBAL_BATCH, 3, 6, generator=generator)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 3, 0])
    return model, inputs, labels


def loss_and_gradient(loss_name, model, inputs, labels, **kwargs):
    features = model(inputs)
    if loss_name == "ntxent":
        loss = NTXentLoss(temperature=0.2, **kwargs)(features[:, 0], features[:, 1])
    elif loss_name == "supcon":
        loss = SupConLoss(temperature=0.1, **kwargs)(features, labels)
    else:
        loss = SupConLoss(temperature=0.1, chunk_size=4, **kwargs)(features, None)
    loss.backward()
    return loss.detach(), torch.cat([model.weight.grad.flatten(), model.bias.grad.flatten()])


def main(out_dir: Path) -> None:
    accelerator = Accelerator()  # reads ACCELERATE_USE_CPU, unlike a bare PartialState()
    state = accelerator.state
    rank, world_size = state.process_index, state.num_processes
    start = sum(LOCAL_SIZES[:rank])
    stop = start + LOCAL_SIZES[rank]
    result = {"rank": rank, "world_size": world_size, "torch_world_size": dist.get_world_size()}
    for loss_name in LOSSES:
        model, inputs, labels = global_problem()
        loss, grad = loss_and_gradient(loss_name, model, inputs[start:stop], labels[start:stop])
        dist.all_reduce(grad)  # DDP's semantics: gradients averaged over processes
        grad /= world_size
        ref_model, ref_inputs, ref_labels = global_problem()
        ref_loss, ref_grad = loss_and_gradient(loss_name, ref_model, ref_inputs, ref_labels, gather_distributed=False)
        result[loss_name] = {
            "loss": loss.item(),
            "reference_loss": ref_loss.item(),
            "max_grad_difference": (grad - ref_grad).abs().max().item(),
            "grad_scale": ref_grad.abs().max().item(),
        }
    (out_dir / f"rank{rank}.json").write_text(json.dumps(result))
    # without this, gloo's threads can abort the interpreter at exit
    accelerator.end_training()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
