"""The course's 8-model, 50-class ensemble (DLCV HW1, Problem 1: 0.8272 validation accuracy).

For users with a 50-class image folder and a GPU:

    python -m training course-ensemble --data imagefolder:DIR --pretrained torchvision --out ens/ \\
        --image-size 224 --epochs 5 --device cuda

``DIR/<train|val>/<class>/<image>`` (``val`` stands in for ``test``). Each of the eight members is a
torchvision backbone (through the zoo, torchvision's layout, so ``pretrained="torchvision"`` loads
torchvision's ImageNet weights where they are in the torch cache) with the report's classification
head, fine-tuned on its own (AdamW, cross-entropy, flips; the steps are the one loop's
``training.loop.train_one_epoch`` with the classification task); the ensemble then averages the members'
softmax probabilities (``zoo.models.ensemble.Ensemble``, soft voting) and ``OUT/ensemble.json``
gives each member's and the ensemble's accuracy. The heads, as the report lists them:

==================  ========  ==================================================================
backbone            features  head
==================  ========  ==================================================================
vgg16               512       Linear(512, 256), ReLU, Linear(256, 50)
resnet152           2048      Linear(2048, 50)
densenet161         2208      Linear(2208, 50) (the report prints "2088": DenseNet-161 gives 2208)
densenet169         1664      Linear(1664, 50)
resnext101_32x8d    2048      Linear(2048, 50)
vgg19_bn            25088     Linear(25088, 4096), ReLU, Dropout(0.5), Linear(4096, 4096), ReLU,
                              Linear(4096, 50)
vgg19_bn            25088     Linear(25088, 4096), ReLU, Dropout(0.5), Linear(4096, 50)
vgg19_bn            25088     Linear(25088, 4096), ReLU, Dropout(0.5), Linear(4096, 4096), ReLU,
                              Dropout(0.5), Linear(4096, 2048), ReLU, Dropout(0.5), Linear(2048, 50)
==================  ========  ==================================================================

The report's VGG16 head takes 512 features: its 32×32 images leave a 1×1 map after VGG16's five
pools; here global average pooling gives those 512 features at any input size. The VGG19-BN
members keep torchvision's 7×7 adaptive pool (25,088 features). The report does not give its
optimiser, epochs or input size; AdamW 1e-4 for 5 epochs at 224×224 are this module's defaults.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training import runs
from zoo.weights import atomic_write

NUM_CLASSES = 50


@dataclass(frozen=True)
class Member:
    """One ensemble member: a zoo backbone (torchvision layout) and the report's head."""

    name: str
    backbone: str
    features: int
    head: tuple[int | str | float, ...]  # int: Linear to that width; "relu"; float: Dropout(p); then Linear(., K)
    pool: str = "backbone"  # "backbone" (the backbone's own pooling) or "global" (VGG16: global average pool)


MEMBERS: tuple[Member, ...] = (
    Member("vgg16", "vgg16", 512, (256, "relu"), pool="global"),
    Member("resnet152", "resnet152", 2048, ()),
    Member("densenet161", "densenet161", 2208, ()),
    Member("densenet169", "densenet169", 1664, ()),
    Member("resnext101_32x8d", "resnext101_32x8d", 2048, ()),
    Member("vgg19_bn_a", "vgg19_bn", 25088, (4096, "relu", 0.5, 4096, "relu")),
    Member("vgg19_bn_b", "vgg19_bn", 25088, (4096, "relu", 0.5)),
    Member("vgg19_bn_c", "vgg19_bn", 25088, (4096, "relu", 0.5, 4096, "relu", 0.5, 2048, "relu", 0.5)),
)


def make_head(member: Member, num_classes: int = NUM_CLASSES) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = member.features
    for op in member.head:
        if op == "relu":
            layers.append(nn.ReLU(inplace=True))
        elif isinstance(op, float):
            layers.append(nn.Dropout(op))
        else:
            layers.append(nn.Linear(width, int(op)))
            width = int(op)
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def build_member(member: Member | str, num_classes: int = NUM_CLASSES, pretrained: str | None = None) -> nn.Module:
    """The backbone (random init, or ``pretrained="torchvision"``) with its head replaced by the report's."""
    import zoo

    if isinstance(member, str):
        member = next((m for m in MEMBERS if m.name == member), None) or _unknown(member)
    model = zoo.create_model(member.backbone, pretrained=pretrained or False)
    head = make_head(member, num_classes)
    if hasattr(model, "fc"):  # ResNet, ResNeXt
        model.fc = head
    elif member.pool == "global":  # VGG16 on the report's 32x32 images: 512 features
        model.avgpool = nn.AdaptiveAvgPool2d(1)
        model.classifier = head
    else:  # DenseNet, VGG19-BN (7x7 adaptive pool: 25088 features)
        model.classifier = head
    return model


