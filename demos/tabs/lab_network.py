"""The Lab's *Inside a network* sub-tab: first-layer kernels, feature maps, Grad-CAM and the layer
table of any zoo model with weights (:mod:`demos.callbacks.lab_network`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import gradio as gr

from demos.callbacks import lab_network
from demos.limits import LIGHT
from demos.tabs.shared import call, examples, image_file

PREFERRED = ("efficientnet_lite0", "lenet5")  # shown when the page opens (the first with weights)


def default_model(models: list[str]) -> str | None:
    """The model preselected: the first of ``PREFERRED`` with weights, else the first, else None."""
    return next((m for m in PREFERRED if m in models), None) or (models[0] if models else None)


def model_card(name: str | None) -> tuple[Any, ...]:
    """``/lab_model``: (its layers for the dropdown, first-layer kernels, markdown, torchinfo table)."""
    layers, layer, grid, caption, info, table = call(lab_network.model_card, name)
    return gr.update(choices=layers, value=layer), grid, f"First layer: {caption}.\n\n{info}", table


def run(file: str | None, name: str | None, layer: str | None) -> tuple[Any, ...]:
    """``/lab_network``: (feature maps, Grad-CAM, markdown)."""
    grid, maps_caption, cam, cam_caption, text = call(lab_network.inside_network, file, name, layer or None)
    return grid, cam, f"{text}\n\n- feature maps: {maps_caption}\n- {cam_caption}"


def warm_up_jobs() -> list[Callable[[], Any]]:
    """Each model's card (its torchinfo summary takes seconds for the larger models), made before a visit."""
    return [partial(lab_network.model_card, name) for name in lab_network.network_models()]


def build(demo: gr.Blocks) -> None:
    """Declare the sub-tab and wire its events; the preselected model's card is shown after the page loads."""
    models = lab_network.network_models()
    default = default_model(models)
    with gr.Tab("Inside a network", id="lab_network"), gr.Row():
        with gr.Column(scale=1):
            model = gr.Dropdown(models, value=default, label="model with weights", elem_id="lab_network_model")
            layer = gr.Dropdown([], value=None, label="layer for feature maps", allow_custom_value=True,
                                elem_id="lab_network_layer")
            file = image_file("lab_network_in")
            button = gr.Button("Look inside", variant="primary", elem_id="lab_network_run")
            examples(file)
            kernels = gr.Image(label="first-layer kernels", interactive=False, format="png",
                               elem_id="lab_network_kernels")
        with gr.Column(scale=2):
            text = gr.Markdown(elem_id="lab_network_text")
            with gr.Row():
                maps = gr.Image(label="feature maps of the chosen layer", interactive=False, format="png",
                                elem_id="lab_network_maps")
                cam = gr.Image(label="Grad-CAM (Captum) for the predicted class", interactive=False, format="png",
                               elem_id="lab_network_cam")
            info = gr.Markdown(elem_id="lab_network_info")
            summary = gr.Code(label="layer summary with output shapes (torchinfo)", language=None,
                              elem_id="lab_network_summary")
    model.change(model_card, [model], [layer, kernels, info, summary], api_name="lab_model", **LIGHT)
    button.click(run, [file, model, layer], [maps, cam, text], api_name="lab_network", **LIGHT)
    if default:
        demo.load(model_card, [model], [layer, kernels, info, summary], api_name=False)
