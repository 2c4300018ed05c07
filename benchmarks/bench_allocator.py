"""CPU training throughput under glibc's malloc, PyTorch's transparent-huge-page option and tcmalloc.

    python benchmarks/bench_allocator.py course_resnext cifar_speedrun --threads 2 --batch 128 --steps 5

Each variant runs ``benchmarks/bench_training.py`` in a fresh process (a preload only takes effect at
start-up) and prints train images/s, the process's minor page faults and kernel time, and the speed
ratio against glibc measured in the same run. tcmalloc is found by :func:`training.allocator.find_tcmalloc`
and skipped, with the reason, when it is not installed.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from training.allocator import INSTALL, find_tcmalloc

BENCH = Path(__file__).with_name("bench_training.py")


def variants() -> dict[str, dict[str, str]]:
    """Name -> environment changes. ``LD_PRELOAD`` is cleared for the glibc baseline."""
    out = {"glibc": {"LD_PRELOAD": ""}, "glibc+THP": {"LD_PRELOAD": "", "THP_MEM_ALLOC_ENABLE": "1"}}
    if (lib := find_tcmalloc()) is not None:
        out["tcmalloc"] = {"LD_PRELOAD": str(lib)}
    return out


def run(model: str, env_changes: dict[str, str], args: argparse.Namespace) -> tuple[float, int, float]:
    """(train images/s, minor page faults, kernel seconds) of one ``bench_training.py`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, str(BENCH), model, "--threads", str(args.threads), "--batch", str(args.batch),
           "--steps", str(args.steps), "--device", "cpu"]
    res = subprocess.run(cmd, env={**os.environ, **env_changes}, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rate = float(re.search(r"([\d.]+) train img/s", res.stdout).group(1))
    return rate, after.ru_minflt - before.ru_minflt, after.ru_stime - before.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    found = variants()
    if "tcmalloc" not in found:
        print(f"tcmalloc not found ({INSTALL}): glibc variants only")
    for model in args.models:
        base = None
        for name, env in found.items():
            t0 = time.perf_counter()
            rate, faults, sys_s = run(model, env, args)
            base = base or rate
            print(f"{model:16s} {name:10s} {rate:7.1f} train img/s  {rate / base:4.2f}x glibc  "
                  f"{faults:>10,d} minor faults  {sys_s:5.1f} s kernel  ({time.perf_counter() - t0:.0f} s, "
                  f"batch {args.batch}, {args.threads} threads, {args.steps} steps)", flush=True)


if __name__ == "__main__":
    main()
