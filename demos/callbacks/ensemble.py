"""The CIFAR-10 ensemble of the Classify tab and the Lab's *Ensemble* view.

Both use the registry's published ``ensemble`` (``zoo.create_model("ensemble", pretrained=True)``):
:class:`zoo.models.ensemble.Ensemble` of trained members, each behind its own preprocessing, whose
output is the average of the members' softmax probabilities; its input is the image scaled to
[0, 1] at 32x32. Everything else about classifying is in :mod:`demos.callbacks.classify`.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

import zoo
from demos.callbacks import common
from demos.callbacks.common import Classifier, DemoError

NAME = "ensemble"


class Vote(NamedTuple):
    """One image through the ensemble: each member's probabilities and their average.

    ``labels``: one a member (its weight id); ``members``: ``(M, C)``
    probabilities; ``average``: ``(C,)``; ``names``: the ``C`` class names; ``latency_ms``: the
    transform and all forward passes (batch 1, CPU).
    """

    labels: list[str]
    members: torch.Tensor
    average: torch.Tensor
    names: tuple[str, ...]
    latency_ms: float


def members() -> list[str]:
    """The CIFAR-10 classifiers with weights (the ensemble itself excluded), in registry order."""
    return [n for n in common.pretrained_models("classification", 3)
            if n != NAME and zoo.get_spec(n).num_classes == 10 and zoo.get_spec(n).input_size[1] == 32]


def is_offered() -> bool:
    """True when the Classify tab offers the ensemble: the registry declares its trained members."""
    return NAME in zoo.list_models(pretrained=True)


def outputs_probabilities(model: nn.Module) -> bool:
    """True for a model whose output is already probabilities (the soft-voting ensemble), not logits."""
    from zoo.models.ensemble import Ensemble

    return isinstance(model, Ensemble)


def classifier() -> Classifier:
    """The published ensemble (loaded once, then cached), its [0, 1] input transform and class names."""
    return common.classifier(NAME)


def vote(rgb: np.ndarray) -> Vote:
    """Each member's probabilities and the ensemble's average for one ``(H, W, 3)`` uint8 image."""
    model, transform, names = classifier()
    if not outputs_probabilities(model):  # published ensemble weights of another kind
        raise DemoError("The ensemble model does not output probabilities.")
    t0 = time.perf_counter()
    x = transform(rgb).unsqueeze(0)
    with torch.inference_mode():
        per_member = model.member_probabilities(x)[:, 0].float()
        average = model(x)[0].float()
    latency = (time.perf_counter() - t0) * 1000
    return Vote(model.member_names, per_member, average, names, latency)
