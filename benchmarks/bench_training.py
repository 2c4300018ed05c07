"""Training throughput of registry models on this machine (fp32 CPU, or CUDA bf16).

    python benchmarks/bench_training.py cifar_speedrun cifar_cnn --threads 2 --batch 512 [--channels-last]

Prints train images/s (forward + backward + SGD step, after one warm-up step) per model.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
import torch.nn.functional as F

import zoo


def bench(name: str, batch: int, steps: int, channels_last: bool, device: str) -> float:
    spec = zoo.get_spec(name)
    model = zoo.create_model(name).to(device)
    x = torch.randn(batch, *spec.input_size, device=device)
    y = torch.randint(0, spec.num_classes, (batch,), device=device)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else contextlib.nullcontext()
    for i in range(steps + 1):
        if i == 1:
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        with amp:
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.models:
        rate = bench(name, args.batch, args.steps, args.channels_last, args.device)
        print(f"{name:20s} {rate:8.1f} train img/s  (batch {args.batch}, {args.threads} threads, "
              f"channels_last={args.channels_last}, {args.device}, torch {torch.__version__})")


if __name__ == "__main__":
    main()
