"""optimise.py's contract, each part pinned by an expectation computed another way (issue 36): the
input checks, the letterbox valid mask, the area downsampling of L_rec, LatentProblem's parameters,
Adam with the official lr schedule (a hand-written Adam as reference), per-image best φ, progress,
cancel, and invert's bookkeeping. A private 16-px generator cropped to 12×16 (non-square, as the
cars' 384×512) keeps every test well under a second on one core, so a mutation run can afford them."""

from __future__ import annotations

import dataclasses
import math
import re
import time

import numpy as np
import pytest
import torch

from sam_editor.gan.layers import LayerSpace
from sam_editor.gan.networks import GeneratorConfig
from sam_editor.inversion import InversionSettings, invert
from sam_editor.inversion import optimise as opt
from sam_editor.inversion.losses import estimate_w_prior, w_prior_term
from sam_editor.inversion.optimise import (
    LatentProblem,
    keep_best,
    photo_weights,
    prepare_images,
    run_latent_optimisation,
    to_loss_size,
)
from sam_editor.inversion.phi import Phi

from .conftest import make_tiny_generator

# 16² frame cropped to its rows 2…13: output (12, 16); F0 4², F2 8², F4 16² (the last block).
MICRO = GeneratorConfig(resolution=16, z_dim=16, w_dim=16, mapping_layers=1, channel_base=128, channel_max=16,
                        crop=(2, 0, 12, 16))  # fmt: skip
# no perceptual metric, no ŵ prior: nothing to load or estimate
PLAIN = InversionSettings(steps=4, lambda_lpips=0.0, pti_lambda_lpips=0.0, lambda_w_prior=0.0)


@pytest.fixture(scope="module")
def g():
    return make_tiny_generator(seed=3, cfg=MICRO)


@pytest.fixture(scope="module")
def g_stats(g):
    return estimate_w_prior(g, samples=500, key="micro")


