"""Optimisation settings of the inversion (eq. 3.8) and its learning-rate schedule."""

from __future__ import annotations

import dataclasses
from typing import Literal

from ..util import ramped_lr

METHODS: tuple[str, ...] = ("sam", "w", "wplus", "f4", "f6", "f8", "f10", "gaussian", "pti")
SINGLE_FEATURE_METHODS: dict[str, int] = {"f4": 4, "f6": 6, "f8": 8, "f10": 10}
# Official reconstruction losses are computed with the 512² frame area-downsampled to 256²
# (then the car crop: 192×256). "auto" applies that rule to any generator: frames larger than
# 256 are downsampled to 256, smaller ones are used at full size.
OFFICIAL_LOSS_FRAME = 256


@dataclasses.dataclass(frozen=True)
class InversionSettings:
    """Weights and schedule of the objective of eq. 3.8,

        argmin_φ  L_rec + λ_W L_W + λ_F L_F,

    with L_rec = λ_mse ℓ2 + λ_LPIPS L_LPIPS (eq. 3.5), L_W split into its Gaussian-prior term
    (weight `lambda_w_prior`) and its w+ spread term (weight `lambda_w_spread`) (eq. 3.6), and
    L_F (eq. 3.7) weighted by `lambda_f`. Defaults are those of the official SAM code
    (`src/sam_inv_optimization.py`): 1001 Adam steps (β = 0.9, 0.999), lr 0.05 with a linear
    ramp-up over the first 5 % and a cosine ramp-down over the last 25 %, λ_mse 1, λ_LPIPS 1,
    λ_F 5, spread 1e-3, Gaussian prior 1e-8, μ/Σ from 5 000 sampled w.
    """

    steps: int = 1001
    lr: float = 0.05
    lr_rampup: float = 0.05  # fraction of the steps
    lr_rampdown: float = 0.25  # fraction of the steps
    betas: tuple[float, float] = (0.9, 0.999)
    lambda_mse: float = 1.0
    lambda_lpips: float = 1.0
    lambda_f: float = 5.0
    lambda_w_spread: float = 1e-3
    lambda_w_prior: float = 1e-8
    # Official: Σ_n ‖w_n − w_0‖ (not squared, despite the thesis' ‖·‖²); True squares it.
    w_spread_squared: bool = False
    prior_samples: int = 5000
    # (H, W) at which L_rec is computed (x̂ and x area-downsampled); None: full output size;
    # "auto": the official rule (a frame larger than 256² is brought to 256², so 192×256 for the
    # 512×384 cars).
    optimise_size: tuple[int, int] | None | Literal["auto"] = "auto"
    clamp: bool = True  # clamp x̂ to [-1, 1] before the losses, as the official code does
    noise_mode: str = "const"  # official runs NVIDIA's default 'random' noise; 'const' is deterministic
    # Method 'gaussian' (Wulff & Torralba): the prior of eq. 3.6 weighted so that it matters —
    # the weight is this strength divided by (rows · w_dim), i.e. a per-coordinate mean
    # Mahalanobis² (≈1 for a typical sample of G) times the strength.
    gaussian_prior_strength: float = 0.05
    # PTI (Roich et al.): tuning a copy of G after a W inversion; their defaults.
    pti_tune_steps: int | None = None  # None: min(350, steps)
    pti_lr: float = 3e-4
    pti_lambda_mse: float = 1.0
    pti_lambda_lpips: float = 1.0
    pti_locality: bool = True
    pti_locality_alpha: float = 30.0
    pti_locality_lambda_mse: float = 0.1
    pti_locality_lambda_lpips: float = 0.1
    pti_locality_truncation: float = 0.5
    pti_lpips_stop: float = 0.07  # stop tuning when LPIPS ≤ this (only with real LPIPS-VGG)

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError("steps must be ≥ 0")
        if self.optimise_size not in (None, "auto"):
            object.__setattr__(self, "optimise_size", tuple(int(v) for v in self.optimise_size))  # type: ignore[union-attr]
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))

    def replace(self, **changes) -> InversionSettings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def loss_size(self, output_size: tuple[int, int], frame: int) -> tuple[int, int] | None:
        """(H, W) for L_rec, or None for the full output size (`frame`: the square synthesis size)."""
        if self.optimise_size is None:
            return None
        if self.optimise_size == "auto":
            if frame <= OFFICIAL_LOSS_FRAME:
                return None
            s = OFFICIAL_LOSS_FRAME / frame
            return (max(1, round(output_size[0] * s)), max(1, round(output_size[1] * s)))
        size = tuple(self.optimise_size)
        return None if size == tuple(output_size) else size  # type: ignore[return-value]

    @property
    def tune_steps(self) -> int:
        return min(350, self.steps) if self.pti_tune_steps is None else self.pti_tune_steps


def learning_rate(step: int, total: int, settings: InversionSettings) -> float:
    """The official schedule (StyleGAN2 projector, `util.ramped_lr`) at `step` of `total` with the
    inversion's peak and ramps. Note lr = 0 at step 0."""
    return ramped_lr(step / max(total, 1), settings.lr, settings.lr_rampup, settings.lr_rampdown)
