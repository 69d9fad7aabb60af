"""The losses of §3.3: eq. 3.5 (`loss_rec`), 3.6 (`loss_w`), 3.7 (`loss_f`), 3.8 (`objective`).

Every loss returns one value per image, shape (N,); the optimiser minimises their batch mean,
which matches the official code's batch-averaged losses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F

from ..gan.networks import Generator
from ..perceptual import Perceptual, PreparedTarget
from ..util import atomic_write, sha256_file

PRIOR_SLOPE = 5.0  # ŵ = LeakyReLU(w, 5.0) undoes the mapping network's last lrelu(0.2)
STATS_VERSION = 1


# ---- eq. 3.5 ---------------------------------------------------------------------------------
def loss_rec(
    x: torch.Tensor,  # (N, 3, H, W) target in [-1, 1]
    x_hat: torch.Tensor,  # (N, 3, H, W) reconstruction
    perceptual: Perceptual | None,
    lambda_lpips: float = 1.0,
    lambda_mse: float = 1.0,
    prepared: PreparedTarget | None = None,  # perceptual.prepare_target(x), to skip x's VGG pass
    mask: torch.Tensor | None = None,  # (N | 1, 1, H, W) in [0, 1]: the photo's pixels; None: all
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 3.5: L_rec = λ_mse ℓ2(x, x̂) + λ_LPIPS L_LPIPS(x, x̂) → ((N,), {'mse', 'perceptual'}).

    ℓ2 is the mean squared error over pixels and channels (as the official `F.mse_loss`).
    With `mask` (a photo letterboxed into the frame) both terms are means over the photo's
    pixels only, and x̂ is replaced by x outside it first, so the generator's own padding gives no
    loss and no gradient — not even through LPIPS's receptive fields at the photo's edge. The
    *target's* padding (the same in x and x̂ then) still shapes those edge features, as an image
    border does: two different fills around one photo give slightly different perceptual values
    (measured 1.023 vs 1.050 on a 12×16 frame); `imageio.letterbox` pads by repeating the
    photo's edge, so that border is the photo's own."""
    if mask is not None:
        m = mask.to(x_hat.dtype)
        x_hat = m * x_hat + (1 - m) * x
        area = m.expand(x.shape[0], 1, *x.shape[-2:]).sum(dim=(1, 2, 3)).clamp_min(1e-8)
        mse = (x_hat - x).pow(2).sum(dim=(1, 2, 3)) / (area * x.shape[1])
    else:
        mse = (x_hat - x).pow(2).mean(dim=(1, 2, 3))
    if perceptual is not None and lambda_lpips != 0:
        y = prepared if prepared is not None else x
        perc = perceptual.distance(x_hat, y) if mask is None else perceptual.masked_distance(x_hat, y, mask)
    else:
        perc = torch.zeros_like(mse)
    return lambda_mse * mse + lambda_lpips * perc, {"mse": mse, "perceptual": perc}


# ---- eq. 3.6 ---------------------------------------------------------------------------------
@dataclasses.dataclass
class WPriorStats:
    """Empirical Gaussian of ŵ = LeakyReLU(w, 5.0) over sampled w: μ (w_dim,), Σ and Σ⁻¹
    (w_dim, w_dim), float64."""

    mean: torch.Tensor
    cov: torch.Tensor
    inv_cov: torch.Tensor
    samples: int
    key: str

    def to(self, device: torch.device | str) -> WPriorStats:
        return dataclasses.replace(
            self, mean=self.mean.to(device), cov=self.cov.to(device), inv_cov=self.inv_cov.to(device)
        )


