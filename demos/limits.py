"""The Gradio app's explicit limits: the queue, how many requests of each kind run at once, and
how long cached files live. Upload limits are in :mod:`demos.callbacks.common` (the callbacks
check them too): ``MAX_UPLOAD_BYTES`` (20 MB) and ``MAX_IMAGE_PIXELS`` (40 MP)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

QUEUE_SIZE = 64  # requests waiting at most
LIGHT_CONCURRENCY = 4  # classify, digits, zoo, lab: tens of milliseconds each
HEAVY_CONCURRENCY = 2  # pb-lite and segmentation share this many workers (one per core here)
DELETE_CACHE = (600, 3600)  # every 10 minutes, delete cached files older than an hour

# keyword arguments of an event listener (``button.click(fn, ..., **LIGHT)``): which pool it runs in
LIGHT: MappingProxyType[str, Any] = MappingProxyType({"concurrency_id": "light",
                                                      "concurrency_limit": LIGHT_CONCURRENCY})
HEAVY: MappingProxyType[str, Any] = MappingProxyType({"concurrency_id": "heavy",
                                                      "concurrency_limit": HEAVY_CONCURRENCY})
