"""The training loop: a registry name, a data set and a recipe in; a run folder out.

One loop for every task: the recipe's ``task`` (:mod:`training.tasks`) brings the data, the
model set-up, the loss, the metrics and the final evaluation; this module runs the epochs, the
evaluation passes, the checkpoints and resume. Features: device auto-detection (CUDA, MPS, CPU),
bf16 autocast and channels_last on CUDA, optional ``torch.compile``, the recipe's optimiser and
schedule (:mod:`training.optim`), label smoothing, gradient clipping, an EMA of the weights,
per-epoch metrics and an atomic checkpoint, exact resume, and DistributedDataParallel under
``torchrun`` (gloo on CPU, NCCL on CUDA; rank 0 alone logs, evaluates and writes).

Repeatability: every epoch re-seeds the global RNG, the sampler and the augmentation generator
from ``(seed, epoch)``, and the checkpoint holds the model, optimiser, scheduler and EMA, so a
run resumed from epoch k ends bit-for-bit where the uninterrupted run ends (on the same
hardware and thread count). With ``checkpoint_every_s`` (``--checkpoint-minutes``) a one-process
run also checkpoints part-way through an epoch, with the sampler's position, the augmentation
generator, the global RNG and the epoch's running metrics, and resumes from there as exactly.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import zoo
from training import runs
from training.allocator import loaded_allocator
from training.device import dist_info, setup_device
from training.errors import ConfigError
from training.optim import EMA, lr_factor, make_optimizer
from training.recipes import Recipe, default_recipe, get_recipe
from training.tasks import TASKS, Meter, Run, Task, get_task, task_name
from zoo.paths import runs_root


@dataclass
class FitResult:
    run_dir: Path
    metrics: dict[str, Any]


# ----------------------------------------------------------------------------- the run


def new_run_dir(out: str | os.PathLike | None, model: str, data: str) -> Path:
    """``out``, else ``$CVZOO_RUNS`` (default ``runs``) / MODEL_DATA_TIME."""
    if out:
        return Path(out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return runs_root() / f"{model}_{data.split(':')[0]}_{stamp}"


def resolve_recipe(model: str | None, data: str | None, recipe: Recipe | str | None) -> Recipe:
    """``recipe`` (an object or a name), else the default recipe of ``model`` on ``data``."""
    if isinstance(recipe, Recipe):
        return recipe
    if recipe:
        return get_recipe(recipe)
    if model is None or data is None:
        raise ConfigError("give a model and a data set, or a recipe")
    return default_recipe(model, data)


def resumed_run(run_dir: str | os.PathLike, data_root: str | None, device: str | None) -> Run:
    """A run folder's run, to continue after its last checkpoint."""
    run_dir = Path(run_dir)
    cfg = runs.read_config(run_dir)
    ckpt = runs.load_checkpoint(run_dir) if (run_dir / runs.CHECKPOINT).is_file() else None
    return Run(model=cfg["model"], data=cfg["data"], recipe=Recipe.from_dict(cfg["recipe_fields"]), run_dir=run_dir,
               seed=cfg["seed"], data_root=data_root or cfg.get("data_root"),
               device_request=device or cfg.get("device_request"), model_kwargs=cfg.get("model_kwargs", {}),
               freeze=cfg.get("freeze_backbone", False), train_limit=cfg.get("train_limit"),
               test_limit=cfg.get("test_limit"), ckpt=ckpt, start_epoch=int(ckpt["epoch"]) if ckpt else 0,
               resumed=True)


