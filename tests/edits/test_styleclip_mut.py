"""StyleCLIP's progress previews and default seed pinned (issue 36, mutation testing of
edits/styleclip.py); the tiny generator, φ and CLIP of test_styleclip.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sam_editor.edits.styleclip import StyleClipSettings, random_views, text_edit

from .test_styleclip import tiny_clip  # noqa: F401  (a fixture)


def test_the_preview_renders_the_current_delta(tiny_G, tiny_phi, tiny_clip):  # noqa: F811
    """Step 1 runs at learning rate 0 (ramp-up), so after it δ is still its seeded start,
    normal × init_std on the chosen rows: the preview is the gated render of exactly that δ."""
    w, df, masks = tiny_phi
    layers = [3, 4, 8]
    previews = []
    text_edit(tiny_G, w, df, masks, "a car", tiny_clip, steps=2, seed=7, layers=layers,
              settings=StyleClipSettings(init_std=0.5),
              on_step=lambda step, total, losses, preview: previews.append(preview()))  # fmt: skip
    start = torch.zeros_like(w)
    start[:, layers] = (torch.randn(w.shape, generator=torch.Generator().manual_seed(7)) * 0.5)[:, layers]
    expected = tiny_G.synthesize(w, df, masks, delta_w=start)
    torch.testing.assert_close(previews[0], expected, rtol=0, atol=1e-6)
    assert (previews[0] - tiny_G.synthesize(w, df, masks)).abs().max() > 0.05  # δ shows


def test_the_default_seed_is_zero(tiny_G, tiny_phi, tiny_clip):  # noqa: F811
    """Recipes (the CLI's apply) call text_edit without a seed: the default, 0, makes them replay."""
    w, df, masks = tiny_phi
    plain = text_edit(tiny_G, w, df, masks, "a car", tiny_clip, steps=2)
    assert torch.equal(plain.delta_w, text_edit(tiny_G, w, df, masks, "a car", tiny_clip, steps=2, seed=0).delta_w)
    assert not torch.equal(plain.delta_w, text_edit(tiny_G, w, df, masks, "a car", tiny_clip, steps=2, seed=1).delta_w)


def test_an_explicit_learning_rate_overrides_the_settings(tiny_G, tiny_phi, tiny_clip):  # noqa: F811
    """3 steps: the first in the ramp-up (learning rate 0), then the peak — the argument's 0.3, not
    the settings' 0.2."""
    w, df, masks = tiny_phi
    r = text_edit(tiny_G, w, df, masks, "a car", tiny_clip, lr=0.3, settings=StyleClipSettings(steps=3, lr=0.2))
    assert [h["lr"] for h in r.history] == [0.0, 0.3, 0.3]


def test_the_learning_rate_schedule_of_the_settings_by_hand(tiny_G, tiny_phi, tiny_clip):  # noqa: F811
    """10 steps, peak 1, ramp-up over the first 30 %, half-cosine ramp-down over the last 40 %:
    t = i/10 → min(1, t/0.3) · (½ − ½·cos(π·min(1, (1 − t)/0.4)))."""
    w, df, masks = tiny_phi
    settings = StyleClipSettings(steps=10, lr=1.0, lr_rampup=0.3, lr_rampdown=0.4)
    r = text_edit(tiny_G, w, df, masks, "a car", tiny_clip, settings=settings, l2_lambda=1e3)
    c = math.cos(math.pi / 4)
    expected = [0.0, 1 / 3, 2 / 3, 1.0, 1.0, 1.0, 1.0, 0.5 + 0.5 * c, 0.5, 0.5 - 0.5 * c]
    assert [h["lr"] for h in r.history] == pytest.approx(expected, abs=1e-9)


def test_progress_hands_out_each_step_losses_and_an_uncancelled_run_says_so(tiny_G, tiny_phi, tiny_clip):  # noqa: F811
    w, df, masks = tiny_phi
    seen = []
    r = text_edit(
        tiny_G, w, df, masks, "a car", tiny_clip, steps=2, on_step=lambda s, t, losses, p: seen.append(losses)
    )
    assert seen == r.history and [h["step"] for h in seen] == [1, 2]
    assert r.cancelled is False


def _shifts(views: torch.Tensor, xs: torch.Tensor) -> list[tuple[float, float]]:
    """(t_x, t_y) of each view of the x/y ramp image: its value is a·x + t away from the border."""
    mid = slice(5, 11)
    out = []
    for v in views:
        tx = np.polyfit(xs[mid].numpy(), v[0].mean(dim=0)[mid].numpy(), 1)[1]
        ty = np.polyfit(xs[mid].numpy(), v[1].mean(dim=1)[mid].numpy(), 1)[1]
        out.append((float(tx), float(ty)))
    return out


def test_random_views_shift_both_ways_on_both_axes_and_keep_a_flat_image_flat():
    xs = (2 * torch.arange(16) + 1) / 16 - 1  # pixel centres in grid_sample's coordinates
    ramp = torch.zeros(1, 3, 16, 16)
    ramp[0, 0] = xs[None, :]
    ramp[0, 1] = xs[:, None]
    shifts = _shifts(random_views(ramp, 41, torch.Generator().manual_seed(3))[1:], xs)
    for axis in (0, 1):  # each view draws its own shift, uniform in ±(1 − scale)
        assert min(s[axis] for s in shifts) < -0.01 and max(s[axis] for s in shifts) > 0.01
    assert random_views(ramp, 2, torch.Generator()).shape == (2, 3, 16, 16)  # two views: the image and one more
    flat = torch.full((1, 3, 16, 16), 0.7, dtype=torch.float64)
    views = random_views(flat, 6, torch.Generator().manual_seed(0))
    assert views.dtype == torch.float64 and torch.allclose(views, flat.expand(6, -1, -1, -1), rtol=0, atol=1e-12)
