"""cvzoo's Gradio app: ``python -m demos.app`` serves it on http://127.0.0.1:7860.

This file only assembles the tabs (one module a tab in :mod:`demos.tabs`, each declaring its
components and wiring its events with an explicit ``api_name``, so the same calls work from
``gradio_client``) and launches; the work is done by the plain functions in :mod:`demos.callbacks`.
Environment: ``CVZOO_DEMO_HOST`` (127.0.0.1), ``CVZOO_DEMO_PORT`` (7860), ``CVZOO_DEMO_THREADS``
(torch threads per request, default 1), ``CVZOO_DATA`` (example images), ``CVZOO_RUNS``/``CVZOO_EMBEDDINGS``
(embeddings files).

Limits (:mod:`demos.limits`): uploads above ``MAX_UPLOAD_BYTES`` (20 MB) are refused by the
server, images above ``MAX_IMAGE_PIXELS`` (40 MP) by the loader before decoding; the queue holds
at most ``QUEUE_SIZE`` waiting requests and runs at most ``HEAVY_CONCURRENCY`` pb-lite/segmentation
and ``LIGHT_CONCURRENCY`` classification requests at once; cached uploads and outputs are deleted
after an hour. Also: Gradio's image cache is written atomically (:mod:`demos.gradio_patch`), slow
first calls are made in the background when the app is built (:mod:`demos.warm_up`), and the page
script is ``demos/assets/hover.js``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from demos.callbacks.common import MAX_UPLOAD_BYTES, data_root
from demos.gradio_patch import atomic_image_cache
from demos.limits import DELETE_CACHE, LIGHT_CONCURRENCY, QUEUE_SIZE
from demos.tabs import classify, digits, edges, embeddings, lab, lab_network, segment, zoo_browser
from demos.warm_up import warm_up

TABS = (edges, classify, digits, segment, embeddings, zoo_browser, lab)  # in the page's order
PAGE_SCRIPT = Path(__file__).parent / "assets" / "hover.js"  # the t-SNE thumbnails on hover


def build() -> gr.Blocks:
    """Declare the app (no model is loaded until a request needs it) and start warming it up."""
    atomic_image_cache()
    with gr.Blocks(title="cvzoo: classic computer vision, measured", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown("# cvzoo\nClassic computer vision from one model zoo: pb-lite edges, LeNet to EfficientNet "
                    "classifiers, segmentation, embeddings. Everything runs on this machine, offline.")
        with gr.Tabs():
            for tab in TABS:
                tab.build(demo)
    warm_up([*zoo_browser.warm_up_jobs(), *lab_network.warm_up_jobs()])
    demo.queue(default_concurrency_limit=LIGHT_CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def launch_kwargs() -> dict[str, Any]:
    """How the app is served (host and port from the environment; explicit limits; the page script)."""
    return {
        "server_name": os.environ.get("CVZOO_DEMO_HOST", "127.0.0.1"),
        "server_port": int(os.environ.get("CVZOO_DEMO_PORT", "7860")),
        "max_file_size": MAX_UPLOAD_BYTES,
        "allowed_paths": [str(data_root() / "pblite-hw0" / "Images")],
        "show_error": True,
        "ssr_mode": False,
        "js": PAGE_SCRIPT.read_text(encoding="utf-8"),
    }


def set_torch_threads() -> int:
    """Torch's intra-op threads for serving: ``$CVZOO_DEMO_THREADS``, default 1. The app runs several
    requests at once (up to ``LIGHT_CONCURRENCY + HEAVY_CONCURRENCY``); with 2 threads each they
    oversubscribe a 2-core machine, and one EfficientNet-Lite0 pass went from 50 ms to 2.2 s under load."""
    import torch

    n = int(os.environ.get("CVZOO_DEMO_THREADS", "1"))
    torch.set_num_threads(n)
    return n


def main() -> None:
    """Serve the app until interrupted."""
    set_torch_threads()
    logging.basicConfig(level=logging.INFO)
    build().launch(**launch_kwargs())


if __name__ == "__main__":
    main()
