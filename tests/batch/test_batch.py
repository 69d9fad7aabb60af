"""Batch jobs (`sam_editor.batch`): per-item results, resume, retries of dead workers, bad input
reported — on a local Ray (`ray.init(num_cpus=2)`), the process pool and in-process."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from batch_tasks import calls, square

from sam_editor.batch import Item, JsonStore, choose_backend, run_batch


def _items(tmp_path, n=6, flags=None):
    flags = flags or {}
    return [Item(f"k{x}", {"dir": str(tmp_path), "x": x, **flags.get(x, {})}) for x in range(n)]


@pytest.mark.parametrize("backend", ["local", "pool", "ray"])
def test_every_item_once_with_results_on_disk(tmp_path, backend, request):
    if backend == "ray":
        request.getfixturevalue("local_ray")
    store = JsonStore(tmp_path / "items")
    report = run_batch(square, _items(tmp_path), store, workers=2, backend=backend)
    assert report.backend == backend and not report.failed
    assert sorted(report.done) == [f"k{x}" for x in range(6)]
    assert [r["y"] for r in store.results(_items(tmp_path))] == [x * x for x in range(6)]
    assert calls(tmp_path) == list(range(6))
    if backend != "local":
        assert len({r["pid"] for r in store.results(_items(tmp_path))}) >= 1


@pytest.mark.parametrize("backend", ["pool", "ray"])
def test_a_killed_worker_is_retried_and_every_item_completes(tmp_path, backend, request):
    if backend == "ray":
        request.getfixturevalue("local_ray")
    items = _items(tmp_path, 6, {3: {"die": True}})
    store = JsonStore(tmp_path / "items")
    report = run_batch(square, items, store, workers=2, backend=backend, retries=2)
    assert (tmp_path / "died-3").exists()  # the worker really died on item 3
    assert not report.failed and sorted(report.done) == [f"k{x}" for x in range(6)]
    assert store.read("k3")["y"] == 9
    assert calls(tmp_path).count(3) == 2  # the attempt that died, then the retry


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_rerun_after_an_interruption_redoes_nothing_finished(tmp_path, backend, request):
    if backend == "ray":
        request.getfixturevalue("local_ray")
    items = _items(tmp_path, 8)
    store = JsonStore(tmp_path / "items")
    seen: list[str] = []
    first = run_batch(square, items, store, workers=2, backend=backend,
                      on_result=lambda it, r, rep: seen.append(it.key), should_stop=lambda: len(seen) >= 3)  # fmt: skip
    assert first.stopped and 3 <= len(first.done) < 8
    before = calls(tmp_path)
    second = run_batch(square, items, store, workers=2, backend=backend)
    assert sorted(second.skipped) == sorted(first.done)
    assert not set(second.done) & set(first.done) and len(first.done) + len(second.done) == 8
    redone = calls(tmp_path)[len(before) :]
    assert sorted(redone) == sorted(int(k[1:]) for k in second.done)  # nothing finished ran again
    third = run_batch(square, items, store, backend=backend)
    assert not third.done and len(third.skipped) == 8


def test_bad_input_is_reported_not_fatal_and_retried_on_rerun(tmp_path):
    items = _items(tmp_path, 4, {1: {"bad": True}})
    store = JsonStore(tmp_path / "items")
    report = run_batch(square, items, store, backend="local")
    assert report.failed == {"k1": "item 1: not an image"}
    assert sorted(report.done) == ["k0", "k2", "k3"] and store.read("k1") is None
    again = run_batch(square, items, store, backend="local")
    assert list(again.failed) == ["k1"] and sorted(again.skipped) == ["k0", "k2", "k3"]


def test_backend_choice_and_refusals():
    assert choose_backend("auto", 1, None) == "local"
    assert choose_backend("auto", 2, None) in ("ray", "pool")
    assert choose_backend("auto", 1, "auto") == "ray"
    with pytest.raises(ValueError, match="unknown backend"):
        choose_backend("slurm", 2, None)
    with pytest.raises(ValueError, match="share a key"):
        run_batch(square, [Item("a", {}), Item("a", {})], JsonStore("/tmp/unused-batch-store"))


# ---- the real jobs on a tiny generator -----------------------------------------------------
def _tiny_files(tmp_path, resolution=32):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from inversion.conftest import TINY, make_tiny_generator

    from sam_editor.gan.native import save_generator
    from sam_editor.inversion.images import save_png

    cfg = TINY if resolution == 32 else dataclasses.replace(TINY, resolution=resolution, channel_max=16)
    G = make_tiny_generator(seed=5, cfg=cfg)
    gen = tmp_path / "tiny.pt"
    save_generator(gen, G)
    folder = tmp_path / "photos"
    for i in range(4):
        with torch.no_grad():
            w = G.map(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(100 + i)))
            save_png(folder / f"p{i}.png", G.synthesize(w, {}, {}, noise_mode="const").clamp(-1, 1)[0])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return gen, folder


def test_eval_on_ray_equals_the_sequential_eval(tmp_path, local_ray, capsys):
    from sam_editor.session import invert_commands as commands

    gen, folder = _tiny_files(tmp_path)
    base = ["eval", str(folder), "--generator", str(gen), "--methods", "wplus,sam", "--latent-map", "wplus",
            "--steps", "4", "--init", "mean", "--device", "cpu"]  # fmt: skip
    assert commands.main([*base, "--out", str(tmp_path / "seq")]) == 1  # broken.png is reported: exit 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "2 failed" in err
    assert commands.main([*base, "--out", str(tmp_path / "ray"), "--workers", "2", "--backend", "ray"]) == 1
    seq = json.loads((tmp_path / "seq" / "eval.json").read_text())
    par = json.loads((tmp_path / "ray" / "eval.json").read_text())
    assert par["batch"]["backend"] == "ray" and par["batch"]["workers"] == 2 and len(par["batch"]["failed"]) == 2
    key = lambda r: (r["method"], r["image"])  # noqa: E731
    a, b = sorted(seq["per_image"], key=key), sorted(par["per_image"], key=key)
    assert [key(r) for r in a] == [key(r) for r in b] and len(a) == 8
    np.testing.assert_allclose([r["psnr"] for r in a], [r["psnr"] for r in b], rtol=1e-4)
    np.testing.assert_allclose([r["perceptual"] for r in a], [r["perceptual"] for r in b], rtol=1e-3)
    # a rerun resumes: nothing finished is inverted again
    assert commands.main([*base, "--out", str(tmp_path / "ray"), "--workers", "2", "--backend", "ray"]) == 1
    again = json.loads((tmp_path / "ray" / "eval.json").read_text())
    assert again["batch"]["done"] == 0 and again["batch"]["resumed"] == 8 and len(again["per_image"]) == 8


def test_predictor_targets_from_a_photo_folder_resume(tmp_path):
    from sam_editor.demo.train_predictor import build_targets_batch
    from sam_editor.invertibility.data import list_images, target_done

    gen, folder = _tiny_files(tmp_path, resolution=128)  # every space F4…F10 exists from 128 px
    photos = list_images(folder)
    report = build_targets_batch(gen, photos, tmp_path / "targets", steps=2, per_item=2, backend="local")
    good = [p for p in photos if p.name != "broken.png"]
    assert all(target_done(tmp_path / "targets", p) for p in good)
    assert len(report.failed) == 1 and "broken" in next(iter(report.failed))  # its item is reported
    with np.load(tmp_path / "targets" / "p0.npz") as z:
        assert z["errors"].shape == (5, 128, 128) and z["image"].shape == (128, 128, 3)
    again = build_targets_batch(gen, photos, tmp_path / "targets", steps=2, per_item=2, backend="local")
    assert not again.done and len(again.skipped) == len(good)
