"""``p2s.utils.atomic``: the one place files are written (images, latents, checkpoints, JSON)."""

from __future__ import annotations

import os
import stat

import pytest

from p2s.utils.atomic import TMP_SUFFIX, atomic_output, write_atomically
from p2s.utils.errors import P2SError


@pytest.fixture
def umask():
    """Set a umask for the test and restore the previous one."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_mode_the_umask_gives(tmp_path, umask, mask, mode):
    umask(mask)
    target = tmp_path / "out" / "a.png"
    write_atomically(target, lambda tmp: tmp.write_bytes(b"png"))
    assert target.read_bytes() == b"png"
    assert stat.S_IMODE(target.stat().st_mode) == mode  # not mkstemp's private 0600


@pytest.mark.parametrize("fsync", [False, True])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, fsync):
    target = tmp_path / "ckpt.pth"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_output(target, fsync=fsync) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pth"]


def test_the_temporary_is_a_hidden_sibling_with_the_p2s_suffix(tmp_path):
    with atomic_output(tmp_path / "x.npy", fsync=True) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".x.npy.") and tmp.name.endswith(TMP_SUFFIX)
        tmp.write_bytes(b"1")
    assert (tmp_path / "x.npy").read_bytes() == b"1"


def test_a_file_where_the_folder_should_be_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(P2SError, match=r"could not write .*afile/a\.png: (File exists|Not a directory)"):
        write_atomically(tmp_path / "afile" / "a.png", lambda tmp: tmp.write_bytes(b"png"))
    assert (tmp_path / "afile").read_text() == "not a folder"


def test_a_npy_that_does_not_fit_says_why_and_leaves_nothing(tmp_path):
    """numpy's own short-write error read '1280 requested and 224 written'."""
    import subprocess
    import sys

    script = (
        "import resource, signal, sys\n"
        "import numpy as np\n"
        "from p2s.utils.atomic import save_npy\n"
        "from p2s.utils.errors import P2SError\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))\n"
        "try:\n"
        "    save_npy(np.zeros((10, 128), np.float32), __import__('pathlib').Path(sys.argv[1]))\n"
        "except P2SError as err:\n"
        "    print(err)\n"
    )
    target = tmp_path / "codes.npy"
    result = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == f"could not write {target}: File too large", (result.stdout, result.stderr)
    assert list(tmp_path.iterdir()) == []
