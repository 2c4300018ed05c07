"""What the tabs share: running a callback with its errors shown as messages, the image upload
component and its examples."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from demos.callbacks.common import DemoError, example_images

log = logging.getLogger("cvzoo.demo")

UPLOAD_HINT = "PNG, JPEG, WebP, GIF, BMP or TIFF; at most 20 MB and 40 megapixels"


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; a ``DemoError`` becomes a message in the UI, anything else a short
    message plus a log entry with the traceback (the app keeps serving)."""
    try:
        return fn(*args, **kwargs)
    except DemoError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    except gr.Error:
        raise
    except Exception as exc:
        log.exception("callback %s failed", getattr(fn, "__name__", fn))
        raise gr.Error(f"Something went wrong ({type(exc).__name__}: {exc}). The app is still running; "
                       "try another image or setting.", print_exception=False) from None


def image_file(elem_id: str, what: str = "Image") -> gr.File:
    """An upload that hands the callback a file path, labelled with what is wanted and the limits."""
    return gr.File(label=f"{what} ({UPLOAD_HINT})", type="filepath", elem_id=elem_id)


def examples(upload: gr.File) -> None:
    """The example images (when there are any) as clickable examples for ``upload``."""
    paths = example_images()
    if paths:
        gr.Examples(examples=[[p] for p in paths], inputs=[upload], label="examples")
