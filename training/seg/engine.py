"""Segmentation on the one training engine: the task, ``fit`` for segmentation recipes, evaluation,
and the "masks at different stages" figures.

:func:`training.engine.fit` hands a run over to :func:`fit_segmentation` when the recipe's
``task`` is ``"segmentation"`` (or the model is a segmentation model, or the data set is a
segmentation data set, or a resumed run says so). It is built from the engine's own pieces
(``setup_device``, ``prepare_model``, ``make_training_state``, ``train_one_epoch``, ``save_epoch``,
``read_resume``), so it has the same device choice, optimisers, EMA, per-epoch re-seeding, atomic
``checkpoint.pt`` and exact resume, DistributedDataParallel under ``torchrun`` (rank 0 evaluates and
writes), ``metrics.jsonl`` with ``elapsed_s``, and a final evaluation in ``eval/test/``. What differs is the task
(:class:`SegmentationTask`: cross-entropy with ``ignore_index`` = void and optional median-frequency
class weights; a streaming confusion matrix), the paired image/mask augmentation, the ``poly``
schedule, per-epoch validation on the ``val`` split and the stage masks.

Run folder additions: ``stages/epoch_NNN/<image>.png`` (palette PNGs of the predicted masks of
fixed val images at the stage epochs) and ``stages/<image>.png`` (image | ground truth | early |
middle | final).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training import runs
from training.data import Preprocess
from training.engine import (
    ConfigError,
    FitResult,
    _resolve_recipe,
    autocast,
    dist_info,
    lr_factor,
    make_training_state,
    new_run_dir,
    pick_device,
    prepare_model,
    read_resume,
    save_epoch,
    setup_device,
    start_metrics,
    train_one_epoch,
)
from training.evaluate import data_to_evaluate, load_model_for_eval
from training.recipes import Recipe
from training.seg.data import (
    SegmentationDataset,
    SegmentationLoader,
    is_segmentation_data,
    load_segmentation,
    paired_transform,
)
from training.seg.metrics import SegmentationMeter, plot_iou
from zoo.weights import atomic_write

# SegNet's median-frequency class weights for CamVid ids 0..10 (from its training prototxts).
SEGNET_CAMVID_WEIGHTS = (0.2595, 0.1826, 4.5640, 0.1417, 0.9051, 0.3826, 9.6446, 1.8418, 0.6823, 6.2478, 7.3614)
DATA_NOTE = ("CamVid images are JPEG q92 re-encodings (PSNR about 40 dB against the original PNGs); "
             "the masks are the original PNGs")
STAGE_IMAGES = 4


class SegmentationTask:
    """Per-pixel cross-entropy (void ignored, optional class weights) and confusion-matrix metrics."""

    def __init__(self, num_classes: int, ignore_index: int, weight: torch.Tensor | None = None) -> None:
        self.num_classes, self.ignore_index, self.weight = num_classes, ignore_index, weight

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(output.device) if self.weight is not None else None
        return F.cross_entropy(output.float(), target, weight=weight, ignore_index=self.ignore_index)

    def meter(self) -> SegmentationMeter:
        return SegmentationMeter(self.num_classes, self.ignore_index)


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


def is_segmentation(model: str | None, data: str | None, recipe: Recipe | str | None,
                    resume: str | os.PathLike | None) -> bool:
    """Whether :func:`training.engine.fit` should hand this run to :func:`fit_segmentation`."""
    if resume:
        return runs.read_config(resume).get("task") == "segmentation"
    if isinstance(recipe, str):
        from training.recipes import get_recipe

        recipe = get_recipe(recipe)
    if isinstance(recipe, Recipe):
        return recipe.task == "segmentation"
    if is_segmentation_data(data):
        return True
    if model:
        import zoo

        try:
            return zoo.get_spec(model).task == "segmentation"
        except KeyError:
            return False
    return False


def seg_lr_factor(r: Recipe, total_steps: int, steps_per_epoch: int) -> Callable[[int], float]:
    """The engine's schedules plus ``poly``: linear warm-up over ``warmup`` epochs, then (1 - t) ** power."""
    if r.schedule != "poly":
        return lr_factor(r, total_steps, steps_per_epoch)
    up = int(r.warmup * steps_per_epoch)

    def poly(step: int) -> float:
        if step < up:
            return (step + 1) / up
        return max(0.0, 1 - (step - up) / max(1, total_steps - up)) ** r.poly_power

    return poly


