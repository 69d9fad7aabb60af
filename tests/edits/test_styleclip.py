"""StyleCLIP latent optimisation through the gated synthesis, on a tiny generator and a tiny
random CLIP carried through open_clip's own config + state-dict path (as the real ViT-B/32 is)."""

import numpy as np
import pytest
import torch

from sam_editor.demo.train_clip import build_tiny_clip, save_clip
from sam_editor.edits import clip_models
from sam_editor.edits.clip_models import ClipWeightsMissing, clip_status, load_clip, load_demo_clip
from sam_editor.edits.styleclip import (
    StyleClipSettings,
    random_views,
    rows_before_feature,
    rows_from_feature,
    text_edit,
)

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("clip")
    save_clip(build_tiny_clip(TINY_CLIP), folder, config=TINY_CLIP)
    clip_models.clear_cache()
    return load_demo_clip(folder)


def test_clip_wrapper_embeds_any_size_differentiably(tiny_clip):
    x = (torch.rand(2, 3, 48, 64) * 2 - 1).requires_grad_(True)
    emb = tiny_clip.encode_image(x)
    assert emb.shape == (2, 32) and torch.allclose(emb.norm(dim=-1), torch.ones(2), atol=1e-5)
    emb.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    t = tiny_clip.encode_text(["a blue car", "a red car"])
    assert t.shape == (2, 32) and tiny_clip.is_demo and "tiny" in tiny_clip.name


def test_random_views_keep_the_image_first_and_pass_gradients():
    x = torch.rand(1, 3, 16, 16).requires_grad_(True)
    v = random_views(x, 4, torch.Generator().manual_seed(0))
    assert v.shape == (4, 3, 16, 16) and torch.equal(v[0], x[0])
    assert not torch.equal(v[1], x[0])
    v.sum().backward()
    assert x.grad.abs().sum() > 0
    assert random_views(x, 1, torch.Generator()) is x


def test_clip_loss_decreases_deterministically(tiny_G, tiny_phi, tiny_clip):
    w, df, masks = tiny_phi
    r = text_edit(tiny_G, w, df, masks, "a blue car", tiny_clip, steps=8, seed=0)
    clip_losses = [h["clip"] for h in r.history]
    assert not r.cancelled and len(r.history) == 8
    assert min(clip_losses[2:]) < clip_losses[0] - 1e-3
    assert r.delta_w.shape == w.shape and r.delta_w.abs().sum() > 0
    again = text_edit(tiny_G, w, df, masks, "a blue car", tiny_clip, steps=8, seed=0)
    assert torch.equal(again.delta_w, r.delta_w)  # deterministic per seed
    views = text_edit(tiny_G, w, df, masks, "a blue car", tiny_clip, steps=4, seed=0,
                      settings=StyleClipSettings(clip_views=3))
    assert not torch.equal(views.delta_w, r.delta_w) and len(views.history) == 4


def test_default_settings_are_the_official_single_view(tiny_G, tiny_phi, tiny_clip):
    w, df, masks = tiny_phi
    default = text_edit(tiny_G, w, df, masks, "a blue car", tiny_clip, steps=8, seed=0)
    official = text_edit(tiny_G, w, df, masks, "a blue car", tiny_clip, steps=8, seed=0,
                         settings=StyleClipSettings(clip_views=1))
    eight = text_edit(tiny_G, w, df, masks, "a blue car", tiny_clip, steps=8, seed=0,
                      settings=StyleClipSettings(clip_views=8))
    assert torch.equal(default.delta_w, official.delta_w)
    assert not torch.equal(default.delta_w, eight.delta_w)


def test_settings_are_honoured_and_explicit_arguments_override_them(tiny_G, tiny_phi, tiny_clip):
    w, df, masks = tiny_phi
    short = text_edit(tiny_G, w, df, masks, "a blue car", tiny_clip, settings=StyleClipSettings(steps=3, lr=0.2))
    assert [h["step"] for h in short.history] == [1, 2, 3]
    assert [h["lr"] for h in short.history] == pytest.approx([0.0, 0.2, 0.2])  # the settings' peak lr, not 0.1
    assert text_edit(tiny_G, w, df, masks, "a blue car", tiny_clip, steps=2, settings=StyleClipSettings(steps=3)).history[-1]["step"] == 2
    strong = text_edit(tiny_G, w, df, masks, "a blue car", tiny_clip, settings=StyleClipSettings(steps=3, lr=0.2, l2_lambda=1e3))
    assert strong.history[-1]["loss"] > short.history[-1]["loss"]  # λ_L2 from the settings weighs in


