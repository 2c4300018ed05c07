"""CIFAR-10 from scratch on a 2-core CPU, as fast as we can: airbench94's schedule to 94%, a short one to 90%.

    python -m training.speedrun [--schedule full|short] [--out RUN_DIR] [--epochs E] [--threads T] [--seed S]

An adaptation of airbench94 (Keller Jordan, https://github.com/KellerJordan/cifar10-airbench;
arXiv:2404.00498) to a CPU: the network is zoo's ``cifar_speedrun`` (frozen whitening stem, three
conv groups, identity-initialised convs, scale-free BatchNorm); training is Nesterov SGD with
decoupled hyperparameters, a triangular learning rate, label smoothing, Lookahead-style weight
averaging, alternating flips and 2-pixel translations; evaluation averages mirrored and translated
views (test-time augmentation). CPU changes: fp32 instead of fp16, channels_last (1.5x here), 2
threads, and no torch.compile.

Two schedules (``SCHEDULES``):

- ``full`` (the default): airbench94's own, 9.9 epochs, weight averaging and the whitening bias
  from/for 3 epochs, 6-view TTA (mirror + 1-pixel translations). airbench94 reports 94.01% mean
  over 1,000 GPU runs.
- ``short``: the same recipe compressed into 4 epochs (averaging from epoch 1, whitening bias for 1
  epoch, mirror TTA): the 90% run.

Measured results, with commands and wall times, are in ``training/RESULTS.md``.

Sections, in reading order: hyperparameters, data, network and initialisation, evaluation,
training. ``main(hyp, run_dir)`` returns the final test accuracy and writes a standard run folder
(``config.json``, ``metrics.jsonl``, ``checkpoint.pt``), so ``python -m training eval`` and
``embed`` work on it.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import zoo
from training import runs
from training.allocator import loaded_allocator, print_allocator_tip
from training.data import load_dataset
from zoo.models.speedrun import CIFAR10_MEAN, CIFAR10_STD, init_whitening
from zoo.preprocessing import Preprocessing

# ------------------------------------------------------------------------------ hyperparameters
# As in airbench, the optimiser's hyperparameters are decoupled: lr and weight decay are per 1024
# examples and independent of the momentum, so each can be tuned alone. ``BASE`` is airbench94's
# ``hyp``; a schedule overrides the fields that set its length.
BASE = {
    "opt": {
        "train_epochs": 9.9,        # passes over the 50,000 training images
        "batch_size": 1024,         # images per step
        "lr": 11.5,                 # learning rate per 1024 examples (decoupled, see main)
        "momentum": 0.85,           # Nesterov momentum
        "weight_decay": 0.0153,     # per 1024 examples, decoupled from the learning rate
        "bias_scaler": 64.0,        # BatchNorm biases: lr times this, same weight decay
        "label_smoothing": 0.2,     # cross-entropy label smoothing
        "lr_schedule": (0.2, 0.23, 0.07),  # triangle: start fraction, peak position (fraction of steps), end fraction
        "ema": {
            "start_epochs": 3,      # epochs before weight averaging starts
            "decay_base": 0.95,     # per-step decay, raised to every_n_steps and warmed up by progress**decay_pow
            "decay_pow": 3.0,
            "every_n_steps": 5,     # steps between averaging updates
        },
        "whiten_bias_epochs": 3,    # epochs during which the whitening stem's bias trains
    },
    "aug": {
        "flip": True,               # alternating flip: a fixed random half is mirrored, swapped every epoch
        "translate": 2,             # random translation, pixels (reflect padding)
    },
    "net": {
        "widths": (64, 256, 256),   # channels of the three conv groups
        "whiten_images": 5000,      # training images used to estimate the patch covariance
        "tta_level": 2,             # 0: none, 1: mirror (2 views), 2: mirror + 1-pixel translations (6 views)
    },
    "run": {
        "threads": 2,               # torch CPU threads
        "eval_batch": 1000,         # images per evaluation batch
        "seed": 0,
    },
}

SCHEDULES: dict[str, dict] = {
    "full": {},  # airbench94 as published
    "short": {"opt": {"train_epochs": 4.0, "ema": {"start_epochs": 1}, "whiten_bias_epochs": 1},
              "net": {"tta_level": 1}},
}


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) else v
    return out


def make_hyp(schedule: str = "full", *, epochs: float | None = None, threads: int | None = None,
             seed: int | None = None) -> dict:
    """The hyperparameters of ``schedule`` (a key of ``SCHEDULES``), with optional overrides; a new dict."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
    hyp = _merge(BASE, SCHEDULES[schedule])
    hyp["schedule"] = schedule
    for section, key, value in (("opt", "train_epochs", epochs), ("run", "threads", threads), ("run", "seed", seed)):
        if value is not None:
            hyp[section][key] = value
    return hyp


