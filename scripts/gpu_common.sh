# The set-up every scripts/gpu_*.sh shares; sourced by them, not run. It makes the repository root the working
# folder and puts it on PYTHONPATH, and sets PY (the Python, $PYTHON or python3), OUT (where the results come
# back, $OUT or ./gpu_out) and T0 (the start, in seconds). `gpu_log NAME` then copies everything the script
# prints to $OUT/NAME.log.
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
REPO=$PWD
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" CVZOO_CACHE="${CVZOO_CACHE:-/tmp/cvzoo_cache}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
OUT="${OUT:-$REPO/gpu_out}"
T0=$(date +%s)

gpu_log() {
  mkdir -p "$OUT"
  exec > >(tee -a "$OUT/$1.log") 2>&1
}

# `gpu_export RUN_DIR` writes RUN_DIR's ready weights folder, $OUT/weights/MODEL.TAG (fp16 model.safetensors,
# config.json, model card, record/ with the per-epoch metrics and the test evaluation), after evaluating the run
# on the test split if its fit did not (so that the card carries measured metrics). Ship it by copying the folder
# to zoo/weights/ and declaring its WeightSpec (sha256 and metrics from its config.json).
gpu_export() {
  local run=$1 ev=$1/eval/test model tag
  [ -f "$run/checkpoint.pt" ] || { echo "   export: $run has no checkpoint"; return 1; }
  read -r model tag < <("$PY" -c "import sys; from training import runs; from training.export import dataset_name; \
c = runs.read_config(sys.argv[1]); print(c['model'], dataset_name(c['data']))" "$run")
  # a classifier's evaluation also stores its most confident mistakes (misclassified.npz); a segmenter's does not
  if [ ! -f "$ev/metrics.json" ] || { [ ! -f "$ev/misclassified.npz" ] && ! grep -q '"miou"' "$ev/metrics.json"; }; then
    "$PY" -m training eval "$run" --split test --device "${DEVICE:-cuda}" > /dev/null || return 1
  fi
  "$PY" -m training export "$run" --out "$OUT/weights/$model.$tag" --half
}
