"""The perceptual distance of eq. 3.5 (L_LPIPS) and the spatial error map e_l of eq. 3.1.

`Perceptual` is LPIPS-VGG when the ImageNet VGG16 backbone is in the torch hub cache
(`<torch.hub.get_dir()>/checkpoints/vgg16-397923af.pth`). This machine may be offline, so nothing
is ever downloaded: when the file is absent the wrapper says so once (`warning` and
`logging.warning`) and uses a plainly named stand-in, ``"l2+ssim (LPIPS-VGG backbone missing)"``
— never a silently random network.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from .lpips_vgg import LpipsVGG, build_lpips_vgg, hub_backbone_path

log = logging.getLogger(__name__)

LPIPS_NAME = "lpips-vgg"
FALLBACK_NAME = "l2+ssim (LPIPS-VGG backbone missing)"
RANDOM_NAME = "lpips-vgg (RANDOM backbone: benchmarks only, not a metric)"
_warned: set[str] = set()


def _gaussian_window(size: int = 11, sigma: float = 1.5, device=None, dtype=torch.float32) -> torch.Tensor:
    t = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_map(x: torch.Tensor, y: torch.Tensor, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """SSIM (Wang et al. 2004) per pixel, averaged over channels: x, y (N, C, H, W) in [-1, 1]
    → (N, 1, H, W). Gaussian window 11/1.5, reflect padding so the map keeps the input size."""
    x = (x + 1) / 2
    y = (y + 1) / 2
    c = x.shape[1]
    size = min(size, 2 * ((min(x.shape[-2:]) - 1) // 2) + 1)  # reflect padding needs pad < side
    g = _gaussian_window(size, sigma, x.device, x.dtype)
    kh = g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    kw = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    pad = size // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        t = F.pad(t, [pad, pad, pad, pad], mode="reflect")
        return F.conv2d(F.conv2d(t, kh, groups=c), kw, groups=c)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.mean(dim=1, keepdim=True)


@dataclasses.dataclass
class PreparedTarget:
    """A fixed comparison image y (N, 3, H, W) with its LPIPS trunk features computed once
    (`Perceptual.prepare_target`): an optimiser compares every x̂ with the same target, and the
    target's VGG pass was half of each LPIPS evaluation."""

    image: torch.Tensor
    features: list[torch.Tensor] | None


