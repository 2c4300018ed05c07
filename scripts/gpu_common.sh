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
