#!/usr/bin/env bash
# The test suite on the lent GPU machines' software, on this machine's CPU: their image has
# torch 2.11.0, torchvision 0.26.0, numpy 2.5.2 and Python 3.12, CI has torch 2.14.1, and
# 2.11 differed exactly where the device calls need it (session 20: the compiled training
# step's gradients, the compiled decode's graph breaks).  Run it here before a device call
# that follows changes to the generator, the compiled paths or the benchmarks.
# The first run makes the venv (about 5 GB: PyPI's torch is a CUDA build); later runs reuse
# it and take about 4 minutes for the whole suite on 2 cores.
#   bash benchmarks/device/simulate_image.sh                 # the whole suite
#   bash benchmarks/device/simulate_image.sh tests/apis -x   # any pytest arguments
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${P2S_IMAGE_VENV:-/tmp/p2s-gpu-image}

find_python312() {
    local candidate
    for candidate in "${PYTHON312:-}" python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do
        [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null \
            && { echo "$candidate"; return; }
    done
    echo "simulate_image.sh needs Python 3.12 (the image's); set PYTHON312=/path/to/python3.12" >&2
    exit 2
}

if [ ! -x "$VENV/bin/python" ]; then
    "$(find_python312)" -m venv "$VENV"
    "$VENV/bin/pip" install -q torch==2.11.0 torchvision==0.26.0 numpy==2.5.2
fi
"$VENV/bin/pip" install -q -e ".[dev]"  # keeps the torch above: it satisfies the project's range
"$VENV/bin/python" -c 'import sys, numpy, torch; print("torch", torch.__version__, "numpy", numpy.__version__, "Python", sys.version.split()[0])'
NO_ALBUMENTATIONS_UPDATE=1 exec "$VENV/bin/python" -m pytest -q -n 2 --dist loadfile -p no:cacheprovider \
    -W ignore::DeprecationWarning "${@:-tests}"
