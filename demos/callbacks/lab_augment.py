"""Lab, augmentation preview: what a network is trained on under a recipe, as a grid of random draws.

The recipes are :data:`training.recipes.RECIPES` (the classification ones, course recipes first),
so a recipe declared later appears by itself. The transforms are the training code's own objects,
built as ``training`` builds them for a run: the per-image torchvision transforms of
:func:`training.augment.sample_transform` (colour jitter, rotation), the
:class:`zoo.preprocessing.Preprocessing` that :func:`training.augment.plan_input` plans (scale to [0, 1],
pad, the course's ``CenterCrop(10)``, resize, normalise), :func:`training.augment.post_transform`
(the course's ``RandomRotation((30, 70))`` after normalising, as its ``Compose`` did) and the
batched :class:`training.data.Augment` (random crop with padding, flip, cutout), applied in that
order as :class:`training.data.BatchLoader` applies them. Nothing is re-implemented here; the tiles are the
normalised tensors mapped back to 0-255 for display.

The source is an upload (downscaled by area so its shorter side is the data set's image side,
centre-cropped, grey for MNIST) or an image of the recipe's data set (its test split, from
``$CVZOO_DATA``). A recipe shared by several networks (``course``) is shown for its first network
unless ``model`` names another (``course_resnet18``: 10x10 centre crops; ``course_resnet18_32``:
the full image).
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import torch

from demos.callbacks.common import DemoError, read_image

DATA_SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}  # (C, H, W) of each data set's stored images
TILE = 96  # displayed tile side (px, nearest-neighbour enlargement)
MAX_N = 64


def augment_recipes() -> list[str]:
    """Classification recipes of the registry trained by the one loop (not the speed run, whose own script
    has its own augmentation): those whose name contains "course" first, then the rest, sorted."""
    from training.recipes import RECIPES

    names = [n for n, r in RECIPES.items() if r.task == "classification" and not r.runner]
    return sorted(names, key=lambda n: (n != "course", "course" not in n, n))


def default_recipe() -> str | None:
    names = augment_recipes()
    return names[0] if names else None


def recipe_models(name: str | None) -> list[str]:
    """The networks a recipe trains: its model, then the others of a shared recipe (``course``)."""
    r = _recipe(name)
    return [r.model, *r.models]


def _recipe(name: str | None, model: str | None = None) -> Any:
    from training.recipes import UnknownRecipeError, get_recipe

    if not name:
        raise DemoError("Pick a recipe.")
    try:
        r = get_recipe(name)
    except UnknownRecipeError as exc:
        raise DemoError(str(exc)) from None
    if r.task != "classification":
        raise DemoError(f"{name} is a {r.task} recipe; the preview covers classification recipes.")
    if model and model != r.model:
        if model not in r.models:
            raise DemoError(f"Recipe {name} is for {', '.join((r.model, *r.models))}, not {model}.")
        r = r.for_model(model)
    return r


def data_shape(data: str) -> tuple[int, int, int]:
    """``(C, H, W)`` of a data set's stored images (MNIST, CIFAR-10; others: read from the data set)."""
    base = data.split(":")[0].removesuffix("-npz").removesuffix("-classic")
    if base in DATA_SHAPES:
        return DATA_SHAPES[base]
    return tuple(dataset_split(data).images.shape[1:])  # type: ignore[return-value]


@lru_cache(maxsize=2)
def dataset_split(data: str) -> Any:
    """The test split of a data set (:func:`training.data.load_dataset`), loaded once per process."""
    from training.data import DatasetNotFoundError, load_dataset

    try:
        return load_dataset(data, "test")
    except (DatasetNotFoundError, FileNotFoundError, ValueError) as exc:
        raise DemoError(f"The {data} data set is not available here ({exc}); upload an image instead.") from None


def as_data_image(rgb: np.ndarray, shape: tuple[int, int, int]) -> torch.Tensor:
    """An ``(H, W, 3)`` uint8 upload -> ``(C, h, w)`` uint8 like the data set stores it: shorter side scaled
    (area) to ``h``/``w``, centre crop, grey (BT.601) when ``C`` is 1."""
    c, h, w = shape
    ih, iw = rgb.shape[:2]
    f = max(h / ih, w / iw)
    small = cv2.resize(rgb, (max(w, round(iw * f)), max(h, round(ih * f))), interpolation=cv2.INTER_AREA)
    top, left = (small.shape[0] - h) // 2, (small.shape[1] - w) // 2
    small = small[top: top + h, left: left + w]
    if c == 1:
        small = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)[..., None]
    return torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1)


def recipe_transforms(name: str, shape: tuple[int, int, int], model: str | None = None) -> dict[str, Any]:
    """The recipe's training transforms, built by the training code for images of ``shape`` (C, H, W):
    ``{"recipe", "sample" (per uint8 image, or None), "preprocess", "post" (per normalised image, or
    None), "augment"}``; ``model`` picks one network of a shared recipe."""
    import zoo
    from training.augment import plan_input, post_transform, sample_transform
    from training.data import ArrayDataset, Augment

    r = _recipe(name, model)
    k = zoo.get_spec(r.model).num_classes
    probe = ArrayDataset(r.data, "preview", torch.zeros((1, *shape), dtype=torch.uint8),
                         torch.zeros(1, dtype=torch.long), [str(i) for i in range(k)])
    pre, _ = plan_input(r.model, probe, r, {})
    return {"recipe": r, "sample": sample_transform(r), "preprocess": pre, "post": post_transform(r),
            "augment": Augment(r.crop_pad, r.pad_mode, r.flip, r.cutout)}


