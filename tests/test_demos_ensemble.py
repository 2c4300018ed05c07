"""The demos' ensemble (``demos/callbacks/ensemble.py``) with the shipped CIFAR-10 weights."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from demos.callbacks import classify, common, ensemble


@pytest.fixture
def empty_cache():
    common.clear_model_cache()
    yield
    common.clear_model_cache()


@pytest.mark.usefixtures("empty_cache")
def test_ensemble_first_loads_its_members_without_deadlock():
    """Asking for the ensemble before any member is loaded used to deadlock the model cache (the
    ensemble was built under the cache's lock and loaded its members under the same lock)."""
    if len(ensemble.members()) < 2:
        pytest.skip("fewer than two CIFAR-10 models with weights")
    done: list[common.Classifier] = []
    worker = threading.Thread(target=lambda: done.append(ensemble.classifier()), daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert done, "ensemble.classifier() did not return within 120 s"
    model, transform, names = done[0]
    assert ensemble.outputs_probabilities(model) and len(model.members) == len(ensemble.members())
    assert len(names) == 10 and tuple(transform(np.zeros((40, 60, 3), np.uint8)).shape) == (3, 32, 32)
    assert ensemble.NAME in classify.classify_choices()
    (result,) = classify.classify(np.full((32, 32, 3), 128, np.uint8), [ensemble.NAME])[1]
    assert result["model"] == ensemble.NAME and 0 < sum(p for _, p in result["top"]) <= 1.0001
