"""The Embeddings tab: an interactive t-SNE of CIFAR-10 test features (:mod:`demos.callbacks.embeddings`);
hovering a point shows its image (``demos/assets/hover.js``)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from demos.callbacks import embeddings, ensemble
from demos.limits import LIGHT
from demos.tabs.shared import call


def run(label: str | None, colour_by: str) -> tuple[Any, str]:
    """``/tsne``: (t-SNE figure, markdown) of the embeddings file called ``label``."""
    files = embeddings.embedding_files()
    if not label or label not in files:
        raise gr.Error("No embeddings file is selected. Ship one, set CVZOO_EMBEDDINGS, or compute one below "
                       "(or run `python -m training embed RUN_DIR`).", print_exception=False)
    return call(embeddings.tsne_figure, files[label], colour_by)


def generate(model: str | None, limit: float, progress: gr.Progress = gr.Progress()) -> Any:  # noqa: B008
    """``/tsne_generate``: compute an embeddings file for ``model`` and select it."""
    if not model:
        raise gr.Error("Pick a CIFAR-10 model with weights.", print_exception=False)
    progress(0.1, desc=f"features and t-SNE of {int(limit)} test images")
    path = call(embeddings.generate, model, int(limit))
    files = embeddings.embedding_files()
    label = next((k for k, v in files.items() if v == path), None)
    return gr.update(choices=list(files), value=label)


def build(demo: gr.Blocks) -> None:
    """Declare the tab and wire its events."""
    files = list(embeddings.embedding_files())
    cifar_models = ensemble.members()
    with gr.Tab("Embeddings", id="embeddings"):
        with gr.Row():
            file = gr.Dropdown(files, value=files[0] if files else None, label="embeddings file (model / split)",
                               elem_id="tsne_file", scale=3)
            colour = gr.Radio(["true", "predicted"], value="true", label="colour by", elem_id="tsne_colour", scale=1)
            button = gr.Button("Show", variant="primary", elem_id="tsne_run", scale=1)
        plot = gr.Plot(label="t-SNE (hover a point to see its image)", elem_id="tsne_plot")
        text = gr.Markdown(elem_id="tsne_text")
        with gr.Accordion("compute embeddings for a trained CIFAR-10 model", open=not files):
            with gr.Row():
                model = gr.Dropdown(cifar_models, value=cifar_models[0] if cifar_models else None,
                                    label="model with weights", elem_id="tsne_gen_model")
                limit = gr.Slider(200, 10000, value=1000, step=100, label="test images")
                compute = gr.Button("Compute", elem_id="tsne_gen")
            if not cifar_models:
                gr.Markdown("No CIFAR-10 model has weights yet; `python -m training embed RUN_DIR` writes an "
                            "embeddings file from a run folder.")
    button.click(run, [file, colour], [plot, text], api_name="tsne", **LIGHT)
    for trigger in (colour.change, file.change):
        trigger(run, [file, colour], [plot, text], api_name=False, **LIGHT)
    compute.click(generate, [model, limit], [file], api_name="tsne_generate", concurrency_id="heavy",
                  concurrency_limit=1)
