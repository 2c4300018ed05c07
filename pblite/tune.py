"""Tune pb-lite's cue combination on a BSDS500 split with a fast proxy of the benchmark.

    python -m pblite tune --split train --out runs/pblite-tune

Each image's cues (Tg, Bg, Cg, Canny, Sobel) are computed once with the base ``PbConfig`` and
cached in ``OUT/cues/<hash of the settings they depend on>`` (float16 ``.npz``, so a rerun starts
at the search).  Every candidate
combination (:func:`pblite.pipeline.combine`: cue weights, baseline weights, normalisation) is
then recombined, thinned with the same NMS as ``detect`` and scored with a proxy of the BSDS
benchmark: a predicted pixel counts as correct when an annotator's boundary pixel lies within the
matching distance (0.0075 x the diagonal), and an annotator's pixel as found when a predicted pixel
does (one disk dilation gives every threshold; no one-to-one assignment, no morphological thinning).  The proxy takes
milliseconds where the benchmark's matcher takes seconds per image and threshold; its counts are
higher than the matcher's, so only its ranking is used, and the winner is scored on val with the real
benchmark (``bench-bsds --preset bsds``).

The search is coordinate-wise: first the baseline weight ``w_canny`` (``w_sobel = 1 - w_canny``)
and the normalisation with equal cue weights, then the cue weights at the best of those.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .evaluate import _summarise, load_gt, thresholds_of
from .io import load_image, save_npz
from .nms import nms
from .pipeline import PbConfig, combine, detect

__all__ = ["CUES", "candidates_cues", "candidates_mix", "cue_cache_dir", "cues_of", "proxy_counts", "search",
           "tuned_fields"]

CUES = ("tg", "bg", "cg", "canny", "sobel")
COMBINATION_FIELDS = ("cue_weights", "w_canny", "w_sobel", "normalize", "nms_radius", "threads")


def cue_cache_dir(out: Path, config: PbConfig) -> Path:
    """``out/cues/<hash>``: one cache per setting of the fields the cues depend on (not the combination's)."""
    import hashlib
    import json

    fields = {k: v for k, v in asdict(config).items() if k not in COMBINATION_FIELDS}
    return out / "cues" / hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def cues_of(image_path: Path, gt_path: Path, cache: Path, config: PbConfig) -> dict[str, np.ndarray]:
    """The five ``(H, W)`` float32 cues of one image plus its annotations (``gts``, ``(K, H, W)`` bool),
    read from ``cache/<id>.npz`` when present, else computed with ``detect`` and cached (atomic write)."""
    path = cache / f"{image_path.stem}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k].astype(np.float32) if k in CUES else z[k] for k in (*CUES, "gts")}
    res = detect(load_image(image_path), replace(config, cue_weights=(1.0, 1.0, 1.0)))  # every cue, even if weighted 0
    if res.processed_shape != res.pb.shape:
        raise ValueError(f"{image_path} was downscaled; tune at the original size (raise max_side)")
    out = {k: getattr(res, k).astype(np.float16) for k in CUES}
    out["gts"] = np.stack(load_gt(gt_path)).astype(bool)
    save_npz(path, **out)
    return {k: v.astype(np.float32) if k in CUES else v for k, v in out.items()}


def _disk(r: float) -> np.ndarray:
    R = int(np.floor(r))
    y, x = np.mgrid[-R:R + 1, -R:R + 1]
    return (x * x + y * y <= r * r).astype(np.uint8)


def proxy_counts(pb_thin: np.ndarray, gts: np.ndarray, thresholds: np.ndarray,
                 max_dist: float = 0.0075) -> tuple[np.ndarray, ...]:
    """``(count_r, sum_r, count_p, sum_p)`` per threshold, as the benchmark's, without its matcher.

    All thresholds at once: a predicted pixel counts at threshold ``t`` when it is on
    (``pb_thin >= t``) and an annotator's pixel lies within ``r`` = ``max_dist`` x diagonal; an
    annotator's pixel is found at ``t`` when the largest ``pb_thin`` within ``r`` of it (a grey
    dilation with a disk) is ``>= t``.

    Args:
        pb_thin: ``(H, W)`` float32 map in [0, 1] (already thinned).
        gts: ``(K, H, W)`` bool annotations.
        thresholds: ``(T,)`` increasing levels.
        max_dist: matching distance as a fraction of the image diagonal.
    """
    h, w = pb_thin.shape
    disk = _disk(max_dist * float(np.hypot(h, w)))
    near_gt = cv2.dilate(gts.any(0).astype(np.uint8), disk).astype(bool)
    reach = cv2.dilate(pb_thin.astype(np.float32), disk)  # the strongest prediction within r of each pixel

    def at_least(values: np.ndarray) -> np.ndarray:  # how many values are >= each threshold
        return len(values) - np.searchsorted(np.sort(values), thresholds, side="left")

    count_r = sum(at_least(reach[g]) for g in gts)
    count_p = at_least(pb_thin[near_gt])
    sum_p = at_least(pb_thin.ravel())
    return count_r.astype(float), np.full(len(thresholds), float(gts.sum())), count_p.astype(float), sum_p.astype(float)


def _score(cues: Sequence[dict[str, np.ndarray]], config: PbConfig, thresholds: int) -> dict[str, Any]:
    thr = thresholds_of(thresholds)
    counts = []
    for c in cues:
        t = {k: torch.from_numpy(c[k]) for k in CUES}
        pb = combine(t["tg"], t["bg"], t["cg"], t["canny"], t["sobel"], config)
        # as bench-bsds: the thinned map is written as an 8-bit PNG, read back as value / 255
        thin = np.round(nms(pb, r=config.nms_radius).numpy() * 255) / 255
        counts.append(proxy_counts(thin, c["gts"], thr))
    s = _summarise(counts, [str(i) for i in range(len(counts))], thresholds)
    return {"ODS": s["ODS"], "OIS": s["OIS"], "AP": s["AP"]}


def candidates_mix(base: PbConfig) -> list[PbConfig]:
    """Step 1: ``w_canny`` in {0, .25, .5, .75, 1} (``w_sobel = 1 - w_canny``) x normalisation {max, sqrt}."""
    return [replace(base, w_canny=wc, w_sobel=1 - wc, normalize=n)
            for n in ("max", "sqrt") for wc in (0.0, 0.25, 0.5, 0.75, 1.0)]


def candidates_cues(base: PbConfig) -> list[PbConfig]:
    """Step 2: cue weights in {0, 1, 2, 3}^3, one per direction (scaled copies dropped)."""
    seen, out = set(), []
    for w in itertools.product(range(4), repeat=3):
        if sum(w) == 0:
            continue
        key = tuple(round(x / sum(w), 6) for x in w)
        if key not in seen:
            seen.add(key)
            out.append(replace(base, cue_weights=tuple(float(x) for x in w)))
    return out


def search(cues: Sequence[dict[str, np.ndarray]], base: PbConfig, thresholds: int = 19,
           log: Any = print) -> tuple[PbConfig, list[dict[str, Any]]]:
    """Coordinate search (``candidates_mix`` then ``candidates_cues``) maximising the proxy ODS.

    Returns the best config and one row per candidate (its fields that vary, proxy ODS/OIS/AP)."""
    rows: list[dict[str, Any]] = []

    def run(step: str, configs: Iterable[PbConfig]) -> PbConfig:
        best, best_ods = None, -1.0
        for cfg in configs:
            t0 = time.perf_counter()
            s = _score(cues, cfg, thresholds)
            row = {"step": step, "cue_weights": list(cfg.cue_weights), "w_canny": cfg.w_canny,
                   "w_sobel": cfg.w_sobel, "normalize": cfg.normalize, **s, "seconds": time.perf_counter() - t0}
            rows.append(row)
            log(f"{step} cues={cfg.cue_weights} w_canny={cfg.w_canny:.2f} {cfg.normalize:4s} "
                f"ODS {s['ODS']:.4f} OIS {s['OIS']:.4f} AP {s['AP']:.4f}")
            if s["ODS"] > best_ods:
                best, best_ods = cfg, s["ODS"]
        assert best is not None
        return best

    best = run("mix", candidates_mix(base))
    best = run("cues", candidates_cues(best))
    return best, rows


def tuned_fields(best: PbConfig, base: PbConfig) -> dict[str, Any]:
    """The fields of ``best`` that differ from ``base``."""
    b, d = asdict(best), asdict(base)
    return {k: v for k, v in b.items() if v != d[k]}
