"""The artefact schema: one preprocessing type, one config schema for run and weights folders, one reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import zoo
from zoo import artifacts
from zoo.preprocessing import Preprocessing
from zoo.weights import SHIPPED_DIR, declared_config, read_config

# ----------------------------------------------------------------------------- Preprocessing


def test_preprocessing_round_trips_through_its_dict():
    pre = Preprocessing(mean=(0.1307,), std=(0.3081,), resize=28, crop=(28, 28), pad=2, channels=1,
                        interpolation="bicubic")
    assert Preprocessing.from_dict(json.loads(json.dumps(pre.to_dict()))) == pre
    assert pre.input_size == (32, 32)
    assert Preprocessing(mean=(0.5,), std=(0.5,)).input_size is None


def test_version1_dicts_read_as_the_same_steps():
    # a version-1 run folder: pad only (LeNet-5 on MNIST), a course centre crop, a resize to 64x64
    assert Preprocessing.from_dict({"mean": [0.1], "std": [0.3], "size": None, "pad": 2, "channels": None}) == \
        Preprocessing(mean=(0.1,), std=(0.3,), pad=2)
    assert Preprocessing.from_dict({"mean": [0.5] * 3, "std": [0.5] * 3, "size": None, "pad": 0,
                                    "crop": 10}).crop == (10, 10)
    up = Preprocessing.from_dict({"mean": [0.5], "std": [0.5], "size": [64, 64], "pad": 0, "channels": 3})
    assert (up.resize, up.crop, up.channels) == (64, (64, 64), 3)
    # a version-1 weights folder: the same fields as now
    w = Preprocessing.from_dict({"resize": 28, "crop": [28, 28], "pad": 2, "mean": [0.1307], "std": [0.3081],
                                 "interpolation": "bilinear"})
    assert (w.resize, w.crop, w.pad) == (28, (28, 28), 2)


def test_batch_and_image_paths_agree():
    """Training batches (``pre(batch)``) and an uploaded image (``pre.image_transform()``) get the same
    input: pad, crop and channel conversion exactly, a resize to within the uint8 rounding of the image path."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    batch = torch.from_numpy(img).permute(2, 0, 1)[None]
    exact = Preprocessing(mean=(0.5,), std=(0.25,), resize=40, crop=(30, 30), pad=1, channels=1)
    a, b = exact(batch)[0], exact.image_transform()(img)
    assert a.shape == b.shape == (1, 32, 32)
    # both grey by ITU-R 601 luma; the image path truncates its grey image to uint8 (under a level, over std 0.25)
    assert (a - b).abs().max() <= 1 / 255 / 0.25 + 1e-5
    rgb = Preprocessing(mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.4), resize=40, crop=(30, 30), pad=1)
    torch.testing.assert_close(rgb(batch)[0], rgb.image_transform()(img), atol=1e-6, rtol=0)
    resized = Preprocessing(mean=(0.5,) * 3, std=(0.5,) * 3, resize=20, crop=(20, 20))
    assert (resized(batch)[0] - resized.image_transform()(img)).abs().max() < 2 / 255 / 0.5 + 1e-6


def test_bad_preprocessing_is_refused():
    with pytest.raises(ValueError, match="differ in length"):
        Preprocessing(mean=(0.5, 0.5), std=(0.5,))
    with pytest.raises(ValueError, match="height, width"):
        Preprocessing(mean=(0.5,), std=(0.5,), crop=(3, 4, 5))


# ----------------------------------------------------------------------------- configs


def test_version1_run_config_is_migrated(tmp_path):
    old = {"model": "lenet5", "classes": ["a", "b"], "data": "mnist",
           "preprocess": {"mean": [0.1307], "std": [0.3081], "size": None, "pad": 2, "channels": None}}
    (tmp_path / "config.json").write_text(json.dumps(old))
    cfg = artifacts.read_config(tmp_path)
    assert cfg["config_version"] == artifacts.CONFIG_VERSION == 2
    assert cfg["class_names"] == ["a", "b"] and "classes" not in cfg and "preprocess" not in cfg
    assert Preprocessing.from_dict(cfg["preprocessing"]).pad == 2
    assert artifacts.migrate_config(cfg) == cfg  # version 2 comes back unchanged


def test_missing_and_broken_configs_name_the_file(tmp_path):
    with pytest.raises(artifacts.ArtifactError, match="not a run or weights folder"):
        artifacts.read_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(artifacts.ArtifactError, match=r"config\.json cannot be read"):
        artifacts.read_config(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(artifacts.ArtifactError, match="not a JSON object"):
        artifacts.read_config(tmp_path)


def test_metrics_reader_skips_only_a_partial_last_line(tmp_path):
    assert artifacts.read_metrics(tmp_path) == []
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1}\n{"epoch": 2}\n{"epoch": 3, "train_lo')  # a row being written
    assert [r["epoch"] for r in artifacts.read_metrics(tmp_path)] == [1, 2]
    path.write_text('{"epoch": 1}\n{"epo\n{"epoch": 3}\n')  # damage before the last line
    with pytest.raises(artifacts.ArtifactError, match="line 2"):
        artifacts.read_metrics(tmp_path)


def test_find_runs_needs_config_and_metrics(tmp_path):
    for name, files in {"a": ("config.json", "metrics.jsonl"), "b": ("config.json",), "c/d": ("config.json",
                                                                                               "metrics.jsonl")}.items():
        (tmp_path / name).mkdir(parents=True)
        for f in files:
            (tmp_path / name / f).write_text("{}")
    assert artifacts.find_runs(tmp_path) == [str(tmp_path / "a"), str(tmp_path / "c" / "d")]
    assert artifacts.find_runs(tmp_path / "missing") == []


# ----------------------------------------------------------------------------- declared weights


@pytest.mark.parametrize("name", [n for n in zoo.list_models(pretrained=True)
                                  if any(w.shipped for w in zoo.get_spec(n).weights)])
def test_shipped_configs_say_what_their_weightspec_declares(name):
    """One declaration: each shipped folder's config.json is version 2 and carries its WeightSpec's
    preprocessing, class names, metrics and recipe; the API reads the declaration."""
    spec = zoo.get_spec(name)
    for weight in (w for w in spec.weights if w.shipped):
        cfg = read_config(SHIPPED_DIR / f"{name}.{weight.tag}")
        assert cfg["config_version"] == 2
        assert weight.preprocessing is not None and weight.class_names
        for key, value in declared_config(name, weight).items():
            assert cfg[key] == value, key
    assert zoo.get_preprocessing(name) == spec.weights[0].preprocessing
    assert zoo.get_class_names(name) == list(spec.weights[0].class_names)
