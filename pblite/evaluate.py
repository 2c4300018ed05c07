"""BSDS500 boundary benchmark (ODS, OIS, AP) through pyEdgeEval's C++ matcher.

Protocol (the BSDS benchmark's ``boundaryBench``, stored with every score under ``"protocol"``):

* predictions are 8-bit grey PNGs of the ground truth's size, read as ``value / 255``;
* ``thresholds`` evenly spaced levels ``linspace(1/(N+1), 1 - 1/(N+1), N)`` (99 by default, the
  standard); a pixel is on when ``pred >= t``;
* at each threshold the binary map is morphologically thinned (``apply_thinning``), and matched
  one-to-one against **every** human annotation with ``correspond_pixels`` (the original
  C++ code of Martin et al.), maximum distance ``max_dist`` = 0.0075 x the image diagonal;
  recall counts every annotator's pixels, precision counts a predicted pixel as correct when it
  matches any annotation;
* ODS: the best F over one threshold for the whole set (with the benchmark's linear
  interpolation between thresholds); OIS: the best threshold per image, counts summed;
  AP: the area under the precision-recall curve as in ``collect_eval_bdry.m`` (pyEdgeEval's
  ``AUC`` key; its ``AP`` key is a different, 101-point average and is kept as ``AP_101``).
* The evaluator applies no NMS of its own (``apply_nms=False``); methods thin their maps
  themselves (pb-lite's ``pb_thin``) and say so.

pyEdgeEval (MIT, https://github.com/haruishi43/py-edge-eval) is used rather than a port because
it wraps the original C++ matcher: Python re-implementations are known to disagree with the
MATLAB benchmark.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .io import atomic_write, save_npz

__all__ = ["PROTOCOL", "evaluate_arrays", "evaluate_dir", "load_gt", "plot_pr", "thresholds_of"]

PROTOCOL: dict[str, Any] = {
    "benchmark": "BSDS500 boundaries (boundaryBench)",
    "matcher": "pyEdgeEval correspond_pixels (C++ from the BSDS benchmark)",
    "max_dist": 0.0075,
    "apply_thinning": True,
    "apply_nms": False,
    "thresholds": 99,
    "ap": "area under PR curve (collect_eval_bdry.m; pyEdgeEval 'AUC')",
}


def _require() -> None:
    try:
        import pyEdgeEval  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "BSDS evaluation needs pyEdgeEval, scikit-image and prettytable: "
            "pip install 'cvzoo[pblite]' (or pip install pyEdgeEval scikit-image prettytable)"
        ) from e


def thresholds_of(n: int) -> np.ndarray:
    """The ``n`` benchmark thresholds ``linspace(1/(n+1), 1 - 1/(n+1), n)``."""
    return np.linspace(1.0 / (n + 1), 1.0 - 1.0 / (n + 1), n)


def load_gt(path: str | Path) -> list[np.ndarray]:
    """All annotators' ``Boundaries`` of a BSDS ``.mat`` file, each ``(H, W)`` uint8 0/1."""
    import scipy.io

    gt = scipy.io.loadmat(str(path))["groundTruth"]
    return [gt[0, k]["Boundaries"][0, 0] for k in range(gt.shape[1])]


def _protocol(thresholds: int, max_dist: float, apply_thinning: bool, apply_nms: bool) -> dict[str, Any]:
    import pyEdgeEval

    p = dict(PROTOCOL)
    p.update(
        thresholds=thresholds,
        max_dist=max_dist,
        apply_thinning=apply_thinning,
        apply_nms=apply_nms,
        pyEdgeEval=getattr(pyEdgeEval, "__version__", "unknown"),
    )
    return p


