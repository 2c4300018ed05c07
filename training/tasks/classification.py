"""Image classification: cross-entropy, accuracy and the confusion matrix, and their artefacts.

The final evaluation writes ``RUN_DIR/eval/test/``: ``metrics.json`` (accuracy, loss, per-class
accuracy, parameter count, throughput), ``confusion.npy`` (rows: true class, columns: predicted)
and ``confusion.png``, ``per_class.csv``, and the training curves one level up.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from training import plots, runs
from training.augment import plan_input, post_transform, sample_transform
from training.data import ArrayDataset, Augment, BatchLoader, load_dataset
from training.device import autocast
from training.errors import ConfigError
from training.recipes import Recipe
from training.tasks.base import Prepared, Run, register_task


class ClassificationMeter:
    """Running loss and confusion matrix (rows: true class, columns: predicted) over batches."""

    def __init__(self, num_classes: int) -> None:
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
        self.loss_sum, self.count = 0.0, 0

    def update(self, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor | float) -> None:
        """``output`` (N, K) logits, ``target`` (N,) class ids, ``loss`` the batch mean."""
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


def cross_entropy(output: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    return F.cross_entropy(output.float(), target, label_smoothing=label_smoothing)


# ----------------------------------------------------------------------------- model set-up


def find_head(model: nn.Module) -> tuple[str, nn.Linear]:
    """The classification head: the last ``nn.Linear`` registered in the model."""
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(f"{type(model).__name__} has no nn.Linear head to replace or keep trainable")
    return linears[-1]


def build_model(model_name: str, kwargs: dict[str, Any], pretrained: str | None, num_classes: int) -> nn.Module:
    """The model, optionally from pretrained weights (a run folder or a zoo weight), with its head
    replaced when the class count differs (transfer learning)."""
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
    """Freeze every parameter except the head's; returns the head's parameter names."""
    head_name, head = find_head(model)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    return [f"{head_name}.{n}" for n, _ in head.named_parameters()]


def check_fit(model: nn.Module, model_name: str, data: ArrayDataset, pre: Any) -> None:
    """Run two images through the model; a shape error becomes a clear :class:`ConfigError`."""
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


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def run_eval(model: nn.Module, loader: BatchLoader, amp: contextlib.AbstractContextManager,
             tta_flip: bool = False) -> tuple[dict[str, float], ClassificationMeter, torch.Tensor]:
    """Loss (plain cross-entropy), accuracy, the meter and all logits (N, K) on the CPU of ``model``
    over ``loader``; ``tta_flip`` averages the logits of each image and its mirror."""
    model.eval()
    meter, outs = ClassificationMeter(len(loader.data.classes)), []
    for x, y in loader:
        with amp:
            out = model(x).float()
            if tta_flip:
                out = 0.5 * (out + model(x.flip(-1)).float())
        meter.update(out, y, cross_entropy(out, y))
        outs.append(out.cpu())
    return meter.compute(), meter, torch.cat(outs) if outs else torch.empty(0)


def write_evaluation(out: Path, net: nn.Module, example: torch.Tensor, meter: ClassificationMeter,
                     classes: list[str], *, model: str, run: Path | None, data: str, split: str,
                     tta_flip: bool) -> dict[str, Any]:
    """Write the artefacts of one finished test pass (``meter``) of ``net`` to ``out`` and return
    ``metrics.json``'s content. ``example`` is one input batch, (N, C, H, W), for the throughput
    figure; ``run`` (a run folder) also gets its training curves drawn."""
    summary = meter.compute()
    confusion = meter.confusion.numpy()
    per_class = confusion.diagonal() / np.maximum(1, confusion.sum(1))
    result = {
        "model": model, "run": str(run) if run else None, "data": data, "split": split,
        "images": int(confusion.sum()), "accuracy": summary["acc"], "loss": summary["loss"], "tta_flip": tta_flip,
        "per_class_accuracy": dict(zip(classes, per_class.round(4).tolist(), strict=True)),
        "num_params": sum(p.numel() for p in net.parameters()),
        "throughput_images_per_s": round(plots.throughput(net, example), 1),
        "device": str(example.device), "threads": torch.get_num_threads(),
    }
    runs.write_json(out / "metrics.json", result)
    runs.save_npy(out / "confusion.npy", confusion)
    runs.write_csv(out / "per_class.csv", "class,accuracy,images",
                   zip(classes, per_class.tolist(), confusion.sum(1).tolist(), strict=True))
    plots.plot_confusion(confusion, classes, out / "confusion.png",
                         f"{model} on {data} {split}: {100 * summary['acc']:.2f}%")
    if run is not None:
        plots.plot_curves(run)
    return result


def evaluate_model(net: nn.Module, ds: ArrayDataset, pre: Any, dev: torch.device, out: Path, *, model: str,
                   run: Path | None, data: str, split: str, tta_flip: bool, channels_last: bool = False,
                   batch_size: int = 256) -> dict[str, Any]:
    """One test pass of ``net`` over ``ds`` and its artefacts in ``out`` (see :func:`write_evaluation`)."""
    loader = BatchLoader(ds, batch_size, train=False, preprocess=pre, device=dev, channels_last=channels_last)
    try:
        _, meter, logits = run_eval(net, loader, autocast(dev, True), tta_flip)
    except RuntimeError as exc:
        raise ConfigError(f"{model} does not accept {data} images: {str(exc).splitlines()[0]}") from None
    result = write_evaluation(out, net, next(iter(loader))[0], meter, ds.classes, model=model, run=run, data=data,
                              split=split, tta_flip=tta_flip)
    write_mistakes(out / MISTAKES, ds, logits)
    return result


MISTAKES = "misclassified.npz"


def write_mistakes(path: Path, ds: ArrayDataset, logits: torch.Tensor, n: int = 16) -> None:
    """The ``n`` most confident mistakes of a test pass, small enough to ship with a weight: ``images``
    (n, H, W, C) uint8 as stored in the data set, ``labels``, ``predictions`` (n,) int64, ``confidence``
    (n,) float32 (softmax probability of the prediction) and ``classes``."""
    probs = logits.float().softmax(1)
    confidence, predictions = probs.max(1)
    wrong = torch.nonzero(predictions != ds.labels.cpu()).flatten()
    wrong = wrong[confidence[wrong].argsort(descending=True)][:n]
    runs.save_npz(path, compressed=True, images=ds.images[wrong].permute(0, 2, 3, 1).cpu().numpy(),
                  labels=ds.labels.cpu()[wrong].numpy(), predictions=predictions[wrong].numpy(),
                  confidence=confidence[wrong].numpy().astype(np.float32), classes=np.array(ds.classes))


# ----------------------------------------------------------------------------- the task


@register_task
class ClassificationTask:
    """Cross-entropy (with the recipe's label smoothing), accuracy, confusion; evaluated on ``test``."""

    name = "classification"
    eval_split = "test"
    mid_epoch_checkpoints = True

    def __init__(self, recipe: Recipe) -> None:
        self.r = recipe
        self.num_classes, self.freeze = 0, False
        self.test: ArrayDataset | None = None
        self.test_loader: BatchLoader | None = None
        self.pre: Any = None

    def prepare(self, run: Run, dev: torch.device, channels_last: bool, rank: int, world: int) -> Prepared:
        r = self.r
        train = load_dataset(run.data, "train", root=run.data_root).subset(run.train_limit, run.seed)
        self.test = load_dataset(run.data, "test", root=run.data_root).subset(run.test_limit, run.seed)
        self.num_classes = len(train.classes)
        self.freeze = run.freeze
        pre, kwargs = plan_input(run.model, train, r, run.model_kwargs)
        self.pre = pre
        torch.manual_seed(run.seed)
        net = build_model(run.model, kwargs, run.pretrained, len(train.classes))
        check_fit(net, run.model, train, pre)
        head_params = freeze_backbone(net) if run.freeze else None
        loader = BatchLoader(train, r.batch_size, train=True, preprocess=pre,
                             augment=Augment(r.crop_pad, r.pad_mode, r.flip, r.cutout),
                             sample_transform=sample_transform(r), post_transform=post_transform(r), seed=run.seed,
                             device=dev, rank=rank, world_size=world, channels_last=channels_last)
        self.test_loader = BatchLoader(self.test, max(256, r.batch_size), train=False, preprocess=pre, device=dev,
                                       channels_last=channels_last)
        config = {"model_kwargs": kwargs, "class_names": train.classes, "preprocessing": pre.to_dict(),
                  "train_size": len(train), "test_size": len(self.test), "freeze_backbone": run.freeze,
                  "trainable_head": head_params}
        return Prepared(net, loader, self.test_loader, config)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy(output, target, self.r.label_smoothing)

    def meter(self) -> ClassificationMeter:
        return ClassificationMeter(self.num_classes)

    def train_mode(self, train_net: nn.Module, net: nn.Module) -> None:
        train_net.train()
        if self.freeze:  # a frozen backbone keeps its BatchNorm statistics
            net.eval()
            find_head(net)[1].train()

    def should_evaluate(self, epoch: int) -> bool:
        return epoch % self.r.eval_every == 0 or epoch == self.r.epochs

    def evaluate(self, net: nn.Module, loader: BatchLoader, amp: contextlib.AbstractContextManager,
                 epoch: int) -> tuple[dict[str, Any], ClassificationMeter]:
        m, meter, _ = run_eval(net, loader, amp, self.r.tta_flip)
        return {"test_loss": m["loss"], "test_acc": m["acc"]}, meter

    def metrics_row(self, train: dict[str, Any]) -> dict[str, Any]:
        return {"train_loss": train["loss"], "train_acc": train["acc"], "test_loss": None, "test_acc": None}

    def finish(self, run: Run, net: nn.Module, last_pass: ClassificationMeter | None, dev: torch.device,
               evaluate: bool) -> None:
        if not evaluate:
            return
        out = run.run_dir / "eval" / "test"
        if last_pass is not None:  # the last epoch's test pass: no second pass over the test set
            write_evaluation(out, net, next(iter(self.test_loader))[0], last_pass, self.test.classes, model=run.model,
                             run=run.run_dir, data=run.data, split="test", tta_flip=self.r.tta_flip)
        else:  # resumed after its last epoch: evaluate the checkpoint
            evaluate_model(net, self.test, self.pre, dev, out, model=run.model, run=run.run_dir,
                           data=run.data, split="test", tta_flip=self.r.tta_flip)
