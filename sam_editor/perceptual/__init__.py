"""Perceptual distance (eq. 3.5's L_LPIPS) and spatial error maps (eq. 3.1's e_l)."""

from .lpips_vgg import VGG16_FILE, LpipsVGG, build_lpips_vgg, hub_backbone_path
from .perceptual import (
    FALLBACK_NAME,
    LPIPS_NAME,
    RANDOM_NAME,
    Perceptual,
    PreparedTarget,
    default_perceptual,
    ssim_map,
)

__all__ = [
    "FALLBACK_NAME",
    "LPIPS_NAME",
    "RANDOM_NAME",
    "VGG16_FILE",
    "LpipsVGG",
    "Perceptual",
    "PreparedTarget",
    "build_lpips_vgg",
    "default_perceptual",
    "hub_backbone_path",
    "ssim_map",
]
