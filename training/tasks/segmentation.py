"""Semantic segmentation: per-pixel cross-entropy, mIoU, the masks at different stages, and artefacts.

Run folder additions: ``stages/epoch_NNN/<image>.png`` (palette PNGs of the predicted masks of
fixed val images at the stage epochs) and ``stages/<image>.png`` (image | ground truth | early |
middle | final). The final evaluation is on the test split at full resolution (``eval/test/``).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from training import plots, runs
from training.device import autocast
from training.errors import ConfigError
from training.recipes import Recipe
from training.seg.data import (
    SegmentationDataset,
    SegmentationLoader,
    is_segmentation_data,
    load_segmentation,
    paired_transform,
)
from training.seg.metrics import SegmentationMeter, plot_iou
from training.tasks.base import Prepared, Run, register_task
from zoo.preprocessing import Preprocessing
from zoo.segment import colourise
from zoo.weights import atomic_write

# SegNet's median-frequency class weights for CamVid ids 0..10 (from its training prototxts).
SEGNET_CAMVID_WEIGHTS = (0.2595, 0.1826, 4.5640, 0.1417, 0.9051, 0.3826, 9.6446, 1.8418, 0.6823, 6.2478, 7.3614)
DATA_NOTE = ("CamVid images are JPEG q92 re-encodings (PSNR about 40 dB against the original PNGs); "
             "the masks are the original PNGs")
STAGE_IMAGES = 4


def median_frequency_weights(data: SegmentationDataset) -> torch.Tensor:
    """SegNet's weights: median(freq) / freq(c), freq(c) = pixels of c / pixels of the images that contain c."""
    k = len(data.classes)
    pixels, image_pixels = torch.zeros(k, dtype=torch.float64), torch.zeros(k, dtype=torch.float64)
    per_image = data.masks[0].numel()
    for m in data.masks:
        counts = torch.bincount(m.reshape(-1).long(), minlength=max(k, data.ignore_index + 1))[:k].double()
        pixels += counts
        image_pixels += (counts > 0).double() * per_image
    freq = pixels / image_pixels.clamp(min=1)
    weights = torch.where(freq > 0, freq[freq > 0].median() / freq.clamp(min=1e-12), torch.zeros_like(freq))
    return weights.float()


def class_weights(kind: str | None, data: SegmentationDataset) -> torch.Tensor | None:
    """``None``, ``"median_freq"`` (SegNet's published CamVid values, else computed) or ``"median_freq_sqrt"``."""
    if kind is None:
        return None
    if kind not in ("median_freq", "median_freq_sqrt"):
        raise ConfigError(f"unknown class_weights {kind!r}; use median_freq, median_freq_sqrt or None")
    if data.name == "camvid" and len(data.classes) == len(SEGNET_CAMVID_WEIGHTS):
        w = torch.tensor(SEGNET_CAMVID_WEIGHTS)
    else:
        w = median_frequency_weights(data)
    return w.sqrt() if kind == "median_freq_sqrt" else w



# ----------------------------------------------------------------------------- model


def build_model(run: Run, kwargs: dict[str, Any], saved_kwargs: dict[str, Any]) -> nn.Module:
    """The model to train: from ``run.pretrained`` (a run folder or a zoo weight) or new from ``kwargs``."""
    if not run.pretrained:
        return zoo.create_model(run.model, **kwargs)
    if Path(run.pretrained).is_dir() and (Path(run.pretrained) / runs.CHECKPOINT).is_file():  # a run folder
        return runs.load_run(run.pretrained).train()
    pretrained = True if run.pretrained == "default" else run.pretrained
    return zoo.create_model(run.model, pretrained=pretrained, **saved_kwargs).train()


def keep_frozen_statistics(net: nn.Module, frozen: tuple[str, ...] | list[str]) -> None:
    """Put the BatchNorm layers under the ``frozen`` name prefixes back in eval mode, so that frozen stages keep
    their running statistics while the rest of ``net`` trains."""
    if not frozen:
        return
    for name, m in net.named_modules():
        if name.startswith(tuple(frozen)) and isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def check_segmentation_output(model: nn.Module, model_name: str, num_classes: int, channels: int,
                              kind: str = "segmentation") -> None:
    """The model in eval mode must map a 1×C×35×47 input to 1×num_classes×35×47 logits (a dense output at the
    input's size); ``kind`` names the task in the error."""
    x = torch.zeros(1, channels, 35, 47)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        model.train(was)
    if out.shape != (1, num_classes, 35, 47):
        raise ConfigError(f"{model_name} gives {tuple(out.shape)} for a 1x{channels}x35x47 input; a {kind} "
                          f"model must give 1x{num_classes}x35x47")


