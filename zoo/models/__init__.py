"""Architectures, one module per family. Importing this package imports every module in it, which
registers their ``@register_model`` builders: a new model is one new file here, nothing else to edit."""

from __future__ import annotations

import importlib
import pkgutil


def import_all() -> list[str]:
    """Import every module of this package (on all of ``__path__``); return their names, sorted.

    Importing a module runs its ``@register_model`` decorators; a module imported before is not run again.
    """
    names = sorted(info.name for info in pkgutil.iter_modules(__path__))
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names


import_all()
