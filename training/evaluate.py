"""Evaluation artefacts of a trained model, written to ``RUN_DIR/eval/<split>/``.

- ``metrics.json``: accuracy, loss, per-class accuracy, parameter count, throughput (images/s,
  forward only, batch 64, with the thread count), model, data, split, number of images;
- ``confusion.npy`` (rows: true class, columns: predicted) and ``confusion.png`` (heatmap with
  class names);
- ``per_class.csv``;
- ``curves.png`` and ``curves.html`` (interactive plotly) from the run's ``metrics.jsonl``, one level up
  in ``RUN_DIR/eval/``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training import runs
from training.data import BatchLoader, Preprocess, load_dataset
from training.engine import ClassificationMeter, ClassificationTask, ConfigError, pick_device, run_eval


def load_model_for_eval(model_or_run: str | os.PathLike, task: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A run folder's model and config, or a registry model with its default published weights and
    the preprocessing those weights declare (``zoo.get_preprocessing``). ``task`` refuses a registry
    model of another task. Segmentation is evaluated at the data's own size (no ``size``)."""
    import zoo

    path = Path(model_or_run)
    if path.is_dir():
        model = runs.load_run(path)
        return model, model.cvzoo
    name = str(model_or_run)
    try:
        spec = zoo.get_spec(name)
    except KeyError as exc:
        raise ConfigError(f"{name!r} is neither a run folder nor a registered model ({exc})") from None
    if task is not None and spec.task != task:
        raise ConfigError(f"{name} is a {spec.task} model, not a {task} model")
    model = zoo.create_model(name, pretrained=True).eval()
    pre = zoo.get_preprocessing(name)
    size = None if spec.task == "segmentation" else [pre.crop[0] + 2 * pre.pad, pre.crop[1] + 2 * pre.pad]
    cfg = {"model": name, "classes": None, "seed": 0, "recipe_fields": {},
           "preprocess": {"mean": list(pre.mean), "std": list(pre.std), "size": size, "pad": pre.pad, "channels": None}}
    return model, cfg


def make_preprocess(cfg: dict[str, Any]) -> Preprocess:
    p = cfg["preprocess"]
    return Preprocess(mean=tuple(p["mean"]), std=tuple(p["std"]), size=tuple(p["size"]) if p.get("size") else None,
                      pad=p.get("pad", 0), channels=p.get("channels"), crop=p.get("crop") or None)


def throughput(model: nn.Module, example: torch.Tensor, batch: int = 64, seconds: float = 1.0) -> float:
    """Forward-pass images per second on ``example``'s device (batch 64, at least one timed batch)."""
    x = example[:1].expand(batch, *example.shape[1:]).contiguous()
    model.eval()
    with torch.no_grad():
        model(x)
        n, t0 = 0, time.perf_counter()
        while n < 1 or time.perf_counter() - t0 < seconds:
            model(x)
            n += 1
        if x.device.type == "cuda":
            torch.cuda.synchronize()
    return n * batch / (time.perf_counter() - t0)


def plot_confusion(confusion: np.ndarray, classes: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(classes)
    norm = confusion / np.maximum(1, confusion.sum(1, keepdims=True))
    size = max(5.0, 0.45 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), classes, rotation=60, ha="right", fontsize=8 if k <= 20 else 5)
    ax.set_yticks(range(k), classes, fontsize=8 if k <= 20 else 5)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(confusion[i, j])), ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
    fig.tight_layout()
    runs.save_figure(fig, path, dpi=120)
    plt.close(fig)


