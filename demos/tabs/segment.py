"""The Segment tab: a class mask over the photo, its legend and pixel shares (:mod:`demos.callbacks.segment`,
which uses :mod:`zoo.segment`, the segmenter of ``cvzoo segment``)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from demos.callbacks import segment
from demos.limits import HEAVY, LIGHT
from demos.tabs.shared import call, examples, image_file


def run(file: str | None, model: str | None, opacity: float,
        progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
    """``/segment``: (overlay, legend HTML, shares figure, state for the slider, markdown)."""
    return call(segment.segment, file, model, float(opacity), progress=progress)


def run_compare(file: str | None, opacity: float,
                progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
    """``/segment_compare``: (gallery of FCN-32s/16s/8s overlays, markdown)."""
    return call(segment.compare, file, float(opacity), progress=progress)


def redraw(state: dict[str, Any] | None, opacity: float) -> Any:
    """``/segment_opacity``: the overlay blended again at the new opacity (no model call)."""
    return segment.redraw(state, float(opacity))


def build(demo: gr.Blocks) -> None:
    """Declare the tab and wire its events."""
    models = segment.segmentation_models()
    with gr.Tab("Segment", id="segment"), gr.Row():
        with gr.Column(scale=1):
            file = image_file("segment_in")
            model = gr.Dropdown(models, value=models[0] if models else None, label="segmentation model",
                                elem_id="segment_model")
            if not models:
                gr.Markdown("**No trained segmentation model is available yet**: `fcn8s_effnet_lite0` (CamVid) "
                            "appears here once its weights are published.", elem_id="segment_none")
            opacity = gr.Slider(0, 1, value=0.5, step=0.05, label="mask opacity", elem_id="segment_opacity")
            button = gr.Button("Segment", variant="primary", elem_id="segment_run")
            compare = gr.Button("Compare FCN-32s / 16s / 8s", elem_id="segment_compare_run")
            examples(file)
        with gr.Column(scale=2):
            out = gr.Image(label="mask over the photo", interactive=False, format="png", elem_id="segment_out")
            legend = gr.HTML(elem_id="segment_legend")
            plot = gr.Plot(label="pixel share per class", elem_id="segment_plot")
            text = gr.Markdown(elem_id="segment_text")
            state = gr.State()
    with gr.Row():
        gallery = gr.Gallery(label="FCN-32s, FCN-16s and FCN-8s on the same photo", columns=3, height="auto",
                             elem_id="segment_compare")
    compare_text = gr.Markdown(elem_id="segment_compare_text")
    button.click(run, [file, model, opacity], [out, legend, plot, state, text], api_name="segment", **HEAVY)
    compare.click(run_compare, [file, opacity], [gallery, compare_text], api_name="segment_compare", **HEAVY)
    opacity.release(redraw, [state, opacity], [out], api_name="segment_opacity", **LIGHT)
