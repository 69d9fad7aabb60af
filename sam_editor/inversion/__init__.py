"""Optimisation-based inversion (§3.3): φ, the losses of eq. 3.5–3.8, and `invert`."""

from .losses import WPriorStats, estimate_w_prior, loss_f, loss_rec, loss_w, objective, w_prior_stats
from .optimise import InversionResult, invert
from .phi import Phi
from .settings import METHODS, InversionSettings, learning_rate

__all__ = [
    "METHODS",
    "InversionResult",
    "InversionSettings",
    "Phi",
    "WPriorStats",
    "estimate_w_prior",
    "invert",
    "learning_rate",
    "loss_f",
    "loss_rec",
    "loss_w",
    "objective",
    "w_prior_stats",
]
