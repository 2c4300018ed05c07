"""The one image loader of cvzoo: any image source -> ``(H, W, 3)`` uint8 RGB, or a clear error.

``load_image(source)`` accepts a path (``str``/``Path``), raw file bytes, a binary file object, a
``PIL.Image.Image`` or a numpy array, and always returns a C-contiguous ``(H, W, 3)`` uint8 RGB
array (a writable copy; the caller's array is never returned).  What it does, in order:

1. **Byte limit** (files, bytes, file objects): more than ``max_bytes`` is refused before reading
   (default :data:`DEFAULT_MAX_BYTES`, 25 MB).  0 bytes is refused.
2. **Pixel limit**: the header's width × height is checked *before any pixel is decoded*; more
   than ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS`, 40 megapixels: a 10000×10000
   image is refused) raises.  PIL's own decompression-bomb guard
   (``Image.DecompressionBombError``) becomes the same clear error.
3. **EXIF orientation** is applied (phone photos arrive the right way up).
4. **Animations** (GIF, APNG, WebP, multi-page TIFF): the first frame, with a note.
5. **Modes**: ``RGB`` as is; ``L``/``1``/``I;16*``/``I``/``F`` grey copied to 3 channels
   (16-bit scaled with ``round(v / 257)``; 32-bit float taken as [0, 1] when its maximum is at
   most 1, else as 0..255); ``P`` (palette), ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` converted to RGB;
   anything with alpha (``RGBA``, ``LA``, ``PA``, ``P`` with transparency) composited on white.
6. **Arrays**: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` of uint8, uint16 (/257), bool
   (0/255) or float in [0, 1] (NaN/inf refused); 4 channels are composited on white.

Every failure raises :class:`ImageLoadError` (a ``ValueError``) whose message says what was
wrong and what to do; truncated or corrupt files never decode partially (``LOAD_TRUNCATED_IMAGES``
is left off).  Conversions worth telling a user about are appended to ``notes`` when a list is
given (``"animated image: using frame 1 of 12"``).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "ImageLoadError",
    "load_image",
    "to_rgb_u8",
]

DEFAULT_MAX_BYTES = 25 * 1024 * 1024  # 25 MB: larger than any phone photo, smaller than a RAW/TIFF scan
DEFAULT_MAX_PIXELS = 40_000_000  # 40 megapixels (a 48 MP phone's binned 12 MP photos pass; 10000x10000 does not)

_FORMATS_HINT = "PNG, JPEG, WebP, GIF, BMP or TIFF"


class ImageLoadError(ValueError):
    """An input that cannot be used as an image; the message says why and what to do."""


def _mp(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} MP"


def _check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"the image is empty ({width}x{height} pixels); use an image with at least one pixel")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageLoadError(
            f"the image is {width}x{height} = {_mp(width * height)}, above the limit of {_mp(max_pixels)}; "
            "downscale it (for example to 4000 pixels on the long side) and try again"
        )


def _check_bytes(n: int, max_bytes: int | None, what: str) -> None:
    if n == 0:
        raise ImageLoadError(f"{what} is empty (0 bytes); choose an image file ({_FORMATS_HINT})")
    if max_bytes is not None and n > max_bytes:
        raise ImageLoadError(
            f"{what} is {n / 1e6:.1f} MB, above the limit of {max_bytes / 1e6:.1f} MB; "
            "save it as a smaller JPEG or PNG and try again"
        )


def _composite_on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Blend ``rgb`` (H, W, 3) over a white background with ``alpha`` (H, W) in 0..255."""
    a = alpha.astype(np.float32)[..., None] / 255.0
    out = rgb.astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def to_rgb_u8(array: np.ndarray, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
              notes: list[str] | None = None) -> np.ndarray:
    """An array (see the module docstring, step 6) as a C-contiguous ``(H, W, 3)`` uint8 RGB copy."""
    if not isinstance(array, np.ndarray):
        raise ImageLoadError(f"expected a numpy array, got {type(array).__name__}")
    a = array
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageLoadError(
            f"expected an image array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {a.shape}"
        )
    _check_pixels(a.shape[1], a.shape[0], max_pixels)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = np.round(a.astype(np.float32) / 257.0).astype(np.uint8)
        if notes is not None:
            notes.append("16-bit image scaled to 8 bits")
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageLoadError("the image array contains NaN or infinite values; give values in [0, 1]")
        a = np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ImageLoadError(f"unsupported pixel type {a.dtype}; use uint8, uint16, bool or float in [0, 1]")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[:, :, 3]
        a = a[:, :, :3] if bool((alpha == 255).all()) else _composite_on_white(a[:, :, :3], alpha)
    a = np.ascontiguousarray(a)
    return a if a.flags.writeable and a is not array else a.copy()


