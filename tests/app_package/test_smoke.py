"""The unattended smoke run (`--smoke-test`) that checks a build: from source here, and against
the frozen app when `make package` has produced one (CI skips that test on a clean clone)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "samples" / "car_street.png"
FROZEN = ROOT / "dist" / "SAMEditor" / "SAMEditor"
# CI builds the package and then sets this, so that a missing or broken frozen app fails instead
# of skipping (a developer's clean clone has no dist/ and skips).
REQUIRE_FROZEN = os.environ.get("SAM_EDITOR_REQUIRE_FROZEN") == "1"
BUNDLE_MODULES = FROZEN.parent / "_internal" / "sam_editor" / "_bundle_modules.json"


def frozen_skip_reason() -> str | None:
    """Why a developer's `make test` skips the frozen app's tests (None: run them). A build
    older than the source tree (modules added or removed since) is skipped here, not failed:
    it tests yesterday's code. CI builds first and sets SAM_EDITOR_REQUIRE_FROZEN=1: no skips."""
    if REQUIRE_FROZEN:
        return None
    if not FROZEN.is_file():
        return "no frozen app: build it with `make package`"
    from sam_editor.selfcheck import NOT_BUNDLED, expected_modules

    try:
        bundled = set(json.loads(BUNDLE_MODULES.read_text())["modules"])
    except (OSError, ValueError, KeyError):
        return "dist/SAMEditor predates the module manifest: rebuild it with `make package`"
    if bundled != {m for m in expected_modules() if m not in NOT_BUNDLED}:
        return "dist/SAMEditor is older than the source tree: rebuild it with `make package`"
    return None


needs_frozen = pytest.mark.skipif(frozen_skip_reason() is not None, reason=str(frozen_skip_reason()))


def run(cmd: list[str], tmp_path: Path, timeout: float = 300) -> tuple[int, dict, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1", HOME=str(tmp_path))
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no report; stdout: {proc.stdout[-2000:]} stderr: {proc.stderr[-2000:]}"
    return proc.returncode, json.loads(lines[-1]), proc.stderr


def check_export(out: Path, report: dict) -> None:
    assert report["ok"], report
    assert report["window_s"] <= report["map_s"] <= report["inversion_s"] <= report["export_s"]
    assert report["inversion_steps"] == 5
    img = np.asarray(Image.open(out).convert("RGB"), dtype=np.float32)
    src = np.asarray(Image.open(SAMPLE).convert("RGB"), dtype=np.float32)
    assert img.shape == src.shape  # exported at the photo's own size, not the generator's
    assert img.std() > 10, "exported image is flat"
    # It is this photo, edited: closer to the source than to the source turned upside down.
    assert np.abs(img - src).mean() < np.abs(img - src[::-1]).mean()


def test_smoke_run_from_source_opens_inverts_edits_and_exports(tmp_path):
    out = tmp_path / "edited.png"
    rc, report, err = run(
        [sys.executable, str(ROOT / "main.py"), "--smoke-test", str(SAMPLE), str(out), "--steps", "5"], tmp_path
    )
    assert rc == 0, err[-2000:]
    check_export(out, report)


def test_smoke_run_reports_a_corrupt_image_and_exits_non_zero(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    rc, report, _ = run(
        [sys.executable, str(ROOT / "main.py"), "--smoke-test", str(bad), str(tmp_path / "o.png")], tmp_path
    )
    assert rc == 1 and not report["ok"]
    assert "broken.png" in report["error"] or "image" in report["error"].lower()
    assert not (tmp_path / "o.png").exists()


@needs_frozen
def test_frozen_app_smoke_run(tmp_path):
    out = tmp_path / "edited.png"
    rc, report, err = run([str(FROZEN), "--smoke-test", str(SAMPLE), str(out), "--steps", "5"], tmp_path)
    assert rc == 0, err[-2000:]
    check_export(out, report)


@needs_frozen
def test_frozen_app_holds_every_module_of_the_source_tree(tmp_path):
    """Every module the source tree has today (less the ones left out on purpose) is importable in
    the frozen app, and every lazily exported name resolves there: a stale or partial build fails."""
    from sam_editor.selfcheck import NOT_BUNDLED, expected_modules

    rc, report, err = run([str(FROZEN), "--check-imports"], tmp_path, timeout=180)
    assert report["frozen"] and report["source"] == "bundle manifest"
    assert report["missing"] == [] and rc == 0, err[-2000:]
    assert report["modules"] == len([m for m in expected_modules() if m not in NOT_BUNDLED])
    assert report["lazy_names"] >= 90
