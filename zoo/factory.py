"""``create_model`` and ``model_info``: the public face of the registry."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from torch import nn

from zoo._registry import ModelSpec, check_kwargs, count_parameters, get_spec, list_models

TIMM_PREFIX = "timm/"


def _create_timm(name: str, pretrained: bool | str, **kwargs: Any) -> nn.Module:
    import timm  # imported lazily: timm is only needed for timm/ names

    arch = name[len(TIMM_PREFIX) :]
    if arch not in timm.list_models():
        close = timm.list_models(f"*{arch}*")[:5]
        raise ValueError(f"timm has no architecture {arch!r}." + (f" Close: {', '.join(close)}" if close else ""))
    if pretrained:
        raise ValueError(
            f"pretrained weights for {name!r} would come from timm's own hub; cvzoo loads only its "
            f"registered weights. Use one of: {', '.join(list_models(pretrained=True)) or 'none yet'}"
        )
    return timm.create_model(arch, pretrained=False, **kwargs)


def create_model(name: str, pretrained: bool | str = False, **kwargs: Any) -> nn.Module:
    """Build a registered model by name.

    Args:
        name: a registered name (see ``list_models()``) or ``"timm/<timm architecture>"``.
        pretrained: ``False`` for random initialisation; ``True`` for the model's default
            published weights; a string for a specific weight tag, a local file/folder, or
            ``"torchvision"`` for torchvision's own ImageNet weights (see ``zoo.weights``).
        **kwargs: builder arguments such as ``num_classes`` or ``in_chans``.

    Raises:
        UnknownModelError: the name is not registered (the message suggests close names).
        TypeError: an argument the builder does not accept.
    """
    if isinstance(name, str) and name.startswith(TIMM_PREFIX):
        return _create_timm(name, pretrained, **kwargs)
    spec = get_spec(name)
    check_kwargs(spec, kwargs)
    if pretrained:
        from zoo.weights import load_pretrained

        return load_pretrained(spec, pretrained, **kwargs)
    return spec.builder(**kwargs)


def model_info(name: str, *, macs: bool = True) -> dict[str, Any]:
    """What the registry knows about a model, as plain data.

    Keys: name, module (the module that defines it), aliases (former names), task, family, paper,
    description, input_size (C, H, W), num_classes,
    num_params, macs (multiply-accumulates at input_size, see ``zoo.flops``), preprocessing
    (resize, crop, mean, std, interpolation, pad), weights (list of published weights with their
    metrics). ``macs=False`` skips the (meta-device) cost count, e.g. for long listings.
    """
    from zoo.flops import count_macs

    spec: ModelSpec = get_spec(name)
    return {
        "name": spec.name,
        "module": spec.module,
        "aliases": list(spec.aliases),
        "task": spec.task,
        "family": spec.family,
        "paper": spec.paper,
        "description": spec.description,
        "input_size": spec.input_size,
        "num_classes": spec.num_classes,
        "num_params": count_parameters(spec),
        "macs": count_macs(name) if macs else None,
        "preprocessing": asdict(spec.preprocessing),
        "weights": [w.as_dict() for w in spec.weights],
    }