def _pil_to_array(im: Any, notes: list[str] | None) -> np.ndarray:
    """A decoded PIL image (any mode) -> ``(H, W, 3)`` uint8 (or ``(H, W)`` grey)."""
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im)
    if mode in ("L", "1"):
        return np.asarray(im.convert("L"))
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im).astype(np.int64)
        if notes is not None:
            notes.append("16-bit image scaled to 8 bits")
        return np.round(np.clip(arr, 0, 65535) / 257.0).astype(np.uint8)
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise ImageLoadError("the image holds NaN or infinite values; save it as an 8-bit PNG or JPEG")
        scale = 255.0 if arr.max(initial=0.0) <= 1.0 else 1.0
        return np.round(np.clip(arr * scale, 0, 255)).astype(np.uint8)
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = np.asarray(im.convert("RGBA"))
        return _composite_on_white(rgba[:, :, :3], rgba[:, :, 3])
    if mode == "CMYK" and notes is not None:
        notes.append("CMYK image converted to RGB")
    return np.asarray(im.convert("RGB"))


def _open(source: Any, max_bytes: int | None) -> tuple[IO[bytes], str]:
    """A readable binary stream for a path, bytes or file object, with its byte limit checked."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(f"{path}: no such file; check the path")
        _check_bytes(path.stat().st_size, max_bytes, f"the file {path.name}")
        return io.BytesIO(path.read_bytes()), f"the file {path.name}"
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        _check_bytes(len(data), max_bytes, "the upload")
        return io.BytesIO(data), "the upload"
    if hasattr(source, "read"):
        data = source.read(max_bytes + 1 if max_bytes is not None else -1)
        _check_bytes(len(data), max_bytes, "the upload")
        return io.BytesIO(data), getattr(source, "name", "the upload")
    raise ImageLoadError(
        f"cannot read an image from a {type(source).__name__}; give a path, bytes, a PIL image or a numpy array"
    )


def load_image(source: str | os.PathLike | bytes | IO[bytes] | Any, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               max_bytes: int | None = DEFAULT_MAX_BYTES, notes: list[str] | None = None) -> np.ndarray:
    """Load ``source`` as an ``(H, W, 3)`` uint8 RGB array (see the module docstring).

    Args:
        source: a file path, the file's bytes, a binary file object, a ``PIL.Image.Image`` or a
            numpy array.
        max_pixels: refuse images with more pixels (checked before decoding); ``None``: no limit
            of ours (PIL's decompression-bomb guard still applies).
        max_bytes: refuse files or bytes larger than this; ``None``: no limit.
        notes: if given, short sentences about conversions are appended (animation frame,
            16-bit, CMYK, alpha).

    Raises:
        ImageLoadError: not an image, empty, truncated/corrupt, too large, or an unusable array.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, np.ndarray):
        return to_rgb_u8(source, max_pixels=max_pixels, notes=notes)
    if isinstance(source, Image.Image):
        _check_pixels(*source.size, max_pixels)
        return _from_pil(source, notes, "the image")
    stream, what = _open(source, max_bytes)
    try:
        with Image.open(stream) as im:
            _check_pixels(*im.size, max_pixels)
            return _from_pil(im, notes, what)
    except UnidentifiedImageError:
        raise ImageLoadError(f"{what} is not an image file that can be read; use {_FORMATS_HINT}") from None
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(
            f"{what} was refused as a possible decompression bomb ({exc}); downscale it and try again"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # a header that ends early or makes no sense
        if isinstance(exc, ImageLoadError):
            raise
        raise ImageLoadError(
            f"{what} is truncated or corrupt and cannot be decoded ({exc}); re-export or re-download it"
        ) from None


def _from_pil(im: Any, notes: list[str] | None, what: str) -> np.ndarray:
    from PIL import ImageOps

    try:
        n_frames = int(getattr(im, "n_frames", 1) or 1)
        if n_frames > 1:
            im.seek(0)
            if notes is not None:
                notes.append(f"animated or multi-page image: using frame 1 of {n_frames}")
        im.load()
        if im.getexif().get(0x0112, 1) != 1:
            im = ImageOps.exif_transpose(im)
            if notes is not None:
                notes.append("EXIF orientation applied")
        return to_rgb_u8(_pil_to_array(im, notes), max_pixels=None)
    except ImageLoadError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(
            f"{what} is truncated or corrupt and cannot be decoded ({exc}); re-export or re-download it"
        ) from None
