"""``python -m training`` subcommands: fit, eval, embed, pack, recipes.

    python -m training fit MODEL --data DATASET [--recipe R] [--epochs N] [--out RUN_DIR]
    python -m training fit --resume RUN_DIR
    python -m training eval RUN_DIR_OR_MODEL --data DATASET --split test
    python -m training embed RUN_DIR_OR_MODEL --data cifar10 --split test [-o FILE.npz]
    python -m training pack cifar10 -o cifar10.npz
    python -m training ensemble [MEMBER ...] [--data cifar10]   (run folders, weights folders, weight ids)
    python -m training recipes [--model MODEL]
    python -m training experiment NAME [--budget-epochs N] [--train-limit N] [--out DIR]   (--list lists them)
    python -m training course-ensemble --data imagefolder:DIR [--pretrained torchvision] [--out DIR]

Under ``torchrun --nproc_per_node N python -m training fit ...`` training runs data-parallel.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from collections.abc import Callable
from typing import Any


def _value(text: str) -> Any:
    if "," in text and not text.startswith(("(", "[", "{")):
        return tuple(_value(t) for t in text.split(","))
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _overrides(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for p in pairs:
        key, sep, val = p.partition("=")
        if not sep:
            raise SystemExit(f"error: --set expects KEY=VALUE, got {p!r}")
        out[key.strip().replace("-", "_")] = _value(val.strip())
    return out


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training", description="Train and evaluate cvzoo models.")
    sub = ap.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fit", help="train a model; writes a run folder")
    f.add_argument("model", nargs="?", help="registry name (default: the recipe's model)")
    f.add_argument("--data", help="mnist, cifar10, npz:FILE, imagefolder:DIR, ... (default: the recipe's)")
    f.add_argument("--recipe", help="recipe name (`python -m training recipes` lists them)")
    f.add_argument("--epochs", type=int)
    f.add_argument("--batch-size", type=int)
    f.add_argument("--lr", type=float)
    f.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any recipe field")
    f.add_argument("--out", help="run folder (default: $CVZOO_RUNS or ./runs, then MODEL_DATA_TIME)")
    f.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    f.add_argument("--checkpoint-minutes", type=float, metavar="M",
                   help="also checkpoint part-way through an epoch, every M minutes (one process; for epochs "
                        "longer than a sitting: --resume continues from there exactly)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--data-root", help="data root (default: $CVZOO_DATA, else ../shared/data)")
    f.add_argument("--device", help="auto, cpu, cuda, mps (default: the recipe's)")
    f.add_argument("--pretrained", help="start from a run folder or a zoo weight ('default' for the default)")
    f.add_argument("--freeze-backbone", action="store_true", help="train only the (replaced) head")
    f.add_argument("--num-classes", type=int, help="classes of the new head (default: the data set's)")
    f.add_argument("--train-limit", type=int, help="use only this many training images")
    f.add_argument("--test-limit", type=int, help="use only this many test images")
    f.add_argument("--no-progress", action="store_true")

    e = sub.add_parser("eval", help="evaluate a run folder or a registry model; writes eval/<split>/")
    e.add_argument("target", metavar="RUN_DIR_OR_MODEL")
    e.add_argument("--data", help="data set (default: the run's)")
    e.add_argument("--split", default="test", choices=("train", "test", "val"))
    e.add_argument("--data-root")
    e.add_argument("--device")
    e.add_argument("--limit", type=int)
    e.add_argument("--out", help="output folder (default: RUN_DIR/eval/SPLIT)")
    e.add_argument("--tta-flip", action="store_true",
                   help="average the logits with the horizontally flipped image's (classification without it: the "
                        "run's recipe decides)")

    m = sub.add_parser("embed", help="export penultimate features, t-SNE and thumbnails to one .npz")
    m.add_argument("target", metavar="RUN_DIR_OR_MODEL")
    m.add_argument("--data", help="data set (default: the run's)")
    m.add_argument("--split", default="test", choices=("train", "test", "val"))
    m.add_argument("--data-root")
    m.add_argument("--device")
    m.add_argument("--limit", type=int, help="embed only this many images (seeded subset)")
    m.add_argument("--keep", type=int, help="t-SNE over all, then write only this many points (seeded)")
    m.add_argument("--no-features", action="store_true", help="leave the features out (a small file to ship)")
    m.add_argument("-o", "--out", help="output file (default: RUN_DIR/embeddings_SPLIT.npz)")
    m.add_argument("--panels", action="store_true",
                   help="also draw the t-SNE in panels of 10 classes (PNG + HTML; automatic above 10 classes)")
    m.add_argument("--from-file", action="store_true", help="TARGET is an embeddings .npz: only draw its panels")

    p = sub.add_parser("pack", help="write a data set's train and test splits to one compressed .npz")
    p.add_argument("data")
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--data-root")

    en = sub.add_parser("ensemble", help="accuracy of zoo's Ensemble (averaged softmax) beside each member's")
    en.add_argument("members", nargs="*", metavar="MEMBER",
                    help="run folders, weights folders or weight ids (MODEL.TAG); default: the published "
                         "ensemble's members (zoo.models.ensemble.TRAINED_MEMBERS)")
    en.add_argument("--data", help="data set (default: the first run's; cifar10 for the published members)")
    en.add_argument("--split", default="test", choices=("train", "test", "val"))
    en.add_argument("--weights", type=float, nargs="+")
    en.add_argument("--data-root")
    en.add_argument("--device")
    en.add_argument("--limit", type=int)
    en.add_argument("--out", help="folder for ensemble.json")

    x = sub.add_parser("export", help="write a run's weights folder (model.safetensors, config.json, model card)")
    x.add_argument("run_dir")
    x.add_argument("-o", "--out", required=True, help="the weights folder to write")
    x.add_argument("--tag", help="weight tag (default: the data set), the id is MODEL.TAG")
    x.add_argument("--half", action="store_true", help="store floating-point tensors as fp16")
    x.add_argument("--org", help="Hugging Face organisation of the repo id (default: zoo.weights.HUB_ORG)")

    u = sub.add_parser("publish", help="upload a weights folder to the Hugging Face Hub")
    u.add_argument("folder")
    u.add_argument("--repo-id", required=True, help="ORG/NAME")
    u.add_argument("--private", action="store_true")
    u.add_argument("--revision-notes", help="commit description")
    u.add_argument("--dry-run", action="store_true", help="show what would be uploaded; call nothing")

    r = sub.add_parser("recipes", help="list the recipes")
    r.add_argument("--model")

    xp = sub.add_parser("experiment", help="run a named experiment's rows (fit runs) and write its results table")
    xp.add_argument("name", nargs="?", help="why43, resnext_fix, plain_vs_residual, transfer, "
                                            "alexnet_mnist_regularisation (--list describes them)")
    xp.add_argument("--list", action="store_true", help="describe the experiments and their rows")
    xp.add_argument("--budget-epochs", type=int, help="epochs per row (default: the experiment's CPU budget)")
    xp.add_argument("--train-limit", type=int, help="training images per row (0: all; default: the experiment's)")
    xp.add_argument("--test-limit", type=int, help="test images (0: all; default: the experiment's)")
    xp.add_argument("--rows", help="comma-separated row names (default: all)")
    xp.add_argument("--data", help="data set (default: the experiment's), e.g. npz:/path/cifar10.npz")
    xp.add_argument("--data-root")
    xp.add_argument("--device")
    xp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="recipe field for every row, e.g. threads=2")
    xp.add_argument("--out", help="experiments folder (default: $CVZOO_RUNS/experiments or runs/experiments)")
    xp.add_argument("--no-progress", action="store_true")

    ce = sub.add_parser("course-ensemble", help="the course's 8-model, 50-class ensemble over an image folder")
    ce.add_argument("--data", required=True, help="imagefolder:DIR with DIR/<train|val>/<class>/<image>")
    ce.add_argument("--out", required=True, help="folder for the members' weights and ensemble.json")
    ce.add_argument("--pretrained", help="'torchvision' for ImageNet initialisation (needs the weights cached)")
    ce.add_argument("--members", help="comma-separated member names (default: all eight)")
    ce.add_argument("--image-size", type=int, default=224, help="input side in pixels (default 224)")
    ce.add_argument("--epochs", type=int, default=5)
    ce.add_argument("--max-steps", type=int, help="stop each member after this many steps (a smoke test)")
    ce.add_argument("--batch-size", type=int, default=32)
    ce.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (default 1e-4)")
    ce.add_argument("--train-limit", type=int)
    ce.add_argument("--test-limit", type=int)
    ce.add_argument("--data-root")
    ce.add_argument("--device")
    return ap


def main(argv: list[str] | None = None) -> int:
    import zoo
    from training.data import DatasetNotFoundError
    from training.errors import ConfigError
    from training.recipes import UnknownRecipeError
    from zoo.weights import WeightsNotFoundError

    args = build_parser().parse_args(argv)
    if args.command in ("fit", "experiment", "course-ensemble"):
        _print_allocator_tip(args.device, argv)
    try:
        return _run(args)
    except (ConfigError, DatasetNotFoundError, UnknownRecipeError, zoo.UnknownModelError, WeightsNotFoundError,
            FileNotFoundError, ValueError, TypeError) as exc:
        if os.environ.get("CVZOO_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _print_allocator_tip(device: str | None, argv: list[str] | None) -> None:
    """On the CPU with glibc's malloc, say how to train faster with tcmalloc (:mod:`training.allocator`)."""
    import torch

    from training.allocator import print_allocator_tip

    if device == "cpu" or (device is None and not torch.cuda.is_available()):
        print_allocator_tip(" ".join(["python", "-m", "training", *(sys.argv[1:] if argv is None else argv)]))


