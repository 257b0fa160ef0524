"""The benchmark scripts run, and every command of the GPU script parses.

A device session is short and rare: a benchmark that breaks there (a renamed flag, a
table that needs a column) costs the whole measurement.  Here each script runs once on
CPU with ``--tiny`` (narrow layers of the same architecture), and each command of
``benchmarks/device/run_benchmarks.sh`` is parsed by its script's own argument parser.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"

#: name -> (module, argv after the output option); each runs once, in one process
RUNS = {
    "translate": ("translate", ["--device", "cpu", "--tiny", "--resolution", "32", "--batch-sizes", "1", "2",
                                "--precisions", "fp32", "bf16", "--warmup", "0", "--repeats", "1", "--json"]),
    "train": ("train_step", ["--device", "cpu", "--tiny", "--resolution", "32", "--batch-sizes", "2",
                             "--precisions", "fp32", "bf16", "--warmup", "1", "--repeats", "1", "--json"]),
    "profile": ("profile_translate", ["--device", "cpu", "--tiny", "--resolution", "32", "--batch", "1",
                                      "--rows", "5", "--out"]),
    "files": ("translate_files", ["--tiny", "--resolution", "32", "--images", "2", "--pipeline-images", "2",
                                  "--batch", "2", "--workers", "0", "--levels", "1", "--precision", "fp32", "--json"]),
    "loop": ("train_loop", ["--device", "cpu", "--tiny", "--iterations", "4", "--log-interval", "2", "--batch", "2",
                            "--workers", "0", "--images", "4", "--precisions", "tf32", "--json"]),
    "roofline": ("roofline", ["--tiny", "--resolution", "32", "--batch-sizes", "1", "2", "--precisions", "bf16", "fp32",
                              "--json"]),
    "roofline_train": ("roofline", ["--mode", "train", "--tiny", "--resolution", "32", "--batch-sizes", "2",
                                    "--precisions", "bf16", "fp32", "--json"]),
    "host": ("host_overhead", ["--tiny", "--resolution", "32", "--batch-sizes", "1", "--repeats", "1", "--json"]),
    # CUDA graphs faked on the CPU (an eager stand-in with the graphs' contract): the fast-path column
    "cuda_graphs": ("translate", ["--device", "cpu", "--tiny", "--resolution", "32", "--batch-sizes", "1",
                                  "--precisions", "fp32", "--cuda-graphs", "--warmup", "0", "--repeats", "1", "--json"]),
    # the first timed batch runs out of memory: one row, and the next batch size still runs
    "out_of_memory": ("translate", ["--device", "cpu", "--tiny", "--resolution", "16", "--batch-sizes", "2", "1",
                                    "--warmup", "0", "--repeats", "1", "--json"]),
}

DRIVER = """
import importlib, json, sys, time, traceback
import torch
sys.path[:0] = ['benchmarks', 'benchmarks/device']
runs, commands, folder = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
status = {}
try:
    for script, *args in commands:
        importlib.import_module(script.split('/')[-1][:-3]).parse_args(args)
    status['parse'] = 'ok'
except BaseException:
    status['parse'] = traceback.format_exc()
for name, (module, argv) in runs.items():
    script = importlib.import_module(module)
    if name == 'out_of_memory':
        real, calls = script.time_call, []
        def flaky(*args, real=real, calls=calls):
            calls.append(1)
            if len(calls) == 1:
                raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')
            return real(*args)
        script.time_call = flaky
    if name == 'cuda_graphs':
        import p2s.apis.translator as translator_module
        from p2s.utils.cuda_graphs import replay_eagerly
        translator_module.check_cuda_graphs_device = lambda device: None
        translator_module.capture_cuda_graph = replay_eagerly
    start = time.perf_counter()
    try:
        script.main(argv + [f'{folder}/{name}.out'])
        status[name] = 'ok'
    except BaseException:
        status[name] = traceback.format_exc()
    print(f'== {name}: {time.perf_counter() - start:.1f} s', flush=True)
