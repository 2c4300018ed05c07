"""The training loop: a registry name, a data set and a recipe in; a run folder out.

One loop for every recipe; the loss and the metrics come from a *task* object
(:class:`ClassificationTask` here, ``SegmentationTask`` in :mod:`training.seg.engine`, whose
``fit_segmentation`` is made of the same pieces: ``setup_device``, ``prepare_model``,
``make_training_state``, ``train_one_epoch``, ``save_epoch``). Features: device
auto-detection (CUDA, MPS, CPU), bf16 autocast and channels_last on CUDA, optional
``torch.compile``, Nesterov SGD or AdamW, one-cycle / cosine / constant schedules, label
smoothing, gradient clipping, an EMA of the weights, per-epoch metrics and an atomic
checkpoint, exact resume, and DistributedDataParallel under ``torchrun`` (gloo on CPU, NCCL on
CUDA; rank 0 alone logs, evaluates and writes).

Repeatability: every epoch re-seeds the global RNG, the sampler and the augmentation generator
from ``(seed, epoch)``, and the checkpoint holds the model, optimiser, scheduler and EMA, so a
run resumed from epoch k ends bit-for-bit where the uninterrupted run ends (on the same
hardware and thread count). With ``checkpoint_every_s`` (``--checkpoint-minutes``) a one-process
run also checkpoints part-way through an epoch, with the sampler's position, the augmentation
generator, the global RNG and the epoch's running metrics, and resumes from there as exactly.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from training import runs
from training.allocator import loaded_allocator
from training.data import ArrayDataset, Augment, BatchLoader, Preprocess, RandomRotation, load_dataset
from training.recipes import Recipe, default_recipe, get_recipe


class ConfigError(ValueError):
    """A bad combination of model, data set and recipe; the message says what to change."""


# ----------------------------------------------------------------------------- device


def pick_device(request: str | None = "auto") -> torch.device:
    """``auto``: CUDA if available, else Apple MPS, else CPU."""
    if request in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(request)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("the recipe asks for CUDA but no GPU is available; pass --device cpu (slow) or use a "
                          "_cpu recipe")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return dev


def dist_info() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


# ----------------------------------------------------------------------------- task


class ClassificationTask:
    """Cross-entropy loss and accuracy / confusion metrics."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.0) -> None:
        self.num_classes, self.label_smoothing = num_classes, label_smoothing

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output.float(), target, label_smoothing=self.label_smoothing)

    def meter(self) -> ClassificationMeter:
        return ClassificationMeter(self.num_classes)


