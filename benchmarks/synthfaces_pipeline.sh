#!/usr/bin/env bash
# Rebuild the shipped synthetic-face models (p2s/zoo) from nothing, then record their
# held-out figures.  These are the commands behind the shipped files; on 2 CPU cores
# the defaults take about 2 h 20 min (generator 70 min at 0.7-0.8 s per iteration,
# then the encoders two at a time, about 17 min a pair).
#
#   bash benchmarks/synthfaces_pipeline.sh [GAN_ITERS] [ENCODER_ITERS] [JOBS]
#
# JOBS encoders train side by side (each with nproc / JOBS threads).  Use a GPU by adding
# nothing: p2s train picks CUDA when PyTorch sees one.
set -euo pipefail
GAN_ITERS=${1:-5000}
ENC_ITERS=${2:-3000}
JOBS=${3:-2}
WORK=${WORK:-work_dirs/synthfaces}
THREADS=$(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 ))

p2s data synthfaces --n 6226 --size 64 --seed 0 --out data/synthfaces_64
p2s data synthfaces --n 500 --size 64 --seed 1 --out data/synthfaces_64_heldout

p2s train configs/stylegan2/synthfaces_64_small.py --work-dir "$WORK/generator" \
    train_cfg.max_iters="$GAN_ITERS" train_dataloader.dataset.root=data/synthfaces_64/images \
    val_dataloader.dataset.root=data/synthfaces_64/images
p2s data export-generator "$WORK/generator/iter_$GAN_ITERS.pth" "$WORK/synthfaces-generator.pt"
p2s zoo pack "$WORK/synthfaces-generator.pt" --kind generator --name synthfaces-generator \
    --description "StyleGAN2, 64 px, w_dim 128, trained on rendered faces"

# task -> source folder, target folder (of a synthfaces data set)
declare -A SOURCE=([inversion]=images [inversion-wplus]=images [inversion-w]=images [frontalization]=images
                   [sketch2face]=sketches [seg2face]=labels [superres]=images [inpainting]=images)
declare -A TARGET=([frontalization]=frontal)
train_one() {
    OMP_NUM_THREADS=$THREADS p2s train "configs/synthfaces/psp_small_$1_synthfaces-64.py" \
        --work-dir "$WORK/$1" train_cfg.max_iters="$ENC_ITERS" train_cfg.val_interval=600 > "$WORK/$1.log" 2>&1
}
mkdir -p "$WORK"
for task in "${!SOURCE[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 5; done
    train_one "$task" &
done
wait
for task in "${!SOURCE[@]}"; do
    extra=()
    case "$task" in inversion-*) extra=(--compare-with synthfaces-inversion) ;; esac
    p2s zoo pack "$WORK/$task/iter_$ENC_ITERS.pth" --name "synthfaces-$task" --generator synthfaces-generator \
        --source "${SOURCE[$task]}" --target "${TARGET[$task]:-images}" "${extra[@]}"
done
python benchmarks/synthfaces_results.py --faces data/synthfaces_64_heldout --n 500 --record
