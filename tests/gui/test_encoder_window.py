"""With an encoder in the bundle, a dropped photo is editable as soon as its map is ready: the
window shows the encoder's φ first, then refines it by optimisation with live previews."""

from __future__ import annotations

import pytest
from bundle_factory import make_bundle

from .helpers import drop_files

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def encoder_bundle(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    folder = tmp_path_factory.mktemp("weights_enc")
    mp = pytest.MonkeyPatch()
    mp.setenv("SAM_EDITOR_CACHE", str(folder / "cache"))
    yield make_bundle(folder, encoder=True)
    mp.undo()


@pytest.fixture
def enc_window(qapp, qtbot, encoder_bundle, temp_settings):  # noqa: ANN001, ANN201
    from sam_editor.gui.main_window import MainWindow

    MainWindow.confirm_unsaved = False
    w = MainWindow(bundle=encoder_bundle, settings=temp_settings)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.editor.shutdown()


def test_encoder_result_first_then_refined(enc_window, qtbot, sample_png):  # noqa: ANN001
    w, e = enc_window, enc_window.editor
    assert w.inversion_panel.current_start() == "encoder"
    w.inversion_panel.set_steps(3)
    finished = []
    e.inversionFinished.connect(finished.append)
    with qtbot.waitSignal(e.encoded, timeout=30000) as encoded:
        assert drop_files(w.canvas.viewport(), sample_png)
    first = finished[0]
    assert first.steps_run == 0 and first.phi.metadata["init"] == "encoder"
    assert encoded.args[0] < 30
    assert w.session.inversion is first  # editable now: the edit panel waits only for GANSpace
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=60000)  # the refinement, started by itself
    refined = finished[1]
    assert refined.steps_run == 3 and refined.phi.metadata["init"] == "encoder"
    assert w.session.inversion is refined
    target = w.session.work.astype(float)
    err = lambda inv: float(((inv.reconstruction.astype(float) - target) ** 2).mean())  # noqa: E731
    assert err(refined) < err(first)  # the optimisation improved on the encoder's start


def test_mean_start_when_chosen(enc_window, qtbot, sample_png):  # noqa: ANN001
    w, e = enc_window, enc_window.editor
    e.refine_after_encoding = False
    with qtbot.waitSignal(e.encoded, timeout=30000):
        assert drop_files(w.canvas.viewport(), sample_png)
    assert not e.inverting  # no refinement when switched off
    w.inversion_panel.start.setCurrentIndex(w.inversion_panel.start.findData("mean"))
    w.inversion_panel.set_steps(2)
    with qtbot.waitSignal(e.inversionFinished, timeout=60000) as done:
        w.inversion_panel.request_inversion()
    assert done.args[0].phi.metadata["init"] == "mean_w" and done.args[0].steps_run == 2


def test_encoder_only_length_skips_refinement(enc_window, qtbot, sample_png):  # noqa: ANN001
    w, e = enc_window, enc_window.editor
    panel = w.inversion_panel
    panel.set_steps(0)
    assert panel.steps_value() == 0 and panel.steps.text() == "Encoder only"
    finished = []
    e.inversionFinished.connect(finished.append)
    with qtbot.waitSignal(e.encoded, timeout=30000):
        assert drop_files(w.canvas.viewport(), sample_png)
    qtbot.wait(200)
    assert not e.inverting and len(finished) == 1  # no refinement, no loop of encodings
    assert finished[0].steps_run == 0 and panel.eta.text().startswith("encoder φ in")
    # From the mean w an inversion needs at least one step: the length moves up to 1
    panel.start.setCurrentIndex(panel.start.findData("mean"))
    assert panel.steps_value() == 1 and panel.steps.minimum() == 1 and panel.steps.specialValueText() == ""
