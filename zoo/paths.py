"""Where cvzoo finds its data sets and keeps its training runs, from the environment at call time.

Every package may import ``zoo``, so the two environment variables are read here and nowhere else
(``pblite``, which imports nothing of cvzoo's, reads ``CVZOO_DATA`` itself):

- ``CVZOO_DATA``: the data root (``mnist``, ``cifar10``, ``camvid``, ``pblite-hw0``, ``BSDS500`` ...);
  default ``shared/data`` beside the checkout (``<repo>/../shared/data``);
- ``CVZOO_RUNS``: the folder of training run folders; default ``runs`` in the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` when given, else ``$CVZOO_DATA``, else ``<repo>/../shared/data`` (may not exist)."""
    if root:
        return Path(root).expanduser()
    if env := os.environ.get("CVZOO_DATA"):
        return Path(env).expanduser()
    return (REPO_ROOT.parent / "shared" / "data").resolve()


def runs_root() -> Path:
    """The folder of training run folders: ``$CVZOO_RUNS``, else ``runs`` (relative to the working directory)."""
    return Path(os.environ.get("CVZOO_RUNS") or "runs").expanduser()
