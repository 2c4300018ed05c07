"""Inference time per 480x360 image for every registered segmentation model (batch 1, fp32).

    .venv/bin/python benchmarks/bench_segmentation.py [--threads 1 2] [--reps 5] [--models fcn8s_effnet_lite0]
        [--json OUT.json] [--device cpu] [--fc6]

For each model and thread count: one warm-up forward pass, then ``reps`` timed passes of one
3x360x480 input (``torch.no_grad``, eval mode, contiguous and channels_last memory formats);
the median and the minimum are reported. The goal for ``fcn8s_effnet_lite0`` is at most 1 s
per image on a 2-core CPU, so that the demo segments an upload in about a second. Weights do
not change the time, so the models are built untrained (no download).

``--fc6`` times instead one training step (forward + backward, batch 4) of the VGG FCNs' fc6, a 7x7
convolution over pool5 of a 180x240 training crop (a 6x8 map), two ways: ``nn.Conv2d(padding=3)``
(the reference) and an explicit ``F.pad`` then ``padding=0``, as ``zoo.models.fcn`` does; on CPU
oneDNN's backward for the first is far slower, which made the VGG FCNs untrainable here.

The CPU may be shared with other jobs: the load average at the start and at the end is
printed with the results, and the minimum is the better estimate of the unloaded time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zoo


def time_model(name: str, threads: int, reps: int, device: str, channels_last: bool) -> dict:
    torch.set_num_threads(threads)
    model = zoo.create_model(name, num_classes=11).eval().to(device)
    x = torch.randn(1, 3, 360, 480, device=device)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.no_grad():
        out = model(x)
        assert out.shape == (1, 11, 360, 480)
        for _ in range(reps):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return {"model": name, "threads": threads, "channels_last": channels_last, "median_s": statistics.median(times),
            "min_s": min(times), "reps": reps, "params": sum(p.numel() for p in model.parameters())}


def time_fc6_step(threads: int, reps: int, batch: int = 4) -> dict:
    """Seconds for one forward + backward of fc6 (512 -> 4096, 7x7) on a ``batch``x512x6x8 map."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(512, 4096, 7, padding=3)
    x = torch.randn(batch, 512, 6, 8)
    ways = {"Conv2d(padding=3)": lambda: conv(x),
            "F.pad + padding 0": lambda: F.conv2d(F.pad(x, (3, 3, 3, 3)), conv.weight, conv.bias)}
    assert torch.allclose(ways["Conv2d(padding=3)"](), ways["F.pad + padding 0"](), atol=1e-4)
    out = {}
    for way, fn in ways.items():
        times = []
        for _ in range(reps):
            conv.zero_grad()
            t0 = time.perf_counter()
            fn().square().mean().backward()
            times.append(time.perf_counter() - t0)
        out[way] = statistics.median(times)
    return {"threads": threads, "batch": batch, "reps": reps, **out,
            "speedup": out["Conv2d(padding=3)"] / out["F.pad + padding 0"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", default=None, help="default: every registered segmentation model")
    ap.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--fc6", action="store_true", help="time the VGG FCNs' fc6 training step instead")
    args = ap.parse_args(argv)
    if args.fc6:
        for threads in args.threads:
            row = time_fc6_step(threads, max(1, args.reps // 2))
            print(f"fc6 step, batch 4, threads {threads}: Conv2d(padding=3) {row['Conv2d(padding=3)']:.2f} s, "
                  f"F.pad + padding 0 {row['F.pad + padding 0']:.2f} s: {row['speedup']:.1f}x faster", flush=True)
        return 0
    models = args.models or zoo.list_models(task="segmentation")
    load0 = os.getloadavg()
    rows = []
    for name in models:
        for threads in args.threads:
            for cl in (False, True):
                reps = args.reps if "effnet" in name else max(2, args.reps // 2)
                row = time_model(name, threads, reps, args.device, cl)
                rows.append(row)
                print(f"{name:20s} threads {threads}  channels_last {cl!s:5s}  median {row['median_s']:.3f} s  "
                      f"min {row['min_s']:.3f} s  ({row['params']:,} params)", flush=True)
    load1 = os.getloadavg()
    print(f"load average (1 min) at start {load0[0]:.1f}, at end {load1[0]:.1f}; {os.cpu_count()} CPUs; "
          f"torch {torch.__version__}; {platform.processor() or platform.machine()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "load_start": load0, "load_end": load1,
                                               "cpus": os.cpu_count(), "torch": torch.__version__,
                                               "device": args.device}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