def freeze_prefixes(model: nn.Module, prefixes: Sequence[str]) -> list[str]:
    """Freeze parameters whose names start with one of ``prefixes``; returns the frozen module names."""
    if not prefixes:
        return []
    prefixes = tuple(prefixes)
    for name, p in model.named_parameters():
        if name.startswith(prefixes):
            p.requires_grad_(False)
    frozen = [n for n, _ in model.named_modules() if n and n.startswith(prefixes)]
    if not frozen:
        raise ConfigError(f"frozen prefixes {list(prefixes)} match no module of {type(model).__name__}")
    return frozen



# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def run_seg_eval(model: nn.Module, loader: SegmentationLoader, task: Any,
                 amp: contextlib.AbstractContextManager, tta_flip: bool = False,
                 keep: Sequence[int] = ()) -> tuple[dict[str, Any], SegmentationMeter, dict[int, torch.Tensor]]:
    """Metrics and meter of ``model`` over ``loader``; also the predicted masks of the items in ``keep``."""
    model.eval()
    meter, kept, seen = task.meter(), {}, 0
    keep = set(keep)
    for x, y in loader:
        with amp:
            out = model(x).float()
            if tta_flip:
                out = 0.5 * (out + model(x.flip(-1)).float().flip(-1))
        meter.update(out, y, task.loss(out, y))
        if keep:
            pred = out.argmax(1).to(torch.uint8).cpu()
            for j in range(len(y)):
                if seen + j in keep:
                    kept[seen + j] = pred[j]
        seen += len(y)
    return meter.compute(), meter, kept


def evaluate_model(net: nn.Module, ds: SegmentationDataset, pre: Preprocessing, dev: torch.device, out: Path, *,
                   model: str, run: Path | None, data: str, split: str, tta_flip: bool = False,
                   channels_last: bool = False, batch_size: int | None = None) -> dict[str, Any]:
    """mIoU, per-class IoU, pixel and mean class accuracy of ``net`` on ``ds`` at its full resolution;
    writes ``metrics.json``, ``confusion.npy``/``.png``, ``per_class_iou.png`` and ``per_class.csv`` to
    ``out`` (and the training curves of ``run``)."""
    loader = SegmentationLoader(ds, batch_size or (16 if dev.type == "cuda" else 2), train=False, preprocess=pre,
                                device=dev, channels_last=channels_last)
    task = SegmentationTask.for_data(ds)
    t0 = time.perf_counter()
    try:
        summary, meter, _ = run_seg_eval(net, loader, task, autocast(dev, True), tta_flip)
    except RuntimeError as exc:
        raise ConfigError(f"{model} does not accept {data} images: {str(exc).splitlines()[0]}") from None
    eval_time = time.perf_counter() - t0
    confusion = meter.confusion.numpy()
    example = next(iter(loader))[0]
    iou = summary["iou"]
    result = {
        "model": model, "run": str(run) if run else None, "data": data, "split": split,
        "images": len(ds), "resolution": list(ds.image_shape[1:]), "ignore_index": ds.ignore_index,
        "miou": summary["miou"], "pixel_accuracy": summary["pixel_accuracy"],
        "mean_class_accuracy": summary["mean_class_accuracy"], "loss": summary["loss"],
        "per_class_iou": {c: (None if math.isnan(v) else round(v, 4)) for c, v in zip(ds.classes, iou, strict=True)},
        "per_class_accuracy": {c: (None if math.isnan(v) else round(v, 4))
                               for c, v in zip(ds.classes, summary["class_accuracy"], strict=True)},
        "tta_flip": tta_flip, "num_params": sum(p.numel() for p in net.parameters()),
        "seconds_per_image": round(plots.seconds_per_image(net, example), 4), "eval_time_s": round(eval_time, 2),
        "device": str(dev), "threads": torch.get_num_threads(),
        "data_note": DATA_NOTE if data.startswith("camvid") else "",
    }
    runs.write_json(out / "metrics.json", result)
    runs.save_npy(out / "confusion.npy", confusion)
    runs.write_csv(out / "per_class.csv", "class,iou,accuracy,pixels",
                   zip(ds.classes, map(float, iou), map(float, summary["class_accuracy"]), confusion.sum(1).tolist(),
                       strict=True))
    title = f"{model} on {data} {split}: mIoU {summary['miou']:.3f}"
    plots.plot_confusion(confusion, ds.classes, out / "confusion.png", title)
    plot_iou(iou, ds.classes, out / "per_class_iou.png", title)
    if run is not None:
        plots.plot_seg_curves(run)
    return result


# ----------------------------------------------------------------------------- masks at stages


