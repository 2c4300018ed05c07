"""``python -m training`` through its real argument parser (``training.cli.main``): recipes, embed and
course-ensemble on tiny inputs (export and publish: test_export_publish.py; fit, eval, ensemble, pack
and experiment: test_training.py and test_course_experiments.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from training.cli import main as cli
from training.loop import fit
from training.recipes import RECIPES


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch, tmp_path):
    torch.set_num_threads(1)
    monkeypatch.setenv("CVZOO_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def run(digits, tmp_path_factory):
    """A one-epoch lenet5 run on the digits set."""
    out = tmp_path_factory.mktemp("cli") / "run"
    torch.set_num_threads(1)
    fit("lenet5", digits, "lenet5_mnist", out=out, epochs=1, overrides={"threads": 1, "batch_size": 32, "crop_pad": 0},
        progress=False, evaluate_at_end=False)
    return out


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_recipes_cli_lists_the_recipes_of_a_model(capsys):
    assert cli(["recipes"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == sorted(RECIPES)
    assert cli(["recipes", "--model", "lenet5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert "lenet5_mnist" in names and "mnist_cnn_mnist" not in names
    for name, line in zip(names, lines, strict=True):
        r = RECIPES[name]
        assert r.model == "lenet5" or "lenet5" in r.models, name
        assert line.split()[2:4] == [r.data, str(r.epochs)] and line.split()[4] == "ep"
    assert cli(["recipes", "--model", "no_such_model"]) == 0 and capsys.readouterr().out == ""


def test_embed_cli_writes_a_small_file_and_its_panels(run, tmp_path, capsys):
    out = tmp_path / "emb.npz"
    assert cli(["embed", str(run), "--keep", "16", "--no-features", "-o", str(out), "--panels"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[0] == str(out) and str(tmp_path / "emb_panels.png") in printed
    from training.embed import read_embeddings

    emb = read_embeddings(out)
    assert emb.features.shape == (16, 0) and emb.meta["images"] == 64 and emb.meta["points"] == 16
    # by default: every point with its features, beside the run; 10 classes draw panels only when asked
    assert cli(["embed", str(run), "--split", "test"]) == 0
    assert capsys.readouterr().out.split() == [str(run / "embeddings_test.npz")]
    assert read_embeddings(run / "embeddings_test.npz").features.shape == (64, 84)


def test_course_ensemble_cli_one_member_on_a_tiny_folder(tmp_path, capsys):
    from PIL import Image

    from training.course_ensemble import build_member

    rng = np.random.default_rng(0)
    for split, n in (("train", 2), ("val", 2)):
        for k in range(3):
            d = tmp_path / "folder" / split / f"class{k}"
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(d / f"{i}.png")
    assert cli(["course-ensemble", "--data", f"imagefolder:{tmp_path / 'folder'}", "--out", str(tmp_path / "ens"),
                "--members", "densenet169", "--image-size", "32", "--epochs", "3", "--max-steps", "2",
                "--batch-size", "4", "--lr", "0.001", "--device", "cpu"]) == 0
    printed = _last_json(capsys)
    saved = json.loads((tmp_path / "ens" / "ensemble.json").read_text())
    assert printed == {k: v for k, v in saved.items() if k != "per_member"}
    assert saved["members"] == ["densenet169"] and saved["classes"] == 3 and saved["test_images"] == 6
    assert saved["settings"]["lr"] == 0.001 and saved["settings"]["batch_size"] == 4
    assert saved["per_member"]["densenet169"]["steps"] == 2  # --max-steps ends training before --epochs does
    # one member: the soft vote is that member's prediction
    assert saved["accuracy"] == saved["per_member"]["densenet169"]["accuracy"] == saved["best_member_accuracy"]
    model = build_member("densenet169", 3)
    model.load_state_dict(torch.load(tmp_path / "ens" / "densenet169.pt", weights_only=True))
    assert cli(["course-ensemble", "--data", f"imagefolder:{tmp_path / 'folder'}", "--out", str(tmp_path / "x"),
                "--members", "vgg17"]) == 2
    assert "unknown ensemble member 'vgg17'" in capsys.readouterr().err
