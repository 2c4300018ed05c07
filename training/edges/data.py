"""BSDS500 for edge detection: images and their annotators' consensus, augmentation, batches.

An :class:`EdgeDataset` holds ``images`` (a list of 3×H×W uint8; BSDS500 has landscape 321×481
and portrait 481×321 images, so they are not stacked) and ``targets`` (H×W float32 in [0, 1]: the
fraction of the image's annotators who drew a boundary at the pixel, i.e. the mean of the
``Boundaries`` maps in its ``groundTruth`` cell array). Data set names (``--data``):

- ``bsds500``: ``<root>/BSDS500/{images,groundTruth}/{train,val}`` (200 train / 100 val; the
  ``.mat`` files as the Berkeley benchmark distributes them);
- ``bsds500:DIR``: the same layout at an explicit place (``DIR/images/train``, ...).

Training augmentation (:func:`augment_pair`, torch's global RNG, which the engine re-seeds every
epoch): random scale, a random multiple of 90° plus an optional small angle, horizontal flip,
colour jitter on the image, then a random crop (padding the image with 0 and the target with
:data:`IGNORE`, which the loss leaves out). Targets are resampled bilinearly, so they stay in [0, 1].
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.data import DatasetNotFoundError, ShardedBatches, subset_indices
from zoo.paths import data_root
from zoo.preprocessing import Preprocessing

KNOWN = ("bsds500", "bsds500:DIR")
IGNORE = -1.0  # target value of pixels the loss and the F-measure leave out (padding)
SPLITS = ("train", "val", "test")


@dataclass
class EdgeDataset:
    """One split: ``images`` (3×H×W uint8 each) and ``targets`` (H×W float32 consensus in [0, 1] each)."""

    name: str
    split: str
    images: list[torch.Tensor]
    targets: list[torch.Tensor]
    names: list[str] = field(default_factory=list)
    annotators: list[int] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.images) != len(self.targets):
            raise ValueError(f"{len(self.images)} images but {len(self.targets)} targets")
        for i, (img, t) in enumerate(zip(self.images, self.targets, strict=True)):
            if img.ndim != 3 or t.shape != img.shape[-2:]:
                where = self.names[i] if self.names else str(i)
                raise ValueError(f"{where}: image {tuple(img.shape)} and boundary map {tuple(t.shape)} differ in size")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, n: int | None, seed: int = 0) -> EdgeDataset:
        """The first ``n`` items of a fixed seeded permutation (all when ``n`` is None)."""
        idx = subset_indices(len(self), n, seed)
        if idx is None:
            return self
        pick = idx.tolist()
        return replace(self, images=[self.images[i] for i in pick], targets=[self.targets[i] for i in pick],
                       names=[self.names[i] for i in pick] if self.names else [],
                       annotators=[self.annotators[i] for i in pick] if self.annotators else [])


# ----------------------------------------------------------------------------------------- BSDS500


def read_boundaries(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """A BSDS ``.mat`` file's consensus boundary map (H×W float32 in [0, 1], the mean over annotators of
    their ``Boundaries``) and the number of annotators."""
    import scipy.io

    cells = scipy.io.loadmat(str(path))["groundTruth"].reshape(-1)
    if cells.size == 0:
        raise ValueError(f"{path}: the groundTruth cell array is empty")
    maps = [np.asarray(c["Boundaries"][0, 0], dtype=np.float32) for c in cells]
    return np.mean(maps, axis=0).astype(np.float32), len(maps)


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.array(im.convert("RGB"), dtype=np.uint8)  # a writable copy


def load_bsds(folder: Path, split: str) -> EdgeDataset:
    """One split of BSDS500 under ``folder`` (``images/<split>/*.jpg`` with ``groundTruth/<split>/*.mat``)."""
    img_dir, gt_dir = folder / "images" / split, folder / "groundTruth" / split
    if not img_dir.is_dir() or not gt_dir.is_dir():
        raise DatasetNotFoundError(
            f"BSDS500 {split} split not found: need {img_dir} and {gt_dir}. Expected the Berkeley layout "
            "(images/{train,val}/*.jpg, groundTruth/{train,val}/*.mat) under <root>/BSDS500; pass --data-root or "
            "set CVZOO_DATA, or use --data bsds500:DIR.")
    paths = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise DatasetNotFoundError(f"BSDS500: no images in {img_dir}")
    images, targets, names, annotators = [], [], [], []
    for p in paths:
        mat = gt_dir / f"{p.stem}.mat"
        if not mat.is_file():
            raise DatasetNotFoundError(f"BSDS500: {p.name} has no ground truth {mat}")
        consensus, k = read_boundaries(mat)
        images.append(torch.from_numpy(_read_image(p)).permute(2, 0, 1).contiguous())
        targets.append(torch.from_numpy(consensus))
        names.append(p.stem)
        annotators.append(k)
    return EdgeDataset("bsds500", split, images, targets, names, annotators, str(folder))


def is_edge_data(name: str | None) -> bool:
    return bool(name) and name.split(":")[0].lower() == "bsds500"


def load_edges(name: str, split: str = "train", *, root: str | os.PathLike | None = None) -> EdgeDataset:
    """One split (``train``, ``val``; ``test`` where the folder has it) of an edge data set named as in the
    module docstring."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    kind, _, arg = name.partition(":")
    if kind.lower() == "bsds500":
        folder = Path(arg).expanduser() if arg else data_root(root) / "BSDS500"
        return load_bsds(folder, split)
    raise ValueError(f"unknown edge data set {name!r}; known: {', '.join(KNOWN)}")


# ----------------------------------------------------------------------------------------- augmentation


@dataclass(frozen=True)
class EdgeAugment:
    """What :func:`augment_pair` does: ``scale`` range of the factor on both sides, right-angle rotations,
    an extra angle drawn from ``angle`` (degrees), horizontal ``flip``, ColorJitter ``jitter`` and the
    ``crop`` (H, W)."""

    crop: tuple[int, int]
    scale: tuple[float, float] | None = None
    rot90: bool = True
    angle: tuple[float, float] | None = None
    flip: bool = True
    jitter: tuple[float, float, float, float] | None = None


def _uniform(lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand(()))


def _scale(image: torch.Tensor, target: torch.Tensor, s: float) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = image.shape[-2:]
    size = (max(1, round(h * s)), max(1, round(w * s)))
    img = F.interpolate(image[None].float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    tgt = F.interpolate(target[None, None], size=size, mode="bilinear", align_corners=False)
    return img[0].round().clamp(0, 255).to(torch.uint8), tgt[0, 0]


def _rotate(image: torch.Tensor, target: torch.Tensor, degrees: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate both by ``degrees`` (same size, corners filled); target pixels that took any fill become IGNORE."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    img = TF.rotate(image, degrees, interpolation=InterpolationMode.BILINEAR, fill=0)
    shifted = TF.rotate((target + 1.0)[None], degrees, interpolation=InterpolationMode.BILINEAR, fill=0)[0]
    valid = TF.rotate(torch.ones_like(target)[None], degrees, interpolation=InterpolationMode.BILINEAR, fill=0)[0]
    return img, torch.where(valid > 0.999, (shifted - 1.0).clamp(0, 1), torch.full_like(target, IGNORE))


def random_crop(image: torch.Tensor, target: torch.Tensor, crop: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A random ``crop`` (H, W) of both; sides shorter than the crop are padded (image 0, target IGNORE)."""
    ch, cw = crop
    h, w = image.shape[-2:]
    ph, pw = max(0, ch - h), max(0, cw - w)
    if ph or pw:
        image = F.pad(image, (0, pw, 0, ph), value=0)
        target = F.pad(target, (0, pw, 0, ph), value=IGNORE)
        h, w = image.shape[-2:]
    top, left = int(torch.randint(h - ch + 1, ())), int(torch.randint(w - cw + 1, ()))
    return image[:, top:top + ch, left:left + cw], target[top:top + ch, left:left + cw]


def augment_pair(image: torch.Tensor, target: torch.Tensor, aug: EdgeAugment) -> tuple[torch.Tensor, torch.Tensor]:
    """One training sample: uint8 image 3×H×W and float target H×W -> uint8 3×h×w and float h×w (``aug.crop``)."""
    if aug.scale and tuple(aug.scale) != (1.0, 1.0):
        image, target = _scale(image, target, _uniform(*aug.scale))
    if aug.rot90:
        k = int(torch.randint(4, ()))
        image, target = torch.rot90(image, k, (1, 2)), torch.rot90(target, k, (0, 1))
    if aug.angle and tuple(aug.angle) != (0.0, 0.0):
        image, target = _rotate(image, target, _uniform(*aug.angle))
    if aug.flip and float(torch.rand(())) < 0.5:
        image, target = image.flip(-1), target.flip(-1)
    if aug.jitter:
        from torchvision.transforms import v2

        image = v2.ColorJitter(*aug.jitter)(image)
    return random_crop(image, target, aug.crop)


# ----------------------------------------------------------------------------------------- batches


class EdgeLoader(ShardedBatches):
    """Batches of (normalised images N×3×h×w float, targets N×h×w float) for one of ``world_size`` processes.

    Training batches are augmented crops of one size (``augment``); without ``augment`` every image is
    a batch of its own at full size (BSDS images differ in orientation), so evaluation uses batch 1.
    Same sampling contract as :class:`training.data.BatchLoader`.
    """

    def __init__(self, data: EdgeDataset, batch_size: int, *, train: bool, preprocess: Preprocessing,
                 augment: EdgeAugment | None = None, seed: int = 0, device: torch.device | str = "cpu",
                 rank: int = 0, world_size: int = 1, channels_last: bool = False) -> None:
        if augment is None and batch_size > world_size:
            raise ValueError("whole BSDS images differ in size: without augment (a crop), the batch is one image")
        super().__init__(len(data), batch_size, train=train, seed=seed, rank=rank, world_size=world_size,
                         drop_last=train)
        self.data, self.preprocess, self.augment = data, preprocess, augment
        self.device, self.channels_last = torch.device(device), channels_last

    def _pairs(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [(self.data.images[i], self.data.targets[i]) for i in idx]
        if self.augment is not None:
            pairs = [augment_pair(img, t, self.augment) for img, t in pairs]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for idx in self.index_batches():
            x, y = self._pairs(idx.tolist())
            x = self.preprocess(x.to(self.device, non_blocking=True))
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(self.device, non_blocking=True)