class Perceptual(torch.nn.Module):
    """Perceptual distance between images x, y (N, 3, H, W) in [-1, 1].

    * `forward(x, y)` / `distance(x, y)` → (N,) — L_LPIPS of eq. 3.5 per image;
    * `error_map(x, y)` → (N, 1, H, W) — the spatial map e_l of eq. 3.1;
    * `distance_and_map(x, y)` → both from one pass.

    `name` is ``"lpips-vgg"`` or `FALLBACK_NAME`; `warning` is None or the reason for the fallback.
    Gradients flow to the inputs (the network itself is frozen).
    """

    def __init__(
        self,
        device: str | torch.device | None = None,
        hub_dir: str | os.PathLike | None = None,
        backbone_file: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        path = Path(backbone_file) if backbone_file is not None else hub_backbone_path(hub_dir)
        self.backbone_file: Path | None = None
        self.warning: str | None = None
        self.net: LpipsVGG | None = None
        if path.is_file():
            self.net = build_lpips_vgg(path)
            self.backbone_file = path
            self.name = LPIPS_NAME
        else:
            self.name = FALLBACK_NAME
            self.warning = (
                f"LPIPS-VGG needs the ImageNet VGG16 weights at {path} (torchvision file {path.name}); "
                f"they are absent and nothing is downloaded, so the perceptual loss is {FALLBACK_NAME!r}. "
                "Copy the file there to get LPIPS-VGG."
            )
            if self.warning not in _warned:  # say it once per process
                _warned.add(self.warning)
                log.warning(self.warning)
        self.requires_grad_(False)
        if device is not None:
            self.to(device)

    @classmethod
    def random_backbone(cls, device: str | torch.device | None = None, seed: int = 0) -> Perceptual:
        """LPIPS-VGG with a *random* VGG16 trunk, explicitly named `RANDOM_NAME`. For benchmarks
        that need LPIPS-VGG's cost where the weights are absent; its values mean nothing."""
        obj = cls.__new__(cls)
        torch.nn.Module.__init__(obj)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            obj.net = LpipsVGG()
        obj.net.load_linear()
        obj.backbone_file, obj.name = None, RANDOM_NAME
        obj.warning = "random VGG16 backbone: LPIPS values are meaningless (benchmark only)"
        obj.requires_grad_(False)
        if device is not None:
            obj.to(device)
        return obj

    @property
    def is_lpips(self) -> bool:
        """True when this is LPIPS-VGG with real ImageNet weights."""
        return self.name == LPIPS_NAME

    def train(self, mode: bool = True) -> Perceptual:
        return super().train(False)

    @torch.no_grad()
    def prepare_target(self, y: torch.Tensor) -> PreparedTarget:
        """Precompute what depends on the target alone; pass the result as `y` afterwards."""
        return PreparedTarget(y, None if self.net is None else [f.detach() for f in self.net.features(y)])

    def distance_and_map(
        self, x: torch.Tensor, y: torch.Tensor | PreparedTarget, spatial: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (N, 3, H, W), y (N | 1, 3, H, W) in [-1, 1] or a `PreparedTarget` →
        (distance (N,), error map (N, 1, H, W) or None)."""
        y_features = None
        if isinstance(y, PreparedTarget):
            y, y_features = y.image, y.features
        if x.shape != y.shape:
            if y.shape[0] == 1 and y.shape[1:] == x.shape[1:]:
                y = y.expand_as(x)
                if y_features is not None:
                    y_features = [f.expand(x.shape[0], *f.shape[1:]) for f in y_features]
            else:
                raise ValueError(
                    f"perceptual distance of differently shaped images {tuple(x.shape)} vs {tuple(y.shape)}"
                )
        if self.net is not None:
            return self.net(x, y, spatial=spatial, y_features=y_features)
        # Fallback: per-pixel squared error (mean over channels) + SSIM dissimilarity (1 − SSIM).
        emap = (x - y).pow(2).mean(dim=1, keepdim=True) + (1 - ssim_map(x, y))
        return emap.mean(dim=(1, 2, 3)), (emap if spatial else None)

    def forward(self, x: torch.Tensor, y: torch.Tensor | PreparedTarget) -> torch.Tensor:
        return self.distance_and_map(x, y, spatial=False)[0]

    def distance(self, x: torch.Tensor, y: torch.Tensor | PreparedTarget) -> torch.Tensor:
        """(N,) perceptual distance."""
        return self.distance_and_map(x, y, spatial=False)[0]

    def masked_distance(self, x: torch.Tensor, y: torch.Tensor | PreparedTarget, mask: torch.Tensor) -> torch.Tensor:
        """(N,) perceptual distance over the pixels `mask` (N | 1, 1, H, W) weights in [0, 1]:
        the mean of the spatial map e (eq. 3.1) there, so pixels outside count for nothing."""
        emap = self.error_map(x, y)
        m = mask.to(emap.dtype).expand_as(emap)
        return (emap * m).sum(dim=(1, 2, 3)) / m.sum(dim=(1, 2, 3)).clamp_min(1e-8)

    def error_map(self, x: torch.Tensor, y: torch.Tensor | PreparedTarget) -> torch.Tensor:
        """(N, 1, H, W) spatial error map e (eq. 3.1)."""
        emap = self.distance_and_map(x, y, spatial=True)[1]
        assert emap is not None
        return emap

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


_default: dict[tuple[str, str], Perceptual] = {}


def default_perceptual(device: str | torch.device = "cpu") -> Perceptual:
    """A shared `Perceptual` per (device, hub dir), built on first use."""
    key = (str(torch.device(device)), str(hub_backbone_path()))
    if key not in _default:
        _default[key] = Perceptual(device=device)
    return _default[key]
