"""Segmentation data: image/mask pairs decoded once into memory, paired augmentation, batches.

A :class:`SegmentationDataset` holds ``images`` (N×3×H×W uint8), ``masks`` (N×H×W uint8, value =
class id, ``ignore_index`` = void) and the class names and colours. Data set names:

- ``camvid``: SegNet's 11-class CamVid (367 train / 101 val / 233 test, 480×360) under
  ``<root>/camvid`` (``train.txt``/``val.txt``/``test.txt`` with "image mask" per line). The images
  there are JPEG q92 re-encodings (PSNR about 40 dB against the original PNGs); the masks are the
  original PNGs. Ids 0-10 are the classes, 11 is void.
- ``camvid:DIR``: the same layout at an explicit place.

Augmentation (:func:`paired_transform`) is torchvision transforms v2 on an ``Image`` and a
``tv_tensors.Mask`` together: random scale (the shorter side), random crop (padding with 0 /
void), horizontal flip, colour jitter on the image only. Masks are always resized with nearest
neighbour, so no new label value appears.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.utils.data

from training.data import DatasetNotFoundError, ShardedBatches, subset_indices
from zoo.paths import data_root
from zoo.preprocessing import Preprocessing

CAMVID_IGNORE = 11
KNOWN = ("camvid", "camvid:DIR")


class MaskError(ValueError):
    """A mask does not fit its image or holds label ids the data set does not define."""


@dataclass
class SegmentationDataset:
    """One split, decoded: ``images`` N×3×H×W uint8, ``masks`` N×H×W uint8 (``ignore_index`` = void)."""

    name: str
    split: str
    images: torch.Tensor
    masks: torch.Tensor
    classes: list[str]
    ignore_index: int
    colours: list[tuple[int, int, int]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        check_masks(self.images, self.masks, len(self.classes), self.ignore_index, self.names)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, n: int | None, seed: int = 0) -> SegmentationDataset:
        """The first ``n`` items of a fixed seeded permutation (all when ``n`` is None)."""
        idx = subset_indices(len(self), n, seed)
        if idx is None:
            return self
        return replace(self, images=self.images[idx], masks=self.masks[idx],
                       names=[self.names[i] for i in idx] if self.names else [])


def check_masks(images: torch.Tensor, masks: torch.Tensor, num_classes: int, ignore_index: int,
                names: Sequence[str] = ()) -> None:
    """Raise :class:`MaskError` when a mask's size differs from its image's or it holds unknown ids."""
    if images.ndim != 4 or masks.ndim != 3 or len(images) != len(masks):
        raise MaskError(f"expected images N×C×H×W and masks N×H×W with the same N, got {tuple(images.shape)} "
                        f"and {tuple(masks.shape)}")
    if images.shape[-2:] != masks.shape[-2:]:
        raise MaskError(f"masks are {masks.shape[-2]}x{masks.shape[-1]} (HxW) but images are "
                        f"{images.shape[-2]}x{images.shape[-1]}; a mask must have its image's size")
    bad = _unknown_ids(masks, num_classes, ignore_index)
    if bad:
        where = ""
        if names:
            first = next(i for i, m in enumerate(masks) if _unknown_ids(m, num_classes, ignore_index))
            where = f" (first in {names[first]})"
        raise MaskError(f"masks hold label id(s) {bad}{where}; known ids are 0..{num_classes - 1} "
                        f"and {ignore_index} (void)")


def _unknown_ids(masks: torch.Tensor, num_classes: int, ignore_index: int) -> list[int]:
    values = torch.unique(masks).tolist()
    return [int(v) for v in values if not (0 <= v < num_classes or v == ignore_index)]


# ----------------------------------------------------------------------------------------- CamVid


def _read_pair(image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    with Image.open(image_path) as im:
        image = np.asarray(im.convert("RGB"), dtype=np.uint8)
    with Image.open(mask_path) as im:
        if im.mode not in ("L", "P", "I", "I;16"):
            raise MaskError(f"{mask_path} is a {im.mode} image; a mask is single-channel class ids")
        mask = np.asarray(im, dtype=np.int64)
    if mask.shape != image.shape[:2]:
        raise MaskError(f"{mask_path} is {mask.shape[0]}x{mask.shape[1]} (HxW) but its image {image_path.name} is "
                        f"{image.shape[0]}x{image.shape[1]}; a mask must have its image's size")
    if mask.min() < 0 or mask.max() > 255:
        raise MaskError(f"{mask_path} holds values outside 0..255")
    return image, mask.astype(np.uint8)


def load_camvid(folder: Path, split: str) -> SegmentationDataset:
    from zoo.classes import CAMVID_CLASSES, CAMVID_COLOURS

    listing = folder / f"{split}.txt"
    if not listing.is_file():
        raise DatasetNotFoundError(
            f"CamVid not found: no {listing}. Expected SegNet's CamVid layout ({{train,val,test}}.txt, train/, "
            "trainannot/, ...) under <root>/camvid; pass --data-root or set CVZOO_DATA, or use --data camvid:DIR."
        )
    pairs = [line.split() for line in listing.read_text().splitlines() if line.strip()]
    images, masks, names = [], [], []
    for pair in pairs:
        if len(pair) != 2:
            raise DatasetNotFoundError(f"{listing}: expected 'image mask' per line, got {' '.join(pair)!r}")
        img, msk = _read_pair(folder / pair[0], folder / pair[1])
        images.append(img)
        masks.append(msk)
        names.append(Path(pair[0]).stem)
    shapes = {a.shape for a in images}
    if len(shapes) > 1:
        raise MaskError(f"CamVid images in {listing} differ in size: {sorted(shapes)[:3]}")
    return SegmentationDataset(
        "camvid", split, torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(np.stack(masks)), list(CAMVID_CLASSES), CAMVID_IGNORE, list(CAMVID_COLOURS), names,
        str(folder))


def is_segmentation_data(name: str | None) -> bool:
    return bool(name) and name.split(":")[0].lower() == "camvid"


def load_segmentation(name: str, split: str = "train", *, root: str | os.PathLike | None = None) -> SegmentationDataset:
    """One split (``train``, ``val`` or ``test``) of a segmentation data set named as in the module docstring."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    kind, _, arg = name.partition(":")
    if kind.lower() == "camvid":
        folder = Path(arg).expanduser() if arg else data_root(root) / "camvid"
        return load_camvid(folder, split)
    raise ValueError(f"unknown segmentation data set {name!r}; known: {', '.join(KNOWN)}")


