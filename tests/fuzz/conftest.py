"""Fixtures for the fuzz and fault tests: the tiny bundle, a session with a photo, a map, an
inversion and an edit, saved as a good project, and a code-execution marker path."""

from __future__ import annotations

from pathlib import Path

import pytest
from bundle_factory import make_bundle

from .badfiles import busy_session


@pytest.fixture(scope="session")
def fuzz_bundle(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    folder = tmp_path_factory.mktemp("fuzzweights")
    mp = pytest.MonkeyPatch()
    mp.setenv("SAM_EDITOR_CACHE", str(folder / "cache"))
    yield make_bundle(folder)
    mp.undo()


@pytest.fixture(scope="session")
def good_project(fuzz_bundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("goodproject")
    s = busy_session(fuzz_bundle, folder)
    path = s.save_project(folder / "good.samproj")
    assert isinstance(path, Path), path
    return path


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """Created only if code from a file ever runs; every test asserts it does not exist."""
    return tmp_path / "CODE_RAN"


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    """How many generated inputs each fuzzer fed to the readers and the CLI in this run."""
    import sys

    module = next((m for name, m in list(sys.modules.items()) if name.endswith("fuzz.test_fuzz")), None)
    COUNTS = getattr(module, "COUNTS", None)
    if COUNTS:
        total = sum(COUNTS.values())
        terminalreporter.write_line(f"fuzz inputs: {dict(sorted(COUNTS.items()))}, {total} in all")


@pytest.fixture(autouse=True)
def no_hang() -> object:
    """A fuzz or fault test that hangs fails after 180 s instead of stalling the suite (a
    reader stuck on some input counts as a defect, as a crash does)."""
    import signal

    def hung(_signum: int, _frame: object) -> None:
        raise TimeoutError("a test in tests/fuzz ran over 180 s: some input made a reader hang")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(180)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