def _image(g, seed: int, n: int = 1) -> torch.Tensor:
    """(n, 3, 12, 16) images of g (ψ = 0.7)."""
    z = torch.randn(n, g.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return g.synthesize(g.map(z, truncation_psi=0.7)).clamp(-1, 1)


# ---- inputs ------------------------------------------------------------------------------------------
def test_prepare_images_adds_the_batch_axis_converts_and_refuses_wrong_shapes(g):
    x3 = torch.linspace(-1, 1, 3 * 12 * 16, dtype=torch.float64).reshape(3, 12, 16)
    out = prepare_images(g, x3)
    assert out.shape == (1, 3, 12, 16) and out.dtype == torch.float32
    assert torch.equal(out[0], x3.float())
    x4 = torch.rand(2, 3, 12, 16)
    assert torch.equal(prepare_images(g, x4), x4)
    for bad in [(1, 4, 12, 16), (3, 12), (1, 1, 3, 12, 16), (2, 1, 12, 16)]:
        with pytest.raises(ValueError, match=re.escape(f"images must be (N, 3, H, W), got {bad}")):
            prepare_images(g, torch.zeros(bad))
    msg = "images are (16, 12), the generator makes (12, 16) (fit them first, e.g. sam_editor.imageio.letterbox)"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        prepare_images(g, torch.zeros(1, 3, 16, 12))  # the right pixels, transposed
    with pytest.raises(ValueError, match=re.escape("images are (12, 12)")):
        prepare_images(g, torch.zeros(3, 12, 12))


def test_photo_weights_is_the_letterbox_mask_or_none_when_all_photo():
    shape = torch.Size((2, 3, 12, 16))
    cpu = torch.device("cpu")
    assert photo_weights(None, shape, cpu) is None
    assert photo_weights(np.ones((12, 16), bool), shape, cpu) is None  # every pixel is photo
    assert photo_weights(torch.ones(2, 1, 12, 16), shape, cpu) is None
    box = np.zeros((12, 16), bool)
    box[3:9] = True  # a letterboxed photo: rows 3…8
    v = photo_weights(box, shape, cpu)
    assert v.shape == (1, 1, 12, 16) and v.dtype == torch.float32
    assert float(v.sum()) == 6 * 16 and float(v[0, 0, 3:9].min()) == 1.0 and float(v[0, 0, :3].max()) == 0.0
    soft = torch.full((2, 1, 12, 16), 0.5, dtype=torch.float64)
    soft[1, 0, 0, 0] = 1.0
    out = photo_weights(soft, shape, cpu)
    assert out.dtype == torch.float32 and out.shape == (2, 1, 12, 16) and torch.equal(out, soft.float())
    predicted = torch.full((1, 1, 12, 16), 0.25, requires_grad=True)  # e.g. a soft mask with autograd history
    assert torch.equal(photo_weights(predicted, shape, cpu), predicted.detach())
    faint = torch.full((12, 16), 1e-3)
    assert torch.equal(photo_weights(faint, shape, cpu), faint.reshape(1, 1, 12, 16))  # faint, yet photo
    one_row = torch.zeros(1, 12, 16)
    one_row[0, 5] = 1
    assert photo_weights(one_row, shape, cpu).shape == (1, 1, 12, 16)  # (1, H, W) gets its batch axis
    with pytest.raises(ValueError, match="^the valid mask excludes every pixel$"):
        photo_weights(np.zeros((12, 16), bool), shape, cpu)
    for bad in [(12, 15), (11, 16), (2, 12, 16), (1, 2, 12, 16), (3, 1, 12, 16), (1, 1, 1, 12, 16)]:
        expected = f"valid mask {(1,) * max(0, 4 - len(bad)) + bad} does not fit images (2, 3, 12, 16)"
        with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
            photo_weights(torch.ones(bad), shape, cpu)


def test_to_loss_size_area_averages_then_clamps():
    x = torch.linspace(-3, 3, 24).reshape(1, 1, 4, 6)
    assert torch.equal(to_loss_size(x, None, clamp=False), x)
    assert torch.equal(to_loss_size(x, (4, 6), clamp=False), x)  # already the loss size
    clamped = torch.tensor([min(max(float(v), -1.0), 1.0) for v in x.flatten()]).reshape(1, 1, 4, 6)
    assert torch.equal(to_loss_size(x, None, clamp=True), clamped)
    blocks = torch.tensor([[float(x[0, 0, 2 * r : 2 * r + 2, 2 * c : 2 * c + 2].sum()) / 4 for c in range(3)]
                           for r in range(2)])  # fmt: skip
    torch.testing.assert_close(to_loss_size(x, (2, 3), clamp=False)[0, 0], blocks)
    torch.testing.assert_close(to_loss_size(x, (2, 3), clamp=True)[0, 0], blocks.clamp(-1, 1))
    assert float(blocks.abs().max()) > 1  # the clamp comes after the average and matters


# ---- LatentProblem -----------------------------------------------------------------------------------
def test_problem_parameters_start_where_asked_and_are_copies(g, g_stats):
    x = _image(g, 1, n=2)
    p = LatentProblem(g, x, "wplus", PLAIN, None, None, {}, None)
    assert torch.equal(p.w, g.mapping.w_avg.reshape(1, 1, -1).expand(2, 6, 16))  # the mean w, every row
    assert p.w.requires_grad and p.w.is_leaf and p.params() == [p.w] and p.delta_f == {}
    assert p.valid is None and p.prepared is None and p.loss_size is None and torch.equal(p.target, x)
    with torch.no_grad():
        p.w.add_(1.0)
    assert not torch.equal(g.mean_w_plus(1)[0], p.w[0])  # G's mean w is not the parameter

    init = torch.randn(1, 6, 16, generator=torch.Generator().manual_seed(2))
    keep = init.clone()
    p = LatentProblem(g, x, "wplus", PLAIN, None, None, {}, init)
    assert p.w.shape == (2, 6, 16) and torch.equal(p.w[0], init[0]) and torch.equal(p.w[1], init[0])
    as64 = LatentProblem(g, x, "wplus", PLAIN, None, None, {}, init.double())
    assert as64.w.dtype == torch.float32 and torch.equal(as64.w[0], init[0])  # an encoder's float64 start
    with torch.no_grad():
        p.w[1].add_(1.0)  # each image its own parameters, and the caller's init untouched
    assert torch.equal(p.w[0], init[0]) and torch.equal(init, keep)
    for method in ("w", "pti"):  # one row: the mean of the init's rows
        p1 = LatentProblem(g, x, method, PLAIN, None, None, {}, init)
        assert p1.w.shape == (2, 1, 16) and p1.w.requires_grad
        torch.testing.assert_close(p1.w[1, 0], init[0].sum(0) / 6)
        assert torch.equal(p1.w_plus(), p1.w.expand(2, 6, 16))
    assert torch.equal(p.w_plus(init), init.expand(1, 6, 16))
    with pytest.raises(ValueError, match=re.escape("init_w_plus must be (N, 6, 16), got (2, 5, 16)")):
        LatentProblem(g, x, "wplus", PLAIN, None, None, {}, torch.zeros(1, 5, 16))
    with pytest.raises(ValueError, match=re.escape("init_w_plus must be (N, 6, 16), got (2, 6, 15)")):
        LatentProblem(g, x, "wplus", PLAIN, None, None, {}, torch.zeros(1, 6, 15))


def test_problem_feature_offsets_in_index_order_from_zero_or_the_start_given(g):
    x = _image(g, 3, n=2)
    masks = {4: torch.ones(1, 1, 16, 16), 2: torch.ones(1, 1, 8, 8)}
    p = LatentProblem(g, x, "sam", PLAIN, None, None, masks, None)
    assert list(p.delta_f) == [2, 4] and p.params()[1:] == [p.delta_f[2], p.delta_f[4]]
    assert p.delta_f[2].shape == (2, 16, 8, 8) and p.delta_f[4].shape == (2, 8, 16, 16)
    assert all(float(d.detach().abs().sum()) == 0 and d.requires_grad and d.is_leaf for d in p.delta_f.values())
    start = torch.randn(1, 8, 16, 16, generator=torch.Generator().manual_seed(4))
    keep = start.clone()
    p = LatentProblem(g, x, "sam", PLAIN, None, None, masks, None, init_delta_f={4: start.double()})
    assert p.delta_f[4].dtype == torch.float32 and p.delta_f[4].shape == (2, 8, 16, 16)
    p = LatentProblem(g, x, "sam", PLAIN, None, None, masks, None, init_delta_f={4: start})
    assert torch.equal(p.delta_f[4][1], start[0]) and float(p.delta_f[2].detach().abs().sum()) == 0
    with torch.no_grad():
        p.delta_f[4].add_(1.0)
    assert torch.equal(start, keep)
    snap, live = p.snapshot(), p.current()
    assert set(snap) == {"w", "f2", "f4"} and set(live) == {"w", "f2", "f4"}
    with torch.no_grad():
        p.delta_f[4].add_(1.0)
        p.w.add_(1.0)
    torch.testing.assert_close(snap["f4"][0], start[0] + 1)  # a copy …
    torch.testing.assert_close(live["f4"][0], start[0] + 2)  # … and the live parameters
    assert torch.equal(snap["w"], g.mean_w_plus(2)) and torch.equal(live["w"], g.mean_w_plus(2) + 1)
    assert not live["w"].requires_grad and not snap["f2"].requires_grad
    with pytest.raises(ValueError, match=re.escape("init Δf4 must be (N, 8, 16, 16), got (1, 8, 8, 8)")):
        LatentProblem(g, x, "sam", PLAIN, None, None, masks, None, init_delta_f={4: torch.zeros(1, 8, 8, 8)})


def test_problem_prior_weight_loss_size_and_perceptual_target(g, g_stats, fallback_perceptual):
    x = _image(g, 5)
    s = PLAIN.replace(lambda_w_prior=3e-4, gaussian_prior_strength=0.8)
    assert LatentProblem(g, x, "wplus", s, None, g_stats, {}, None).lambda_prior == 3e-4
    assert LatentProblem(g, x, "sam", s, None, g_stats, {}, None).lambda_prior == 3e-4
    gaussian = LatentProblem(g, x, "gaussian", s, None, g_stats, {}, None)
    assert gaussian.lambda_prior == pytest.approx(0.8 / (6 * 16), rel=1e-12)  # strength / (rows · w_dim)
    valid = torch.zeros(1, 1, 12, 16)
    valid[..., :5, :] = 1  # rows 0…4: the half-rows 0, 1 full, half-row 2 half photo
    loud = 1.5 * x  # a target beyond [-1, 1] is taken as given (only x̂ is clamped)
    assert float(loud.abs().max()) > 1.2
    p = LatentProblem(g, loud, "wplus", s.replace(optimise_size=(6, 8)), None, None, {}, None, valid)
    assert p.loss_size == (6, 8)
    torch.testing.assert_close(p.target, loud.reshape(1, 3, 6, 2, 8, 2).mean(dim=(3, 5)))
    assert torch.equal(p.valid[0, 0, :, 0], torch.tensor([1.0, 1.0, 0.5, 0.0, 0.0, 0.0]))
    as_bool = LatentProblem(g, loud, "wplus", s.replace(optimise_size=(6, 8)), None, None, {}, None, valid.bool())
    assert as_bool.valid.dtype == torch.float32 and torch.equal(as_bool.valid, p.valid)  # a bool mask is weights
    assert LatentProblem(g, x, "wplus", PLAIN, fallback_perceptual, None, {}, None).prepared is None  # λ_lpips 0
    with_lpips = LatentProblem(g, x, "wplus", PLAIN.replace(lambda_lpips=1.0), fallback_perceptual, None, {}, None)
    assert with_lpips.prepared is not None


def test_problem_prepares_the_targets_perceptual_features_once(g, fallback_perceptual, monkeypatch):
    from sam_editor.perceptual.perceptual import PreparedTarget

    prepared, seen = [], []
    prepare, distance = fallback_perceptual.prepare_target, fallback_perceptual.distance
    monkeypatch.setattr(fallback_perceptual, "prepare_target", lambda y: prepared.append(y) or prepare(y))
    monkeypatch.setattr(fallback_perceptual, "distance", lambda a, b: seen.append(type(b)) or distance(a, b))
    p = LatentProblem(g, _image(g, 30), "wplus", PLAIN.replace(lambda_lpips=1.0), fallback_perceptual, None, {}, None)
    for _ in range(3):
        p.evaluate()
    assert len(prepared) == 1 and seen == [PreparedTarget] * 3  # not a VGG pass of the target every step


def test_problem_renders_with_the_settings_noise_and_clamp(g):
    x = _image(g, 6)
    far = g.mean_w_plus(1) + 4.0 * torch.randn(1, 6, 16, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        raw = g.synthesize(far, noise_mode="none")
    assert float(raw.abs().max()) > 1.2  # the clamp matters for this w+
    for clamp in (True, False):
        s = PLAIN.replace(noise_mode="none", clamp=clamp, lambda_w_spread=0.0)
        p = LatentProblem(g, x, "wplus", s, None, None, {}, far)
        with torch.no_grad():
            assert torch.equal(p.render(), raw)
            total, parts = p.evaluate()
        x_hat = raw.clamp(-1, 1) if clamp else raw
        torch.testing.assert_close(total, ((x_hat - x) ** 2).mean().reshape(1))
        assert set(parts) == {"rec", "mse", "perceptual", "w_prior", "w_spread", "f"}
        assert float(parts["perceptual"]) == 0 and float(parts["f"]) == 0
    # at the loss size both x̂ and x are area-averaged
    p = LatentProblem(g, x, "wplus", PLAIN.replace(noise_mode="none", lambda_w_spread=0.0, optimise_size=(6, 8)),
                      None, None, {}, far)  # fmt: skip
    with torch.no_grad():
        total, _ = p.evaluate()
    pool = lambda t: t.reshape(1, 3, 6, 2, 8, 2).mean(dim=(3, 5))  # noqa: E731
    torch.testing.assert_close(total, ((pool(raw).clamp(-1, 1) - pool(x)) ** 2).mean().reshape(1))
    with torch.no_grad():
        const = LatentProblem(g, x, "wplus", PLAIN, None, None, {}, far).render()
    assert not torch.equal(const, raw)  # the settings' noise mode reached the synthesis


def test_keep_best_takes_improved_images_only():
    best = {"w": torch.zeros(3, 2, 4), "f4": torch.zeros(3, 1, 2, 2), "s": torch.zeros(3)}
    current = {"w": torch.ones(3, 2, 4), "f4": torch.full((3, 1, 2, 2), 2.0), "s": torch.full((3,), 3.0)}
    keep_best(best, current, torch.tensor([True, False, True]))
    assert best["w"][:, 0, 0].tolist() == [1, 0, 1] and best["f4"][:, 0, 1, 1].tolist() == [2, 0, 2]
    assert best["s"].tolist() == [3, 0, 3] and best["w"].shape == (3, 2, 4) and best["f4"].shape == (3, 1, 2, 2)


# ---- the optimisation loop ---------------------------------------------------------------------------
def _official_lr(step: int, steps: int, peak: float, up: float, down: float) -> float:
    """The StyleGAN2 projector's schedule written out: linear ramp-up, flat, half-cosine ramp-down."""
    t = step / steps
    ramp = min(1.0, (1 - t) / down)
    return peak * min(1.0, t / up) * 0.5 * (1 - math.cos(math.pi * ramp))


def test_loop_is_adam_with_the_official_schedule_and_batch_mean_history(g, g_stats):
    """A reference loop (torch's Adam with β = 0.6, 0.95, the schedule written out, the batch-mean
    objective) reproduces every step's lr, batch-mean total and parts, and the final parameters."""
    x = _image(g, 8, n=2)
    s = InversionSettings(steps=6, lr=0.08, lr_rampup=0.3, lr_rampdown=0.4, betas=(0.6, 0.95), lambda_lpips=0.0,
                          lambda_w_prior=1e-3, lambda_w_spread=0.01, lambda_f=2.0, noise_mode="none")  # fmt: skip
    masks = {2: torch.ones(1, 1, 8, 8)}
    p = LatentProblem(g, x, "sam", s, None, g_stats, masks, None)
    best, history, best_steps, cancelled = run_latent_optimisation(p, None, None)
    assert not cancelled and len(history) == 6 and len(best_steps) == 2

    ref = LatentProblem(g, x, "sam", s, None, g_stats, masks, None)
    adam = torch.optim.Adam([ref.w, ref.delta_f[2]], lr=1.0, betas=(0.6, 0.95))
    for k in range(6):
        lr = _official_lr(k, 6, 0.08, 0.3, 0.4)
        total, parts = ref.evaluate()
        h = history[k]
        assert h["step"] == float(k) and h["lr"] == pytest.approx(lr, rel=1e-12, abs=1e-15)
        per_image = total.detach().tolist()
        assert h["total"] == pytest.approx((per_image[0] + per_image[1]) / 2, rel=1e-6)
        for name, value in parts.items():
            assert h[name] == pytest.approx(float(value.detach().sum()) / 2, rel=1e-6, abs=1e-12), name
        assert set(h) == {"step", "lr", "total", *parts}
        adam.param_groups[0]["lr"] = lr
        adam.zero_grad()
        (total.sum() / 2).backward()
        adam.step()
    assert history[0]["lr"] == 0.0 and history[2]["lr"] == pytest.approx(0.08)  # the ramps did something
    torch.testing.assert_close(p.w, ref.w, rtol=1e-5, atol=1e-7)  # the parameters after the last update
    torch.testing.assert_close(p.delta_f[2], ref.delta_f[2], rtol=1e-5, atol=1e-7)


def _watch(problem: LatentProblem) -> list[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """Record every evaluation's per-image objective and the parameters it was evaluated at."""
    seen: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []
    evaluate = problem.evaluate

    def watched():
        total, parts = evaluate()
        seen.append((total.detach().clone(), problem.snapshot()))
        return total, parts

    problem.evaluate = watched
    return seen


def test_each_image_keeps_its_own_best_step_and_parameters(g):
    """Image 0 is a G image reached by descent; image 1 is the render of the start itself (zero
    gradient, so its objective never changes: ties keep the first step, 0). A high constant lr
    overshoots, so image 0's best is an inner step, not the last."""
    with torch.no_grad():
        x = g.synthesize(g.mean_w_plus(2)).clamp(-1, 1)  # the start's render, as the batch of 2 computes it
    x[0] = _image(g, 9)[0]
    s = PLAIN.replace(steps=5, lr=0.6, lr_rampup=0.0, lr_rampdown=0.0, lambda_w_spread=0.0)
    p = LatentProblem(g, x, "wplus", s, None, None, {}, None)
    seen = _watch(p)
    best, history, best_steps, cancelled = run_latent_optimisation(p, None, None)
    totals = torch.stack([t for t, _ in seen]).numpy()  # (6, 2): steps 0…4 and after the last update
    assert totals.shape == (6, 2) and not cancelled
    expected = [int(np.argmin(totals[:, 0])), 0]
    assert best_steps == expected and 0 < expected[0] < 5, totals[:, 0]
    assert float(np.ptp(totals[:, 1])) == 0.0
    torch.testing.assert_close(best["w"][0], seen[expected[0]][1]["w"][0], rtol=0, atol=0)
    torch.testing.assert_close(best["w"][1], g.mean_w_plus(1)[0], rtol=0, atol=0)
    assert [h["total"] for h in history] == pytest.approx(totals[:5].mean(axis=1).tolist(), rel=1e-6)


def test_a_steady_descent_ends_on_the_parameters_after_the_last_update(g):
    x = _image(g, 10)
    s = PLAIN.replace(steps=5, lr=0.02, lr_rampup=0.0, lr_rampdown=0.0)
    p = LatentProblem(g, x, "wplus", s, None, None, {}, None)
    seen = _watch(p)
    best, history, best_steps, _ = run_latent_optimisation(p, None, None)
    totals = [float(t) for t, _ in seen]
    assert len(totals) == 6 and all(b < a for a, b in zip(totals, totals[1:], strict=False)), totals  # loss decreases
    assert best_steps == [5] and torch.equal(best["w"], p.w.detach())  # the final evaluation counts
    one = LatentProblem(g, x, "wplus", s.replace(steps=1), None, None, {}, None)
    seen_one = _watch(one)
    best1, _, steps1, _ = run_latent_optimisation(one, None, None)
    assert len(seen_one) == 2 and float(seen_one[1][0]) < float(seen_one[0][0])  # even after a single step
    assert steps1 == [1] and torch.equal(best1["w"], one.w.detach())


def test_progress_reports_offset_steps_copies_and_previews(g):
    x = _image(g, 11, n=2)
    s = PLAIN.replace(steps=3, noise_mode="none")
    masks = {4: torch.ones(1, 1, 16, 16)}
    far = g.mean_w_plus(1) + 4.0 * torch.randn(1, 6, 16, generator=torch.Generator().manual_seed(7))
    p = LatentProblem(g, x, "sam", s, None, None, masks, far)  # a start whose image leaves [-1, 1] on both sides
    calls, running = [], [p]
    edit = torch.zeros(1, 6, 16, dtype=torch.float64)
    edit[:, 3:] = 0.7

    def on_step(step, total, losses, preview):
        p = running[-1]
        with torch.no_grad():
            now = g.synthesize(p.w_plus().detach(), {4: p.delta_f[4].detach()}, masks, noise_mode="none")
            edited = g.synthesize(p.w_plus().detach(), {4: p.delta_f[4].detach()}, masks,
                                  delta_w=edit.float(), noise_mode="none")  # fmt: skip
        shown, shown_edit, shown_zero = preview(), preview(edit), preview(torch.zeros(1, 6, 16))
        calls.append((step, total, dict(losses)))
        assert float(now.max()) > 1 and float(now.min()) < -1 and float(edited.abs().max()) > 1
        assert shown.device.type == "cpu" and not shown.requires_grad and shown.dtype == torch.float32
        torch.testing.assert_close(shown, now.clamp(-1, 1), rtol=0, atol=0)
        torch.testing.assert_close(shown_edit, edited.clamp(-1, 1), rtol=0, atol=0)
        assert shown_edit.dtype == torch.float32 and not torch.equal(shown_edit, shown)
        torch.testing.assert_close(shown_zero, shown, rtol=0, atol=1e-6)  # a zero edit is the reconstruction
        losses.clear()  # the caller's copy only

    _, history, _, _ = run_latent_optimisation(p, on_step, None, step_offset=10, total_steps=40)
    assert [(c[0], c[1]) for c in calls] == [(11, 40), (12, 40), (13, 40)]
    assert [c[2] for c in calls] == history and all("total" in h for h in history)
    calls.clear()
    running.append(LatentProblem(g, x, "sam", s, None, None, masks, far))
    run_latent_optimisation(running[-1], on_step, None)
    assert [(c[0], c[1]) for c in calls] == [(1, 3), (2, 3), (3, 3)]  # default: this run's own steps


def test_cancel_stops_before_the_next_step_and_keeps_the_best_so_far(g):
    x = _image(g, 12)
    s = PLAIN.replace(steps=8, lr=0.02, lr_rampup=0.0, lr_rampdown=0.0)
    p = LatentProblem(g, x, "wplus", s, None, None, {}, None)
    seen = _watch(p)
    polls = []
    best, history, best_steps, cancelled = run_latent_optimisation(p, None, lambda: polls.append(1) or len(polls) > 3)
    assert cancelled and len(polls) == 4 and len(history) == 3 and len(seen) == 3  # no evaluation after the cancel
    totals = [float(t) for t, _ in seen]
    assert totals[2] < totals[1] < totals[0] and best_steps == [2]  # steps 0…2; step 3's update is not counted
    assert torch.equal(best["w"], seen[2][1]["w"]) and not torch.equal(best["w"], p.w.detach())
    # steps = 0: nothing is run or polled; the start is the answer
    p0 = LatentProblem(g, x, "wplus", s.replace(steps=0), None, None, {}, None)
    best0, history0, steps0, cancelled0 = run_latent_optimisation(p0, None, lambda: pytest.fail("polled"))
    assert history0 == [] and steps0 == [-1] and not cancelled0 and torch.equal(best0["w"], g.mean_w_plus(1))


def test_inputs_and_parameters_follow_the_generators_device(tmp_path):
    """torch.device('meta') stands in for a GPU (tests/test_devices.py): CPU inputs (images, the valid
    mask, an encoder's w+ and Δf_i) must all end up on G's device, and so must the zero Δf_i."""
    from sam_editor.perceptual import Perceptual

    meta = torch.device("meta")
    gm = make_tiny_generator(seed=3, cfg=MICRO).to(meta)
    target = prepare_images(gm, torch.zeros(3, 12, 16, dtype=torch.float64))
    assert target.device == meta and target.dtype == torch.float32
    masks = {2: torch.ones(1, 1, 8, 8, device=meta), 4: torch.ones(1, 1, 16, 16, device=meta)}
    valid = torch.ones(1, 1, 12, 16)
    init = torch.zeros(1, 6, 16, dtype=torch.float64)
    start = {4: torch.zeros(1, 8, 16, 16, dtype=torch.float64)}
    p = LatentProblem(gm, target, "sam", PLAIN, None, None, masks, init, valid, start)
    assert {t.device for t in (p.target, p.valid, p.w, p.delta_f[2], p.delta_f[4])} == {meta}
    assert {t.dtype for t in (p.valid, p.w, p.delta_f[2], p.delta_f[4])} == {torch.float32}
    for method in ("wplus", "w"):  # no Δf_i: L_F's zeros are made for the batch, then moved
        total, parts = LatentProblem(gm, target, method, PLAIN, None, None, {}, init, valid).evaluate()
        assert total.device == meta and parts["f"].device == meta and total.shape == (1,)
    perceptual = Perceptual(hub_dir=tmp_path)
    perceptual.register_buffer("probe", torch.zeros(1))  # where the metric's tensors live
    moved = opt._resolve_perceptual(perceptual, PLAIN, meta)
    assert moved is perceptual and moved.probe.device == meta


# ---- invert ------------------------------------------------------------------------------------------
def test_invert_names_methods_and_refuses_wrong_combinations(g):
    x = _image(g, 13)
    s = PLAIN.replace(steps=0)
    assert invert(g, x, "W+", settings=s).phi.metadata["method"] == "wplus"
    assert invert(g, x, "F4", settings=s).phi.metadata["method"] == "f4"
    methods = "sam, w, wplus, f4, f6, f8, f10, gaussian, pti"
    msg = f"unknown inversion method 'wplusplus'; expected one of {methods}"  # '+' is spelt 'plus' first
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        invert(g, x, "W++", settings=s)
    msg = "method 'sam' needs a latent map (dict of masks, rank map, or an object with .masks())"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        invert(g, x, "sam", settings=s)
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        invert(g, x, settings=s)  # SAM is the default method
    msg = "method 'wplus' inverts the whole image in one space; a latent map is for 'sam'"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        invert(g, x, "WPLUS", np.zeros((12, 16), np.uint8), settings=s)


def test_invert_result_and_metadata(g, g_stats):
    x = _image(g, 14, n=2)
    s = PLAIN.replace(steps=3, lambda_w_prior=1e-3, optimise_size=(6, 8))
    t0 = time.perf_counter()
    res = invert(g, x, "wplus", settings=s, seed=5, w_stats=g_stats, generator_id="micro-id")
    elapsed = time.perf_counter() - t0
    assert 0 < res.seconds <= elapsed  # the call's own wall time
    meta = res.phi.metadata
    assert meta == {"method": "wplus", "init": "mean_w", "steps": 3, "seed": 5, "generator_id": "micro-id",
                    "perceptual": None, "settings": dataclasses.asdict(s), "steps_run": 3,
                    "best_steps": res.best_steps, "cancelled": False, "loss_size": (6, 8)}  # fmt: skip
    assert res.generators is None and res.cancelled is False and res.seconds > 0 and len(res.losses) == 3
    assert res.best_step == max(res.best_steps) and len(res.best_steps) == 2
    assert res.phi.rank_map is None and res.phi.masks == {} and res.phi.delta_f == {}
    with torch.no_grad():
        expected = g.synthesize(res.phi.w_plus).clamp(-1, 1)
    assert torch.equal(res.reconstruction, expected) and res.reconstruction.device.type == "cpu"
    # the ŵ prior of eq. 3.6 at the start (the mean w), from the statistics given
    assert res.losses[0]["w_prior"] == pytest.approx(float(w_prior_term(g.mean_w_plus(1), g_stats)), rel=1e-5)
    one = invert(g, x[:1], "w", settings=s.replace(steps=2), w_stats=g_stats)
    assert torch.equal(one.phi.w_plus, one.phi.w_plus[:, :1].expand(1, 6, 16))  # one w, every row
    assert one.phi.metadata["loss_size"] == (6, 8) and one.phi.metadata["generator_id"] is None


def test_invert_reconstruction_is_the_clamped_render_of_phi(g):
    x = _image(g, 25)
    far = g.mean_w_plus(1) + 4.0 * torch.randn(1, 6, 16, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        raw = g.synthesize(far, noise_mode="none")
    assert float(raw.max()) > 1 and float(raw.min()) < -1
    res = invert(g, x, "wplus", settings=PLAIN.replace(steps=0, noise_mode="none"), init_w_plus=far)
    assert torch.equal(res.reconstruction, torch.clamp(raw, min=-1, max=1))


def test_invert_latent_maps_and_single_feature_spaces(g):
    x = _image(g, 15)
    s = PLAIN.replace(steps=2)
    ranks = np.zeros((12, 16), np.uint8)
    ranks[:, 8:] = LayerSpace.F4.rank
    sam = invert(g, x, "sam", ranks, settings=s)
    assert sam.phi.metadata["seed"] == 0  # the default seed
    assert sam.phi.rank_map.dtype == torch.uint8 and torch.equal(sam.phi.rank_map, torch.from_numpy(ranks[None]))
    assert set(sam.phi.delta_f) == {4} and sam.phi.masks[4].shape == (1, 1, 16, 16)
    assert float(sam.phi.masks[4][0, 0, 8, 12]) == 1.0 and float(sam.phi.masks[4][0, 0, 8, 2]) == 0.0
    with torch.no_grad():
        expected = g.synthesize(sam.phi.w_plus, sam.phi.delta_f, sam.phi.masks).clamp(-1, 1)
    assert torch.equal(sam.reconstruction, expected)
    f4 = invert(g, x, "f4", settings=s)
    assert f4.phi.rank_map.shape == (1, 12, 16) and f4.phi.rank_map.dtype == torch.uint8
    assert bool((f4.phi.rank_map == LayerSpace.F4.rank).all())
    assert f4.phi.masks[4].shape == (1, 1, 16, 16) and bool((f4.phi.masks[4] == 1).all())
    assert float(f4.phi.delta_f[4].abs().max()) > 0
    with pytest.raises(ValueError, match="F6"):
        invert(g, x, "f6", settings=s)
    # a latent map at another size is nearest-resized to the output: each half-size pixel covers 2×2
    half = np.zeros((6, 8), np.uint8)
    half[1:4, 2:7] = LayerSpace.F4.rank
    small = invert(g, x, "sam", half, settings=s)
    assert torch.equal(small.phi.rank_map[0], torch.from_numpy(half.repeat(2, axis=0).repeat(2, axis=1)))


def test_invert_starts_from_an_init_phi_or_w_plus_and_names_it(g):
    x = _image(g, 16)
    s = PLAIN.replace(steps=0)
    w0 = g.mean_w_plus(1) + 0.2 * torch.randn(1, 6, 16, generator=torch.Generator().manual_seed(17))
    d0 = 0.1 * torch.randn(1, 8, 16, 16, generator=torch.Generator().manual_seed(18))
    ranks = np.full((12, 16), LayerSpace.F4.rank, np.uint8)
    phi0 = Phi(w_plus=w0, delta_f={4: d0}, masks={4: torch.ones(1, 1, 16, 16)}, metadata={"init": "my-encoder"})
    res = invert(g, x, "sam", ranks, settings=s, init_phi=phi0)
    assert res.phi.metadata["init"] == "my-encoder" and res.losses == [] and res.best_steps == [-1]
    assert torch.equal(res.phi.w_plus, w0) and torch.equal(res.phi.delta_f[4], d0)
    phi0.metadata.clear()
    assert invert(g, x, "sam", ranks, settings=s, init_phi=phi0).phi.metadata["init"] == "encoder"
    r = invert(g, x, "wplus", settings=s, init_w_plus=w0, init_name="restyle")
    assert r.phi.metadata["init"] == "restyle" and torch.equal(r.phi.w_plus, w0)
    assert invert(g, x, "wplus", settings=s, init_w_plus=w0).phi.metadata["init"] == "e4e"  # the default name


def test_invert_computes_prior_statistics_only_when_needed(g, g_stats, monkeypatch):
    asked = []

    def fake_stats(G, generator_id=None, samples=5000, **kw):
        assert G is g  # the statistics of this generator
        asked.append((generator_id, samples))
        return g_stats

    monkeypatch.setattr(opt, "w_prior_stats", fake_stats)
    x = _image(g, 19)
    s = PLAIN.replace(steps=1, prior_samples=321)
    invert(g, x, "wplus", settings=s)
    invert(g, x, "sam", {LayerSpace.F4: np.ones((12, 16), bool)}, settings=s)
    assert asked == []  # λ_prior = 0 and no Gaussian method: no statistics
    res = invert(g, x, "gaussian", settings=s, generator_id="gid")
    assert asked == [("gid", 321)]
    expected = float(w_prior_term(g.mean_w_plus(1), g_stats))
    assert res.losses[0]["w_prior"] == pytest.approx(expected, rel=1e-5)
    invert(g, x, "wplus", settings=s.replace(lambda_w_prior=1e-8))
    assert asked == [("gid", 321), (None, 321)]
    invert(g, x, "gaussian", settings=s, w_stats=g_stats)
    assert len(asked) == 2  # given statistics are used as they are


def test_invert_asks_for_a_perceptual_metric_only_when_a_weight_needs_it(g, fallback_perceptual, monkeypatch):
    asked = []

    def fake_default(device):
        asked.append(torch.device(device))
        return fallback_perceptual

    monkeypatch.setattr(opt, "default_perceptual", fake_default)
    x = _image(g, 20)
    s = PLAIN.replace(steps=1, pti_lambda_lpips=0.0)
    assert invert(g, x, "wplus", settings=s).phi.metadata["perceptual"] is None and asked == []
    for_pti = invert(g, x, "wplus", settings=s.replace(pti_lambda_lpips=1.0))
    assert for_pti.phi.metadata["perceptual"] == fallback_perceptual.name
    assert asked == [torch.device("cpu")]
    res = invert(g, x, "wplus", settings=s.replace(lambda_lpips=0.5))
    assert res.losses[0]["perceptual"] > 0 and len(asked) == 2
    given = invert(g, x, "wplus", settings=s.replace(lambda_lpips=0.5), perceptual=fallback_perceptual)
    assert given.phi.metadata["perceptual"] == fallback_perceptual.name and len(asked) == 2


def test_invert_is_seeded_and_leaves_the_global_rng_alone(g):
    x = _image(g, 21)
    s = PLAIN.replace(steps=2, noise_mode="random")
    torch.manual_seed(123)
    a = invert(g, x, "wplus", settings=s, seed=1)
    after = torch.rand(4)
    torch.manual_seed(123)
    expected = torch.rand(4)
    assert torch.equal(after, expected)  # the caller's random stream is not consumed
    b = invert(g, x, "wplus", settings=s, seed=1)
    c = invert(g, x, "wplus", settings=s, seed=2)
    assert torch.equal(a.phi.w_plus, b.phi.w_plus) and not torch.equal(a.phi.w_plus, c.phi.w_plus)
    assert a.phi.metadata["seed"] == 1 and c.phi.metadata["seed"] == 2
    torch.manual_seed(999)  # the global seed does not matter, only `seed`
    assert torch.equal(invert(g, x, "wplus", settings=s, seed=1).phi.w_plus, a.phi.w_plus)


def test_invert_defaults_are_the_official_weights(g, g_stats, fallback_perceptual):
    """settings=None → the official code's values (InversionSettings' docstring): 1001 steps, lr 0.05,
    λ_mse 1 and λ_LPIPS 1 (eq. 3.5), spread 1e-3 and prior 1e-8 (eq. 3.6), λ_F 5 (eq. 3.7/3.8)."""
    x = _image(g, 22)
    res = invert(g, x, "wplus", perceptual=fallback_perceptual, w_stats=g_stats, should_stop=lambda: True)
    st = res.phi.metadata["settings"]
    assert (st["steps"], st["lr"], st["lambda_mse"], st["lambda_lpips"], st["lambda_w_spread"], st["lambda_w_prior"],
            st["lambda_f"]) == (1001, 0.05, 1.0, 1.0, 1e-3, 1e-8, 5.0)  # fmt: skip
    assert res.cancelled and res.losses == [] and res.phi.metadata["cancelled"] is True
    assert res.phi.metadata["steps_run"] == 0 and torch.equal(res.phi.w_plus, g.mean_w_plus(1))


def test_invert_sees_only_the_photo_of_a_letterboxed_image(g):
    x = _image(g, 23)
    box = np.zeros((12, 16), bool)
    box[2:10] = True
    a, b = x.clone(), x.clone()
    a[..., :2, :], b[..., :2, :] = 1.0, -1.0
    a[..., 10:, :], b[..., 10:, :] = -1.0, 0.5  # two different paddings around the same photo
    s = PLAIN.replace(steps=4)
    ra = invert(g, a, "wplus", settings=s, valid=box)
    rb = invert(g, b, "wplus", settings=s, valid=torch.from_numpy(box))
    assert torch.equal(ra.phi.w_plus, rb.phi.w_plus)
    assert not torch.equal(invert(g, a, "wplus", settings=s).phi.w_plus, ra.phi.w_plus)  # unmasked, padding pulls
    # an all-photo mask is no mask at all
    full = invert(g, a, "wplus", settings=s, valid=np.ones((12, 16), bool))
    assert torch.equal(full.phi.w_plus, invert(g, a, "wplus", settings=s).phi.w_plus)


def test_invert_hands_pti_everything_it_was_given(g, g_stats, fallback_perceptual):
    """PTI runs in pti.py; invert must pass it the metric, the statistics, progress, cancel, the seed,
    the start and the letterbox mask (its own behaviour is tested in test_inv_optimise.py)."""
    x = _image(g, 26)
    box = np.zeros((12, 16), bool)
    box[2:10] = True
    a, b = x.clone(), x.clone()
    a[..., :2, :], b[..., :2, :] = 1.0, -1.0
    s = PLAIN.replace(steps=2, pti_tune_steps=2, lambda_w_prior=1e-3)
    calls = []
    on_step = lambda step, total, losses, preview: calls.append((step, total))  # noqa: E731
    ra = invert(g, a, "pti", settings=s, on_step=on_step, w_stats=g_stats, valid=box)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)] and ra.generators is not None and not ra.cancelled
    prior = float(w_prior_term(g.mean_w_plus(1)[:, :1], g_stats))  # one w row, the mean w, at step 0
    assert ra.phi.metadata["method"] == "pti" and ra.losses[0]["w_prior"] == pytest.approx(prior, rel=1e-5)
    rb = invert(g, b, "pti", settings=s, w_stats=g_stats, valid=box)
    assert torch.equal(ra.reconstruction, rb.reconstruction)  # the padding is not seen (no perceptual term)
    # the metric reaches the tuning phase (entries with phase 1)
    s_lpips = s.replace(pti_lambda_lpips=1.0)
    tuned = invert(g, a, "pti", settings=s_lpips, perceptual=fallback_perceptual, w_stats=g_stats)
    assert [h["perceptual"] > 0 for h in tuned.losses if h.get("phase") == 1.0] == [True, True]
    calls.clear()
    stopped = invert(g, a, "pti", settings=s, on_step=on_step, should_stop=lambda: len(calls) >= 3, w_stats=g_stats)
    assert stopped.cancelled and len(calls) == 3
    w0 = g.mean_w_plus(1) + 0.2 * torch.randn(1, 6, 16, generator=torch.Generator().manual_seed(27))
    pivot = invert(g, a, "pti", settings=s.replace(steps=0, pti_tune_steps=0), init_w_plus=w0, w_stats=g_stats)
    torch.testing.assert_close(pivot.phi.w_plus, w0.mean(dim=1, keepdim=True).expand(1, 6, 16))


def test_invert_leaves_the_callers_generator_as_it_was(g):
    x = _image(g, 24)
    weight = g.synthesis.b16.conv1.weight
    before = {k: v.clone() for k, v in g.state_dict().items()}
    weight.requires_grad_(True)  # a caller mid-training, say
    try:
        invert(g, x, "f4", settings=PLAIN.replace(steps=2))
        assert weight.requires_grad and weight.grad is None
        assert [n for n, q in g.named_parameters() if q.requires_grad] == ["synthesis.b16.conv1.weight"]
        assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())
    finally:
        weight.requires_grad_(False)