def new_run(model: str | None, data: str | None, recipe: Recipe | str | None, *, out: str | os.PathLike | None,
            epochs: int | None, overrides: dict[str, Any] | None, train_limit: int | None = None,
            test_limit: int | None = None, **fields: Any) -> Run:
    """A fresh run: the recipe resolved, ``--set`` overrides applied, the model and task checked."""
    r = resolve_recipe(model, data, recipe)
    overrides = dict(overrides or {})
    set_model = overrides.pop("model", None)  # `--set model=NAME` picks one of a shared recipe's models
    if model and set_model and set_model != model:
        raise ConfigError(f"two models given: {model} and --set model={set_model}")
    model, data = model or set_model or r.model, data or r.data
    model = registered_name(model)
    r = recipe_for(r, model, explicit=recipe is not None)
    if overrides or epochs:
        r = r.override(**{**overrides, "epochs": epochs})
    task = r.task if recipe is not None else task_name(model, data)
    if r.task != task:
        r = r.override(task=task)
    check_task(model, r, freeze=fields.get("freeze", False))
    return Run(model=model, data=data, recipe=r, run_dir=new_run_dir(out, model, data),
               train_limit=r.train_limit if train_limit is None else train_limit,
               test_limit=r.test_limit if test_limit is None else test_limit, **fields)


def registered_name(model: str) -> str:
    """The registered name of ``model`` (a former name warns and becomes the current one, so run folders
    record the current name); an unknown name is a :class:`ConfigError`."""
    try:
        return zoo.get_spec(model).name
    except KeyError as exc:
        raise ConfigError(str(exc)) from None


def recipe_for(r: Recipe, model: str, explicit: bool) -> Recipe:
    """``r`` for ``model`` (a shared recipe's own variant); an ``explicit`` recipe for another model is refused."""
    if model == r.model or model in r.models:
        return r.for_model(model)
    if explicit and r.model != "*":
        raise ConfigError(f"recipe {r.name!r} is for {', '.join((r.model, *r.models))}, not {model}; list "
                          "recipes with `python -m training recipes`")
    return r


def check_task(model: str, r: Recipe, freeze: bool) -> None:
    """The model must be one of the recipe's task; ``--freeze-backbone`` is for classification."""
    spec = zoo.get_spec(model)
    if spec.task != r.task:
        raise ConfigError(f"{model} is a {spec.task} model; the {r.task} recipe {r.name!r} needs a {r.task} model "
                          f"({', '.join(zoo.list_models(task=r.task)) or 'none registered'})")
    if freeze and r.task != "classification":
        raise ConfigError("--freeze-backbone is for classification; set the recipe's `frozen` prefixes instead")


# ----------------------------------------------------------------------------- model and optimiser


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


def make_training_state(net: nn.Module, r: Recipe, steps_per_epoch: int, ema: EMA | None,
                        ckpt: dict[str, Any] | None) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The recipe's optimiser and per-step schedule; when resuming, the model, optimiser, scheduler and
    EMA are restored from ``ckpt``."""
    optimizer = make_optimizer(net, r)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(r, r.epochs * steps_per_epoch, steps_per_epoch))
    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if ema is not None and ckpt.get("ema"):
            ema.module.load_state_dict(ckpt["ema"])
    return optimizer, scheduler


# ----------------------------------------------------------------------------- one epoch


def train_one_epoch(train_net: nn.Module, net: nn.Module, loader: Iterable, task: Task,
                    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR,
                    amp: contextlib.AbstractContextManager, r: Recipe, ema: EMA | None,
                    desc: str | None = None, *, meter: Meter | None = None, start: int = 0,
                    on_step: Callable[[int, Meter], None] | None = None) -> tuple[dict[str, Any], float]:
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


@dataclass
class State:
    """The mutable training state the loop checkpoints."""

    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    ema: EMA | None
    recipe: Recipe

    def save(self, run_dir: Path, epoch: int, mid_epoch: dict[str, Any] | None = None) -> None:
        """The atomic checkpoint after ``epoch`` (1-based) epochs: all that ``--resume`` needs to continue
        exactly. ``mid_epoch`` (the batches done of the next epoch, the RNG states, the training meter and
        the times so far) makes it a checkpoint part-way through that epoch."""
        runs.save_checkpoint(run_dir, {
            "model": runs.unwrap(self.net).state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "ema": self.ema.module.state_dict() if self.ema else None,
            "epoch": epoch, "rng": {"torch": torch.get_rng_state()}, "recipe": self.recipe.name,
            "mid_epoch": mid_epoch,
        })


def mid_epoch_saver(state: State, run_dir: Path, epoch: int, loader: Any, done: int, time_before: float,
                    every_s: float, elapsed: Callable[[], float]) -> Callable[[int, Meter], None]:
    """``on_step`` for :func:`train_one_epoch`: a checkpoint part-way through ``epoch`` (0-based) every
    ``every_s`` seconds, none after the epoch's last step (the epoch's own checkpoint follows)."""
    t_start = last = time.perf_counter()

    def on_step(steps: int, meter: Meter) -> None:
        nonlocal last
        now = time.perf_counter()
        if now - last < every_s or done + steps >= len(loader):
            return
        state.save(run_dir, epoch, mid_epoch={
            "batch": done + steps, "loader_rng": loader.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
            "meter": meter.state_dict(), "epoch_time_s": time_before + now - t_start, "elapsed_s": elapsed()})
        last = time.perf_counter()

    return on_step


def restore_mid_epoch(mid: dict[str, Any], loader: Any, task: Task) -> tuple[Meter, int, float]:
    """Continue part-way through an epoch, exactly: the loader's position and generator, the RNG states
    and the running meter; returns the meter, the batches done and the epoch's seconds so far."""
    loader.resume_at(mid["batch"], mid["loader_rng"])
    torch.set_rng_state(mid["torch_rng"])
    if mid.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(mid["cuda_rng"])
    meter = task.meter()
    meter.load_state_dict(mid["meter"])
    return meter, mid["batch"], mid["epoch_time_s"]


