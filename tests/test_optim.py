"""Tests for hf_contrastive.optim: LARS update rule, its parameter groups, learning-rate scaling,
and that a real model trains with it."""

import math

import pytest
import torch
from torch import nn

from hf_contrastive import LARS, NTXentLoss, lars_param_groups, scale_learning_rate
from hf_contrastive.optim import get_cosine_schedule_with_warmup


def test_param_groups_exclude_biases_and_norm_layers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 3), nn.LayerNorm(3))
    adapted, plain = lars_param_groups(model, weight_decay=1e-4)
    adapted_ids = {id(p) for p in adapted["params"]}
    plain_ids = {id(p) for p in plain["params"]}
    assert adapted_ids == {id(model[0].weight), id(model[3].weight)}
    expected_plain = [model[0].bias, model[1].weight, model[1].bias, model[3].bias, model[4].weight, model[4].bias]
    assert plain_ids == {id(p) for p in expected_plain}
    assert adapted["weight_decay"] == 1e-4 and adapted["lars_adaptation"]
    assert plain["weight_decay"] == 0.0 and not plain["lars_adaptation"]


def test_param_groups_skip_frozen_parameters():
    model = nn.Linear(3, 3)
    model.weight.requires_grad_(False)
    adapted, plain = lars_param_groups(model)
    assert adapted["params"] == [] and plain["params"] == [model.bias]


def _one_step(weight_decay=0.1, lr=0.5, momentum=0.9, trust=0.001, grad_scale=1.0):
    """A layer whose weight is LARS-adapted and whose bias is excluded, after one step with known
    gradients; returns (weight before, weight grad, weight after, bias before, bias grad, bias after)."""
    layer = nn.Linear(4, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.arange(8.0).reshape(2, 4) - 3)
        layer.bias.copy_(torch.tensor([0.5, -2.0]))
    w0, b0 = layer.weight.detach().clone(), layer.bias.detach().clone()
    gw = torch.linspace(-1, 1, 8).reshape(2, 4) * grad_scale
    gb = torch.tensor([0.3, -0.7]) * grad_scale
    layer.weight.grad, layer.bias.grad = gw.clone(), gb.clone()
    optimizer = LARS(lars_param_groups(layer, weight_decay=weight_decay), lr=lr, momentum=momentum, trust_coefficient=trust)
    optimizer.step()
    return w0, gw, layer.weight.detach(), b0, gb, layer.bias.detach()


def test_lars_step_matches_the_update_rule():
    w0, gw, w1, b0, gb, b1 = _one_step(weight_decay=0.1, lr=0.5, trust=0.001)
    decayed = gw + 0.1 * w0
    trust_ratio = 0.001 * w0.norm() / decayed.norm()
    torch.testing.assert_close(w1, w0 - 0.5 * trust_ratio * decayed)
    # excluded parameter: no weight decay, no trust ratio, plain SGD step
    torch.testing.assert_close(b1, b0 - 0.5 * gb)


def test_excluded_parameters_get_no_weight_decay_even_with_zero_gradient():
    layer = nn.Linear(3, 3)
    layer.weight.grad = torch.zeros_like(layer.weight)
    layer.bias.grad = torch.zeros_like(layer.bias)
    w0, b0 = layer.weight.detach().clone(), layer.bias.detach().clone()
    LARS(lars_param_groups(layer, weight_decay=0.5), lr=1.0, trust_coefficient=1.0).step()
    assert torch.equal(layer.bias, b0)  # excluded: untouched
    # adapted and decayed: w - lr * (eta * |w| / |wd w|) * wd w = w - w = 0 with eta = 1
    torch.testing.assert_close(layer.weight.detach(), torch.zeros_like(w0))


def test_excluded_parameters_step_scales_with_the_gradient_adapted_ones_do_not():
    """Trust-ratio adaptation makes the adapted step independent of the gradient's scale; an
    excluded parameter's step grows with the gradient."""
    w0, _, w_small, b0, _, b_small = _one_step(weight_decay=0.0, grad_scale=1.0)
    _, _, w_large, _, _, b_large = _one_step(weight_decay=0.0, grad_scale=100.0)
    torch.testing.assert_close(w_large - w0, w_small - w0)
    torch.testing.assert_close(b_large - b0, 100 * (b_small - b0))


def test_momentum_accumulates():
    param = nn.Parameter(torch.ones(3))
    optimizer = LARS([{"params": [param], "weight_decay": 0.0, "lars_adaptation": False}], lr=0.1, momentum=0.9)
    for _ in range(2):
        param.grad = torch.ones(3)
        optimizer.step()
    # v1 = 0.1, v2 = 0.9 * 0.1 + 0.1 = 0.19; total moved 0.29
    torch.testing.assert_close(param.detach(), torch.full((3,), 1 - 0.29))


def test_zero_norm_weight_uses_trust_ratio_one():
    param = nn.Parameter(torch.zeros(2, 2))
    param.grad = torch.ones(2, 2)
    LARS([param], lr=0.1, weight_decay=0.0).step()
    torch.testing.assert_close(param.detach(), torch.full((2, 2), -0.1))


@pytest.mark.parametrize(
    "kwargs,message",
    [({"lr": -1}, "lr"), ({"momentum": 1.0}, "momentum"), ({"weight_decay": -1}, "weight_decay"), ({"trust_coefficient": 0}, "trust_coefficient")],
)
def test_lars_rejects_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LARS(nn.Linear(2, 2).parameters(), **kwargs)


def test_a_small_contrastive_model_trains_with_lars():
    """An MLP with batch norm learns to map two noisy views of the same points together:
    the NT-Xent loss must fall clearly within 60 LARS steps."""
    torch.manual_seed(0)
    points = torch.randn(64, 10)
    model = nn.Sequential(nn.Linear(10, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 16))
    optimizer = LARS(lars_param_groups(model, weight_decay=1e-6), lr=scale_learning_rate(64, "sqrt"), trust_coefficient=0.01)
    loss_fn = NTXentLoss(temperature=0.2)
    losses = []
    for _ in range(60):
        view_a = points + 0.3 * torch.randn_like(points)
        view_b = points + 0.3 * torch.randn_like(points)
        loss = loss_fn(model(view_a), model(view_b))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.7 * first, (first, last)


def test_scale_learning_rate_follows_simclr():
    assert scale_learning_rate(4096) == pytest.approx(4.8)  # 0.3 x 4096 / 256
    assert scale_learning_rate(4096, "sqrt") == pytest.approx(0.075 * 64)
    assert scale_learning_rate(512, base_learning_rate=1.0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="scaling"):
        scale_learning_rate(256, "cubic")
    with pytest.raises(ValueError, match="batch_size"):
        scale_learning_rate(0)


def test_warmup_cosine_schedule_shape():
    optimizer = LARS(nn.Linear(2, 2).parameters(), lr=1.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=10, num_training_steps=110)
    rates = []
    for _ in range(110):
        rates.append(schedule.get_last_lr()[0])
        optimizer.step()
        schedule.step()
    assert rates[0] == 0.0 and rates[5] == pytest.approx(0.5) and rates[10] == pytest.approx(1.0)
    assert rates[60] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert rates[-1] < 0.001