def _fit(args: argparse.Namespace) -> int:
    import zoo
    from training.loop import fit

    overrides = _overrides(args.set)
    for key in ("batch_size", "lr"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    kwargs = {"num_classes": args.num_classes} if args.num_classes else {}
    if not args.resume and not args.model and not args.recipe:
        raise SystemExit("error: give a MODEL (and --data) or a --recipe, or --resume RUN_DIR")
    if not args.resume and args.model and not args.data and not args.recipe:
        raise SystemExit("error: give --data (or a --recipe that names its data set)")
    model = zoo.get_spec(args.model).name if args.model else None  # a former name: its model, with a warning
    res = fit(model, args.data, args.recipe, out=args.out, epochs=args.epochs, seed=args.seed,
              data_root=args.data_root, device=args.device, overrides=overrides, model_kwargs=kwargs,
              train_limit=args.train_limit, test_limit=args.test_limit, pretrained=args.pretrained,
              freeze=args.freeze_backbone, resume=args.resume, progress=not args.no_progress,
              checkpoint_every_s=None if args.checkpoint_minutes is None else 60 * args.checkpoint_minutes)
    print(json.dumps({"run_dir": str(res.run_dir), **res.metrics}))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate

    # without --tta-flip, a classification run keeps its recipe's choice (segmentation: off)
    res = evaluate(args.target, args.data, args.split, data_root=args.data_root, limit=args.limit,
                   device=args.device, out_dir=args.out, tta_flip=args.tta_flip or None)
    print(json.dumps({k: v for k, v in res.items() if k != "per_class_accuracy"}))
    return 0


def _embed(args: argparse.Namespace) -> int:
    from pathlib import Path

    from training.embed import embed, read_embeddings, write_panels

    if args.from_file:
        path = Path(args.target)
    else:
        path = embed(args.target, args.data, args.split, out=args.out, data_root=args.data_root,
                     limit=args.limit, device=args.device, keep=args.keep, features=not args.no_features)
    print(path)
    emb = read_embeddings(path)
    if args.panels or args.from_file or len(emb.classes) > 10:
        for p in write_panels(emb, path.with_suffix("")):
            print(p)
    return 0


def _pack(args: argparse.Namespace) -> int:
    from training.data import pack

    print(pack(args.data, args.out, root=args.data_root))
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate_ensemble
    from zoo.models.ensemble import CIFAR10_WEIGHT, TRAINED_MEMBERS

    members, data = args.members, args.data
    if not members:
        members, data = list(TRAINED_MEMBERS), data or CIFAR10_WEIGHT.dataset
    res = evaluate_ensemble(members, data, args.split, weights=args.weights, data_root=args.data_root,
                            limit=args.limit, device=args.device, out_dir=args.out)
    print(json.dumps(res))
    return 0


def _export(args: argparse.Namespace) -> int:
    from training.export import export
    from zoo.weights import HUB_ORG

    cfg = export(args.run_dir, args.out, tag=args.tag, half=args.half, org=args.org or HUB_ORG)
    print(json.dumps({"folder": args.out, "sha256": cfg["sha256"], "metrics": cfg["metrics"],
                      "record_missing": cfg.get("record_missing", [])}))
    return 0


def _publish(args: argparse.Namespace) -> int:
    from training.publish import publish

    res = publish(args.folder, args.repo_id, private=args.private, notes=args.revision_notes, dry_run=args.dry_run)
    print(json.dumps(res))
    if not args.dry_run:
        print(f"pin this revision in the registry entry: revision={res['commit']!r}")
    return 0


def _recipes(args: argparse.Namespace) -> int:
    from training.recipes import RECIPES

    for name, r in sorted(RECIPES.items()):
        if args.model is None or r.model == args.model or args.model in r.models:
            model = r.model + (f" (+{len(r.models)})" if r.models else "")
            print(f"{name:32s} {model:16s} {r.data:8s} {r.epochs:4d} ep  {r.notes.split('.')[0]}")
    return 0


def _experiment(args: argparse.Namespace) -> int:
    from training.experiments import describe, run_experiment

    if args.list or not args.name:
        print(describe(args.name))
        return 0
    res = run_experiment(args.name, args.out, budget_epochs=args.budget_epochs, train_limit=args.train_limit,
                         test_limit=args.test_limit, data=args.data, data_root=args.data_root,
                         rows=args.rows.split(",") if args.rows else None, overrides=_overrides(args.set),
                         device=args.device, progress=not args.no_progress)
    for r in res["rows"]:
        print(json.dumps({k: r.get(k) for k in ("row", "status", "epochs", "test_acc", "train_wall_s")}))
    return 0


def _course_ensemble(args: argparse.Namespace) -> int:
    from training.course_ensemble import fit_course_ensemble

    res = fit_course_ensemble(args.data, args.out, pretrained=args.pretrained,
                              members=args.members.split(",") if args.members else None,
                              image_size=args.image_size, epochs=args.epochs, max_steps=args.max_steps,
                              batch_size=args.batch_size, lr=args.lr, train_limit=args.train_limit,
                              test_limit=args.test_limit, data_root=args.data_root, device=args.device)
    print(json.dumps({k: v for k, v in res.items() if k != "per_member"}))
    return 0


# Each subcommand's handler: parsed arguments in, exit status out (results printed as JSON lines or text).
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "fit": _fit, "eval": _eval, "embed": _embed, "pack": _pack, "ensemble": _ensemble, "export": _export,
    "publish": _publish, "recipes": _recipes, "experiment": _experiment, "course-ensemble": _course_ensemble,
}


def _run(args: argparse.Namespace) -> int:
    return COMMANDS[args.command](args)