# ----------------------------------------------------------------------------- fit


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
    rank, world = dist_info()
    if checkpoint_every_s is not None and world > 1:
        raise ConfigError("mid-epoch checkpoints (--checkpoint-minutes) are for one process; under torchrun "
                          "the run checkpoints after every epoch")
    if resume:
        run = resumed_run(resume, data_root, device)
    else:
        run = new_run(model, data, recipe, out=out, epochs=epochs, overrides=overrides, seed=seed,
                      data_root=data_root, device_request=device, model_kwargs=dict(model_kwargs or {}),
                      pretrained=pretrained, freeze=freeze, train_limit=train_limit, test_limit=test_limit)
    r = run.recipe
    if r.runner:
        if world > 1 or resume:
            raise ConfigError(f"recipe {r.name} has its own loop ({r.runner}); it runs in one process, without resume")
        mod, fn = r.runner.split(":")
        acc = getattr(importlib.import_module(mod), fn)(run.run_dir, device=device or "cpu", epochs=epochs,
                                                        seed=seed)
        return FitResult(run.run_dir, {"test_acc": acc})
    task = get_task(r.task, r)
    if checkpoint_every_s is not None and not task.mid_epoch_checkpoints:
        able = ", ".join(sorted(n for n, t in TASKS.items() if t.mid_epoch_checkpoints))
        raise ConfigError(f"mid-epoch checkpoints (--checkpoint-minutes) are for {able} runs; {task.name} runs "
                          "checkpoint after every epoch")
    dev, channels_last, amp = setup_device(r, run.device_request, world)
    prep = task.prepare(run, dev, channels_last, rank, world)
    if len(prep.train_loader) == 0:
        raise ConfigError(f"{len(prep.train_loader.data)} training images make no batch of {r.batch_size} "
                          "(drop_last)")
    net, ema, train_net = prepare_model(prep.net, r, dev, world, channels_last)
    optimizer, scheduler = make_training_state(net, r, len(prep.train_loader), ema, run.ckpt)
    state = State(net, optimizer, scheduler, ema, r)
    if rank == 0:
        start_run_folder(run, task, prep.config, net, dev, world)
    eval_net = ema.module if ema is not None else net  # what is evaluated, saved last and evaluated at the end
    row, last_pass = _epochs(run, task, prep, state, train_net, eval_net, amp, rank, world, progress, callbacks,
                             checkpoint_every_s)
    if world > 1:
        torch.distributed.barrier()
    if rank == 0:
        task.finish(run, eval_net, last_pass, dev, evaluate_at_end)
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return FitResult(run.run_dir, row)


