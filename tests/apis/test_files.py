"""File translation on worker threads (``translate_files(workers=N)``): the files, their
order and the failures are those of the inline run; a failed write is one line and
leaves nothing half-written; the PNG level changes the size, never the pixels."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from p2s.apis.files import FileWorkers, MixSpec, translate_files
from p2s.utils.atomic import save_png
from p2s.apis.translator import Translator
from p2s.utils.errors import P2SError


@pytest.fixture(scope="module")
def inputs(tiny, tmp_path_factory) -> list[Path]:
    """Seven readable images of several formats and one corrupt file among them."""
    folder = tmp_path_factory.mktemp("files_in")
    paths = tiny.write_rgb_folder(folder)
    paths.insert(2, folder / "broken.png")
    paths[2].write_bytes(np.random.RandomState(0).bytes(600))
    paths += [tiny.write_rgb(folder / f"z{k}.png", seed=20 + k, size=(36, 36)) for k in range(2)]
    return paths


def run(ckpt, inputs, out: Path, workers: int, **kw):
    translator = Translator.from_checkpoint(ckpt("noisy"), device="cpu")
    return translate_files(translator, inputs, out, batch_size=3, save_latents=True,
                           mix=MixSpec(count=2, layers=[3, 4, 5], alpha=None, seed=7), workers=workers, **kw)


@pytest.fixture(scope="module")
def inline(ckpt, inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("inline")
    return run(ckpt, inputs, out, workers=0), out


@pytest.mark.parametrize("workers", [1, 3])
def test_workers_write_what_the_inline_run_writes(tiny, ckpt, inputs, inline, tmp_path, workers):
    expected, expected_dir = inline
    report = run(ckpt, inputs, tmp_path, workers)
    assert [p.relative_to(tmp_path) for p in report.written] == [p.relative_to(expected_dir) for p in expected.written]
    assert len(report.written) == 7 * (1 + 1 + 2)  # image, latents, two mixes per readable input
    assert [(p.name, msg) for p, msg in report.failed] == [(p.name, msg) for p, msg in expected.failed]
    assert [p.name for p, _ in report.failed] == ["broken.png"]
    assert report.images == expected.images == 7
    for path, reference in zip(report.written, expected.written):
        assert path.read_bytes() == reference.read_bytes(), path.name
    assert tiny.leftovers(tmp_path) == []


def test_png_level_changes_the_size_not_the_pixels(tiny, tmp_path):
    array = tiny.rgb_array(3, (96, 80))
    array = np.clip(array.astype(int) + np.random.RandomState(1).randint(0, 4, array.shape), 0, 255).astype(np.uint8)
    save_png(array, tmp_path / "raw.png", compress_level=0)
    save_png(array, tmp_path / "small.png", compress_level=9)
    assert (tmp_path / "raw.png").stat().st_size > (tmp_path / "small.png").stat().st_size
    assert np.array_equal(tiny.read_png(tmp_path / "raw.png"), array)
    assert np.array_equal(tiny.read_png(tmp_path / "small.png"), array)


def test_unknown_png_level_is_refused_before_writing(ckpt, inputs, tmp_path):
    with pytest.raises(P2SError, match="--png-compression must be 0 .none. to 9 .smallest., got 10"):
        run(ckpt, inputs, tmp_path / "out", workers=2, compress_level=10)
    assert not (tmp_path / "out").exists()


def _disk_full_at(monkeypatch, stem: str) -> None:
    """PNG writes of ``stem`` write half a file, then fail as a full disk does."""
    import errno

    from PIL import Image

    real_save = Image.Image.save

    def save(self, fp, *args, **kwargs):
        if stem in str(fp):
            Path(fp).write_bytes(b"\x89PNG half")
            raise OSError(errno.ENOSPC, "No space left on device", str(fp))
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_failed_write_is_one_line_and_leaves_no_partial_file(tiny, ckpt, inputs, tmp_path, workers, monkeypatch):
    out = tmp_path / "out"
    _disk_full_at(monkeypatch, "b_face")
    with pytest.raises(P2SError, match=r"could not write .*b_face\.png: No space left on device"):
        run(ckpt, inputs, out, workers)
    assert tiny.leftovers(out) == [] and not (out / "b_face.png").exists()
    for png in out.glob("*.png"):
        assert tiny.read_png(png).shape[-1] == 3  # whatever was written is whole


def test_cli_write_failure_is_one_line(tiny, ckpt, inputs, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _disk_full_at(monkeypatch, "a_face")
    result = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", inputs[0], "--output", out,
                         "--device", "cpu", "--workers", "2")
    assert "could not write" in tiny.one_line_error(result)
    assert tiny.leftovers(out) == [] and not (out / "a_face.png").exists()


def test_cli_png_compression_and_workers_options(tiny, ckpt, inputs, tmp_path):
    outs = {}
    for level, workers in [("0", "0"), ("9", "3")]:
        outs[level] = tmp_path / f"level{level}"
        result = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", inputs[0].parent,
                             "--output", outs[level], "--device", "cpu", "--png-compression", level,
                             "--workers", workers)
        assert result.exit_code == 1, result.output  # broken.png is skipped
    names = sorted(p.name for p in outs["0"].glob("*.png"))
    assert names == sorted(p.name for p in outs["9"].glob("*.png")) and len(names) == 7
    for name in names:
        assert np.array_equal(tiny.read_png(outs["0"] / name), tiny.read_png(outs["9"] / name))
    assert sum(f.stat().st_size for f in outs["0"].glob("*.png")) > sum(f.stat().st_size for f in outs["9"].glob("*.png"))
    bad = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", inputs[0], "--output",
                      tmp_path / "bad", "--device", "cpu", "--png-compression", "12")
    assert bad.exit_code == 2 and not (tmp_path / "bad").exists()


def test_file_workers_keep_the_queue_order_past_the_pending_bound(tmp_path):
    rng = np.random.RandomState(0)
    delays = rng.uniform(0, 0.01, 40)
    threads: set[str] = set()

    def slow_save(array: np.ndarray, path: Path) -> None:
        time.sleep(delays[int(array[0])])
        threads.add(threading.current_thread().name)
        path.write_bytes(array.tobytes())

    with FileWorkers(3) as files:
        for k in range(40):
            files.write(tmp_path / f"{k:02d}.bin", np.array([k], np.int64), slow_save)
        written = files.finish()
    assert [p.name for p in written] == [f"{k:02d}.bin" for k in range(40)]
    assert all(int(np.frombuffer(p.read_bytes(), np.int64)[0]) == k for k, p in enumerate(written))
    assert threading.current_thread().name not in threads and 1 < len(threads) <= 3


def test_file_workers_raise_the_first_failure_and_cancel_the_rest(tmp_path):
    started: list[int] = []

    def save(array: np.ndarray, path: Path) -> None:
        started.append(int(array[0]))
        if int(array[0]) == 1:
            raise P2SError("disk full")
        time.sleep(0.05)
        path.write_bytes(b"x")

    files = FileWorkers(1)  # up to 4 writes pending: the failure surfaces while queueing
    with pytest.raises(P2SError, match="disk full"):
        with files:
            for k in range(10):
                files.write(tmp_path / f"{k}.bin", np.array([k]), save)
    assert files.written == [tmp_path / "0.bin"]
    assert len(started) < 10, "writes queued after the failure were not cancelled"
    # what did run finished whole before the error left the with block
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{k}.bin" for k in started if k != 1)


def test_negative_workers_are_refused():
    with pytest.raises(P2SError, match="--workers must be 0 or more, got -1"):
        FileWorkers(-1)


def test_latents_only_writes_the_codes_of_the_full_run_and_no_image(tiny, ckpt, inputs, inline, tmp_path):
    expected, expected_dir = inline  # noisy checkpoint, --save-latents, batch 3
    translator = Translator.from_checkpoint(ckpt("noisy"), device="cpu")
    report = translate_files(translator, inputs, tmp_path, batch_size=3, workers=2, latents_only=True)
    assert [p.relative_to(tmp_path) for p in report.written] == [
        p.relative_to(expected_dir) for p in expected.written if p.suffix == ".npy"]
    assert report.images == 7 and [p.name for p, _ in report.failed] == ["broken.png"]
    assert not list(tmp_path.glob("*.png"))
    for path in report.written:
        assert np.array_equal(np.load(path), np.load(expected_dir / path.relative_to(tmp_path)))


def test_cli_latents_only_refuses_mix_before_reading_anything(tiny, ckpt, inputs, tmp_path):
    result = tiny.invoke("translate", "--checkpoint", tmp_path / "absent.pt", "--input", inputs[0],
                         "--output", tmp_path / "out", "--latents-only", "--mix", "2")
    assert "--latents-only writes no images, so it cannot go with --mix" in tiny.one_line_error(result)
    assert not (tmp_path / "out").exists()
    codes = tmp_path / ("a-folder-name-long-enough-that-the-summary-passes-80-columns" * 2) / "codes"
    ok = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", inputs[0],
                     "--output", codes, "--device", "cpu", "--latents-only")
    assert ok.exit_code == 0, ok.output
    summary = next(line for line in ok.output.splitlines() if line.startswith("wrote"))
    assert summary.startswith(f"wrote latents of 1 of 1 input(s) to {codes / 'latents'} ("), ok.output  # one line
    assert "image" not in summary
    assert sorted(p.relative_to(codes).as_posix() for p in codes.rglob("*")) == [
        "latents", f"latents/{inputs[0].stem}.npy"]


def test_a_mixing_seed_numpy_cannot_take_is_refused_up_front(tmp_path):
    """translate_files and run_demo refuse it before any model runs or any folder is made."""
    from p2s.apis.demo import run_demo

    with pytest.raises(P2SError, match=r"^mixing seed must be between 0 and 2\*\*32 - 1, got 4294967296$"):
        MixSpec(count=1, layers=[0], alpha=None, seed=2**32).check(num_ws=6)
    with pytest.raises(P2SError, match=r"^mixing seed must be between 0 and 2\*\*32 - 1, got 5000000000$"):
        run_demo(tmp_path / "demo", n=1, seed=5_000_000_000, mix=1)
    assert not (tmp_path / "demo").exists()


def test_a_rerun_into_the_same_folder_names_what_it_replaces_and_what_no_longer_matches(tiny, ckpt, inputs, tmp_path):
    """An image from one model next to the codes (or mixes) of another is a mismatched pair."""
    out, face = tmp_path / "out", inputs[0]
    first = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", face, "--output", out,
                        "--device", "cpu", "--save-latents", "--mix", "2")
    assert first.exit_code == 0 and "warning" not in first.output, first.output
    again = tiny.invoke("translate", "--checkpoint", ckpt("noisy"), "--input", face, "--output", out,
                        "--device", "cpu", "--mix", "1")
    assert again.exit_code == 0, again.output
    text = " ".join(again.output.split())
    assert f"warning: 2 file(s) ({face.stem}.png, {face.stem}_mix0.png) of an earlier run will be replaced in {out}" in text
    assert (f"warning: 2 file(s) (latents/{face.stem}.npy, {face.stem}_mix1.png) in {out} are an earlier run's and no longer "
            "match the new images") in text
