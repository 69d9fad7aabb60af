"""LPIPS-VGG from a hub-cache backbone (random weights in the torchvision layout), and the
named fallback when the backbone is absent. Nothing is downloaded."""

from __future__ import annotations

import logging

import lpips
import pytest
import torch
from torchvision.models import vgg as tv_vgg

from sam_editor.perceptual import FALLBACK_NAME, LPIPS_NAME, RANDOM_NAME, VGG16_FILE, Perceptual, ssim_map
from sam_editor.perceptual import perceptual as perceptual_module


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A torch hub dir holding a random VGG16 in torchvision's layout (`features.K.*` keys;
    the classifier is left out — 60 MB instead of 530 MB — and is not read)."""
    root = tmp_path_factory.mktemp("hub")
    torch.manual_seed(0)
    features = tv_vgg.make_layers(tv_vgg.cfgs["D"])
    sd = {f"features.{k}": v for k, v in features.state_dict().items()}
    (root / "checkpoints").mkdir()
    torch.save(sd, root / "checkpoints" / VGG16_FILE)
    return root


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 48, 64, generator=g) * 2 - 1
    y = (x + 0.3 * torch.randn(2, 3, 48, 64, generator=g)).clamp(-1, 1)
    return x, y


def test_lpips_is_used_when_the_backbone_is_in_the_hub(hub, images):
    p = Perceptual(hub_dir=hub)
    assert p.name == LPIPS_NAME and p.is_lpips and p.warning is None
    assert p.backbone_file == hub / "checkpoints" / VGG16_FILE
    x, y = images
    d, emap = p.distance_and_map(x, y)
    assert d.shape == (2,) and emap.shape == (2, 1, 48, 64) and bool((d > 0).all())
    assert torch.allclose(p.distance(x, x), torch.zeros(2), atol=1e-6)
    # The default location is torch.hub.get_dir()/checkpoints.
    old = torch.hub.get_dir()
    try:
        torch.hub.set_dir(str(hub))
        assert Perceptual().is_lpips
    finally:
        torch.hub.set_dir(old)


@pytest.mark.filterwarnings("ignore::UserWarning")  # lpips calls torchvision's deprecated `pretrained=`
def test_lpips_equals_the_lpips_package(hub, images):
    """Same backbone weights copied into lpips.LPIPS(net='vgg', pnet_rand=True): same numbers,
    scalar and spatial."""
    p = Perceptual(hub_dir=hub)
    ref = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False)
    sd = torch.load(hub / "checkpoints" / VGG16_FILE, weights_only=True)
    slices = [(1, range(0, 4)), (2, range(4, 9)), (3, range(9, 16)), (4, range(16, 23)), (5, range(23, 30))]
    for s, idx in slices:
        for k in idx:
            for name in ("weight", "bias"):
                key = f"features.{k}.{name}"
                if key in sd:
                    getattr(getattr(getattr(ref.net, f"slice{s}"), str(k)), name).data.copy_(sd[key])
    x, y = images
    with torch.no_grad():
        expected = ref(x, y).flatten()
        ref.spatial = True
        expected_map = ref(x, y)
    d, emap = p.distance_and_map(x, y)
    assert torch.allclose(d, expected, rtol=1e-4, atol=1e-6)
    assert torch.allclose(emap, expected_map, rtol=1e-4, atol=1e-6)


def test_gradients_reach_the_input_only(hub, images):
    p = Perceptual(hub_dir=hub)
    x, y = images
    xr = x.clone().requires_grad_(True)
    p(xr, y).sum().backward()
    assert xr.grad is not None and xr.grad.abs().sum() > 0
    assert all(not q.requires_grad for q in p.parameters())
    p.train()
    assert not p.training  # a metric never switches to training mode


def test_fallback_is_named_and_said_once(tmp_path, images, caplog):
    perceptual_module._warned.clear()
    with caplog.at_level(logging.WARNING, logger="sam_editor.perceptual.perceptual"):
        p = Perceptual(hub_dir=tmp_path)
        Perceptual(hub_dir=tmp_path)
    assert p.name == FALLBACK_NAME == "l2+ssim (LPIPS-VGG backbone missing)" and not p.is_lpips
    assert VGG16_FILE in p.warning and str(tmp_path) in p.warning
    assert len([r for r in caplog.records if VGG16_FILE in r.getMessage()]) == 1
    x, y = images
    d, emap = p.distance_and_map(x, y)
    assert emap.shape == (2, 1, 48, 64) and torch.allclose(d, emap.mean(dim=(1, 2, 3)))
    assert torch.allclose(p.distance(x, x), torch.zeros(2), atol=1e-6)
    assert bool((p.distance(x, y) > 0).all())


def test_bad_backbone_file_is_an_error(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    torch.save({"features.0.weight": torch.zeros(3, 3)}, tmp_path / "checkpoints" / VGG16_FILE)
    with pytest.raises(ValueError, match="VGG16"):
        Perceptual(hub_dir=tmp_path)


def test_ssim_and_random_backbone(images):
    x, _ = images
    assert torch.allclose(ssim_map(x, x), torch.ones(2, 1, 48, 64), atol=1e-5)
    tiny = torch.rand(1, 3, 4, 4) * 2 - 1
    assert ssim_map(tiny, tiny).shape == (1, 1, 4, 4)
    r = Perceptual.random_backbone()
    assert r.name == RANDOM_NAME and not r.is_lpips and "random" in r.warning


def test_prepared_target_gives_the_same_values(hub, images, tmp_path):
    x, y = images
    for p in (Perceptual(hub_dir=hub), Perceptual(hub_dir=tmp_path)):
        d, emap = p.distance_and_map(x, y)
        d2, emap2 = p.distance_and_map(x, p.prepare_target(y))
        assert torch.allclose(d, d2, atol=1e-6) and torch.allclose(emap, emap2, atol=1e-6)
        one = p.prepare_target(y[:1])  # one target for a batch
        assert torch.allclose(p.distance(x, one), p.distance(x, y[:1].expand_as(x)), atol=1e-6)
    with pytest.raises(ValueError, match="differently shaped"):
        p.distance(x, y[:, :, :8])
