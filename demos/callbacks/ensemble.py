"""The CIFAR-10 ensemble of the Classify tab and the Lab's *Ensemble* view.

Its members are the CIFAR-10 classifiers with weights (3x32x32 input, 10 classes). Unless the
registry's ``ensemble`` has published weights of its own, the demos assemble
:class:`zoo.models.ensemble.Ensemble` from them (equal weights, the average of the members'
softmax probabilities); it then takes its first member's input transform (32x32, CIFAR-10
mean/std) and class names. Everything else about classifying is in :mod:`demos.callbacks.classify`.
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

    ``labels``: one a member (its registry name, ``member i`` when unknown); ``members``: ``(M, C)``
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


def is_published() -> bool:
    """True when the registry's ``ensemble`` has weights of its own (then it is loaded, not assembled)."""
    return NAME in zoo.list_models(pretrained=True)


def is_offered() -> bool:
    """True when the Classify tab offers the ensemble: it is published or has at least two members."""
    return is_published() or len(members()) >= 2


def outputs_probabilities(model: nn.Module) -> bool:
    """True for a model whose output is already probabilities (the soft-voting ensemble), not logits."""
    from zoo.models.ensemble import Ensemble

    return isinstance(model, Ensemble)


def classifier() -> Classifier:
    """The ensemble (published, else assembled from :func:`members`), its transform and class names.

    Raises :class:`DemoError` when there are fewer than two members to assemble.
    """
    if is_published():
        return common.classifier(NAME)
    names = members()
    if len(names) < 2:
        raise DemoError("The ensemble needs at least two trained CIFAR-10 models; there "
                        f"{'is' if len(names) == 1 else 'are'} {len(names)}"
                        f"{' (' + ', '.join(names) + ')' if names else ''}. Train more with "
                        "`python -m training fit cifar_cnn --data cifar10`.")
    from zoo.models.ensemble import Ensemble

    nets = [common.get_model(n) for n in names]  # each loaded (and cached) on its own first
    model = common.get_model(NAME, build=lambda: Ensemble(nets))
    return Classifier(model, common.get_transform(names[0]), common.class_names(names[0]))


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
    known = members()
    labels = known if len(known) == len(per_member) else [f"member {i + 1}" for i in range(len(per_member))]
    return Vote(labels, per_member, average, names, latency)
