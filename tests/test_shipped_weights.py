"""Every weight shipped in the package: loads offline, and re-measures its model card's accuracy."""

import json
import os

import pytest
import torch

import hubconf
import zoo
from zoo.transforms import build_transform
from zoo.weights import SHIPPED_DIR, sha256_file

SHIPPED = [(name, w) for name in zoo.list_models(pretrained=True) for w in zoo.get_spec(name).weights if w.shipped]


def test_some_weights_are_shipped():
    assert {"lenet5", "mnist_cnn", "fcn8s_effnet_lite0"} <= {name for name, _ in SHIPPED}


@pytest.mark.parametrize(("name", "weight"), SHIPPED, ids=[f"{n}.{w.tag}" for n, w in SHIPPED])
def test_shipped_folder_is_complete_and_declared(name, weight):
    folder = SHIPPED_DIR / f"{name}.{weight.tag}"
    assert sha256_file(folder / "model.safetensors") == weight.sha256
    config = json.loads((folder / "config.json").read_text())
    assert config["model"] == name and config["tag"] == weight.tag and config["sha256"] == weight.sha256
    assert config["metrics"] == weight.metrics
    assert weight.sha256 in (folder / "README.md").read_text()


@pytest.mark.parametrize(("name", "weight"), SHIPPED, ids=[f"{n}.{w.tag}" for n, w in SHIPPED])
def test_hub_entrypoint_loads_shipped_weights(name, weight, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("CVZOO_WEIGHTS", raising=False)
    model = getattr(hubconf, name)(pretrained=True)
    assert not model.training


@pytest.fixture
def all_cores():
    """The whole test split is the suite's heaviest forward pass: use every core (other modules set 1 thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("name", "weight"), SHIPPED, ids=[f"{n}.{w.tag}" for n, w in SHIPPED])
def test_shipped_accuracy_matches_model_card(name, weight, data_root, tmp_path, all_cores):
    if zoo.get_spec(name).task == "segmentation":
        from training.evaluate import evaluate

        result = evaluate(name, weight.dataset, "test", data_root=str(data_root), device="cpu",
                                       out_dir=tmp_path)
        assert abs(result["miou"] - weight.metrics["test_miou"]) <= 0.002, result["miou"]
        return
    from training.data import load_dataset

    test = load_dataset(weight.dataset, "test", root=data_root)
    model = zoo.create_model(name, pretrained=weight.tag)
    transform = build_transform(zoo.get_preprocessing(name), zoo.get_spec(name).input_size[0])
    correct = 0
    with torch.no_grad():
        for start in range(0, len(test), 500):
            x = transform(test.images[start:start + 500])
            correct += (model(x).argmax(1) == test.labels[start:start + 500]).sum().item()
    accuracy = correct / len(test)
    assert abs(accuracy - weight.metrics["test_accuracy"]) <= 0.002, accuracy


def test_environment_folder_wins_over_shipped(monkeypatch, tmp_path):
    name, weight = SHIPPED[0]
    key = f"{name}.{weight.tag}"
    (tmp_path / key).mkdir()
    for f in (SHIPPED_DIR / key).iterdir():
        (tmp_path / key / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv("CVZOO_WEIGHTS", str(tmp_path))
    from zoo.weights import resolve_folder

    assert resolve_folder(zoo.get_spec(name), weight) == tmp_path / key
    monkeypatch.delenv("CVZOO_WEIGHTS")
    assert resolve_folder(zoo.get_spec(name), weight) == SHIPPED_DIR / key


@pytest.mark.parametrize("name", ["cifar_speedrun", "cifar_cnn"])
def test_shipped_embeddings_belong_to_the_shipped_model(name, monkeypatch):
    """The demo's t-SNE files ship beside their weights; the stored predictions are that model's."""
    from demos.callbacks.embeddings import embedding_files
    from training.embed import read_embeddings

    monkeypatch.delenv("CVZOO_EMBEDDINGS", raising=False)
    path = SHIPPED_DIR / f"{name}.cifar10" / "embeddings_test.npz"
    assert str(path) in {str(p) for p in embedding_files().values()}
    emb = read_embeddings(path)
    assert emb.meta["model"] == name and emb.meta["images"] == 10_000 and len(emb.labels) == 2000
    assert emb.coords.shape == (2000, 2) and emb.thumbnails.shape == (2000, 32, 32, 3)
    # the thumbnails are the 32x32 test images themselves: the shipped model reproduces the predictions
    model = zoo.create_model(name, pretrained=True).eval()
    tf = build_transform(zoo.get_preprocessing(name), 3)
    x = torch.stack([tf(t) for t in emb.thumbnails[:200]])
    with torch.inference_mode():
        pred = model(x).argmax(1).numpy()
    assert (pred == emb.predictions[:200]).mean() >= 0.99
    assert abs(emb.accuracy - emb.meta["accuracy_all"]) < 0.02  # the subset is representative
