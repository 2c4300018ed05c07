"""The one change cvzoo makes to Gradio itself: cached output images are written atomically.

Gradio 6's ``processing_utils.save_pil_to_cache`` rewrites ``<cache>/<content hash>/image.webp``
in place on every call. When two requests produce the same image (two users clicking the same
example), one request's rewrite truncates the file while the other's client is downloading it:
the load benchmark (``benchmarks/bench_demo_load.py``) saw "peer closed connection ... received 0
bytes" on 3 of 172 requests. :func:`atomic_image_cache` replaces the function with one that
writes a temp file and renames it, so a reader keeps the complete old copy; an existing copy (same
hash, same bytes) is reused as is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def atomic_image_cache() -> None:
    """Make Gradio write cached output images atomically (temp file + rename); once per process,
    later calls do nothing."""
    from gradio import processing_utils as pu

    from zoo.weights import atomic_write_bytes

    if getattr(pu.save_pil_to_cache, "_cvzoo_atomic", False):
        return

    def save_pil_to_cache(img: Any, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = pu.encode_pil_to_bytes(img, format)
        folder = Path(cache_dir) / pu.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        path = (folder / f"{name}.{format}").resolve()
        if not path.exists():
            atomic_write_bytes(path, data)
        return str(path)

    save_pil_to_cache._cvzoo_atomic = True  # type: ignore[attr-defined]
    pu.save_pil_to_cache = save_pil_to_cache
