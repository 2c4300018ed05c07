"""pb-lite speed benchmark: ``pblite.detect`` against the usual-way reference (``pblite.reference``).

Run:  python benchmarks/bench_pblite.py [--data-root DIR] [--threads 1] [--limit 10] [--ref-limit 10]

Hardware, threads, torch version and the load average are printed.  For each of the 10
classic pb-lite images (``pblite-hw0/Images``, 481x321 or 321x481) it times ``detect`` (one
warm run per image; wall and CPU seconds; median over images), then the reference in two
timed parts: its clustering (scikit-learn ``KMeans`` on all pixels, ``reference_fit_centres``)
and everything else with ``detect``'s cluster centres fixed (one ``cv2.filter2D`` per filter,
a nearest-centre pass, a Python loop over bins and masks with two ``cv2.filter2D`` each).  The
reference's time is the sum of the two parts (it counts one nearest-centre pass that
``KMeans.fit_predict`` would not need; the ratio against the fixed-centre part alone, a
lower bound, is printed too).  The fixed-centre run is also the oracle: the maps of
``detect`` (default ``grad_stride``) and of ``detect`` with ``grad_stride=1`` are compared
with it.  On a machine shared with other jobs, compare the ratio (both timed in the same
run) and the CPU seconds, not the wall seconds alone.  The ``bsds`` preset (Tg weighted 0, so its
texton stage is skipped) is timed on the same images against the default.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pblite
from pblite.cli import default_data_root
from pblite.reference import reference_detect, reference_fit_centres

# hyperparameters of the benchmark
SETTINGS = {
    "threads": 1,  # torch / OpenCV threads (1: the 2-core machine is shared with other jobs)
    "limit": 10,  # images timed with detect
    "ref_limit": 10,  # images timed with the reference (slow: ~20-60 s each)
}


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _timed(f, *args, **kw):
    w, c = time.perf_counter(), time.process_time()
    r = f(*args, **kw)
    return r, time.perf_counter() - w, time.process_time() - c


def main(run: dict) -> dict:
    import cv2

    torch.set_num_threads(run["threads"])
    cv2.setNumThreads(run["threads"])
    root = Path(run["data_root"]) if run.get("data_root") else default_data_root()
    if root is None or not (root / "pblite-hw0" / "Images").is_dir():
        raise SystemExit("pblite-hw0 data not found: pass --data-root or set CVZOO_DATA")
    paths = sorted((root / "pblite-hw0" / "Images").glob("*.jpg"), key=lambda p: int(p.stem))[: run["limit"]]
    cfg = pblite.PbConfig()
    print(f"# pb-lite benchmark | {platform.processor() or platform.machine()} | {os.cpu_count()} CPUs | "
          f"torch {torch.__version__} | threads {torch.get_num_threads()} | OpenCV {cv2.__version__} | "
          f"load average {_load()}")
    print(f"# config: grad_stride={cfg.grad_stride} radii={cfg.radii} textons={cfg.n_textons} "
          f"filters={len(pblite.pipeline.texton_kernels(cfg))} kmeans_fit={cfg.kmeans_fit} "
          f"kmeans_iters={cfg.kmeans_iters}")
    images = [pblite.load_image(p) for p in paths]
    pblite.detect(images[0], cfg)  # warm-up
    t_fast, c_fast, results = [], [], []
    for im in images:
        res, wall, cpu = _timed(pblite.detect, im, cfg)
        results.append(res)
        t_fast.append(wall)
        c_fast.append(cpu)
    stages = {k: statistics.median(r.timings[k] for r in results) for k in results[0].timings}
    print(f"detect: median wall {statistics.median(t_fast):.3f} s, CPU {statistics.median(c_fast):.3f} s "
          f"(load average {_load()})")
    print("detect stages (median wall s): " + ", ".join(f"{k} {v:.3f}" for k, v in stages.items()))
    bsds = pblite.PbConfig.preset("bsds")  # the val-tuned preset: Tg weighted 0, so the texton cue is skipped
    t_bsds = [_timed(pblite.detect, im, bsds)[1] for im in images]
    print(f"detect, bsds preset: median wall {statistics.median(t_bsds):.3f} s, "
          f"{statistics.median(t_fast) / statistics.median(t_bsds):.1f}x faster than the default preset")
    t_fit, t_fixed, c_ref, diffs = [], [], [], []
    exact = pblite.PbConfig(grad_stride=1)
    for im, res in list(zip(images, results, strict=True))[: run["ref_limit"]]:
        _, w_fit, c_fit = _timed(reference_fit_centres, im, cfg)
        ref, w_fixed, c_fixed = _timed(reference_detect, im, cfg, centres=res.centres)
        t_fit.append(w_fit)
        t_fixed.append(w_fixed)
        c_ref.append(c_fit + c_fixed)
        ex = pblite.detect(im, exact, centres=res.centres)
        d = {f"{k}_equal": float((getattr(res, k) == ref[k]).mean())
             for k in ("texton_map", "brightness_map", "colour_map")}
        for k in ("tg", "bg", "cg", "pb"):
            d[f"{k}_maxabs_stride1"] = float(np.abs(getattr(ex, k) - ref[k]).max())
            d[f"{k}_maxabs_default"] = float(np.abs(getattr(res, k) - ref[k]).max())
            d[f"{k}_meanabs_default"] = float(np.abs(getattr(res, k) - ref[k]).mean())
            d[f"{k}_corr_default"] = float(np.corrcoef(getattr(res, k).ravel(), ref[k].ravel())[0, 1])
        diffs.append(d)
        i = len(t_fit) - 1
        print(f"  image {paths[i].name}: detect {t_fast[i]:.2f} s (CPU {c_fast[i]:.2f}), reference "
              f"{w_fit + w_fixed:.2f} s (KMeans fit {w_fit:.2f} + fixed-centre rest {w_fixed:.2f}; CPU "
              f"{c_ref[-1]:.2f}), load {_load()}", flush=True)
    n = len(t_fit)
    if n == 0:  # --ref-limit 0: detect only
        return {"detect_median_s": statistics.median(t_fast), "detect_median_cpu_s": statistics.median(c_fast),
                "detect_bsds_median_s": statistics.median(t_bsds)}
    t_ref = [a + b for a, b in zip(t_fit, t_fixed, strict=True)]
    out = {
        "detect_median_s": statistics.median(t_fast),
        "detect_bsds_median_s": statistics.median(t_bsds),
        "detect_median_cpu_s": statistics.median(c_fast),
        "reference_median_s": statistics.median(t_ref),
        "reference_median_cpu_s": statistics.median(c_ref),
        "reference_fixed_median_s": statistics.median(t_fixed),
        "n_detect": len(t_fast),
        "n_reference": n,
    }
    # per-image ratios (both timed in this run on the same image), then their median
    out["speedup"] = statistics.median(r / f for r, f in zip(t_ref, t_fast, strict=False))
    out["speedup_cpu"] = statistics.median(r / f for r, f in zip(c_ref, c_fast, strict=False))
    out["speedup_vs_fixed_part"] = statistics.median(r / f for r, f in zip(t_fixed, t_fast, strict=False))
    print(f"detect median    {out['detect_median_s']:.3f} s/image (CPU {out['detect_median_cpu_s']:.3f} s) "
          f"over {len(t_fast)} images")
    print(f"reference median {out['reference_median_s']:.3f} s/image (CPU {out['reference_median_cpu_s']:.3f} s) "
          f"over {n} images")
    print(f"ratio            {out['speedup']:.1f}x wall, {out['speedup_cpu']:.1f}x CPU "
          f"({out['speedup_vs_fixed_part']:.1f}x against the fixed-centre part alone)")
    print(f"maps against the reference with detect's centres fixed (worst of {n} images):")
    for k in diffs[0]:
        agg = min if k.endswith(("_equal", "_corr_default")) else max
        out[k] = agg(d[k] for d in diffs)
        print(f"  {k:24s} {out[k]:.6g}")
    print(f"# load average at the end {_load()}")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--threads", type=int, default=SETTINGS["threads"])
    ap.add_argument("--limit", type=int, default=SETTINGS["limit"])
    ap.add_argument("--ref-limit", type=int, default=SETTINGS["ref_limit"])
    a = ap.parse_args()
    main({"data_root": a.data_root, "threads": a.threads, "limit": a.limit, "ref_limit": a.ref_limit})
