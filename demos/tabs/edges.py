"""The Edges tab: Sobel, soft Canny and pb-lite side by side (:mod:`demos.callbacks.edges`)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from demos.callbacks import edges
from demos.limits import HEAVY
from demos.tabs.shared import call, examples, image_file

LABELS = {  # edges.SLIDERS key -> slider label
    "max_side": "working size (longer side, px)",
    "n_textons": "textons (k-means clusters)",
    "max_radius": "largest half-disc radius (px)",
    "orientations": "half-disc orientations",
    "w_canny": "Canny weight (Sobel weight = 1 - this)",
}


def run(file: str | None, max_side: float, n_textons: float, max_radius: float, orientations: float,
        w_canny: float, show_maps: bool, preset: str = "default",
        progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
    """``/edges``: (gallery, intermediate maps shown or hidden, pb map PNG, markdown)."""
    comparison, maps, png, text = call(edges.edges, file, int(max_side), int(n_textons), int(max_radius),
                                       int(orientations), float(w_canny), bool(show_maps), progress=progress,
                                       preset=preset or "default")
    return comparison, gr.update(value=maps, visible=bool(show_maps)), png, text


def slider(key: str) -> gr.Slider:
    """The slider of pb-lite parameter ``key``: (minimum, maximum, step, default) from ``edges.SLIDERS``."""
    lo, hi, step, value = edges.SLIDERS[key][:4]
    return gr.Slider(lo, hi, step=step, value=value, label=LABELS[key])


def build(demo: gr.Blocks) -> None:
    """Declare the tab and wire its events."""
    with gr.Tab("Edges", id="edges"), gr.Row():
        with gr.Column(scale=1):
            file = image_file("edges_in")
            sliders = [slider(key) for key in LABELS]
            preset = gr.Radio([("the assignment's formula", "default"),
                               ("tuned on BSDS500 (better ODS, ~3x faster; ignores the Canny weight and textons)",
                                "bsds")],
                              value="default", label="pb-lite combination", elem_id="edges_preset")
            show_maps = gr.Checkbox(label="show intermediate maps and gradients", value=False, elem_id="edges_maps")
            button = gr.Button("Detect edges", variant="primary", elem_id="edges_run")
            examples(file)
        with gr.Column(scale=2):
            gallery = gr.Gallery(label="input, Sobel, Canny, pb-lite", columns=4, height="auto", format="png",
                                 elem_id="edges_out")
            text = gr.Markdown(elem_id="edges_text")
            png = gr.File(label="pb map (PNG, full size)", elem_id="edges_png")
            maps = gr.Gallery(label="intermediate maps", columns=4, visible=False, format="png",
                              elem_id="edges_maps_out")
    button.click(run, [file, *sliders, show_maps, preset], [gallery, maps, png, text], api_name="edges", **HEAVY)
