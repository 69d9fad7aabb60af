"""Perceptual distance (eq. 3.5's L_LPIPS) and spatial error maps (eq. 3.1's e_l)."""

from __future__ import annotations

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "VGG16_FILE": "lpips_vgg",
        "LpipsVGG": "lpips_vgg",
        "build_lpips_vgg": "lpips_vgg",
        "hub_backbone_path": "lpips_vgg",
        "FALLBACK_NAME": "perceptual",
        "LPIPS_NAME": "perceptual",
        "RANDOM_NAME": "perceptual",
        "Perceptual": "perceptual",
        "PreparedTarget": "perceptual",
        "default_perceptual": "perceptual",
        "ssim_map": "perceptual",
    },
)
