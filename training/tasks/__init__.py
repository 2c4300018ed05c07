"""Tasks: what differs between training a classifier, a segmenter or an edge detector.

The one loop (:mod:`training.loop`) knows epochs, evaluation passes, checkpoints and resume; a
:class:`~training.tasks.base.Task` knows its data, model set-up, loss, metric meter, output check,
metrics row and final evaluation. A recipe's ``task`` picks it (:func:`get_task`). Adding a task
means one new module in this package whose class carries ``@register_task``: every module here is
imported when the package is.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil

import zoo
from training.edges.data import is_edge_data
from training.errors import ConfigError
from training.recipes import Recipe
from training.seg.data import is_segmentation_data
from training.tasks.base import TASKS, Meter, Prepared, Run, Task, register_task

__all__ = ["TASKS", "Meter", "Prepared", "Run", "Task", "get_task", "register_task", "task_name"]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def task_name(model: str | None, data: str | None) -> str:
    """The task a run of ``model`` on ``data`` needs when no recipe names one: the data set's, else
    the model's, else classification."""
    if is_segmentation_data(data):
        return "segmentation"
    if is_edge_data(data):
        return "edges"
    if model:
        with contextlib.suppress(KeyError):
            return zoo.get_spec(model).task
    return "classification"


def get_task(name: str, recipe: Recipe) -> Task:
    """A new task object of ``name`` for a run with ``recipe``."""
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}")
    return TASKS[name](recipe)
