"""``training export`` writes what ``zoo.weights`` reads; ``training publish`` calls HfApi as documented."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import zoo
from training import runs
from training.export import export
from training.publish import publish
from zoo.weights import WeightsIntegrityError


@pytest.fixture
def run_dir(tmp_path):
    torch.manual_seed(0)
    model = zoo.create_model("lenet5")
    run = tmp_path / "run"
    runs.write_config(run, {"model": "lenet5", "model_kwargs": {}, "recipe": "lenet5_mnist", "data": "mnist",
                            "seed": 0, "classes": [str(i) for i in range(10)], "device": "cpu", "threads": 2,
                            "preprocess": {"mean": [0.1307], "std": [0.3081], "size": None, "pad": 2}})
    runs.save_checkpoint(run, {"model": model.state_dict(), "epoch": 1})
    runs.append_metrics(run, {"epoch": 1, "test_acc": 0.5, "elapsed_s": 12.0})
    return run, model


def test_export_needs_an_evaluation(run_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="training eval"):
        export(run_dir[0], tmp_path / "out")


def _exported(run_dir, tmp_path):
    run, _ = run_dir
    (run / "eval" / "test").mkdir(parents=True)
    (run / "eval" / "test" / "metrics.json").write_text(json.dumps({"accuracy": 0.5}))
    return export(run, tmp_path / "out", tag="mnist"), tmp_path / "out"


def test_export_round_trip(run_dir, tmp_path):
    config, _ = _exported(run_dir, tmp_path)
    model = run_dir[1]
    assert config["metrics"] == {"test_accuracy": 0.5}
    assert config["preprocessing"]["pad"] == 2 and config["preprocessing"]["crop"] == [28, 28]
    assert config["repo_id"] == "cvzoo/lenet5.mnist"
    card = (tmp_path / "out" / "README.md").read_text()
    assert card.startswith("---\nlicense: mit") and config["sha256"] in card and "lenet5_mnist" in card
    loaded = zoo.create_model("lenet5", pretrained=str(tmp_path / "out"))
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))


class RecordingApi:
    def __init__(self):
        self.calls = []

    def create_repo(self, *args, **kwargs):
        self.calls.append(("create_repo", args, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", (), kwargs))
        return SimpleNamespace(oid="0123abc")


def test_publish_dry_run_and_exact_calls(run_dir, tmp_path):
    _, folder = _exported(run_dir, tmp_path)
    api = RecordingApi()
    plan = publish(folder, "me/lenet5.mnist", dry_run=True, api=api)
    assert plan["files"] == ["README.md", "config.json", "model.safetensors"] and plan["commit"] is None
    assert api.calls == []
    result = publish(folder, "me/lenet5.mnist", private=True, notes="first", api=api)
    assert result["commit"] == "0123abc"
    assert api.calls[0] == ("create_repo", ("me/lenet5.mnist",), {"repo_type": "model", "private": True,
                                                                  "exist_ok": True})
    name, _, kwargs = api.calls[1]
    assert name == "upload_folder" and kwargs["repo_id"] == "me/lenet5.mnist" and kwargs["repo_type"] == "model"
    assert kwargs["folder_path"] == str(folder) and kwargs["commit_description"] == "first"
    assert kwargs["allow_patterns"] == ["README.md", "config.json", "model.safetensors"]


def test_publish_refuses_a_tampered_folder(run_dir, tmp_path):
    _, folder = _exported(run_dir, tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"oops")
    with pytest.raises(WeightsIntegrityError, match="sha256 mismatch"):
        publish(folder, "me/x", dry_run=True, api=RecordingApi())


def test_packed_data_is_named_by_its_source(tmp_path):
    from training.export import dataset_name

    np.savez(tmp_path / "packed.npz", name=np.asarray("cifar10"), train_images=np.zeros((1, 3, 2, 2), np.uint8))
    assert dataset_name(f"npz:{tmp_path / 'packed.npz'}") == "cifar10"
    assert dataset_name(f"npz:{tmp_path / 'missing.npz'}") == f"npz:{tmp_path / 'missing.npz'}"
    assert dataset_name("mnist") == "mnist"
