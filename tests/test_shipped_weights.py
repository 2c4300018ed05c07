"""Every weight shipped in the package: loads offline, and re-measures its model card's accuracy."""

import functools
import json
import os
import shutil

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


@functools.cache
def shipped_probabilities(name: str, tag: str, root: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities (N, classes) of a shipped classifier on its whole test split, and the labels
    (computed once per weight: the ensemble's test reuses its members')."""
    from training.data import load_dataset

    weight = next(w for w in zoo.get_spec(name).weights if w.tag == tag)
    test = load_dataset(weight.dataset, "test", root=root)
    model = zoo.create_model(name, pretrained=tag)
    transform = build_transform(zoo.get_preprocessing(name), zoo.get_spec(name).input_size[0])
    with torch.no_grad():
        probs = torch.cat([model(transform(test.images[i:i + 500])).softmax(1) for i in range(0, len(test), 500)])
    return probs, test.labels


@pytest.mark.parametrize(("name", "weight"), SHIPPED, ids=[f"{n}.{w.tag}" for n, w in SHIPPED])
def test_shipped_accuracy_matches_model_card(name, weight, data_root, tmp_path, all_cores):
    if zoo.get_spec(name).task == "segmentation":
        from training.evaluate import evaluate

        result = evaluate(name, weight.dataset, "test", data_root=str(data_root), device="cpu",
                                       out_dir=tmp_path)
        assert abs(result["miou"] - weight.metrics["test_miou"]) <= 0.002, result["miou"]
        return
    probs, labels = shipped_probabilities(name, weight.tag, str(data_root))
    accuracy = (probs.argmax(1) == labels).float().mean().item()
    assert abs(accuracy - weight.metrics["test_accuracy"]) <= 0.002, accuracy


def test_trained_ensemble_accuracy_and_gain(data_root, all_cores):
    """The published ensemble re-measured: its declared accuracy, above every member, from the same
    object the demos load (checked on 200 test images against the members' own probabilities)."""
    from training.data import load_dataset
    from zoo.models.ensemble import TRAINED_MEMBERS

    declared = zoo.get_spec("ensemble").weights[0].metrics["test_accuracy"]
    members = [shipped_probabilities(*m.split("."), str(data_root)) for m in TRAINED_MEMBERS]
    labels = members[0][1]
    mean = torch.stack([p for p, _ in members]).mean(0)
    accuracy = (mean.argmax(1) == labels).float().mean().item()
    best = max((p.argmax(1) == labels).float().mean().item() for p, _ in members)
    assert abs(accuracy - declared) <= 0.002 and accuracy > best + 0.005, (accuracy, best)
    model = zoo.create_model("ensemble", pretrained=True)
    images = load_dataset("cifar10", "test", root=data_root).images[:200]
    x = build_transform(zoo.get_preprocessing("ensemble"), 3)(images)
    with torch.no_grad():
        torch.testing.assert_close(model(x), mean[:200], atol=1e-4, rtol=1e-3)


def test_trained_ensemble_refuses_a_damaged_member(tmp_path, monkeypatch):
    from zoo.models.ensemble import TRAINED_MEMBERS
    from zoo.weights import WeightsIntegrityError

    key = TRAINED_MEMBERS[1]
    shutil.copytree(SHIPPED_DIR / key, tmp_path / key)
    half = tmp_path / key / "model.safetensors"
    half.write_bytes(half.read_bytes()[: half.stat().st_size // 2])  # a truncated fp16 file
    monkeypatch.setenv("CVZOO_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsIntegrityError, match="sha256"):
        zoo.create_model("ensemble", pretrained=True)
    data = bytearray((SHIPPED_DIR / key / "model.safetensors").read_bytes())
    data[-100] ^= 0xFF  # one flipped byte in a weight
    half.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError, match="sha256"):
        zoo.create_model("ensemble", pretrained=True)


def test_environment_folder_wins_over_shipped(monkeypatch, tmp_path):
    name, weight = SHIPPED[0]
    key = f"{name}.{weight.tag}"
    shutil.copytree(SHIPPED_DIR / key, tmp_path / key)  # weights, config, card and the record/ folder
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
    assert emb.meta["model"] == name and emb.meta["images"] == 10_000 and len(emb.labels) == 1000
    assert emb.coords.shape == (1000, 2) and emb.thumbnails.shape == (1000, 32, 32, 3)
    # the thumbnails are the 32x32 test images themselves: the shipped model reproduces the predictions
    model = zoo.create_model(name, pretrained=True).eval()
    tf = build_transform(zoo.get_preprocessing(name), 3)
    x = torch.stack([tf(t) for t in emb.thumbnails[:200]])
    with torch.inference_mode():
        pred = model(x).argmax(1).numpy()
    assert (pred == emb.predictions[:200]).mean() >= 0.99
    assert abs(emb.accuracy - emb.meta["accuracy_all"]) < 0.02  # the subset is representative


def test_hub_entrypoint_loads_the_trained_ensemble(monkeypatch):
    """``torch.hub.load(<repo>, "ensemble", pretrained=True)``: the published members, offline."""
    from zoo.models.ensemble import TRAINED_MEMBERS, Ensemble

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("CVZOO_WEIGHTS", raising=False)
    model = hubconf.ensemble(pretrained=True)
    assert isinstance(model, Ensemble) and model.member_names == list(TRAINED_MEMBERS) and not model.training
    x = torch.rand(2, 3, 32, 32)  # the ensemble's input: [0, 1], each member normalises it itself
    with torch.no_grad():
        torch.testing.assert_close(model(x).sum(1), torch.ones(2))
