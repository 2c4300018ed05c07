"""The course's RandomRotation((30, 70)): one batched grid_sample against torchvision v2 image by image.

    python benchmarks/bench_rotation.py --batch 128 --size 32 --threads 1 [--device cuda]

``training.data.RandomRotation`` gives the same pixels as ``v2.RandomRotation`` under the same seed
(tested in tests/test_course_experiments.py); this prints what batching buys: milliseconds per batch and
images per second for both, their ratio, and checks that the outputs are equal. The reference is measured
in the same run, on the same batch.
"""

from __future__ import annotations

import argparse
import time

import torch
from torchvision.transforms import v2

from training.data import RandomRotation


def timed(fn, reps: int, device: torch.device) -> float:
    """Median seconds of ``fn()`` over ``reps`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, default=32, help="image side (pixels); the course crops to 10")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    x = torch.randn(args.batch, 3, args.size, args.size, device=dev)
    degrees = (30.0, 70.0)
    ref, ours = v2.RandomRotation(degrees), RandomRotation(degrees)

    torch.manual_seed(0)
    expected = torch.stack([ref(img) for img in x])
    torch.manual_seed(0)
    same = torch.equal(ours(x), expected)
    t_ref = timed(lambda: torch.stack([ref(img) for img in x]), args.reps, dev)
    t_ours = timed(lambda: ours(x), args.reps, dev)
    print(f"batch {args.batch} x 3x{args.size}x{args.size} on {dev} ({args.threads} thread(s)), median of {args.reps}")
    print(f"  torchvision v2, image by image: {t_ref * 1e3:8.2f} ms  {args.batch / t_ref:10.0f} img/s")
    print(f"  batched (training.data):       {t_ours * 1e3:8.2f} ms  {args.batch / t_ours:10.0f} img/s")
    print(f"  speed-up {t_ref / t_ours:.1f}x; outputs equal: {same}")


if __name__ == "__main__":
    main()
