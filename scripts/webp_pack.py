"""Carry a packed CIFAR-10 (`python -m training pack cifar10`) through an upload limit, losslessly.

A machine reachable only through a size-limited copy (this workplace's lent GPU takes 64 MiB a call)
cannot receive the 169 MB `.npz`. Stored as lossless WebP (method 2), CIFAR-10 takes 0.57 of its raw
size, 106 MB, in two halves: the first ``A_END`` training images, then the rest plus the test split.

    python scripts/webp_pack.py pack cifar10.npz OUTDIR 33000   # OUTDIR/a (58 MB), OUTDIR/b (48 MB)
    python scripts/webp_pack.py unpack DIR_A DIR_B cifar10.npz   # on the other machine

``unpack`` checks the sha256 of every rebuilt array against the one recorded by ``pack`` and writes
the same keys as ``training.data.pack`` (readable as ``--data npz:FILE``). On the lent GPU the first
half is sent in one call and copied to ``/tmp`` (what one call carries is gone in the next), then the
second half, then ``unpack`` and ``scripts/gpu_cifar.sh`` with ``GPU_CIFAR=npz:/tmp/cifar10.npz``.
The 64 MiB counts the tracked tree too (~30 MB with the shipped weights and screenshots), so in session 6
the halves were split at 30,000 (52 and 54 MB) and, for the two calls only, ``zoo/weights`` and ``docs``
were taken out of the index (``git rm -r --cached`` plus a line each in ``.git/info/exclude``; the GPU
jobs need neither) and put back afterwards with ``git reset -- zoo/weights docs``.
"""

from __future__ import annotations

import hashlib
import io
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image


def encode(image: np.ndarray) -> bytes:
    """``(H, W, 3)`` uint8 -> lossless WebP bytes."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "WEBP", lossless=True, quality=100, method=2)
    return buf.getvalue()


def decode(blob: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))


def write_part(folder: Path, name: str, x: np.ndarray, y: np.ndarray, procs: int) -> None:
    """``x`` ``(N, 3, H, W)`` uint8 -> ``folder/name.bin`` (concatenated WebP) and ``name.npz`` (offsets, labels)."""
    with Pool(procs) as pool:
        blobs = pool.map(encode, list(x.transpose(0, 2, 3, 1)), chunksize=500)
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    (folder / f"{name}.bin").write_bytes(b"".join(blobs))
    np.savez(folder / f"{name}.npz", off=offsets, y=y, sha=np.asarray(hashlib.sha256(x.tobytes()).hexdigest()))


def read_part(folder: Path, name: str, procs: int) -> tuple[np.ndarray, np.ndarray]:
    raw = (folder / f"{name}.bin").read_bytes()
    meta = np.load(folder / f"{name}.npz")
    off = meta["off"]
    with Pool(procs) as pool:
        images = pool.map(decode, [raw[off[i]:off[i + 1]] for i in range(len(off) - 1)], chunksize=500)
    x = np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2))
    if hashlib.sha256(x.tobytes()).hexdigest() != str(meta["sha"]):
        raise SystemExit(f"{folder / name}: the rebuilt images differ from the packed ones (sha256)")
    return x, meta["y"]


def pack(src: str, out: str, a_end: int, procs: int = 2) -> None:
    z = np.load(src)
    a, b = Path(out) / "a", Path(out) / "b"
    a.mkdir(parents=True, exist_ok=True)
    b.mkdir(parents=True, exist_ok=True)
    write_part(a, "train_a", z["x_train"][:a_end], z["y_train"][:a_end], procs)
    write_part(b, "train_b", z["x_train"][a_end:], z["y_train"][a_end:], procs)
    write_part(b, "test", z["x_test"], z["y_test"], procs)
    np.savez(b / "meta.npz", classes=z["classes"], name=z["name"], format_version=z["format_version"])


def unpack(dir_a: str, dir_b: str, out: str, procs: int = 16) -> None:
    xa, ya = read_part(Path(dir_a), "train_a", procs)
    xb, yb = read_part(Path(dir_b), "train_b", procs)
    xt, yt = read_part(Path(dir_b), "test", procs)
    meta = np.load(Path(dir_b) / "meta.npz")
    tmp = out + ".tmp.npz"
    np.savez(tmp, x_train=np.concatenate([xa, xb]), y_train=np.concatenate([ya, yb]), x_test=xt, y_test=yt,
             classes=meta["classes"], name=meta["name"], format_version=meta["format_version"])
    Path(tmp).replace(out)
    print(f"unpacked {out}: {len(ya) + len(yb)} training and {len(yt)} test images")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "pack":
        pack(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 5 and sys.argv[1] == "unpack":
        unpack(*sys.argv[2:5])
    else:
        raise SystemExit(__doc__)