def test_zero_delta_renders_the_reconstruction(tiny_G, tiny_phi, tiny_clip):
    w, df, masks = tiny_phi
    masks = {i: (m > 0.5).float() for i, m in masks.items()}  # hard-edged regions
    rec = tiny_G.synthesize(w, df, masks)
    r = text_edit(tiny_G, w, df, masks, "a red car", tiny_clip, steps=0)
    assert torch.equal(r.delta_w, torch.zeros_like(w))
    assert torch.equal(tiny_G.synthesize(w, df, masks, delta_w=r.delta_w), rec)
    previews = []
    text_edit(tiny_G, w, df, masks, "a red car", tiny_clip, steps=2,
              on_step=lambda step, total, losses, preview: previews.append(preview()))
    # step 1 runs at learning rate 0 (ramp-up): the image is still the reconstruction, up to the
    # initial δw+ (std 1e-4), which alone moves this unclamped tiny image (values to ±10) by 0.99e-3
    assert len(previews) == 2 and previews[0].shape == rec.shape
    assert (previews[0] - rec).abs().max() < 2e-3


def test_feature_region_interior_unchanged_when_delta_is_in_early_layers(tiny_G, tiny_clip):
    G = tiny_G
    gen = torch.Generator().manual_seed(5)
    w = G.map(torch.randn(1, G.z_dim, generator=gen))
    m = torch.zeros(1, 1, 64, 64)
    m[..., 12:52, 12:52] = 1  # a square region inverted in F6 (32×32)
    masks = {6: G.mask_to_feature(m, 6)}
    df = {6: 0.3 * torch.randn((1, *G.feature_shape(6)), generator=gen)}
    layers = rows_before_feature(G, 6)
    assert layers and max(layers) < G.num_ws - 1 and set(layers).isdisjoint(rows_from_feature(G, 6))
    r = text_edit(G, w, df, masks, "a green car", tiny_clip, steps=10, layers=layers, seed=1)
    outside_rows = [i for i in range(G.num_ws) if i not in layers]
    assert r.delta_w[:, outside_rows].abs().max() == 0 and r.delta_w.abs().max() > 0
    rec = G.synthesize(w, df, masks)
    edited = G.synthesize(w, df, masks, delta_w=r.delta_w)
    diff = (edited - rec).abs()
    assert diff[..., 20:44, 20:44].max() < 1e-5  # interior: 8 px away from the mask's edge
    assert diff[..., :8, :].max() > 1e-3  # outside the region the edit shows


def test_cancel_returns_within_a_step_with_best_so_far(tiny_G, tiny_phi, tiny_clip):
    w, df, masks = tiny_phi
    polls = []

    def stop() -> bool:
        polls.append(1)
        return len(polls) > 3

    r = text_edit(tiny_G, w, df, masks, "a white van", tiny_clip, steps=50, should_stop=stop)
    assert r.cancelled and len(r.history) == 3
    best = min(r.history, key=lambda h: h["loss"])
    assert r.best_step == best["step"]


def test_layers_option_is_validated(tiny_G, tiny_phi, tiny_clip):
    w, df, masks = tiny_phi
    with pytest.raises(ValueError):
        text_edit(tiny_G, w, df, masks, "a car", tiny_clip, steps=1, layers=[tiny_G.num_ws])


def test_missing_vit_b_32_is_a_displayable_state(tmp_path):
    status = clip_status("vit-b-32", weights_dirs=[tmp_path])
    assert not status.available and "sam-editor weights fetch clip-vit-b-32" in status.message
    with pytest.raises(ClipWeightsMissing) as err:
        load_clip("vit-b-32", weights_dirs=[tmp_path])
    assert err.value.message == status.message and err.value.which == "vit-b-32"
    with pytest.raises(ClipWeightsMissing):
        load_clip("auto", weights_dirs=[tmp_path], demo_dir=tmp_path / "nothing")
    (tmp_path / "clip").mkdir()
    (tmp_path / "clip" / "open_clip_model.safetensors").write_bytes(b"")
    assert clip_status("vit-b-32", weights_dirs=[tmp_path]).available


