"""Published weights: what a weight is, and how ``pretrained=...`` finds and loads one."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from zoo._registry import ModelSpec, list_models


@dataclass(frozen=True)
class WeightSpec:
    """One published weight of a registered model (declared once, next to its builder)."""

    tag: str  # e.g. "cifar10", so the full id is "<model>.<tag>"
    dataset: str
    recipe: str  # the training recipe that reproduces it (a name in training.recipes)
    metrics: dict[str, float] = field(default_factory=dict)
    num_classes: int = 10
    class_names: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class WeightsNotFoundError(LookupError):
    """Raised when a model has no published weights, or the requested weights cannot be found."""


def load_pretrained(spec: ModelSpec, pretrained: bool | str, **kwargs: Any) -> nn.Module:
    """Build ``spec``'s model and load its published weights (see module docstring)."""
    if not spec.weights:
        have = list_models(pretrained=True)
        raise WeightsNotFoundError(
            f"{spec.name} has no published weights yet; models with weights: "
            f"{', '.join(have) if have else 'none yet (train one with `python -m training fit`)'}"
        )
    raise NotImplementedError("weight loading arrives with the weights lifecycle")
