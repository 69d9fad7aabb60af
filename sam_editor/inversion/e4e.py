"""Official e4e / pSp encoder checkpoints: the W+ start point the official SAM code uses.

The SAM authors publish `e4e_{cars,ffhq,lsuncats}_encode.pt` (weights registry `e4e-*`). Each is a
pSp-framework checkpoint, a `torch.save` dict:

    {"state_dict": {"encoder.…": …, "decoder.…": …}, "latent_avg": (S, 512) or (512,), "opts": {…}}

`opts["encoder_type"]` is "Encoder4Editing" (e4e) or "GradualStyleEncoder" (pSp); the encoder is an
IR-SE-50 backbone (`input_layer`, 24 `body` units in four stages) feeding a feature pyramid
(`latlayer1`, `latlayer2`) and one `styles.i` map2style block per w+ row. e4e predicts one w from
the coarsest level and adds a per-row offset to each further row; pSp predicts every row. With
`opts["start_from_latent_avg"]` the w+ is offset from `latent_avg` (the generator's mean w).
The decoder (a rosinality StyleGAN2) is not needed: the app renders with its own generator.

The architecture is read from the state dict's shapes (units, widths, strides at each stage's
first unit, convolutions per style block), so smaller models of the same layout load the same
way — that is how the tests exercise this loader without the 1.1 GB official files. The input
is the generator's image resized by 256 / stylegan_size (cars: 384×512 → 192×256, as SAM feeds it).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..util import UnreadableFile, safe_torch_load

KINDS = {"Encoder4Editing": "e4e", "GradualStyleEncoder": "psp"}
COARSE_ROWS, MIDDLE_ROWS = 3, 7  # pSp's split of the w+ rows over the pyramid levels (rows < 3, < 7, rest)


class E4EFormatError(ValueError):
    """The file is not an e4e / pSp checkpoint this loader understands (the message says why)."""


class _SqueezeExcite(nn.Module):
    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class _IRUnit(nn.Module):
    """One improved-residual unit: BN → conv3 → PReLU → conv3 (stride) → BN (→ SE), plus a shortcut."""

    def __init__(self, c_in: int, depth: int, stride: int, se_hidden: int | None) -> None:
        super().__init__()
        if c_in == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(c_in, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        layers: list[nn.Module] = [
            nn.BatchNorm2d(c_in),
            nn.Conv2d(c_in, depth, 3, 1, 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False),
            nn.BatchNorm2d(depth),
        ]
        if se_hidden is not None:
            layers.append(_SqueezeExcite(depth, se_hidden))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class _EqualLinear(nn.Module):
    """A linear layer with the equalised-lr scale 1/√fan_in applied at run time (lr_mul 1)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(c_out, c_in))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = 1.0 / math.sqrt(c_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class _Map2Style(nn.Module):
    """Stride-2 conv + LeakyReLU(0.01) repeated down to 1×1, then an equalised linear layer."""

    def __init__(self, c_in: int, c_out: int, n_convs: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for k in range(n_convs):
            layers += [nn.Conv2d(c_in if k == 0 else c_out, c_out, 3, 2, 1), nn.LeakyReLU(0.01)]
        self.convs = nn.Sequential(*layers)
        self.linear = _EqualLinear(c_out, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x)
        if x.shape[-2:] != (1, 1):
            raise ValueError(f"map2style block left a {tuple(x.shape[-2:])} map (input size not the encoder's)")
        return self.linear(x.flatten(1))


def _upsample_add(x: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=lateral.shape[-2:], mode="bilinear", align_corners=True) + lateral


class E4EEncoder(nn.Module):
    """An e4e (or pSp) encoder: image (N, 3, h, w) in [-1, 1] at `input_size` → w+ (N, S, w_dim)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        self.kind = spec["kind"]
        c0 = spec["stem"]
        self.input_layer = nn.Sequential(nn.Conv2d(3, c0, 3, 1, 1, bias=False), nn.BatchNorm2d(c0), nn.PReLU(c0))
        self.body = nn.Sequential(*[_IRUnit(*u) for u in spec["units"]])
        self.taps = spec["taps"]  # body indices ending stages 2, 3, 4 (c1, c2, c3)
        c1, c2, c3 = (spec["units"][i][1] for i in self.taps)
        self.styles = nn.ModuleList([_Map2Style(c3, spec["w_dim"], n) for n in spec["style_convs"]])
        self.latlayer1 = nn.Conv2d(c2, c3, 1)
        self.latlayer2 = nn.Conv2d(c1, c3, 1)
        self.register_buffer("latent_avg", torch.zeros(len(spec["style_convs"]), spec["w_dim"]))
        self.start_from_latent_avg = bool(spec.get("start_from_latent_avg", True))
        self.input_size: tuple[int, int] = tuple(spec["input_size"])  # type: ignore[assignment]
        self.metadata: dict[str, Any] = {}

    @property
    def num_ws(self) -> int:
        return len(self.styles)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The network's own output (before `latent_avg`)."""
        x = self.input_layer(x)
        feats = {}
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in self.taps:
                feats[i] = x
        c1, c2, c3 = (feats[i] for i in self.taps)
        p2 = _upsample_add(c3, self.latlayer1(c2))
        p1 = _upsample_add(p2, self.latlayer2(c1))
        level = lambda row: c3 if row < COARSE_ROWS else p2 if row < MIDDLE_ROWS else p1  # noqa: E731
        if self.kind == "psp":
            return torch.stack([style(level(i)) for i, style in enumerate(self.styles)], dim=1)
        w = self.styles[0](c3)[:, None].repeat(1, self.num_ws, 1)
        offsets = [torch.zeros_like(w[:, 0])] + [self.styles[i](level(i)) for i in range(1, self.num_ws)]
        return w + torch.stack(offsets, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        codes = self.codes(x)
        return codes + self.latent_avg[None] if self.start_from_latent_avg else codes

    def w_plus(self, images: torch.Tensor) -> torch.Tensor:
        """w+ for generator-sized images (N, 3, H_out, W_out) in [-1, 1] (resized to `input_size`)."""
        dev = self.latent_avg.device
        x = images.to(dev, torch.float32)
        if tuple(x.shape[-2:]) != self.input_size:
            shrink = x.shape[-2] > self.input_size[0]
            x = F.interpolate(x, size=self.input_size, mode="area" if shrink else "bilinear",
                              **({} if shrink else {"align_corners": False}))  # fmt: skip
        with torch.no_grad():
            return self(x)


# ---- reading the official layout ------------------------------------------------------------
def _spec_from_state(sd: dict[str, torch.Tensor], opts: dict[str, Any]) -> dict[str, Any]:
    def need(key: str) -> torch.Tensor:
        if key not in sd:
            raise E4EFormatError(f"the encoder has no {key!r}")
        return sd[key]

    kind = KINDS.get(str(opts.get("encoder_type")))
    if kind is None:
        raise E4EFormatError(
            f"opts['encoder_type'] is {opts.get('encoder_type')!r}; expected one of {', '.join(KINDS)}"
        )
    n_units = 1 + max((int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.", k))), default=-1)
    if n_units == 0:
        raise E4EFormatError("the encoder has no body units")
    units, prev_depth, starts = [], None, []
    for i in range(n_units):
        c_in = int(need(f"body.{i}.res_layer.0.weight").shape[0])
        depth = int(need(f"body.{i}.res_layer.1.weight").shape[0])
        se = sd.get(f"body.{i}.res_layer.5.fc1.weight")
        first = depth != prev_depth
        if first:
            starts.append(i)
        units.append((c_in, depth, 2 if first else 1, None if se is None else int(se.shape[0])))
        prev_depth = depth
    if len(starts) != 4:
        raise E4EFormatError(
            f"the backbone has {len(starts)} stages (widths {sorted({u[1] for u in units})}); e4e/pSp have 4"
        )
    taps = [starts[2] - 1, starts[3] - 1, n_units - 1]
    n_styles = 1 + max((int(m.group(1)) for k in sd if (m := re.match(r"styles\.(\d+)\.", k))), default=-1)
    style_convs = []
    for i in range(n_styles):
        convs = [k for k in sd if re.fullmatch(rf"styles\.{i}\.convs\.\d+\.weight", k)]
        style_convs.append(len(convs))
    w_dim = int(need("styles.0.linear.weight").shape[0])
    size = int(opts.get("stylegan_size", 1024))
    expected_rows = 2 * int(math.log2(size)) - 2
    if n_styles != expected_rows:
        raise E4EFormatError(f"{n_styles} style blocks, but a {size} px StyleGAN2 has {expected_rows} w+ rows")
    return {
        "kind": kind,
        "stem": int(need("input_layer.0.weight").shape[0]),
        "units": units,
        "taps": taps,
        "style_convs": style_convs,
        "w_dim": w_dim,
        "stylegan_size": size,
        "start_from_latent_avg": bool(opts.get("start_from_latent_avg", True)),
        "input_size": (0, 0),  # set from the generator
    }


def is_e4e_checkpoint(blob: Any) -> bool:
    return isinstance(blob, dict) and "state_dict" in blob and "opts" in blob and "format" not in blob


def e4e_from_checkpoint(blob: dict, output_size: tuple[int, int] | None = None, name: str = "checkpoint") -> E4EEncoder:
    """Build the encoder of a loaded pSp-framework dict. `output_size`: the generator's image
    (H_out, W_out), from which the encoder's input size follows (× 256 / stylegan_size).
    Anything in the dict that is not what the layout needs is an E4EFormatError."""
    if not isinstance(blob.get("state_dict"), dict) or not isinstance(blob.get("opts"), dict):
        raise E4EFormatError(f"{name}: its 'state_dict' and 'opts' are not the tables a pSp-framework checkpoint holds")
    try:
        return _e4e_from_checkpoint(blob, output_size, name)
    except E4EFormatError:
        raise
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, RuntimeError) as exc:
        raise E4EFormatError(f"{name}: not a usable e4e/pSp checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from exc


def _e4e_from_checkpoint(blob: dict, output_size: tuple[int, int] | None, name: str) -> E4EEncoder:
    opts = blob.get("opts")
    if not isinstance(opts, dict):
        raise E4EFormatError(f"{name}: 'opts' is not a dict")
    state = blob["state_dict"]
    enc_sd = {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
    if not enc_sd:
        raise E4EFormatError(f"{name}: the state dict has no 'encoder.*' weights")
    spec = _spec_from_state(enc_sd, opts)
    size = spec["stylegan_size"]
    out = output_size or (size, size)
    spec["input_size"] = (max(1, out[0] * 256 // size), max(1, out[1] * 256 // size)) if size > 256 else tuple(out)
    model = E4EEncoder(spec)
    avg = blob.get("latent_avg")
    if avg is None:
        if spec["start_from_latent_avg"]:
            raise E4EFormatError(f"{name}: start_from_latent_avg is set but the checkpoint has no 'latent_avg'")
        avg = torch.zeros(spec["w_dim"])
    avg = torch.as_tensor(avg, dtype=torch.float32)
    avg = avg.reshape(-1, spec["w_dim"])[:1].expand(model.num_ws, -1) if avg.numel() == spec["w_dim"] else avg
    if tuple(avg.shape) != (model.num_ws, spec["w_dim"]):
        raise E4EFormatError(f"{name}: latent_avg is {tuple(avg.shape)}, expected ({model.num_ws}, {spec['w_dim']})")
    enc_sd = {k: v.float() if v.is_floating_point() else v for k, v in enc_sd.items()}
    enc_sd["latent_avg"] = avg.contiguous()
    missing, unexpected = model.load_state_dict(enc_sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise E4EFormatError(
            f"{name}: weights do not fit the layout (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    model.metadata = {
        "format": "pSp/" + spec["kind"],
        "opts": {k: opts[k] for k in ("encoder_type", "stylegan_size", "dataset_type") if k in opts},
    }
    return model.eval()


def load_e4e(
    path: str | os.PathLike, device: torch.device | str = "cpu", output_size: tuple[int, int] | None = None
) -> E4EEncoder:
    """Read an official e4e / pSp checkpoint (tensors and plain options only: no code is unpickled)."""
    path = Path(path)
    try:
        blob = safe_torch_load(path, "e4e/pSp checkpoint")
    except UnreadableFile as exc:
        raise E4EFormatError(str(exc)) from exc
    if not is_e4e_checkpoint(blob):
        raise E4EFormatError(f"{path.name} is not a pSp-framework checkpoint (no 'state_dict' + 'opts')")
    return e4e_from_checkpoint(blob, output_size, path.name).to(device)