def test_state_dict_files_of_the_official_layout_load_through_the_same_loader(tmp_path, tiny_clip):
    """ViT-B/32 arrives as open_clip's `open_clip_model.safetensors`; the loader that reads it is
    the one the demo model uses, so a tiny model in that file format must load identically."""
    from safetensors.torch import save_file

    from sam_editor.edits.clip_models import create_open_clip

    path = tmp_path / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_clip.model.state_dict().items()}, str(path))
    model, tokenizer = create_open_clip(tiny_clip.name.split(" ")[0], path)
    tok = tokenizer(["a blue car"])
    with torch.no_grad():
        assert torch.equal(model.encode_text(tok), tiny_clip.model.encode_text(tok))


def test_l2_lambda_shrinks_with_the_editable_area():
    from sam_editor.edits.styleclip import StyleClipSettings, l2_lambda_for_region

    assert l2_lambda_for_region(1.0) == StyleClipSettings.l2_lambda
    assert l2_lambda_for_region(0.25) == pytest.approx(StyleClipSettings.l2_lambda / 4)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="area"):
            l2_lambda_for_region(bad)


# ---- hand-derived expectations (issue 36: mutation testing) -----------------------------------
def test_rows_before_and_after_a_feature_space_on_the_tiny_generator(tiny_G):
    # 64 px, 10 rows: block 4 rows 0-1, 8: 1-3, 16: 3-5, 32: 5-7, 64: 7-9 (toRGB row = next conv row)
    assert rows_before_feature(tiny_G, 4) == [0, 1, 2, 3, 4] and rows_from_feature(tiny_G, 4) == [5, 6, 7, 8, 9]
    assert rows_before_feature(tiny_G, 6) == list(range(7)) and rows_from_feature(tiny_G, 6) == [7, 8, 9]
    assert rows_before_feature(tiny_G, 8) == list(range(9)) and rows_from_feature(tiny_G, 8) == [9]


