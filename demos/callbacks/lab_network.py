"""Lab, inside a network: for any zoo model with published weights, its first layer's kernels, the
feature maps of a chosen layer for an upload, a Grad-CAM heat map for the predicted class and the
layer summary with output shapes (torchinfo, through :mod:`demos.callbacks.zoo_browser`).

Class-activation maps come from **Captum** (``captum.attr.LayerGradCam``, Selvaraju et al. 2017,
"Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization"). Why Captum
rather than ``grad-cam`` or ``torchcam``: it is maintained by the PyTorch team at Meta with
regular releases, is pure Python, and needs nothing that cvzoo does not already install
(torch, numpy, matplotlib, tqdm), whereas ``grad-cam`` also pulls in ``ttach`` (unreleased since
2020) and ``torchcam`` has a single maintainer; and Captum's layer attributions take any
``nn.Module`` layer by reference, so the same call works for every architecture in the zoo.

Grad-CAM here: the gradients of the predicted class's score with respect to the chosen CAM
layer's output (by default the last ``Conv2d``), averaged over space, weight that output's
channels; the weighted sum, ReLU'd, is upsampled (bilinear) to the model's input size and scaled
to [0, 1]. For a segmentation model the "class score" is the class's logit averaged over all
pixels. Each map is shown over exactly what the model saw (its own transform, undone for display).

Hooks are only ever put on a private copy of each model (not the copy the other tabs share), and
one request at a time uses them (a lock), so concurrent requests cannot see each other's maps.
"""

from __future__ import annotations

import copy
import threading
import time
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

import zoo
from demos.callbacks import ensemble, zoo_browser
from demos.callbacks.common import DemoError, class_names, fit_size, get_model, get_transform, read_image
from demos.callbacks.digits import feature_grid

MAX_SIDE = 640  # uploads are downscaled to this longer side before the model's own transform
MAX_MAPS = 32  # feature maps shown (the most active channels)
DISPLAY = 320  # longer side (px) of the heat-map image shown
FEATURE_TYPES = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6,
                 nn.SiLU, nn.Hardswish, nn.GELU)

_LOCK = threading.Lock()
_COPIES: dict[str, tuple[nn.Module, nn.Module]] = {}  # name -> (the shared model copied, the copy)


def network_models() -> list[str]:
    """Zoo models with published weights (classification and segmentation)."""
    return [n for n in zoo.list_models(pretrained=True) if zoo.get_spec(n).task in ("classification", "segmentation")
            and n != ensemble.NAME]


def _check(name: str | None) -> str:
    avail = network_models()
    if not name:
        raise DemoError("Pick a model." if avail else "No zoo model has published weights yet.")
    if name not in avail:
        raise DemoError(f"{name!r} has no published weights here; choose one of: {', '.join(avail)}.")
    return name


def _model(name: str) -> nn.Module:
    """A private copy of the shared model (eval mode, weights frozen) that the lab may put hooks on; made again
    when the shared model cache holds another model (``common.clear_model_cache``)."""
    shared = get_model(name)
    src, m = _COPIES.get(name, (None, None))
    if src is not shared or m is None:
        m = copy.deepcopy(shared).eval()
        _COPIES[name] = (shared, m)
    return m


