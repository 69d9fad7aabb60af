"""GUI test fixtures: QSettings in a temp file, and a tiny model bundle in the real file formats
(native generator, tiny predictor) loaded through the same `load_bundle` as the app's."""

from __future__ import annotations

from pathlib import Path

import pytest
from bundle_factory import make_bundle, write_sample
from PySide6.QtCore import QSettings


@pytest.fixture(autouse=True)
def temp_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> QSettings:
    """Every test gets its own settings file, so no test sees a user's (or another test's)."""
    folder = tmp_path_factory.mktemp("settings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    monkeypatch.setenv("SAM_EDITOR_DATA", str(folder / "data"))
    return QSettings()


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    folder = tmp_path_factory.mktemp("weights")
    mp = pytest.MonkeyPatch()
    mp.setenv("SAM_EDITOR_CACHE", str(folder / "cache"))  # W statistics and GANSpace stay in tmp
    yield make_bundle(folder)
    mp.undo()


@pytest.fixture
def sample_png(tmp_path: Path) -> Path:
    return write_sample(tmp_path / "car.png")


@pytest.fixture
def window(qapp, qtbot, tiny_bundle, temp_settings):  # noqa: ANN001, ANN201
    """The real main window on the tiny bundle, themed as the app is."""
    from sam_editor.gui.app import apply_theme
    from sam_editor.gui.main_window import MainWindow

    apply_theme(qapp)
    MainWindow.confirm_unsaved = False
    w = MainWindow(bundle=tiny_bundle, settings=temp_settings)
    qtbot.addWidget(w)
    w.resize(1300, 850)
    w.show()
    yield w
    w.editor.shutdown()
