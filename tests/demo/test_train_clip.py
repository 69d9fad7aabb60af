"""The demo bundle's tiny CLIP: contrastive training on car-world renders, resumable, saved in
open_clip's formats and loaded back through open_clip's config + file path."""

import dataclasses

import numpy as np
import pytest
import torch

from sam_editor.demo import carworld
from sam_editor.demo.train_clip import (
    ClipTrainSettings,
    _tokenizer,
    build_tiny_clip,
    info_nce,
    load_trained,
    make_batch,
    positives,
    sample_text,
    save_clip,
    scene_attrs,
    train_clip,
)
from sam_editor.edits import clip_models

SMALL = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}
FAST = ClipTrainSettings(batch=24, lr=3e-3, warmup_steps=3, steps=30, image_size=32, seed=0)


def _heldout_loss(model: torch.nn.Module) -> float:
    images, texts, pos = make_batch(10**6, dataclasses.replace(FAST, batch=64))
    with torch.no_grad():
        img = model.encode_image(images, normalize=True)
        txt = model.encode_text(_tokenizer(model)(texts), normalize=True)
        return info_nce(img, txt, model.logit_scale, pos).item()


def test_texts_and_multi_positive_targets():
    rng = np.random.default_rng(0)
    p = carworld.sample_params(rng)
    for _ in range(20):
        text, attrs = sample_text(p, rng)
        assert all(scene_attrs(p)[k] == v for k, v in attrs.items())
        assert p.colour_name in text or p.body_type in text or p.sky_name in text
    a = {"colour": "red", "body": "van", "sky": "blue", "road": "grey"}
    b = {**a, "colour": "blue"}
    pos = positives([a, b], [{"colour": "red"}, {"body": "van"}])
    assert pos.tolist() == [[True, True], [False, True]]


def test_training_reduces_infonce_and_resumes(tmp_path):
    torch.manual_seed(FAST.seed)
    before = _heldout_loss(build_tiny_clip(SMALL))
    half = train_clip(tmp_path / "run", dataclasses.replace(FAST), export_to=None, eval_n=0, config=SMALL,
                      should_stop=lambda: False, minutes=None)
    assert half.steps == FAST.steps and not half.cancelled
    after = _heldout_loss(half.model)
    assert after < before - 0.05, (before, after)
    # resume: a longer schedule continues from the saved step instead of starting over
    more = train_clip(tmp_path / "run", dataclasses.replace(FAST, steps=FAST.steps + 2), export_to=None, eval_n=0,
                      config=SMALL)
    assert more.steps == FAST.steps + 2 and len(more.history) == FAST.steps + 2


def test_cancel_stops_training(tmp_path):
    calls = []
    r = train_clip(tmp_path / "run", FAST, export_to=None, eval_n=0, config=SMALL,
                   should_stop=lambda: len(calls) >= 2, on_step=lambda s, t, info, _p: calls.append(info))
    assert r.cancelled and r.steps == 2


def test_save_load_round_trip_through_open_clip(tmp_path):
    torch.manual_seed(3)
    model = build_tiny_clip(SMALL).eval()
    cfg, pt = save_clip(model, tmp_path, config=SMALL, meta={"steps": 0})
    assert cfg.suffix == ".json" and pt.suffix == ".pt" and (tmp_path / "training.json").is_file()
    loaded = load_trained(tmp_path).eval()
    x = torch.rand(3, 3, 32, 32)
    tok = _tokenizer(model)(["a red car", "a blue van", "an orange suv"])
    with torch.no_grad():
        assert torch.equal(model.encode_image(x), loaded.encode_image(x))
        assert torch.equal(model.encode_text(tok), loaded.encode_text(tok))
    clip_models.clear_cache()
    wrapped = clip_models.load_demo_clip(tmp_path)  # the StyleCLIP-facing wrapper, same files
    with torch.no_grad():
        ref = torch.nn.functional.normalize(model.encode_text(tok), dim=-1)
        assert torch.allclose(wrapped.encode_text(["a red car", "a blue van", "an orange suv"]), ref, atol=1e-6)
    assert pt.stat().st_size < 10 * 2**20


@pytest.mark.parametrize("size", [32])
def test_zero_shot_accuracy_runs(size):
    from sam_editor.demo.train_clip import as_clip_model, zero_shot_accuracy

    torch.manual_seed(0)
    acc = zero_shot_accuracy(as_clip_model(build_tiny_clip(SMALL).eval()), n=20, size=size, batch=10)
    assert set(acc) == {"colour", "body_type"} and all(0 <= v <= 1 for v in acc.values())


def test_twins_are_the_same_scenes_in_another_colour():
    from sam_editor.demo.train_clip import sample_scenes

    scenes = sample_scenes(np.random.default_rng(2), 12, group=4, twins=4)
    assert len(scenes) == 12
    for orig, twin in zip(scenes[:4], scenes[8:], strict=True):
        assert twin.colour_name != orig.colour_name
        other = {k: v for k, v in dataclasses.asdict(twin).items() if k not in ("colour_name", "colour_rgb")}
        assert other == {k: v for k, v in dataclasses.asdict(orig).items() if k not in ("colour_name", "colour_rgb")}
    # so a colour text is a positive for one twin only, a body text for both
    texts = [{"colour": scenes[0].colour_name}, {"body": scenes[0].body_type}]
    pos = positives([scene_attrs(scenes[0]), scene_attrs(scenes[8])], texts)
    assert pos.tolist() == [[True, True], [False, True]]


def test_rendering_processes_train_the_same_model_as_the_thread(tmp_path):
    s = dataclasses.replace(FAST, steps=4)
    a = train_clip(tmp_path / "a", s, export_to=None, eval_n=0, config=SMALL, workers=1)
    b = train_clip(tmp_path / "b", s, export_to=None, eval_n=0, config=SMALL, workers=2)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        torch.testing.assert_close(va, vb, msg=k)


def test_a_retrained_model_loads_from_its_folder_by_path(tmp_path):
    torch.manual_seed(4)
    model = build_tiny_clip(SMALL).eval()
    save_clip(model, tmp_path / "mine", config=SMALL)
    clip = clip_models.load_clip(str(tmp_path / "mine"))
    assert clip.is_demo
    tok = _tokenizer(model)(["a blue car"])
    with torch.no_grad():
        torch.testing.assert_close(clip.model.encode_text(tok), model.encode_text(tok))
    with pytest.raises(ValueError):
        clip_models.load_clip(str(tmp_path / "not-there"))
