"""The demos' callbacks: plain functions (numpy images, plotly figures, dicts in and out).

One module per tab: :mod:`~demos.callbacks.edges`, :mod:`~demos.callbacks.classify`,
:mod:`~demos.callbacks.digits`, :mod:`~demos.callbacks.segment`, :mod:`~demos.callbacks.embeddings`,
:mod:`~demos.callbacks.zoo_browser`, and :mod:`~demos.callbacks.runs` for the dashboard.
Errors meant for the user are :class:`~demos.callbacks.common.DemoError`.
"""

from demos.callbacks.common import DemoError

__all__ = ["DemoError"]
