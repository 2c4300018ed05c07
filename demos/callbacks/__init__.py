"""The demos' callbacks: plain functions (numpy images, plotly figures, dicts in and out).

One module per tab: :mod:`~demos.callbacks.edges`, :mod:`~demos.callbacks.classify` (with
:mod:`~demos.callbacks.ensemble`, the CIFAR-10 ensemble), :mod:`~demos.callbacks.digits`,
:mod:`~demos.callbacks.segment`, :mod:`~demos.callbacks.embeddings`, :mod:`~demos.callbacks.zoo_browser`,
the Lab's :mod:`~demos.callbacks.lab_basics`, :mod:`~demos.callbacks.lab_network` and
:mod:`~demos.callbacks.lab_augment`, and :mod:`~demos.callbacks.runs` for the dashboard; what they
share (limits, the image input, the model cache) is in :mod:`~demos.callbacks.common`. The Gradio
components and events are in :mod:`demos.tabs`. Errors meant for the user are
:class:`~demos.callbacks.common.DemoError`.
"""

from demos.callbacks.common import DemoError

__all__ = ["DemoError"]
