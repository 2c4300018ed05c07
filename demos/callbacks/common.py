"""What every demo callback shares: limits, the image input, the model cache, examples, temp files.

No UI library is imported here (the Gradio and Streamlit files wrap these functions).
Models are loaded once per process and cached by name (a string key; torch objects are never
hashed); nothing here touches the network: weights come from the package, ``$CVZOO_WEIGHTS``
or the local Hugging Face cache, through ``zoo.create_model(name, pretrained=True)``.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

import zoo
from zoo import paths
from zoo.imageio import ImageLoadError, load_image

REPO = Path(__file__).resolve().parents[2]

# Explicit limits (the Gradio app passes the byte limit to `max_file_size`).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # 20 MB per upload
MAX_IMAGE_PIXELS = 40_000_000  # 40 megapixels, checked from the header before decoding


class DemoError(ValueError):
    """A problem to show the user as a message (bad input, no trained model, ...)."""


def data_root() -> Path:
    """``$CVZOO_DATA``, else ``<repo>/../shared/data`` (the course data sets; may be absent): ``zoo.paths``."""
    return paths.data_root()


def runs_root() -> Path:
    """``$CVZOO_RUNS``, else ``./runs`` (where ``python -m training fit`` writes run folders): ``zoo.paths``."""
    return paths.runs_root()


def read_image(source: Any, notes: list[str] | None = None) -> np.ndarray:
    """Any upload (path, bytes, PIL image, array, or a Gradio ``ImageEditor`` dict) -> ``(H, W, 3)`` uint8.

    Raises :class:`DemoError` with a message for the user (no image, not an image, too big, ...).
    """
    if isinstance(source, dict):  # gr.ImageEditor / gr.Sketchpad value
        source = source.get("composite") if source.get("composite") is not None else source.get("background")
    if source is None:
        raise DemoError("No image: upload one or pick an example first.")
    try:
        return load_image(source, max_pixels=MAX_IMAGE_PIXELS, max_bytes=MAX_UPLOAD_BYTES, notes=notes)
    except ImageLoadError as exc:
        raise DemoError(str(exc)[0].upper() + str(exc)[1:]) from None


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

_LOCK = threading.RLock()  # re-entrant: a model built from other cached models may load them first
_MODELS: dict[str, nn.Module] = {}


class Classifier(NamedTuple):
    """What classifying with one model needs: the model (eval mode), its input transform (``(H, W, 3)``
    uint8 -> ``(C, h, w)`` float tensor) and its class names in output order."""

    model: nn.Module
    transform: Callable[[np.ndarray], torch.Tensor]
    names: tuple[str, ...]


def pretrained_models(task: str, channels: int | None = None) -> list[str]:
    """Registered models of ``task`` that have published weights (optionally by input channels)."""
    names = zoo.list_models(task=task, pretrained=True)
    if channels is not None:
        names = [n for n in names if zoo.get_spec(n).input_size[0] == channels]
    return names


def load_published(name: str) -> nn.Module:
    """Model ``name`` with its published weights; a ``DemoError`` saying why when they cannot be loaded."""
    try:
        return zoo.create_model(name, pretrained=True)
    except (LookupError, ValueError, ImportError) as exc:
        raise DemoError(f"Cannot load {name}'s weights: {exc}") from None


def get_model(name: str, build: Callable[[], nn.Module] | None = None) -> nn.Module:
    """The model called ``name`` in eval mode with frozen weights, made once per process: by ``build()``
    when given (a model the demos assemble, such as the ensemble), else from its published weights."""
    model = _MODELS.get(name)
    if model is None:
        with _LOCK:
            model = _MODELS.get(name)
            if model is None:
                model = (build() if build is not None else load_published(name)).eval()
                for p in model.parameters():
                    p.requires_grad_(False)
                _MODELS[name] = model
    return model


@lru_cache(maxsize=64)
def get_transform(name: str) -> Callable[[np.ndarray], torch.Tensor]:
    """The weight's own input transform (``zoo.get_transform``)."""
    return zoo.get_transform(name)


@lru_cache(maxsize=64)
def class_names(name: str) -> tuple[str, ...]:
    """The weight's class names in output order (``0``, ``1``, ... when it has none)."""
    names = tuple(zoo.get_class_names(name))
    return names or tuple(str(i) for i in range(zoo.get_spec(name).num_classes))


def classifier(name: str) -> Classifier:
    """Model ``name`` with its published weights, transform and class names."""
    return Classifier(get_model(name), get_transform(name), class_names(name))


def clear_model_cache() -> None:
    """Forget every loaded model (tests; a long-running app never needs it)."""
    with _LOCK:
        _MODELS.clear()
    get_transform.cache_clear()
    class_names.cache_clear()


# --------------------------------------------------------------------------------------------
# Examples and files
# --------------------------------------------------------------------------------------------

# scikit-image's bundled sample photos (public domain or CC0/CC-BY; see skimage.data's docstrings),
# available offline with the package.
SKIMAGE_EXAMPLES = ("chelsea", "coffee", "astronaut", "rocket", "camera", "coins")


@lru_cache(maxsize=1)
def example_images() -> tuple[str, ...]:
    """Paths of example images: scikit-image's samples (written once as PNGs to a cache folder)
    and the pb-lite course images under ``<data root>/pblite-hw0/Images`` when present."""
    from PIL import Image

    out: list[str] = []
    folder = Path(tempfile.gettempdir()) / "cvzoo-demo-examples"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import skimage.data
    except ImportError:  # the `demo` extra installs scikit-image; without it: course images only
        skimage = None
    if skimage is not None:
        for name in SKIMAGE_EXAMPLES:
            path = folder / f"{name}.png"
            if not path.is_file():
                tmp = folder / f".{name}.{uuid.uuid4().hex}.png"
                Image.fromarray(getattr(skimage.data, name)()).save(tmp)
                os.replace(tmp, path)
            out.append(str(path))
    hw0 = data_root() / "pblite-hw0" / "Images"
    if hw0.is_dir():
        out += sorted((str(p) for p in hw0.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")),
                      key=lambda s: (len(Path(s).stem), s))
    return tuple(out)


def output_dir() -> Path:
    """A per-process folder for files offered for download; files older than an hour are removed."""
    folder = Path(tempfile.gettempdir()) / f"cvzoo-demo-out-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - 3600
    for p in folder.iterdir():
        try:
            if p.stat().st_mtime < cutoff:
                p.unlink()
        except OSError:
            pass
    return folder


def to_u8(x: np.ndarray) -> np.ndarray:
    """A float map in [0, 1] (or any range, rescaled) as a uint8 grey image."""
    x = np.asarray(x, dtype=np.float32)
    lo, hi = float(x.min(initial=0.0)), float(x.max(initial=0.0))
    if lo < 0 or hi > 1:
        x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


def fit_size(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale (area) so the longer side is at most ``max_side``; smaller images are unchanged."""
    import cv2

    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    f = max_side / max(h, w)
    return cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