def save_mask_png(mask: torch.Tensor | np.ndarray, colours: Sequence[tuple[int, int, int]], path: Path) -> None:
    """A palette PNG: pixel value = class id, palette = the class colours (void and beyond: black)."""
    from PIL import Image

    arr = np.ascontiguousarray(np.asarray(mask, dtype=np.uint8))
    im = Image.frombytes("P", (arr.shape[1], arr.shape[0]), arr.tobytes())
    palette = [c for rgb in colours for c in rgb]
    im.putpalette(palette + [0] * (768 - len(palette)))
    atomic_write(path, lambda f: im.save(f, format="PNG"))


def stage_epochs(r: Recipe) -> list[int]:
    if r.stage_epochs:
        chosen = r.stage_epochs if isinstance(r.stage_epochs, tuple | list) else (r.stage_epochs,)
        return sorted({int(e) for e in chosen if 1 <= int(e) <= r.epochs})
    return sorted({1, max(1, (r.epochs + 1) // 2), r.epochs})


def stage_indices(n: int, k: int = STAGE_IMAGES) -> list[int]:
    """Fixed, evenly spread val images for the stage figures."""
    k = min(k, n)
    return sorted({round(i * (n - 1) / max(1, k - 1)) for i in range(k)})


def stage_figures(run_dir: Path, data: SegmentationDataset, indices: Sequence[int],
                  epochs: Sequence[int]) -> list[Path]:
    """One figure per image: image | ground truth | predicted masks at each saved stage epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from PIL import Image

    stages = [e for e in epochs if (run_dir / "stages" / f"epoch_{e:03d}").is_dir()]
    names = ["early", "middle", "final"] if len(stages) == 3 else [f"epoch {e}" for e in stages]
    paths = []
    for i in indices:
        name = data.names[i] if data.names else f"val_{i:04d}"
        panels = [(data.images[i].permute(1, 2, 0).numpy(), "image"),
                  (colourise(data.masks[i].numpy(), data.colours), "ground truth")]
        for label, e in zip(names, stages, strict=True):
            f = run_dir / "stages" / f"epoch_{e:03d}" / f"{name}.png"
            if f.is_file():
                with Image.open(f) as im:
                    panels.append((colourise(np.asarray(im), data.colours),
                                   f"{label} (epoch {e})" if not label.startswith("epoch") else label))
        fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.0))
        for ax, (img, title) in zip(np.atleast_1d(axes), panels, strict=True):
            ax.imshow(img)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        handles = [Patch(color=np.asarray(c) / 255, label=n) for n, c in zip(data.classes, data.colours, strict=True)]
        fig.legend(handles=handles, loc="lower center", ncol=min(11, len(handles)), fontsize=7, frameon=False)
        fig.suptitle(f"{name}: predicted masks at different stages of training", fontsize=10)
        fig.tight_layout(rect=(0, 0.08, 1, 0.95))
        out = run_dir / "stages" / f"{name}.png"
        runs.save_figure(fig, out, dpi=100)
        plt.close(fig)
        paths.append(out)
    return paths


# ----------------------------------------------------------------------------- the task


@register_task
class SegmentationTask:
    """Per-pixel cross-entropy (void ignored, optional class weights) and confusion-matrix metrics;
    evaluated on ``val`` after epochs and on ``test`` at the end. Predicted masks of a few fixed val
    images are kept at the stage epochs (``stages/``)."""

    name = "segmentation"
    eval_split = "val"
    mid_epoch_checkpoints = False

    def __init__(self, recipe: Recipe, num_classes: int = 0, ignore_index: int = 255,
                 weight: torch.Tensor | None = None) -> None:
        self.r = recipe
        self.num_classes, self.ignore_index, self.weight = num_classes, ignore_index, weight
        self.val: SegmentationDataset | None = None
        self.stages: list[int] = []
        self.keep: list[int] = []
        self.pre: Preprocessing | None = None
        self.run_dir = Path(".")

    @classmethod
    def for_data(cls, ds: SegmentationDataset, recipe: Recipe | None = None) -> SegmentationTask:
        """A task that scores ``ds``'s classes (plain cross-entropy without a recipe)."""
        return cls(recipe or Recipe(name="evaluation", model="*", data=ds.name, task="segmentation"),
                   len(ds.classes), ds.ignore_index)

    def prepare(self, run: Run, dev: torch.device, channels_last: bool, rank: int, world: int) -> Prepared:
        r, self.run_dir = self.r, run.run_dir
        if not is_segmentation_data(run.data):
            raise ConfigError(f"{run.data!r} is not a segmentation data set; known: camvid, camvid:DIR")
        train = load_segmentation(run.data, "train", root=run.data_root).subset(run.train_limit, run.seed)
        self.val = load_segmentation(run.data, "val", root=run.data_root).subset(run.test_limit, run.seed)
        self.num_classes, self.ignore_index = len(train.classes), train.ignore_index
        self.weight = class_weights(r.class_weights, train)
        kwargs = {**r.model_kwargs, **run.model_kwargs}
        kwargs.setdefault("num_classes", len(train.classes))
        if kwargs["num_classes"] != len(train.classes):
            raise ConfigError(f"{run.model} with num_classes={kwargs['num_classes']} cannot learn {run.data}'s "
                              f"{len(train.classes)} classes")
        saved_kwargs = {k: v for k, v in kwargs.items() if k != "pretrained_encoder"}  # only matters at the start
        torch.manual_seed(run.seed)
        net = build_model(run, kwargs if not run.resumed else saved_kwargs, saved_kwargs)
        check_segmentation_output(net, run.model, len(train.classes), train.images.shape[1])
        freeze_prefixes(net, r.frozen)
        spec = zoo.get_spec(run.model)
        self.pre = Preprocessing(mean=tuple(spec.preprocessing.mean), std=tuple(spec.preprocessing.std))
        transform = paired_transform(r.crop_size, r.scale_range, min(train.image_shape[1:]), r.flip, r.jitter,
                                     train.ignore_index)
        workers = int(os.environ.get("CVZOO_WORKERS", min(8, (os.cpu_count() or 1) - 1) if dev.type == "cuda" else 0))
        loader = SegmentationLoader(train, r.batch_size, train=True, preprocess=self.pre, transform=transform,
                                    seed=run.seed, device=dev, rank=rank, world_size=world,
                                    channels_last=channels_last, workers=workers)
        val_loader = SegmentationLoader(self.val, 16 if dev.type == "cuda" else 2, train=False, preprocess=self.pre,
                                        device=dev, channels_last=channels_last)
        self.stages, self.keep = stage_epochs(r), stage_indices(len(self.val))
        config = {
            "model_kwargs": saved_kwargs, "class_names": train.classes, "colours": train.colours,
            "ignore_index": train.ignore_index, "preprocessing": self.pre.to_dict(), "train_size": len(train),
            "val_size": len(self.val), "pretrained_encoder": bool(kwargs.get("pretrained_encoder", False)),
            "frozen": list(r.frozen), "class_weights": self.weight.tolist() if self.weight is not None else None,
            "stage_epochs": self.stages,
            "stage_images": [self.val.names[i] for i in self.keep] if self.val.names else self.keep,
            "data_note": DATA_NOTE if run.data.startswith("camvid") else "",
            "trainable_params": sum(p.numel() for p in net.parameters() if p.requires_grad),
        }
        return Prepared(net, loader, val_loader, config)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(output.device) if self.weight is not None else None
        return F.cross_entropy(output.float(), target, weight=weight, ignore_index=self.ignore_index)

    def meter(self) -> SegmentationMeter:
        return SegmentationMeter(self.num_classes, self.ignore_index)

    def train_mode(self, train_net: nn.Module, net: nn.Module) -> None:
        train_net.train()
        keep_frozen_statistics(net, self.r.frozen)

    def should_evaluate(self, epoch: int) -> bool:
        return epoch % max(1, self.r.eval_every) == 0 or epoch == self.r.epochs or epoch in self.stages

    def evaluate(self, net: nn.Module, loader: SegmentationLoader, amp: contextlib.AbstractContextManager,
                 epoch: int) -> tuple[dict[str, Any], SegmentationMeter]:
        t1 = time.perf_counter()
        m, meter, kept = run_seg_eval(net, loader, self, amp, keep=self.keep if epoch in self.stages else ())
        for i, mask in kept.items():
            name = self.val.names[i] if self.val.names else f"val_{i:04d}"
            save_mask_png(mask, self.val.colours, self.run_dir / "stages" / f"epoch_{epoch:03d}" / f"{name}.png")
        return {"val_loss": m["loss"], "val_miou": m["miou"], "val_pixel_accuracy": m["pixel_accuracy"],
                "val_mean_class_accuracy": m["mean_class_accuracy"],
                "val_time_s": round(time.perf_counter() - t1, 3)}, meter

    def metrics_row(self, train: dict[str, Any]) -> dict[str, Any]:
        return {"train_loss": train["loss"], "train_miou": train["miou"],
                "train_pixel_accuracy": train["pixel_accuracy"]}

    def finish(self, run: Run, net: nn.Module, last_pass: Any, dev: torch.device, evaluate: bool) -> None:
        stage_figures(run.run_dir, self.val, self.keep, self.stages)
        plots.plot_seg_curves(run.run_dir)
        if evaluate:
            test = load_segmentation(run.data, "test", root=run.data_root).subset(run.test_limit, run.seed)
            channels_last = dev.type == "cuda" or bool(self.r.channels_last)
            evaluate_model(net, test, self.pre, dev, run.run_dir / "eval" / "test", model=run.model,
                           run=run.run_dir, data=run.data, split="test", channels_last=channels_last)
