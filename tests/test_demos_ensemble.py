"""The demos' ensemble (``demos/callbacks/ensemble.py``) with the shipped CIFAR-10 weights."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import zoo
from demos.callbacks import classify, common, ensemble
from zoo.models.ensemble import TRAINED_MEMBERS
from zoo.transforms import build_transform


@pytest.fixture
def empty_cache():
    common.clear_model_cache()
    yield
    common.clear_model_cache()


@pytest.mark.usefixtures("empty_cache")
def test_ensemble_first_loads_its_members_without_deadlock():
    """Asking for the ensemble before any member is loaded used to deadlock the model cache (the
    ensemble was built under the cache's lock and loaded its members under the same lock)."""
    done: list[common.Classifier] = []
    worker = threading.Thread(target=lambda: done.append(ensemble.classifier()), daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert done, "ensemble.classifier() did not return within 120 s"
    model, transform, names = done[0]
    assert ensemble.outputs_probabilities(model) and model.member_names == list(TRAINED_MEMBERS)
    assert len(names) == 10 and tuple(transform(np.zeros((40, 60, 3), np.uint8)).shape) == (3, 32, 32)
    assert ensemble.NAME in classify.classify_choices()
    (result,) = classify.classify(np.full((32, 32, 3), 128, np.uint8), [ensemble.NAME])[1]
    assert result["model"] == ensemble.NAME and 0 < sum(p for _, p in result["top"]) <= 1.0001


@pytest.mark.usefixtures("empty_cache")
def test_lab_vote_is_each_shipped_member_with_its_own_preprocessing():
    """The Lab's per-member view and the Classify tab's ensemble are the published object: each member
    row equals that shipped weight run alone through its own transform, and the average is their mean."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    vote = ensemble.vote(rgb)
    assert vote.labels == list(TRAINED_MEMBERS) and vote.members.shape == (3, 10)
    for row, member in zip(vote.members, TRAINED_MEMBERS, strict=True):
        name, tag = member.split(".")
        alone = zoo.create_model(name, pretrained=tag)
        x = build_transform(zoo.get_preprocessing(name), 3)(rgb).unsqueeze(0)
        with torch.no_grad():
            torch.testing.assert_close(row, alone(x).softmax(1)[0], atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(vote.average, vote.members.mean(0))
    model = ensemble.classifier().model
    (result,) = classify.classify(rgb, [ensemble.NAME])[1]
    assert result["top"][0][0] == vote.names[int(vote.average.argmax())] and model is ensemble.classifier().model
