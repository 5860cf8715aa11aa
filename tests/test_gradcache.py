"""The cached-gradient step (issue 14, `hf_contrastive.training.gradcache`): in chunks, the loss and
every parameter's gradient are those of the un-chunked step (float64 on the CPU), for NT-Xent,
SupCon and CLEAR (masked LM + NT-Xent), for a ResNet with group norm in training mode, on 1 and 2
processes; dropout masks are replayed; batch norm in training mode normalises each chunk by its own
statistics and updates the running statistics once per chunk; the optimiser step after a chunked
step equals the un-chunked one."""

from __future__ import annotations

import json

import pytest
import torch
from accelerate import Accelerator
from transformers import ViTConfig

from safetensors.torch import load_file

from conftest import REPO_ROOT, TINY_CLEAR, TINY_SIMCLR, accelerate_launch, train_here
from hf_contrastive import LARS, CLEARConfig, CLEARForPreTraining, SimCLRConfig, SimCLRForPreTraining
from hf_contrastive.training.gradcache import cached_gradient_step, exact_chunks_advice

ACCELERATOR = Accelerator(cpu=True)
PIXELS = torch.randn(5, 2, 1, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
LABELS = torch.tensor([0, 1, 0, 1, 2])


def vit(dropout: float = 0.0, loss: str = "ntxent") -> SimCLRConfig:
    """A tiny ViT encoder: layer norm, no batch norm."""
    backbone = ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=16,
                         patch_size=8, num_channels=1, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)  # fmt: skip
    return SimCLRConfig(backbone_config=backbone, num_channels=1, image_size=16, projection_dim=8, loss=loss)


def resnet(backbone_norm: str = "batch", **fields) -> SimCLRConfig:
    return SimCLRConfig(**json.loads(TINY_SIMCLR), backbone_norm=backbone_norm, **fields)


def model_of(config: SimCLRConfig, batch_norm_eval: bool = False) -> SimCLRForPreTraining:
    torch.manual_seed(0)
    model = SimCLRForPreTraining(config).double().train()
    if batch_norm_eval:
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()
    return model


def gradients(model) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def assert_same_gradients(expected: dict, actual: dict) -> None:
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=1e-9, atol=1e-12, msg=name)


def chunkwise_reference(model, inputs: dict, chunk_size: int):
    """The un-chunked step's graph built chunk by chunk (each chunk's forward in turn, all kept):
    the same function as the cached step when chunks differ from the whole batch (dropout masks
    drawn per chunk, batch norm statistics per chunk)."""
    rows, embed, loss_of, per_sample = model.cached_step_parts(chunk_size, **inputs)
    assert per_sample == []  # (SimCLR has no per-sample term)
    outputs = loss_of(torch.cat([embed(chunk) for chunk in rows.split(chunk_size)]), torch.zeros((), dtype=torch.float64))
    outputs.loss.backward()
    return outputs.loss.detach()


@pytest.mark.parametrize(
    "config, inputs, batch_norm_eval, chunk_size",
    [(vit(), {"pixel_values": PIXELS}, False, 1), (vit(), {"pixel_values": PIXELS}, False, 3),
     (vit(), {"pixel_values": PIXELS}, False, 10),  # (one chunk of all 10 views)
     (vit(loss="supcon"), {"pixel_values": PIXELS, "labels": LABELS}, False, 3),
     (resnet(), {"pixel_values": PIXELS}, True, 3),
     (resnet("group"), {"pixel_values": PIXELS}, False, 3)],  # (training mode: group norm has no batch statistics)
    ids=["vit-ntxent-1", "vit-ntxent-3", "vit-ntxent-10", "vit-supcon-3", "resnet-batch-norm-eval-3", "resnet-group-norm-3"],
)  # fmt: skip
def test_chunked_step_has_the_loss_and_gradients_of_the_unchunked_step(config, inputs, batch_norm_eval, chunk_size):
    model = model_of(config, batch_norm_eval)
    loss = model(**inputs).loss
    loss.backward()
    expected = gradients(model)
    model.zero_grad()
    chunked = cached_gradient_step(model, inputs, chunk_size, ACCELERATOR)
    torch.testing.assert_close(chunked.loss, loss.detach(), rtol=1e-12, atol=0)
    assert_same_gradients(expected, gradients(model))


