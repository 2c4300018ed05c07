"""The ``cvzoo`` command: ``cvzoo models`` lists the registry, ``cvzoo summary NAME`` prints a
layer-by-layer table (output shapes, parameters, totals, size in MB) with torchinfo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from zoo._registry import UnknownModelError, get_spec, list_models
from zoo.factory import create_model, model_info


def format_table(rows: list[list[str]], header: list[str]) -> str:
    """A plain left-aligned text table."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, ["-" * w for w in widths], *rows]]
    return "\n".join(lines)


def _file_size(name: str, tag: str) -> str:
    """The shipped weights file's size and storage type (``"3.95 MB fp16"``), ``""`` when not shipped."""
    import json

    from zoo.weights import CONFIG_FILE, SHIPPED_DIR, WEIGHTS_FILE

    folder = SHIPPED_DIR / f"{name}.{tag}"
    if not (folder / WEIGHTS_FILE).is_file():
        return ""
    dtype = json.loads((folder / CONFIG_FILE).read_text()).get("dtype", "float32")
    return f"; {(folder / WEIGHTS_FILE).stat().st_size / 1e6:.2f} MB {'fp16' if dtype == 'float16' else 'fp32'}"


def _weights_cell(info: dict) -> str:
    if not info["weights"]:
        return "-"
    return ", ".join(
        f"{w['tag']} ({', '.join(f'{k} {v:.4g}' for k, v in w['metrics'].items())}{_file_size(info['name'], w['tag'])})"
        for w in info["weights"]
    )


def models_table(pattern: str | None = None, task: str | None = None, markdown: bool = False) -> str:
    """The registry as a table (plain text, or Markdown for the README): name, the module that defines it,
    task, input, parameters, weights with their test metrics and, when shipped, their file's size."""
    rows, header = [], ["name", "module", "task", "input", "parameters", "weights"]
    for name in list_models(pattern, task=task):
        info = model_info(name, macs=False)
        c, h, w = info["input_size"]
        rows.append([name, info["module"], info["task"], f"{c}x{h}x{w}", f"{info['num_params']:,}",
                     _weights_cell(info)])
    if markdown:
        return "\n".join("| " + " | ".join(r) + " |" for r in [header, ["---"] * len(header), *rows])
    return format_table(rows, header)


def summary(name: str, input_size: Sequence[int] | None = None, depth: int = 3) -> str:
    """A torchinfo layer table of ``name`` at its registered input size (batch 1)."""
    import torchinfo

    spec = get_spec(name)
    size = tuple(input_size or spec.input_size)
    model = create_model(name).eval()
    stats = torchinfo.summary(model, input_size=(1, *size), depth=depth, verbose=0,
                              col_names=("output_size", "num_params"))
    from zoo.flops import count_macs

    macs = count_macs(name, tuple(size))
    return f"{stats}\nMultiply-accumulates at 1x{size[0]}x{size[1]}x{size[2]}: {macs:,} ({macs / 1e9:.3f} G)" \
           " [torch.utils.flop_counter]"


def compare_table() -> str:
    """The lecture's comparison table (params, GMACs, top-1/top-5) for every ImageNet architecture."""
    from zoo.flops import comparison_rows

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    rows = [[r["name"], f"{r['params'] / 1e6:.1f}M", f"{r['gmacs']:.2f}", pct(r["top1"]), pct(r["top5"]),
             pct(r["lecture_top5"])] for r in comparison_rows()]
    table = format_table(rows, ["name", "params", "GMACs", "top-1 %", "top-5 %", "lecture top-5 %"])
    return (table + "\n\nGMACs: counted by cvzoo at 224x224 (227 for alexnet_2012) with torch.utils.flop_counter."
            "\ntop-1/top-5: published by torchvision for its IMAGENET1K_V1 weights (single 224 crop), "
            "not measured here.\nlecture top-5: the course lecture's table, as printed.")


def build_parser() -> argparse.ArgumentParser:
    """The ``cvzoo`` command line: models, summary, compare, segment."""
    parser = argparse.ArgumentParser(prog="cvzoo", description="cvzoo: a model zoo for classic computer vision")
    sub = parser.add_subparsers(dest="command", required=True)
    p_models = sub.add_parser("models", help="list registered models")
    p_models.add_argument("pattern", nargs="?", help="glob filter, e.g. 'resnet*'")
    p_models.add_argument("--task", choices=["classification", "segmentation"])
    p_models.add_argument("--markdown", action="store_true", help="a Markdown table (the README's)")
    p_sum = sub.add_parser("summary", help="layer-by-layer table of one model")
    p_sum.add_argument("name")
    p_sum.add_argument("--input-size", type=int, nargs=3, metavar=("C", "H", "W"))
    p_sum.add_argument("--depth", type=int, default=3)
    sub.add_parser("compare", help="the lecture's ImageNet comparison table: params, GMACs, top-1/top-5")
    p_seg = sub.add_parser("segment", help="segment an image: coloured overlay with a legend")
    p_seg.add_argument("image")
    p_seg.add_argument("-o", "--out", required=True, help="output PNG (overlay and legend)")
    p_seg.add_argument("--model", default="fcn8s_effnet_lite0",
                       help="registered segmentation model (its default weight), weights folder or run folder")
    p_seg.add_argument("--alpha", type=float, default=0.55, help="weight of the class colours in the overlay")
    p_seg.add_argument("--max-side", type=int, default=480, help="longest side the model sees (0: full size)")
    p_seg.add_argument("--mask-out", help="also write the class ids as a grey PNG")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "models":
            print(models_table(args.pattern, args.task, args.markdown))
        elif args.command == "summary":
            print(summary(args.name, args.input_size, args.depth))
        elif args.command == "compare":
            print(compare_table())
        elif args.command == "segment":
            from zoo.segment import format_info, segment_file
            from zoo.weights import WeightsNotFoundError

            try:
                print(format_info(segment_file(args.image, args.out, args.model, alpha=args.alpha,
                                               max_side=args.max_side or None, mask_out=args.mask_out)))
            except WeightsNotFoundError as err:
                raise ValueError(str(err)) from None
    except (UnknownModelError, ValueError, TypeError) as err:
        print(f"cvzoo: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