# ------------------------------------------------------------------------------ data


def normalise(images_uint8: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return (images_uint8.float() / 255 - mean) / std


def batch_translate(x: torch.Tensor, pad: int, g: torch.Generator) -> torch.Tensor:
    """Shift each image by up to ``pad`` pixels each way (reflect padding), grouped by shift."""
    n, _, h, w = x.shape
    xp = F.pad(x, (pad,) * 4, mode="reflect")
    shifts = torch.randint(0, 2 * pad + 1, (n, 2), generator=g)
    out = torch.empty_like(x)
    for sy in range(2 * pad + 1):
        for sx in range(2 * pad + 1):
            m = (shifts[:, 0] == sy) & (shifts[:, 1] == sx)
            out[m] = xp[m, :, sy : sy + h, sx : sx + w]
    return out


def train_batches(hyp: dict, images: torch.Tensor, labels: torch.Tensor, epoch: int, flip_mask: torch.Tensor,
                  g: torch.Generator, device: torch.device, channels_last: bool):
    """One epoch of augmented, shuffled batches from uint8 images (N, 3, 32, 32); drops the last partial batch."""
    bs = hyp["opt"]["batch_size"]
    order = torch.randperm(len(images), generator=g)
    for i in range(len(images) // bs):
        idx = order[i * bs : (i + 1) * bs]
        x = normalise(images[idx])
        if hyp["aug"]["flip"]:
            m = (flip_mask[idx] ^ bool(epoch % 2)).view(-1, 1, 1, 1)
            x = torch.where(m, x.flip(-1), x)
        if hyp["aug"]["translate"]:
            x = batch_translate(x, hyp["aug"]["translate"], g)
        x = x.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, labels[idx].to(device)


# ------------------------------------------------------------------------------ network and initialisation


def make_net(hyp: dict, train_images: torch.Tensor, device: torch.device, channels_last: bool) -> nn.Module:
    model = zoo.create_model("cifar_speedrun", widths=hyp["net"]["widths"])
    init_whitening(model, normalise(train_images[: hyp["net"]["whiten_images"]]))
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


class Lookahead:
    """Keeps an average of the weights and copies it back into the net (Lookahead optimiser style)."""

    def __init__(self, net: nn.Module) -> None:
        self.avg = {k: v.detach().clone() for k, v in net.state_dict().items()}

    @torch.no_grad()
    def update(self, net: nn.Module, decay: float) -> None:
        for avg, p in zip(self.avg.values(), net.state_dict().values(), strict=True):
            if p.dtype.is_floating_point:
                avg.lerp_(p, 1 - decay)
                p.copy_(avg)


# ------------------------------------------------------------------------------ evaluation


@torch.no_grad()
def predict(net: nn.Module, images: torch.Tensor, tta_level: int, device: torch.device,
            channels_last: bool, batch: int = 1000) -> torch.Tensor:
    """Logits (N, 10) for uint8 ``images`` (N, 3, 32, 32), averaged over ``tta_level``'s views."""
    net.eval()

    def run(x: torch.Tensor) -> torch.Tensor:
        return net(x.contiguous(memory_format=torch.channels_last) if channels_last else x)

    def mirror(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * run(x) + 0.5 * run(x.flip(-1)) if tta_level >= 1 else run(x)

    out = []
    for chunk in images.split(batch):
        x = normalise(chunk).to(device)
        logits = mirror(x)
        if tta_level >= 2:
            xp = F.pad(x, (1,) * 4, mode="reflect")
            shifted = [xp[:, :, 0:32, 0:32], xp[:, :, 2:34, 2:34]]
            logits = 0.5 * logits + 0.5 * torch.stack([mirror(s) for s in shifted]).mean(0)
        out.append(logits.cpu())
    return torch.cat(out)


# ------------------------------------------------------------------------------ training


def start_run_folder(run_dir: Path, hyp: dict, classes: list[str], device: str) -> None:
    """Create ``run_dir`` with the run's ``config.json`` (a standard run folder) and no metrics yet."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / runs.METRICS).unlink(missing_ok=True)
    runs.write_config(run_dir, {
        "model": "cifar_speedrun", "model_kwargs": {"widths": list(hyp["net"]["widths"])},
        "recipe": "speedrun_cifar10", "schedule": hyp["schedule"], "recipe_fields": hyp, "data": "cifar10",
        "seed": hyp["run"]["seed"],
        "class_names": classes, "task": "classification", "device": device,
        "threads": hyp["run"]["threads"], "allocator": loaded_allocator(),
        "preprocessing": Preprocessing(mean=CIFAR10_MEAN, std=CIFAR10_STD, resize=32, crop=(32, 32)).to_dict(),
    })


def make_optimizer(net: nn.Module, opt: dict) -> tuple[torch.optim.SGD, float]:
    """Nesterov SGD with airbench's decoupled hyperparameters, and the step gain ``kilostep_scale`` that
    converts its per-example learning rate back to ``opt["lr"]``'s unit (per 1024 examples)."""
    bs, momentum = opt["batch_size"], opt["momentum"]
    kilostep_scale = 1024 * (1 + 1 / (1 - momentum))  # Nesterov's steady-state step gain, per 1024 examples
    lr = opt["lr"] / kilostep_scale  # per-example loss is summed, so this is per example
    wd = opt["weight_decay"] * bs / kilostep_scale
    lr_biases = lr * opt["bias_scaler"]
    norm_biases = [p for n, p in net.named_parameters() if "norm" in n and p.requires_grad]
    others = [p for n, p in net.named_parameters() if "norm" not in n and p.requires_grad]
    optimizer = torch.optim.SGD([
        {"params": norm_biases, "lr": lr_biases, "weight_decay": wd / lr_biases},
        {"params": others, "lr": lr, "weight_decay": wd / lr},
    ], momentum=momentum, nesterov=True)
    return optimizer, kilostep_scale


def make_scheduler(optimizer: torch.optim.Optimizer, lr_schedule: tuple[float, float, float],
                   total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The triangular schedule: from ``start`` x lr up to lr at ``peak`` x total_steps, down to ``end`` x lr."""
    start, peak, end = lr_schedule

    def triangle(step: int) -> float:
        p = int(peak * total_steps)
        return start + (1 - start) * step / p if step < p else 1 + (end - 1) * (step - p) / max(1, total_steps - p)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, triangle)


@dataclass
class TrainState:
    """What carries over from one epoch to the next: optimiser steps taken, the weight average (from
    ``ema.start_epochs`` on), and training seconds so far (evaluation excluded)."""

    total_steps: int
    step: int = 0
    lookahead: Lookahead | None = None
    train_time: float = 0.0

    @property
    def done(self) -> bool:
        return self.step >= self.total_steps


def average_weights(net: nn.Module, state: TrainState, epoch: int, ema: dict) -> None:
    """After a step: every ``ema.every_n_steps`` steps from epoch ``ema.start_epochs`` on, start the weight
    average or move it towards the net (decay warmed up with progress) and copy it back into the net."""
    if epoch >= ema["start_epochs"] and state.step % ema["every_n_steps"] == 0:
        if state.lookahead is None:
            state.lookahead = Lookahead(net)
        else:
            rho = ema["decay_base"] ** ema["every_n_steps"] * (state.step / state.total_steps) ** ema["decay_pow"]
            state.lookahead.update(net, decay=rho)


def train_epoch(net: nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler, loss_fn: nn.Module, hyp: dict, epoch: int,
                state: TrainState) -> tuple[float, float, float]:
    """One epoch over ``batches`` (stopping at ``state.total_steps``); returns the summed loss, the number
    of correct predictions and the images seen. Ends with the net set to the weight average, if any."""
    net.whiten.bias.requires_grad_(epoch < hyp["opt"]["whiten_bias_epochs"])
    net.train()
    loss_sum = correct = seen = 0.0
    for x, y in batches:
        out = net(x)
        loss = loss_fn(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        state.step += 1
        loss_sum, seen = loss_sum + loss.item(), seen + len(y)
        correct += (out.argmax(1) == y).sum().item()
        average_weights(net, state, epoch, hyp["opt"]["ema"])
        if state.done:
            break
    if state.lookahead is not None:
        state.lookahead.update(net, decay=1.0)
    return loss_sum, correct, seen


def main(hyp: dict | None = None, run_dir: str | Path | None = None, device: str = "cpu") -> float:
    """Train with ``hyp`` (``make_hyp()``: the full schedule by default); return the final test accuracy."""
    hyp = hyp or make_hyp()
    torch.set_num_threads(hyp["run"]["threads"])
    torch.manual_seed(hyp["run"]["seed"])
    dev = torch.device(device)
    channels_last = True
    train, test = load_dataset("cifar10", "train"), load_dataset("cifar10", "test")
    run_dir = Path(run_dir) if run_dir else None
    if run_dir:
        start_run_folder(run_dir, hyp, train.classes, device)

    opt = hyp["opt"]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=opt["label_smoothing"], reduction="sum")
    t0 = time.perf_counter()
    net = make_net(hyp, train.images, dev, channels_last)
    optimizer, kilostep_scale = make_optimizer(net, opt)
    steps_per_epoch = len(train) // opt["batch_size"]
    state = TrainState(total_steps=math.ceil(steps_per_epoch * opt["train_epochs"]))
    scheduler = make_scheduler(optimizer, opt["lr_schedule"], state.total_steps)
    g = torch.Generator().manual_seed(hyp["run"]["seed"])
    flip_mask = torch.rand(len(train), generator=g) < 0.5
    state.train_time = time.perf_counter() - t0

    for epoch in range(math.ceil(opt["train_epochs"])):
        t_epoch = time.perf_counter()
        batches = train_batches(hyp, train.images, train.labels, epoch, flip_mask, g, dev, channels_last)
        loss_sum, correct, seen = train_epoch(net, batches, optimizer, scheduler, loss_fn, hyp, epoch, state)
        state.train_time += time.perf_counter() - t_epoch
        tta = hyp["net"]["tta_level"] if state.done else 0
        t_eval = time.perf_counter()
        logits = predict(net, test.images, tta, dev, channels_last, hyp["run"]["eval_batch"])
        test_acc = (logits.argmax(1) == test.labels).float().mean().item()
        row = {"epoch": epoch + 1, "step": state.step, "train_loss": loss_sum / seen, "train_acc": correct / seen,
               "test_loss": F.cross_entropy(logits, test.labels).item(), "test_acc": test_acc, "tta": tta,
               "lr": optimizer.param_groups[1]["lr"] * kilostep_scale / 1024,
               "train_time_s": round(state.train_time, 2),
               "eval_time_s": round(time.perf_counter() - t_eval, 2),
               "wall_time_s": round(time.perf_counter() - t0, 2)}
        print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
        if run_dir:
            runs.append_metrics(run_dir, row)
            runs.save_checkpoint(run_dir, {"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                                           "scheduler": scheduler.state_dict(), "epoch": epoch + 1, "ema": None})
        if state.done:
            return test_acc
    return test_acc


def fit(run_dir: str | Path | None, *, device: str = "cpu", epochs: float | None = None, seed: int = 0,
        schedule: str = "full") -> float:
    """The recipe runner (``speedrun_cifar10``'s ``runner``): ``python -m training fit`` hands over here."""
    return main(make_hyp(schedule, epochs=epochs, seed=seed), run_dir, device)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m training.speedrun`` command line."""
    ap = argparse.ArgumentParser(prog="python -m training.speedrun", description=__doc__.split("\n")[0])
    ap.add_argument("--schedule", choices=list(SCHEDULES), default="full",
                    help="full: airbench94's 9.9 epochs and 6-view TTA (94%%); short: 4 epochs, mirror TTA (90%%)")
    ap.add_argument("--out", help="run folder to write (config.json, metrics.jsonl, checkpoint.pt)")
    ap.add_argument("--epochs", type=float, help="training epochs (default: the schedule's)")
    ap.add_argument("--threads", type=int, default=BASE["run"]["threads"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=BASE["run"]["seed"],
                    help="initialisation, flips and batch order (another seed gives another ensemble member)")
    return ap


def cli(argv: list[str] | None = None) -> float:
    """``python -m training.speedrun``: parse ``argv``, train, print and return the final accuracy."""
    args = build_parser().parse_args(argv)
    if args.device == "cpu":
        print_allocator_tip(" ".join(["python", "-m", "training.speedrun", *(sys.argv[1:] if argv is None else argv)]))
    hyp = make_hyp(args.schedule, epochs=args.epochs, threads=args.threads, seed=args.seed)
    acc = main(hyp, args.out, device=args.device)
    print(f"final test accuracy {acc:.4f}")
    return acc


if __name__ == "__main__":
    cli()