def test_dropout_masks_of_the_first_pass_are_replayed_in_the_second():
    """With dropout on, the cached step's gradients are those of the graph whose chunks saw the
    same masks as its first pass; the random state after the step is as the first pass left it."""
    model = model_of(vit(dropout=0.3))
    torch.manual_seed(7)
    loss = chunkwise_reference(model, {"pixel_values": PIXELS}, 3)
    expected, after = gradients(model), torch.get_rng_state()
    model.zero_grad()
    torch.manual_seed(7)
    chunked = cached_gradient_step(model, {"pixel_values": PIXELS}, 3, ACCELERATOR)
    torch.testing.assert_close(chunked.loss, loss, rtol=1e-12, atol=0)
    assert_same_gradients(expected, gradients(model))
    assert torch.equal(torch.get_rng_state(), after)


def test_batch_norm_in_training_mode_normalises_each_chunk_and_updates_its_statistics_once_per_chunk():
    """Ghost batches: the gradients are those of a graph in which every chunk is normalised by its
    own statistics, and the running statistics are those of one update per chunk (the first,
    gradient-free pass leaves them alone)."""
    reference, chunked = model_of(resnet()), model_of(resnet())
    chunkwise_reference(reference, {"pixel_values": PIXELS}, 4)
    cached_gradient_step(chunked, {"pixel_values": PIXELS}, 4, ACCELERATOR)
    assert_same_gradients(gradients(reference), gradients(chunked))
    for (name, expected), (_, actual) in zip(reference.named_buffers(), chunked.named_buffers()):
        assert torch.equal(expected, actual), name
    whole = model_of(resnet())
    whole(pixel_values=PIXELS).loss.backward()
    assert not torch.allclose(gradients(whole)["projection_head.layers.0.weight"], gradients(chunked)["projection_head.layers.0.weight"])


def test_the_start_up_advice_names_the_fields_that_remove_the_remaining_batch_norm():
    backbone, head = '"backbone_norm": "group"', '"projection_batch_norm": false'
    for backbone_norm, projection_batch_norm, fixes in [("batch", False, [backbone]), ("group", False, []),
                                                        ("group", True, [head]), ("batch", True, [backbone, head])]:  # fmt: skip
        model = SimCLRForPreTraining(resnet(backbone_norm, projection_batch_norm=projection_batch_norm))
        advice = exact_chunks_advice(model)
        assert advice == (f"for the un-chunked step's gradients: --model_config '{{{', '.join(fixes)}}}'" if fixes else "")


def test_the_optimizer_step_after_a_chunked_step_equals_the_unchunked_one():
    plain, chunked = model_of(vit()), model_of(vit())
    plain(pixel_values=PIXELS).loss.backward()
    cached_gradient_step(chunked, {"pixel_values": PIXELS}, 2, ACCELERATOR)
    for model in (plain, chunked):
        LARS(model.parameters(), lr=0.5, weight_decay=1e-4).step()
    for (name, expected), (_, actual) in zip(plain.named_parameters(), chunked.named_parameters()):
        torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-12, msg=name)


