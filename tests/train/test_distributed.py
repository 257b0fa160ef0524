"""``p2s train --launcher pytorch``: two gloo processes on a CPU train one model."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_two_process_gloo_training_keeps_replicas_identical(tiny_configs, train_data, tmp_path):
    import os
    import subprocess
    import sys

    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    tiny = tiny_configs.write_tiny_config(base, train_data, tmp_path / "ddp.py", max_iters=3, interval=3,
                                          fixed_batch=False)
    with tiny.open("a") as handle:
        handle.write("custom_imports = dict(imports=['replica_hook'], allow_failed_imports=False)\n"
                     "custom_hooks = [dict(type='SafeCheckpointHook'), dict(type='ReplicaDigestHook')]\n")
    script = Path(sys.executable).parent / "p2s"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
         str(script), "train", str(tiny), "--launcher", "pytorch", "--work-dir", str(tmp_path / "w")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    digests = [json.loads((tmp_path / "w" / f"replica_rank{r}.json").read_text()) for r in (0, 1)]
    assert digests[0] == digests[1]
    assert digests[0]["world_size"] == 2 and digests[0]["wrapped"]
    assert (tmp_path / "w" / "iter_3.pth").is_file()
