"""Data sets as in-memory uint8 tensors, and a fast batch loader over them.

Every data set becomes an :class:`ArrayDataset`: ``images`` (N×C×H×W uint8), ``labels`` (N int64)
and ``classes`` (names). Small data sets are decoded once; PNG folders are cached as an
uncompressed ``.npz`` under ``$CVZOO_CACHE`` (default ``~/.cache/cvzoo``), keyed by the folder's
path, file count and total size, and written atomically.

Data set names (``--data``):

- ``mnist``: the IDX files in ``<root>/MNIST/raw`` (torchvision's layout; gzip'd or not). When
  absent, torchvision downloads them into the cache (needs the network).
- ``cifar10``: the first of ``<root>/cifar10.npz`` (see ``pack``), ``<root>/cifar-10-batches-py``
  (torchvision's pickles), ``<root>/cifar10/{train,test}/<class>/*.png`` (ImageFolder), or the
  classic assignment's layout ``<root>/CIFAR10/{Train,Test}/<n>.png`` with ``Labels{Train,Test}.txt``.
- ``npz:FILE`` (alias ``cifar10-npz:FILE``): a packed file written by :func:`pack`.
- ``imagefolder:DIR``: ``DIR/<split>/<class>/<image>`` (``val`` stands in for a missing ``test``),
  resized to ``--image-size`` if the images differ in size.
- ``cifar10-classic:DIR``: the classic layout at an explicit place.

The root is ``--data-root``, else ``$CVZOO_DATA``, else ``../shared/data`` beside the repository
(:func:`zoo.paths.data_root`).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training import runs
from zoo.paths import data_root
from zoo.preprocessing import Preprocessing

NPZ_FORMAT_VERSION = 1
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MNIST_CLASSES = [str(i) for i in range(10)]
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp", ".tif", ".tiff"}
KNOWN = ("mnist", "cifar10", "npz:FILE", "cifar10-npz:FILE", "imagefolder:DIR", "cifar10-classic:DIR")


class DatasetNotFoundError(FileNotFoundError):
    """A data set is missing; the message says where it looked and how to get it."""


@dataclass
class ArrayDataset:
    """One split of a data set, decoded: ``images`` N×C×H×W uint8, ``labels`` N int64."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    source: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, n: int | None, seed: int = 0) -> ArrayDataset:
        """The first ``n`` items of a fixed, class-mixed permutation (all when ``n`` is None)."""
        idx = subset_indices(len(self), n, seed)
        return self if idx is None else replace(self, images=self.images[idx], labels=self.labels[idx])


def subset_indices(length: int, n: int | None, seed: int = 0) -> torch.Tensor | None:
    """Sorted indices of the first ``n`` items of a fixed seeded permutation of ``range(length)``, or None
    when ``n`` is None or covers everything (the data sets' ``subset``, for `--train-limit`/`--test-limit`)."""
    if n is None or n >= length:
        return None
    return torch.randperm(length, generator=torch.Generator().manual_seed(seed))[:n].sort().values


# ----------------------------------------------------------------------------------------- roots


