# Sourced by the device scripts (run_benchmarks.sh, run_compiled_training.sh): the wheels
# from .whl, the environment, and stage(), which bounds one measurement.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=${OUT:-bench_out}; mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheels missing: run benchmarks/device/fetch_wheels.sh here and carry .whl"; exit 2; }
# albumentations asks PyPI for a newer release at every import (p2s imports it): that machine
# reaches nothing, so each stage and each p2s train run could wait on DNS for seconds
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"

stage() {  # stage SECONDS NAME COMMAND...: one measurement, bounded so the others still run
    local limit=$1 name=$2; shift 2
    echo "== $name =="; local begin=$SECONDS
    timeout "$limit" "$@" || echo "!! $name stopped (exit $?)"
    echo "-- $name: $(( SECONDS - begin )) s"
}
