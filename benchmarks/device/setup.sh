# Sourced by the device scripts (run_benchmarks.sh, run_compiled_training.sh): the wheels
# from .whl, the environment, and stage(), which bounds one measurement.
set -uo pipefail
DEVICE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$DEVICE_DIR/../.."
OUT=${OUT:-bench_out}; mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheels missing: run benchmarks/device/fetch_wheels.sh here and carry .whl"; exit 2; }
# albumentations asks PyPI for a newer release at every import (p2s imports it): that machine
# reaches nothing, so each stage and each p2s train run could wait on DNS for seconds
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"

source "$DEVICE_DIR/stage.sh"
