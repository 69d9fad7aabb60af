"""Issue 30, item 1: malformed projects are refused with one message and leave the session as
it was (only a fully valid project changes it); no pickle inside one ever runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sam_editor.session import Problem, Session

from .badfiles import ISSUE_PROJECTS, MORE_PROJECTS, busy_session, same, snapshot


@pytest.fixture(scope="module")
def busy(fuzz_bundle, tmp_path_factory: pytest.TempPathFactory) -> Session:
    return busy_session(fuzz_bundle, tmp_path_factory.mktemp("busy"))


@pytest.mark.parametrize("kind", list(ISSUE_PROJECTS) + list(MORE_PROJECTS))
def test_bad_project_is_refused_and_session_kept(kind: str, busy: Session, good_project: Path, tmp_path: Path, marker: Path) -> None:
    make = {**ISSUE_PROJECTS, **MORE_PROJECTS}[kind]
    path = make(good_project, tmp_path / "bad.samproj", marker)
    before = snapshot(busy)
    result = busy.load_project(path)
    assert isinstance(result, Problem), result
    assert "bad.samproj" in result.message or "project.json" in result.message, result
    assert "Traceback" not in result.message and len(result.message) < 600
    assert same(before, snapshot(busy))
    assert not marker.exists()


def test_issue_messages_name_the_problem(busy: Session, good_project: Path, tmp_path: Path, marker: Path) -> None:
    said = {k: busy.load_project(make(good_project, tmp_path / f"{i}.samproj", marker)) for i, (k, make) in enumerate(ISSUE_PROJECTS.items())}
    assert "edit_region.0" in said["edit_region ['x']"].message
    assert said["top-level list"].title == "Not a project"
    assert "version" in said["version null"].message
    assert "source.name" in said["source name ../"].message and "plain file name" in said["source name ../"].message
    assert "inversion" in said["inversion missing keys"].message
    assert "may contain code" in said["malicious tensors"].message
    assert not any("weights_only" in p.message for p in said.values())


def test_good_project_still_loads(fuzz_bundle, good_project: Path) -> None:
    s = Session(fuzz_bundle)
    assert s.load_project(good_project) == []
    assert s.inversion is not None and s.edit_region == {1} and len(s.edits) == 1 and s.directions


def test_a_broken_user_preset_costs_only_that_file(fuzz_bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    (tmp_path / "bad.json").write_text('{"name": "x", "component": "3", "layers": [0, 1], "strength": 1}')
    monkeypatch.setattr(fuzz_bundle, "presets_dir", tmp_path)
    s = Session(fuzz_bundle)
    names = [p.name for p in s.presets()]
    assert s.preset_problem is not None and "bad.json" in s.preset_problem and "component" in s.preset_problem
    assert names  # the official direction beside the tiny generator is still listed
