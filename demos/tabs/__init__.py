"""The Gradio app's tabs: one module a tab, each with a ``build(demo)`` that declares the tab's
components inside the current ``gr.Tabs`` and wires its events (every public endpoint with an
explicit ``api_name``, so ``gradio_client`` scripts can call it). The work is done by the plain
functions of :mod:`demos.callbacks`; the functions here only convert Gradio values.

Tabs, in the app's order: :mod:`~demos.tabs.edges`, :mod:`~demos.tabs.classify`,
:mod:`~demos.tabs.digits`, :mod:`~demos.tabs.segment`, :mod:`~demos.tabs.embeddings`,
:mod:`~demos.tabs.zoo_browser` and :mod:`~demos.tabs.lab` (its sub-tabs:
:mod:`~demos.tabs.lab_basics`, :mod:`~demos.tabs.lab_network`, :mod:`~demos.tabs.lab_augment`,
:mod:`~demos.tabs.lab_digit`, :mod:`~demos.tabs.lab_ensemble`). What they share:
:mod:`~demos.tabs.shared`; the pools their events run in: :mod:`demos.limits`.
"""
