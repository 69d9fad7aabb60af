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
