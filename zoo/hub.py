"""torch.hub entrypoints: :func:`entrypoint` makes the function that ``hubconf.py`` exposes for a model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from zoo._registry import canonical_name, get_spec
from zoo.factory import create_model


def entrypoint(name: str) -> Callable[..., nn.Module]:
    """The torch.hub entrypoint of registered model ``name`` (or of a former name, which warns when called).

    The entrypoint is ``(pretrained=False, **kwargs) -> nn.Module``, as ``create_model(name, ...)``,
    with a docstring from the registry for ``torch.hub.help``. Nothing is built or downloaded here.
    Raises :class:`~zoo.UnknownModelError` for a name that is not registered.
    """
    spec = get_spec(canonical_name(name))

    def load(pretrained: bool | str = False, **kwargs: Any) -> nn.Module:
        return create_model(name, pretrained=pretrained, **kwargs)

    c, h, w = spec.input_size
    former = f"Former name of {spec.name}: use that name; this one still works, with a FutureWarning.\n\n"
    load.__name__ = load.__qualname__ = name
    load.__doc__ = (
        f"{former if name != spec.name else ''}{spec.doc}\n\n"
        f"Task: {spec.task}; input {c}x{h}x{w}; family {spec.family}; defined in {spec.module}.\n"
        f"Paper: {spec.paper}.\n\n"
        "Args:\n"
        "    pretrained: False (random init), True (default published weights) or a weight tag/path.\n"
        "    **kwargs: builder arguments, e.g. num_classes, in_chans."
    )
    return load
