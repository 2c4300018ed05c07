"""Command line: ``python -m pblite {run, eval, bench-bsds}``.

* ``run IMAGE_OR_DIR... -o OUT``: pb map (8-bit PNG) and comparison figure per image.
* ``eval --pred DIR --gt DIR``: ODS/OIS/AP of a folder of predictions against BSDS ``.mat`` files.
* ``bench-bsds --split val``: Sobel, Canny and pb-lite on a BSDS500 split, scored in one run.
* ``tune --split train``: search the cue combination on a split with a fast proxy score.

The data root is ``--data-root``, else ``$CVZOO_DATA``, else ``<repo>/../shared/data`` if it exists.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .io import IMAGE_SUFFIXES, ImageError, load_image, save_png
from .pipeline import PRESETS, PbConfig, detect

__all__ = ["default_data_root", "main"]

METHODS = ("sobel", "canny", "pblite")
PRESET_HELP = "pb-lite settings: 'default' (the assignment's formula) or 'bsds' (tuned on BSDS500 train)"


def default_data_root() -> Path | None:
    """``$CVZOO_DATA`` if set, else ``<repo root>/../shared/data`` when that folder exists, else None.

    The rule of ``zoo.paths.data_root``, repeated because pblite imports nothing of cvzoo's other packages.
    """
    env = os.environ.get("CVZOO_DATA")
    if env:
        return Path(env)
    cand = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return cand if cand.is_dir() else None


def _images(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
        else:
            out.append(p)
    return out


def _progress(it, total: int, desc: str):
    try:
        from tqdm import tqdm

        return tqdm(it, total=total, desc=desc, file=sys.stderr)
    except ImportError:  # pragma: no cover
        return it


def _write_gray(path: Path, x: np.ndarray) -> None:
    """Write a map in [0, 1] as an 8-bit PNG."""
    save_png(path, np.round(np.clip(x, 0, 1) * 255).astype(np.uint8))


def cmd_run(args: argparse.Namespace) -> int:
    from .figures import comparison, save_intermediates

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    images = _images(args.inputs)
    if not images:
        print("no images found", file=sys.stderr)
        return 2
    config = PbConfig.preset(args.preset, threads=args.threads)
    failed = 0
    for i, path in enumerate(_progress(images, len(images), "pb-lite")):
        try:
            notes: list[str] = []
            rgb = load_image(path, notes)
            res = detect(rgb, config, device=args.device)
        except ImageError as e:
            print(f"skipped: {e}", file=sys.stderr)
            failed += 1
            continue
        for n in notes + res.notes:
            print(f"{path.name}: {n}", file=sys.stderr)
        _write_gray(out / f"{path.stem}_pb.png", res.pb)
        save_png(out / f"{path.stem}_compare.png", comparison(rgb, res))
        if args.save_intermediates:
            save_intermediates(out / "intermediates", path.stem, res, config, banks=(i == 0))
    return 1 if failed else 0


def _print_table(rows: dict[str, dict]) -> None:
    try:
        from prettytable import PrettyTable

        t = PrettyTable(["method", "ODS", "OIS", "AP", "images", "thresholds"])
        for k, v in rows.items():
            t.add_row([k, f"{v['ODS']:.3f}", f"{v['OIS']:.3f}", f"{v['AP']:.3f}", v["n_images"],
                       v["protocol"]["thresholds"]])
        print(t)
    except ImportError:  # pragma: no cover
        for k, v in rows.items():
            print(f"{k:8s} ODS {v['ODS']:.3f} OIS {v['OIS']:.3f} AP {v['AP']:.3f}")


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_dir
    from .io import save_json

    res = evaluate_dir(args.pred, args.gt, thresholds=args.thresholds, nproc=args.nproc, limit=args.limit,
                       cache_dir=args.cache)
    _print_table({Path(args.pred).name: res})
    if args.json:
        save_json(res, args.json)
    return 0


def _bsds_split(data_root: str | None, split: str) -> tuple[Path, Path] | None:
    """``(images, groundTruth)`` folders of a BSDS500 split, or None after printing where it looked."""
    root = Path(data_root) if data_root else default_data_root()
    if root is None:
        print("no data root: pass --data-root or set CVZOO_DATA", file=sys.stderr)
        return None
    bsds = root / "BSDS500" if (root / "BSDS500").is_dir() else root
    img_dir, gt_dir = bsds / "images" / split, bsds / "groundTruth" / split
    if not img_dir.is_dir() or not gt_dir.is_dir():
        print(f"BSDS500 split not found under {bsds} ({img_dir}, {gt_dir})", file=sys.stderr)
        return None
    return img_dir, gt_dir


def cmd_bench(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_dir, plot_pr
    from .io import save_json

    if (dirs := _bsds_split(args.data_root, args.split)) is None:
        return 2
    img_dir, gt_dir = dirs
    images = sorted(img_dir.glob("*.jpg"))[: args.limit or None]
    methods = [m.strip() for m in args.methods.split(",")]
    if bad := sorted(set(methods) - set(METHODS)):
        print(f"unknown methods {bad}; choose from {METHODS}", file=sys.stderr)
        return 2
    out = Path(args.out)
    for m in methods:
        (out / "pred" / m).mkdir(parents=True, exist_ok=True)
    config = PbConfig.preset(args.preset, threads=args.threads)
    stamp = out / "detect_config.json"
    fields = {k: v for k, v in json.loads(json.dumps(config.__dict__)).items() if k != "threads"}
    if args.resume and stamp.is_file() and json.loads(stamp.read_text()) != fields:
        print(f"the predictions in {out} were made with another PbConfig ({stamp}); use a new --out",
              file=sys.stderr)
        return 2
    save_json(fields, stamp)
    t0 = time.perf_counter()
    todo = [p for p in images if not (args.resume and all((out / "pred" / m / f"{p.stem}.png").is_file()
                                                           for m in methods))]
    for path in _progress(todo, len(todo), f"detect {args.split}"):
        res = detect(load_image(path), config)
        maps = {"sobel": res.sobel, "canny": res.canny, "pblite": res.pb_thin}
        for m in methods:
            _write_gray(out / "pred" / m / f"{path.stem}.png", maps[m])
    t_detect = time.perf_counter() - t0
    results = {}
    for m in methods:
        t1 = time.perf_counter()
        results[m] = evaluate_dir(out / "pred" / m, gt_dir, thresholds=args.thresholds, nproc=args.nproc,
                                  names=[p.stem for p in images], cache_dir=out / "counts" / m)
        results[m]["eval_seconds"] = time.perf_counter() - t1
        results[m]["prediction"] = {"sobel": "PbResult.sobel (no NMS)", "canny": "PbResult.canny (soft Canny, no NMS)",
                                    "pblite": "PbResult.pb_thin (pb-lite after NMS)"}[m]
        save_json(results[m], out / f"results_{m}.json")
    meta = {
        "split": args.split, "n_images": len(images), "preset": args.preset, "config": config.__dict__,
        "detect_seconds": t_detect,
        "detected_images": len(todo),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "nproc": args.nproc, "command": " ".join(sys.argv),
    }
    save_json({"meta": meta, "results": results}, out / "results.json")
    plot_pr(results, out / "pr.png", title=f"BSDS500 {args.split} ({len(images)} images, {args.thresholds} thresholds)")
    _print_table(results)
    print(f"results: {out / 'results.json'}  plot: {out / 'pr.png'}")
    return 0


def _overrides(pairs: list[str]) -> dict[str, object]:
    """``["radii=5,10", "reduction=max"]`` -> ``{"radii": (5, 10), "reduction": "max"}`` (Python literals;
    a comma makes a tuple; anything else is a string)."""
    import ast

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        try:
            value = ast.literal_eval(text if "," not in text or text.startswith(("(", "[")) else f"({text},)")
        except (ValueError, SyntaxError):
            value = text
        out[key.strip()] = tuple(value) if isinstance(value, list) else value
    unknown = set(out) - set(PbConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    return out


def cmd_tune(args: argparse.Namespace) -> int:
    from .io import save_json
    from .tune import cue_cache_dir, cues_of, search, tuned_fields

    if (dirs := _bsds_split(args.data_root, args.split)) is None:
        return 2
    img_dir, gt_dir = dirs
    images = sorted(img_dir.glob("*.jpg"))[: args.limit or None]
    out = Path(args.out)
    try:
        base = PbConfig(**{**_overrides(args.set), "threads": args.threads})
    except (TypeError, ValueError) as e:
        print(f"--set: {e} (fields: {', '.join(PbConfig.__dataclass_fields__)})", file=sys.stderr)
        return 2
    cache = cue_cache_dir(out, base)
    old_threads = torch.get_num_threads()
    if args.threads:  # the search's small tensor ops too, not only detect
        torch.set_num_threads(args.threads)
    try:
        t0 = time.perf_counter()
        cues = [cues_of(p, gt_dir / f"{p.stem}.mat", cache, base)
                for p in _progress(images, len(images), f"cues {args.split}")]
        t_cues = time.perf_counter() - t0
        best, rows = search(cues, base, args.thresholds)
    finally:
        torch.set_num_threads(old_threads)
    fields = tuned_fields(best, base)
    save_json({"split": args.split, "n_images": len(images), "thresholds": args.thresholds, "best": fields,
               "base": tuned_fields(base, PbConfig(threads=args.threads)), "cue_cache": str(cache),
               "rows": rows, "cue_seconds": t_cues, "search_seconds": time.perf_counter() - t0 - t_cues,
               "command": " ".join(sys.argv)}, out / "tune.json")
    print(f"best on {args.split} ({len(images)} images, proxy): {fields or 'the defaults'}; {out / 'tune.json'}")
    return 0


def _add_split_args(p: argparse.ArgumentParser, split: str, thresholds: int, thresholds_help: str) -> None:
    """The options bench-bsds and tune share: which BSDS500 images, how many thresholds, detect's threads."""
    p.add_argument("--split", default=split, choices=("train", "val", "test"))
    p.add_argument("--data-root", default=None, help="folder holding BSDS500/ (default $CVZOO_DATA)")
    p.add_argument("--limit", type=int, default=0, help="first N images only")
    p.add_argument("--thresholds", type=int, default=thresholds, help=thresholds_help)
    p.add_argument("--threads", type=int, default=0, help="torch threads for detect")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pblite", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="pb maps and comparison figures for images or folders")
    r.add_argument("inputs", nargs="+", help="image files or folders")
    r.add_argument("-o", "--output", required=True, help="output folder")
    r.add_argument("--save-intermediates", action="store_true", help="also write banks, masks, maps, gradients")
    r.add_argument("--device", default=None, help="torch device, e.g. cuda (default cpu)")
    r.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    r.add_argument("--preset", default="default", choices=sorted(PRESETS), help=PRESET_HELP)
    r.set_defaults(func=cmd_run)
    e = sub.add_parser("eval", help="ODS/OIS/AP of a prediction folder against BSDS ground truth")
    e.add_argument("--pred", required=True, help="folder of <id>.png predictions (8-bit)")
    e.add_argument("--gt", required=True, help="folder of <id>.mat BSDS ground truth")
    e.add_argument("--thresholds", type=int, default=99, help="number of thresholds (99: standard)")
    e.add_argument("--nproc", type=int, default=1, help="matcher processes")
    e.add_argument("--limit", type=int, default=0, help="first N predictions only")
    e.add_argument("--json", default=None, help="write the full result (PR curve, per image, protocol) here")
    e.add_argument("--cache", default=None,
                   help="folder of per-image counts (a rerun scores only new or changed images)")
    e.set_defaults(func=cmd_eval)
    b = sub.add_parser("bench-bsds", help="Sobel, Canny and pb-lite on a BSDS500 split")
    _add_split_args(b, "val", 99, "number of thresholds (99: standard)")
    b.add_argument("--nproc", type=int, default=1, help="matcher processes")
    b.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of sobel,canny,pblite")
    b.add_argument("--preset", default="default", choices=sorted(PRESETS), help=PRESET_HELP)
    b.add_argument("--out", default="runs/pblite-bsds", help="run folder (predictions, results.json, pr.png)")
    b.add_argument("--resume", action="store_true",
                   help="keep the predictions already in --out (scores are always cached per image in OUT/counts)")
    b.set_defaults(func=cmd_bench)
    t = sub.add_parser("tune", help="search pb-lite's cue combination on a BSDS500 split (fast proxy score)")
    _add_split_args(t, "train", 19, "thresholds of the proxy score")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="base PbConfig field, e.g. reduction=max or radii=5,10,15,20 (repeatable)")
    t.add_argument("--out", default="runs/pblite-tune", help="folder for cues/ (cache) and tune.json")
    t.set_defaults(func=cmd_tune)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