def cache_dir() -> Path:
    path = Path(os.environ.get("CVZOO_CACHE", Path.home() / ".cache" / "cvzoo")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


# ----------------------------------------------------------------------------------------- MNIST


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(folder: Path, stem: str) -> Path | None:
    for cand in (folder / stem, folder / (stem + ".gz")):
        if cand.is_file():
            return cand
    return None


def load_mnist(root: Path, split: str) -> ArrayDataset:
    prefix = "train" if split == "train" else "t10k"
    raw = root / "MNIST" / "raw"
    img, lab = _find(raw, f"{prefix}-images-idx3-ubyte"), _find(raw, f"{prefix}-labels-idx1-ubyte")
    if img is None or lab is None:
        alt = cache_dir() / "data"
        img, lab = _find(alt / "MNIST" / "raw", f"{prefix}-images-idx3-ubyte"), _find(
            alt / "MNIST" / "raw", f"{prefix}-labels-idx1-ubyte"
        )
        if img is None or lab is None:
            try:
                import torchvision

                torchvision.datasets.MNIST(str(alt), train=split == "train", download=True)
            except Exception as exc:
                raise DatasetNotFoundError(
                    f"MNIST not found: looked for {prefix}-images-idx3-ubyte[.gz] in {raw} and in "
                    f"{alt / 'MNIST' / 'raw'}, and downloading failed ({exc}). Put the four IDX files "
                    "in <root>/MNIST/raw (torchvision's layout) and pass --data-root or set CVZOO_DATA."
                ) from None
            return load_mnist(alt, split)
    images = torch.from_numpy(_read_idx(img).copy()).unsqueeze(1)
    labels = torch.from_numpy(_read_idx(lab).astype(np.int64))
    return ArrayDataset("mnist", split, images, labels, MNIST_CLASSES, str(img.parent))


# ----------------------------------------------------------------------------------------- folders


def _decode(path: Path, size: tuple[int, int] | None, mode: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert(mode)
        if size is not None and im.size != (size[1], size[0]):
            im = im.resize((size[1], size[0]), Image.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _decode_cached(files: Sequence[Path], labels: Sequence[int], key_extra: str,
                   size: tuple[int, int] | None = None, mode: str = "RGB") -> tuple[np.ndarray, np.ndarray]:
    """Decode ``files`` to one N×H×W×C uint8 array, cached by path, count and total size."""
    total = sum(p.stat().st_size for p in files)
    key = hashlib.sha1(f"{files[0].parent.parent.resolve()}|{len(files)}|{total}|{size}|{mode}|{key_extra}"
                       .encode()).hexdigest()[:16]
    path = cache_dir() / "decoded" / f"{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return z["images"], z["labels"]
    from tqdm import tqdm

    arrays = [_decode(p, size, mode) for p in tqdm(files, desc=f"decoding {len(files)} images", mininterval=5)]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"images in {files[0].parent.parent} differ in size {sorted(shapes)[:3]}; pass --image-size")
    images, labs = np.stack(arrays), np.asarray(labels, dtype=np.int64)
    runs.save_npz(path, images=images, labels=labs)
    return images, labs


def load_imagefolder(folder: Path, split: str, name: str, size: tuple[int, int] | None = None) -> ArrayDataset:
    split_dir = folder / split
    if not split_dir.is_dir() and split == "test" and (folder / "val").is_dir():
        split_dir = folder / "val"
    if not split_dir.is_dir():
        raise DatasetNotFoundError(
            f"{name}: no split folder {split_dir} (expected {folder}/<train|test|val>/<class>/<image>)"
        )
    classes = sorted(d.name for d in split_dir.iterdir() if d.is_dir())
    files, labels = [], []
    for i, c in enumerate(classes):
        for p in sorted((split_dir / c).iterdir()):
            if p.suffix.lower() in IMAGE_EXTS:
                files.append(p)
                labels.append(i)
    if not files:
        raise DatasetNotFoundError(f"{name}: no images under {split_dir}/<class>/")
    images, labs = _decode_cached(files, labels, "imagefolder", size)
    return ArrayDataset(name, split, torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
                        torch.from_numpy(labs), classes, str(split_dir))


def load_cifar10_classic(folder: Path, split: str) -> ArrayDataset:
    """The classic homework layout: ``{Train,Test}/<n>.png`` (n from 1) and ``Labels{Train,Test}.txt``."""
    sub = "Train" if split == "train" else "Test"
    img_dir = folder / sub
    candidates = (folder / f"Labels{sub}.txt", folder.parent / "Code" / "TxtFiles" / f"Labels{sub}.txt",
                  folder / "TxtFiles" / f"Labels{sub}.txt")
    label_file = next((p for p in candidates if p.is_file()), None)
    if not img_dir.is_dir() or label_file is None:
        raise DatasetNotFoundError(f"cifar10 (classic layout): need {img_dir}/<n>.png and Labels{sub}.txt in {folder}")
    labels = [int(t) for t in label_file.read_text().split()]
    files = [img_dir / f"{i + 1}.png" for i in range(len(labels))]
    images, labs = _decode_cached(files, labels, "classic")
    return ArrayDataset("cifar10", split, torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
                        torch.from_numpy(labs), CIFAR10_CLASSES, str(img_dir))


def _load_cifar10_pickles(folder: Path, split: str) -> ArrayDataset:
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    xs, ys = [], []
    for n in names:
        with open(folder / n, "rb") as f:
            d = pickle.load(f, encoding="latin1")
        xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.extend(d["labels"])
    return ArrayDataset("cifar10", split, torch.from_numpy(np.concatenate(xs)), torch.tensor(ys, dtype=torch.int64),
                        CIFAR10_CLASSES, str(folder))


def load_cifar10(root: Path, split: str) -> ArrayDataset:
    looked = []
    if (root / "cifar10.npz").is_file():
        return load_npz(root / "cifar10.npz", split)
    looked.append(str(root / "cifar10.npz"))
    if (root / "cifar-10-batches-py" / "test_batch").is_file():
        return _load_cifar10_pickles(root / "cifar-10-batches-py", split)
    looked.append(str(root / "cifar-10-batches-py"))
    if (root / "cifar10" / "train").is_dir():
        ds = load_imagefolder(root / "cifar10", split, "cifar10")
        ds.classes = CIFAR10_CLASSES if sorted(ds.classes) == sorted(CIFAR10_CLASSES) else ds.classes
        return ds
    looked.append(str(root / "cifar10" / "{train,test}"))
    for sub in ("CIFAR10", "cifar10"):
        if (root / sub / "Train").is_dir():
            return load_cifar10_classic(root / sub, split)
    looked.append(str(root / "CIFAR10" / "{Train,Test}"))
    raise DatasetNotFoundError(
        "CIFAR-10 not found; looked for " + ", ".join(looked) + ". Get it with "
        "torchvision.datasets.CIFAR10(ROOT, download=True) (writes ROOT/cifar-10-batches-py) or copy a file "
        "made by `python -m training pack cifar10 -o cifar10.npz`, then pass --data-root ROOT, set CVZOO_DATA, "
        "or use --data npz:FILE."
    )


# ----------------------------------------------------------------------------------------- packed


def pack(name: str, out: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """Write both splits of a data set to one compressed ``.npz`` (readable as ``npz:FILE``)."""
    arrays: dict[str, np.ndarray] = {"format_version": np.asarray(NPZ_FORMAT_VERSION)}
    classes: list[str] = []
    for split in ("train", "test"):
        ds = load_dataset(name, split, root=root)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = ds.images.numpy(), ds.labels.numpy()
        classes = ds.classes
    arrays["classes"] = np.asarray(classes)
    arrays["name"] = np.asarray(name.split(":")[0].removesuffix("-npz"))
    path = Path(out)
    runs.save_npz(path, compressed=True, **arrays)
    return path


def load_npz(path: Path, split: str) -> ArrayDataset:
    if not path.is_file():
        raise DatasetNotFoundError(f"packed data set {path} does not exist (write one with `python -m training pack`)")
    with np.load(path) as z:
        version = int(z["format_version"]) if "format_version" in z else 0
        if version > NPZ_FORMAT_VERSION:
            raise ValueError(f"{path} has format version {version}; this cvzoo reads up to {NPZ_FORMAT_VERSION}")
        if f"x_{split}" not in z:
            raise DatasetNotFoundError(f"{path} has no split {split!r} (has: {sorted(z.files)})")
        images, labels = torch.from_numpy(z[f"x_{split}"]), torch.from_numpy(z[f"y_{split}"].astype(np.int64))
        classes = [str(c) for c in z["classes"]]
        name = str(z["name"]) if "name" in z else path.stem
    return ArrayDataset(name, split, images, labels, classes, str(path))


# ----------------------------------------------------------------------------------------- dispatch


def load_dataset(name: str, split: str = "train", *, root: str | os.PathLike | None = None,
                 image_size: tuple[int, int] | None = None) -> ArrayDataset:
    """Load one split (``train`` or ``test``) of a data set named as in this module's docstring."""
    if split not in ("train", "test", "val"):
        raise ValueError(f"split must be train, test or val, got {split!r}")
    kind, _, arg = name.partition(":")
    kind = kind.lower()
    base = data_root(root)
    if kind == "mnist" and not arg:
        return load_mnist(base, "train" if split == "train" else "test")
    if kind == "cifar10" and not arg:
        return load_cifar10(base, "train" if split == "train" else "test")
    if kind in ("npz", "cifar10-npz") and arg:
        return load_npz(Path(arg).expanduser(), "train" if split == "train" else "test")
    if kind == "imagefolder" and arg:
        folder = Path(arg).expanduser()
        if not folder.is_dir():
            raise DatasetNotFoundError(f"image folder {folder} does not exist")
        return load_imagefolder(folder, split, folder.name, image_size)
    if kind == "cifar10-classic" and arg:
        return load_cifar10_classic(Path(arg).expanduser(), split)
    raise ValueError(f"unknown data set {name!r}; known: {', '.join(KNOWN)}")


# ----------------------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class Augment:
    """Batch augmentations run on the device: random crop with ``pad`` pixels of padding
    (``pad_mode`` 'reflect' or 'zeros'), horizontal ``flip``, cutout of a ``cutout``-pixel square."""

    pad: int = 0
    pad_mode: str = "reflect"
    flip: bool = False
    cutout: int = 0

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        dev = x.device
        if self.pad:
            p = self.pad
            xp = F.pad(x, (p, p, p, p), mode="reflect" if self.pad_mode == "reflect" else "constant")
            sy = torch.randint(0, 2 * p + 1, (n,), generator=g, device="cpu").to(dev)
            sx = torch.randint(0, 2 * p + 1, (n,), generator=g, device="cpu").to(dev)
            c = x.shape[1]
            rows = (sy[:, None] + torch.arange(h, device=dev)[None]).view(n, 1, h, 1).expand(n, c, h, w + 2 * p)
            xp = xp.gather(2, rows)
            cols = (sx[:, None] + torch.arange(w, device=dev)[None]).view(n, 1, 1, w).expand(n, x.shape[1], h, w)
            x = xp.gather(3, cols)
        if self.flip:
            m = (torch.rand(n, generator=g, device="cpu") < 0.5).to(dev).view(n, 1, 1, 1)
            x = torch.where(m, x.flip(-1), x)
        if self.cutout:
            s = self.cutout
            cy = torch.randint(0, h, (n,), generator=g, device="cpu").to(dev).view(n, 1, 1, 1)
            cx = torch.randint(0, w, (n,), generator=g, device="cpu").to(dev).view(n, 1, 1, 1)
            yy = torch.arange(h, device=dev).view(1, 1, h, 1)
            xx = torch.arange(w, device=dev).view(1, 1, 1, w)
            hole = ((yy - cy).abs() <= s // 2) & ((xx - cx).abs() <= s // 2)
            x = x.masked_fill(hole, 0.0)
        return x


@dataclass(frozen=True)
class RandomRotation:
    """torchvision v2 ``RandomRotation(degrees)`` (nearest, fill 0, about the centre, same size), for a whole
    batch in one ``grid_sample`` instead of one call per image.

    Each image gets its own angle, drawn as v2 draws it (``torch.empty(1).uniform_(lo, hi)`` from torch's
    global generator, image after image), and the sampling grid is v2's (``rotate_image``: the inverse
    rotation about the centre, pixel-centre coordinates normalised by half the size), so image ``i`` equals
    ``v2.RandomRotation(degrees)(x[i])`` under the same seed. ``(N, C, H, W)`` float -> same shape.
    """

    degrees: tuple[float, float]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        rows = []
        for _ in range(n):
            rot = math.radians(-(torch.empty(1).uniform_(*self.degrees).item() % 360))
            rows.append([math.cos(rot), math.sin(rot), 0.0, -math.sin(rot), math.cos(rot), 0.0])
        theta = torch.tensor(rows, dtype=x.dtype, device=x.device).view(n, 2, 3)
        base = torch.empty(1, h, w, 3, dtype=x.dtype, device=x.device)
        base[..., 0].copy_(torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w, device=x.device))
        base[..., 1].copy_(torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h, device=x.device).unsqueeze_(-1))
        base[..., 2].fill_(1)
        scaled = theta.transpose(1, 2).div_(torch.tensor([0.5 * w, 0.5 * h], dtype=x.dtype, device=x.device))
        grid = base.view(1, h * w, 3).expand(n, -1, -1).bmm(scaled).view(n, h, w, 2)
        return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


class ShardedBatches:
    """Which images make each batch, for one process of ``world_size``: what both loaders share.

    A seeded :class:`~torch.utils.data.DistributedSampler` over ``n`` items, re-shuffled by
    :meth:`set_epoch`; ``batch_size`` is the global batch, so one batch over all ranks equals one
    single-process batch. ``drop_last`` drops the last, smaller batch (of each rank's share).
    """

    def __init__(self, n: int, batch_size: int, *, train: bool, seed: int, rank: int, world_size: int,
                 drop_last: bool) -> None:
        from torch.utils.data import DistributedSampler

        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by {world_size} processes")
        self.train, self.seed, self.rank, self.drop_last = train, seed, rank, drop_last
        self.local_batch = batch_size // world_size
        self.sampler = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=train, seed=seed,
                                          drop_last=False)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.local_batch if self.drop_last else math.ceil(n / self.local_batch)

    def index_batches(self) -> list[torch.Tensor]:
        """This epoch's batches of indices (int64 tensors) for this rank."""
        indices = torch.tensor(list(iter(self.sampler)), dtype=torch.long)
        return [indices[b * self.local_batch : (b + 1) * self.local_batch] for b in range(len(self))]


class BatchLoader(ShardedBatches):
    """Batches from an in-memory :class:`ArrayDataset`, for one process of ``world_size``.

    Shuffling is a :class:`~torch.utils.data.DistributedSampler` (seeded, re-shuffled per epoch by
    :meth:`set_epoch`); rank ``r`` takes every ``world_size``-th index, so one batch over all
    ranks equals one single-process batch of ``batch_size``. ``batch_size`` is the global batch.
    Per-sample transforms (torchvision v2, e.g. colour jitter) run on the CPU uint8 images
    (``sample_transform``); ``post_transform`` maps the normalised float batch (the course's rotation,
    :class:`RandomRotation`) and :class:`Augment` runs after it, both batched on ``device``. Everything is seeded from
    ``(seed, epoch, rank)``, so an epoch replays identically after a resume.
    """

    def __init__(self, data: ArrayDataset, batch_size: int, *, train: bool, preprocess: Preprocessing,
                 augment: Augment | None = None, sample_transform: Callable | None = None,
                 post_transform: Callable | None = None, seed: int = 0,
                 device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1,
                 drop_last: bool | None = None, channels_last: bool = False) -> None:
        super().__init__(len(data), batch_size, train=train, seed=seed, rank=rank, world_size=world_size,
                         drop_last=train if drop_last is None else drop_last)
        self.data = data
        self.preprocess, self.augment, self.sample_transform = preprocess, augment, sample_transform
        self.post_transform = post_transform
        self.device, self.channels_last = torch.device(device), channels_last
        on_device = self.device.type != "cpu" and sample_transform is None
        self.images = data.images.to(self.device) if on_device else data.images
        self.labels = data.labels
        self.generator = torch.Generator()  # the augmentation generator of the pass under way
        self._resume: tuple[int, torch.Tensor] | None = None

    def resume_at(self, batch: int, generator_state: torch.Tensor) -> None:
        """Make the next pass start at ``batch`` (0-based) of this epoch with the augmentation generator in
        ``generator_state`` (``generator.get_state()`` saved after the batch before): a mid-epoch resume."""
        self._resume = (batch, generator_state)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = self.generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch * 1009 + self.rank)
        start = 0
        if self._resume is not None:
            (start, state), self._resume = self._resume, None
            g.set_state(state)
        for idx in self.index_batches()[start:]:
            if self.sample_transform is not None:
                x = torch.stack([self.sample_transform(img) for img in self.images[idx]])
            else:
                x = self.images[idx.to(self.images.device)]
            x = self.preprocess(x.to(self.device, non_blocking=True))
            if self.post_transform is not None:
                x = self.post_transform(x)
            if self.train and self.augment is not None:
                x = self.augment(x, g)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx].to(self.device, non_blocking=True)