def draw(image: torch.Tensor, t: dict[str, Any], n: int = 16, seed: int = 0) -> torch.Tensor:
    """``n`` training views of one ``(C, H, W)`` uint8 image under the transforms ``t``: an ``(n, C, h, w)``
    float tensor, normalised as the network receives it. Seeded: the same ``seed`` gives the same draws."""
    x = image.unsqueeze(0).expand(n, -1, -1, -1).contiguous()
    g = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if t["sample"] is not None:
            x = torch.stack([t["sample"](img) for img in x])
        x = t["preprocess"](x)
        if t["post"] is not None:
            x = t["post"](x)
    return t["augment"](x, g)


def to_display(x: torch.Tensor, pre: Any) -> np.ndarray:
    """Normalised ``(n, C, h, w)`` -> ``(n, h, w, 3)`` uint8 (the preprocessing's mean/std undone)."""
    c = x.shape[1]
    mean = torch.tensor(pre.mean, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(pre.std, dtype=x.dtype).view(1, -1, 1, 1)
    if mean.shape[1] != c:
        mean, std = mean.mean(1, keepdim=True), std.mean(1, keepdim=True)
    img = ((x * std + mean).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return np.repeat(img, 3, axis=3) if c == 1 else img


def tile_grid(tiles: np.ndarray, cols: int = 8, tile: int = TILE, gap: int = 4) -> np.ndarray:
    """``(n, h, w, 3)`` uint8 -> one grid image, each tile enlarged (nearest) to ``tile`` px on its longer side."""
    n, h, w, _ = tiles.shape
    f = tile / max(h, w)
    th, tw = max(1, round(h * f)), max(1, round(w * f))
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    grid = np.full((rows * (th + gap) - gap, cols * (tw + gap) - gap, 3), 255, np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        grid[r * (th + gap): r * (th + gap) + th, k * (tw + gap): k * (tw + gap) + tw] = cv2.resize(
            tiles[i], (tw, th), interpolation=cv2.INTER_NEAREST)
    return grid


def transform_code(t: dict[str, Any]) -> str:
    """The transforms as Python: the recipe's fields, the objects built from them, and their source."""
    from training.augment import post_transform, sample_transform
    from training.data import Augment

    r = t["recipe"]
    fields = {k: getattr(r, k) for k in ("model", "data", "center_crop", "normalize", "crop_pad", "pad_mode", "flip",
                                         "cutout", "rotate", "course_order", "jitter", "input_pad", "input_size")}
    lines = [f"# recipe {r.name!r} (training/recipes.py): " + ", ".join(f"{k}={v!r}" for k, v in fields.items()),
             "# built as training.fit builds them; applied in this order by training.data.BatchLoader"]
    lines += [f"sample_transform = {t['sample']!r}  # training.augment.sample_transform(recipe), per uint8 image",
              f"preprocess = {t['preprocess']!r}  # training.augment.plan_input(...)",
              f"post_transform = {t['post']!r}  # training.augment.post_transform(recipe), per normalised batch",
              f"augment = {t['augment']!r}  # batched, last", "",
              "# ---- training/augment.py", inspect.getsource(sample_transform), inspect.getsource(post_transform),
              "# ---- training/data.py", *([inspect.getsource(type(t["post"]))] if t["post"] is not None else []),
              inspect.getsource(Augment.__call__)]
    return "\n".join(lines)


def augment_preview(image: Any, recipe: str | None, source: str = "upload", index: int = 0, n: int = 16,
                    seed: int = 0, model: str | None = None) -> tuple[np.ndarray, str, str]:
    """The augmentation-preview callback: ``(grid image (uint8 RGB), transform code, markdown)``.

    ``source``: "upload" (``image``) or "data set" (test image number ``index`` of the recipe's
    data). The grid's first tile is the image as the network sees it without augmentation
    (preprocessing only); the others are ``n`` random draws (seeded by ``seed``), at most 64.
    ``model`` picks one network of a shared recipe (default: its first).
    """
    r = _recipe(recipe, model)
    n = int(np.clip(int(n), 1, MAX_N))
    shape = data_shape(r.data)
    notes: list[str] = []
    if source == "data set":
        ds = dataset_split(r.data)
        if not 0 <= int(index) < len(ds):
            raise DemoError(f"Image number {int(index)} is outside the {r.data} test split (0 to {len(ds) - 1}).")
        img = ds.images[int(index)]
        what = f"{r.data} test image {int(index)} ({ds.classes[int(ds.labels[int(index)])]})"
    elif source == "upload":
        rgb = read_image(image, notes)
        img = as_data_image(rgb, shape)
        what = f"the upload ({rgb.shape[1]}x{rgb.shape[0]}) as a {shape[2]}x{shape[1]} {r.data} image"
    else:
        raise DemoError(f"Unknown source {source!r}: use 'upload' or 'data set'.")
    t = recipe_transforms(r.name, tuple(img.shape), r.model)
    plain = {"recipe": r, "sample": None, "preprocess": t["preprocess"], "post": None, "augment": lambda x, g: x}
    base = draw(img, plain, 1, seed)
    drawn = draw(img, t, n, seed)
    tiles = to_display(torch.cat([base, drawn]), t["preprocess"])
    grid = tile_grid(tiles)
    h, w = drawn.shape[-2:]
    lines = [f"**{r.name}** ({r.model}) on {what}: the first tile is the network's input without augmentation, "
             f"then {n} random draws (seed {int(seed)}), each {w}x{h} as the network receives it, enlarged."]
    if notes:
        lines.append(f"Note: {'; '.join(notes)}.")
    if r.notes:
        lines.append(f"Recipe notes: {r.notes}")
    return grid, transform_code(t), "\n\n".join(lines)