def plot_curves(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> list[Path]:
    """Loss and accuracy per epoch, as ``curves.png`` and interactive ``curves.html``."""
    rows = runs.read_metrics(run_dir)
    if not rows:
        return []
    out = Path(out_dir) if out_dir else Path(run_dir) / "eval"
    out.mkdir(parents=True, exist_ok=True)
    epochs = [r["epoch"] for r in rows]
    series = {k: [r.get(k) for r in rows] for k in ("train_loss", "test_loss", "train_acc", "test_acc")}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for k in ("train_loss", "test_loss"):
        a1.plot(epochs, series[k], marker="o", label=k.replace("_", " "))
    for k in ("train_acc", "test_acc"):
        a2.plot(epochs, [100 * v if v is not None else None for v in series[k]], marker="o", label=k.replace("_", " "))
    a1.set(xlabel="epoch", ylabel="loss", title="loss")
    a2.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend()

    def interactive() -> Any:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig2 = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy (%)"))
        for k in ("train_loss", "test_loss"):
            fig2.add_trace(go.Scatter(x=epochs, y=series[k], mode="lines+markers", name=k.replace("_", " ")), 1, 1)
        for k in ("train_acc", "test_acc"):
            fig2.add_trace(go.Scatter(x=epochs, y=[100 * v if v is not None else None for v in series[k]],
                                      mode="lines+markers", name=k.replace("_", " ")), 1, 2)
        return fig2.update_xaxes(title_text="epoch")

    return save_png_and_html(fig, interactive, out / "curves")


def save_png_and_html(fig: Any, interactive: Callable[[], Any], stem: Path) -> list[Path]:
    """Write the matplotlib ``fig`` as ``stem.png`` (and close it), then the plotly figure that
    ``interactive()`` builds as a self-contained ``stem.html``; without plotly (the ``train`` extra)
    the PNG alone. Returns the paths written."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    png = stem.with_suffix(".png")
    runs.save_figure(fig, png, dpi=120)
    plt.close(fig)
    if importlib.util.find_spec("plotly") is None:
        return [png]
    html = stem.with_suffix(".html")
    runs.save_html(interactive(), html)
    return [png, html]


def data_to_evaluate(model_or_run: str | os.PathLike, data: str | None) -> str:
    """``data`` if given, else the data set the run folder ``model_or_run`` was trained on."""
    if data is None and Path(model_or_run).is_dir():
        data = runs.read_config(Path(model_or_run))["data"]
    if data is None:
        raise ConfigError("give --data for a registry model")
    return data


def evaluate(model_or_run: str | os.PathLike, data: str | None = None, split: str = "test", *,
             data_root: str | None = None, limit: int | None = None, device: str | None = None,
             batch_size: int = 256, out_dir: str | os.PathLike | None = None,
             tta_flip: bool | None = None) -> dict[str, Any]:
    """Evaluate a run folder (or a registry model's default weights) and write the artefacts."""
    path = Path(model_or_run)
    is_run = path.is_dir()
    data = data_to_evaluate(model_or_run, data)
    dev = pick_device(device)
    ds = load_dataset(data, split, root=data_root)
    model, cfg = load_model_for_eval(model_or_run)
    ds = ds.subset(limit, cfg.get("seed", 0))
    if cfg.get("classes") and len(cfg["classes"]) != len(ds.classes):
        raise ConfigError(f"{model_or_run} was trained on {len(cfg['classes'])} classes; {data} has {len(ds.classes)}")
    pre = make_preprocess(cfg)
    model = model.to(dev)
    channels_last = dev.type == "cuda" or bool(cfg.get("recipe_fields", {}).get("channels_last"))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if tta_flip is None:
        tta_flip = bool(cfg.get("recipe_fields", {}).get("tta_flip", False))
    loader = BatchLoader(ds, batch_size, train=False, preprocess=pre, device=dev, channels_last=channels_last)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else contextlib.nullcontext()
    task = ClassificationTask(len(ds.classes))
    try:
        _, meter, _ = run_eval(model, loader, task, amp, tta_flip)
    except RuntimeError as exc:
        raise ConfigError(f"{model_or_run} does not accept {data} images: {str(exc).splitlines()[0]}") from None
    out = Path(out_dir) if out_dir else (path / "eval" / split if is_run else Path("eval") / f"{cfg['model']}_{split}")
    return write_evaluation(out, model, next(iter(loader))[0], meter, ds.classes, model=cfg["model"],
                            run=path if is_run else None, data=data, split=split, tta_flip=tta_flip)


def write_evaluation(out: Path, net: nn.Module, example: torch.Tensor, meter: ClassificationMeter,
                     classes: list[str], *, model: str, run: Path | None, data: str, split: str,
                     tta_flip: bool) -> dict[str, Any]:
    """Write the artefacts of one finished test pass (``meter``, plain cross-entropy) of ``net`` to ``out``
    and return ``metrics.json``'s content. ``example`` is one input batch, (N, C, H, W), for the
    throughput figure; ``run`` (a run folder) also gets its training curves drawn."""
    summary = meter.compute()
    confusion = meter.confusion.numpy()
    per_class = confusion.diagonal() / np.maximum(1, confusion.sum(1))
    result = {
        "model": model, "run": str(run) if run else None, "data": data, "split": split,
        "images": int(confusion.sum()), "accuracy": summary["acc"], "loss": summary["loss"], "tta_flip": tta_flip,
        "per_class_accuracy": dict(zip(classes, per_class.round(4).tolist(), strict=True)),
        "num_params": sum(p.numel() for p in net.parameters()),
        "throughput_images_per_s": round(throughput(net, example), 1),
        "device": str(example.device), "threads": torch.get_num_threads(),
    }
    runs.write_json(out / "metrics.json", result)
    runs.save_npy(out / "confusion.npy", confusion)
    runs.write_csv(out / "per_class.csv", "class,accuracy,images",
                   zip(classes, per_class.tolist(), confusion.sum(1).tolist(), strict=True))
    plot_confusion(confusion, classes, out / "confusion.png", f"{model} on {data} {split}: {100 * summary['acc']:.2f}%")
    if run is not None:
        plot_curves(run)
    return result


def evaluate_ensemble(run_dirs: list[str | os.PathLike], data: str | None = None, split: str = "test", *,
                      weights: list[float] | None = None, data_root: str | None = None, limit: int | None = None,
                      device: str | None = None, out_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Average the softmax probabilities of several run folders (each with its own preprocessing and
    its recipe's flip TTA) and report the ensemble's accuracy beside each member's.

    With ``out_dir``, writes ``ensemble.json`` and ``probs.npz``: ``labels`` ``(N,)`` int64 and
    ``member_<i>`` ``(N, classes)`` float16 softmax probabilities of member ``i`` (in ``run_dirs``
    order, named in ``ensemble.json``), so that any subset can be scored again without the models."""
    if not run_dirs:
        raise ConfigError("an ensemble needs at least one run folder")
    data = data or runs.read_config(run_dirs[0])["data"]
    dev = pick_device(device)
    ds = load_dataset(data, split, root=data_root).subset(limit, 0)
    weights = weights or [1.0] * len(run_dirs)
    probs_sum, members, member_probs = None, {}, []
    for run_dir, w in zip(run_dirs, weights, strict=True):
        model = runs.load_run(run_dir).to(dev)
        cfg = model.cvzoo
        loader = BatchLoader(ds, 500, train=False, preprocess=make_preprocess(cfg), device=dev)
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else contextlib.nullcontext()
        tta = bool(cfg.get("recipe_fields", {}).get("tta_flip", False))
        _, _, logits = run_eval(model, loader, ClassificationTask(len(ds.classes)), amp, tta)
        probs = logits.float().softmax(1)
        member_probs.append(probs.cpu().numpy().astype(np.float16))
        members[str(run_dir)] = (probs.argmax(1) == ds.labels).float().mean().item()
        probs_sum = w * probs if probs_sum is None else probs_sum + w * probs
    pred = probs_sum.argmax(1)
    acc = (pred == ds.labels).float().mean().item()
    result = {"data": data, "split": split, "images": len(ds), "members": members, "weights": weights,
              "accuracy": acc, "best_member": max(members.values()), "gain": acc - max(members.values())}
    if out_dir:
        out = Path(out_dir)
        runs.write_json(out / "ensemble.json", result)
        runs.save_npz(out / "probs.npz", compressed=True, labels=ds.labels.cpu().numpy().astype(np.int64),
                      **{f"member_{i}": p for i, p in enumerate(member_probs)})
    return result