def _summarise(counts: Sequence[tuple[np.ndarray, ...]], names: Sequence[str], n_thr: int) -> dict[str, Any]:
    from pyEdgeEval.common.metrics import compute_rec_prec_f1, interpolated_max_scores

    thr = thresholds_of(n_thr)
    cr, sr, cp, sp = (np.sum([c[i] for c in counts], axis=0) for i in range(4))
    rec, prec, f1 = compute_rec_prec_f1(cr, sr, cp, sp)
    best_t, best_r, best_p, best_f = interpolated_max_scores(thr, rec, prec)
    per_image = []
    ois = np.zeros(4)
    for name, (a, b, c, d) in zip(names, counts, strict=True):
        r_i, p_i, f_i = compute_rec_prec_f1(a, b, c, d)
        k = int(np.argmax(f_i))
        ois += [a[k], b[k], c[k], d[k]]
        per_image.append({"name": name, "threshold": float(thr[k]), "recall": float(r_i[k]),
                          "precision": float(p_i[k]), "f1": float(f_i[k])})
    ois_r, ois_p, ois_f = compute_rec_prec_f1(*ois)
    # AP as in collect_eval_bdry.m: interpolate precision at recall 0:0.01:0.99, sum * 0.01
    r_u, idx = np.unique(rec, return_index=True)
    auc = float(np.interp(np.arange(0, 1, 0.01), r_u, prec[idx], left=0, right=0).sum() * 0.01) if r_u.size > 1 else 0.0
    ap101 = float(sum(np.max(prec[rec >= t], initial=0) for t in np.arange(0, 1, 0.01)) / 101)
    return {
        "ODS": float(best_f), "ODS_threshold": float(best_t), "ODS_recall": float(best_r),
        "ODS_precision": float(best_p), "OIS": float(ois_f), "OIS_recall": float(ois_r),
        "OIS_precision": float(ois_p), "AP": auc, "AP_101": ap101, "n_images": len(names),
        "pr_curve": {"threshold": thr.tolist(), "recall": rec.tolist(), "precision": prec.tolist(), "f1": f1.tolist()},
        "per_image": per_image,
    }


