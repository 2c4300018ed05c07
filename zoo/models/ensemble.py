"""An ensemble that averages its members' softmax probabilities (the course's 8-model
ensemble design).

Each member applies its own preprocessing inside itself (:class:`Preprocessed`), so the ensemble
takes images scaled to [0, 1] and members trained with different normalisations still agree.
A member is named by

- a weight id, ``"<model>.<tag>"`` (``"cifar_speedrun.cifar10_seed1"``): that published weight,
  with the preprocessing it was trained with;
- a registry name (``"resnet18_cifar"``) or ``"timm/<arch>"``: a randomly initialised network,
  with the registry's preprocessing;
- or given as a ready ``nn.Module``, used as it is (it takes the ensemble's [0, 1] input).

``weights`` gives each member's share (normalised to sum 1). The published ensemble
(``create_model("ensemble", pretrained=True)``) is :data:`TRAINED_MEMBERS`, three seeds of the
CPU speed run, declared here before the ensemble was scored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
from torch import nn

from zoo._registry import register_model
from zoo.classes import CIFAR10_CLASSES
from zoo.preprocessing import Preprocessing
from zoo.weights import WeightsIntegrityError, WeightSpec

# The published ensemble's members (weight ids), fixed before it was scored; DEFAULT_MEMBERS are
# their architectures, what ``create_model("ensemble")`` builds untrained.
TRAINED_MEMBERS = ("cifar_speedrun.cifar10", "cifar_speedrun.cifar10_seed1", "cifar_speedrun.cifar10_seed2")
DEFAULT_MEMBERS = tuple(m.split(".")[0] for m in TRAINED_MEMBERS)
# The ensemble's own input: 32×32 RGB scaled to [0, 1]; each member normalises it its own way.
UNIT_INPUT = Preprocessing(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), resize=32, crop=(32, 32))


class Preprocessed(nn.Module):
    """A network behind its own preprocessing. Input N×C×H×W floats in [0, 1], output the network's
    N×num_classes logits; ``name`` says which network (a weight id or registry name)."""

    def __init__(self, model: nn.Module, preprocessing: Preprocessing, name: str = "") -> None:
        super().__init__()
        self.model = model
        self.preprocessing = preprocessing
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.preprocessing.apply(x))


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

    @property
    def member_names(self) -> list[str]:
        """Each member's weight id or registry name (``member i`` for a module given without one)."""
        return [getattr(m, "name", "") or f"member {i + 1}" for i, m in enumerate(self.members)]

    def member_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """M×N×num_classes softmax probabilities, one slice per member."""
        probs = [m(x).softmax(dim=1) for m in self.members]
        if len({p.shape[1] for p in probs}) > 1:
            counts = ", ".join(f"{n}: {p.shape[1]}" for n, p in zip(self.member_names, probs, strict=True))
            raise ValueError(f"ensemble members predict different numbers of classes ({counts}); "
                             "every member must predict the same classes")
        return torch.stack(probs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("m,mnc->nc", self.weights, self.member_probabilities(x))


def build_member(member: str, **kwargs: object) -> Preprocessed:
    """One member by name: a weight id ``"<model>.<tag>"`` (trained) or a registry/timm name (untrained)."""
    from zoo.factory import TIMM_PREFIX, create_model
    from zoo.weights import get_preprocessing, weight_config

    if "." in member and not member.startswith(TIMM_PREFIX):
        name, tag = member.split(".", 1)
        model = create_model(name, pretrained=tag, **kwargs)
        return Preprocessed(model, Preprocessing.from_dict(weight_config(name, tag)["preprocessing"]), member)
    model = create_model(member, **kwargs)
    pre = get_preprocessing(member) if not member.startswith(TIMM_PREFIX) else UNIT_INPUT
    return Preprocessed(model, pre, member)


def members_sha256(members: Sequence[str]) -> str:
    """One hash of the members' declared weight files (sha256 of their sha256s, in order)."""
    from zoo._registry import get_spec
    from zoo.weights import find_weight

    hashes = [find_weight(get_spec(m.split(".")[0]), m.split(".", 1)[1]).sha256 for m in members]
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def _load_trained(_untrained: nn.Module, sha256: str) -> Ensemble:
    """The published ensemble: :data:`TRAINED_MEMBERS`, each loaded (and sha256-checked) from its own folder."""
    if members_sha256(TRAINED_MEMBERS) != sha256:
        raise WeightsIntegrityError("the ensemble's declared sha256 does not match its members' weights: a "
                                    "member was retrained or replaced; score the ensemble again and declare it")
    return Ensemble([build_member(m) for m in TRAINED_MEMBERS])


CIFAR10_WEIGHT = WeightSpec(
    tag="cifar10", dataset="cifar10", recipe="speedrun_cifar10",
    metrics={"test_accuracy": 0.9427},  # `python -m training ensemble`: members 0.9340, 0.9341, 0.9325
    sha256="60ffc50f15e36e1eaee11ebb6ef2f80396b75b5d358734e369e82fd02d86d35e",  # members_sha256(TRAINED_MEMBERS)
    class_names=CIFAR10_CLASSES, preprocessing=UNIT_INPUT, loader=_load_trained,
    config={"members": list(TRAINED_MEMBERS)},
)


@register_model(task="classification", input_size=(3, 32, 32), num_classes=10, family="ensemble",
                paper="Course report DLCV HW1 (an 8-model soft-voting ensemble)", mean=UNIT_INPUT.mean,
                std=UNIT_INPUT.std, resize=32, weights=[CIFAR10_WEIGHT])
def ensemble(*, members: Sequence[str | nn.Module] = DEFAULT_MEMBERS, weights: Sequence[float] | None = None,
             num_classes: int | None = None) -> Ensemble:
    """Average of the members' softmax probabilities (outputs probabilities, not logits); input in [0, 1]."""
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    named = [m for m in members if isinstance(m, str)]
    counts = {m: _declared_classes(m, num_classes) for m in named}
    if len(set(counts.values()) - {None}) > 1:
        raise ValueError("ensemble members predict different numbers of classes ("
                         + ", ".join(f"{m}: {c}" for m, c in counts.items()) + "); pick members of one task")
    built = [m if isinstance(m, nn.Module) else build_member(m, **kwargs) for m in members]
    return Ensemble(built, weights)


def _declared_classes(member: str, num_classes: int | None) -> int | None:
    """How many classes a named member predicts, as the registry declares it (``None``: timm, unknown)."""
    from zoo._registry import get_spec
    from zoo.factory import TIMM_PREFIX
    from zoo.weights import find_weight

    if member.startswith(TIMM_PREFIX):
        return num_classes
    name, _, tag = member.partition(".")
    spec = get_spec(name)
    if tag:
        return len(find_weight(spec, tag).class_names) or spec.num_classes
    return num_classes or spec.num_classes
