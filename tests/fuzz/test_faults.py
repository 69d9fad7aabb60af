"""Issue 30, fault tests without a window: a writer killed with SIGKILL mid-save leaves the old
file intact and its temporary file is cleared by the next save; exports onto a folder, to a
full disk or below a file are one Problem each and leave nothing behind."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sam_editor.session import Problem, Session
from sam_editor.util import atomic_write

from .badfiles import busy_session

REPO = Path(__file__).resolve().parents[2]


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _kill_during(code: str, folder: Path, ready: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'tests'}", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=folder)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, "the writer ended before it was killed"
            assert time.monotonic() < deadline, "the writer never reached the rename"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_kill_9_during_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    atomic_write(target, b"old contents")
    code = f"""
import os, pathlib, time
import sam_editor.util as u
def slow(src, dst):  # the whole temp file is written; die before the rename
    pathlib.Path({str(tmp_path / "READY")!r}).touch()
    time.sleep(60)
u.os.replace = slow
u.atomic_write(pathlib.Path({str(target)!r}), b"new contents " * 1000)
"""
    _kill_during(code, tmp_path, tmp_path / "READY")
    assert target.read_bytes() == b"old contents"
    assert len(temps(tmp_path)) == 1  # the killed writer's temp file, until the next save
    atomic_write(target, b"next")
    assert target.read_bytes() == b"next" and temps(tmp_path) == []


def test_kill_9_during_project_save_keeps_the_old_project(fuzz_bundle, good_project: Path, tmp_path: Path) -> None:  # noqa: ANN001
    project = tmp_path / "work.samproj"
    project.write_bytes(good_project.read_bytes())
    before = project.read_bytes()
    code = f"""
import json, os, pathlib, time, zipfile
import sam_editor.util as u
from sam_editor.session.files import write_project
z = zipfile.ZipFile({str(good_project)!r})
state = json.loads(z.read("project.json"))
real = os.replace
def slow(src, dst):  # the project's temp file is complete; die before its rename
    if not str(dst).endswith(".samproj"):
        return real(src, dst)
    pathlib.Path({str(tmp_path / "READY")!r}).touch()
    time.sleep(60)
u.os.replace = slow
write_project(pathlib.Path({str(project)!r}), state, z.read("source.png"), None, {{}})
"""
    _kill_during(code, tmp_path, tmp_path / "READY")
    assert project.read_bytes() == before
    s = Session(fuzz_bundle)
    assert s.load_project(project) == [] and s.inversion is not None
    litter = [n for n in temps(tmp_path) if n.startswith(".work.")]
    assert len(litter) == 1
    assert s.save_project(project) == project
    assert [n for n in temps(tmp_path) if n.startswith(".work.")] == []


@pytest.fixture(scope="module")
def exported(fuzz_bundle, tmp_path_factory: pytest.TempPathFactory) -> Session:  # noqa: ANN001
    return busy_session(fuzz_bundle, tmp_path_factory.mktemp("export"))


def test_export_onto_an_existing_folder(exported: Session, tmp_path: Path) -> None:
    folder = tmp_path / "out.png"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    got = exported.export_png(folder)
    assert isinstance(got, Problem) and "out.png" in got.message
    assert (folder / "keep.txt").read_text() == "mine" and temps(tmp_path) == []


def test_export_to_a_full_disk(exported: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "edit.png"
    target.write_bytes(b"an earlier export")

    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fd: int, mode: str) -> None:
            self.f = real_fdopen(fd, mode)

        def __enter__(self):  # noqa: ANN204
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

        def write(self, data: bytes) -> int:
            self.f.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    import sam_editor.util as util

    monkeypatch.setattr(util.os, "fdopen", FullDisk)
    got = exported.export_png(target)
    monkeypatch.undo()
    assert isinstance(got, Problem) and "No space left" in got.message
    assert target.read_bytes() == b"an earlier export" and temps(tmp_path) == []
    saved = exported.save_project(tmp_path / "p.samproj")  # and the next save works
    assert saved == tmp_path / "p.samproj"


def test_export_below_a_file_and_to_a_read_only_folder(exported: Session, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "file").write_text("x")
    got = exported.export_png(tmp_path / "file" / "edit.png")
    assert isinstance(got, Problem)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.geteuid() == 0:
        # Root writes into a 0o500 folder anyway (CI and these machines run as root): the folder
        # answers as a read-only one does instead — creating a file in it fails with EACCES.
        import sam_editor.util as util

        real_mkstemp = util.tempfile.mkstemp

        def read_only_mkstemp(*args, dir=None, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202, A002
            if dir is not None and Path(dir).resolve() == ro.resolve():
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(ro / "tmp"))
            return real_mkstemp(*args, dir=dir, **kwargs)

        monkeypatch.setattr(util.tempfile, "mkstemp", read_only_mkstemp)
    try:
        got = exported.export_png(ro / "edit.png")
        assert isinstance(got, Problem) and "Permission denied" in got.message and list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


def test_kill_9_during_export_keeps_the_old_png(tmp_path: Path) -> None:
    import numpy as np

    from sam_editor.imageio import read_image, write_png

    target = tmp_path / "edit.png"
    assert write_png(target, np.full((16, 16, 3), 7, np.uint8)) == target
    before = target.read_bytes()
    code = f"""
import os, pathlib, time
import numpy as np
import sam_editor.util as u
from sam_editor.imageio import write_png
def slow(src, dst):
    pathlib.Path({str(tmp_path / "READY")!r}).touch()
    time.sleep(60)
u.os.replace = slow
write_png(pathlib.Path({str(target)!r}), np.full((64, 64, 3), 200, np.uint8), {{"sam-editor:recipe": "{{}}"}})
"""
    _kill_during(code, tmp_path, tmp_path / "READY")
    assert target.read_bytes() == before and read_image(target).rgb[0, 0, 0] == 7
    assert len([n for n in temps(tmp_path) if n.startswith(".edit.")]) == 1
    assert write_png(target, np.full((16, 16, 3), 9, np.uint8)) == target
    assert [n for n in temps(tmp_path) if n.startswith(".edit.")] == []
