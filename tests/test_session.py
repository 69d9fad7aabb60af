"""The Qt-free session: photo reading, τ and overrides with undo values, gating reach, edits,
projects and exports — the window's whole door to the core, tested without a window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from bundle_factory import make_bundle, write_sample

from sam_editor.gan.layers import LayerSpace
from sam_editor.session import (
    EditSpec,
    Problem,
    Session,
    compute_ganspace,
    letterbox,
    predict_latent_map,
    read_image,
    run_inversion,
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    folder = tmp_path_factory.mktemp("weights")
    mp = pytest.MonkeyPatch()
    mp.setenv("SAM_EDITOR_CACHE", str(folder / "cache"))
    yield make_bundle(folder)
    mp.undo()


@pytest.fixture
def session(bundle, tmp_path):  # noqa: ANN001, ANN201
    s = Session(bundle)
    assert not isinstance(s.open_image(write_sample(tmp_path / "car.png")), Problem)
    s.apply_latent_map(predict_latent_map(bundle, s.work, s.tau, lambda *a: None, lambda: False, box=s.placement.box))
    return s


def never(*_a) -> bool:  # noqa: ANN002
    return False


def test_session_does_not_import_qt() -> None:
    code = "import sys, sam_editor.session; sys.exit(any(m.startswith('PySide6') for m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


def test_read_image_conversions(tmp_path: Path) -> None:
    from PIL import Image

    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent on the left half
    rgba[:, 15:, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert not isinstance(img, Problem)
    assert img.rgb[0, 0].tolist() == [255, 255, 255] and img.rgb[0, 20].tolist() == [255, 0, 0]
    assert any("transparency" in n for n in img.notes)
    cv2.imwrite(str(tmp_path / "g16.png"), np.full((20, 30), 65535, np.uint16))
    g = read_image(tmp_path / "g16.png")
    assert g.rgb.shape == (20, 30, 3) and g.rgb.max() == 255 and any("16-bit" in n for n in g.notes)
    Image.fromarray(np.full((20, 30, 3), (0, 0, 255), np.uint8)).convert("CMYK").save(tmp_path / "c.jpg")
    c = read_image(tmp_path / "c.jpg")
    assert c.rgb[10, 10, 2] > 200 and c.rgb[10, 10, 0] < 60 and any("CMYK" in n for n in c.notes)


def test_read_image_problems(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"garbage")
    assert isinstance(read_image(tmp_path / "x.png"), Problem)
    assert isinstance(read_image(tmp_path / "missing.png"), Problem)
    big = sparse_bmp(tmp_path / "big.bmp", 9000, 8000)
    p = read_image(big)
    assert isinstance(p, Problem) and "9000 × 8000" in p.message


def sparse_bmp(path: Path, w: int, h: int) -> Path:
    """A sparse BMP header claiming w × h (the pixel data is never read)."""
    import struct

    row = (w * 3 + 3) & ~3
    header = b"BM" + struct.pack("<IHHI", 54 + row * h, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, row * h, 2835, 2835, 0, 0)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(54 + row * h)  # sparse: no disk, no RAM
    return path


def test_letterbox_keeps_the_whole_photo() -> None:
    img = np.zeros((100, 300, 3), np.uint8)
    img[:, :10] = 255  # a white strip at the photo's left end: a centre crop would lose it
    out, place = letterbox(img, (64, 64))
    assert out.shape == (64, 64, 3) and place.box == (21, 0, 21, 64) and place.photo == (100, 300)
    assert out[21:42, 0].min() == 255 and out[21:42, 3:].max() < 255  # the left end survives
    assert place.mask().sum() == 21 * 64 and not place.full
    # the padding repeats the edge rows; nothing in it is new content
    assert np.array_equal(out[0], out[21]) and np.array_equal(out[63], out[41])


def test_a_mistyped_output_name_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="which must be one of"):
        session.result_image("edtied")


def test_tau_and_overrides_return_old_values(session: Session) -> None:
    lm = session.latent_map
    events: list[str] = []
    session.events.connect(events.append)
    before = lm.segment_ranks().copy()
    assert session.set_tau(0.39) == pytest.approx(0.225)
    assert (session.latent_map.segment_ranks() <= before).all() and events == ["latent_map"]
    old = session.set_overrides({0: LayerSpace.F8})
    assert old == {0: None} and session.latent_map.space_of_segment(0) is LayerSpace.F8
    session.set_overrides(old)
    assert session.latent_map.overrides == {}
    rgba = session.overlay_rgba(highlight=0)
    assert rgba.shape == (*session.frame_size, 4) and (rgba[..., 3] == 255).all()


def test_inversion_edit_gating_and_reach(session: Session, bundle) -> None:  # noqa: ANN001
    session.set_overrides({session.segment_at(48, 48): LayerSpace.F8})
    steps: list[int] = []
    inv = run_inversion(bundle, session.work, session.latent_map, "sam", 3, lambda s, t, p: steps.append(s), never)
    assert steps == [1, 2, 3] and not inv.cancelled and inv.reconstruction.shape == (*session.frame_size, 3)
    session.apply_inversion(inv)
    session.ganspace = compute_ganspace(bundle, lambda *a: None, never)
    n = session.num_ws
    late = EditSpec("ganspace", "PC 0", 5.0, (n - 1, n - 1), component=0)  # only the last row
    early = EditSpec("ganspace", "PC 0", 5.0, (0, n - 2), component=0)
    f8 = session.inversion_ranks() == LayerSpace.F8.rank
    assert session.reach_map([late]).all()  # the last row comes after F8: every pixel may change
    assert (session.reach_map([early]) == ~f8).all()
    from sam_editor.session import render

    session.set_edits([early])
    edited = render(session.render_request())
    diff = np.abs(edited.astype(int) - inv.reconstruction.astype(int)).sum(-1)
    assert diff[f8].max() == 0 and diff[~f8].mean() > 0.5


def test_edit_region_keeps_the_rest_unedited_and_is_saved(session: Session, bundle, tmp_path: Path) -> None:  # noqa: ANN001
    from sam_editor.session import render

    inv = run_inversion(bundle, session.work, session.latent_map, "sam", 2, lambda *a: None, never)
    session.apply_inversion(inv)
    session.ganspace = compute_ganspace(bundle, lambda *a: None, never)
    session.set_edits([EditSpec("ganspace", "PC 0", 5.0, (0, session.num_ws - 1), component=0)])
    everywhere = np.abs(render(session.render_request()).astype(int) - inv.reconstruction).sum(-1)
    labels = session.latent_map.labels
    seg = int(np.bincount(labels.ravel()).argmax())  # the largest segment
    events: list[str] = []
    session.events.connect(events.append)
    assert session.set_edit_region([seg]) == frozenset() and events == ["edit_region"]
    inside = cv2.erode((labels == seg).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    outside = cv2.erode((labels != seg).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    held = np.abs(render(session.render_request()).astype(int) - inv.reconstruction).sum(-1)
    assert held[inside].mean() > 0.5 * everywhere[inside].mean() > 0
    assert held[outside].mean() < 0.25 * everywhere[outside].mean()
    assert not session.reach_map()[outside].any()
    assert session.render_request().phi is session.render_request().phi  # computed once, then reused
    assert session.render_request().edit_area == pytest.approx((labels == seg).mean())  # StyleCLIP's λ_L2 scales by it
    with pytest.raises(ValueError, match="not all in the latent map"):
        session.set_edit_region([labels.max() + 1])
    path = session.save_project(tmp_path / "r.samproj")
    other = Session(bundle)
    assert other.load_project(path) == [] and other.edit_region == {seg}
    assert session.set_edit_region([]) == {seg} and session.region_mask() is None
    other.apply_latent_map(predict_latent_map(bundle, np.ascontiguousarray(other.work[::-1]), other.tau, lambda *a: None, never))
    assert other.edit_region == frozenset()  # a new map has other segments


def test_cancel_returns_best_so_far(session: Session, bundle) -> None:  # noqa: ANN001
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    inv = run_inversion(bundle, session.work, session.latent_map, "sam", 500, lambda *a: None, stop)
    assert inv.cancelled and inv.steps_run == 3


def test_project_roundtrip_and_export(session: Session, bundle, tmp_path: Path) -> None:  # noqa: ANN001
    session.set_tau(0.3)
    session.set_overrides({1: LayerSpace.F4})
    inv = run_inversion(bundle, session.work, session.latent_map, "sam", 2, lambda *a: None, never)
    session.apply_inversion(inv)
    key = session.add_direction(torch.randn(1, session.num_ws, bundle.G.w_dim))
    session.set_edits([EditSpec("styleclip", "“red”", 0.5, (0, session.num_ws - 1), text="red", key=key)])
    path = session.save_project(tmp_path / "p.samproj")
    assert path == tmp_path / "p.samproj" and not session.dirty
    other = Session(bundle)
    assert other.load_project(path) == []
    assert other.latent_map.tau == pytest.approx(0.3) and other.latent_map.overrides == {1: LayerSpace.F4}
    assert other.edits == session.edits and torch.equal(other.directions[key], session.directions[key])
    assert torch.equal(other.inversion.phi.w_plus.cpu(), inv.phi.w_plus.cpu())
    assert np.array_equal(other.work, session.work)
    out = other.export_png(tmp_path / "r.png", "reconstruction", full_size=False)
    back = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, inv.reconstruction[other.placement.slices()])
    up = other.export_png(tmp_path / "up.png", side_by_side=True)
    h, w = cv2.imread(str(up)).shape[:2]
    assert h == 96 and w > 3 * 96  # the photo's own size, three panels
    (tmp_path / "bad.samproj").write_bytes(b"PK\x03\x04 nope")
    assert isinstance(Session(bundle).load_project(tmp_path / "bad.samproj"), Problem)


def test_missing_generator_is_a_problem(tmp_path: Path) -> None:
    from sam_editor.session import load_bundle

    p = load_bundle([tmp_path])
    assert isinstance(p, Problem) and "generator" in p.title.lower()


def test_map_change_after_inversion_is_flagged(session: Session, bundle) -> None:  # noqa: ANN001
    inv = run_inversion(bundle, session.work, session.latent_map, "sam", 1, lambda *a: None, never)
    session.apply_inversion(inv)
    assert not session.map_changed_since_inversion
    session.set_overrides({0: LayerSpace.F4})
    assert session.map_changed_since_inversion
    session.set_overrides({0: None})
    assert not session.map_changed_since_inversion


def test_presets_measured_for_this_generator_ship_beside_it(bundle, tmp_path):
    import json

    from sam_editor.edits.presets import GENERATOR_PRESETS_FILE

    path = bundle.generator_path.parent / GENERATOR_PRESETS_FILE
    mine = {"name": "Demo - Sky bluer (PC 0)", "component": 0, "layers": [0, 3], "strength": 2.0, "generator": bundle.generator_id}
    stale = {"name": "Demo - Car redder (PC 1)", "component": 1, "layers": [0, 3], "strength": 2.0, "generator": "an-older-generator"}
    try:
        path.write_text(json.dumps([mine, stale]))
        s = Session(bundle)
        names = [getattr(p, "name", "") for p in s.presets()]
        assert "Demo - Sky bluer (PC 0)" in names and "Demo - Car redder (PC 1)" not in names
        spec = s.preset_edit(next(p for p in s.presets() if p.name == mine["name"]))
        assert spec.kind == "ganspace" and spec.component == 0 and spec.layers == (0, 3) and spec.strength == 2.0
        path.write_text("{broken")
        assert all(getattr(p, "name", "") != mine["name"] for p in Session(bundle).presets())  # no crash, no preset
    finally:
        path.unlink(missing_ok=True)
