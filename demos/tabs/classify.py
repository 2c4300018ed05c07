"""The Classify tab: one image, one or several models, top-5 per model (:mod:`demos.callbacks.classify`)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from demos.callbacks import classify
from demos.callbacks.common import fit_size, read_image
from demos.limits import LIGHT
from demos.tabs.shared import call, examples, image_file

PREFERRED = ("efficientnet_lite0", "cifar_speedrun")  # ticked when the page opens (when they have weights)


def run(file: str | None, models: list[str]) -> tuple[Any, ...]:
    """``/classify``: (preview at most 512 px, top-5 figure, results, markdown)."""
    preview = call(read_image, file) if file else None
    fig, results, text = call(classify.classify, file, models)
    return fit_size(preview, 512) if preview is not None else None, fig, results, text


def build(demo: gr.Blocks) -> None:
    """Declare the tab and wire its events."""
    choices = classify.classify_choices()
    with gr.Tab("Classify", id="classify"), gr.Row():
        with gr.Column(scale=1):
            file = image_file("classify_in")
            preferred = [m for m in PREFERRED if m in choices]
            models = gr.CheckboxGroup(choices, value=preferred or choices[:1], label="models",
                                      elem_id="classify_models")
            if not choices:
                gr.Markdown("No classifier has trained weights yet.")
            button = gr.Button("Classify", variant="primary", elem_id="classify_run")
            examples(file)
        with gr.Column(scale=2):
            preview = gr.Image(label="input", interactive=False, height=240, format="jpeg",
                               elem_id="classify_preview")
            plot = gr.Plot(label="top-5 per model", elem_id="classify_plot")
            text = gr.Markdown(elem_id="classify_text")
            results = gr.JSON(label="results", visible=False)
    button.click(run, [file, models], [preview, plot, results, text], api_name="classify", **LIGHT)
