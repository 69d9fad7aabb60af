"""Optimisation-based inversion (§3.3): φ, the losses of eq. 3.5–3.8, and `invert`."""

from __future__ import annotations

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "WPriorStats": "losses",
        "estimate_w_prior": "losses",
        "loss_f": "losses",
        "loss_rec": "losses",
        "loss_w": "losses",
        "objective": "losses",
        "w_prior_stats": "losses",
        "InversionResult": "optimise",
        "invert": "optimise",
        "Phi": "phi",
        "METHODS": "settings",
        "InversionSettings": "settings",
        "learning_rate": "settings",
    },
)
