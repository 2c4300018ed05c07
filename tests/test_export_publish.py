"""``training export`` writes what ``zoo.weights`` reads; ``training publish`` calls HfApi as documented."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import torch

import zoo
from training import runs
from training.cli import main as cli
from training.export import export
from training.publish import publish
from zoo.artifacts import is_run_folder
from zoo.weights import WeightsIntegrityError

ROOT = Path(__file__).resolve().parents[1]


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


def _hf_api():
    """An ``HfApi`` double with the real signatures: a misspelt or missing argument raises TypeError."""
    from huggingface_hub import HfApi

    api = mock.create_autospec(HfApi, instance=True)
    api.upload_folder.return_value = SimpleNamespace(oid="0123abc")  # a CommitInfo's commit id
    return api


def test_publish_dry_run_and_exact_calls(run_dir, tmp_path):
    _, folder = _exported(run_dir, tmp_path)
    api = _hf_api()
    plan = publish(folder, "me/lenet5.mnist", dry_run=True, api=api)
    assert plan["files"] == ["README.md", "config.json", "model.safetensors"] and plan["commit"] is None
    assert api.method_calls == []
    result = publish(folder, "me/lenet5.mnist", private=True, notes="first", api=api)
    assert result["commit"] == "0123abc"
    assert [c[0] for c in api.method_calls] == ["create_repo", "upload_folder"]
    api.create_repo.assert_called_once_with("me/lenet5.mnist", repo_type="model", private=True, exist_ok=True)
    sha = json.loads((folder / "config.json").read_text())["sha256"]
    api.upload_folder.assert_called_once_with(
        folder_path=str(folder), repo_id="me/lenet5.mnist", repo_type="model",
        commit_message=f"lenet5.mnist: weights sha256 {sha[:12]}", commit_description="first",
        allow_patterns=["README.md", "config.json", "model.safetensors"])


def test_the_hub_double_refuses_what_hfapi_refuses():
    api = _hf_api()
    with pytest.raises(TypeError):
        api.upload_folder(folder="x", repo_id="me/x")  # folder_path misspelt
    with pytest.raises(TypeError):
        api.create_repo("me/x", kind="model")


def test_publish_refuses_a_tampered_folder(run_dir, tmp_path):
    _, folder = _exported(run_dir, tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"oops")
    with pytest.raises(WeightsIntegrityError, match="sha256 mismatch"):
        publish(folder, "me/x", dry_run=True, api=_hf_api())
    (folder / "README.md").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks README\.md; write it with `python -m training export`"):
        publish(folder, "me/x", dry_run=True, api=_hf_api())


# ----------------------------------------------------------------------------- through the CLI


def test_export_cli_writes_a_loadable_half_precision_folder(run_dir, tmp_path, capsys):
    run, model = run_dir
    (run / "eval" / "test").mkdir(parents=True)
    (run / "eval" / "test" / "metrics.json").write_text(json.dumps({"accuracy": 0.5, "loss": 1.0}))
    folder = tmp_path / "w"
    assert cli(["export", str(run), "-o", str(folder), "--tag", "digits", "--half", "--org", "me"]) == 0
    config = json.loads((folder / "config.json").read_text())
    assert json.loads(capsys.readouterr().out) == {
        "folder": str(folder), "sha256": config["sha256"], "metrics": {"test_accuracy": 0.5},
        "record_missing": ["eval/test/confusion.npy", "eval/test/per_class.csv", "eval/test/misclassified.npz"]}
    # the training record: a run folder without the checkpoint, which the dashboard lists
    assert is_run_folder(folder / "record") and (folder / "record" / "eval/test/metrics.json").is_file()
    assert (folder / "record" / "metrics.jsonl").read_bytes() == (run / "metrics.jsonl").read_bytes()
    assert config["repo_id"] == "me/lenet5.digits" and config["tag"] == "digits" and config["dtype"] == "float16"
    loaded = zoo.create_model("lenet5", pretrained=str(folder))
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x), atol=2e-3, rtol=2e-3)  # fp16 storage
    # the default tag is the data set, the default organisation zoo's
    assert cli(["export", str(run), "-o", str(tmp_path / "w2")]) == 0
    assert json.loads((tmp_path / "w2" / "config.json").read_text())["repo_id"] == "cvzoo/lenet5.mnist"


def test_publish_cli_dry_run_and_upload(run_dir, tmp_path, capsys, monkeypatch):
    import huggingface_hub

    _, folder = _exported(run_dir, tmp_path)
    sha = json.loads((folder / "config.json").read_text())["sha256"]
    api = _hf_api()
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: api)
    assert cli(["publish", str(folder), "--repo-id", "me/lenet5.mnist", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "repo_id": "me/lenet5.mnist", "files": ["README.md", "config.json", "model.safetensors"], "sha256": sha,
        "commit": None}
    assert api.method_calls == []
    assert cli(["publish", str(folder), "--repo-id", "me/lenet5.mnist", "--private", "--revision-notes", "v1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[0])["commit"] == "0123abc"
    assert out[1] == "pin this revision in the registry entry: revision='0123abc'"
    api.create_repo.assert_called_once_with("me/lenet5.mnist", repo_type="model", private=True, exist_ok=True)
    assert api.upload_folder.call_args.kwargs["commit_description"] == "v1"


def test_packed_data_is_named_by_its_source(tmp_path):
    from training.export import dataset_name

    np.savez(tmp_path / "packed.npz", name=np.asarray("cifar10"), train_images=np.zeros((1, 3, 2, 2), np.uint8))
    assert dataset_name(f"npz:{tmp_path / 'packed.npz'}") == "cifar10"
    assert dataset_name(f"npz:{tmp_path / 'missing.npz'}") == f"npz:{tmp_path / 'missing.npz'}"
    assert dataset_name("mnist") == "mnist"


def test_gpu_scripts_export_a_ready_weights_folder(run_dir, tmp_path, data_root):
    """``gpu_export`` (scripts/gpu_common.sh, used by every scripts/gpu_*.sh) evaluates a run the fit left
    unevaluated and writes its fp16 weights folder with the training record under $OUT/weights."""
    run, model = run_dir
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "out"), "DEVICE": "cpu",
           "CVZOO_DATA": str(data_root)}
    done = subprocess.run(["bash", "-c", f"source scripts/gpu_common.sh && gpu_export {run}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    folder = tmp_path / "out" / "weights" / "lenet5.mnist"
    config = json.loads((folder / "config.json").read_text())
    assert config["dtype"] == "float16" and 0 <= config["metrics"]["test_accuracy"] <= 1
    assert (folder / "record" / "eval" / "test" / "misclassified.npz").is_file()
    loaded = zoo.create_model("lenet5", pretrained=str(folder))
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x), atol=2e-3, rtol=2e-3)