# ----------------------------------------------------------------------------- model


def split_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(builder arguments, the ones to save): ``pretrained_encoder`` only matters when training starts."""
    saved = {k: v for k, v in kwargs.items() if k != "pretrained_encoder"}
    return kwargs, saved


def check_segmentation_output(model: nn.Module, model_name: str, num_classes: int, channels: int) -> None:
    x = torch.zeros(1, channels, 35, 47)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        model.train(was)
    if out.shape != (1, num_classes, 35, 47):
        raise ConfigError(f"{model_name} gives {tuple(out.shape)} for a 1x{channels}x35x47 input; a segmentation "
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


def _frozen_bn_eval(model: nn.Module, prefixes: Sequence[str]) -> None:
    if prefixes:
        for name, m in model.named_modules():
            if name.startswith(tuple(prefixes)) and isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


# ----------------------------------------------------------------------------- evaluation pass


@torch.no_grad()
def run_seg_eval(model: nn.Module, loader: SegmentationLoader, task: SegmentationTask,
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


# ----------------------------------------------------------------------------- masks at stages


def save_mask_png(mask: torch.Tensor | np.ndarray, colours: Sequence[tuple[int, int, int]], path: Path) -> None:
    """A palette PNG: pixel value = class id, palette = the class colours (void and beyond: black)."""
    from PIL import Image

    arr = np.ascontiguousarray(np.asarray(mask, dtype=np.uint8))
    im = Image.frombytes("P", (arr.shape[1], arr.shape[0]), arr.tobytes())
    palette = [c for rgb in colours for c in rgb]
    im.putpalette(palette + [0] * (768 - len(palette)))
    atomic_write(path, lambda f: im.save(f, format="PNG"))


def colourise(mask: np.ndarray, colours: Sequence[tuple[int, int, int]]) -> np.ndarray:
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(colours)] = np.asarray(colours, dtype=np.uint8)
    return lut[np.asarray(mask, dtype=np.uint8)]


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


# ----------------------------------------------------------------------------- fit


def fit_segmentation(model: str | None = None, data: str | None = None, recipe: Recipe | str | None = None, *,
                     out: str | os.PathLike | None = None, epochs: int | None = None, seed: int = 0,
                     data_root: str | None = None, device: str | None = None,
                     overrides: dict[str, Any] | None = None, model_kwargs: dict[str, Any] | None = None,
                     train_limit: int | None = None, test_limit: int | None = None, pretrained: str | None = None,
                     freeze: bool = False, resume: str | os.PathLike | None = None, progress: bool = True,
                     evaluate_at_end: bool = True,
                     callbacks: Sequence[Callable[[int, dict[str, Any]], None]] = ()) -> FitResult:
    """Train a segmentation model; same arguments and run folder contract as :func:`training.engine.fit`.

    ``test_limit`` limits the val and test images evaluated; ``freeze`` is not supported (use the
    recipe's ``frozen`` prefixes)."""
    import zoo

    rank, world = dist_info()
    start_epoch, ckpt = 0, None
    if resume:
        run_dir = Path(resume)
        cfg, r, ckpt, start_epoch = read_resume(run_dir)
        model, data, seed = cfg["model"], cfg["data"], cfg["seed"]
        model_kwargs, pretrained = cfg.get("model_kwargs", {}), None
        train_limit, test_limit = cfg.get("train_limit"), cfg.get("test_limit")
        data_root = data_root or cfg.get("data_root")
        device = device or cfg.get("device_request")
    else:
        if recipe is None and model is not None and data is not None:
            recipe = _resolve_recipe(model, data, None)
        r = _resolve_recipe(model, data, recipe)
        model, data = model or r.model, data or r.data
        if overrides or epochs:
            r = r.override(**{**(overrides or {}), "epochs": epochs})
        if r.task != "segmentation":
            r = r.override(task="segmentation")
        try:
            spec = zoo.get_spec(model)
        except KeyError as exc:
            raise ConfigError(str(exc)) from None
        if spec.task != "segmentation":
            raise ConfigError(f"{model} is a {spec.task} model; {data} is a segmentation data set "
                              f"(segmentation models: {', '.join(zoo.list_models(task='segmentation'))})")
        if r.model != model and recipe is not None and not isinstance(recipe, Recipe) and r.model != "*":
            raise ConfigError(f"recipe {r.name!r} is for {r.model}, not {model}; list recipes with "
                              "`python -m training recipes`")
        if freeze:
            raise ConfigError("--freeze-backbone is for classification; set the recipe's `frozen` prefixes instead")
        run_dir = new_run_dir(out, model, data)
    if not is_segmentation_data(data):
        raise ConfigError(f"{data!r} is not a segmentation data set; known: camvid, camvid:DIR")

    dev, channels_last, amp = setup_device(r, device, world)

    train = load_segmentation(data, "train", root=data_root).subset(train_limit, seed)
    val = load_segmentation(data, "val", root=data_root).subset(test_limit, seed)
    spec = zoo.get_spec(model)
    kwargs = {**r.model_kwargs, **(model_kwargs or {})}
    if "num_classes" not in kwargs:
        kwargs["num_classes"] = len(train.classes)
    if kwargs["num_classes"] != len(train.classes):
        raise ConfigError(f"{model} with num_classes={kwargs['num_classes']} cannot learn {data}'s "
                          f"{len(train.classes)} classes")
    build_kwargs, saved_kwargs = split_kwargs(kwargs)
    if resume:
        build_kwargs = {**saved_kwargs}  # the checkpoint brings every weight
    torch.manual_seed(seed)
    if pretrained:
        if Path(pretrained).is_dir() and (Path(pretrained) / runs.CHECKPOINT).is_file():  # a run folder
            net = runs.load_run(pretrained).train()
        else:
            net = zoo.create_model(model, pretrained=True if pretrained == "default" else pretrained,
                                   **saved_kwargs).train()
    else:
        net = zoo.create_model(model, **build_kwargs)
    check_segmentation_output(net, model, len(train.classes), train.images.shape[1])
    freeze_prefixes(net, r.frozen)
    net, ema, train_net = prepare_model(net, r, dev, world, channels_last)

    pre = Preprocess(mean=tuple(spec.preprocessing.mean), std=tuple(spec.preprocessing.std))
    height, width = train.image_shape[1:]
    transform = paired_transform(r.crop_size, r.scale_range, min(height, width), r.flip, r.jitter, train.ignore_index)
    task = SegmentationTask(len(train.classes), train.ignore_index, class_weights(r.class_weights, train))
    workers = int(os.environ.get("CVZOO_WORKERS", min(8, (os.cpu_count() or 1) - 1) if dev.type == "cuda" else 0))
    loader = SegmentationLoader(train, r.batch_size, train=True, preprocess=pre, transform=transform, seed=seed,
                                device=dev, rank=rank, world_size=world, channels_last=channels_last, workers=workers)
    val_loader = SegmentationLoader(val, 16 if dev.type == "cuda" else 2, train=False, preprocess=pre, device=dev,
                                    channels_last=channels_last)
    if len(loader) == 0:
        raise ConfigError(f"{len(train)} training images make no batch of {r.batch_size} (drop_last)")
    optimizer, scheduler = make_training_state(net, r, len(loader), seg_lr_factor, ema, ckpt)

    stages, keep = stage_epochs(r), stage_indices(len(val))
    if rank == 0:
        start_metrics(run_dir, bool(resume), start_epoch)
        if not resume:
            runs.write_config(run_dir, {
                "model": model, "model_kwargs": saved_kwargs, "recipe": r.name, "recipe_fields": r.to_dict(),
                "data": data, "data_root": str(data_root) if data_root else None, "seed": seed,
                "classes": train.classes, "colours": train.colours, "ignore_index": train.ignore_index,
                "task": "segmentation", "device": str(dev), "device_request": device, "world_size": world,
                "threads": torch.get_num_threads(), "train_limit": train_limit, "test_limit": test_limit,
                "train_size": len(train), "val_size": len(val), "pretrained": pretrained,
                "pretrained_encoder": bool(kwargs.get("pretrained_encoder", False)), "frozen": list(r.frozen),
                "class_weights": task.weight.tolist() if task.weight is not None else None,
                "preprocess": {"mean": list(pre.mean), "std": list(pre.std), "size": [height, width], "pad": 0,
                               "channels": None},
                "stage_epochs": stages, "stage_images": [val.names[i] for i in keep] if val.names else keep,
                "data_note": DATA_NOTE if data.startswith("camvid") else "",
                "num_params": sum(p.numel() for p in net.parameters()),
                "trainable_params": sum(p.numel() for p in net.parameters() if p.requires_grad),
            })

    row: dict[str, Any] = {}
    t_run = time.perf_counter()
    last = runs.read_metrics(run_dir)[-1] if resume and start_epoch and rank == 0 else {}
    prior, prior_cpu, cpu0 = last.get("elapsed_s", 0.0), last.get("process_cpu_s", 0.0), time.process_time()
    for epoch in range(start_epoch, r.epochs):
        torch.manual_seed(seed * 1_000_003 + epoch)
        loader.set_epoch(epoch)
        train_net.train()
        _frozen_bn_eval(net, r.frozen)
        desc = f"epoch {epoch + 1}/{r.epochs}" if progress and rank == 0 else None
        train_m, train_time = train_one_epoch(train_net, net, loader, task, optimizer, scheduler, amp, r, ema, desc)
        if rank == 0:
            e = epoch + 1
            row = {"epoch": e, "train_loss": train_m["loss"], "train_miou": train_m["miou"],
                   "train_pixel_accuracy": train_m["pixel_accuracy"], "lr": optimizer.param_groups[0]["lr"],
                   "epoch_time_s": round(train_time, 3),
                   "train_images_per_s": round(len(loader) * loader.local_batch * world / train_time, 2)}
            if e % max(1, r.eval_every) == 0 or e == r.epochs or e in stages:
                eval_net = ema.module if ema is not None else net
                t1 = time.perf_counter()
                val_m, _, kept = run_seg_eval(eval_net, val_loader, task, amp, keep=keep if e in stages else ())
                row.update({"val_loss": val_m["loss"], "val_miou": val_m["miou"],
                            "val_pixel_accuracy": val_m["pixel_accuracy"],
                            "val_mean_class_accuracy": val_m["mean_class_accuracy"],
                            "val_time_s": round(time.perf_counter() - t1, 3)})
                for i, mask in kept.items():
                    name = val.names[i] if val.names else f"val_{i:04d}"
                    save_mask_png(mask, val.colours, run_dir / "stages" / f"epoch_{e:03d}" / f"{name}.png")
            row["elapsed_s"] = round(prior + time.perf_counter() - t_run, 3)
            row["process_cpu_s"] = round(prior_cpu + time.process_time() - cpu0, 1)  # all threads; shared CPUs
            runs.append_metrics(run_dir, row)
            save_epoch(run_dir, net, optimizer, scheduler, ema, e, r)
            val_text = (f" val_loss {row['val_loss']:.4f} val_miou {row['val_miou']:.4f} val_pixel_acc "
                        f"{row['val_pixel_accuracy']:.4f}" if "val_miou" in row else "")
            print(f"epoch {e}/{r.epochs} train_loss {row['train_loss']:.4f} train_miou {row['train_miou']:.4f}"
                  f"{val_text} ({train_time:.1f}s, {row['train_images_per_s']} img/s, elapsed "
                  f"{row['elapsed_s']:.0f}s)", flush=True)
            for cb in callbacks:
                cb(e, row)
    if world > 1:
        torch.distributed.barrier()
    if rank == 0:
        stage_figures(run_dir, val, keep, stages)
        plot_seg_curves(run_dir)
        if evaluate_at_end:
            evaluate_segmentation(run_dir, data=data, split="test", data_root=data_root, limit=test_limit,
                                  device=str(dev))
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return FitResult(run_dir, row)


# ----------------------------------------------------------------------------- evaluate


def plot_seg_curves(run_dir: str | os.PathLike) -> Path | None:
    """Loss and mIoU per epoch (``eval/curves.png``)."""
    rows = runs.read_metrics(run_dir)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(run_dir) / "eval"
    out.mkdir(parents=True, exist_ok=True)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("loss", a1), ("miou", a2)):
        for split in ("train", "val"):
            pts = [(r["epoch"], r[f"{split}_{key}"]) for r in rows if r.get(f"{split}_{key}") is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=f"{split} {key}")
        ax.set(xlabel="epoch", ylabel=key, title=key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    runs.save_figure(fig, out / "curves.png", dpi=120)
    plt.close(fig)
    return out / "curves.png"


def seconds_per_image(model: nn.Module, example: torch.Tensor, reps: int = 3) -> float:
    """Median forward time of one image (batch 1) on ``example``'s device."""
    x = example[:1]
    model.eval()
    times = []
    with torch.no_grad():
        model(x)
        for _ in range(reps):
            if x.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x)
            if x.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def evaluate_segmentation(model_or_run: str | os.PathLike, data: str | None = None, split: str = "test", *,
                          data_root: str | None = None, limit: int | None = None, device: str | None = None,
                          batch_size: int | None = None, out_dir: str | os.PathLike | None = None,
                          tta_flip: bool = False) -> dict[str, Any]:
    """mIoU, per-class IoU, pixel and mean class accuracy at the data's full resolution; writes
    ``metrics.json``, ``confusion.npy``/``.png``, ``per_class_iou.png``, ``per_class.csv`` to
    ``RUN_DIR/eval/<split>/`` (or ``out_dir``)."""
    path = Path(model_or_run)
    is_run = path.is_dir()
    data = data_to_evaluate(model_or_run, data)
    dev = pick_device(device)
    model, cfg = load_model_for_eval(model_or_run, task="segmentation")
    ds = load_segmentation(data, split, root=data_root).subset(limit, cfg.get("seed", 0))
    if cfg.get("classes") and len(cfg["classes"]) != len(ds.classes):
        raise ConfigError(f"{model_or_run} was trained on {len(cfg['classes'])} classes; {data} has {len(ds.classes)}")
    p = cfg["preprocess"]
    pre = Preprocess(mean=tuple(p["mean"]), std=tuple(p["std"]))
    model = model.to(dev)
    channels_last = dev.type == "cuda" or bool(cfg.get("recipe_fields", {}).get("channels_last"))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    loader = SegmentationLoader(ds, batch_size or (16 if dev.type == "cuda" else 2), train=False, preprocess=pre,
                                device=dev, channels_last=channels_last)
    amp = autocast(dev, True)
    task = SegmentationTask(len(ds.classes), ds.ignore_index)
    t0 = time.perf_counter()
    try:
        summary, meter, _ = run_seg_eval(model, loader, task, amp, tta_flip)
    except RuntimeError as exc:
        raise ConfigError(f"{model_or_run} does not accept {data} images: {str(exc).splitlines()[0]}") from None
    eval_time = time.perf_counter() - t0
    confusion = meter.confusion.numpy()
    example = next(iter(loader))[0]
    iou = summary["iou"]
    result = {
        "model": cfg["model"], "run": str(path) if is_run else None, "data": data, "split": split,
        "images": len(ds), "resolution": list(ds.image_shape[1:]), "ignore_index": ds.ignore_index,
        "miou": summary["miou"], "pixel_accuracy": summary["pixel_accuracy"],
        "mean_class_accuracy": summary["mean_class_accuracy"], "loss": summary["loss"],
        "per_class_iou": {c: (None if math.isnan(v) else round(v, 4)) for c, v in zip(ds.classes, iou, strict=True)},
        "per_class_accuracy": {c: (None if math.isnan(v) else round(v, 4))
                               for c, v in zip(ds.classes, summary["class_accuracy"], strict=True)},
        "tta_flip": tta_flip, "num_params": sum(p.numel() for p in model.parameters()),
        "seconds_per_image": round(seconds_per_image(model, example), 4), "eval_time_s": round(eval_time, 2),
        "device": str(dev), "threads": torch.get_num_threads(),
        "data_note": DATA_NOTE if data.startswith("camvid") else "",
    }
    out = Path(out_dir) if out_dir else (path / "eval" / split if is_run else Path("eval") / f"{cfg['model']}_{split}")
    runs.write_json(out / "metrics.json", result)
    runs.save_npy(out / "confusion.npy", confusion)
    runs.write_csv(out / "per_class.csv", "class,iou,accuracy,pixels",
                   zip(ds.classes, map(float, iou), map(float, summary["class_accuracy"]), confusion.sum(1).tolist(),
                       strict=True))
    from training.evaluate import plot_confusion

    title = f"{cfg['model']} on {data} {split}: mIoU {summary['miou']:.3f}"
    plot_confusion(confusion, ds.classes, out / "confusion.png", title)
    plot_iou(iou, ds.classes, out / "per_class_iou.png", title)
    if is_run:
        plot_seg_curves(path)
    return result


def is_segmentation_target(model_or_run: str | os.PathLike, data: str | None) -> bool:
    """Whether ``python -m training eval`` should evaluate ``model_or_run`` as a segmentation model."""
    path = Path(model_or_run)
    if path.is_dir() and (path / runs.CONFIG).is_file():
        return runs.read_config(path).get("task") == "segmentation"
    if is_segmentation_data(data):
        return True
    import zoo

    try:
        return zoo.get_spec(str(model_or_run)).task == "segmentation"
    except KeyError:
        return False
