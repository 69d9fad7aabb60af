"""The one atomic writer and the one hasher (sam_editor.util), and a CLI whose parser loads no torch."""

import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from sam_editor.util import atomic_write, ramped_lr, sha256_file


def test_atomic_write_bytes_text_and_writer(tmp_path):
    assert atomic_write(tmp_path / "a" / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert (atomic_write(tmp_path / "t.json", "τ = 0.225")).read_text("utf-8") == "τ = 0.225"
    # writers that add a suffix to a name without one (np.savez) write the final name exactly
    atomic_write(tmp_path / "c.npz", lambda p: np.savez(p, x=np.arange(3)))
    assert np.array_equal(np.load(tmp_path / "c.npz")["x"], np.arange(3))
    atomic_write(tmp_path / "m.pt", lambda p: torch.save({"k": torch.ones(2)}, p))
    assert torch.equal(torch.load(tmp_path / "m.pt")["k"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "c.npz", "m.pt", "t.json"]  # no temp files left


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "state.pt"
    path.write_bytes(b"old")

    def half_then_crash(p):
        p.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_crash)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


def test_sha256_file_matches_hashlib_across_chunks(tmp_path):
    data = np.random.default_rng(0).bytes((1 << 20) * 2 + 17)  # more than two 1 MiB chunks
    path = tmp_path / "w.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_cli_parser_and_help_load_no_torch():
    """`sam-editor --help` and every subcommand's parser are built without importing torch, cv2
    or Qt (they cost seconds); the commands import them when they run."""
    code = (
        "import sys, contextlib, io\n"
        "from sam_editor import cli\n"
        "cli.build_parser()\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert cli.main([]) == 0\n"
        "heavy = sorted(m for m in ('torch', 'cv2', 'PySide6', 'PIL') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_ramped_lr_ramps_up_and_down():
    assert ramped_lr(0.0, 0.1) == 0.0  # the official quirk: the first step has lr 0
    assert ramped_lr(0.025, 0.1) == pytest.approx(0.05)  # half-way up the 5 % ramp
    assert ramped_lr(0.5, 0.1) == pytest.approx(0.1)
    assert ramped_lr(0.875, 0.1) == pytest.approx(0.05)  # half-way down the last 25 %
    assert ramped_lr(0.999, 0.1) < 0.001
