"""Tests of training/: data loaders, the engine (sanity, resume, DDP), artefacts and errors.

Most tests use a small synthetic data set written in the packed ``npz:`` format (so they run
without ../shared/data); the real-data tests skip with a reason when the data are absent.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from training import allocator, runs
from training.cli import main as cli
from training.data import (
    ArrayDataset,
    Augment,
    DatasetNotFoundError,
    load_dataset,
    pack,
)
from training.embed import embed, read_embeddings
from training.errors import ConfigError
from training.evaluate import evaluate
from training.loop import fit
from training.recipes import RECIPES, Recipe, get_recipe
from zoo.paths import data_root

REPO = Path(__file__).resolve().parent.parent
ROOT = data_root()
HAVE_MNIST = (ROOT / "MNIST" / "raw").is_dir()
HAVE_CIFAR = (ROOT / "cifar10" / "test").is_dir()

# 1 thread, tiny batches: the whole file should stay well under 90 s on 2 cores.
TINY = {"threads": 1, "batch_size": 32, "crop_pad": 0}


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch, tmp_path):
    torch.set_num_threads(1)
    monkeypatch.setenv("CVZOO_CACHE", str(tmp_path / "cache"))


def _state(run_dir: Path) -> dict[str, torch.Tensor]:
    return runs.load_checkpoint(run_dir)["model"]


# ----------------------------------------------------------------------------- data


@pytest.mark.data
@pytest.mark.skipif(not HAVE_MNIST, reason=f"MNIST not found under {ROOT}")
def test_mnist_loader_real_data():
    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (10000, 1, 28, 28)
    assert train.labels[:5].tolist() == [5, 0, 4, 1, 9]  # the official first labels
    assert torch.bincount(test.labels).tolist()[:3] == [980, 1135, 1032]


@pytest.mark.data
@pytest.mark.skipif(not HAVE_CIFAR, reason=f"CIFAR-10 ImageFolder not found under {ROOT / 'cifar10'}")
def test_cifar10_loader_real_data_and_cache(tmp_path):
    test = load_dataset("cifar10", "test")
    assert test.images.shape == (10000, 3, 32, 32)
    assert test.classes[0] == "airplane" and test.classes[-1] == "truck"
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    mean = test.images.float().mean((0, 2, 3))
    assert torch.allclose(mean, torch.tensor([126.025, 123.709, 114.854]), atol=0.05)  # README's test mean
    cached = list((tmp_path / "cache" / "decoded").glob("*.npz"))
    assert len(cached) == 1
    assert torch.equal(load_dataset("cifar10", "test").images, test.images)  # served from the cache


def _write_folder(root: Path, n_per_class: int = 3) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for c in ("cat", "dog"):
            (root / split / c).mkdir(parents=True)
            for i in range(n_per_class):
                Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")


def test_imagefolder_pack_roundtrip(tmp_path):
    _write_folder(tmp_path / "pets")
    ds = load_dataset(f"imagefolder:{tmp_path / 'pets'}", "train")
    assert ds.images.shape == (6, 3, 8, 8) and ds.classes == ["cat", "dog"] and ds.labels.tolist() == [0] * 3 + [1] * 3
    out = pack(f"imagefolder:{tmp_path / 'pets'}", tmp_path / "pets.npz")
    back = load_dataset(f"npz:{out}", "train")
    assert torch.equal(back.images, ds.images) and back.classes == ds.classes
    assert torch.equal(load_dataset(f"cifar10-npz:{out}", "test").images,
                       load_dataset(f"imagefolder:{tmp_path / 'pets'}", "test").images)


def test_classic_cifar_layout(tmp_path):
    from PIL import Image

    root = tmp_path / "CIFAR10"
    for sub, n in (("Train", 4), ("Test", 2)):
        (root / sub).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((32, 32, 3), 10 * i, np.uint8)).save(root / sub / f"{i + 1}.png")
        (root / f"Labels{sub}.txt").write_text("\n".join(str(i % 10) for i in range(n)))
    ds = load_dataset("cifar10", "train", root=tmp_path)
    assert ds.images.shape == (4, 3, 32, 32) and ds.labels.tolist() == [0, 1, 2, 3]
    assert int(ds.images[3, 0, 0, 0]) == 30  # file 4.png is item 3


def test_missing_data_set_says_where_it_looked(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path)) as err:
        load_dataset("cifar10", "test", root=tmp_path)
    assert "pack" in str(err.value) and "CVZOO_DATA" in str(err.value)


def test_augment_crop_flip_cutout_are_seeded():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    aug = Augment(pad=2, pad_mode="zeros", flip=True, cutout=2)
    a, b = aug(x, torch.Generator().manual_seed(3)), aug(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == x.shape
    assert not torch.equal(a, x)
    shifted = Augment(pad=1, pad_mode="zeros")(x, torch.Generator().manual_seed(0))
    # every output is the input translated by at most 1 pixel: its non-zero values are a subset
    for i in range(2):
        assert set(shifted[i].flatten().tolist()) - {0.0} <= set(x[i].flatten().tolist())


# ----------------------------------------------------------------------------- engine


@pytest.mark.data
@pytest.mark.skipif(not HAVE_MNIST, reason=f"MNIST not found under {ROOT}")
def test_lenet5_one_epoch_on_mnist_slice(tmp_path):
    res = fit("lenet5", "mnist", "lenet5_mnist", out=tmp_path / "run", epochs=1, train_limit=2000,
              test_limit=500, overrides={"threads": 1, "batch_size": 32, "lr": 0.05, "crop_pad": 0,
                                                               "schedule": "constant"},
              progress=False)
    assert res.metrics["test_acc"] >= 0.80, res.metrics
    ev = json.loads((tmp_path / "run" / "eval" / "test" / "metrics.json").read_text())
    assert abs(ev["accuracy"] - res.metrics["test_acc"]) < 1e-6
    assert ev["images"] == 500 and ev["num_params"] == 61706 and ev["throughput_images_per_s"] > 0


def test_fit_writes_run_folder_and_artefacts(tmp_path, digits, monkeypatch):
    run = tmp_path / "run"
    passes = []
    # count the test passes: one an epoch, none more at the end
    module = importlib.import_module("training.tasks.classification")
    monkeypatch.setattr(module, "run_eval", lambda *a, _f=module.run_eval, **k: passes.append(1) or _f(*a, **k))
    smoothed = {**TINY, "lr": 0.05, "label_smoothing": 0.1}
    res = fit("lenet5", digits, "lenet5_mnist", out=run, epochs=2, overrides=smoothed, progress=False)
    assert len(passes) == 2
    cfg = runs.read_config(run)
    assert cfg["model"] == "lenet5" and cfg["recipe"] == "lenet5_mnist" and cfg["class_names"][0] == "bar0"
    assert cfg["preprocessing"]["pad"] == 2 and cfg["versions"]["torch"] == torch.__version__
    assert cfg["allocator"] == allocator.loaded_allocator()  # wall times are read beside it
    rows = runs.read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2] and {"train_loss", "test_acc", "lr"} <= set(rows[0])
    assert res.metrics["test_acc"] > 0.5  # the bars are easy
    ev = run / "eval" / "test"
    conf = np.load(ev / "confusion.npy")
    assert conf.shape == (10, 10) and conf.sum() == 64
    for name in ("confusion.png", "metrics.json", "per_class.csv"):
        assert (ev / name).stat().st_size > 0
    assert (run / "eval" / "curves.png").stat().st_size > 0
    assert "plotly" in (run / "eval" / "curves.html").read_text()[:20000].lower()
    metrics = json.loads((ev / "metrics.json").read_text())
    assert set(metrics["per_class_accuracy"]) == set(cfg["class_names"])
    assert abs(metrics["accuracy"] - np.trace(conf) / conf.sum()) < 1e-9
    # the artefacts written from the last epoch's pass are those of the saved checkpoint, loss unsmoothed
    again = evaluate(run, out_dir=tmp_path / "again")
    assert again["accuracy"] == metrics["accuracy"] == rows[-1]["test_acc"]
    assert abs(again["loss"] - metrics["loss"]) < 1e-5 and abs(rows[-1]["test_loss"] - metrics["loss"]) < 1e-9
    model = runs.load_run(run)
    assert not model.training and model.cvzoo["model"] == "lenet5"


def test_budget_recipe_limits_and_explicit_limits_win(tmp_path, digits):
    budget = {**TINY, "train_limit": 96, "test_limit": 40}
    fit("lenet5", digits, "lenet5_mnist", out=tmp_path / "a", epochs=1, overrides=budget, progress=False)
    cfg = runs.read_config(tmp_path / "a")
    assert (cfg["train_size"], cfg["test_size"]) == (96, 40)
    fit("lenet5", digits, "lenet5_mnist", out=tmp_path / "b", epochs=1, overrides=budget, train_limit=64,
        progress=False)
    assert runs.read_config(tmp_path / "b")["train_size"] == 64


def test_checkpoint_loads_weights_only(tmp_path, digits):
    fit("lenet5", digits, "lenet5_mnist", out=tmp_path, epochs=1, overrides=TINY, progress=False,
        evaluate_at_end=False)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1 and {"model", "optimizer", "scheduler", "rng"} <= set(state)
    assert not list(tmp_path.glob("*.tmp"))


def test_resume_equals_uninterrupted(tmp_path, digits):
    # mnist_cnn has dropout and BatchNorm, so this also checks that the RNG is replayed.
    kw = {"epochs": 3, "overrides": {**TINY, "crop_pad": 2, "ema": 0.9}, "progress": False,
          "evaluate_at_end": False}
    fit("mnist_cnn", digits, "mnist_cnn_mnist", out=tmp_path / "full", **kw)

    def crash(epoch, _row):
        if epoch == 1:
            raise KeyboardInterrupt("simulated kill after epoch 1")

    with pytest.raises(KeyboardInterrupt):
        fit("mnist_cnn", digits, "mnist_cnn_mnist", out=tmp_path / "cut", callbacks=[crash], **kw)
    assert runs.load_checkpoint(tmp_path / "cut")["epoch"] == 1
    fit(resume=tmp_path / "cut", progress=False, evaluate_at_end=False)
    full, cut = _state(tmp_path / "full"), _state(tmp_path / "cut")
    assert all(torch.equal(full[k], cut[k]) for k in full)
    ema_full = runs.load_checkpoint(tmp_path / "full")["ema"]
    ema_cut = runs.load_checkpoint(tmp_path / "cut")["ema"]
    assert all(torch.equal(ema_full[k], ema_cut[k]) for k in ema_full)
    assert [r["epoch"] for r in runs.read_metrics(tmp_path / "cut")] == [1, 2, 3]
    assert [r["test_acc"] for r in runs.read_metrics(tmp_path / "cut")] == [
        r["test_acc"] for r in runs.read_metrics(tmp_path / "full")]


def test_ddp_two_gloo_processes_match_one_process(tmp_path, digits):
    """One step of 2 processes x 16 images equals one step of 1 process x 32 images (lenet5)."""
    args = ["-m", "training", "fit", "lenet5", "--data", digits, "--recipe", "lenet5_mnist", "--epochs", "1",
            "--train-limit", "32", "--test-limit", "16", "--batch-size", "32", "--set", "threads=1",
            "--set", "crop_pad=0", "--set", "schedule=constant", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    assert cli([*args[2:], "--out", str(tmp_path / "one")]) == 0  # one process, in this one
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", str(_free_port()), *args, "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=180)
    assert two.returncode == 0, two.stderr[-3000:]
    assert runs.read_config(tmp_path / "two")["world_size"] == 2
    a, b = _state(tmp_path / "one"), _state(tmp_path / "two")
    start = _initial_lenet5()
    assert any(not torch.equal(a[k], start[k]) for k in a)  # the step changed the weights
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _initial_lenet5() -> dict[str, torch.Tensor]:
    import zoo

    torch.manual_seed(0)
    return zoo.create_model("lenet5").state_dict()


def test_transfer_freeze_backbone_replaces_head(tmp_path, digits):
    src = tmp_path / "src"
    fit("lenet5", digits, "lenet5_mnist", out=src, epochs=1, overrides=TINY, progress=False, evaluate_at_end=False)
    # fine-tune the 10-class model to a 2-class task (the first two bars), backbone frozen
    d = np.load(digits.removeprefix("npz:"))
    keep_tr, keep_te = d["y_train"] < 2, d["y_test"] < 2
    two = tmp_path / "two.npz"
    np.savez(two, format_version=1, x_train=d["x_train"][keep_tr], y_train=d["y_train"][keep_tr],
             x_test=d["x_test"][keep_te], y_test=d["y_test"][keep_te], classes=np.asarray(["bar0", "bar1"]))
    dst = tmp_path / "dst"
    fit("lenet5", f"npz:{two}", "lenet5_mnist", out=dst, epochs=1, overrides={**TINY, "batch_size": 8},
        pretrained=str(src), freeze=True, progress=False, evaluate_at_end=False)
    before, after = _state(src), _state(dst)
    assert after["classifier.2.weight"].shape == (2, 84)
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("classifier.2"))
    assert runs.read_config(dst)["trainable_head"] == ["classifier.2.weight", "classifier.2.bias"]


def test_embed_writer_and_reader(tmp_path, digits):
    run = tmp_path / "run"
    fit("lenet5", digits, "lenet5_mnist", out=run, epochs=1, overrides=TINY, progress=False, evaluate_at_end=False)
    path = embed(run, split="test")
    e = read_embeddings(path)
    assert e.features.shape == (64, 84) and e.coords.shape == (64, 2) and np.isfinite(e.coords).all()
    assert e.thumbnails.shape == (64, 28, 28, 1) and e.thumbnails.dtype == np.uint8
    assert e.classes[0] == "bar0" and e.meta["model"] == "lenet5" and e.meta["images"] == 64
    assert e.labels.dtype == np.int64
    assert e.accuracy == evaluate(run, split="test", out_dir=tmp_path / "ev")["accuracy"]  # the run's predictions
    # a shippable subset: same t-SNE layout for the kept points, no features
    small = read_embeddings(embed(run, split="test", out=tmp_path / "small.npz", keep=16, features=False))
    assert small.features.shape == (16, 0) and small.thumbnails.shape == (16, 28, 28, 1)
    assert small.meta["images"] == 64 and small.meta["points"] == 16
    rows = [np.flatnonzero((e.coords == c).all(1)) for c in small.coords]
    assert all(len(r) == 1 for r in rows)  # every kept point is one of the full run's points
    idx = np.concatenate(rows)
    assert (e.labels[idx] == small.labels).all() and (e.thumbnails[idx] == small.thumbnails).all()


# ----------------------------------------------------------------------------- recipes and errors


def test_recipes_are_consistent():
    import zoo

    for name, r in RECIPES.items():
        assert r.name == name
        zoo.get_spec(r.model)  # every recipe names a registered model
    assert get_recipe("lenet5_mnist").target == 99.0
    with pytest.raises(ValueError, match="unknown recipe field"):
        Recipe(name="x", model="lenet5", data="mnist").override(nope=1)


def test_recipes_of_renamed_models_keep_their_former_names():
    from training.recipes import RECIPE_ALIASES, default_recipe

    assert RECIPE_ALIASES["resnext_cifar_cifar10_gpu"] == "resnext29_8x16d_cifar10_gpu"
    with pytest.warns(FutureWarning, match="'densenet_cifar_cifar10_cpu' is deprecated"):
        r = get_recipe("densenet_cifar_cifar10_cpu")
    assert r.name == "densenet_bc100_k12_cifar10_cpu" and r.for_model("densenet_cifar").model == "densenet_bc100_k12"
    assert default_recipe("resnext_cifar", "cifar10").name == "resnext29_8x16d_cifar10_cpu"


def test_gpu_script_and_readmes_name_existing_recipes():
    """Every `fit MODEL --recipe R` in the GPU script and the READMEs resolves (a recipe once went missing)."""
    root = Path(__file__).resolve().parents[1]
    script = (root / "scripts" / "gpu_cifar.sh").read_text().split('\nJOBS="', 1)[1].split('"', 1)[0]
    pairs = [tuple(line.split()[1:3]) for line in script.splitlines() if line.strip()]
    for doc in ("README.md", "training/RESULTS.md"):
        pairs += re.findall(r"fit ([a-z0-9_]+) (?:--data \S+ )?--recipe ([a-z0-9_]+)", (root / doc).read_text())
    assert len(pairs) > 9
    for model, recipe in pairs:
        get_recipe(recipe).for_model(model)


def test_gpu_experiments_script_names_existing_experiments_and_rows():
    from training.experiments import get_experiment

    root = Path(__file__).resolve().parents[1]
    lanes = (root / "scripts" / "gpu_experiments.sh").read_text().split('LANES="${GPU_LANES_SPEC:-', 1)[1]
    lanes = lanes.split('}"', 1)[0]
    covered: dict[str, set[str]] = {}
    for line in lanes.splitlines():
        _, name, _, _, rows = line.split()
        names = {r.name for r in get_experiment(name).rows}
        chosen = names if rows == "-" else set(rows.split(","))
        assert chosen <= names, (name, chosen - names)
        covered.setdefault(name, set()).update(chosen)
    for name, rows in covered.items():  # the lanes of an experiment run all of its rows
        assert rows == {r.name for r in get_experiment(name).rows}, name


@pytest.mark.parametrize(("argv", "message"), [
    (["fit", "lenet6", "--data", "DIGITS"], "unknown model 'lenet6'"),
    (["fit", "lenet5", "--data", "svhn"], "unknown data set 'svhn'"),
    (["fit", "lenet5", "--data", "DIGITS", "--recipe", "lenet5_mnits"], "Did you mean: lenet5_mnist"),
    (["fit", "lenet5", "--data", "DIGITS", "--recipe", "mnist_cnn_mnist"], "is for mnist_cnn"),
    (["fit", "lenet5", "--data", "DIGITS", "--recipe", "lenet5_mnist", "--set", "input_pad=0"], "expects 1x32x32"),
    (["fit", "lenet5", "--data", "DIGITS", "--set", "bogus=1"], "unknown recipe field"),
    (["eval", "no_such_dir_or_model", "--data", "DIGITS"], "neither a run folder nor a registered model"),
])
def test_bad_arguments_give_clear_errors(argv, message, digits, capsys):
    argv = [a.replace("DIGITS", digits) for a in argv]
    assert cli(argv) == 2
    assert message in capsys.readouterr().err


def test_fit_cli_takes_former_model_and_recipe_names(digits, capsys):
    """`fit densenet_cifar --recipe densenet_cifar_cifar10_cpu` reaches the recipe (an override error here),
    with a warning for each former name, instead of stopping at "the recipe is for another model"."""
    argv = ["fit", "densenet_cifar", "--data", digits, "--recipe", "densenet_cifar_cifar10_cpu", "--set", "bogus=1"]
    with pytest.warns(FutureWarning, match="densenet_cifar") as caught:
        assert cli(argv) == 2
    assert "unknown recipe field" in capsys.readouterr().err and len(caught) >= 2


def test_every_subcommand_has_a_handler():
    import argparse

    from training.cli import COMMANDS, build_parser

    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert sorted(sub.choices) == sorted(COMMANDS)


def test_model_that_does_not_fit_the_data(tmp_path):
    rgb = tmp_path / "rgb.npz"
    x = np.zeros((4, 3, 32, 32), np.uint8)
    np.savez(rgb, format_version=1, x_train=x, y_train=np.arange(4), x_test=x, y_test=np.arange(4),
             classes=np.asarray(list("abcd")))
    with pytest.raises(ConfigError, match=r"mnist_cnn expects 1x28x28 inputs; .* gives 3x32x32"):
        fit("mnist_cnn", f"npz:{rgb}", out=tmp_path / "run", overrides={"threads": 1}, progress=False)


def test_eval_cli_on_run_folder(tmp_path, digits, capsys):
    run = tmp_path / "run"
    fit("lenet5", digits, "lenet5_mnist", out=run, epochs=1, overrides=TINY, progress=False, evaluate_at_end=False)
    assert cli(["eval", str(run), "--split", "test", "--out", str(tmp_path / "ev")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["images"] == 64 and (tmp_path / "ev" / "confusion.png").is_file()
    res = evaluate(run, split="test", out_dir=tmp_path / "ev2")
    assert res["accuracy"] == out["accuracy"] and not out["tta_flip"]
    assert cli(["eval", str(run), "--tta-flip", "--out", str(tmp_path / "ev3")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["tta_flip"] is True


def test_split_subset_is_deterministic():
    ds = ArrayDataset("t", "train", torch.zeros(10, 1, 2, 2, dtype=torch.uint8), torch.arange(10), ["a"])
    assert torch.equal(ds.subset(4, 1).labels, ds.subset(4, 1).labels) and len(ds.subset(None)) == 10


def test_ensemble_of_run_folders(tmp_path, digits, capsys):
    dirs = []
    for seed in (0, 1):
        d = tmp_path / f"s{seed}"
        fit("lenet5", digits, "lenet5_mnist", out=d, epochs=1, seed=seed, overrides=TINY, progress=False,
            evaluate_at_end=False)
        dirs.append(str(d))
    assert cli(["ensemble", *dirs, "--out", str(tmp_path / "ens")]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(res["members"]) == set(dirs) and res["images"] == 64
    assert abs(res["gain"] - (res["accuracy"] - max(res["members"].values()))) < 1e-9
    assert (tmp_path / "ens" / "ensemble.json").is_file()
    with np.load(tmp_path / "ens" / "probs.npz") as z:  # the members' probabilities score the ensemble again
        avg = (z["member_0"].astype(np.float32) + z["member_1"].astype(np.float32)) / 2
        assert z["member_0"].shape == (64, 10) and abs(avg.sum(1) - 1).max() < 1e-2
        assert abs((avg.argmax(1) == z["labels"]).mean() - res["accuracy"]) <= 2 / 64  # float16 ties at most


def test_mid_epoch_resume_equals_uninterrupted(tmp_path, digits, monkeypatch):
    """A run killed part-way through an epoch (after a mid-epoch checkpoint) and resumed ends bit-for-bit
    where the uninterrupted run ends: sampler position, augmentation generator, global RNG (dropout),
    optimiser, schedule, EMA and the epoch's running training metrics all continue."""
    kw = {"epochs": 2, "overrides": {**TINY, "crop_pad": 2, "flip": True, "ema": 0.9}, "progress": False,
          "evaluate_at_end": False}
    fit("mnist_cnn", digits, "mnist_cnn_mnist", out=tmp_path / "full", **kw)
    assert len(runs.read_metrics(tmp_path / "full")) == 2
    saved = []
    real_save = runs.save_checkpoint

    def save_then_die(run_dir, state):
        real_save(run_dir, state)
        if state["mid_epoch"]:
            saved.append(state["mid_epoch"]["batch"])
            if len(saved) == 2:  # killed after the second mid-epoch checkpoint of epoch 1
                raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(runs, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit("mnist_cnn", digits, "mnist_cnn_mnist", out=tmp_path / "cut", checkpoint_every_s=0.0, **kw)
    monkeypatch.setattr(runs, "save_checkpoint", real_save)
    ckpt = runs.load_checkpoint(tmp_path / "cut")
    assert saved == [1, 2] and ckpt["epoch"] == 0 and ckpt["mid_epoch"]["batch"] == 2
    fit(resume=tmp_path / "cut", progress=False, evaluate_at_end=False)
    full, cut = _state(tmp_path / "full"), _state(tmp_path / "cut")
    assert all(torch.equal(full[k], cut[k]) for k in full)
    ema_full, ema_cut = (runs.load_checkpoint(tmp_path / d)["ema"] for d in ("full", "cut"))
    assert all(torch.equal(ema_full[k], ema_cut[k]) for k in ema_full)
    rows_full, rows_cut = runs.read_metrics(tmp_path / "full"), runs.read_metrics(tmp_path / "cut")
    for key in ("epoch", "train_loss", "train_acc", "test_acc"):
        assert [r[key] for r in rows_cut] == [r[key] for r in rows_full], key
    assert runs.load_checkpoint(tmp_path / "cut")["mid_epoch"] is None  # the last checkpoint is the epoch's


def test_mid_epoch_checkpoints_refused_where_they_cannot_be_exact(tmp_path, digits):
    with pytest.raises(ConfigError, match="classification"):
        fit("fcn8s_effnet_lite0", "camvid", out=tmp_path / "seg", checkpoint_every_s=60.0)


def test_eval_every_skips_the_test_pass_of_other_epochs_but_never_the_last(tmp_path, digits):
    out = tmp_path / "r"
    fit("lenet5", digits, "lenet5_mnist", out=out, epochs=3, overrides={**TINY, "eval_every": 2}, progress=False)
    rows = runs.read_metrics(out)
    assert [r["test_acc"] is not None for r in rows] == [False, True, True]
    assert rows[0]["test_loss"] is None and rows[0]["train_acc"] is not None
    assert (out / "eval" / "curves.png").stat().st_size > 0  # the curves draw the gap


def test_run_folder_artefacts_are_written_whole_or_not_at_all(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs.write_json(tmp_path / "eval" / "metrics.json", {"accuracy": 0.5})
    runs.write_csv(tmp_path / "eval" / "per_class.csv", "class,accuracy,images", [("cat", 0.25, 4)])
    runs.save_npy(tmp_path / "eval" / "confusion.npy", np.eye(2, dtype=np.int64))
    fig = plt.figure()
    runs.save_figure(fig, tmp_path / "eval" / "confusion.png", dpi=50)
    plt.close(fig)
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == {"accuracy": 0.5}
    assert (tmp_path / "eval" / "per_class.csv").read_text() == "class,accuracy,images\ncat,0.2500,4\n"
    assert np.load(tmp_path / "eval" / "confusion.npy").trace() == 2
    assert (tmp_path / "eval" / "confusion.png").read_bytes()[:4] == b"\x89PNG"

    class Failing:  # a figure whose rendering fails part-way: the old file stays, no temp file is left
        def savefig(self, f, **kwargs):
            f.write(b"half a figure")
            raise RuntimeError("renderer died")

    with pytest.raises(RuntimeError):
        runs.save_figure(Failing(), tmp_path / "eval" / "confusion.png")
    assert (tmp_path / "eval" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == [
        "confusion.npy", "confusion.png", "metrics.json", "per_class.csv"]


def test_find_tcmalloc_searches_folders_in_order(tmp_path):
    first, second = tmp_path / "conda" / "lib", tmp_path / "usr" / "lib"
    assert allocator.find_tcmalloc([first, second]) is None
    second.mkdir(parents=True)
    (second / "libtcmalloc.so.4").write_bytes(b"")
    assert allocator.find_tcmalloc([first, second]) == second / "libtcmalloc.so.4"
    first.mkdir(parents=True)
    (first / "libtcmalloc_minimal.so.4").write_bytes(b"")
    assert allocator.find_tcmalloc([first, second]) == first / "libtcmalloc_minimal.so.4"


def test_loaded_allocator_reads_the_process_maps():
    glibc = "7f0-7f1 r-xp 0 08:01 5 /usr/lib/x86_64-linux-gnu/libc.so.6\n7f2-7f3 rw-p 0 00:00 0 [heap]\n"
    assert allocator.loaded_allocator(glibc) == "system"
    tc = glibc + "7f4-7f5 r-xp 0 08:01 6 /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.10\n"
    assert allocator.loaded_allocator(tc) == "tcmalloc"
    assert allocator.loaded_allocator(glibc + "7f6-7f7 r-xp 0 08:01 7 /opt/lib/libjemalloc.so.2\n") == "jemalloc"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD and /proc/self/maps are Linux's")
def test_allocator_tip_says_how(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(allocator, "loaded_allocator", lambda: "system")
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: None)
    assert "apt-get install libtcmalloc-minimal4" in allocator.allocator_tip("python -m training fit x")
    lib = tmp_path / "libtcmalloc_minimal.so.4"
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: lib)
    assert allocator.allocator_tip("python -m training fit x").endswith(f"LD_PRELOAD={lib} python -m training fit x")
    monkeypatch.setattr(allocator, "loaded_allocator", lambda: "tcmalloc")
    assert allocator.allocator_tip("python -m training fit x") is None

    # the command line prints it before CPU training (here before the model name is refused), not for CUDA
    lib_cmd = f"LD_PRELOAD={lib} python -m training fit lenet6 --data d --device cpu"
    monkeypatch.setattr(allocator, "loaded_allocator", lambda: "system")
    for device, shown in (("cpu", True), ("cuda", False)):
        assert cli(["fit", "lenet6", "--data", "d", "--device", device]) == 2
        assert (lib_cmd.replace("cpu", device) in capsys.readouterr().err) == shown


@pytest.mark.skipif(allocator.find_tcmalloc() is None, reason="tcmalloc is not installed "
                    "(Debian/Ubuntu: apt-get install libtcmalloc-minimal4; .ci/run installs it as root)")
def test_tcmalloc_preload_is_seen_and_trains():
    code = ("import torch; from training.allocator import loaded_allocator; m = torch.nn.Linear(8, 2); "
            "m(torch.randn(4, 8)).sum().backward(); print(loaded_allocator())")
    lib = str(allocator.find_tcmalloc())
    for preload, expected in (("", "system"), (lib, "tcmalloc")):
        res = subprocess.run([sys.executable, "-c", code], env={**os.environ, "LD_PRELOAD": preload},
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
        assert res.stdout.split()[-1] == expected
