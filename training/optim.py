"""Optimisers, learning-rate schedules and the EMA of the weights, as a recipe names them."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import nn

from training.errors import ConfigError
from training.recipes import Recipe


def make_optimizer(model: nn.Module, r: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimiser over the trainable parameters; biases and norm scales get no weight decay."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": r.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if r.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=r.lr, momentum=r.momentum, nesterov=r.momentum > 0)
    if r.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=r.lr)
    if r.optimizer == "adam":
        return torch.optim.Adam(groups, lr=r.lr)
    raise ConfigError(f"unknown optimizer {r.optimizer!r}; use sgd, adamw or adam")


def lr_factor(r: Recipe, total_steps: int, steps_per_epoch: int) -> Callable[[int], float]:
    """The factor on the recipe's lr at each optimiser step (``LambdaLR``): ``constant``; ``onecycle``
    (linear warm-up over ``warmup`` of all steps from 0.04, then cosine to 0); ``cosine`` (warm-up over
    ``warmup`` epochs, then cosine to 0); ``poly`` (warm-up over ``warmup`` epochs, then
    (1 - t) ** ``poly_power``, as the FCN/DeepLab papers)."""
    if r.schedule == "constant":
        return lambda step: 1.0
    if r.schedule == "onecycle":
        up = max(1, int(r.warmup * total_steps))

        def onecycle(step: int) -> float:
            if step < up:
                return 0.04 + 0.96 * step / up
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - up) / max(1, total_steps - up))))

        return onecycle
    if r.schedule in ("cosine", "poly"):
        up = int(r.warmup * steps_per_epoch)

        def after_warmup(step: int) -> float:
            t = min(1.0, (step - up) / max(1, total_steps - up))
            return 0.5 * (1 + math.cos(math.pi * t)) if r.schedule == "cosine" else max(0.0, 1 - t) ** r.poly_power

        return lambda step: (step + 1) / up if step < up else after_warmup(step)
    raise ConfigError(f"unknown schedule {r.schedule!r}; use onecycle, cosine, poly or constant")


class EMA:
    """Exponential moving average of a model's weights (buffers copied)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval()
        self.decay = decay
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for e, m in zip(self.module.state_dict().values(), model.state_dict().values(), strict=True):
            if e.dtype.is_floating_point:
                e.lerp_(m, 1 - self.decay)
            else:
                e.copy_(m)
