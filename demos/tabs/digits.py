"""The Digits tab: draw a digit, both MNIST models' predictions (:mod:`demos.callbacks.digits`)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from demos.callbacks import digits
from demos.limits import LIGHT
from demos.tabs.shared import call


def run(drawing: Any, models: list[str]) -> tuple[Any, ...]:
    """``/digits``: (the 28x28 input, predictions figure, feature maps, markdown)."""
    return call(digits.digits, drawing, models)


def build(demo: gr.Blocks) -> None:
    """Declare the tab and wire its events."""
    mnist = digits.mnist_models()
    with gr.Tab("Digits", id="digits"), gr.Row():
        with gr.Column(scale=1):
            pad = gr.Sketchpad(label="draw a digit", type="numpy", image_mode="RGBA", canvas_size=(280, 280),
                               elem_id="digits_pad")
            models = gr.CheckboxGroup(mnist, value=mnist, label="MNIST models", elem_id="digits_models")
            if not mnist:
                gr.Markdown("No MNIST model has trained weights yet (lenet5, mnist_cnn).")
            button = gr.Button("Predict", variant="primary", elem_id="digits_run")
        with gr.Column(scale=2):
            pre = gr.Image(label="preprocessed (28x28: threshold, invert, centre)", interactive=False, height=140,
                           format="png", elem_id="digits_pre")
            plot = gr.Plot(label="predictions", elem_id="digits_plot")
            text = gr.Markdown(elem_id="digits_text")
            maps = gr.Gallery(label="first layers' feature maps", columns=2, format="png", elem_id="digits_maps")
    button.click(run, [pad, models], [pre, plot, maps, text], api_name="digits", **LIGHT)