# ----------------------------------------------------------------------------------------- transforms


def paired_transform(crop: tuple[int, int] | None, scale: tuple[float, float] | None, base_size: int,
                     flip: bool = True, jitter: tuple[float, float, float, float] | None = None,
                     ignore_index: int = CAMVID_IGNORE) -> Callable | None:
    """A torchvision v2 pipeline for ``(Image, Mask)``: scale the shorter side by a factor in ``scale``
    (relative to ``base_size``), crop ``crop`` (H, W; padding images with 0 and masks with void), flip,
    jitter. ``None`` when nothing is asked for."""
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    ts: list[Callable] = []
    if scale and tuple(scale) != (1.0, 1.0):
        lo, hi = (round(base_size * s) for s in scale)
        ts.append(v2.RandomResize(lo, hi + 1, antialias=True))  # masks: nearest, always (v2 does it for Mask)
    if crop:
        ts.append(v2.RandomCrop(tuple(crop), pad_if_needed=True,
                                fill={tv_tensors.Image: 0, tv_tensors.Mask: ignore_index}))
    if flip:
        ts.append(v2.RandomHorizontalFlip())
    if jitter:
        b, c, s, h = jitter
        ts.append(v2.ColorJitter(brightness=b, contrast=c, saturation=s, hue=h))
    return v2.Compose(ts) if ts else None


def apply_paired(transform: Callable, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``transform`` on one uint8 image (3×H×W) and its mask (H×W); returns plain tensors."""
    from torchvision import tv_tensors

    img, msk = transform(tv_tensors.Image(image), tv_tensors.Mask(mask[None]))
    return img.as_subclass(torch.Tensor), msk.as_subclass(torch.Tensor)[0]


# ----------------------------------------------------------------------------------------- batches


class SegmentationLoader(ShardedBatches):
    """Batches of (normalised images N×3×h×w float, masks N×h×w int64) for one of ``world_size`` processes.

    Same sampling contract as :class:`training.data.BatchLoader`: a seeded DistributedSampler
    re-shuffled by :meth:`set_epoch`, ``batch_size`` the global batch. The paired transforms draw
    from torch's global RNG, which the engine re-seeds every epoch from ``(seed, epoch)``.
    """

    def __init__(self, data: SegmentationDataset, batch_size: int, *, train: bool, preprocess: Preprocessing,
                 transform: Callable | None = None, seed: int = 0, device: torch.device | str = "cpu",
                 rank: int = 0, world_size: int = 1, channels_last: bool = False, workers: int = 0) -> None:
        super().__init__(len(data), batch_size, train=train, seed=seed, rank=rank, world_size=world_size,
                         drop_last=train)
        self.data = data
        self.preprocess, self.transform = preprocess, transform if train else None
        self.device, self.channels_last = torch.device(device), channels_last
        self.workers = workers if self.transform is not None else 0

    def _batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        groups = [idx.tolist() for idx in self.index_batches()]
        if self.workers:  # worker processes seeded from the (per-epoch re-seeded) global RNG: repeatable
            from torch.utils.data import DataLoader

            yield from DataLoader(_Pairs(self.data, self.transform), batch_sampler=groups, num_workers=self.workers,
                                  pin_memory=self.device.type == "cuda")
            return
        for idx in groups:
            if self.transform is not None:
                yield _Pairs(self.data, self.transform).collate(idx)
            else:
                yield self.data.images[idx], self.data.masks[idx]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self._batches():
            x = self.preprocess(x.to(self.device, non_blocking=True))
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(self.device, non_blocking=True).long()


class _Pairs(torch.utils.data.Dataset):
    """Transformed (image, mask) pairs by index, for DataLoader workers."""

    def __init__(self, data: SegmentationDataset, transform: Callable) -> None:
        self.data, self.transform = data, transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return apply_paired(self.transform, self.data.images[i], self.data.masks[i])

    def collate(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [self[i] for i in idx]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
