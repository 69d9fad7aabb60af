"""GANSpace for BigGAN-deep: principal directions in z, found through the first layer's outputs.

BigGAN's z is isotropic (a truncated normal), so a PCA of z itself finds nothing. GANSpace
(Härkönen et al. 2020, §3 "BigGAN") instead takes the PCA of the first linear layer's outputs
h = gen_z([z, e]) over sampled z of the bound class, and transfers each principal direction
v_k back to z by linear regression: with coordinates x = (h − μ) V over the samples,
U = argmin ‖X U − Z‖² gives u_k, the z-direction whose motion moves h along v_k. Directions are
returned as unit vectors, so a strength s moves z by s of its own standard deviations (ψ).

An edit is δz = s·u_k on a range of Z+ stages (GANSpace's layer-wise edits), a z-width δ for
the gated pass of `ClassConditionedBigGAN.synthesize`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import torch

from ..util import OnStep, ShouldStop
from .ganspace import _sign_convention

DEFAULT_SAMPLES = 2048  # GANSpace used 10⁶ w for StyleGAN; h is 32 768 wide at 256 px (2048 × 32 768 floats = 268 MB)
DEFAULT_COMPONENTS = 20
CHUNK = 512


@dataclasses.dataclass(frozen=True)
class ZComponents:
    """directions: unit u_k (K, z_dim), each with its largest-|·| entry positive (as W's GANSpace);
    h_std: σ of each principal coordinate of h (K,), descending."""

    directions: torch.Tensor
    h_std: torch.Tensor
    samples: int
    class_index: int | None = None

    def delta(self, k: int, strength: float, stages: range, num_ws: int) -> torch.Tensor:
        """δz (1, num_ws, z_dim): s·u_k on `stages`, zero elsewhere."""
        if not 0 <= k < self.directions.shape[0]:
            raise ValueError(f"component {k} is not one of the {self.directions.shape[0]} computed (0…{self.directions.shape[0] - 1})")
        if stages.start < 0 or stages.stop > num_ws or len(stages) == 0:
            raise ValueError(f"stages {stages.start}-{stages.stop - 1} are not within 0…{num_ws - 1}")
        d = torch.zeros(1, num_ws, self.directions.shape[1], device=self.directions.device)
        d[:, stages.start : stages.stop] = strength * self.directions[k]
        return d

    def total(self, edits: Iterable[tuple[int, float, range]], num_ws: int) -> torch.Tensor:
        """δz (1, num_ws, z_dim): Σ s·u_k on its stages over the edits (k, s, stages) — `--ganspace`
        given several times, or the window's sliders; zero for none."""
        d = torch.zeros(1, num_ws, self.directions.shape[1], device=self.directions.device)
        for k, strength, stages in edits:
            d = d + self.delta(k, strength, stages, num_ws)
        return d


@torch.no_grad()
def z_components(
    G,  # ClassConditionedBigGAN (the bound class is the one whose h is sampled)
    n_samples: int = DEFAULT_SAMPLES,
    n_components: int = DEFAULT_COMPONENTS,
    seed: int = 0,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
) -> ZComponents | None:
    """PCA of h = gen_z([z, e]) over n_samples z, regressed back to z; None when stopped."""
    z = G.sample_z(n_samples, seed=seed)  # (N, z_dim)
    e = G.net.embed(G.class_vector[:1]).expand(CHUNK, -1)
    hs = []
    for start in range(0, n_samples, CHUNK):
        if should_stop is not None and should_stop():
            return None
        zc = z[start : start + CHUNK]
        hs.append(G.net.generator.gen_z(torch.cat([zc, e[: zc.shape[0]]], dim=1)).float().cpu())
        if on_step is not None:
            on_step(min(start + CHUNK, n_samples), n_samples, {}, None)
    h = torch.cat(hs)
    h = h - h.mean(dim=0)
    k = min(n_components, n_samples - 1, h.shape[1])
    with torch.random.fork_rng(devices=[]):  # svd_lowrank draws its sketch from the global RNG:
        torch.manual_seed(seed)  # seeded, the same command gives the same directions every run
        _, s, v = torch.svd_lowrank(h, q=k + 8, niter=4)
    v, s = v[:, :k], s[:k]
    x = (h @ v).double()  # (N, K) principal coordinates
    u = torch.linalg.lstsq(x, z.double().cpu()).solution  # (K, z_dim): X U ≈ Z
    u = u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)
    u = torch.from_numpy(_sign_convention(u.numpy()))  # an SVD's signs are arbitrary: fixed as W's GANSpace fixes them
    std = s / (n_samples - 1) ** 0.5
    idx = int(G.class_vector[0].argmax()) if G.class_vector.shape[0] == 1 else None
    return ZComponents(u.float().to(z.device), std.float(), n_samples, idx)
