"""Edge detection: HED's class-balanced cross-entropy with deep supervision, and a cheap F-measure.

A model of task ``edges`` (``hed_effnet_lite0``) gives N×(S+1)×H×W logits in training mode (the
fused map first, then its side outputs) and N×1×H×W in eval mode. The loss is
:func:`training.edges.metrics.balanced_bce` summed over all S+1 maps (HED); positives are pixels
whose annotators' consensus is at least the recipe's ``edge_eta`` and pixels between 0 and
``edge_eta`` are left out (RCF). Metrics: the loss and a pixel-exact F-measure of the fused map at
probability 0.5 on the val split (:class:`training.edges.metrics.EdgeMeter`), every ``eval_every``
epochs. The benchmark's ODS/OIS/AP (thinned maps, matching tolerance) is pblite's evaluator's job
(``python -m pblite eval``); thin predictions first with :func:`training.edges.thin.thin_edges`.

Run folder additions: ``eval/curves.png`` (loss and F per epoch) and, at the end, ``eval/val/metrics.json``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import torch
from torch import nn

import zoo
from training import plots, runs
from training.edges.data import EdgeAugment, EdgeDataset, EdgeLoader, is_edge_data, load_edges
from training.edges.metrics import EdgeMeter, balanced_bce
from training.errors import ConfigError
from training.recipes import Recipe
from training.tasks.base import Prepared, Run, register_task
from training.tasks.segmentation import (
    build_model,
    check_segmentation_output,
    freeze_prefixes,
    keep_frozen_statistics,
)
from zoo.preprocessing import Preprocessing

THRESHOLD = 0.5  # probability at which the monitoring F-measure counts a pixel as an edge
METRIC_NOTE = ("pixel-exact F-measure of the unthinned fused map at probability 0.5, pooled over the split; not the "
               "BSDS benchmark's ODS (thinning, matching tolerance): use `python -m pblite eval` for that")


def augmentation(r: Recipe) -> EdgeAugment:
    """The recipe's training augmentation; edges recipes must crop (whole BSDS images differ in orientation)."""
    if not r.crop_size:
        raise ConfigError(f"recipe {r.name!r}: an edges recipe needs crop_size (a training batch is crops of one size)")
    return EdgeAugment(crop=tuple(r.crop_size), scale=r.scale_range, rot90=r.rot90, angle=r.rotate, flip=r.flip,
                       jitter=r.jitter)


@torch.no_grad()
def run_edge_eval(model: nn.Module, loader: EdgeLoader, task: EdgeTask,
                  amp: contextlib.AbstractContextManager) -> tuple[dict[str, Any], EdgeMeter]:
    """Loss, precision, recall and F of ``model``'s fused map over ``loader``."""
    model.eval()
    meter = task.meter()
    for x, y in loader:
        with amp:
            out = model(x).float()
        meter.update(out, y, task.loss(out, y))
    return meter.compute(), meter


@register_task
class EdgeTask:
    """Class-balanced BCE over the fused map and the side outputs; loss and F at 0.5 on ``val``."""

    name = "edges"
    eval_split = "val"
    mid_epoch_checkpoints = False

    def __init__(self, recipe: Recipe) -> None:
        self.r = recipe
        self.val: EdgeDataset | None = None
        self.pre: Preprocessing | None = None

    def prepare(self, run: Run, dev: torch.device, channels_last: bool, rank: int, world: int) -> Prepared:
        r = self.r
        if not is_edge_data(run.data):
            raise ConfigError(f"{run.data!r} is not an edge data set; known: bsds500, bsds500:DIR")
        aug = augmentation(r)
        train = load_edges(run.data, "train", root=run.data_root).subset(run.train_limit, run.seed)
        self.val = load_edges(run.data, "val", root=run.data_root).subset(run.test_limit, run.seed)
        kwargs = {**r.model_kwargs, **run.model_kwargs}
        saved_kwargs = {k: v for k, v in kwargs.items() if k != "pretrained_encoder"}  # only matters at the start
        torch.manual_seed(run.seed)
        net = build_model(run, kwargs if not run.resumed else saved_kwargs, saved_kwargs)
        check_segmentation_output(net, run.model, 1, 3, kind="edge")
        freeze_prefixes(net, r.frozen)
        spec = zoo.get_spec(run.model)
        self.pre = Preprocessing(mean=tuple(spec.preprocessing.mean), std=tuple(spec.preprocessing.std))
        loader = EdgeLoader(train, r.batch_size, train=True, preprocess=self.pre, augment=aug, seed=run.seed,
                            device=dev, rank=rank, world_size=world, channels_last=channels_last)
        val_loader = EdgeLoader(self.val, 1, train=False, preprocess=self.pre, device=dev, channels_last=channels_last)
        config = {
            "model_kwargs": saved_kwargs, "preprocessing": self.pre.to_dict(), "train_size": len(train),
            "val_size": len(self.val), "pretrained_encoder": bool(kwargs.get("pretrained_encoder", False)),
            "frozen": list(r.frozen), "edge_eta": r.edge_eta, "edge_lambda": r.edge_lambda,
            "f_threshold": THRESHOLD, "metric_note": METRIC_NOTE,
            "trainable_params": sum(p.numel() for p in net.parameters() if p.requires_grad),
        }
        return Prepared(net, loader, val_loader, config)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return balanced_bce(output, target, eta=self.r.edge_eta, lam=self.r.edge_lambda)

    def meter(self) -> EdgeMeter:
        return EdgeMeter(self.r.edge_eta, THRESHOLD)

    def train_mode(self, train_net: nn.Module, net: nn.Module) -> None:
        train_net.train()
        keep_frozen_statistics(net, self.r.frozen)

    def should_evaluate(self, epoch: int) -> bool:
        return epoch % max(1, self.r.eval_every) == 0 or epoch == self.r.epochs

    def evaluate(self, net: nn.Module, loader: EdgeLoader, amp: contextlib.AbstractContextManager,
                 epoch: int) -> tuple[dict[str, Any], EdgeMeter]:
        t1 = time.perf_counter()
        m, meter = run_edge_eval(net, loader, self, amp)
        return {"val_loss": m["loss"], "val_f": m["f"], "val_precision": m["precision"], "val_recall": m["recall"],
                "val_time_s": round(time.perf_counter() - t1, 3)}, meter

    def metrics_row(self, train: dict[str, Any]) -> dict[str, Any]:
        return {"train_loss": train["loss"], "train_f": train["f"]}

    def finish(self, run: Run, net: nn.Module, last_pass: Any, dev: torch.device, evaluate: bool) -> None:
        plots.plot_seg_curves(run.run_dir, ("loss", "f"))
        if not evaluate:
            return
        if last_pass is None:
            channels_last = dev.type == "cuda" or bool(self.r.channels_last)
            loader = EdgeLoader(self.val, 1, train=False, preprocess=self.pre, device=dev, channels_last=channels_last)
            _, last_pass = run_edge_eval(net, loader, self, contextlib.nullcontext())
        m = last_pass.compute()
        runs.write_json(run.run_dir / "eval" / "val" / "metrics.json", {
            "model": run.model, "run": str(run.run_dir), "data": run.data, "split": "val", "images": len(self.val),
            "f": m["f"], "precision": m["precision"], "recall": m["recall"], "threshold": THRESHOLD,
            "edge_eta": self.r.edge_eta, "loss": m["loss"], "note": METRIC_NOTE,
        })
