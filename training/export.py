"""``python -m training export RUN_DIR -o FOLDER``: a training run becomes a published weight.

The folder is what :mod:`zoo.weights` reads (``model.safetensors``, ``config.json``, ``README.md``
model card), written by ``zoo.weights.save_weights_folder``: one writer, one reader. Its
``record/`` subfolder is the run's training record, itself a run folder without the checkpoint
(:data:`RECORD_FILES`: config, per-epoch metrics, the test evaluation's numbers, confusion matrix,
per-class table and most confident mistakes), which the dashboard lists as a run.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from pathlib import Path
from typing import Any

import zoo
from training import runs
from zoo.preprocessing import Preprocessing
from zoo.weights import HUB_ORG, save_weights_folder

DATASET_CARDS = {
    "mnist": ("mnist", "MNIST (LeCun et al. 1998), 60,000 train / 10,000 test digits"),
    "cifar10": ("cifar10", "CIFAR-10 (Krizhevsky 2009), 50,000 train / 10,000 test images"),
    "camvid": ("camvid", "CamVid, SegNet's 11-class split (367/101/233); images stored as JPEG q92 "
                         "(PSNR about 40 dB against the original PNGs), masks original. Licence of the data: "
                         "non-commercial use with attribution (as distributed with SegNet)"),
}


def inference_preprocessing(config: dict[str, Any]) -> dict[str, Any]:
    """A run's preprocessing as a weight needs it for images of any size: a classification run folder of
    ``config_version`` 1 recorded no crop (its data had the size), so the model's input size, less the
    padding, is the crop, as the exports of version 1 computed it."""
    pre = Preprocessing.from_dict(config["preprocessing"])
    if pre.crop is None and config.get("task", "classification") == "classification":
        h, w = zoo.get_spec(config["model"]).input_size[1:]
        crop = (h - 2 * pre.pad, w - 2 * pre.pad)
        pre = dataclasses.replace(pre, resize=min(crop), crop=crop)
    return pre.to_dict()


def training_command(config: dict[str, Any], epochs: int) -> str:
    """The command that reproduces a run: the speed run's own script for its runs, else ``training fit``."""
    if config.get("schedule"):  # written by training.speedrun
        return f"python -m training.speedrun --schedule {config['schedule']} --seed {config.get('seed', 0)} --threads 2"
    return (f"python -m training fit {config['model']} --data {config['data']} --recipe {config['recipe']}"
            f" --epochs {epochs} --seed {config.get('seed', 0)}")


def weight_config(run_dir: Path, tag: str, repo_id: str) -> dict[str, Any]:
    """The ``config.json`` of a weight exported from ``run_dir`` (its eval/test results included)."""
    config = runs.read_config(run_dir)
    evaluation = Path(run_dir) / "eval" / "test" / "metrics.json"
    if not evaluation.is_file():
        raise FileNotFoundError(f"{evaluation} is missing: run `python -m training eval {run_dir} --split test` "
                                "first, so the model card carries measured metrics")
    result = json.loads(evaluation.read_text())
    history = runs.read_metrics(run_dir)
    metric_keys = ("accuracy", "miou", "pixel_accuracy", "mean_class_accuracy")
    return {
        "model": zoo.get_spec(config["model"]).name,  # a former name becomes the current one
        "tag": tag,
        "repo_id": repo_id,
        "model_kwargs": {**config.get("model_kwargs", {}), "num_classes": len(config["class_names"])},
        "num_classes": len(config["class_names"]),
        "class_names": list(config["class_names"]),
        "input_size": list(zoo.get_spec(config["model"]).input_size),
        "preprocessing": inference_preprocessing(config),
        "dataset": dataset_name(config["data"]),
        "metrics": {f"test_{k}": result[k] for k in metric_keys if k in result},
        "recipe": config["recipe"],
        "recipe_fields": config.get("recipe_fields", {}),
        "training": {
            "command": training_command(config, len(history)),
            "epochs": len(history),
            "wall_time_s": (history[-1].get("elapsed_s") or history[-1].get("wall_time_s")) if history else None,
            "device": config.get("device"),
            "threads": config.get("threads"),
            "world_size": config.get("world_size", 1),
            "hardware": config.get("hardware", platform.processor() or platform.machine()),
            "versions": config.get("versions", {}),
        },
    }