json.dump(status, open(f'{folder}/status.json', 'w'))
"""


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[Path, str]:
    """One process runs every script of RUNS (torch and p2s import once, not per script)."""
    folder = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(RUNS), json.dumps(device_commands()), str(folder)],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, result.stdout


def output_of(smoke: tuple[Path, str], name: str) -> Path:
    folder, _ = smoke
    status = json.loads((folder / "status.json").read_text())[name]
    assert status == "ok", status
    return folder / f"{name}.out"


def rows_of(smoke: tuple[Path, str], name: str) -> list[dict]:
    table = json.loads(output_of(smoke, name).read_text())
    assert table["rows"]
    return table["rows"]


def test_translate_benchmark_measures_each_precision_and_batch(smoke):
    rows = rows_of(smoke, "translate")
    assert [(r["precision"], r["batch"]) for r in rows] == [("fp32", 1), ("fp32", 2), ("bf16", 1), ("bf16", 2)]
    assert rows[0]["mean_abs_error_vs_fp32"] == 0
    assert 0 < rows[2]["mean_abs_error_vs_fp32"] < 0.05  # bf16 images near the fp32 ones, not equal to them
    assert all(r["images_per_s"] > 0 and r["latency_ms"] > 0 for r in rows)
    meta = json.loads(output_of(smoke, "translate").read_text())["meta"]
    assert meta["tiny"] is True and meta["resolution"] == 32
    assert "| fp32 | 2 |" in smoke[1] and "| bf16 | 1 |" in smoke[1]  # the Markdown table, row by row
    assert all(r["max_abs_diff_vs_eager"] == "n/a" for r in rows)  # eager: no fast path to compare


def test_translate_benchmark_compares_a_fast_path_with_the_eager_model(smoke):
    (row,) = rows_of(smoke, "cuda_graphs")
    assert "error" not in row, row["error"]
    assert row["max_abs_diff_vs_eager"] == 0  # the stand-in replays the eager kernels: the same images
    assert json.loads(output_of(smoke, "cuda_graphs").read_text())["meta"]["cuda_graphs"] is True


def test_host_overhead_benchmark_splits_a_pass_by_where_its_time_goes(smoke):
    (row,) = rows_of(smoke, "host")
    assert row["kernels"] > 100  # every aten op of the tiny pass, as roofline.py counts them
    assert row["p2s_python_ms"] > 0 and row["torch_nn_python_ms"] > 0
    assert row["meta_shape_functions_ms"] > row["p2s_python_ms"]  # meta's own Python, reported apart
    assert row["p2s_python_ms"] + row["torch_nn_python_ms"] < row["meta_pass_ms"]
    assert row["model_host_ms"] == pytest.approx(row["p2s_python_ms"] + row["torch_nn_python_ms"] + row["launch_ms"])
    assert row["launch_ms"] == pytest.approx(row["kernels"] * 5e-3)


def test_train_step_benchmark_runs_the_inversion_recipe(smoke):
    rows = rows_of(smoke, "train")
    assert [(row["precision"], row["batch"]) for row in rows] == [("fp32", 2), ("bf16", 2)]  # bf16 on a CPU too
    for row in rows:
        assert "error" not in row, row["error"]
        assert row["images_per_s"] == pytest.approx(2 * row["it_per_s"])


def test_train_loop_benchmark_reads_the_runs_own_iteration_times(smoke):
    (row,) = rows_of(smoke, "loop")
    assert "error" not in row, row["error"]
    assert row["intervals"] == 1  # 4 iterations logged every 2: the first interval (start-up) is left out
    assert row["it_per_s"] > 0 and row["images_per_s"] == pytest.approx(2 * row["it_per_s"])
    assert 0 <= row["data_ms"] < row["iter_ms"]


def test_profile_script_writes_the_operator_table(smoke):
    text = output_of(smoke, "profile").read_text()
    assert text.startswith("fp32, batch 1, 32 px, cpu") and "aten::" in text


def test_file_benchmark_times_reads_writes_and_the_pipeline(smoke):
    rows = rows_of(smoke, "files")
    assert [r["stage"] for r in rows] == ["read", "write", "model only", "translate_files"]
    assert all(r["images_per_s"] > 0 for r in rows)


def test_roofline_counts_the_gpu_route_kernels_flops_and_bytes(smoke):
    """The meta-device count: the same work in every precision, half the bytes in bf16, every
    FLOP in a product kernel, and fusion never slower than one kernel per op."""
    rows = {(r["precision"], r["batch"]): r for r in rows_of(smoke, "roofline")}
    assert set(rows) == {("bf16", 1), ("bf16", 2), ("fp32", 1), ("fp32", 2)}
    for batch in (1, 2):
        bf16, fp32 = rows["bf16", batch], rows["fp32", batch]
        assert bf16["gflop_per_image"] == pytest.approx(fp32["gflop_per_image"]) and bf16["gflop_per_image"] > 0
        assert 0.4 * fp32["gbytes_per_image"] < bf16["gbytes_per_image"] < 0.7 * fp32["gbytes_per_image"]
        for row in (bf16, fp32):
            assert row["kernels"] > 100 and row["fused_images_per_s"] >= row["eager_images_per_s"] > 0
    assert rows["bf16", 2]["kernels"] > rows["bf16", 1]["kernels"]  # batch 1 modulates weights, not activations
    parts = json.loads((output_of(smoke, "roofline").with_name("roofline_parts.json")).read_text())["rows"]
    for (precision, batch), row in rows.items():
        mine = [p for p in parts if (p["precision"], p["batch"]) == (precision, batch)]
        assert sum(p["kernels"] for p in mine) == row["kernels"]
        products = sum(p["gflop_per_image"] for p in mine if p["part"] in ("convolution", "matrix product"))
        assert products == pytest.approx(row["gflop_per_image"])


def test_roofline_counts_a_training_step_with_its_backward_and_optimizer(smoke):
    """``--mode train``: forward, backward and the Ranger step, the same FLOPs in every
    precision; more work and kernels per image than inference (which also has no LPIPS or
    identity network), and bf16 moves fewer bytes."""
    train = {r["precision"]: r for r in rows_of(smoke, "roofline_train")}
    infer = {(r["precision"], r["batch"]): r for r in rows_of(smoke, "roofline")}
    assert set(train) == {"bf16", "fp32"}
    assert train["bf16"]["gflop_per_image"] == pytest.approx(train["fp32"]["gflop_per_image"])
    assert train["fp32"]["gflop_per_image"] > 2 * infer["fp32", 2]["gflop_per_image"]
    assert train["fp32"]["kernels"] > 2 * infer["fp32", 2]["kernels"]
    assert train["bf16"]["gbytes_per_image"] < 0.7 * train["fp32"]["gbytes_per_image"]
    for row in train.values():
        assert row["fused_images_per_s"] >= row["eager_images_per_s"] > 0
    assert json.loads(output_of(smoke, "roofline_train").read_text())["meta"]["mode"] == "train"


def test_a_batch_out_of_memory_is_one_row_and_the_sweep_goes_on(smoke):
    rows = rows_of(smoke, "out_of_memory")
    assert rows[0] == dict(precision="fp32", batch=2, error="out of memory")
    assert rows[1]["batch"] == 1 and rows[1]["images_per_s"] > 0
    assert "| fp32 | 2 | - | - | - | - | - | out of memory |" in smoke[1]


#: the device calls: every table of the first, then the compiled training of the second
DEVICE_SCRIPTS = ("run_benchmarks.sh", "run_compiled_training.sh")


def device_commands(script: str | None = None) -> list[list[str]]:
    """``[script, *args]`` of each ``python3 benchmarks/...`` command in the device scripts."""
    scripts = [script] if script else DEVICE_SCRIPTS
    text = "\n".join((BENCHMARKS / "device" / name).read_text() for name in scripts).replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        match = re.search(r"python3\s+benchmarks/(\S+\.py)(.*)$", line)
        if match:
            commands.append([match.group(1), *shlex.split(match.group(2).split("||")[0])])
    return commands


def test_every_command_of_the_gpu_script_parses(smoke):
    """Each stage's flags exist in its script (a typo there would cost the device call)."""
    assert {c[0] for c in device_commands("run_benchmarks.sh")} == {
        "translate.py", "train_step.py", "train_loop.py", "device/profile_translate.py", "translate_files.py",
        "host_overhead.py"}
    assert {c[0] for c in device_commands("run_compiled_training.sh")} == {"train_step.py", "train_loop.py"}
    for script in DEVICE_SCRIPTS:  # every stage's command was found (a line break must not hide one)
        stages = re.findall(r"^stage (?:\d+|rest) ", (BENCHMARKS / "device" / script).read_text(), re.M)
        assert len(device_commands(script)) == len(stages), script
    assert all("--compile" in c for c in device_commands("run_compiled_training.sh")[1:])
    folder, _ = smoke
    assert json.loads((folder / "status.json").read_text())["parse"] == "ok"


