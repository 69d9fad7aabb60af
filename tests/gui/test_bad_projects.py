"""Issue 30, item 1 in the window: every malformed project dropped on it (or opened from the
menu, or from the recent list) is one banner message; the session — photo, map, φ, edits,
region, unsaved state — stays exactly as it was, and no pickle inside ever runs."""

from __future__ import annotations

from pathlib import Path

from fuzz.badfiles import ISSUE_PROJECTS, MORE_PROJECTS, busy_session, same, snapshot

from .helpers import drop_files


def test_bad_projects_dropped_on_the_window_keep_the_session(window, qtbot, tiny_bundle, tmp_path: Path) -> None:  # noqa: ANN001
    good = busy_session(tiny_bundle, tmp_path).save_project(tmp_path / "good.samproj")
    assert isinstance(good, Path)
    assert window.open_project(good)
    assert window.session.inversion is not None and window.session.edits
    marker = tmp_path / "CODE_RAN"
    for i, (kind, make) in enumerate({**ISSUE_PROJECTS, **MORE_PROJECTS}.items()):
        path = make(good, tmp_path / f"bad{i}.samproj", marker)
        before = snapshot(window.session)
        assert drop_files(window, path), kind
        qtbot.wait(1)
        assert same(before, snapshot(window.session)), kind
        assert window.message_bar.isVisible() and window.message_bar.kind == "error", kind
        text = window.message_bar.text()
        assert f"bad{i}.samproj" in text or "project.json" in text, (kind, text)
        assert "Traceback" not in text and "weights_only" not in text, (kind, text)
        assert window.isVisible()
    assert not marker.exists()
    assert window.open_project(good) and not window.message_bar.isVisible()  # still usable


def test_missing_recent_file_and_unreadable_drop_are_messages(window, qtbot, tiny_bundle, tmp_path: Path) -> None:  # noqa: ANN001
    good = busy_session(tiny_bundle, tmp_path).save_project(tmp_path / "good.samproj")
    assert window.open_project(good)
    before = snapshot(window.session)
    assert not window.open_project(tmp_path / "gone.samproj")
    assert window.message_bar.kind == "error" and "gone.samproj" in window.message_bar.text()
    folder = tmp_path / "looks.samproj"
    folder.mkdir()
    assert drop_files(window, folder)
    assert same(before, snapshot(window.session)) and window.message_bar.kind == "error"


def test_fuzzed_projects_and_photos_dropped_on_the_window(window, qtbot, tiny_bundle, tmp_path: Path) -> None:  # noqa: ANN001
    """Hypothesis-generated broken projects (random JSON planted anywhere in project.json, or
    mutated zip bytes) and broken photos dropped on a window holding work: a project that does
    not load leaves the session exactly as it was, with an error banner; a photo either opens
    or is an error banner; no exception reaches Qt (pytest-qt would fail the test)."""
    import json

    from fuzz.badfiles import project_members, write_members
    from fuzz.strategies import broken_bytes, mutated, mutated_json
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    good = busy_session(tiny_bundle, tmp_path).save_project(tmp_path / "good.samproj")
    members = project_members(good)
    state = json.loads(members["project.json"])
    png = (tmp_path / "car.png").read_bytes()
    counts = {"projects": 0, "photos": 0}

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(data=st.data())
    def drop_one(data: st.DataObject) -> None:
        if window.session.inversion is None:
            assert window.open_project(good)
        if data.draw(st.booleans()):
            path = tmp_path / "fuzz.samproj"
            if data.draw(st.booleans()):
                write_members(path, {**members, "project.json": data.draw(mutated_json(state)).encode()})
            else:
                path.write_bytes(data.draw(mutated(good.read_bytes())))
            counts["projects"] += 1
            before = snapshot(window.session)
            assert drop_files(window, path)
            if not same(before, snapshot(window.session)):  # it was still a whole, valid project
                assert window.session.project_path == path
            else:
                assert window.message_bar.kind == "error" and window.message_bar.isVisible()
        else:
            path = tmp_path / ("fuzz" + data.draw(st.sampled_from([".png", ".jpg"])))
            path.write_bytes(data.draw(broken_bytes(png)))
            counts["photos"] += 1
            source = window.session.source
            assert drop_files(window, path)
            assert window.session.source is not source or (window.message_bar.isVisible() and window.message_bar.kind == "error")

    drop_one()
    assert sum(counts.values()) == 40 and min(counts.values()) > 0, counts


def test_export_and_save_failures_are_banner_messages(window, qtbot, tiny_bundle, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import errno
    import os

    good = busy_session(tiny_bundle, tmp_path).save_project(tmp_path / "good.samproj")
    assert window.open_project(good)
    before = snapshot(window.session)
    folder = tmp_path / "taken.png"
    folder.mkdir()
    assert not window.export_to(folder)
    assert window.message_bar.kind == "error" and "taken.png" in window.message_bar.text()
    assert not window.save_project_to(tmp_path / "good.samproj" / "inside.samproj")  # below a file
    assert window.message_bar.kind == "error"
    real_fdopen = os.fdopen

    def full_disk(fd: int, mode: str = "r"):  # noqa: ANN202
        f = real_fdopen(fd, mode)
        f.close()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    import sam_editor.util as util

    monkeypatch.setattr(util.os, "fdopen", full_disk)
    assert not window.export_to(tmp_path / "edit.png")
    monkeypatch.undo()
    assert "No space left" in window.message_bar.text()
    assert same(before, snapshot(window.session)) and good.read_bytes()[:2] == b"PK"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left
    assert window.export_to(tmp_path / "edit.png")  # and the next export works
