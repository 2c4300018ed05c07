"""The run folder: one writer and one reader for each file in it.

```
RUN_DIR/
  config.json      model, model_kwargs, class_names, preprocessing, recipe (name and fields), data, seed,
                   versions (the schema of zoo.artifacts, shared with weights folders)
  metrics.jsonl    one JSON object per epoch (epoch, train_loss, train_acc, test_loss, test_acc, lr, time_s, ...)
  checkpoint.pt    the last epoch: model, optimizer, scheduler, ema, epoch, RNG states (weights_only-loadable)
  eval/<split>/    evaluation artefacts (see training.evaluate)
```
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zoo import artifacts
from zoo.artifacts import CONFIG, CONFIG_VERSION, METRICS, read_metrics
from zoo.weights import atomic_write, atomic_write_bytes

CHECKPOINT = "checkpoint.pt"
__all__ = ["CHECKPOINT", "CONFIG", "METRICS", "read_metrics"]


def versions() -> dict[str, str]:
    import torchvision

    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "python": platform.python_version(),
            "run_format": str(CONFIG_VERSION)}


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    """``config.json`` in the schema of :mod:`zoo.artifacts` (``class_names``, ``preprocessing``)."""
    write_json(Path(run_dir) / CONFIG, {**config, "config_version": CONFIG_VERSION, "versions": versions()})


# Artefact writers: each file appears whole or not at all (zoo.weights.atomic_write), so a run folder
# that a crash or Ctrl-C interrupts never holds a half-written metrics.json, table or figure.


def write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_csv(path: str | os.PathLike, header: str, rows: Iterable[Iterable[Any]]) -> None:
    """``header`` (comma-separated names) and one line per row; floats with 4 decimals."""
    lines = [header] + [",".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) for row in rows]
    write_text(path, "\n".join(lines) + "\n")


def save_npy(path: str | os.PathLike, array: Any) -> None:
    atomic_write(path, lambda f: np.save(f, array))


def save_npz(path: str | os.PathLike, compressed: bool = False, **arrays: np.ndarray) -> None:
    """``np.savez`` (or ``savez_compressed``) of ``arrays``."""
    atomic_write(path, lambda f: (np.savez_compressed if compressed else np.savez)(f, **arrays))


def save_figure(fig: Any, path: str | os.PathLike, **kwargs: Any) -> None:
    """A matplotlib figure, in the format of ``path``'s suffix (``savefig`` keywords pass through)."""
    atomic_write(path, lambda f: fig.savefig(f, format=Path(path).suffix[1:], **kwargs))


def save_html(fig: Any, path: str | os.PathLike) -> None:
    """A plotly figure as one self-contained HTML page (plotly.js inlined, works offline)."""
    write_text(path, fig.to_html(include_plotlyjs=True, full_html=True))


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """A run folder's ``config.json`` in the current schema (older run folders are migrated as read)."""
    return artifacts.read_config(run_dir)


def append_metrics(run_dir: Path, row: dict[str, Any]) -> None:
    with open(Path(run_dir) / METRICS, "a") as f:
        f.write(json.dumps(row) + "\n")


def truncate_metrics(run_dir: Path, epochs: int) -> None:
    """Keep the first ``epochs`` rows (a resumed run rewrites the epochs after its checkpoint)."""
    rows = [r for r in read_metrics(run_dir) if r.get("epoch", 0) <= epochs]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    atomic_write(Path(run_dir) / METRICS, lambda f: f.write(text.encode()))


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """Write ``checkpoint.pt`` atomically (temp file, fsync, rename)."""
    atomic_write(Path(run_dir) / CHECKPOINT, lambda f: torch.save(state, f))


def load_checkpoint(run_dir: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint in {run_dir}")
    return torch.load(path, map_location=map_location, weights_only=True)


def unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return getattr(model, "module", model)  # DistributedDataParallel


def load_run(run_dir: str | os.PathLike, *, ema: bool = True, map_location: str | torch.device = "cpu") -> nn.Module:
    """The trained model of a run folder, in eval mode (its EMA weights when the recipe kept an EMA).

    ``model.cvzoo`` holds the run's config (classes, preprocessing) for callers that need it.
    """
    import zoo

    config = read_config(run_dir)
    model = zoo.create_model(config["model"], **config.get("model_kwargs", {}))
    state = load_checkpoint(run_dir, map_location)
    weights = state["ema"] if ema and state.get("ema") else state["model"]
    model.load_state_dict(weights)
    model.cvzoo = config
    return model.eval()
