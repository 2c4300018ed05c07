"""The Lab's *Digit photo* sub-tab: the Digits tab's preprocessing step by step on a photo
(:func:`demos.callbacks.digits.digit_photo`)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from demos.callbacks import digits
from demos.limits import LIGHT
from demos.tabs.shared import call, image_file


def run(file: str | None, models: list[str]) -> tuple[Any, ...]:
    """``/lab_digit_photo``: (each preprocessing step, predictions figure, markdown)."""
    steps, fig, _results, text = call(digits.digit_photo, file, models)
    return steps, fig, text


def build(demo: gr.Blocks) -> None:
    """Declare the sub-tab and wire its events."""
    mnist = digits.mnist_models()
    with gr.Tab("Digit photo", id="lab_digit"), gr.Row():
        with gr.Column(scale=1):
            file = image_file("lab_digit_in", what="Photo of a handwritten digit")
            models = gr.CheckboxGroup(mnist, value=mnist, label="MNIST models", elem_id="lab_digit_models")
            button = gr.Button("Read the digit", variant="primary", elem_id="lab_digit_run")
        with gr.Column(scale=2):
            steps = gr.Gallery(label="each step: grayscale, Otsu, invert, crop, resize, 28x28, normalised", columns=7,
                               height="auto", format="png", elem_id="lab_digit_steps")
            plot = gr.Plot(label="predictions", elem_id="lab_digit_plot")
            text = gr.Markdown(elem_id="lab_digit_text")
    button.click(run, [file, models], [steps, plot, text], api_name="lab_digit_photo", **LIGHT)