def _unknown(name: str) -> Member:
    raise ValueError(f"unknown ensemble member {name!r}; members: {', '.join(m.name for m in MEMBERS)}")


def fit_course_ensemble(data: str, out: str | os.PathLike, *, pretrained: str | None = None,
                        members: list[str] | None = None, image_size: int = 224, epochs: int = 5,
                        max_steps: int | None = None, batch_size: int = 32, lr: float = 1e-4,
                        weight_decay: float = 1e-4, optimizer: str = "adamw", train_limit: int | None = None,
                        test_limit: int | None = None, data_root: str | None = None, device: str | None = None,
                        seed: int = 0, save_weights: bool = True) -> dict[str, Any]:
    """Fine-tune each member on ``data`` (train split), then evaluate the soft-voting ensemble on its
    test (or val) split; writes ``OUT/ensemble.json`` and, with ``save_weights``, ``OUT/<member>.pt``."""
    from training.data import Augment, BatchLoader, load_dataset
    from training.device import pick_device
    from training.loop import train_one_epoch
    from training.optim import make_optimizer
    from training.recipes import Recipe
    from training.tasks import get_task
    from zoo.models.ensemble import Ensemble
    from zoo.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

    chosen = [next((m for m in MEMBERS if m.name == n), None) or _unknown(n) for n in members] if members \
        else list(MEMBERS)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev = pick_device(device)
    train = load_dataset(data, "train", root=data_root).subset(train_limit, seed)
    test = load_dataset(data, "test", root=data_root).subset(test_limit, seed)
    k = len(train.classes)
    pre = Preprocessing(mean=IMAGENET_MEAN, std=IMAGENET_STD, resize=image_size, crop=(image_size, image_size))
    loader = BatchLoader(train, batch_size, train=True, preprocess=pre, augment=Augment(flip=True), seed=seed,
                         device=dev)
    recipe = Recipe(name="course_ensemble", model="ensemble", data=data, optimizer=optimizer, lr=lr,
                    weight_decay=weight_decay, schedule="constant")
    task = get_task("classification", recipe)
    task.num_classes = k  # the members are torchvision backbones outside the registry: no task.prepare
    trained, per_member = [], {}
    for member in chosen:
        torch.manual_seed(seed)
        model = build_member(member, k, pretrained).to(dev).train()
        opt = make_optimizer(model, recipe)
        constant = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
        steps, t0 = 0, time.perf_counter()
        for epoch in range(epochs):
            loader.set_epoch(epoch)
            n = len(loader) if max_steps is None else min(len(loader), max_steps - steps)
            train_m, _ = train_one_epoch(model, model, itertools.islice(loader, n), task, opt, constant,
                                         contextlib.nullcontext(), recipe, None)
            steps += n
            if max_steps is not None and steps >= max_steps:
                break
        del opt
        per_member[member.name] = {"backbone": member.backbone, "steps": steps, "last_epoch_loss": train_m["loss"],
                                   "train_s": round(time.perf_counter() - t0, 2),
                                   "params": sum(p.numel() for p in model.parameters())}
        if save_weights:
            atomic_write(out / f"{member.name}.pt", lambda f, m=model: torch.save(m.state_dict(), f))
        trained.append(model.eval())
    ensemble = Ensemble(trained).to(dev).eval()
    member_correct = torch.zeros(len(trained))
    correct, n = 0, 0
    with torch.no_grad():
        for x, y in BatchLoader(test, max(64, batch_size), train=False, preprocess=pre, device=dev):
            probs = ensemble.member_probabilities(x)  # M x N x K
            member_correct += (probs.argmax(2) == y).sum(1).float().cpu()
            correct += int((torch.einsum("m,mnc->nc", ensemble.weights, probs).argmax(1) == y).sum())
            n += len(y)
    for info, c in zip(per_member.values(), member_correct.tolist(), strict=True):
        info["accuracy"] = c / max(1, n)
    res = {"data": data, "classes": k, "test_images": n, "image_size": image_size, "pretrained": pretrained,
           "members": [m.name for m in chosen], "accuracy": correct / max(1, n),
           "best_member_accuracy": max(i["accuracy"] for i in per_member.values()),
           "params": sum(i["params"] for i in per_member.values()), "per_member": per_member,
           "settings": {"epochs": epochs, "max_steps": max_steps, "batch_size": batch_size, "optimizer": optimizer,
                        "lr": lr, "weight_decay": weight_decay, "seed": seed},
           "course": {"validation_accuracy": 0.8272, "source": "DLCV HW1 report, Problem 1"}}
    runs.write_json(out / "ensemble.json", res)
    return res