def generator_fingerprint(G: Generator) -> str:
    """SHA-256 (16 hex) of G's config and weights — the stats cache key when no file id is given."""
    h = hashlib.sha256(G.cfg.to_json().encode())
    for name, t in sorted(G.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def file_fingerprint(path: str | os.PathLike) -> str:
    """SHA-256 (16 hex) of a generator file's bytes."""
    return sha256_file(path)[:16]


def default_cache_dir() -> Path:
    """`$SAM_EDITOR_CACHE` or the user cache dir, subfolder `w_prior`."""
    env = os.environ.get("SAM_EDITOR_CACHE")
    if env:
        return Path(env) / "w_prior"
    import platformdirs

    return Path(platformdirs.user_cache_dir("sam-editor")) / "w_prior"


@torch.no_grad()
def estimate_w_prior(G: Generator, samples: int = 5000, seed: int = 0, key: str = "") -> WPriorStats:
    """μ, Σ of ŵ = LeakyReLU(w, 5) over `samples` w = G.mapping(z), z ~ N(0, I) (seeded).

    μ is the mean of ŵ, as in Wulff & Torralba and as the thesis states; the official code uses
    LeakyReLU(mean w, 5) instead (a small difference). Σ gets 1e-8·I before inversion, as there."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, G.z_dim, generator=gen, dtype=torch.float32)
    device = G.mapping.w_avg.device
    ws = torch.cat([G.mapping(chunk.to(device)) for chunk in z.split(1000)]).double().cpu()
    v = F.leaky_relu(ws, negative_slope=PRIOR_SLOPE)
    mean = v.mean(dim=0)
    d = v - mean
    cov = d.T @ d / max(samples - 1, 1) + 1e-8 * torch.eye(v.shape[1], dtype=torch.float64)
    inv_cov = torch.linalg.inv(cov)
    return WPriorStats(mean=mean, cov=cov, inv_cov=inv_cov, samples=samples, key=key)


def w_prior_stats(
    G: Generator,
    generator_id: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    samples: int = 5000,
    seed: int = 0,
) -> WPriorStats:
    """Cached `estimate_w_prior`: the file `<cache_dir>/<id>_<samples>.pt` (id: `generator_id`,
    e.g. the generator file's hash, or else a hash of G's weights). Returned on G's device."""
    key = generator_id or generator_fingerprint(G)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"{safe}_{samples}_s{seed}.pt"
    device = G.mapping.w_avg.device
    if path.is_file():
        try:
            d = torch.load(path, map_location="cpu", weights_only=True)
            meta = json.loads(d["meta"])
            if meta.get("version") == STATS_VERSION and d["mean"].shape[0] == G.w_dim:
                return WPriorStats(d["mean"], d["cov"], d["inv_cov"], int(meta["samples"]), key).to(device)
        except Exception:  # unreadable cache: recompute and overwrite
            pass
    stats = estimate_w_prior(G, samples=samples, seed=seed, key=key)
    meta = json.dumps({"version": STATS_VERSION, "samples": samples, "seed": seed, "key": key})
    atomic_write(path, lambda tmp: torch.save({"mean": stats.mean, "cov": stats.cov, "inv_cov": stats.inv_cov, "meta": meta}, tmp))
    return stats.to(device)


def w_prior_term(w_plus: torch.Tensor, stats: WPriorStats) -> torch.Tensor:
    """Σ_n (ŵ_n − μ)ᵀ Σ⁻¹ (ŵ_n − μ) over the rows n of w_plus (N, rows, w_dim) → (N,) float32.

    We use Σ⁻¹, the Gaussian negative log-likelihood as in Wulff & Torralba and the official
    code (`inv_cov_v`); the thesis' eq. 3.6 prints Σ, which would penalise the likely
    (high-variance) directions most — the opposite of a Gaussian prior, so we read it as a typo.
    Computed in float64 like the official code."""
    v = F.leaky_relu(w_plus.double(), negative_slope=PRIOR_SLOPE)
    d = v - stats.mean.to(v.device)
    return torch.einsum("nri,ij,nrj->n", d, stats.inv_cov.to(v.device), d).float()


def w_spread_term(w_plus: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """Σ_{n≥1} ‖w_n − w_0‖ over the rows of w_plus (N, rows, w_dim) → (N,).

    The official code sums the plain L2 norms (its weight 1e-3 goes with that); the thesis
    prints the squared norm — `squared=True`."""
    delta = w_plus[:, 1:] - w_plus[:, :1]
    if squared:
        return delta.pow(2).sum(dim=(1, 2))
    return torch.linalg.vector_norm(delta, dim=2).sum(dim=1)


def loss_w(
    w_plus: torch.Tensor,  # (N, rows, w_dim)
    stats: WPriorStats | None,
    lambda_prior: float = 1e-8,
    lambda_spread: float = 1e-3,
    squared_spread: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 3.6, with λ_W split as in the official code:
    L_W = λ_prior Σ_n (ŵ_n − μ)ᵀ Σ⁻¹ (ŵ_n − μ) + λ_spread Σ_n ‖w_n − w_0‖ → ((N,), parts)."""
    zero = w_plus.new_zeros(w_plus.shape[0])
    prior = w_prior_term(w_plus, stats) if (stats is not None and lambda_prior != 0) else zero
    spread = w_spread_term(w_plus, squared_spread) if (lambda_spread != 0 and w_plus.shape[1] > 1) else zero
    return lambda_prior * prior + lambda_spread * spread, {"w_prior": prior, "w_spread": spread}


# ---- eq. 3.7 ---------------------------------------------------------------------------------
def loss_f(delta_f: Mapping[int, torch.Tensor], n: int | None = None) -> torch.Tensor:
    """Eq. 3.7: L_F = Σ_i ‖Δf_i‖² with each ‖Δf_i‖² the *mean* square over (C, H, W), as the
    official `F.mse_loss(Δf_i, 0)` (its λ_F = 5 goes with that normalisation) → (N,)."""
    total = None
    for df in delta_f.values():
        term = df.pow(2).mean(dim=(1, 2, 3))
        total = term if total is None else total + term
    if total is None:
        if n is None:
            raise ValueError("loss_f of no feature spaces needs the batch size n")
        return torch.zeros(n)
    return total


# ---- eq. 3.8 ---------------------------------------------------------------------------------
def objective(rec: torch.Tensor, lw: torch.Tensor, lf: torch.Tensor, lambda_f: float = 5.0) -> torch.Tensor:
    """Eq. 3.8: L_rec + λ_W L_W + λ_F L_F, per image (N,). λ_W is inside `loss_w` (its two weights)."""
    return rec + lw + lambda_f * lf.to(rec.device)