def test_clip_loss_is_one_minus_the_cosine(tiny_clip):
    from sam_editor.edits.styleclip import clip_loss

    image = torch.rand(2, 3, 32, 32) * 2 - 1
    emb = tiny_clip.encode_image(image)
    torch.testing.assert_close(clip_loss(tiny_clip, image, emb[:1]), 1 - emb @ emb[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(clip_loss(tiny_clip, image[:1], -emb[:1]), torch.tensor([2.0]), atol=1e-5, rtol=0)


def test_the_loss_is_clip_plus_lambda_times_the_summed_square_of_delta(tiny_G, tiny_phi, tiny_clip):
    w, df, masks = tiny_phi
    layers = [2, 3, 7]
    r = text_edit(tiny_G, w, df, masks, "a blue car", tiny_clip, steps=2, seed=4, layers=layers, l2_lambda=50.0)
    # step 1 sees δ as drawn: seeded normal × init_std on the chosen rows only
    init = torch.randn(w.shape, generator=torch.Generator().manual_seed(4)) * StyleClipSettings.init_std
    first = r.history[0]
    assert first["l2"] == pytest.approx(float((init[:, layers] ** 2).sum()), rel=1e-5)
    for h in r.history:
        assert h["loss"] == pytest.approx(h["clip"] + 50.0 * h["l2"], rel=1e-6)
    assert r.best_step == 1 + min(range(2), key=lambda i: r.history[i]["loss"]) and r.prompt == "a blue car"
    # the CLIP term of step 1 is that of the gated render with the inversion's Δf_i
    from sam_editor.edits.styleclip import clip_loss

    rows = torch.zeros(1, tiny_G.num_ws, 1)
    rows[:, layers] = 1
    with torch.no_grad():
        image = tiny_G.synthesize(w, df, masks, delta_w=init * rows, noise_mode="const")
        expected = clip_loss(tiny_clip, image, tiny_clip.encode_text(["a blue car"])).item()
    assert first["clip"] == pytest.approx(expected, rel=1e-5)
    assert text_edit(tiny_G, w, df, masks, "a blue car", tiny_clip, steps=0).best_step == 0
    assert r.delta_w[:, [0, 1, 4, 5, 6, 8, 9]].abs().max() == 0


def test_row_masks_and_their_refusals(tiny_G, tiny_phi, tiny_clip):
    w, df, masks = tiny_phi
    chosen = torch.zeros(tiny_G.num_ws, dtype=torch.bool)
    chosen[[1, 8]] = True
    r = text_edit(tiny_G, w, df, masks, "a car", tiny_clip, steps=1, layers=chosen)
    assert r.delta_w[0].abs().sum(dim=1).nonzero().flatten().tolist() == [1, 8]
    with pytest.raises(ValueError, match="layer mask has 9 entries; the generator has 10 style rows"):
        text_edit(tiny_G, w, df, masks, "a car", tiny_clip, steps=1, layers=chosen[:9])
    with pytest.raises(ValueError, match=r"style rows \[-1, 10\] out of range 0\.\.9"):
        text_edit(tiny_G, w, df, masks, "a car", tiny_clip, steps=1, layers=[-1, 3, 10])
    with pytest.raises(ValueError, match=r"w_plus must be \(1, 10, 32\), got \(1, 9, 32\)"):
        text_edit(tiny_G, w[:, :9], df, masks, "a car", tiny_clip, steps=1)
    with pytest.raises(ValueError, match=r"region area must be in \(0, 1\], got 0"):
        from sam_editor.edits.styleclip import l2_lambda_for_region

        l2_lambda_for_region(0)


def test_a_bool_row_mask_is_the_same_edit_as_its_row_list_and_batches_are_refused(tiny_G, tiny_phi, tiny_clip):
    w, df, masks = tiny_phi
    chosen = torch.zeros(tiny_G.num_ws, dtype=torch.bool)
    chosen[[2, 5]] = True
    by_mask = text_edit(tiny_G, w, df, masks, "a car", tiny_clip, steps=2, seed=2, layers=chosen)
    by_list = text_edit(tiny_G, w, df, masks, "a car", tiny_clip, steps=2, seed=2, layers=[2, 5])
    assert torch.equal(by_mask.delta_w, by_list.delta_w) and by_mask.history == by_list.history
    with pytest.raises(ValueError, match=r"w_plus must be \(1, 10, 32\), got \(2, 10, 32\)"):
        text_edit(tiny_G, w.expand(2, -1, -1), df, masks, "a car", tiny_clip, steps=1)


def test_random_views_are_small_zooms_and_shifts_inside_the_image_with_flips():
    h = w = 16
    xs = (2 * torch.arange(w) + 1) / w - 1  # pixel centres in grid_sample's coordinates
    ramp = torch.zeros(1, 3, h, w)
    ramp[0, 0] = xs[None, :]  # channel 0: x, channel 1: y
    ramp[0, 1] = xs[:, None]
    views = random_views(ramp, 41, torch.Generator().manual_seed(3))
    again = random_views(ramp, 41, torch.Generator().manual_seed(3))
    assert torch.equal(views, again)  # the views come from the generator given
    mid = slice(5, 11)  # away from the border padding: the view's value is a·x + t exactly
    signs = []
    for v in views[1:]:
        for ch, axis in ((0, 1), (1, 0)):
            profile = v[ch].mean(dim=1 - axis)[mid]
            a, t = np.polyfit(xs[mid].numpy(), profile.numpy(), 1)
            assert 0.85 - 1e-4 <= abs(a) <= 1 + 1e-4  # zoomed in by at most 15 %
            assert abs(t) <= 1 - abs(a) + 1e-4  # shifted no further than the zoom leaves room for
            if ch == 0:
                signs.append(np.sign(a))
            else:
                assert a > 0  # flipped left-right only
    assert {-1.0, 1.0} <= set(signs)


def test_several_views_are_deterministic_and_progress_reports_the_step_count(tiny_G, tiny_phi, tiny_clip):
    w, df, masks = tiny_phi
    calls = []
    kw = dict(steps=2, seed=5, settings=StyleClipSettings(clip_views=3))
    a = text_edit(tiny_G, w, df, masks, "a car", tiny_clip, on_step=lambda *c: calls.append(c[:2]), **kw)
    b = text_edit(tiny_G, w, df, masks, "a car", tiny_clip, **kw)
    # the losses of the views too (step 1 runs at learning rate 0, so δ alone would not tell)
    assert torch.equal(a.delta_w, b.delta_w) and a.history == b.history and calls == [(1, 2), (2, 2)]
