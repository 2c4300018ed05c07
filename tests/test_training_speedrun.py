"""The speed run's parts: whitening initialisation, translation, the network's shapes."""

from __future__ import annotations

import pytest
import torch

import zoo
from training import speedrun
from training.data import ArrayDataset
from zoo.models.speedrun import init_whitening


def test_whitening_stem_whitens_patches():
    torch.manual_seed(0)
    mix = torch.tensor([[1.0, 0.5, 0.2], [0.0, 1.0, 0.7], [0.0, 0.0, 0.3]])
    images = torch.einsum("dc,nchw->ndhw", mix, torch.randn(64, 3, 16, 16))
    model = zoo.create_model("cifar_speedrun", widths=(8, 8, 8))
    init_whitening(model, images, eps=0.0)
    out = torch.nn.functional.conv2d(images, model.whiten.weight[:12])  # the + half of the 24 filters
    flat = out.permute(0, 2, 3, 1).reshape(-1, 12)
    cov = flat.T @ flat / len(flat)
    torch.testing.assert_close(cov, torch.eye(12), atol=2e-3, rtol=0)
    assert not model.whiten.weight.requires_grad


def test_network_shapes_and_trainable_parts():
    model = zoo.create_model("cifar_speedrun", widths=(16, 32, 32))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert "whiten.weight" in frozen and all(n.endswith(".weight") for n in frozen)  # BN scales are fixed
    assert zoo.get_spec("cifar_speedrun").input_size == (3, 32, 32)


def test_batch_translate_moves_by_at_most_pad():
    x = torch.arange(4 * 3 * 8 * 8, dtype=torch.float32).view(4, 3, 8, 8)
    out = speedrun.batch_translate(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    # the centre 4x4 of every output is a shifted window of its own input
    for i in range(4):
        vals = set(out[i, 0, 2:6, 2:6].flatten().tolist())
        assert vals <= set(x[i, 0].flatten().tolist())


def test_predict_mirror_tta_is_flip_invariant():
    model = zoo.create_model("cifar_speedrun", widths=(8, 8, 8)).eval()
    images = torch.randint(0, 255, (4, 3, 32, 32), dtype=torch.uint8)
    a = speedrun.predict(model, images, 1, torch.device("cpu"), False)
    b = speedrun.predict(model, images.flip(-1), 1, torch.device("cpu"), False)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def _tiny_run(tmp_path, monkeypatch, name: str) -> tuple[float, list[dict], dict]:
    """speedrun.main end to end on 320 random training images (batch 64, widths 8): 2.5 epochs, the last
    stopping mid-epoch, weight averaging from epoch 1 and 6-view TTA at the end."""
    from training import runs
    from training.data import ArrayDataset

    g = torch.Generator().manual_seed(0)
    split = {s: ArrayDataset("cifar10", s, torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
                             torch.randint(0, 10, (n,), generator=g), [str(i) for i in range(10)])
             for s, n in (("train", 320), ("test", 50))}
    monkeypatch.setattr(speedrun, "load_dataset", lambda name, s, **kw: split[s])
    hyp = speedrun.make_hyp("full", epochs=2.5, threads=1)
    hyp["opt"]["batch_size"], hyp["opt"]["ema"]["start_epochs"] = 64, 1
    hyp["net"]["widths"], hyp["net"]["whiten_images"] = (8, 8, 8), 64
    acc = speedrun.main(hyp, tmp_path / name)
    return acc, runs.read_metrics(tmp_path / name), runs.load_run(tmp_path / name).state_dict()


def test_main_writes_a_run_folder_and_is_deterministic(tmp_path, monkeypatch):
    acc, rows, state = _tiny_run(tmp_path, monkeypatch, "a")
    assert [(r["epoch"], r["step"], r["tta"]) for r in rows] == [(1, 5, 0), (2, 10, 0), (3, 13, 2)]
    assert acc == rows[-1]["test_acc"]
    again, rows_again, state_again = _tiny_run(tmp_path, monkeypatch, "b")
    assert again == acc and [r["train_loss"] for r in rows_again] == [r["train_loss"] for r in rows]
    assert all(torch.equal(state[k], state_again[k]) for k in state)


def _coloured_squares(n: int, seed: int) -> ArrayDataset:
    """A learnable 10-class 32x32 RGB set: class k is a square of colour k on noise, at a random place."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 80, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    colours = torch.tensor([[(k >> b & 1) * 255 for b in range(3)] for k in range(8)] + [[255, 128, 0], [0, 128, 255]],
                           dtype=torch.uint8)
    for i, (y, x) in enumerate(torch.randint(0, 20, (n, 2), generator=g).tolist()):
        images[i, :, y : y + 12, x : x + 12] = colours[labels[i]].view(3, 1, 1)
    return ArrayDataset("squares", "train", images, labels, [f"c{k}" for k in range(10)])


def test_speedrun_cli_end_to_end_on_a_tiny_set(tmp_path, monkeypatch, capsys):
    """``python -m training.speedrun`` (its ``cli``) on 512 tiny images with a small network: the run folder
    is a standard one (``python -m training eval`` reads it and agrees with the run's last accuracy)."""
    import json

    import numpy as np

    from training import runs
    from training.cli import main as training_cli

    data = {"train": _coloured_squares(512, 0), "test": _coloured_squares(100, 1)}
    monkeypatch.setattr(speedrun, "load_dataset", lambda name, split: data[split])

    def small(*args, **kwargs):  # the schedule's own hyperparameters, on a network and batch that fit a test
        hyp = make_hyp(*args, **kwargs)
        hyp["opt"]["batch_size"], hyp["net"]["widths"], hyp["net"]["whiten_images"] = 64, (8, 16, 16), 512
        hyp["run"]["eval_batch"] = 50
        return hyp

    make_hyp = speedrun.make_hyp
    monkeypatch.setattr(speedrun, "make_hyp", small)
    run = tmp_path / "run"
    acc = speedrun.cli(["--schedule", "short", "--epochs", "2", "--seed", "3", "--threads", "1", "--out", str(run)])
    assert f"final test accuracy {acc:.4f}" in capsys.readouterr().out
    cfg = runs.read_config(run)
    assert cfg["schedule"] == "short" and cfg["seed"] == 3 and cfg["threads"] == 1
    assert cfg["recipe_fields"]["opt"]["train_epochs"] == 2 and cfg["model_kwargs"] == {"widths": [8, 16, 16]}
    rows = runs.read_metrics(run)
    assert [(r["epoch"], r["step"], r["tta"]) for r in rows] == [(1, 8, 0), (2, 16, 1)]  # mirror TTA at the end
    assert rows[-1]["test_acc"] == acc and acc > 0.3  # 10 classes: chance is 0.1
    assert runs.load_checkpoint(run)["epoch"] == 2
    # the standard evaluation reads the folder; with the mirror it scores what the run's last pass scored
    np.savez(tmp_path / "squares.npz", format_version=1, x_train=data["train"].images.numpy(),
             y_train=data["train"].labels.numpy(), x_test=data["test"].images.numpy(),
             y_test=data["test"].labels.numpy(), classes=np.asarray(data["test"].classes), name="squares")
    assert training_cli(["eval", str(run), "--data", f"npz:{tmp_path / 'squares.npz'}", "--tta-flip",
                         "--out", str(tmp_path / "ev")]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["images"] == 100 and ev["accuracy"] == pytest.approx(acc, abs=0.011)
