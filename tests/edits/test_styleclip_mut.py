"""StyleCLIP's progress previews and default seed pinned (issue 36, mutation testing of
edits/styleclip.py); the tiny generator, φ and CLIP of test_styleclip.py."""

from __future__ import annotations

import torch

from sam_editor.edits.styleclip import StyleClipSettings, text_edit

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
