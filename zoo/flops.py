"""Compute cost and published ImageNet accuracy of the registered architectures.

Multiply-accumulates are counted with ``torch.utils.flop_counter.FlopCounterMode`` (PyTorch's own
counter) on a meta-device model, so nothing is allocated: it counts the FLOPs of convolutions,
matrix products and attention (2 per multiply-add) and we report half of that as MACs, the unit
torchvision's ``_ops`` metadata and the papers' "FLOPs" tables use. Element-wise ops (BN, ReLU,
pooling) are not counted, as in those tables.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from zoo._registry import get_spec


@functools.cache
def count_macs(name: str, input_size: tuple[int, int, int] | None = None) -> int:
    """Multiply-accumulates of one forward pass of ``name`` on a 1×C×H×W input (its registered size).
    Cached: the registry does not change while a process runs."""
    from torch.utils.flop_counter import FlopCounterMode

    spec = get_spec(name)
    with torch.device("meta"):
        model = spec.builder().eval()
        x = torch.empty(1, *(input_size or spec.input_size))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2


# Top-5 accuracy from the course lecture's comparison table (week 10), as printed there.
LECTURE_TOP5 = {"alexnet": 84.70, "vgg16": 92.30, "googlenet": 93.30, "resnet152": 95.51}


def published_imagenet(name: str) -> dict[str, Any] | None:
    """ImageNet-1k top-1/top-5 published by torchvision for its original (IMAGENET1K_V1) weights of the
    same architecture (single 224 px centre crop), with the source; None when torchvision has none."""
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(name)
    except ValueError:
        return None
    weights = enum["IMAGENET1K_V1"] if "IMAGENET1K_V1" in enum.__members__ else enum.DEFAULT
    metrics = weights.meta["_metrics"]["ImageNet-1K"]
    return {"top1": metrics["acc@1"], "top5": metrics["acc@5"], "gmacs_published": weights.meta["_ops"],
            "source": f"torchvision {torchvision.__version__} {weights} metadata ({weights.meta['recipe']})"}


def comparison_rows() -> list[dict[str, Any]]:
    """The lecture's comparison for every ImageNet architecture: params, GMACs, published accuracy."""
    from zoo._registry import count_parameters, list_models

    rows = []
    for name in list_models(task="classification"):
        spec = get_spec(name)
        if spec.input_size[1:] not in ((224, 224), (227, 227)) or spec.family in ("ensemble",):
            continue
        pub = published_imagenet(name) or {}
        rows.append({"name": name, "params": count_parameters(spec), "gmacs": count_macs(name) / 1e9,
                     "top1": pub.get("top1"), "top5": pub.get("top5"), "lecture_top5": LECTURE_TOP5.get(name),
                     "source": pub.get("source", "-")})
    return rows
