"""The Lab tab: the course's lab (notebooks "Images and CNNs" and "CNN 2") on your images, as
sub-tabs: :mod:`~demos.tabs.lab_basics`, :mod:`~demos.tabs.lab_network`,
:mod:`~demos.tabs.lab_augment`, :mod:`~demos.tabs.lab_digit`, :mod:`~demos.tabs.lab_ensemble`."""

from __future__ import annotations

import gradio as gr

from demos.callbacks.lab_basics import MAX_SIDE
from demos.tabs import lab_augment, lab_basics, lab_digit, lab_ensemble, lab_network

SUB_TABS = (lab_basics, lab_network, lab_augment, lab_digit, lab_ensemble)


def build(demo: gr.Blocks) -> None:
    """Declare the tab with its sub-tabs."""
    with gr.Tab("Lab", id="lab"):
        gr.Markdown("The course's lab (notebooks \"Images and CNNs\" and \"CNN 2\"), on your images. "
                    f"Uploads are downscaled to at most {MAX_SIDE} px on the longer side.",
                    elem_id="lab_intro")
        with gr.Tabs():
            for tab in SUB_TABS:
                tab.build(demo)