def model_card(cfg: dict[str, Any]) -> str:
    """A Hugging Face model card: YAML front matter, then results, recipe, data, hardware, sha256."""
    dataset_id, dataset_text = DATASET_CARDS.get(cfg["dataset"], (cfg["dataset"], cfg["dataset"]))
    info = zoo.model_info(cfg["model"])
    train = cfg["training"]
    metrics_yaml = "\n".join(f"      - type: {k}\n        value: {v:.4f}\n        name: {k.replace('_', ' ')}"
                             for k, v in cfg["metrics"].items())
    rows = "\n".join(f"| {k.replace('_', ' ')} | {v:.4f} |" for k, v in cfg["metrics"].items())
    wall = f"{train['wall_time_s']:.0f} s" if train["wall_time_s"] else "unknown"
    licence = "other" if cfg["dataset"] == "camvid" else "mit"
    return f"""---
license: {licence}
library_name: cvzoo
tags:
  - cvzoo
  - {info['task'].replace('classification', 'image-classification').replace('segmentation', 'image-segmentation')}
  - {info['family']}
datasets:
  - {dataset_id}
model-index:
  - name: {cfg['model']}.{cfg['tag']}
    results:
    - task:
        type: {info['task']}
      dataset:
        name: {dataset_id}
        type: {dataset_id}
        split: test
      metrics:
{metrics_yaml}
---

# {cfg['model']}.{cfg['tag']}

{info['description']} Trained by cvzoo's own recipe `{cfg['recipe']}` on {dataset_text}.
Paper: {info['paper']}. Parameters: {info['num_params']:,}.

## Results (test split, measured by `python -m training eval`)

| metric | value |
|---|---|
{rows}

## Use

```python
import zoo
model = zoo.create_model("{cfg['model']}", pretrained="{cfg['tag']}")
transform = zoo.get_transform("{cfg['model']}")   # the preprocessing below
```

Preprocessing: `{json.dumps(cfg['preprocessing'])}`. Classes: {', '.join(cfg['class_names'][:20])}.

## Training

- Command: `{train['command']}`
- Recipe: `{cfg['recipe']}`, {train['epochs']} epochs
- Hardware: {train['device']} ({train['hardware']}), {train['threads']} threads, world size {train['world_size']}
- Wall time: {wall}
- Versions: {json.dumps(train['versions'])}

## Files

- `model.safetensors` sha256: `{{sha256}}`
- `config.json`: constructor arguments, class names, preprocessing, metrics
"""


def dataset_name(data: str) -> str:
    """The data set a run used: ``npz:FILE`` (``python -m training pack``) names the data set it packed."""
    if data.startswith("npz:"):
        import numpy as np

        try:
            with np.load(data[4:], allow_pickle=False) as z:
                return str(z["name"])
        except (OSError, KeyError, ValueError):
            pass
    return data


RECORD = "record"
# What a weights folder keeps of its run (small files; the plots are drawn again from them).
RECORD_FILES = ("config.json", "metrics.jsonl", "eval/test/metrics.json", "eval/test/confusion.npy",
                "eval/test/per_class.csv", "eval/test/misclassified.npz")


def write_record(run_dir: str | Path, folder: str | Path) -> list[str]:
    """Copy the :data:`RECORD_FILES` that ``run_dir`` has into ``folder`` (atomically, file by file);
    returns the ones it has not (a segmentation run stores no misclassified images)."""
    missing = []
    segmentation = runs.read_config(run_dir).get("task") == "segmentation"
    for name in RECORD_FILES:
        src = Path(run_dir) / name
        if segmentation and name.endswith("misclassified.npz"):
            continue
        if src.is_file():
            runs.atomic_write_bytes(Path(folder) / name, src.read_bytes())
        else:
            missing.append(name)
    return missing


def export(run_dir: str | Path, out: str | Path, *, tag: str | None = None, half: bool = False,
           org: str = HUB_ORG) -> dict[str, Any]:
    """Write the weights folder of a training run; returns its config (with the sha256)."""
    run_dir = Path(run_dir)
    config = runs.read_config(run_dir)
    tag = tag or dataset_name(config["data"])
    cfg = weight_config(run_dir, tag, f"{org}/{config['model']}.{tag}")
    model = runs.load_run(run_dir)
    written = save_weights_folder(model, out, cfg, model_card(cfg), half=half)
    missing = write_record(run_dir, Path(out) / RECORD)
    return {**written, "record_missing": missing} if missing else written
