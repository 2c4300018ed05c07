"""Semantic segmentation on the training engine: data (:mod:`training.seg.data`), metrics
(:mod:`training.seg.metrics`) and the task, fit and evaluation (:mod:`training.seg.engine`).
See ``training/SEGMENTATION.md`` for results."""