def test_two_processes_chunked_step_equals_their_unchunked_ddp_step(tmp_path):
    """2 CPU processes (DDP through accelerate), each half of a global batch of 6: the cached step in
    chunks of 3 gives every process the loss and averaged gradients of the un-chunked DDP step, for
    a ViT and for a group-norm ResNet in training mode."""
    accelerate_launch(REPO_ROOT / "tests" / "distributed" / "gradcache_worker.py", str(tmp_path))
    for rank in (0, 1):
        results = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert results.pop("world_size") == 2 and sorted(results) == ["resnet-group-norm", "vit"]
        for result in results.values():
            assert result["chunked"]["loss"] == pytest.approx(result["plain"]["loss"], rel=1e-12)
            for name, expected in result["plain"]["grads"].items():
                torch.testing.assert_close(torch.tensor(result["chunked"]["grads"][name]), torch.tensor(expected), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "backbone_norm, chunk_size, batch_norm_record",
    [("batch", 32, "ghost batches: each chunk of 32 rows normalised by its own statistics"),
     ("group", 8, "none in the model: the gradients are the un-chunked step's")],
    ids=["batch-norm-one-chunk", "group-norm-chunks-of-8"],
)  # fmt: skip
def test_a_chunked_run_trains_like_the_plain_run_and_the_card_says_what_batch_norm_did(tmp_path, backbone_norm, chunk_size, batch_norm_record):
    """scripts/train.py with --contrastive_chunk_size ends with the plain run's weights: with batch
    norm when the chunk is the batch's 32 views (batch norm sees the whole batch, as without
    chunks), with group norm in chunks of 8; the results and the card record the chunking, what
    batch norm did and the encoder's normalisation."""
    model_config = json.dumps({**json.loads(TINY_SIMCLR), "backbone_norm": backbone_norm})
    run = ["--model_config", model_config, "--per_device_train_batch_size", "16", "--max_train_samples", "64",
           "--max_train_steps", "3", "--eval_split", "none", "--report_to", "none"]  # fmt: skip
    train_here("--output_dir", str(tmp_path / "plain"), *run)
    train_here("--output_dir", str(tmp_path / "chunked"), "--contrastive_chunk_size", str(chunk_size), *run)
    plain, chunked = (load_file(tmp_path / name / "model.safetensors") for name in ("plain", "chunked"))
    for name in plain:
        torch.testing.assert_close(chunked[name], plain[name], rtol=1e-4, atol=1e-5, msg=name)
    record = json.loads((tmp_path / "chunked" / "train_results.json").read_text())["cached_gradients"]
    assert record == {"chunk_size": chunk_size, "batch_norm": batch_norm_record}
    card = (tmp_path / "chunked" / "README.md").read_text()
    assert f"chunks of {chunk_size} views (GradCache)" in card
    assert ("with group norm (up to 32 groups a layer) in place of batch norm" in card) == (backbone_norm == "group")


def clear_inputs(batch: int = 5) -> dict[str, torch.Tensor]:
    """A CLEAR batch as the collator makes it: MLM input with 30% of tokens to predict, two views of
    different lengths with padding."""
    generator = torch.Generator().manual_seed(2)
    ids = torch.randint(5, 60, (batch, 9), generator=generator)
    labels = torch.where(torch.rand(batch, 9, generator=generator) < 0.3, ids, torch.full_like(ids, -100))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    view_a, view_b = torch.randint(5, 60, (batch, 7), generator=generator), torch.randint(5, 60, (batch, 4), generator=generator)
    mask_a = torch.ones_like(view_a)
    mask_a[1, 3:] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "input_ids_a": view_a,
            "attention_mask_a": mask_a, "input_ids_b": view_b, "attention_mask_b": torch.ones_like(view_b)}  # fmt: skip


@pytest.mark.parametrize("chunk_size", [1, 4])
def test_clears_chunked_step_has_the_loss_parts_and_gradients_of_the_unchunked_step(chunk_size):
    """CLEAR (dropout off): the masked-LM loss in chunks of sentences and NT-Xent from cached
    embeddings add up to the un-chunked loss, its parts and every gradient."""
    settings = json.loads(TINY_CLEAR)
    settings["text_config"].update(vocab_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    model = CLEARForPreTraining(CLEARConfig(**settings, mlm_weight=0.4)).double().train()
    plain = model(**clear_inputs())
    plain.loss.backward()
    expected = gradients(model)
    model.zero_grad()
    chunked = cached_gradient_step(model, clear_inputs(), chunk_size, ACCELERATOR)
    for part in ("loss", "mlm_loss", "contrastive_loss"):
        torch.testing.assert_close(getattr(chunked, part).detach(), getattr(plain, part).detach(), rtol=1e-12, atol=0, msg=part)
    assert_same_gradients(expected, gradients(model))
