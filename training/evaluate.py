"""``python -m training eval``: a run folder or a registry model's weights, evaluated on a split.

The model is loaded (:func:`load_model_for_eval`), its task picked from the run's config or the
registry, and the task's evaluation writes ``RUN_DIR/eval/<split>/`` (or ``eval/<model>_<split>/``):
for classification ``metrics.json`` (accuracy, loss, per-class accuracy, parameter count,
throughput), ``confusion.npy``/``.png`` and ``per_class.csv``
(:mod:`training.tasks.classification`); for segmentation mIoU, per-class IoU and pixel accuracy at
full resolution (:mod:`training.tasks.segmentation`). :func:`evaluate_ensemble` scores several run
folders together. Nothing here imports the training loop.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training import runs
from training.data import BatchLoader, load_dataset
from training.device import autocast, pick_device
from training.errors import ConfigError
from training.seg.data import is_segmentation_data, load_segmentation
from training.tasks import classification, segmentation
from zoo.preprocessing import Preprocessing


def load_model_for_eval(model_or_run: str | os.PathLike, task: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A run folder's model and config, or a registry model with its default published weights and a
    config in the same schema (``preprocessing`` from the weight, ``class_names`` None). ``task``
    refuses a registry model of another task. Segmentation is evaluated at the data's own size."""
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
    if spec.task == "segmentation":
        pre = Preprocessing(mean=pre.mean, std=pre.std)
    cfg = {"model": name, "class_names": None, "seed": 0, "recipe_fields": {}, "task": spec.task,
           "preprocessing": pre.to_dict()}
    return model, cfg


def make_preprocess(cfg: dict[str, Any]) -> Preprocessing:
    """The preprocessing a run or weight config records."""
    return Preprocessing.from_dict(cfg["preprocessing"])


def data_to_evaluate(model_or_run: str | os.PathLike, data: str | None) -> str:
    """``data`` if given, else the data set the run folder ``model_or_run`` was trained on."""
    if data is None and Path(model_or_run).is_dir():
        data = runs.read_config(Path(model_or_run))["data"]
    if data is None:
        raise ConfigError("give --data for a registry model")
    return data


def evaluation_task(model_or_run: str | os.PathLike, data: str | None) -> str:
    """The task of what ``python -m training eval`` evaluates: the run's, the data set's or the model's."""
    import zoo

    path = Path(model_or_run)
    if path.is_dir() and (path / runs.CONFIG).is_file():
        return runs.read_config(path).get("task", "classification")
    if is_segmentation_data(data):
        return "segmentation"
    try:
        return zoo.get_spec(str(model_or_run)).task
    except KeyError:
        return "classification"


def evaluate(model_or_run: str | os.PathLike, data: str | None = None, split: str = "test", *,
             data_root: str | None = None, limit: int | None = None, device: str | None = None,
             batch_size: int | None = None, out_dir: str | os.PathLike | None = None,
             tta_flip: bool | None = None) -> dict[str, Any]:
    """Evaluate a run folder (or a registry model's default weights) on ``split`` and write the artefacts;
    returns ``metrics.json``'s content. ``tta_flip`` None follows the run's recipe (classification) or
    is off (segmentation)."""
    path = Path(model_or_run)
    is_run = path.is_dir()
    data = data_to_evaluate(model_or_run, data)
    task = evaluation_task(model_or_run, data)
    if task == "edges":
        raise ConfigError("edge detectors are scored by the BSDS benchmark (ODS/OIS/AP) in pblite: `python -m pblite "
                          "eval` on thinned predictions; `python -m training eval` does not cover them")
    dev = pick_device(device)
    model, cfg = load_model_for_eval(model_or_run, task=task)
    if task == "segmentation":
        ds = load_segmentation(data, split, root=data_root).subset(limit, cfg.get("seed", 0))
    else:
        ds = load_dataset(data, split, root=data_root).subset(limit, cfg.get("seed", 0))
    if cfg.get("class_names") and len(cfg["class_names"]) != len(ds.classes):
        raise ConfigError(f"{model_or_run} was trained on {len(cfg['class_names'])} classes; {data} has "
                          f"{len(ds.classes)}")
    model = model.to(dev)
    channels_last = dev.type == "cuda" or bool(cfg.get("recipe_fields", {}).get("channels_last"))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if tta_flip is None:
        tta_flip = task == "classification" and bool(cfg.get("recipe_fields", {}).get("tta_flip", False))
    out = Path(out_dir) if out_dir else (path / "eval" / split if is_run else Path("eval") / f"{cfg['model']}_{split}")
    module = segmentation if task == "segmentation" else classification
    kwargs = {"batch_size": batch_size} if batch_size else {}
    return module.evaluate_model(model, ds, make_preprocess(cfg), dev, out, model=cfg["model"],
                                 run=path if is_run else None, data=data, split=split, tta_flip=tta_flip,
                                 channels_last=channels_last, **kwargs)


