"""Issue 32: every path takes a device. Without a GPU, `torch.device('meta')` stands in: a
tensor made on the CPU by the code (a hard-coded `torch.zeros(...)` meeting a meta tensor)
raises, so a pass that runs through on meta and leaves its outputs and gradients there has no
CPU tensor in it. Meta computes no values, so paths with data-dependent steps (the optimiser's
best-φ bookkeeping, the cache's equality checks) are covered up to those steps only: the
generator's staged and gated synthesis with gradients, and the SAM objective of eq. 3.8 (LPIPS,
W prior, L_F, the photo mask). What cannot be checked here: CUDA itself (kernels, speed)."""

from pathlib import Path

import torch

from sam_editor.gan.networks import Generator, GeneratorConfig
from sam_editor.inversion.losses import WPriorStats
from sam_editor.inversion.optimise import LatentProblem
from sam_editor.inversion.settings import InversionSettings
from sam_editor.perceptual import Perceptual

META = torch.device("meta")
CFG = GeneratorConfig(resolution=64, z_dim=8, w_dim=8, mapping_layers=1, channel_base=128, channel_max=8, crop=(8, 0, 48, 64))


def _meta_generator() -> Generator:
    return Generator(CFG).eval().requires_grad_(False).to(META)


def test_staged_and_gated_synthesis_stay_on_the_device() -> None:
    G = _meta_generator()
    w = G.map(torch.randn(2, CFG.z_dim, device=META))
    masks = {i: torch.ones(1, 1, *G.feature_shape(i)[1:], device=META) for i in (4, 6)}
    delta_f = {i: torch.zeros(2, *G.feature_shape(i), device=META, requires_grad=True) for i in masks}
    delta_w = torch.zeros_like(w, requires_grad=True)  # an edit being optimised (StyleCLIP's path)
    for noise_mode, dw in (("const", None), ("random", delta_w)):
        out = G.synthesize(w, delta_f, masks, delta_w=dw, noise_mode=noise_mode)
        assert out.device == META and out.shape == (2, 3, 48, 64)
        out.sum().backward()
    assert all(d.grad.device == META for d in delta_f.values()) and delta_w.grad.device == META


def test_sam_objective_and_its_gradients_stay_on_the_device() -> None:
    G = _meta_generator()
    perceptual = Perceptual.random_backbone(device=META)
    target = torch.zeros(1, 3, 48, 64, device=META)
    masks = {4: torch.ones(1, 1, 16, 16, device=META), 6: torch.ones(1, 1, 32, 32, device=META)}
    eye = torch.eye(CFG.w_dim, dtype=torch.float64)
    stats = WPriorStats(torch.zeros(CFG.w_dim, dtype=torch.float64), eye, eye, 1, "meta").to(META)
    valid = torch.ones(1, 1, 48, 64, device=META)
    for method, m in (("sam", masks), ("w", {})):
        problem = LatentProblem(G, target, method, InversionSettings(optimise_size=None), perceptual, stats, m, None, valid)
        total, parts = problem.evaluate()
        assert total.device == META and {v.device for v in parts.values()} == {META}, method
        total.mean().backward()
        assert all(p.grad is not None and p.grad.device == META for p in problem.params()), method


def test_the_demo_segmenter_is_loaded_on_the_bundles_device(tmp_path: Path) -> None:
    from sam_editor.invertibility.segmenters import CarWorldSegNet, save_carworld_segmenter
    from sam_editor.session.models import DEMO_SEGMENTER_FILE, _segmenter_and_tau

    classes = ("sky", "vegetation", "ground", "road", "car", "clutter")
    save_carworld_segmenter(CarWorldSegNet(len(classes), (4, 4, 6, 6, 8)), tmp_path / DEMO_SEGMENTER_FILE, classes)
    segmenter, _ = _segmenter_and_tau("demo", tmp_path, None, [], None, META)
    assert {p.device for p in segmenter.model.parameters()} == {META}
