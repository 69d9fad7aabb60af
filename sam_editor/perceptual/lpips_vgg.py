"""LPIPS-VGG (Zhang et al. 2018) assembled offline from the `lpips` package's parts.

`lpips.LPIPS(net='vgg')` would fetch the ImageNet VGG16 through torchvision (a download), and
even with `pnet_rand=True` it builds the whole VGG16 classifier (~3.5 s of random init) only to
throw it away. We build the same network from the same pieces instead:

* the VGG16 `features` trunk up to relu5_3 (torchvision's layer list), loaded from the
  torchvision checkpoint file in the torch hub cache — read with `weights_only=True`, never
  downloaded;
* `lpips.ScalingLayer`, `lpips.NetLinLayer` and `lpips.normalize_tensor` from the package;
* the calibrated linear weights `lpips/weights/v0.1/vgg.pth` that ship with the package.

`tests/perceptual` checks that distances equal `lpips.LPIPS(net='vgg', pnet_rand=True)` with the
same backbone weights copied in.
"""

from __future__ import annotations

import os
from pathlib import Path

import lpips
import torch
import torch.nn.functional as F
from torchvision.models import vgg as tv_vgg

VGG16_FILE = "vgg16-397923af.pth"  # torchvision's file name for the ImageNet VGG16 weights
CHANNELS = (64, 128, 256, 512, 512)
# Indices into VGG16 `features` after which LPIPS taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
TAPS = (3, 8, 15, 22, 29)


def hub_backbone_path(hub_dir: str | os.PathLike | None = None) -> Path:
    """`<torch.hub.get_dir()>/checkpoints/vgg16-397923af.pth` (or under `hub_dir`)."""
    root = Path(hub_dir) if hub_dir is not None else Path(torch.hub.get_dir())
    return root / "checkpoints" / VGG16_FILE


def linear_weights_path() -> Path:
    """The LPIPS v0.1 VGG linear-layer weights shipped inside the `lpips` package."""
    return Path(lpips.__file__).resolve().parent / "weights" / "v0.1" / "vgg.pth"


class LpipsVGG(torch.nn.Module):
    """LPIPS v0.1 with a VGG16 trunk. Inputs are images in [-1, 1], shape (N, 3, H, W)."""

    def __init__(self) -> None:
        super().__init__()
        self.scaling_layer = lpips.ScalingLayer()
        self.trunk = tv_vgg.make_layers(tv_vgg.cfgs["D"])[: TAPS[-1] + 1]  # VGG16 `features` to relu5_3
        # use_dropout=True only so the state-dict keys match the shipped file ('linK.model.1.weight');
        # the module is kept in eval mode, where dropout is the identity.
        self.lins = torch.nn.ModuleList([lpips.NetLinLayer(c, use_dropout=True) for c in CHANNELS])
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> LpipsVGG:  # a fixed metric: never in training mode
        return super().train(False)

    def load_backbone(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load torchvision-layout VGG16 weights (`features.K.weight`/`.bias`; classifier keys ignored)."""
        own = self.trunk.state_dict()
        missing = [k for k in own if f"features.{k}" not in state_dict]
        if missing:
            raise ValueError(f"VGG16 weights lack {len(missing)} trunk tensors, e.g. features.{missing[0]}")
        loaded = {}
        for k, v in own.items():
            src = state_dict[f"features.{k}"]
            if tuple(src.shape) != tuple(v.shape):
                raise ValueError(f"VGG16 tensor features.{k} has shape {tuple(src.shape)}, expected {tuple(v.shape)}")
            loaded[k] = src
        self.trunk.load_state_dict(loaded, strict=True)

    def load_linear(self, path: str | os.PathLike | None = None) -> None:
        sd = torch.load(path or linear_weights_path(), map_location="cpu", weights_only=True)
        self.lins.load_state_dict({k.replace("lin", "", 1): v for k, v in sd.items()}, strict=True)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised trunk features at the five taps for x (N, 3, H, W) in [-1, 1]."""
        h = self.scaling_layer(x)
        out: list[torch.Tensor] = []
        for k, layer in enumerate(self.trunk):
            h = layer(h)
            if k == TAPS[len(out)]:
                out.append(lpips.normalize_tensor(h))
                if len(out) == len(TAPS):
                    break
        return out

    def layer_distances(
        self, x: torch.Tensor, y: torch.Tensor, y_features: list[torch.Tensor] | None = None
    ) -> list[torch.Tensor]:
        """Per-layer LPIPS maps d_l (N, 1, h_l, w_l) for x, y (N, 3, H, W) in [-1, 1].
        `y_features` (= `features(y)`) skips the trunk pass over a fixed target."""
        if y_features is None:
            n = x.shape[0]
            both = self.features(torch.cat([x, y], dim=0))
            fx, fy = [f[:n] for f in both], [f[n:] for f in both]
        else:
            fx, fy = self.features(x), y_features
        return [lin((a - b) ** 2) for lin, a, b in zip(self.lins, fx, fy, strict=True)]

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, spatial: bool = False, y_features: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """→ (distance (N,), error map (N, 1, H, W) or None).

        The distance is lpips' non-spatial value Σ_l mean(d_l); the map is lpips' spatial value
        Σ_l upsample(d_l) (bilinear, align_corners=False) — the e_l of eq. 3.1.
        """
        layers = self.layer_distances(x, y, y_features)
        dist = sum(d.mean(dim=(1, 2, 3)) for d in layers)
        emap = None
        if spatial:
            size = x.shape[-2:]
            emap = sum(F.interpolate(d, size=size, mode="bilinear", align_corners=False) for d in layers)
        return dist, emap


def build_lpips_vgg(backbone_file: str | os.PathLike) -> LpipsVGG:
    """LPIPS-VGG with the VGG16 trunk read from `backbone_file` (torchvision layout)."""
    net = LpipsVGG()
    sd = torch.load(backbone_file, map_location="cpu", weights_only=True)
    if not isinstance(sd, dict):
        raise ValueError(f"{backbone_file}: not a state dict")
    net.load_backbone(sd)
    net.load_linear()
    return net
