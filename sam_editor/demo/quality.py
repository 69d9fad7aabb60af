"""How close the demo generator's samples are to the car world: distribution distances in the
feature space of the bundle's tiny CLIP image encoder.

FID and KID are defined on Inception-v3 features, which we do not have offline, and ImageNet
features would say little about a procedural domain anyway. The tiny CLIP was trained
contrastively on exactly this world's renders and captions (body type, colour, sky, road), so its
embedding separates what matters here; we report

* **FD_clip** — the Fréchet distance between Gaussians fitted to real and generated features
  (FID's formula, other features), and
* **KID_clip** — the unbiased squared MMD with KID's cubic polynomial kernel
  k(x, y) = (xᵀy / d + 1)³, averaged over subsets (unbiased, so 0 means "same distribution"),

each next to the same figure for two independent real sets, the floor a perfect generator would
reach at this sample size. Numbers are only comparable between runs with the same encoder and n.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from . import carworld


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖μa − μb‖² + tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½) for features a (N, D), b (M, D)."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = torch.cov(a.T), torch.cov(b.T)

    def sqrtm_psd(m: torch.Tensor) -> torch.Tensor:
        vals, vecs = torch.linalg.eigh((m + m.T) / 2)
        return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T

    ra = sqrtm_psd(sa)
    cross = torch.linalg.eigvalsh((ra @ sb @ ra + (ra @ sb @ ra).T) / 2).clamp_min(0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + sa.trace() + sb.trace() - 2 * cross)


def kernel_inception_distance(
    a: torch.Tensor, b: torch.Tensor, subsets: int = 20, subset_size: int = 200, seed: int = 0
) -> float:
    """Unbiased MMD² with k(x, y) = (xᵀy/d + 1)³, averaged over random subsets (as KID)."""
    a, b = a.double(), b.double()
    d = a.shape[1]
    m = min(subset_size, len(a), len(b))
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(subsets):
        x = a[torch.randperm(len(a), generator=g)[:m]]
        y = b[torch.randperm(len(b), generator=g)[:m]]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        off = 1 - torch.eye(m, dtype=torch.float64)
        total += float((kxx * off).sum() / (m * (m - 1)) + (kyy * off).sum() / (m * (m - 1)) - 2 * kxy.mean())
    return total / subsets


@torch.no_grad()
def features(encode: Callable[[torch.Tensor], torch.Tensor], batches) -> torch.Tensor:  # noqa: ANN001
    return torch.cat([encode(x) for x in batches]).float()


def real_batches(n: int, seed: int, size: int, batch: int = 50):
    rng = np.random.default_rng(seed)
    for start in range(0, n, batch):
        images, _ = carworld.batch(rng, min(batch, n - start), size=size)
        yield carworld.to_tensor(images)


def fake_batches(G, n: int, seed: int, batch: int = 50, psi: float = 1.0):  # noqa: ANN001
    g = torch.Generator().manual_seed(seed)
    for start in range(0, n, batch):
        z = torch.randn(min(batch, n - start), G.z_dim, generator=g)
        yield G.synthesize(G.map(z, truncation_psi=psi)).clamp(-1, 1)


def measure(G, encode: Callable[[torch.Tensor], torch.Tensor], n: int = 1000, seed: int = 0) -> dict:  # noqa: ANN001
    """FD_clip and KID_clip of G's samples against the car world, and the real-vs-real floor."""
    size = G.cfg.output_size[0]
    real_a = features(encode, real_batches(n, 20_000 + seed, size))
    real_b = features(encode, real_batches(n, 30_000 + seed, size))
    fake = features(encode, fake_batches(G, n, seed))
    sub = min(n, 500)
    return {
        "n": n,
        "fd_clip": round(frechet_distance(real_a, fake), 4),
        "kid_clip_x1000": round(1000 * kernel_inception_distance(real_a, fake, subset_size=sub), 3),
        "fd_clip_real_vs_real": round(frechet_distance(real_a, real_b), 4),
        "kid_clip_x1000_real_vs_real": round(1000 * kernel_inception_distance(real_a, real_b, subset_size=sub), 3),
    }
