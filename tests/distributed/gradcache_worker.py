"""Run under `accelerate launch` with 2 CPU processes by tests/test_gradcache.py.

Each process takes its half of one global batch. Two SimCLR models, a tiny ViT and a tiny ResNet
with group norm (neither has batch norm), are prepared by accelerate (DDP); their gradients after
the un-chunked step (`accelerator.backward`) and after the cached-gradient step in chunks of 3 rows
are written, with the losses, to a JSON file per process; float64 throughout.
"""

import json
import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from transformers import ResNetConfig, ViTConfig

from hf_contrastive import SimCLRConfig, SimCLRForPreTraining
from hf_contrastive.training.gradcache import cached_gradient_step

GLOBAL_BATCH = 6
BACKBONES = {
    "vit": {"backbone_config": ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=16,
                                         patch_size=8, num_channels=1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)},
    "resnet-group-norm": {"backbone_config": ResNetConfig(num_channels=1, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"),
                          "backbone_norm": "group"},
}  # fmt: skip


def main(out_dir: Path) -> None:
    accelerator = Accelerator()
    rank = accelerator.process_index
    pixels = torch.randn(GLOBAL_BATCH, 2, 1, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    local = {"pixel_values": pixels.chunk(accelerator.num_processes)[rank]}
    results = {"world_size": accelerator.num_processes}
    for backbone, fields in BACKBONES.items():
        torch.manual_seed(0)
        model = SimCLRForPreTraining(SimCLRConfig(**fields, num_channels=1, image_size=16, projection_dim=8)).double()
        model = accelerator.prepare(model)
        results[backbone] = {}
        for name in ("plain", "chunked"):
            model.zero_grad()
            if name == "plain":
                loss = model(**local).loss
                accelerator.backward(loss)
            else:
                loss = cached_gradient_step(model, local, 3, accelerator).loss
            results[backbone][name] = {
                "loss": float(loss),
                "grads": {n: p.grad.flatten().tolist() for n, p in accelerator.unwrap_model(model).named_parameters() if p.grad is not None},
            }
    (out_dir / f"rank{rank}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
