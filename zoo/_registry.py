"""The one registry of cvzoo models.

Every architecture is declared once, with :func:`register_model` on its builder. Everything else
(``create_model``, ``list_models``, ``model_info``, ``hubconf.py``, the ``cvzoo`` CLI, the tests,
the training recipes and the demos) reads this registry; no model is listed anywhere else.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import inspect
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, default_preprocessing  # noqa: F401 (re-export)

# What a model's output is: class scores (N, K); per-pixel class scores (N, K, H, W); a boundary
# probability map at the input size (N, 1, H, W). training.tasks has one task module for each.
TASKS = ("classification", "segmentation", "edges")



@dataclass(frozen=True)
class ModelSpec:
    """Everything the registry knows about one architecture."""

    name: str
    builder: Callable[..., nn.Module]
    task: str
    input_size: tuple[int, int, int]  # (C, H, W) the architecture is designed for
    num_classes: int
    family: str
    paper: str
    preprocessing: Preprocessing
    description: str = ""
    weights: tuple[Any, ...] = field(default=())  # published weights (see zoo.weights)
    aliases: tuple[str, ...] = ()  # former names, still accepted with a FutureWarning

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.builder) or ""

    @property
    def module(self) -> str:
        """The module that defines the builder, e.g. ``"zoo.models.resnet"``."""
        return self.builder.__module__


_REGISTRY: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}  # former name -> registered name


def register_model(
    *,
    task: str,
    input_size: tuple[int, int, int],
    num_classes: int,
    family: str,
    paper: str,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    resize: int | None = None,
    description: str = "",
    weights: Sequence[Any] = (),
    aliases: Sequence[str] = (),
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Declare a builder as a registered model under the builder's own name.

    The builder must take keyword-only arguments (``num_classes``, ``in_chans``, ...).
    ``weights`` are its published weights (``zoo.weights.WeightSpec``), the default first.
    ``aliases`` are former names of the model: they still load, with a ``FutureWarning``.
    A name or alias that is taken already raises ``ValueError``.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    pre = default_preprocessing(input_size, mean, std, resize)

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = builder.__name__
        for taken in (name, *aliases):
            if taken in _REGISTRY or taken in _ALIASES:
                raise ValueError(f"model {taken!r} is registered twice")
        _ALIASES.update(dict.fromkeys(aliases, name))
        _REGISTRY[name] = ModelSpec(
            name=name,
            builder=builder,
            task=task,
            input_size=input_size,
            num_classes=num_classes,
            family=family,
            paper=paper,
            preprocessing=pre,
            description=description or (inspect.getdoc(builder) or "").split("\n")[0],
            weights=tuple(weights),
            aliases=tuple(aliases),
        )
        return builder

    return decorator


def _ensure_loaded() -> None:
    # Importing the model modules runs their @register_model decorators.
    from zoo import models  # noqa: F401


def list_models(pattern: str | None = None, *, task: str | None = None, pretrained: bool = False) -> list[str]:
    """Registered model names, sorted; optionally filtered by a glob ``pattern`` (``"resnet*"``),
    a ``task`` (``"classification"`` or ``"segmentation"``), or having published weights."""
    _ensure_loaded()
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
    names = sorted(_REGISTRY)
    if pattern:
        names = fnmatch.filter(names, pattern)
    if task:
        names = [n for n in names if _REGISTRY[n].task == task]
    if pretrained:
        names = [n for n in names if _REGISTRY[n].weights]
    return names


class UnknownModelError(KeyError):
    """Raised for a model name that is not registered; the message suggests close names."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


def _stacklevel_outside_zoo() -> int:
    """The ``stacklevel`` that makes a warning raised by this module's caller name the first line outside
    the ``zoo`` package (the user's ``create_model(...)``, not zoo's own call)."""
    package = str(Path(__file__).resolve().parent)
    frame, level = sys._getframe(2), 2
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def list_aliases() -> dict[str, str]:
    """Former model names and the registered name each stands for (``{"resnext_cifar": "resnext29_8x16d"}``)."""
    _ensure_loaded()
    return dict(sorted(_ALIASES.items()))


def canonical_name(name: str) -> str:
    """The registered name for ``name``: itself, or the model a former name (alias) stands for, silently.

    Unknown names are returned unchanged; :func:`get_spec` is the lookup that raises and warns.
    """
    _ensure_loaded()
    return _ALIASES.get(name, name)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registered model; unknown names raise with suggestions.

    A former name (see :func:`list_aliases`) gives the renamed model's spec with a ``FutureWarning``.
    """
    _ensure_loaded()
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    if name in _ALIASES:
        warnings.warn(f"model name {name!r} is deprecated: the model is registered as {_ALIASES[name]!r} (a name "
                      "that says what it is); the old name still works for now", FutureWarning,
                      stacklevel=_stacklevel_outside_zoo())
        name = _ALIASES[name]
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}.{hint} `cvzoo models` lists all {len(_REGISTRY)} models; "
            "any timm architecture is available as 'timm/<name>'."
        ) from None


def check_kwargs(spec: ModelSpec, kwargs: dict[str, Any]) -> None:
    """Raise a clear ``TypeError`` for keyword arguments the builder does not accept."""
    params = inspect.signature(spec.builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    bad = sorted(set(kwargs) - set(params))
    if bad:
        raise TypeError(
            f"{spec.name} does not accept {', '.join(map(repr, bad))}; "
            f"it accepts: {', '.join(params) or 'no arguments'}"
        )


def count_parameters(spec: ModelSpec, **kwargs: Any) -> int:
    """Number of parameters of the model built with ``kwargs``, without allocating memory."""
    if not kwargs:
        return _default_parameter_count(spec.name)
    with torch.device("meta"):
        model = spec.builder(**kwargs)
    return sum(p.numel() for p in model.parameters())


@functools.cache
def _default_parameter_count(name: str) -> int:
    with torch.device("meta"):
        model = _REGISTRY[name].builder()
    return sum(p.numel() for p in model.parameters())
