"""The artefact schema: one reader for run folders and weights folders, with no torch in it.

Both folders hold a ``config.json`` in one schema, ``config_version`` :data:`CONFIG_VERSION`:

- ``model`` (registry name), ``model_kwargs``, ``class_names`` (output order) and
  ``preprocessing`` (``zoo.preprocessing.Preprocessing.to_dict()``), in both;
- a run folder adds the recipe, data, seed, device and versions (written by ``training``); a
  weights folder adds ``tag``, ``sha256``, ``metrics`` and the training record (``training export``).

Version 1 said ``preprocess``/``classes`` in run folders and ``preprocessing`` in another form in
weights folders; :func:`migrate_config` reads both, so every reader here gets version 2.

A run folder's ``metrics.jsonl`` has one JSON object an epoch; :func:`read_metrics` is its one
reader (training's resume, ``evaluate``'s curves, the dashboard).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CONFIG_VERSION = 2
CONFIG, METRICS = "config.json", "metrics.jsonl"


class ArtifactError(ValueError):
    """A run or weights folder whose files are missing or cannot be read; the message says which."""


def migrate_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` in the current schema (a new dict); a version-2 config comes back unchanged."""
    from zoo.preprocessing import Preprocessing

    out = dict(config)
    if "classes" in out and "class_names" not in out:
        out["class_names"] = out.pop("classes")
    pre = out.pop("preprocess", None) or out.get("preprocessing")
    if pre:
        out["preprocessing"] = Preprocessing.from_dict(pre).to_dict()
    out["config_version"] = CONFIG_VERSION
    return out


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON object from ``path``; a missing or broken file raises :class:`ArtifactError` naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{path} cannot be read as JSON ({err})") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path} holds a {type(data).__name__}, not a JSON object")
    return data


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """The ``config.json`` of a run or weights folder, in the current schema."""
    if not (Path(folder) / CONFIG).is_file():
        raise ArtifactError(f"{folder} is not a run or weights folder (no {CONFIG})")
    return migrate_config(read_json(Path(folder) / CONFIG))


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a run folder's ``metrics.jsonl``, in order ([] when there is none). A last line
    that does not parse is a row being written and is left out; a broken line before it raises."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise ArtifactError(f"{path}, line {i + 1}, is not JSON; the file is damaged") from None
    return rows


def is_run_folder(folder: str | os.PathLike) -> bool:
    return (Path(folder) / CONFIG).is_file() and (Path(folder) / METRICS).is_file()


def find_runs(root: str | os.PathLike, depth: int = 2) -> list[str]:
    """Run folders (a ``config.json`` and a ``metrics.jsonl``) under ``root``, up to ``depth`` levels, sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = set()
    for level in range(depth + 1):
        for cfg in root.glob("/".join(["*"] * level + [CONFIG])):
            if is_run_folder(cfg.parent):
                found.add(str(cfg.parent))
    return sorted(found)