def test_the_stage_limits_of_each_device_call_fit_in_one_call():
    """A device call runs 600 s at most: stages whose limits add up to more could lose the last
    ones to the call's end instead of to their own limit (which keeps the rows measured).
    Only the last stage may take ``rest`` (what is left), and the fixed ones leave it 100 s."""
    for script in DEVICE_SCRIPTS:
        limits = re.findall(r"^stage (\d+|rest) ", (BENCHMARKS / "device" / script).read_text(), re.M)
        assert "rest" not in limits[:-1], (script, limits)
        fixed = [int(n) for n in limits if n != "rest"]
        assert fixed and sum(fixed) <= (490 if limits[-1] == "rest" else 590), (script, limits)


def test_a_stage_is_stopped_at_its_limit_and_the_last_takes_what_is_left():
    snippet = (f'source "{BENCHMARKS}/device/stage.sh"; CALL_BUDGET=3; stage 1 first sleep 5; '
               'stage rest second echo measured; sleep 2; stage rest third echo never')
    result = subprocess.run(["bash", "-c", snippet], capture_output=True, text=True, timeout=30)
    lines = result.stdout.splitlines()
    assert "!! first stopped (exit 124)" in lines  # timeout's code: the script goes on
    assert "== second (at most 2 s) ==" in lines and "measured" in lines
    assert "!! third skipped: no time left" in lines and "never" not in lines


def test_the_gpu_script_writes_no_more_files_than_the_device_tool_brings_back():
    """The device tool returns at most 8 files from $OUT: a ninth table would be left there."""
    setup = (BENCHMARKS / "device" / "setup.sh").read_text()
    for script in DEVICE_SCRIPTS:
        text = setup + (BENCHMARKS / "device" / script).read_text()
        assert 'source "$(dirname "$0")/setup.sh"' in text
        files = set(re.findall(r"\$OUT/([\w.-]+)", text))
        assert "log.txt" in files and len(files) <= 8, (script, sorted(files))
