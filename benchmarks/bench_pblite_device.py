"""pb-lite on an accelerator against the CPU: same maps, and time per image.

    python benchmarks/bench_pblite_device.py --device cuda [--images DIR] [--json FILE]

For each image (default: the 10 classic pb-lite images in ``$CVZOO_DATA/pblite-hw0/Images``) it runs
``pblite.detect`` three ways: on the CPU; on the device; and on the device with the CPU run's k-means
centres (``centres=``), which takes k-means' own floating-point path out of the comparison. It prints,
per image and overall: the largest ``|pb_cpu - pb_device|``, the share of pixels whose texton id differs,
and the median wall time per image on each (the device timed after one warm-up image, synchronised).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import pblite
from pblite.cli import default_data_root
from pblite.io import load_image


def _timed(image: np.ndarray, device: str, **kwargs) -> tuple[pblite.PbResult, float]:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    r = pblite.detect(image, device=device, **kwargs)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return r, time.perf_counter() - t


def compare(paths: list[Path], device: str) -> dict:
    """Per-image agreement and timings; see the module docstring."""
    rows = []
    _timed(load_image(paths[0]), device)  # warm-up: kernels, allocator
    for p in paths:
        image = load_image(p)
        cpu, t_cpu = _timed(image, "cpu")
        dev, t_dev = _timed(image, device)
        fixed, t_fixed = _timed(image, device, centres=cpu.centres)
        rows.append({
            "image": p.name, "shape": list(image.shape[:2]), "cpu_s": t_cpu, "device_s": t_dev,
            "device_fixed_centres_s": t_fixed,
            "max_abs_pb_diff": float(np.abs(cpu.pb - dev.pb).max()),
            "texton_mismatch": float((cpu.texton_map != dev.texton_map).mean()),
            "max_abs_pb_diff_fixed_centres": float(np.abs(cpu.pb - fixed.pb).max()),
            "texton_mismatch_fixed_centres": float((cpu.texton_map != fixed.texton_map).mean()),
        })
    keys = ("max_abs_pb_diff", "texton_mismatch", "max_abs_pb_diff_fixed_centres", "texton_mismatch_fixed_centres")
    return {
        "device": torch.cuda.get_device_name(0) if device.startswith("cuda") else device,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "median_cpu_s": statistics.median(r["cpu_s"] for r in rows),
        "median_device_s": statistics.median(r["device_s"] for r in rows),
        "worst": {k: max(r[k] for r in rows) for k in keys}, "images": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--images", help="folder of images (default: $CVZOO_DATA/pblite-hw0/Images)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--json", help="write the full result here")
    args = ap.parse_args()
    root = default_data_root()
    if args.images is None and root is None:
        raise SystemExit("no data root: pass --images or set CVZOO_DATA")
    folder = Path(args.images) if args.images else root / "pblite-hw0" / "Images"
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".png", ".jpeg"})
    if not paths:
        raise SystemExit(f"no images in {folder}: pass --images or set CVZOO_DATA")
    res = compare(paths[: args.limit or None], args.device)
    for r in res["images"]:
        print(f"{r['image']:>12s} cpu {r['cpu_s']:.3f}s {args.device} {r['device_s']:.3f}s  max|dpb| "
              f"{r['max_abs_pb_diff']:.2e} texton mismatch {r['texton_mismatch']:.4f}  (fixed centres: "
              f"{r['max_abs_pb_diff_fixed_centres']:.2e}, {r['texton_mismatch_fixed_centres']:.4f})")
    print(f"median per image: cpu {res['median_cpu_s']:.3f}s ({res['threads']} threads), {res['device']} "
          f"{res['median_device_s']:.3f}s, ratio {res['median_cpu_s'] / res['median_device_s']:.1f}x")
    print(f"worst: {res['worst']}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
