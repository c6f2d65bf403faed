#!/usr/bin/env bash
# One GPU check of synaug (issue 21): Stable Diffusion generation through `synaug generate` on random-weight
# full-size SD-Turbo / SD 1.5 / SDXL-Turbo, training from memory and from the decoded cache through synaug's
# loop against the model's own ceiling, a profile of the compiled ResNet-50 path, and the projected GPU-hours
# of the paper's jobs. Prints one table; writes gpu_check.json, gpu_check.txt, generation.log and
# profile_trace.json.gz into $OUT when set, else into the folder given. About 6-8 minutes on one H100/H200.
#
#   bash benchmarks/gpu_check.sh [--tiny] [OUT_DIR]
#
# --tiny: tiny random models and runs on whatever device is here (seconds on a CPU; tests/test_gpu_check.py).
# Wheels in .whl/ (benchmarks/fetch_gpu_wheels.sh) are installed first, for a machine without network.
# PYTHON picks the interpreter (default python3); GPU_CHECK_WORK the scratch folder (default /tmp/gpu-check-work);
# GPU_CHECK_BUDGET_S the seconds after which optional (compiled) runs are skipped (default 450).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
tiny=()
out="${OUT:-}"
for arg in "$@"; do
  case "$arg" in
    --tiny) tiny=(--tiny) ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) out="$arg" ;;
  esac
done
if [[ -z "$out" ]]; then
  echo "usage: bash benchmarks/gpu_check.sh [--tiny] OUT_DIR   (or set OUT)" >&2
  exit 2
fi
mkdir -p "$out"
export GPU_CHECK_T0="${GPU_CHECK_T0:-$(date +%s.%N)}"  # the time budget counts from here

# Carried wheels (diffusers is not in the GPU image): installed beside, not into, the system's packages,
# and only when the interpreter lacks diffusers (a development machine keeps its own).
if ! "$py" -c "import diffusers" 2> /dev/null && compgen -G "$repo/.whl/*.whl" > /dev/null; then
  site="${GPU_CHECK_SITE:-/tmp/gpu-check-site}"
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$repo"/.whl/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
# synaug from this working tree, ahead of any installed copy
export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export TOKENIZERS_PARALLELISM=false
"$py" -c "import diffusers, transformers, torch" || {
  echo "gpu_check needs torch, transformers and diffusers (bash benchmarks/fetch_gpu_wheels.sh where PyPI is reachable, then copy .whl/ here)" >&2
  exit 2
}
exec "$py" "$repo/benchmarks/gpu_check/main.py" "${tiny[@]}" --out "$out"
