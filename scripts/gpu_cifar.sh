#!/usr/bin/env bash
# Classification on one lent GPU (H100/H200, 16 cores): the CIFAR-10 GPU recipes, the course's networks with
# course_cifar10_gpu, cifar_cnn_cifar10_gpu, and alexnet_mnist; then the ensemble of the CIFAR-10 runs.
#   Jobs run in GPU_LANES lanes (default 2) that share the GPU, each lane one job after another, each job at its
#   recipe's epochs under a wall limit (GPU_JOB_LIMIT_S; a stopped fit keeps its last epoch's checkpoint and is
#   evaluated as it stands, and says so in the summary). Measured on an H100 (training/RESULTS.md): two jobs
#   side by side train at 22-29k images/s each (resnet18_cifar's 40 epochs in 106 s), while eight at once
#   shared ~20k images/s among them; the whole list needs about 14 GPU-minutes, so on a 15-minute lease
#   split it over calls with GPU_JOBS.
# Writes a ready weights folder of every model it trains to $OUT/weights/MODEL.TAG (gpu_export in gpu_common.sh),
# the small files of every run (config, metrics, evaluation; no checkpoints) as $OUT/cls_runs.tgz and the
# log as $OUT/gpu_cifar.log.
#
# Run from the repository root:   bash scripts/gpu_cifar.sh
# Knobs (environment): CVZOO_DATA (data root with cifar10/ and MNIST/), GPU_CIFAR (the CIFAR-10 data set
# argument, default cifar10; e.g. npz:/tmp/cifar10.npz), OUT (default ./gpu_out), GPU_JOBS (a subset of the job
# names below, in the order to run), GPU_LANES (2), GPU_JOB_LIMIT_S (400), GPU_DEVICE (cuda), GPU_EXTRA (extra
# `fit` arguments for every job).
# CPU dry run of the logic:
#     GPU_DEVICE=cpu GPU_JOB_LIMIT_S=60 GPU_EXTRA="--epochs 1 --train-limit 256 --test-limit 256 --set batch_size=64" \
#       GPU_JOBS="cifar_cnn course_resnext alexnet_mnist" OUT=/tmp/gpu_out bash scripts/gpu_cifar.sh
set -uo pipefail
source "$(dirname "$0")/gpu_common.sh"
CIFAR="${GPU_CIFAR:-cifar10}"
RUNS="${GPU_RUNS:-/tmp/cvzoo_cls_runs}"
DEVICE="${GPU_DEVICE:-cuda}"
LANES="${GPU_LANES:-2}"
LIMIT="${GPU_JOB_LIMIT_S:-400}"
EXTRA="${GPU_EXTRA:-}"
mkdir -p "$RUNS/logs"
gpu_log gpu_cifar
echo "== $(date -u +%FT%TZ) device $DEVICE data $CIFAR lanes $LANES limit ${LIMIT}s per job"
"$PY" -c "import torch, torchvision; print('torch', torch.__version__, 'tv', torchvision.__version__, \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no cuda')"

# name model recipe data (in priority order)
JOBS="resnet18_cifar resnet18_cifar resnet18_cifar_cifar10_gpu $CIFAR
course_resnet18_32 course_resnet18_32 course_cifar10_gpu $CIFAR
cifar_cnn cifar_cnn cifar_cnn_cifar10_gpu $CIFAR
course_resnext course_resnext course_cifar10_gpu $CIFAR
resnext29_8x16d resnext29_8x16d resnext29_8x16d_cifar10_gpu $CIFAR
resnet34_cifar resnet34_cifar resnet34_cifar_cifar10_gpu $CIFAR
alexnet_mnist alexnet alexnet_mnist mnist
course_resnet34_32 course_resnet34_32 course_cifar10_gpu $CIFAR
densenet_bc100_k12 densenet_bc100_k12 densenet_bc100_k12_cifar10_gpu $CIFAR"
if [ -n "${GPU_JOBS:-}" ]; then
  JOBS=$(for j in $GPU_JOBS; do echo "$JOBS" | awk -v n="$j" '$1 == n'; done)
fi

run_job() {  # name model recipe data
  local name=$1 model=$2 recipe=$3 data=$4 t
  t=$(date +%s)
  rm -rf "${RUNS:?}/$name"
  # shellcheck disable=SC2086
  timeout --signal=INT --kill-after=20 "$LIMIT" "$PY" -m training fit "$model" --recipe "$recipe" --data "$data" \
    --device "$DEVICE" --out "$RUNS/$name" --no-progress $EXTRA > "$RUNS/logs/$name.log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ] && [ -f "$RUNS/$name/checkpoint.pt" ]; then  # stopped at its limit: evaluate it as it stands
    touch "$RUNS/$name/STOPPED_AT_LIMIT"
    "$PY" -m training eval "$RUNS/$name" --data "$data" --split test --device "$DEVICE" >> "$RUNS/logs/$name.log" 2>&1
  fi
  echo "   $(date -u +%T) $name rc=$rc $(( $(date +%s) - t ))s"
}

echo "== $(date -u +%T) fit"
pids=()  # (a bare `wait` would also wait for the log's tee)
for lane in $(seq 0 $(( LANES - 1 ))); do
  ( echo "$JOBS" | awk -v l="$lane" -v n="$LANES" 'NF && (NR - 1) % n == l' | while read -r name model recipe data; do
      run_job "$name" "$model" "$recipe" "$data"
    done ) &
  pids+=($!)
done
wait "${pids[@]}"

# the ensemble of every CIFAR-10 run with a checkpoint (averaged softmax), on the test split
members=()
while read -r name _ _ data; do
  [ "$data" = "$CIFAR" ] && [ -f "$RUNS/$name/checkpoint.pt" ] && members+=("$RUNS/$name")
done <<< "$JOBS"
if [ "${#members[@]}" -gt 1 ]; then
  "$PY" -m training ensemble "${members[@]}" --data "$CIFAR" --device "$DEVICE" --out "$RUNS/ensemble" \
    > "$RUNS/logs/ensemble.log" 2>&1; tail -n 1 "$RUNS/logs/ensemble.log" | cut -c1-600
fi

echo "== $(date -u +%T) weights folders in $OUT/weights"
while read -r name _ _ _; do
  [ -f "$RUNS/$name/checkpoint.pt" ] && gpu_export "$RUNS/$name"
done <<< "$JOBS"

tar czf "$OUT/cls_runs.tgz" -C "$RUNS" --exclude="*.pt" --exclude="*.html" . && ls -la "$OUT"
"$PY" - "$RUNS" <<'PYEOF'
import json, sys
from pathlib import Path
for m in sorted(Path(sys.argv[1]).glob("*/eval/test/metrics.json")):
    run = m.parents[2]
    r = json.loads(m.read_text())
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    epochs = json.loads((run / "config.json").read_text())["recipe_fields"]["epochs"]
    stopped = " STOPPED AT THE LIMIT" if (run / "STOPPED_AT_LIMIT").exists() else ""
    print(f"{run.name:20s} test acc {r['accuracy']:.4f} (flip TTA {r['tta_flip']}) epochs {len(rows)}/{epochs} "
          f"train wall {rows[-1]['elapsed_s'] if rows else 0:.0f}s{stopped}")
PYEOF
echo "== total $(( $(date +%s) - T0 ))s"
