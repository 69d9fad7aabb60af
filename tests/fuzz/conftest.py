"""Fixtures for the fuzz and fault tests: the tiny bundle, a session with a photo, a map, an
inversion and an edit, saved as a good project, and a code-execution marker path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bundle_factory import make_bundle, write_sample


@pytest.fixture(scope="session")
def fuzz_bundle(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    folder = tmp_path_factory.mktemp("fuzzweights")
    mp = pytest.MonkeyPatch()
    mp.setenv("SAM_EDITOR_CACHE", str(folder / "cache"))
    yield make_bundle(folder)
    mp.undo()


def busy_session(bundle, folder: Path):  # noqa: ANN001, ANN201
    """A session with work in it: photo, map, an override, a 2-step inversion, a direction edit."""
    from sam_editor.gan.layers import LayerSpace
    from sam_editor.session import EditSpec, Session, predict_latent_map, run_inversion

    s = Session(bundle)
    s.open_image(write_sample(folder / "car.png"))
    s.apply_latent_map(predict_latent_map(bundle, s.work, s.tau, lambda *a: None, lambda: False, box=s.placement.box))
    s.set_overrides({1: LayerSpace.F4})
    s.apply_inversion(run_inversion(bundle, s.work, s.latent_map, "sam", 2, lambda *a: None, lambda: False))
    key = s.add_direction(torch.randn(1, s.num_ws, bundle.G.w_dim))
    s.set_edits([EditSpec("styleclip", "red", 0.5, (0, s.num_ws - 1), text="red", key=key)])
    s.set_edit_region([1])
    return s


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


def snapshot(session) -> tuple:  # noqa: ANN001
    """What 'the session is untouched' means: the same objects in every slot."""
    return (
        session.source,
        session.work,
        session.latent_map,
        session.inversion,
        tuple(session.edits),
        dict(session.directions),
        session.edit_region,
        session.project_path,
        session.dirty,
    )


def same(a: tuple, b: tuple) -> bool:
    return all(x is y or x == y for x, y in zip(a, b, strict=True))