def ensemble_member(member: str | os.PathLike) -> tuple[nn.Module, bool]:
    """One member for :func:`evaluate_ensemble`, behind its own preprocessing
    (:class:`zoo.models.ensemble.Preprocessed`, input in [0, 1]): a run folder, a weights folder or a
    weight id (``cifar_speedrun.cifar10_seed1``); and whether its recipe evaluates with flip TTA."""
    import zoo
    from zoo.models.ensemble import Preprocessed, build_member
    from zoo.weights import WEIGHTS_FILE, read_config, weight_config

    path = Path(member)
    if path.is_dir():
        if (path / WEIGHTS_FILE).is_file():
            cfg = read_config(path)
            model = zoo.create_model(cfg["model"], pretrained=str(path))
        else:
            model = runs.load_run(path)
            cfg = model.cvzoo
        net = Preprocessed(model, make_preprocess(cfg), str(member))
    elif "." in str(member):
        net = build_member(str(member))
        cfg = weight_config(*str(member).split(".", 1))
    else:
        raise ConfigError(f"{member!r} is not a run folder, a weights folder or a weight id (MODEL.TAG, as "
                          "`cvzoo models` lists them); an untrained network cannot be scored")
    return net, bool(cfg.get("recipe_fields", {}).get("tta_flip", False))


def evaluate_ensemble(members: list[str | os.PathLike], data: str | None = None, split: str = "test", *,
                      weights: list[float] | None = None, data_root: str | None = None, limit: int | None = None,
                      device: str | None = None, out_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Score :class:`zoo.models.ensemble.Ensemble` of ``members`` (run folders, weights folders or weight
    ids; see :func:`ensemble_member`), the object the demos use, beside each member alone. A member
    whose recipe evaluates with flip TTA averages its probabilities with the mirrored image's.

    With ``out_dir``, writes ``ensemble.json`` and ``probs.npz``: ``labels`` ``(N,)`` int64 and
    ``member_<i>`` ``(N, classes)`` float16 softmax probabilities of member ``i`` (in ``members``
    order, named in ``ensemble.json``), so that any subset can be scored again without the models."""
    from zoo.models.ensemble import Ensemble

    if not members:
        raise ConfigError("an ensemble needs at least one member")
    if data is None:
        first = Path(members[0])
        if not (first / "config.json").is_file() or (first / "model.safetensors").is_file():
            raise ConfigError("give --data: the first member is not a run folder that names its data set")
        data = runs.read_config(first)["data"]
    built = [ensemble_member(m) for m in members]
    model = Ensemble([net for net, _ in built], weights).to(pick_device(device)).eval()
    dev = next(model.parameters()).device
    ds = load_dataset(data, split, root=data_root).subset(limit, 0)
    unit = Preprocessing(mean=(0.0,) * ds.images.shape[1], std=(1.0,) * ds.images.shape[1])
    loader = BatchLoader(ds, 500, train=False, preprocess=unit, device=dev)
    member_probs: list[list[torch.Tensor]] = [[] for _ in built]
    with torch.inference_mode(), autocast(dev, True):
        for x, _ in loader:
            probs = model.member_probabilities(x).float()
            for i, (_, tta) in enumerate(built):
                p = 0.5 * (probs[i] + model.members[i](x.flip(-1)).float().softmax(1)) if tta else probs[i]
                member_probs[i].append(p.cpu())
    stacked = torch.stack([torch.cat(p) for p in member_probs])  # M×N×C
    labels = ds.labels.cpu()
    pred = torch.einsum("m,mnc->nc", model.weights.cpu(), stacked).argmax(1)
    accuracy = (pred == labels).float().mean().item()
    member_acc = {name: (p.argmax(1) == labels).float().mean().item()
                  for name, p in zip(model.member_names, stacked, strict=True)}
    result = {"data": data, "split": split, "images": len(ds), "members": member_acc,
              "weights": model.weights.tolist(), "accuracy": accuracy, "best_member": max(member_acc.values()),
              "gain": accuracy - max(member_acc.values())}
    if out_dir:
        out = Path(out_dir)
        runs.write_json(out / "ensemble.json", result)
        runs.save_npz(out / "probs.npz", compressed=True, labels=labels.numpy().astype(np.int64),
                      **{f"member_{i}": p.numpy().astype(np.float16) for i, p in enumerate(stacked)})
    return result
