"""Shared fixtures for the invertibility tests (paper §3.1–3.2)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sam_editor.gan.layers import LayerSpace

torch.set_flush_denormal(True)  # denormals make CPU convolutions crawl
torch.set_num_threads(1)  # intra-op threads spin badly on a shared 2-core box

#: synthetic ground truth: e_l = GAIN[l] · red intensity in [0, 1] (W+ hardest … F10 easiest)
GAIN = {space: 0.6 - 0.12 * space.rank for space in LayerSpace}


def synthetic_image(rng: np.random.Generator, h: int = 48, w: int = 64) -> np.ndarray:
    """Random coloured rectangles and discs plus noise, RGB uint8."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(0, 256, 3)
    for _ in range(int(rng.integers(2, 6))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
            cv2.rectangle(
                img, (x0, y0), (x0 + int(rng.integers(6, w // 2)), y0 + int(rng.integers(6, h // 2))), color, -1
            )
        else:
            cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(4, h // 2)), color, -1)
    noise = rng.normal(0, 4, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


class FakeInversion:
    """Stand-ins for the inversion engine and LPIPS with a known error map per space."""

    def __init__(self) -> None:
        self.calls = 0
        self.grad_enabled: list[bool] = []

    def reconstruct(self, x: torch.Tensor, space: LayerSpace) -> torch.Tensor:
        self.calls += 1
        self.grad_enabled.append(torch.is_grad_enabled())  # an optimising inverter needs autograd
        red = (x[:, :1] + 1) / 2
        return x + GAIN[space] * red

    @staticmethod
    def error_map(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        return (x_hat - x).abs().mean(1, keepdim=True)


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inv_images")
    rng = np.random.default_rng(1234)
    for i in range(28):
        cv2.imwrite(str(folder / f"img{i:03d}.png"), cv2.cvtColor(synthetic_image(rng), cv2.COLOR_RGB2BGR))
    return folder


@pytest.fixture(scope="session")
def target_folder(image_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sam_editor.invertibility.data import generate_targets

    out = tmp_path_factory.mktemp("inv_targets")
    fake = FakeInversion()
    generate_targets(image_folder, out, fake.reconstruct, fake.error_map, size=(48, 64), batch_size=8)
    return out
