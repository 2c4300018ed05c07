"""An ensemble that averages its members' softmax probabilities (the course's 8-model
ensemble design). Members are registry names (``"resnet18_cifar"``), ``"timm/<arch>"`` names,
or ready ``nn.Module`` instances; ``weights`` gives each member's share (normalised to sum 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from zoo._registry import register_model
from zoo.models.resnet import CIFAR_MEAN, CIFAR_STD

DEFAULT_MEMBERS = ("cifar_cnn", "resnet18_cifar", "densenet_bc100_k12")


class Ensemble(nn.Module):
    """Input N×C×H×W (what every member takes), output N×num_classes probabilities (rows sum to 1)."""

    def __init__(self, members: Sequence[nn.Module], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if weights is None:
            weights = [1.0] * len(members)
        if len(weights) != len(members):
            raise ValueError(f"got {len(weights)} weights for {len(members)} members")
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"ensemble weights must be non-negative with a positive sum, got {list(weights)}")
        self.members = nn.ModuleList(members)
        total = float(sum(weights))
        self.register_buffer("weights", torch.tensor([w / total for w in weights]), persistent=False)

    def member_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """M×N×num_classes softmax probabilities, one slice per member."""
        return torch.stack([m(x).softmax(dim=1) for m in self.members])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("m,mnc->nc", self.weights, self.member_probabilities(x))


@register_model(task="classification", input_size=(3, 32, 32), num_classes=10, family="ensemble",
                paper="Course report DLCV HW1 (an 8-model soft-voting ensemble)", mean=CIFAR_MEAN, std=CIFAR_STD)
def ensemble(*, members: Sequence[str | nn.Module] = DEFAULT_MEMBERS, weights: Sequence[float] | None = None,
             num_classes: int | None = None) -> Ensemble:
    """Average of the members' softmax probabilities (outputs probabilities, not logits)."""
    from zoo.factory import create_model

    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    built = [m if isinstance(m, nn.Module) else create_model(m, **kwargs) for m in members]
    return Ensemble(built, weights)