def evaluate_arrays(
    preds: Sequence[np.ndarray],
    gts: Sequence[Sequence[np.ndarray]],
    thresholds: int = 99,
    max_dist: float = 0.0075,
    apply_thinning: bool = True,
    apply_nms: bool = False,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score in-memory predictions: ``preds[i]`` is ``(H, W)`` float in [0, 1] (or uint8, divided
    by 255), ``gts[i]`` the list of that image's annotations (``(H, W)`` 0/1).  Single process."""
    _require()
    from pyEdgeEval.common.binary_label.evaluate_boundaries import evaluate_boundaries_threshold_multiple_gts

    thr = thresholds_of(thresholds)
    counts = []
    for p, g in zip(preds, gts, strict=True):
        p = np.asarray(p)
        p = p.astype(np.float64) / 255.0 if p.dtype == np.uint8 else p.astype(np.float64)
        counts.append(evaluate_boundaries_threshold_multiple_gts(
            thresholds=thr, pred=p, gts=[np.asarray(x) for x in g], max_dist=max_dist,
            apply_thinning=apply_thinning, apply_nms=apply_nms,
        ))
    names = list(names) if names is not None else [str(i) for i in range(len(counts))]
    out = _summarise(counts, names, thresholds)
    out["protocol"] = _protocol(thresholds, max_dist, apply_thinning, apply_nms)
    return out


def _counts_key(pred_path: Path, protocol: dict[str, Any]) -> str:
    """What a cached count depends on: the prediction's bytes and the matching protocol."""
    import hashlib

    h = hashlib.sha256(pred_path.read_bytes())
    h.update(json.dumps({k: protocol[k] for k in ("thresholds", "max_dist", "apply_thinning", "apply_nms")},
                        sort_keys=True).encode())
    return h.hexdigest()


def _load_counts(path: Path, key: str) -> tuple[np.ndarray, ...] | None:
    try:
        with np.load(path) as z:
            if str(z["key"]) != key:
                return None
            return tuple(z["counts"])
    except (OSError, KeyError, ValueError):
        return None


def evaluate_dir(
    pred_dir: str | Path,
    gt_dir: str | Path,
    thresholds: int = 99,
    nproc: int = 1,
    max_dist: float = 0.0075,
    apply_thinning: bool = True,
    apply_nms: bool = False,
    limit: int | None = None,
    names: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Score every ``<id>.png`` in ``pred_dir`` (or only the ids in ``names``) against
    ``gt_dir/<id>.mat`` (BSDS layout).

    The matcher takes seconds per image and threshold, so a full split runs for hours: with
    ``cache_dir`` each image's counts (4 arrays of ``thresholds`` values) are saved there as soon as
    they are computed, keyed by the prediction's sha256 and the protocol, and a later call with the
    same folder only scores what is missing or changed (an interrupted run resumes).

    Raises ``FileNotFoundError`` when a prediction has no ground truth or nothing matches.
    """
    _require()
    from concurrent.futures import ProcessPoolExecutor

    from pyEdgeEval.datasets import bsds_eval_single

    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    preds = sorted(pred_dir.glob("*.png")) if names is None else [pred_dir / f"{n}.png" for n in names]
    if missing := [p for p in preds if not p.is_file()]:
        raise FileNotFoundError(f"{len(missing)} predictions missing, e.g. {missing[0]}")
    if limit:
        preds = preds[:limit]
    if not preds:
        raise FileNotFoundError(f"no .png predictions in {pred_dir}")
    protocol = _protocol(thresholds, max_dist, apply_thinning, apply_nms)
    counts: dict[str, tuple[np.ndarray, ...]] = {}
    todo, keys = [], {}
    for p in preds:
        g = gt_dir / f"{p.stem}.mat"
        if not g.is_file():
            raise FileNotFoundError(f"no ground truth {g} for prediction {p}")
        if cache_dir is not None:
            keys[p.stem] = _counts_key(p, protocol)
            if (c := _load_counts(Path(cache_dir) / f"{p.stem}.npz", keys[p.stem])) is not None:
                counts[p.stem] = c
                continue
        todo.append(dict(name=p.stem, thresholds=thresholds, gt_path=str(g), pred_path=str(p), scale=1.0,
                         max_dist=max_dist, apply_thinning=apply_thinning, apply_nms=apply_nms))

    def done(sample: dict[str, Any], c: tuple[np.ndarray, ...]) -> None:
        counts[sample["name"]] = c
        if cache_dir is not None:
            save_npz(Path(cache_dir) / f"{sample['name']}.npz", key=np.array(keys[sample["name"]]), counts=np.stack(c))

    bar = _bar(len(todo), f"match {pred_dir.name}", progress)
    if nproc > 1 and len(todo) > 1:
        with ProcessPoolExecutor(nproc) as pool:
            for s, c in zip(todo, pool.map(bsds_eval_single, todo), strict=True):
                done(s, c)
                bar.update()
    else:
        for s in todo:
            done(s, bsds_eval_single(s))
            bar.update()
    bar.close()
    out = _summarise([counts[p.stem] for p in preds], [p.stem for p in preds], thresholds)
    out["protocol"] = protocol
    out["pred_dir"], out["gt_dir"] = str(pred_dir), str(gt_dir)
    out["cached_images"] = len(preds) - len(todo)
    return out


def _bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled or total == 0)


def plot_pr(results: dict[str, dict[str, Any]], path: str | Path, title: str = "BSDS500 boundaries") -> None:
    """Save precision-recall curves (one per method, ODS marked) with iso-F contours as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=120)
    r = np.linspace(0.01, 1, 200)
    for f in np.arange(0.1, 1.0, 0.1):
        p = f * r / (2 * r - f)
        ok = (p > 0) & (p <= 1)
        ax.plot(r[ok], p[ok], color="0.85", lw=0.7)
    for name, res in results.items():
        c = res["pr_curve"]
        rec, prec = np.array(c["recall"]), np.array(c["precision"])
        ok = (rec > 0) | (prec > 0)
        line, = ax.plot(rec[ok], prec[ok], lw=1.8, label=f"{name} ODS={res['ODS']:.3f} AP={res['AP']:.3f}")
        ax.plot([res["ODS_recall"]], [res["ODS_precision"]], "o", color=line.get_color())
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Recall", ylabel="Precision", title=title)
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.2)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format=Path(path).suffix[1:] or "png"))
    plt.close(fig)