def start_run_folder(run: Run, task: Task, task_config: dict[str, Any], net: nn.Module, dev: torch.device,
                     world: int) -> None:
    """A new run writes ``config.json`` and starts with no ``metrics.jsonl``; a resumed one keeps the
    rows of its finished epochs."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    if run.resumed:
        runs.truncate_metrics(run.run_dir, run.start_epoch)
        return
    (run.run_dir / runs.METRICS).unlink(missing_ok=True)
    runs.write_config(run.run_dir, {
        "model": run.model, "recipe": run.recipe.name, "recipe_fields": run.recipe.to_dict(), "data": run.data,
        "data_root": str(run.data_root) if run.data_root else None, "seed": run.seed, "task": task.name,
        "device": str(dev), "device_request": run.device_request, "world_size": world,
        "threads": torch.get_num_threads(), "allocator": loaded_allocator(), "train_limit": run.train_limit,
        "test_limit": run.test_limit, "pretrained": run.pretrained,
        "num_params": sum(p.numel() for p in net.parameters()), **task_config,
    })


def _epochs(run: Run, task: Task, prep: Any, state: State, train_net: nn.Module, eval_net: nn.Module,
            amp: contextlib.AbstractContextManager, rank: int, world: int, progress: bool,
            callbacks: Sequence[Callable[[int, dict[str, Any]], None]],
            checkpoint_every_s: float | None) -> tuple[dict[str, Any], Any]:
    """The epochs after ``run.start_epoch``; returns the last metrics row and the last evaluation pass."""
    r, loader = run.recipe, prep.train_loader
    row: dict[str, Any] = {}
    last_pass = None  # the last epoch's evaluation: the task's final evaluation may reuse it
    t_run, cpu0 = time.perf_counter(), time.process_time()
    mid = run.ckpt.get("mid_epoch") if run.ckpt else None
    last = runs.read_metrics(run.run_dir)[-1] if run.resumed and run.start_epoch and rank == 0 else {}
    prior = mid["elapsed_s"] if mid else last.get("elapsed_s", 0.0)
    prior_cpu = last.get("process_cpu_s", 0.0)
    for epoch in range(run.start_epoch, r.epochs):
        torch.manual_seed(run.seed * 1_000_003 + epoch)
        loader.set_epoch(epoch)
        meter, done, time_before = None, 0, 0.0
        if mid and epoch == run.start_epoch:
            meter, done, time_before = restore_mid_epoch(mid, loader, task)
        task.train_mode(train_net, state.net)
        desc = f"epoch {epoch + 1}/{r.epochs}" if progress and rank == 0 else None
        on_step = None
        if checkpoint_every_s is not None:
            on_step = mid_epoch_saver(state, run.run_dir, epoch, loader, done, time_before, checkpoint_every_s,
                                      lambda: prior + time.perf_counter() - t_run)
        train_m, train_time = train_one_epoch(train_net, state.net, loader, task, state.optimizer, state.scheduler,
                                              amp, r, state.ema, desc, meter=meter, start=done, on_step=on_step)
        train_time += time_before
        if rank != 0:
            continue
        e = epoch + 1
        row = {"epoch": e, **task.metrics_row(train_m), "lr": state.optimizer.param_groups[0]["lr"],
               "epoch_time_s": round(train_time, 3),
               "train_images_per_s": round(len(loader) * loader.local_batch * world / train_time, 2)}
        if task.should_evaluate(e):
            eval_m, last_pass = task.evaluate(eval_net, prep.eval_loader, amp, e)
            row.update(eval_m)
        row["elapsed_s"] = round(prior + time.perf_counter() - t_run, 3)
        row["process_cpu_s"] = round(prior_cpu + time.process_time() - cpu0, 1)  # all threads; shared CPUs
        runs.append_metrics(run.run_dir, row)
        state.save(run.run_dir, e)
        print(f"epoch {e}/{r.epochs} " + " ".join(f"{k} {v:.4f}" for k, v in row.items()
                                                  if k.startswith(("train_", "test_", "val_"))
                                                  and isinstance(v, float) and not k.endswith(("_s", "per_s")))
              + f" ({train_time:.1f}s, {row['train_images_per_s']} img/s, elapsed {row['elapsed_s']:.0f}s)",
              flush=True)
        for cb in callbacks:
            cb(e, row)
    return row, last_pass
