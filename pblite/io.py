"""Image loading and input normalisation for pb-lite, with explicit limits and clear errors.

Everything becomes an ``(H, W, 3)`` uint8 RGB array:

* grey ``(H, W)`` or ``(H, W, 1)``: the value is copied to the three channels;
* RGBA ``(H, W, 4)`` / PIL modes with alpha: the alpha channel is dropped (not composited);
* 16-bit (uint16): scaled to 8 bits with ``round(v / 257)``;
* float: must be finite and is taken as [0, 1] (values outside are clipped); NaN or inf is an error;
* bool: False -> 0, True -> 255;
* files: EXIF orientation applied, palette/CMYK/LA/I;16 modes converted as above.

Limits (module constants, documented in ``pblite/README.md``):

* ``MIN_SIDE`` = 16 pixels: smaller images (e.g. 0x0, 1x1) raise ``ValueError``; the largest
  half-disc and filters need room.
* ``MAX_PIXELS`` = 50 megapixels: larger images raise ``ValueError`` before any pixel is
  decoded (a guard against decompression bombs and accidental 10000x10000 inputs).
* Between those, :func:`pblite.detect` works on a copy whose longest side is at most
  ``PbConfig.max_side`` (1024 by default, ``cv2.INTER_AREA``) and returns ``pb`` at the
  input's size.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["MAX_PIXELS", "MIN_SIDE", "ImageError", "check_size", "load_image", "to_rgb_u8"]

MIN_SIDE = 16
MAX_PIXELS = 50_000_000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class ImageError(ValueError):
    """An input that is not a usable image (wrong type, shape, size or values)."""


def check_size(h: int, w: int) -> None:
    """Raise :class:`ImageError` unless ``MIN_SIDE <= h, w`` and ``h * w <= MAX_PIXELS``."""
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ImageError(f"image is {w}x{h} pixels; pb-lite needs at least {MIN_SIDE}x{MIN_SIDE}")
    if h * w > MAX_PIXELS:
        raise ImageError(
            f"image is {w}x{h} = {h * w / 1e6:.1f} megapixels, above the {MAX_PIXELS / 1e6:.0f} MP limit; "
            "downscale it first"
        )


def to_rgb_u8(image: np.ndarray, notes: list[str] | None = None) -> np.ndarray:
    """Convert an array to ``(H, W, 3)`` uint8 RGB (see the module docstring); conversions are
    appended to ``notes`` as short sentences."""
    notes = notes if notes is not None else []
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected a numpy array, got {type(image).__name__}")
    a = image
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageError(f"expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array, got shape {a.shape}")
    check_size(a.shape[0], a.shape[1])
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
        notes.append("alpha channel dropped")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
        notes.append("boolean image mapped to 0/255")
    elif a.dtype == np.uint16:
        a = np.round(a.astype(np.float32) / 257.0).astype(np.uint8)
        notes.append("16-bit image scaled to 8 bits")
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageError("float image contains NaN or infinite values")
        if a.min() < 0 or a.max() > 1:
            notes.append("float values outside [0, 1] clipped")
        a = np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)
        notes.append("float image in [0, 1] scaled to 8 bits")
    elif a.dtype != np.uint8:
        raise ImageError(f"unsupported dtype {a.dtype}; use uint8, uint16, bool or float in [0, 1]")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
        notes.append("grey image copied to 3 channels")
    return np.ascontiguousarray(a)


def load_image(path: str | Path, notes: list[str] | None = None) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB, refusing files that are not images or too large."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            w, h = im.size
            check_size(h, w)
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im)
                arr = np.clip(arr, 0, 65535).astype(np.uint16)
            elif im.mode in ("RGB", "L", "RGBA"):
                arr = np.asarray(im)
            else:
                if notes is not None:
                    notes.append(f"mode {im.mode} converted to RGB")
                arr = np.asarray(im.convert("RGBA" if "A" in im.mode or im.mode == "P" else "RGB"))
    except UnidentifiedImageError as e:
        raise ImageError(f"{path}: not an image file PIL can read") from e
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: refused, too many pixels ({e})") from e
    except OSError as e:
        raise ImageError(f"{path}: cannot read image ({e})") from e
    return to_rgb_u8(arr, notes)


# Writers: a file appears whole or not at all, also when several processes write the same cache entry
# (each writes its own uniquely named temp file; the last rename wins). pb-lite keeps its own copy of
# zoo.weights.atomic_write so that it stays independent of the zoo package.


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(f)`` on a new temp file beside ``path``, fsync it and rename it over ``path``; on any
    error the temp file is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz``."""
    atomic_write(path, lambda f: np.savez(f, **arrays))


def save_json(obj: dict[str, Any], path: str | Path) -> None:
    """Write ``obj`` as indented JSON."""
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=1).encode()))


def save_png(path: str | Path, image: np.ndarray) -> None:
    """Write a uint8 image, ``(H, W)`` grey or ``(H, W, 3)`` RGB, as a PNG."""
    import cv2

    ok, buf = cv2.imencode(".png", image[:, :, ::-1] if image.ndim == 3 else image)
    if not ok:
        raise OSError(f"could not encode {path} ({image.shape}, {image.dtype})")
    atomic_write(path, lambda f: f.write(buf.tobytes()))
