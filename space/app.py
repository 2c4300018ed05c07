"""Hugging Face Space entry point: the cvzoo Gradio app (``demos/app.py``), unchanged.

The Space installs cvzoo from its repository (``requirements.txt``); Spaces run ``python app.py``
with ``GRADIO_SERVER_NAME=0.0.0.0`` and port 7860. Locally: ``python space/app.py`` serves on
127.0.0.1:7860 like ``python -m demos.app``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
try:
    import demos  # noqa: F401  (installed from requirements.txt on the Space)
except ImportError:  # running from a checkout: space/ sits next to demos/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demos.app import build, launch_kwargs, set_torch_threads

demo = build()

if __name__ == "__main__":
    set_torch_threads()
    kwargs = launch_kwargs()
    kwargs["server_name"] = os.environ.get("GRADIO_SERVER_NAME", kwargs["server_name"])
    kwargs["server_port"] = int(os.environ.get("GRADIO_SERVER_PORT", kwargs["server_port"]))
    demo.launch(**kwargs)
