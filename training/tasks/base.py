"""The task interface: what the one loop asks of a task, and the registry of tasks."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from training.recipes import Recipe


@dataclass
class Run:
    """One run, resolved: fresh (``ckpt`` None) or resumed from its run folder's checkpoint."""

    model: str
    data: str
    recipe: Recipe
    run_dir: Path
    seed: int = 0
    data_root: str | None = None
    device_request: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None
    freeze: bool = False
    train_limit: int | None = None
    test_limit: int | None = None
    ckpt: dict[str, Any] | None = None
    start_epoch: int = 0
    resumed: bool = False


@dataclass
class Prepared:
    """What a task builds for a run: the model (on the CPU, checked), the loaders and the config fields
    it adds to ``config.json`` (``class_names``, ``preprocessing``, data sizes, ...)."""

    net: nn.Module
    train_loader: Any
    eval_loader: Any
    config: dict[str, Any]


class Meter(Protocol):
    def update(self, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor | float) -> None: ...
    def compute(self) -> dict[str, Any]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Task(Protocol):
    """The task interface the loop calls, in the order it calls it."""

    name: str
    eval_split: str  # the split evaluated after epochs ("test", or "val" where a val split exists)
    mid_epoch_checkpoints: bool  # whether its train loader can resume part-way through an epoch, exactly

    def prepare(self, run: Run, dev: torch.device, channels_last: bool, rank: int, world: int) -> Prepared:
        """Load the data, build and check the model, make the loaders."""

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...

    def meter(self) -> Meter: ...

    def train_mode(self, train_net: nn.Module, net: nn.Module) -> None:
        """Put the model in training mode (frozen parts keep their BatchNorm statistics)."""

    def should_evaluate(self, epoch: int) -> bool:
        """Whether the epoch ``epoch`` (1-based) ends with an evaluation pass."""

    def evaluate(self, net: nn.Module, loader: Any, amp: contextlib.AbstractContextManager,
                 epoch: int) -> tuple[dict[str, Any], Any]:
        """One evaluation pass: the metrics row's evaluation fields and the pass (kept for ``finish``)."""

    def metrics_row(self, train: dict[str, Any]) -> dict[str, Any]:
        """The training fields of an epoch's ``metrics.jsonl`` row, from the training meter."""

    def finish(self, run: Run, net: nn.Module, last_pass: Any, dev: torch.device, evaluate: bool) -> None:
        """After the last epoch: figures, and (``evaluate``) the final evaluation artefacts."""


TASKS: dict[str, type] = {}


def register_task(cls: type) -> type:
    """Class decorator: make a task available under its ``name`` (a duplicate raises)."""
    if cls.name in TASKS:
        raise ValueError(f"task {cls.name!r} is registered twice")
    TASKS[cls.name] = cls
    return cls
