"""Semantic segmentation's data (:mod:`training.seg.data`) and metrics (:mod:`training.seg.metrics`);
the task itself is :mod:`training.tasks.segmentation`.
See ``training/SEGMENTATION.md`` for results."""
