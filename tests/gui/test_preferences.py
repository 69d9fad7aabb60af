"""Edit ▸ Preferences through the real dialog: saved in QSettings, applied to the running window
(τ of the next map, export defaults, threads, a models reload for a new weights folder) and read
back by a new window on the same settings (a restart)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialogButtonBox

from sam_editor.gui import workers
from sam_editor.gui.preferences import Preferences, load_preferences

from .helpers import drop_files

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _open_dialog(window, qtbot):  # noqa: ANN001, ANN202
    window.actions.preferences.trigger()
    dialog = window.preferences_window
    qtbot.waitExposed(dialog)
    return dialog


def _ok(dialog) -> None:  # noqa: ANN001
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def test_preferences_apply_live_and_survive_a_restart(window, qtbot, tiny_bundle, sample_png, monkeypatch):  # noqa: ANN001
    scale = tiny_bundle.tau_scale
    wanted_tau = round(scale.lo + 0.75 * (scale.hi - scale.lo), 3)
    assert abs(wanted_tau - scale.default) > 0.01
    dialog = _open_dialog(window, qtbot)
    assert dialog.tau.minimum() == pytest.approx(scale.lo) and dialog.tau.maximum() == pytest.approx(scale.hi)
    dialog.threads.setValue(2)
    dialog.tau_override.setChecked(True)
    dialog.tau.setValue(wanted_tau)
    dialog.export_which.setCurrentIndex(dialog.export_which.findData("reconstruction"))
    dialog.export_side.setChecked(True)
    dialog.export_size.setCurrentIndex(1)  # generator image only
    dialog.ui_scale.setCurrentIndex(dialog.ui_scale.findData(1.5))
    _ok(dialog)
    try:
        chosen = Preferences(
            threads=2,
            tau=wanted_tau,
            export_which="reconstruction",
            export_side_by_side=True,
            export_full_size=False,
            ui_scale=1.5,
        )
        assert window.prefs == chosen
        # live: threads for the next job, τ for the next photo's map
        assert workers.torch_threads_for(tiny_bundle.G) == 2
        assert window.map_panel.tau.value() == pytest.approx(wanted_tau)
        with qtbot.waitSignal(window.editor.mapReady, timeout=30000):
            assert drop_files(window.canvas.viewport(), sample_png)
        assert window.session.latent_map.tau == pytest.approx(wanted_tau)
        # the export dialog opens with the preferred options
        from sam_editor.gui.widgets import ExportDialog

        monkeypatch.setattr(ExportDialog, "exec", lambda self: ExportDialog.DialogCode.Rejected)
        window.export_dialog()
        assert window.export_options_dialog.options() == {
            "which": "reconstruction",
            "side_by_side": True,
            "full_size": False,
        }

        # a restart: a new window on the same settings file
        from sam_editor.gui.main_window import MainWindow

        again = MainWindow(bundle=tiny_bundle, settings=QSettings())
        qtbot.addWidget(again)
        assert again.prefs == chosen
        assert again.session.tau == pytest.approx(wanted_tau)
        d2 = _open_dialog(again, qtbot)
        assert d2.preferences() == chosen
        d2.restore_defaults()
        assert d2.preferences() == Preferences()
        _ok(d2)
        assert load_preferences(QSettings()) == Preferences()
        assert workers.torch_threads_for(tiny_bundle.G) == 1  # automatic again: one thread for a small generator
        again.editor.shutdown()
    finally:
        workers.set_threads_preference(None)


def test_tau_preference_stays_inside_the_bundles_range(qtbot, tiny_bundle, temp_settings):  # noqa: ANN001
    from sam_editor.gui.main_window import MainWindow

    temp_settings.setValue("preferences/tau", 99.0)
    temp_settings.setValue("preferences/device", "quantum")  # a hand-edited file: that entry falls back
    w = MainWindow(bundle=tiny_bundle, settings=temp_settings)
    qtbot.addWidget(w)
    assert w.prefs.device == "auto"
    assert w.session.tau == pytest.approx(tiny_bundle.tau_scale.hi)
    w.editor.shutdown()


def test_new_weights_folder_reloads_the_models(window, qtbot, tiny_bundle):  # noqa: ANN001
    folder = tiny_bundle.generator_path.parent.parent
    dialog = _open_dialog(window, qtbot)
    dialog.weights_dir.setText(str(folder))
    _ok(dialog)
    assert QSettings().value("preferences/weights_dir") == str(folder)
    qtbot.waitUntil(lambda: window.session.bundle is not tiny_bundle, timeout=60000)
    assert window.session.bundle.generator_path == tiny_bundle.generator_path
    assert window.weights_dirs[0] == folder