class ClassificationMeter:
    def __init__(self, num_classes: int) -> None:
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
        self.loss_sum, self.count = 0.0, 0

    def update(self, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor | float) -> None:
        n = len(target)
        self.loss_sum += float(loss) * n
        self.count += n
        pred = output.detach().argmax(1).cpu()
        k = self.confusion.shape[0]
        self.confusion += torch.bincount(target.cpu() * k + pred, minlength=k * k).view(k, k)

    def state_dict(self) -> dict[str, Any]:
        return {"confusion": self.confusion.clone(), "loss_sum": self.loss_sum, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.confusion, self.loss_sum, self.count = state["confusion"].clone(), state["loss_sum"], state["count"]

    def compute(self) -> dict[str, float]:
        correct = self.confusion.diag().sum().item()
        return {"loss": self.loss_sum / max(1, self.count), "acc": correct / max(1, self.count)}


# ----------------------------------------------------------------------------- model set-up


def _builder_params(name: str) -> set[str]:
    import zoo

    return set(inspect.signature(zoo.get_spec(name).builder).parameters)


def find_head(model: nn.Module) -> tuple[str, nn.Linear]:
    """The classification head: the last ``nn.Linear`` registered in the model."""
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(f"{type(model).__name__} has no nn.Linear head to replace or keep trainable")
    return linears[-1]


def plan_input(model_name: str, data: ArrayDataset, recipe: Recipe,
               model_kwargs: dict[str, Any]) -> tuple[Preprocess, dict[str, Any]]:
    """How the data's images become the model's input, and the builder arguments that make them fit."""
    import zoo

    spec = zoo.get_spec(model_name)
    if spec.task != "classification":
        raise ConfigError(f"{model_name} is a {spec.task} model; `fit` trains classification models")
    kwargs = {**recipe.model_kwargs, **model_kwargs}
    params = _builder_params(model_name)
    c_model = spec.input_size[0]
    c_data = data.images.shape[1]
    channels = None
    if c_data != kwargs.get("in_chans", c_model):
        if "in_chans" in params and "in_chans" not in kwargs:
            kwargs["in_chans"] = c_data
        else:
            channels = kwargs.get("in_chans", c_model)
    if "num_classes" in params and "num_classes" not in kwargs and len(data.classes) != spec.num_classes:
        kwargs["num_classes"] = len(data.classes)
    c_in = kwargs.get("in_chans", channels or c_data)
    if recipe.normalize == "model":
        mean, std = spec.preprocessing.mean, spec.preprocessing.std
    elif recipe.normalize == "imagenet":
        from zoo._registry import IMAGENET_MEAN, IMAGENET_STD

        mean, std = IMAGENET_MEAN, IMAGENET_STD
    elif recipe.normalize == "none":
        mean, std = (0.0,) * c_in, (1.0,) * c_in
    else:
        raise ConfigError(f"unknown normalize {recipe.normalize!r}; use model, imagenet or none")
    if len(mean) != c_in:
        mean, std = (sum(mean) / len(mean),) * c_in, (sum(std) / len(std),) * c_in
    size = tuple(recipe.input_size) if recipe.input_size else None
    pre = Preprocess(mean=tuple(mean), std=tuple(std), size=size, pad=recipe.input_pad, channels=channels,
                     crop=recipe.center_crop or None)
    return pre, kwargs


def check_fit(model: nn.Module, model_name: str, data: ArrayDataset, pre: Preprocess) -> None:
    """Run two images through the model; a shape error becomes a clear :class:`ConfigError`."""
    import zoo

    x = pre(data.images[:2])
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except RuntimeError as exc:
        c, h, w = zoo.get_spec(model_name).input_size
        raise ConfigError(
            f"{model_name} expects {c}x{h}x{w} inputs; {data.name} gives {'x'.join(map(str, data.image_shape))}, "
            f"which becomes {'x'.join(map(str, x.shape[1:]))} after the recipe's input adaptation and does not fit "
            f"({str(exc).splitlines()[0]}). Use a recipe for this model and data set, or set input_pad / input_size "
            "/ center_crop (e.g. --set input_size=32,32)."
        ) from None
    finally:
        model.train(was_training)
    if out.ndim != 2 or out.shape[1] < len(data.classes):
        raise ConfigError(f"{model_name} gives outputs of shape {tuple(out.shape)}; {data.name} has "
                          f"{len(data.classes)} classes (pass --num-classes)")


def build_model(model_name: str, kwargs: dict[str, Any], pretrained: str | None, num_classes: int) -> nn.Module:
    """The model, optionally from pretrained weights (a run folder or a zoo weight), with its head
    replaced when the class count differs (transfer learning)."""
    import zoo

    if not pretrained:
        return zoo.create_model(model_name, **kwargs)
    if Path(pretrained).is_dir() and (Path(pretrained) / runs.CHECKPOINT).is_file():  # a run folder
        model = runs.load_run(pretrained).train()
    else:
        base = {k: v for k, v in kwargs.items() if k != "num_classes"}
        model = zoo.create_model(model_name, pretrained=True if pretrained == "default" else pretrained, **base)
    name, head = find_head(model)
    if head.out_features != num_classes:
        new = nn.Linear(head.in_features, num_classes, bias=head.bias is not None)
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        setattr(parent, name.rpartition(".")[2], new)
    return model


def freeze_backbone(model: nn.Module) -> list[str]:
    """Freeze every parameter except the head's; BatchNorm layers of the backbone stay in eval mode."""
    head_name, head = find_head(model)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    return [f"{head_name}.{n}" for n, _ in head.named_parameters()]


class EMA:
    """Exponential moving average of a model's weights (buffers copied)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval()
        self.decay = decay
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for e, m in zip(self.module.state_dict().values(), model.state_dict().values(), strict=True):
            if e.dtype.is_floating_point:
                e.lerp_(m, 1 - self.decay)
            else:
                e.copy_(m)


def make_optimizer(model: nn.Module, r: Recipe) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": r.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if r.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=r.lr, momentum=r.momentum, nesterov=r.momentum > 0)
    if r.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=r.lr)
    if r.optimizer == "adam":
        return torch.optim.Adam(groups, lr=r.lr)
    raise ConfigError(f"unknown optimizer {r.optimizer!r}; use sgd, adamw or adam")


def lr_factor(r: Recipe, total_steps: int, steps_per_epoch: int) -> Callable[[int], float]:
    if r.schedule == "constant":
        return lambda step: 1.0
    if r.schedule == "onecycle":
        up = max(1, int(r.warmup * total_steps))

        def onecycle(step: int) -> float:
            if step < up:
                return 0.04 + 0.96 * step / up
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - up) / max(1, total_steps - up))))

        return onecycle
    if r.schedule == "cosine":
        up = int(r.warmup * steps_per_epoch)

        def cosine(step: int) -> float:
            if step < up:
                return (step + 1) / up
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - up) / max(1, total_steps - up))))

        return cosine
    raise ConfigError(f"unknown schedule {r.schedule!r}; use onecycle, cosine or constant")


def sample_transform(r: Recipe) -> Callable | None:
    """Per-sample augmentations (rotation, colour jitter) as torchvision v2 transforms, applied to the
    uint8 images before preprocessing (the rotation moves to :func:`post_transform` when the recipe
    keeps the course's order)."""
    from torchvision.transforms import v2

    ts: list[Any] = []
    if r.rotate and not r.course_order:
        ts.append(v2.RandomRotation(r.rotate))
    if r.jitter:
        b, c, s, h = r.jitter
        ts.append(v2.ColorJitter(brightness=b, contrast=c, saturation=s, hue=h))
    return v2.Compose(ts) if ts else None


def post_transform(r: Recipe) -> Callable | None:
    """The batch transform on the normalised float images: the course's ``RandomRotation`` when the
    recipe keeps the course's order (``CenterCrop`` -> ``Normalize`` -> ``RandomRotation``, so the
    rotated-in corners are 0 after normalisation, i.e. the mean colour), batched on the device and equal
    to torchvision's per-image transform under the same seed (:class:`training.data.RandomRotation`)."""
    return RandomRotation(tuple(r.rotate)) if r.rotate and r.course_order else None


# ----------------------------------------------------------------------------- evaluation pass


@torch.no_grad()
def run_eval(model: nn.Module, loader: BatchLoader, task: ClassificationTask, amp: contextlib.AbstractContextManager,
             tta_flip: bool = False) -> tuple[dict[str, float], ClassificationMeter, torch.Tensor]:
    """Loss, accuracy, the meter and all logits (CPU) of ``model`` over ``loader``."""
    model.eval()
    meter, outs = task.meter(), []
    for x, y in loader:
        with amp:
            out = model(x).float()
            if tta_flip:
                out = 0.5 * (out + model(x.flip(-1)).float())
        meter.update(out, y, task.loss(out, y))
        outs.append(out.cpu())
    return meter.compute(), meter, torch.cat(outs) if outs else torch.empty(0)


# ----------------------------------------------------------------------------- pieces of the loop
# One loop, two tasks: `fit` below and `training.seg.engine.fit_segmentation` are made of these.


def read_resume(run_dir: str | os.PathLike) -> tuple[dict[str, Any], Recipe, dict[str, Any] | None, int]:
    """A run folder's config, its recipe, its last checkpoint (None before the first epoch) and that epoch."""
    run_dir = Path(run_dir)
    cfg = runs.read_config(run_dir)
    ckpt = runs.load_checkpoint(run_dir) if (run_dir / runs.CHECKPOINT).is_file() else None
    return cfg, Recipe.from_dict(cfg["recipe_fields"]), ckpt, int(ckpt["epoch"]) if ckpt else 0


def new_run_dir(out: str | os.PathLike | None, model: str, data: str) -> Path:
    """``out``, else ``$CVZOO_RUNS`` (default ``runs``) / MODEL_DATA_TIME."""
    if out:
        return Path(out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(os.environ.get("CVZOO_RUNS", "runs")) / f"{model}_{data.split(':')[0]}_{stamp}"


def setup_device(r: Recipe, device: str | None,
                 world: int) -> tuple[torch.device, bool, contextlib.AbstractContextManager]:
    """Pick the device, set CPU threads, join the process group under ``torchrun``; returns the device,
    whether to use channels_last, and the autocast context (bf16 on CUDA when the recipe asks)."""
    dev = pick_device(device or r.device)
    if r.threads and dev.type == "cpu":
        torch.set_num_threads(r.threads)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    channels_last = r.channels_last if r.channels_last is not None else dev.type == "cuda"
    return dev, channels_last, autocast(dev, r.bf16)


def autocast(dev: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when asked; otherwise a no-op (bf16 on this project's CPUs is ~300x slower)."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" and bf16 else contextlib.nullcontext()


def prepare_model(net: nn.Module, r: Recipe, dev: torch.device, world: int,
                  channels_last: bool) -> tuple[nn.Module, EMA | None, nn.Module]:
    """Move ``net`` to the device (and channels_last); returns it, its EMA (if the recipe has one) and the
    module to train (DistributedDataParallel under ``torchrun``, compiled if the recipe asks)."""
    net = net.to(dev)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    ema = EMA(net, r.ema) if r.ema else None
    train_net: nn.Module = net
    if world > 1:
        train_net = nn.parallel.DistributedDataParallel(net, device_ids=[dev.index] if dev.type == "cuda" else None)
    if r.compile:
        train_net = torch.compile(train_net)
    return net, ema, train_net


Schedule = Callable[[Recipe, int, int], Callable[[int], float]]


def make_training_state(net: nn.Module, r: Recipe, steps_per_epoch: int, schedule: Schedule, ema: EMA | None,
                        ckpt: dict[str, Any] | None) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The recipe's optimiser and per-step schedule (``schedule(r, total_steps, steps_per_epoch)``); when
    resuming, the model, optimiser, scheduler and EMA are restored from ``ckpt``."""
    optimizer = make_optimizer(net, r)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule(r, r.epochs * steps_per_epoch, steps_per_epoch))
    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if ema is not None and ckpt.get("ema"):
            ema.module.load_state_dict(ckpt["ema"])
    return optimizer, scheduler


def start_metrics(run_dir: Path, resume: bool, start_epoch: int) -> None:
    """A new run starts with no ``metrics.jsonl``; a resumed one keeps the rows of its finished epochs."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        runs.truncate_metrics(run_dir, start_epoch)
    else:
        (run_dir / runs.METRICS).unlink(missing_ok=True)


def train_one_epoch(train_net: nn.Module, net: nn.Module, loader: Iterable, task: Any,
                    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR,
                    amp: contextlib.AbstractContextManager, r: Recipe, ema: EMA | None,
                    desc: str | None = None, *, meter: Any = None, start: int = 0,
                    on_step: Callable[[int, Any], None] | None = None) -> tuple[dict[str, float], float]:
    """One pass over ``loader`` (the caller sets train/eval modes): forward, ``task.loss``, backward,
    clipping, optimiser and schedule steps, EMA. Returns the task meter's training metrics and the
    seconds taken; ``desc`` shows a tqdm bar with that label. ``meter`` continues a pass resumed
    part-way from batch ``start`` (where the bar starts); ``on_step(steps_done_in_this_call, meter)`` runs
    after every step (mid-epoch checkpoints)."""
    meter = meter if meter is not None else task.meter()
    t0 = time.perf_counter()
    batches = loader
    if desc:
        from tqdm import tqdm

        batches = tqdm(loader, desc=desc, leave=False, mininterval=2, initial=start)
    for step, (x, y) in enumerate(batches, 1):
        with amp:
            out = train_net(x)
            loss = task.loss(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if r.grad_clip:
            nn.utils.clip_grad_norm_(net.parameters(), r.grad_clip)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(net)
        meter.update(out, y, loss.item())
        if on_step is not None:
            on_step(step, meter)
    return meter.compute(), time.perf_counter() - t0


def save_epoch(run_dir: Path, net: nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LambdaLR, ema: EMA | None, epoch: int, r: Recipe,
               mid_epoch: dict[str, Any] | None = None) -> None:
    """The atomic checkpoint after ``epoch`` (1-based) epochs: all that ``--resume`` needs to continue
    exactly. ``mid_epoch`` (the batches done of the next epoch, the RNG states, the training meter and
    the times so far) makes it a checkpoint part-way through that epoch."""
    runs.save_checkpoint(run_dir, {
        "model": runs.unwrap(net).state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "ema": ema.module.state_dict() if ema else None,
        "epoch": epoch, "rng": {"torch": torch.get_rng_state()}, "recipe": r.name, "mid_epoch": mid_epoch,
    })


def _mid_epoch_saver(run_dir: Path, net: nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.LambdaLR, ema: EMA | None, epoch: int, r: Recipe,
                     loader: BatchLoader, done: int, time_before: float, every_s: float,
                     elapsed: Callable[[], float]) -> Callable[[int, Any], None]:
    """``on_step`` for :func:`train_one_epoch`: a checkpoint part-way through ``epoch`` (0-based) every
    ``every_s`` seconds, none after the epoch's last step (the epoch's own checkpoint follows)."""
    t_start = last = time.perf_counter()

    def on_step(steps: int, meter: Any) -> None:
        nonlocal last
        now = time.perf_counter()
        if now - last < every_s or done + steps >= len(loader):
            return
        save_epoch(run_dir, net, optimizer, scheduler, ema, epoch, r, mid_epoch={
            "batch": done + steps, "loader_rng": loader.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
            "meter": meter.state_dict(), "epoch_time_s": time_before + now - t_start, "elapsed_s": elapsed()})
        last = time.perf_counter()

    return on_step


# ----------------------------------------------------------------------------- fit


@dataclass
class FitResult:
    run_dir: Path
    metrics: dict[str, Any]


def _resolve_recipe(model: str | None, data: str | None, recipe: Recipe | str | None) -> Recipe:
    if isinstance(recipe, Recipe):
        return recipe
    if recipe:
        return get_recipe(recipe)
    if model is None or data is None:
        raise ConfigError("give a model and a data set, or a recipe")
    return default_recipe(model, data)


def fit(model: str | None = None, data: str | None = None, recipe: Recipe | str | None = None, *,
        out: str | os.PathLike | None = None, epochs: int | None = None, seed: int = 0,
        data_root: str | None = None, device: str | None = None, overrides: dict[str, Any] | None = None,
        model_kwargs: dict[str, Any] | None = None, train_limit: int | None = None, test_limit: int | None = None,
        pretrained: str | None = None, freeze: bool = False, resume: str | os.PathLike | None = None,
        progress: bool = True, evaluate_at_end: bool = True,
        callbacks: Sequence[Callable[[int, dict[str, Any]], None]] = (),
        checkpoint_every_s: float | None = None) -> FitResult:
    """Train ``model`` on ``data`` with ``recipe`` and write a run folder; see the module docstring.

    ``resume`` is a run folder: its config is read back and training continues after its last
    checkpoint. ``callbacks`` are called as ``fn(epoch, metrics_row)`` after each epoch on rank 0.
    ``checkpoint_every_s`` also checkpoints part-way through an epoch, at most that often (one process;
    for epochs longer than a session), and ``resume`` continues from there exactly.
    """
    import zoo
    from training.seg.engine import fit_segmentation, is_segmentation

    if is_segmentation(model, data, recipe, resume):  # task "segmentation": same contract, its own loop
        if checkpoint_every_s is not None:
            raise ConfigError("mid-epoch checkpoints (--checkpoint-minutes) are for classification runs")
        return fit_segmentation(model, data, recipe, out=out, epochs=epochs, seed=seed, data_root=data_root,
                                device=device, overrides=overrides, model_kwargs=model_kwargs,
                                train_limit=train_limit, test_limit=test_limit, pretrained=pretrained, freeze=freeze,
                                resume=resume, progress=progress, evaluate_at_end=evaluate_at_end,
                                callbacks=callbacks)
    rank, world = dist_info()
    if checkpoint_every_s is not None and world > 1:
        raise ConfigError("mid-epoch checkpoints (--checkpoint-minutes) are for one process; under torchrun "
                          "the run checkpoints after every epoch")
    start_epoch, ckpt = 0, None
    if resume:
        run_dir = Path(resume)
        cfg, r, ckpt, start_epoch = read_resume(run_dir)
        model, data, seed = cfg["model"], cfg["data"], cfg["seed"]
        model_kwargs, pretrained, freeze = cfg.get("model_kwargs", {}), None, cfg.get("freeze_backbone", False)
        train_limit, test_limit = cfg.get("train_limit"), cfg.get("test_limit")
        data_root = data_root or cfg.get("data_root")
        device = device or cfg.get("device_request")
    else:
        r = _resolve_recipe(model, data, recipe)
        overrides = dict(overrides or {})
        set_model = overrides.pop("model", None)  # `--set model=NAME` picks one of a shared recipe's models
        if model and set_model and set_model != model:
            raise ConfigError(f"two models given: {model} and --set model={set_model}")
        model, data = model or set_model or r.model, data or r.data
        try:
            zoo.get_spec(model)
        except KeyError as exc:
            raise ConfigError(str(exc)) from None
        if model == r.model or model in r.models:
            r = r.for_model(model)
        elif recipe is not None:
            raise ConfigError(f"recipe {r.name!r} is for {', '.join((r.model, *r.models))}, not {model}; list "
                              "recipes with `python -m training recipes`")
        if overrides or epochs:
            r = r.override(**{**overrides, "epochs": epochs})
        train_limit = r.train_limit if train_limit is None else train_limit
        test_limit = r.test_limit if test_limit is None else test_limit
        run_dir = new_run_dir(out, model, data)
    if r.runner:
        if world > 1 or resume:
            raise ConfigError(f"recipe {r.name} has its own loop ({r.runner}); it runs in one process, without resume")
        mod, fn = r.runner.split(":")
        acc = getattr(importlib.import_module(mod), fn)(run_dir, device=device or "cpu", epochs=epochs, seed=seed)
        return FitResult(run_dir, {"test_acc": acc})

    dev, channels_last, amp = setup_device(r, device, world)

    train = load_dataset(data, "train", root=data_root).subset(train_limit, seed)
    test = load_dataset(data, "test", root=data_root).subset(test_limit, seed)
    pre, kwargs = plan_input(model, train, r, model_kwargs or {})
    torch.manual_seed(seed)
    net = build_model(model, kwargs, pretrained, len(train.classes))
    check_fit(net, model, train, pre)
    head_params = freeze_backbone(net) if freeze else None
    net, ema, train_net = prepare_model(net, r, dev, world, channels_last)

    task = ClassificationTask(len(train.classes), r.label_smoothing)
    loader = BatchLoader(train, r.batch_size, train=True, preprocess=pre,
                         augment=Augment(r.crop_pad, r.pad_mode, r.flip, r.cutout),
                         sample_transform=sample_transform(r), post_transform=post_transform(r), seed=seed,
                         device=dev, rank=rank, world_size=world, channels_last=channels_last)
    test_loader = BatchLoader(test, max(256, r.batch_size), train=False, preprocess=pre, device=dev,
                              channels_last=channels_last)
    if len(loader) == 0:
        raise ConfigError(f"{len(train)} training images make no batch of {r.batch_size} (drop_last)")
    optimizer, scheduler = make_training_state(net, r, len(loader), lr_factor, ema, ckpt)

    if rank == 0:
        start_metrics(run_dir, bool(resume), start_epoch)
        if not resume:
            runs.write_config(run_dir, {
                "model": model, "model_kwargs": kwargs, "recipe": r.name, "recipe_fields": r.to_dict(),
                "data": data, "data_root": str(data_root) if data_root else None, "seed": seed,
                "classes": train.classes, "task": "classification", "device": str(dev), "device_request": device,
                "world_size": world, "threads": torch.get_num_threads(), "allocator": loaded_allocator(),
                "train_limit": train_limit, "test_limit": test_limit, "train_size": len(train), "test_size": len(test),
                "pretrained": pretrained, "freeze_backbone": freeze, "trainable_head": head_params,
                "preprocess": {"mean": pre.mean, "std": pre.std, "size": pre.size, "pad": pre.pad,
                               "channels": pre.channels, "crop": pre.crop},
                "num_params": sum(p.numel() for p in net.parameters()),
            })

    eval_net = ema.module if ema is not None else net  # what is tested, saved last and evaluated at the end
    eval_task = ClassificationTask(len(train.classes))  # test loss is plain cross-entropy, as `evaluate` reports
    row: dict[str, Any] = {}
    final_pass = None  # the last epoch's test meter: `evaluate_at_end` writes its artefacts without a second pass
    t_run = time.perf_counter()
    mid = ckpt.get("mid_epoch") if ckpt else None
    if mid:
        prior = mid["elapsed_s"]
    else:
        prior = runs.read_metrics(run_dir)[-1]["elapsed_s"] if resume and start_epoch and rank == 0 else 0.0
    for epoch in range(start_epoch, r.epochs):
        torch.manual_seed(seed * 1_000_003 + epoch)
        loader.set_epoch(epoch)
        meter, done, time_before = None, 0, 0.0
        if mid and epoch == start_epoch:  # continue part-way through this epoch, exactly
            done, time_before = mid["batch"], mid["epoch_time_s"]
            loader.resume_at(done, mid["loader_rng"])
            torch.set_rng_state(mid["torch_rng"])
            if mid.get("cuda_rng") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(mid["cuda_rng"])
            meter = task.meter()
            meter.load_state_dict(mid["meter"])
        train_net.train()
        if freeze:  # a frozen backbone keeps its BatchNorm statistics
            net.eval()
            find_head(net)[1].train()
        desc = f"epoch {epoch + 1}/{r.epochs}" if progress and rank == 0 else None
        on_step = None
        if checkpoint_every_s is not None:
            on_step = _mid_epoch_saver(run_dir, net, optimizer, scheduler, ema, epoch, r, loader, done,
                                       time_before, checkpoint_every_s, lambda: prior + time.perf_counter() - t_run)
        train_m, train_time = train_one_epoch(train_net, net, loader, task, optimizer, scheduler, amp, r, ema, desc,
                                              meter=meter, start=done, on_step=on_step)
        train_time += time_before
        if rank == 0:
            test_m = {"loss": None, "acc": None}  # the recipe's eval_every skips this epoch's test pass
            if (epoch + 1) % r.eval_every == 0 or epoch + 1 == r.epochs:
                test_m, final_pass, _ = run_eval(eval_net, test_loader, eval_task, amp, r.tta_flip)
            row = {"epoch": epoch + 1, "train_loss": train_m["loss"], "train_acc": train_m["acc"],
                   "test_loss": test_m["loss"], "test_acc": test_m["acc"], "lr": optimizer.param_groups[0]["lr"],
                   "epoch_time_s": round(train_time, 3),
                   "train_images_per_s": round(len(loader) * loader.local_batch * world / train_time, 1),
                   "elapsed_s": round(prior + time.perf_counter() - t_run, 3)}
            runs.append_metrics(run_dir, row)
            save_epoch(run_dir, net, optimizer, scheduler, ema, epoch + 1, r)
            tested = "" if test_m["acc"] is None else f" test_loss {test_m['loss']:.4f} test_acc {test_m['acc']:.4f}"
            print(f"epoch {epoch + 1}/{r.epochs} train_loss {row['train_loss']:.4f} train_acc {row['train_acc']:.4f}"
                  f"{tested} ({train_time:.1f}s, {row['train_images_per_s']} img/s)", flush=True)
            for cb in callbacks:
                cb(epoch + 1, row)
    if world > 1:
        torch.distributed.barrier()
    if rank == 0 and evaluate_at_end:
        from training.evaluate import evaluate, write_evaluation

        if final_pass is not None:
            write_evaluation(run_dir / "eval" / "test", eval_net, next(iter(test_loader))[0], final_pass, test.classes,
                             model=model, run=run_dir, data=data, split="test", tta_flip=r.tta_flip)
        else:  # resumed after its last epoch: evaluate the checkpoint
            evaluate(run_dir, data=data, split="test", data_root=data_root, limit=test_limit, device=str(dev))
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return FitResult(run_dir, row)
