#!/usr/bin/env bash
# Fetch (here, where PyPI is reachable) the wheels p2s needs on the lent GPU machine that
# its image lacks (it has torch, torchvision, numpy, opencv, rich, tensorboard, typer...).
# They go to .whl/ (git-ignored through .git/info/exclude); name .whl in the device
# call's carry.  Versions are the ones this project's venv resolves; Python 3.12 there.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl && mkdir -p .whl
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_24_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${PLATFORMS[@]}" -d .whl \
    mmengine==0.10.7 addict==2.4.0 yapf==0.43.0 termcolor==3.3.0 platformdirs==4.14.9 \
    albumentations==2.0.8 albucore==0.0.24 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 \
    typing-inspection==0.4.5 simsimd==6.5.16 stringzilla==5.3.2 lpips==0.1.4
du -sh .whl && ls .whl