def convs(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every ``Conv2d`` of ``model`` with its qualified name, in registration order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


@lru_cache(maxsize=32)
def layers(name: str) -> tuple[str, ...]:
    """The layers whose output is a feature map (conv, pooling, normalisation, activation modules), in order."""
    with _LOCK:
        model = _model(_check(name))
        return tuple(n for n, m in model.named_modules() if n and isinstance(m, FEATURE_TYPES))


def default_layer(name: str) -> str:
    """The layer preselected for feature maps: the second ``Conv2d`` (the first when there is one)."""
    with _LOCK:
        c = [n for n, _ in convs(_model(_check(name)))]
    if not c:
        raise DemoError(f"{name} has no convolution layer.")
    return c[1] if len(c) > 1 else c[0]


def kernel_grid(weight: torch.Tensor, cell: int = 40, gap: int = 2, cols: int = 8) -> np.ndarray:
    """A conv weight ``(out, in, kh, kw)`` -> one uint8 image: one tile a kernel, enlarged (nearest) to ``cell``.

    With 3 input channels each kernel is an RGB tile; otherwise the mean over input channels
    is shown in grey. Each tile is scaled to its own range (0 = its minimum, 255 = its maximum).
    """
    w = weight.detach().float().cpu()
    n = w.shape[0]
    rgb = w.shape[1] == 3
    tiles = w.permute(0, 2, 3, 1).numpy() if rgb else w.mean(1).numpy()
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    shape = (rows * (cell + gap) - gap, cols * (cell + gap) - gap) + ((3,) if rgb else ())
    grid = np.full(shape, 255, np.uint8)
    for i in range(n):
        t = tiles[i]
        lo, hi = float(t.min()), float(t.max())
        t = (t - lo) / (hi - lo) if hi > lo else np.full_like(t, 0.5)
        tile = cv2.resize((t * 255).round().astype(np.uint8), (cell, cell), interpolation=cv2.INTER_NEAREST)
        r, k = divmod(i, cols)
        grid[r * (cell + gap): r * (cell + gap) + cell, k * (cell + gap): k * (cell + gap) + cell] = tile
    return grid


def first_layer_kernels(name: str) -> tuple[np.ndarray, str]:
    """``(grid image, caption)`` of the first ``Conv2d``'s kernels of ``name``'s published weights."""
    with _LOCK:
        c = convs(_model(_check(name)))
        if not c:
            raise DemoError(f"{name} has no convolution layer.")
        layer, conv = c[0]
        grid = kernel_grid(conv.weight)
    o, i, kh, kw = conv.weight.shape
    return grid, f"{name} · {layer}: {o} kernels of {i}x{kh}x{kw}" + (" (RGB)" if i == 3 else " (mean over inputs)")


class _MeanOverPixels(nn.Module):
    """A segmentation net seen as a classifier: each class's logit averaged over all pixels."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        out = out["out"] if isinstance(out, dict) else out
        return out.flatten(2).mean(2) if out.ndim == 4 else out


def grad_cam(model: nn.Module, x: torch.Tensor, layer: nn.Module, target: int) -> np.ndarray:
    """Grad-CAM (Captum's ``LayerGradCam``) of class ``target`` at ``layer`` for one input ``x`` ``(1, C, H, W)``.

    Returns an ``(H, W)`` float32 map in [0, 1] (bilinear upsampling of the layer-sized map;
    all zeros when no location supports the class).
    """
    from captum.attr import LayerAttribution, LayerGradCam

    with torch.enable_grad():
        attr = LayerGradCam(model, layer).attribute(x, target=int(target), relu_attributions=True)
    cam = LayerAttribution.interpolate(attr.detach(), tuple(x.shape[-2:]), interpolate_mode="bilinear")[0, 0]
    cam = cam.clamp(min=0)
    hi = float(cam.max())
    return (cam / hi if hi > 0 else cam).numpy().astype(np.float32)


def model_view(x: torch.Tensor, name: str) -> np.ndarray:
    """The normalised model input ``(1, C, H, W)`` turned back into the uint8 RGB image the model saw."""
    pre = zoo.get_preprocessing(name)
    c = x.shape[1]
    mean = torch.tensor(pre.mean if len(pre.mean) == c else [sum(pre.mean) / len(pre.mean)] * c).view(c, 1, 1)
    std = torch.tensor(pre.std if len(pre.std) == c else [sum(pre.std) / len(pre.std)] * c).view(c, 1, 1)
    img = ((x[0].detach() * std + mean).clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return np.repeat(img, 3, axis=2) if c == 1 else img


def overlay(view: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The heat map (JET colours) over the image, both enlarged so the longer side is ``DISPLAY`` px."""
    h, w = view.shape[:2]
    f = DISPLAY / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    interp = cv2.INTER_NEAREST if max(h, w) <= 64 else cv2.INTER_LINEAR
    big = cv2.resize(view, size, interpolation=interp)
    heat = cv2.applyColorMap((cv2.resize(cam, size, interpolation=cv2.INTER_LINEAR) * 255).astype(np.uint8),
                             cv2.COLORMAP_JET)[..., ::-1]
    return (big * (1 - alpha) + heat * alpha).round().astype(np.uint8)


def model_card(name: str | None) -> tuple[list[str], str, np.ndarray, str, str, str]:
    """What the lab shows as soon as a model is picked (no image needed):
    ``(layers, default layer, first-layer kernel grid, its caption, markdown about the model, torchinfo table)``."""
    name = _check(name)
    grid, caption = first_layer_kernels(name)
    info, table = zoo_browser.model_details(name)
    return list(layers(name)), default_layer(name), grid, caption, info, table


def inside_network(image: Any, name: str | None, layer: str | None = None, cam_layer: str | None = None,
                   max_maps: int = MAX_MAPS) -> tuple[np.ndarray, str, np.ndarray, str, str]:
    """The "inside a network" callback for an upload:
    ``(feature-map mosaic, its caption, Grad-CAM overlay (uint8 RGB), its caption, markdown)``.

    ``layer``: whose output is shown (default: :func:`default_layer`); at most ``max_maps``
    channels, the most active first (mean activation). ``cam_layer``: where Grad-CAM is taken
    (default: the last ``Conv2d``). The upload is downscaled to at most 640 px, then goes through
    the weight's own transform (e.g. 224x224 for ImageNet, 32x32 for CIFAR-10, 28x28 grey for MNIST).
    """
    name = _check(name)
    notes: list[str] = []
    rgb = fit_size(read_image(image, notes), MAX_SIDE)
    layer = layer or default_layer(name)
    t0 = time.perf_counter()
    with _LOCK:
        model = _model(name)
        modules = dict(model.named_modules())
        if layer not in modules or not layer:
            raise DemoError(f"{name} has no layer {layer!r}; pick one from the list.")
        c = convs(model)
        cam_layer = cam_layer or (c[-1][0] if c else None)
        if cam_layer not in modules or not cam_layer:
            raise DemoError(f"{name} has no layer {cam_layer!r} for Grad-CAM.")
        x = get_transform(name)(rgb).unsqueeze(0)
        seg = zoo.get_spec(name).task == "segmentation"
        net = _MeanOverPixels(model) if seg else model
        captured: list[torch.Tensor] = []
        hook = modules[layer].register_forward_hook(lambda _m, _i, o: captured.append(o.detach()))
        try:
            with torch.inference_mode():
                scores = net(x).float()
        finally:
            hook.remove()
        probs = scores.softmax(1)[0]
        target = int(probs.argmax())
        cam = grad_cam(net, x, modules[cam_layer], target)
    ms = (time.perf_counter() - t0) * 1000
    maps = captured[0][0] if captured else None
    if maps is None or maps.ndim != 3:
        raise DemoError(f"{layer} does not output feature maps (shape {tuple(captured[0].shape) if captured else ()}); "
                        "pick a convolution or pooling layer.")
    order = maps.flatten(1).mean(1).argsort(descending=True)[:max_maps]
    grid = feature_grid(maps[order])
    names = class_names(name)
    label = names[target] if target < len(names) else str(target)
    view = model_view(x, name)
    maps_caption = (f"{layer}: {maps.shape[0]} maps of {maps.shape[1]}x{maps.shape[2]}; the {len(order)} most "
                    "active shown (each scaled to its own range, white = high)")
    cam_caption = f"Grad-CAM at {cam_layer} for '{label}' ({100 * float(probs[target]):.1f}%)"
    h, w = rgb.shape[:2]
    lines = [f"**{name}** predicts **{label}** ({100 * float(probs[target]):.1f}%"
             + (", the class with the highest mean score over the pixels" if seg else "") + f"), {ms:.0f} ms "
             f"(forward, backward and Grad-CAM). Input: {w}x{h} (at most {MAX_SIDE} px), model input "
             f"{'x'.join(str(s) for s in x.shape[1:])}."]
    if notes:
        lines.append(f"Note: {'; '.join(notes)}.")
    return grid, maps_caption, overlay(view, cam), cam_caption, "\n".join(lines)
