"""The invertibility predictor S of the paper (§3.1, eq. 3.2).

S maps an image x to one map per latent space l ∈ Φ = {W+, F4, F6, F8, F10}; map l predicts the
LPIPS spatial error e_l = L_LPIPS(x, x̂_l) (eq. 3.1) of inverting x into space l.  As in the paper
the network has one shared backbone and one small prediction head per space.  Two networks:

* :class:`TinyInvertibilityNet` — our own small, fast CNN (≈160 k parameters, ~15–20 ms at 128×128 on one CPU core) for the
  demo bundle;
* :class:`OfficialSAMPredictor` — the architecture of the official SAM release
  (``invertibility_cars_sg2.pt`` …): a DeepLabV3+ (ResNet-101, output stride 16, 8 output
  channels) base plus one ``ConvTranspose``/BN/LeakyReLU/``ConvTranspose``/ReLU head per space.
  Its module names match the official checkpoint, which is ``{"sd_base": <DeepLab state dict>,
  "W+": <head state dict>, "F4": …, "F10": …}``.

Both take images normalised to [-1, 1] (``(x/255 − 0.5)/0.5``, as the official code) and return
``(N, 5, H, W)`` with channels in ``LayerSpace`` order (W+, F4, F6, F8, F10). The tiny network can
also be built for another generator family's spaces Φ (BigGAN-deep: Z+, F2; `invertibility.family`):
one head per name in ``spaces``, the names saved with the weights and checked on load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck

from sam_editor.gan.layers import LayerSpace

from ..util import atomic_write, safe_torch_load

__all__ = [
    "SPACES",
    "InvertibilityPredictor",
    "TinyInvertibilityNet",
    "OfficialSAMPredictor",
    "DeepLabV3PlusBase",
    "preprocess",
    "predict",
    "save_predictor",
    "load_predictor",
    "load_official_predictor",
]

SPACES: tuple[LayerSpace, ...] = tuple(LayerSpace)
SPACE_NAMES: tuple[str, ...] = tuple(s.value for s in SPACES)  # StyleGAN2's Φ, the default heads
TINY_FORMAT = "sam_editor.invertibility/tiny-v1"


class InvertibilityPredictor(nn.Module):
    """Common interface: ``forward(x ∈ [-1,1], (N,3,h,w)) -> (N, len(SPACES), h, w)`` of e_l ≥ 0.

    ``input_size`` (H, W) is the resolution :func:`predict` resizes images to (``None`` = keep the
    image's own resolution).
    """

    input_size: tuple[int, int] | None = None
    spaces: tuple[LayerSpace, ...] = SPACES
    space_names: tuple[str, ...] = SPACE_NAMES  # one output channel per name, in this order


# --------------------------------------------------------------------------------- tiny network


def _cbr(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TinyInvertibilityNet(InvertibilityPredictor):
    """Small encoder–decoder with a shared backbone and one head per latent space (eq. 3.2).

    Backbone: stride-2 convs to 1/8 resolution, two dilated convs plus an image-level pooling
    branch for context, and a 1/4-resolution decoder with a skip connection.  Each head is
    conv3×3 → ReLU → conv1×1 → softplus (errors are non-negative), upsampled to the input size.
    ``spaces`` names the heads (default StyleGAN2's W+, F4 … F10; BigGAN-deep's Z+, F2).
    """

    def __init__(
        self, width: int = 16, input_size: Sequence[int] | None = (128, 128), spaces: Sequence[str] = SPACE_NAMES
    ) -> None:
        super().__init__()
        if not spaces or len(set(spaces)) != len(spaces):
            raise ValueError(f"a predictor needs one head per distinct space, got {list(spaces)}")
        self.space_names = tuple(str(s) for s in spaces)
        w = int(width)
        self.width = w
        self.input_size = None if input_size is None else (int(input_size[0]), int(input_size[1]))
        self.stem = _cbr(3, w, stride=2)
        self.down2 = nn.Sequential(_cbr(w, 2 * w, stride=2), _cbr(2 * w, 2 * w))
        self.down3 = nn.Sequential(
            _cbr(2 * w, 4 * w, stride=2), _cbr(4 * w, 4 * w, dilation=2), _cbr(4 * w, 4 * w, dilation=4)
        )
        self.context = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(4 * w, 4 * w, 1), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(_cbr(6 * w, 2 * w), _cbr(2 * w, 2 * w))
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Conv2d(2 * w, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 1, 1))
            for _ in self.space_names
        )

    def config(self) -> dict[str, Any]:
        return {"width": self.width, "input_size": None if self.input_size is None else list(self.input_size)}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Shared backbone features at 1/4 resolution."""
        s4 = self.down2(self.stem(x))
        s8 = self.down3(s4)
        s8 = s8 + self.context(s8)
        up = F.interpolate(s8, size=s4.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([up, s4], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        out = torch.cat([head(f) for head in self.heads], 1)
        out = F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return F.softplus(out)


# ----------------------------------------------------------------------- official architecture


class _ResNet101OS16(nn.Module):
    """ResNet-101 trunk, output stride 16, multi-grid (1, 2, 4)×2 dilations in layer4.

    Module names (conv1, bn1, layer1…layer4 of torchvision ``Bottleneck`` blocks) equal the keys
    under ``backbone.`` in the official checkpoint; returns (layer4 features, layer1 features).
    """

    def __init__(self, blocks: Sequence[int] = (3, 4, 23)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self._inplanes = 64
        self.layer1 = self._layer(64, [1] * blocks[0], stride=1)
        self.layer2 = self._layer(128, [1] * blocks[1], stride=2)
        self.layer3 = self._layer(256, [1] * blocks[2], stride=2)
        self.layer4 = self._layer(512, [2, 4, 8], stride=1)

    def _layer(self, planes: int, dilations: Sequence[int], stride: int) -> nn.Sequential:
        out = planes * Bottleneck.expansion
        downsample = None
        if stride != 1 or self._inplanes != out:
            downsample = nn.Sequential(nn.Conv2d(self._inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))
        layers = [Bottleneck(self._inplanes, planes, stride, downsample, dilation=dilations[0])]
        self._inplanes = out
        layers += [Bottleneck(out, planes, dilation=d) for d in dilations[1:]]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        low = self.layer1(x)
        return self.layer4(self.layer3(self.layer2(low))), low


class _ASPPBranch(nn.Module):
    def __init__(self, cin: int, kernel: int, dilation: int) -> None:
        super().__init__()
        pad = 0 if kernel == 1 else dilation
        self.atrous_conv = nn.Conv2d(cin, 256, kernel, padding=pad, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.atrous_conv(x)))


class _ASPP(nn.Module):
    """Atrous spatial pyramid pooling, dilations 1/6/12/18 (output stride 16) + image pooling."""

    def __init__(self, cin: int = 2048) -> None:
        super().__init__()
        self.aspp1 = _ASPPBranch(cin, 1, 1)
        self.aspp2 = _ASPPBranch(cin, 3, 6)
        self.aspp3 = _ASPPBranch(cin, 3, 12)
        self.aspp4 = _ASPPBranch(cin, 3, 18)
        self.global_avg_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, 256, 1, bias=False), nn.BatchNorm2d(256), nn.ReLU()
        )
        self.conv1 = nn.Conv2d(1280, 256, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(256)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.interpolate(self.global_avg_pool(x), size=x.shape[-2:], mode="bilinear", align_corners=True)
        y = torch.cat([self.aspp1(x), self.aspp2(x), self.aspp3(x), self.aspp4(x), pooled], 1)
        return self.dropout(F.relu(self.bn1(self.conv1(y))))


class _Decoder(nn.Module):
    """DeepLabV3+ decoder: 48-channel low-level projection, two 3×3 convs, 1×1 classifier."""

    def __init__(self, num_outputs: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(256, 48, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(48)
        self.last_conv = nn.Sequential(
            nn.Conv2d(304, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(256, num_outputs, 1),
        )

    def forward(self, x: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        low = F.relu(self.bn1(self.conv1(low)))
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=True)
        return self.last_conv(torch.cat([x, low], 1))


class DeepLabV3PlusBase(nn.Module):
    """Shared backbone of the official predictor: DeepLabV3+ with 8 output channels, output
    upsampled (bilinear, align_corners) to the input size.  Keys match ``sd_base``."""

    def __init__(self, num_outputs: int = 8, blocks: Sequence[int] = (3, 4, 23)) -> None:
        super().__init__()
        self.backbone = _ResNet101OS16(blocks)
        self.aspp = _ASPP(2048)
        self.decoder = _Decoder(num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deep, low = self.backbone(x)
        y = self.decoder(self.aspp(deep), low)
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=True)


class OfficialHead(nn.Module):
    """One per-space head of the official predictor (keys ``m.0``, ``m.1``, ``m.3``)."""

    def __init__(self, cin: int = 8) -> None:
        super().__init__()
        self.m = nn.Sequential(
            nn.ConvTranspose2d(cin, 4, 3, 1, 1),
            nn.BatchNorm2d(4),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(4, 1, 1, 1, 0),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.m(x)


class OfficialSAMPredictor(InvertibilityPredictor):
    """DeepLabV3+ base + one :class:`OfficialHead` per space, loadable from official checkpoints.

    ``input_size`` None (the default) runs it at the image's own size, as the official pipeline
    does (256×192 car photos, 256² faces and cats); (H, W) resizes every image to that first.
    """

    def __init__(self, input_size: Sequence[int] | None = None, blocks: Sequence[int] = (3, 4, 23)) -> None:
        super().__init__()
        self.input_size = None if input_size is None else (int(input_size[0]), int(input_size[1]))
        self.base = DeepLabV3PlusBase(8, blocks)
        self.heads = nn.ModuleDict({space.name: OfficialHead(8) for space in SPACES})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shared = self.base(x)
        return torch.cat([self.heads[space.name](shared) for space in SPACES], 1)

    def load_official_state(self, checkpoint: dict[str, Any]) -> None:
        """Load ``{"sd_base": …, "W+": …, "F4": …, …}`` strictly (a ``module.`` prefix is removed)."""
        if "sd_base" not in checkpoint:
            raise KeyError("not an official SAM invertibility checkpoint: no 'sd_base' entry")
        for space in SPACES:
            if space.value not in checkpoint:
                raise KeyError(f"official checkpoint has no head for latent space {space.value!r}")
        assign = any(p.is_meta for p in self.parameters())  # built on the meta device: adopt tensors
        self.base.load_state_dict(_strip_module(checkpoint["sd_base"]), strict=True, assign=assign)
        for space in SPACES:
            self.heads[space.name].load_state_dict(_strip_module(checkpoint[space.value]), strict=True, assign=assign)


def _strip_module(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k.removeprefix("module."): v for k, v in state.items()}


# ------------------------------------------------------------------------------ I/O and inference


def save_predictor(model: TinyInvertibilityNet, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Save a :class:`TinyInvertibilityNet` (config + weights + optional metadata) atomically."""
    if not isinstance(model, TinyInvertibilityNet):
        raise TypeError("only TinyInvertibilityNet is saved in the sam_editor format")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": TINY_FORMAT,
        "config": model.config(),
        "spaces": list(model.space_names),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_official_predictor(
    path: str | Path, device: str | torch.device = "cpu", input_size: Sequence[int] | None = None
) -> OfficialSAMPredictor:
    """Load an official SAM invertibility checkpoint (e.g. ``invertibility_cars_sg2.pt``)."""
    checkpoint = safe_torch_load(Path(path), "predictor")
    return _official_from_checkpoint(checkpoint, input_size).eval().to(device)


def _official_from_checkpoint(checkpoint: dict[str, Any], input_size: Sequence[int] | None) -> OfficialSAMPredictor:
    """Build on the meta device (skips the random init of ~59 M weights) and adopt the tensors."""
    with torch.device("meta"):
        model = OfficialSAMPredictor(input_size=input_size)
    model.load_official_state(checkpoint)
    return model


def load_predictor(
    path: str | Path, device: str | torch.device = "cpu", spaces: Sequence[str] = SPACE_NAMES
) -> InvertibilityPredictor:
    """Load either format: ours (``TINY_FORMAT``) or an official checkpoint (has ``sd_base``).

    ``spaces`` are the names of the latent spaces the caller's generator inverts in (default
    StyleGAN2's Φ); a predictor trained for other spaces is refused with a message naming both."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictor file not found: {path}")
    checkpoint = safe_torch_load(path, "predictor")
    expected = tuple(str(s) for s in spaces)
    if isinstance(checkpoint, dict) and checkpoint.get("format") == TINY_FORMAT:
        trained = checkpoint.get("spaces") or list(SPACE_NAMES)  # files before the field: StyleGAN2's
        if not isinstance(trained, (list, tuple)):
            raise ValueError(f"{path.name}: a damaged SAM Editor predictor (its spaces are a {type(trained).__name__})")
        if tuple(str(s) for s in trained) != expected:
            raise ValueError(f"{path.name} predicts the invertibility of the spaces {', '.join(map(str, trained))}; "
                             f"this generator inverts in {', '.join(expected)} — train a predictor for it")  # fmt: skip
        try:
            cfg = checkpoint["config"]
            size = tuple(int(v) for v in cfg["input_size"])
            model: InvertibilityPredictor = TinyInvertibilityNet(int(cfg["width"]), size, expected)
            model.load_state_dict(checkpoint["state_dict"])
            model.meta = dict(checkpoint.get("meta", {}))  # type: ignore[assignment]
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as exc:
            raise ValueError(f"{path.name}: a damaged SAM Editor predictor ({type(exc).__name__}: {str(exc)[:200]})") from exc
    elif isinstance(checkpoint, dict) and "sd_base" in checkpoint:
        if expected != SPACE_NAMES:
            raise ValueError(f"{path.name} is an official StyleGAN2 predictor (spaces {', '.join(SPACE_NAMES)}); "
                             f"this generator inverts in {', '.join(expected)}")  # fmt: skip
        # The official pipeline runs its predictor on the image as given (`net_S(img_full_t)`),
        # at whatever size that is: 256×192 for its car photos, 256² for faces and cats.
        try:
            model = _official_from_checkpoint(checkpoint, None)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as exc:
            raise ValueError(f"{path.name}: not a usable official SAM predictor ({type(exc).__name__}: {str(exc)[:200]})") from exc
    else:
        raise ValueError(f"{path} is neither a sam_editor predictor nor an official SAM checkpoint")
    return model.eval().to(device)


def preprocess(image: np.ndarray, size: tuple[int, int] | None) -> torch.Tensor:
    """RGB uint8 (H, W, 3) → (1, 3, h, w) float tensor in [-1, 1], resized to ``size`` = (h, w)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.shape} {image.dtype}")
    if size is not None and tuple(image.shape[:2]) != tuple(size):
        h, w = size
        shrink = h * w < image.shape[0] * image.shape[1]
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    return x.div_(127.5).sub_(1.0)


def predict(model: InvertibilityPredictor, image: np.ndarray, out_size: tuple[int, int] | None = None) -> np.ndarray:
    """Predicted per-pixel error maps e_l (eq. 3.2) → float32 (S, H, W), one per
    ``model.space_names`` (StyleGAN2: the 5 LPIPS maps in LayerSpace order).

    The image is resized to ``model.input_size``; the maps are bilinearly resized back to
    ``out_size`` (default: the image's size).
    """
    out_size = tuple(out_size) if out_size is not None else tuple(np.shape(image)[:2])
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    x = preprocess(image, getattr(model, "input_size", None)).to(device)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        y = model(x)[0].float().clamp_min(0).cpu().numpy()
    if was_training:
        model.train()
    if tuple(y.shape[-2:]) != out_size:  # bilinear (half-pixel centres), channels-last for OpenCV
        hwc = cv2.resize(np.ascontiguousarray(y.transpose(1, 2, 0)), out_size[::-1], interpolation=cv2.INTER_LINEAR)
        y = hwc.reshape(out_size[0], out_size[1], -1).transpose(2, 0, 1)
    return np.ascontiguousarray(y, dtype=np.float32)
