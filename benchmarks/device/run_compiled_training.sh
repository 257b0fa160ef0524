#!/usr/bin/env bash
# The second device call, if the session has the time after run_benchmarks.sh: the training
# step with `p2s train --compile` (its loss through torch.compile; inductor compiles
# forward and backward in the warm-up steps, minutes at the real sizes), eager in the same
# call for a like-for-like pair, and the compiled `p2s train` loop.
#   run(command="bash benchmarks/device/run_compiled_training.sh", carry=[".whl"], timeout_s=600)
source "$(dirname "$0")/setup.sh"

stage 60 "training step, eager (the pair's reference)" python3 benchmarks/train_step.py --device cuda \
    --batch-sizes 32 --precisions bf16 tf32 --warmup 2 --repeats 5 --json "$OUT/train_eager.json"
stage 330 "training step, --compile default" python3 benchmarks/train_step.py --device cuda --batch-sizes 32 \
    --precisions bf16 tf32 --compile default --warmup 3 --repeats 5 --json "$OUT/train_compiled.json"
stage rest "p2s train --compile default loop, batch 8" python3 benchmarks/train_loop.py --device cuda \
    --precisions bf16 --batch 8 --workers 8 --iterations 60 --run-timeout 180 --compile default \
    --json "$OUT/train_loop_compiled.json"
