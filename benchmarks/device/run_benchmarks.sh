#!/usr/bin/env bash
# The issue-5 GPU measurements in one device call (about 7-9 minutes on an H100/H200;
# the fixed stage limits add up to 465 s, and the last stage, torch.compile's, takes what
# is left of 590 s: at least about 110 s, more when the stages before it end early).
# Here first: bash benchmarks/device/fetch_wheels.sh; then through the device tool:
#   run(command="bash benchmarks/device/run_benchmarks.sh", carry=[".whl"], timeout_s=600)
# Every table but the profile's, the NCHW check's and the host time's is also written as JSON
# under $OUT; log.txt holds the whole output, those three tables too (the device tool brings
# back at most 8 files: log.txt and the 7 JSON tables; tests/benchmarks counts them).  Rows
# are printed and written as they are measured, so a stage stopped at its limit keeps its rows, and a batch that runs out of memory
# is one row of its table.  tests/benchmarks runs every script once on CPU and parses every
# command below, so a broken flag shows in CI, not on the device.
source "$(dirname "$0")/setup.sh"

stage 90 "inference, eager" python3 benchmarks/translate.py --device cuda --batch-sizes 1 8 32 64 \
    --precisions fp32 tf32 bf16 --warmup 3 --repeats 10 --json "$OUT/translate.json"
stage 15 "host time of one eager pass on this CPU (what batch-1 latency is without graphs)" python3 \
    benchmarks/host_overhead.py --batch-sizes 1 32 --repeats 3
stage 40 "inference, CUDA graphs of the eager model (is batch 1 launch-bound?), fp32 first" python3 \
    benchmarks/translate.py --device cuda --batch-sizes 1 32 --precisions fp32 bf16 --cuda-graphs --warmup 3 \
    --repeats 10 --json "$OUT/translate_cuda_graphs.json"
stage 30 "inference, eager, NCHW (is channels_last the right default here?)" python3 benchmarks/translate.py \
    --device cuda --batch-sizes 1 32 --precisions bf16 --no-channels-last --warmup 3 --repeats 5
stage 25 "inference, eager, cudnn.benchmark (should p2s set it for fixed shapes?)" python3 benchmarks/translate.py \
    --device cuda --batch-sizes 1 32 --precisions bf16 fp32 --cudnn-benchmark --warmup 3 --repeats 5 \
    --json "$OUT/translate_cudnn_benchmark.json"
stage 85 "training step" python3 benchmarks/train_step.py --device cuda --batch-sizes 8 32 \
    --precisions fp32 tf32 bf16 --warmup 2 --repeats 5 --json "$OUT/train.json"
stage 95 "p2s train loop (data loading, hooks, logging), batch 8" python3 benchmarks/train_loop.py --device cuda \
    --precisions bf16 tf32 --batch 8 --workers 8 --iterations 60 --run-timeout 45 --json "$OUT/train_loop.json"
stage 40 "profile, bf16 inference batch 32" python3 benchmarks/device/profile_translate.py --batch 32 \
    --precision bf16
stage 45 "p2s translate on files (read, PNG write, whole pipeline)" python3 benchmarks/translate_files.py \
    --device cuda --workers 0 16 --levels 6 1 --images 24 --pipeline-images 48 --batch 16 \
    --json "$OUT/translate_files.json"
stage rest "inference, torch.compile reduce-overhead (CUDA graphs), bf16 first" python3 benchmarks/translate.py --device cuda \
    --batch-sizes 1 32 --precisions bf16 fp32 --compile reduce-overhead --warmup 3 --repeats 10 \
    --json "$OUT/translate_compiled.json"
