#!/usr/bin/env bash
# The course's experiments (issue #10) on one lent GPU, on the whole data sets: `why43`, `resnext_fix` and
# `alexnet_mnist_regularisation` (training/experiments.py), every training and test image, each row at the
# same budget (GPU_EPOCHS_WHY43 / _RESNEXT / _ALEXNET epochs a row; why43's row f 4x). The rows run in lanes,
# processes that share the GPU; each lane under a wall limit (GPU_JOB_LIMIT_S). A lane that is stopped keeps
# the rows it finished. Afterwards every experiment is collected into one results table (a row not finished
# by then is left out, and the table says which rows it has).
# Writes the small files of every row (config, metrics, evaluation, results tables; no checkpoints) as
# $OUT/exp_runs.tgz and the log as $OUT/gpu_experiments.log.
#
# Run from the repository root:   bash scripts/gpu_experiments.sh
# Knobs (environment): GPU_CIFAR (CIFAR-10 data set argument, default cifar10; e.g. npz:/tmp/cifar10.npz),
# CVZOO_DATA (data root with MNIST/), OUT (default ./gpu_out), GPU_DEVICE (cuda), GPU_JOB_LIMIT_S (400),
# GPU_EXTRA (extra `experiment` arguments for every lane).
# CPU dry run of the logic:
#     GPU_DEVICE=cpu GPU_JOB_LIMIT_S=300 GPU_EPOCHS_WHY43=1 GPU_EPOCHS_RESNEXT=1 GPU_EPOCHS_ALEXNET=1 \
#       GPU_EXTRA="--train-limit 128 --test-limit 64" OUT=/tmp/gpu_out bash scripts/gpu_experiments.sh
set -uo pipefail
source "$(dirname "$0")/gpu_common.sh"
CIFAR="${GPU_CIFAR:-cifar10}"
RUNS="${GPU_RUNS:-/tmp/cvzoo_experiments}"
DEVICE="${GPU_DEVICE:-cuda}"
LIMIT="${GPU_JOB_LIMIT_S:-400}"
EXTRA="${GPU_EXTRA:---train-limit 0 --test-limit 0}"
E_WHY43="${GPU_EPOCHS_WHY43:-5}"
E_RESNEXT="${GPU_EPOCHS_RESNEXT:-5}"
E_ALEXNET="${GPU_EPOCHS_ALEXNET:-3}"
mkdir -p "$RUNS/logs"
gpu_log gpu_experiments
echo "== $(date -u +%FT%TZ) device $DEVICE cifar $CIFAR limit ${LIMIT}s per lane; $EXTRA"

# lane: name experiment epochs data rows ("-": all); GPU_LANES_SPEC replaces the list
LANES="${GPU_LANES_SPEC:-why43_abc why43 $E_WHY43 $CIFAR a_course,b_full_image,c_no_rotation
why43_def why43 $E_WHY43 $CIFAR d_sgd_onecycle,e_label_smoothing
why43_f why43 $E_WHY43 $CIFAR f_more_epochs
resnext_ab resnext_fix $E_RESNEXT $CIFAR a_course,b_adam_1e-3
resnext_cd resnext_fix $E_RESNEXT $CIFAR c_sgd_onecycle,d_fixed
alexnet alexnet_mnist_regularisation $E_ALEXNET mnist -}"
echo "$LANES" | sed 's/^/   lane (name experiment epochs data rows): /'

experiment() {  # experiment epochs data rows [timeout]
  local rows=() t=${5:-$LIMIT}
  [ "$4" != "-" ] && rows=(--rows "$4")
  # shellcheck disable=SC2086
  timeout --signal=INT --kill-after=20 "$t" "$PY" -m training experiment "$1" --budget-epochs "$2" --data "$3" \
    "${rows[@]}" --device "$DEVICE" --out "$RUNS" --no-progress $EXTRA
}

echo "== $(date -u +%T) lanes"
pids=()
while read -r lane name epochs data rows; do
  ( t=$(date +%s); experiment "$name" "$epochs" "$data" "$rows" > "$RUNS/logs/$lane.log" 2>&1; rc=$?
    echo "   $(date -u +%T) $lane rc=$rc $(( $(date +%s) - t ))s" ) &
  pids+=($!)
done <<< "$LANES"
wait "${pids[@]}"

# one table per experiment of the lanes, of the rows whose runs finished (--rows of those only, so nothing
# trains here)
echo "== $(date -u +%T) collect"
echo "$LANES" | awk 'NF {print $2, $3, $4}' | sort -u | while read -r name epochs data; do
  done_rows=$(for m in "$RUNS/$name"/*/eval/test/metrics.json; do [ -f "$m" ] && basename "$(dirname "$(dirname "$(dirname "$m")")")"; done | sort | paste -sd, -)
  if [ -n "$done_rows" ]; then
    experiment "$name" "$epochs" "$data" "$done_rows" 120 < /dev/null > "$RUNS/logs/collect_$name.log" 2>&1; rc=$?
    echo "   $name: rows $done_rows rc=$rc"
  else
    echo "   $name: no row finished"
  fi
done

tar czf "$OUT/exp_runs.tgz" -C "$RUNS" --exclude="*.pt" --exclude="*.html" . && ls -la "$OUT"
for r in "$RUNS"/*/results.md; do echo "== $r"; cat "$r"; done
echo "== total $(( $(date +%s) - T0 ))s"
