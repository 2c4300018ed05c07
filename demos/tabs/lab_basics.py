"""The Lab's *Image basics* sub-tab: kernels, thresholds, gamma, pooling (:mod:`demos.callbacks.lab_basics`)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from demos.callbacks import lab_basics
from demos.limits import LIGHT
from demos.tabs.shared import call, examples, image_file


def run(file: str | None, kernel: str, custom: str, method: str, value: float, block: float, c: float,
        gamma: float, pool_size: float, pool_mode: str) -> tuple[Any, ...]:
    """``/lab_basics``: (gallery, histogram, PNG files, markdown)."""
    return call(lab_basics.image_basics, file, kernel, custom, method, float(value), int(block), float(c),
                float(gamma), int(pool_size), pool_mode)


def kernel_text(kernel: str, custom: str) -> str:
    """The weights of a named kernel as editable text; the typed ones for "custom"."""
    return lab_basics.kernel_text(lab_basics.KERNELS[kernel]) if kernel in lab_basics.KERNELS else custom


def build(demo: gr.Blocks) -> None:
    """Declare the sub-tab and wire its events."""
    with gr.Tab("Image basics", id="lab_basics"), gr.Row():
        with gr.Column(scale=1):
            file = image_file("lab_basics_in")
            kernel = gr.Dropdown(list(lab_basics.KERNEL_CHOICES), value="sharpen", label="kernel",
                                 elem_id="lab_basics_kernel")
            n = lab_basics.MAX_KERNEL
            custom = gr.Textbox(lab_basics.kernel_text(lab_basics.KERNELS["sharpen"]), lines=3,
                                label=f"kernel weights (rows: new lines or ';'; numbers: spaces or commas; odd size "
                                      f"up to {n}x{n}; edit and pick 'custom')", elem_id="lab_basics_custom")
            method = gr.Radio(list(lab_basics.THRESHOLDS), value="Otsu", label="threshold",
                              elem_id="lab_basics_method")
            with gr.Row():
                value = gr.Slider(0, 255, value=127, step=1, label="fixed threshold", elem_id="lab_basics_value")
                block = gr.Slider(3, 101, value=31, step=2, label="adaptive block (px)", elem_id="lab_basics_block")
                c = gr.Slider(-20, 20, value=5, step=1, label="adaptive C", elem_id="lab_basics_c")
            gamma = gr.Slider(0.1, 3, value=0.5, step=0.05, label="gamma (< 1 brightens)", elem_id="lab_basics_gamma")
            with gr.Row():
                pool = gr.Slider(2, 32, value=8, step=1, label="pooling size (window = stride)",
                                 elem_id="lab_basics_pool")
                pool_mode = gr.Radio(list(lab_basics.POOLS), value="max", label="pooling",
                                     elem_id="lab_basics_pool_mode")
            button = gr.Button("Apply", variant="primary", elem_id="lab_basics_run")
            examples(file)
        with gr.Column(scale=2):
            gallery = gr.Gallery(label="input, kernel, threshold, gamma, pooling", columns=5, height="auto",
                                 format="png", elem_id="lab_basics_out")
            hist = gr.Plot(label="grey-level histogram", elem_id="lab_basics_hist")
            files = gr.File(label="results (PNG)", file_count="multiple", elem_id="lab_basics_files")
            text = gr.Markdown(elem_id="lab_basics_text")
    kernel.change(kernel_text, [kernel, custom], [custom], api_name=False, **LIGHT)
    button.click(run, [file, kernel, custom, method, value, block, c, gamma, pool, pool_mode],
                 [gallery, hist, files, text], api_name="lab_basics", **LIGHT)
