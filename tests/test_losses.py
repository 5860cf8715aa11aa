"""Tests for hf_contrastive.modeling.losses: NT-Xent and SupCon against float64 references written
from the papers' formulas, gradients, stability, errors, and 2-process equivalence."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO_ROOT, accelerate_launch

from hf_contrastive import NTXentLoss, SupConLoss
from hf_contrastive.modeling.losses import supervised_contrastive_loss


# ---------------------------------------------------------------------------------------------
# References, written from the formulas with Python loops in float64
# ---------------------------------------------------------------------------------------------


def reference_ntxent(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float) -> float:
    """SimCLR Algorithm 1: views interleaved (2k-1, 2k), l(i,j) = -log(exp(s_ij/t) / sum_{k!=i} exp(s_ik/t)),
    L = 1/(2N) sum_k [l(2k-1, 2k) + l(2k, 2k-1)]."""
    n = z_a.shape[0]
    z = torch.stack([z_a, z_b], dim=1).reshape(2 * n, -1).double()
    s = [[F.cosine_similarity(z[i], z[j], dim=0).item() for j in range(2 * n)] for i in range(2 * n)]

    def l(i, j):
        denom = sum(math.exp(s[i][k] / temperature) for k in range(2 * n) if k != i)
        return -math.log(math.exp(s[i][j] / temperature) / denom)

    return sum(l(2 * k, 2 * k + 1) + l(2 * k + 1, 2 * k) for k in range(n)) / (2 * n)


def reference_supcon(features: torch.Tensor, labels, temperature: float, base_temperature: float) -> float:
    """Khosla et al. equation 2 (L_out), averaged over the anchors that have a positive."""
    n, v, _ = features.shape
    z = F.normalize(features.double().reshape(n * v, -1), dim=1)
    group = (torch.arange(n) if labels is None else labels).repeat_interleave(v).tolist()
    losses = []
    for i in range(n * v):
        others = [a for a in range(n * v) if a != i]
        log_denominator = math.log(sum(math.exp(float(z[i] @ z[a]) / temperature) for a in others))
        positives = [p for p in others if group[p] == group[i]]
        if not positives:
            continue
        log_probs = [float(z[i] @ z[p]) / temperature - log_denominator for p in positives]
        losses.append(-(temperature / base_temperature) * sum(log_probs) / len(positives))
    return sum(losses) / len(losses)


# ---------------------------------------------------------------------------------------------
# Values against the references
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,dim", [(2, 3), (5, 16), (17, 128)])
@pytest.mark.parametrize("temperature", [0.05, 0.5, 2.0])
def test_ntxent_matches_simclr_algorithm_1(n, dim, temperature):
    generator = torch.Generator().manual_seed(n * 100 + dim)
    z_a, z_b = torch.randn(n, dim, generator=generator), torch.randn(n, dim, generator=generator)
    loss = NTXentLoss(temperature=temperature)(z_a, z_b)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(reference_ntxent(z_a, z_b, temperature), rel=2e-5, abs=2e-5)


@pytest.mark.parametrize("n_views", [2, 3, 4])
@pytest.mark.parametrize("with_labels", [False, True])
@pytest.mark.parametrize("temperature,base_temperature", [(0.07, 0.07), (0.1, 0.07), (0.5, 1.0)])
def test_supcon_matches_equation_2(n_views, with_labels, temperature, base_temperature):
    generator = torch.Generator().manual_seed(n_views)
    features = torch.randn(9, n_views, 12, generator=generator)
    labels = torch.randint(0, 3, (9,), generator=generator) if with_labels else None
    loss = SupConLoss(temperature, base_temperature)(features, labels)
    expected = reference_supcon(features, labels, temperature, base_temperature)
    assert loss.item() == pytest.approx(expected, rel=2e-5, abs=2e-5)


def test_supcon_single_view_uses_labels_and_skips_anchors_without_positive():
    """One view per sample: positives are other samples of the label; label 7 occurs once, so its
    anchor has no positive and must be left out, not turn the loss into NaN."""
    features = torch.randn(6, 1, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 0, 1, 1, 1, 7])
    loss = SupConLoss(0.1)(features, labels)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(reference_supcon(features, labels, 0.1, 0.07), rel=2e-5)


def test_supcon_no_anchor_with_positive_is_zero_not_nan():
    features = torch.randn(4, 1, 8, requires_grad=True)
    loss = SupConLoss()(features, torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(features.grad).all()


def test_ntxent_equals_supcon_without_labels():
    z_a, z_b = torch.randn(11, 32), torch.randn(11, 32)
    ntxent = NTXentLoss(temperature=0.3)(z_a, z_b)
    supcon = SupConLoss(temperature=0.3, base_temperature=0.3)(torch.stack([z_a, z_b], dim=1))
    torch.testing.assert_close(ntxent, supcon)


def test_labels_equal_to_sample_ids_give_the_unlabelled_loss():
    features = torch.randn(7, 3, 16)
    torch.testing.assert_close(SupConLoss()(features, torch.arange(7) * 5), SupConLoss()(features))


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 1000])
def test_chunked_equals_unchunked_in_value_and_gradient(chunk_size):
    base = torch.randn(10, 3, 16, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 3])
    grads = []
    values = []
    for chunk in (None, chunk_size):
        features = base.clone().requires_grad_(True)
        loss = SupConLoss(0.2, chunk_size=chunk)(features, labels)
        loss.backward()
        values.append(loss.detach())
        grads.append(features.grad)
    torch.testing.assert_close(values[0], values[1])
    torch.testing.assert_close(grads[0], grads[1])


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [None, 2])
@pytest.mark.parametrize("with_labels", [False, True])
def test_gradcheck_supcon(chunk_size, with_labels):
    features = torch.randn(5, 2, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 0, 1, 1]) if with_labels else None
    assert torch.autograd.gradcheck(
        lambda f: supervised_contrastive_loss(f, labels, temperature=0.3, base_temperature=0.5, chunk_size=chunk_size),
        (features,),
    )


def test_gradcheck_ntxent():
    z_a = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    z_b = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(NTXentLoss(temperature=0.2), (z_a, z_b))


# ---------------------------------------------------------------------------------------------
# Numerical stability and precision
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    ["tiny_temperature", "identical_embeddings", "huge_norms", "tiny_norms", "zero_vectors", "mixed_scales"],
)
def test_finite_loss_and_gradients_for_any_finite_input(case):
    generator = torch.Generator().manual_seed(3)
    features = torch.randn(8, 2, 16, generator=generator)
    temperature = 0.5
    if case == "tiny_temperature":
        temperature = 1e-4
    elif case == "identical_embeddings":
        features = torch.ones(8, 2, 16)
    elif case == "huge_norms":
        features = features * 1e30
    elif case == "tiny_norms":
        features = features * 1e-30
    elif case == "zero_vectors":
        features[:3] = 0.0
    elif case == "mixed_scales":
        features[::2] *= 1e25
        features[1::2] *= 1e-25
    features.requires_grad_(True)
    loss = SupConLoss(temperature=temperature)(features)
    loss.backward()
    assert torch.isfinite(loss), loss
    assert torch.isfinite(features.grad).all()
    ntxent = NTXentLoss(temperature=temperature)(features[:, 0], features[:, 1])
    assert torch.isfinite(ntxent)


def test_identical_embeddings_give_log_of_negatives_count():
    """All 2N views equal: every logit is 1/t, so l(i, j) = log(2N - 1) exactly."""
    loss = NTXentLoss(temperature=0.1)(torch.ones(6, 4), torch.ones(6, 4))
    assert loss.item() == pytest.approx(math.log(11), rel=1e-6)


def test_large_norm_input_matches_unit_input():
    z_a, z_b = torch.randn(6, 8), torch.randn(6, 8)
    torch.testing.assert_close(NTXentLoss()(z_a * 1e30, z_b * 1e30), NTXentLoss()(z_a, z_b))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_give_float32_loss(dtype):
    z_a, z_b = torch.randn(16, 32), torch.randn(16, 32)
    loss = NTXentLoss()(z_a.to(dtype), z_b.to(dtype))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    # the only error is the rounding of the inputs to half precision
    reference = NTXentLoss()(z_a.to(dtype).float(), z_b.to(dtype).float())
    torch.testing.assert_close(loss, reference)


def test_loss_under_bf16_autocast_is_float32():
    layer = torch.nn.Linear(8, 16)
    x = torch.randn(10, 2, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = layer(x)
        assert features.dtype == torch.bfloat16
        loss = SupConLoss()(features, torch.arange(10) % 3)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(layer.weight.grad).all()


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0, -0.1, float("nan"), float("inf")])
def test_bad_temperature(temperature):
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        NTXentLoss(temperature=temperature)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        SupConLoss(temperature=temperature)
    with pytest.raises(ValueError, match="base_temperature must be a finite number > 0"):
        SupConLoss(base_temperature=temperature)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: NTXentLoss()(torch.randn(1, 8), torch.randn(1, 8)), "at least 2 samples in the global batch"),
        (lambda: SupConLoss()(torch.randn(1, 4, 8)), "at least 2 samples in the global batch"),
        (lambda: SupConLoss()(torch.randn(0, 2, 8)), "at least 2 samples in the global batch"),
        (lambda: NTXentLoss()(torch.randn(4, 8), torch.randn(5, 8)), "must both have shape"),
        (lambda: NTXentLoss()(torch.randn(4, 8), torch.randn(4, 7)), "must both have shape"),
        (lambda: NTXentLoss()(torch.randn(4, 2, 8), torch.randn(4, 2, 8)), "must both have shape"),
        (lambda: SupConLoss()(torch.randn(4, 8)), r"shape \(batch_size, n_views, dim\)"),
        (lambda: SupConLoss()(torch.randn(4, 2, 8), torch.tensor([0, 1, 2])), "labels must have shape"),
        (lambda: SupConLoss()(torch.randn(4, 2, 8), torch.zeros(4, 2, dtype=torch.long)), "labels must have shape"),
        (lambda: SupConLoss()(torch.randn(4, 2, 8), torch.tensor([0.0, 1.0, 0.0, 1.0])), "integer class ids"),
        (lambda: SupConLoss()(torch.randn(4, 1, 8)), "at least 2 views are needed"),
        (lambda: SupConLoss(chunk_size=0), "chunk_size must be a positive"),
    ],
)
def test_bad_input_gives_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# Two real processes over gloo give the loss and gradients of one process on the global batch
# ---------------------------------------------------------------------------------------------


def test_two_processes_equal_one_process_on_the_global_batch(tmp_path):
    """tests/distributed/losses_worker.py splits a global batch of 8 unevenly (5 + 3) over 2
    processes; the gathered-negative loss must equal the one-process loss on all 8, and the
    DDP-averaged gradients the one-process gradients."""
    accelerate_launch(REPO_ROOT / "tests" / "distributed" / "losses_worker.py", str(tmp_path))
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for rank, result in enumerate(results):
        assert (result["rank"], result["world_size"], result["torch_world_size"]) == (rank, 2, 2)
        for loss_name in ("ntxent", "supcon", "supcon_chunked"):
            r = result[loss_name]
            assert r["loss"] == pytest.approx(r["reference_loss"], rel=1e-5), (rank, loss_name, r)
            assert r["max_grad_difference"] <= 1e-5 * max(1.0, r["grad_scale"]), (rank, loss_name, r)
    assert results[0]["supcon"]["loss"] == pytest.approx(results[1]["supcon"]["loss"], rel=1e-6)
