"""The Hugging Face Space files under space/: front matter, pinned requirements, and the app
imports and launches locally on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import os
import socket
import urllib.request
from pathlib import Path

import pytest

SPACE = Path(__file__).resolve().parents[1] / "space"


def front_matter() -> dict[str, str]:
    text = (SPACE / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    block = text.split("---\n")[1]
    return {k.strip(): v.strip().strip('"') for k, v in (line.split(":", 1) for line in block.splitlines() if line)}


def test_front_matter_and_requirements_pin_gradio():
    import gradio

    fm = front_matter()
    assert fm["sdk"] == "gradio" and fm["app_file"] == "app.py" and (SPACE / fm["app_file"]).is_file()
    assert fm["sdk_version"] == gradio.__version__  # the hosted app runs the Gradio we test
    reqs = (SPACE / "requirements.txt").read_text().splitlines()
    assert f"gradio=={gradio.__version__}" in reqs
    assert any(r.startswith("cvzoo[demo,imagenet]") for r in reqs)
    assert any(r.startswith("torch==") for r in reqs)


def test_space_app_imports_and_launches(monkeypatch):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    spec = importlib.util.spec_from_file_location("cvzoo_space_app", SPACE / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import gradio as gr

    assert isinstance(module.demo, gr.Blocks)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kw = module.launch_kwargs() | {"server_port": port, "prevent_thread_lock": True, "quiet": True}
    assert kw["server_name"] == os.environ.get("CVZOO_DEMO_HOST", "127.0.0.1")
    module.demo.launch(**kw)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/info", timeout=10) as r:
            info = r.read().decode()
        assert "/classify" in info and "/edges" in info
    finally:
        module.demo.close()


@pytest.mark.parametrize("name", ["app.py", "requirements.txt", "README.md"])
def test_space_files_exist(name):
    assert (SPACE / name).is_file()
