"""The Lab's *Augmentation* sub-tab: what a training recipe's transforms make of one image
(:mod:`demos.callbacks.lab_augment`)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from demos.callbacks import lab_augment
from demos.limits import LIGHT
from demos.tabs.shared import call, examples, image_file


def run(file: str | None, recipe: str | None, source: str, index: float, n: float, seed: float,
        model: str | None) -> tuple[Any, ...]:
    """``/lab_augment``: (grid of training views, the recipe's transforms as code, markdown)."""
    return call(lab_augment.augment_preview, file, recipe, source, int(index or 0), int(n), int(seed or 0),
                model or None)


def recipe_models(recipe: str | None) -> Any:
    """The networks that share ``recipe`` (its input size), the first selected."""
    names = call(lab_augment.recipe_models, recipe)
    return gr.update(choices=names, value=names[0])


def build(demo: gr.Blocks) -> None:
    """Declare the sub-tab and wire its events."""
    recipes = lab_augment.augment_recipes()
    with gr.Tab("Augmentation", id="lab_augment"), gr.Row():
        with gr.Column(scale=1):
            recipe = gr.Dropdown(recipes, value=recipes[0] if recipes else None,
                                 label="training recipe (training/recipes.py)", elem_id="lab_augment_recipe")
            source = gr.Radio(["upload", "data set"], value="upload", label="image", elem_id="lab_augment_source")
            file = image_file("lab_augment_in")
            index = gr.Number(0, precision=0, minimum=0, label="data set test image number",
                              elem_id="lab_augment_index")
            with gr.Row():
                n = gr.Slider(4, lab_augment.MAX_N, value=15, step=1, label="draws", elem_id="lab_augment_n")
                seed = gr.Number(0, precision=0, label="seed", elem_id="lab_augment_seed")
            model = gr.Dropdown(lab_augment.recipe_models(recipes[0]) if recipes else [],
                                label="network (a recipe shared by several)", elem_id="lab_augment_model")
            button = gr.Button("Preview", variant="primary", elem_id="lab_augment_run")
            examples(file)
        with gr.Column(scale=2):
            grid = gr.Image(label="what the network is trained on", interactive=False, format="png",
                            elem_id="lab_augment_out")
            text = gr.Markdown(elem_id="lab_augment_text")
            code = gr.Code(label="the recipe's transforms", language="python", elem_id="lab_augment_code")
    recipe.change(recipe_models, [recipe], [model], api_name=False)
    button.click(run, [file, recipe, source, index, n, seed, model], [grid, code, text], api_name="lab_augment",
                 **LIGHT)
