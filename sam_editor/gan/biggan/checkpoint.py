"""BigGAN-deep files in the PyTorch port's format: a folder with `config.json` + `pytorch_model.bin`.

`pytorch_model.bin` is a `torch.save`d state dict of the port's module tree. Its convolutions and
linear layers carry spectral norm as three tensors, `<name>.weight_orig`, `<name>.weight_u` and
`<name>.weight_v`; at inference the weight is W_orig / σ with σ = uᵀ W_orig v (torch's spectral
norm in eval mode: the stored u, v, no power iteration), which `fold_spectral_norm` computes once
so our network holds plain weights. Everything else (biases, batch-norm statistics per truncation,
the final batch norm's affine, attention's γ, the class embedding) is copied under the same name.

The file is read with `torch.load(weights_only=True)` (`util.safe_torch_load`): a pickle asking
for anything but tensors is refused, nothing from the file runs. `save_port_format` writes the
same layout from one of our networks (σ = 1 by the choice of v), which is how the tests and the
demo ship tiny generators in the published format.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ...util import UnreadableFile, atomic_write, safe_torch_load
from .config import BigGANConfigError, BigGANDeepConfig
from .model import BigGANDeep

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "pytorch_model.bin"
SN_PARTS = ("_orig", "_u", "_v")


class BigGANCheckpointError(RuntimeError):
    """A BigGAN-deep folder or file that cannot be used; the message says what is wrong."""


def find_files(path: str | Path) -> tuple[Path, Path]:
    """A folder holding config.json + pytorch_model.bin, or the .bin with its config.json beside it
    (also the port's download names `<model>-pytorch_model.bin` / `<model>-config.json`)."""
    p = Path(path)
    if not p.exists():
        raise BigGANCheckpointError(f"“{p.name}”: no such file or folder (BigGAN-deep is a folder with {CONFIG_NAME} and {WEIGHTS_NAME})")
    if p.is_dir():
        config, weights = p / CONFIG_NAME, p / WEIGHTS_NAME
    else:
        weights = p
        stem = p.name[: -len(WEIGHTS_NAME)] if p.name.endswith(WEIGHTS_NAME) else ""
        config = p.with_name(stem + CONFIG_NAME)
        if not config.is_file():
            config = p.with_name(CONFIG_NAME)
    if not weights.is_file():
        raise BigGANCheckpointError(f"“{weights.name}” not found in {weights.parent} (BigGAN-deep needs {WEIGHTS_NAME})")
    if not config.is_file():
        raise BigGANCheckpointError(f"no {CONFIG_NAME} next to “{weights.name}” (the port ships the two files together)")
    return config, weights


def fold_spectral_norm(w_orig: torch.Tensor, u: torch.Tensor, v: torch.Tensor, name: str) -> torch.Tensor:
    """W = W_orig / (uᵀ W_orig v), W_orig flattened to (out, rest) as torch's spectral norm does."""
    mat = w_orig.reshape(w_orig.shape[0], -1)
    if u.shape != (mat.shape[0],) or v.shape != (mat.shape[1],):
        raise BigGANCheckpointError(
            f"{name}: spectral-norm vectors u {tuple(u.shape)}, v {tuple(v.shape)} do not fit the weight {tuple(w_orig.shape)}"
        )
    sigma = torch.dot(u.double(), mat.double() @ v.double())
    if not torch.isfinite(sigma) or float(sigma.abs()) < 1e-12:
        raise BigGANCheckpointError(f"{name}: spectral norm σ = {float(sigma):g}, the weight cannot be normalised")
    return (w_orig.double() / sigma).float()


def convert_state_dict(state: dict, cfg: BigGANDeepConfig) -> dict[str, torch.Tensor]:
    """The port's state dict → ours (same names, spectral norms folded); clear errors for missing
    or misshapen entries. Entries we do not use are ignored, as the port itself loads non-strictly."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BigGANCheckpointError(f"{WEIGHTS_NAME} does not hold a state dict (a mapping of names to tensors)")
    expected = BigGANDeep(cfg).state_dict()
    out: dict[str, torch.Tensor] = {}
    missing: list[str] = []
    for key, ref in expected.items():
        if key in state:
            value = state[key].float()
        elif key.endswith(".weight") and all(key + s in state for s in SN_PARTS):
            value = fold_spectral_norm(*(state[key + s].float() for s in SN_PARTS), name=key)
        else:
            missing.append(key)
            continue
        if value.shape != ref.shape:
            raise BigGANCheckpointError(
                f"{key} is {tuple(value.shape)} in the file but {tuple(ref.shape)} for this config.json — "
                "the two files do not belong together"
            )
        if not bool(torch.isfinite(value).all()):
            raise BigGANCheckpointError(f"{key} holds NaN or infinite values; the file is damaged")
        out[key] = value
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise BigGANCheckpointError(
            f"{WEIGHTS_NAME} lacks {', '.join(missing[:3])}{more} — not a BigGAN-deep of this config.json"
        )
    return out


def load_biggan(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[BigGANDeep, dict]:
    """A port-format folder (or its .bin) → (BigGANDeep in eval mode, meta)."""
    config_path, weights_path = find_files(path)
    try:
        cfg = BigGANDeepConfig.from_json_file(config_path)
    except BigGANConfigError as exc:
        raise BigGANCheckpointError(str(exc)) from exc
    try:
        state = safe_torch_load(weights_path, what="BigGAN-deep weights file")
    except UnreadableFile as exc:
        raise BigGANCheckpointError(str(exc)) from exc
    sd = convert_state_dict(state, cfg)  # type: ignore[arg-type]
    net = BigGANDeep(cfg)
    net.load_state_dict(sd)
    net.eval().requires_grad_(False)
    meta = {"source_format": "pytorch-pretrained-biggan", "path": str(weights_path), "config": cfg.to_dict()}
    return net.to(map_location), meta


def save_port_format(net: BigGANDeep, folder: str | Path) -> Path:
    """Write `net` as config.json + pytorch_model.bin in the port's layout (atomic writes).

    Spectral-normed weights are stored as W_orig = W, u a unit vector and v = W_origᵀu / ‖W_origᵀu‖²,
    so σ = uᵀ W_orig v = 1 and the file loads back to exactly W (in the port too)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ours = net.state_dict()
    spectral = _spectral_normed_names(net)
    state: dict[str, torch.Tensor] = {}
    gen = torch.Generator().manual_seed(0)
    for key, value in ours.items():
        value = value.detach().cpu().float().contiguous()
        if key in spectral:
            mat = value.reshape(value.shape[0], -1)
            u = torch.randn(mat.shape[0], generator=gen)
            u = u / u.norm()
            wtu = mat.T @ u
            state[key + "_orig"] = value
            state[key + "_u"] = u
            state[key + "_v"] = wtu / wtu.pow(2).sum().clamp_min(1e-30)
        else:
            state[key] = value
    atomic_write(folder / CONFIG_NAME, json.dumps(net.cfg.to_dict(), indent=2))
    atomic_write(folder / WEIGHTS_NAME, lambda tmp: torch.save(state, tmp))
    return folder


def _spectral_normed_names(net: BigGANDeep) -> set[str]:
    """Every conv/linear weight of the trunk is spectral-normed in the port; the class embedding
    (`embeddings.weight`) and the final batch norm's affine are not."""
    names = set()
    for mod_name, mod in net.generator.named_modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            names.add(f"generator.{mod_name}.weight")
    return names


# ---- generator specs on the command line and in the window ---------------------------------------
REGISTERED = ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")


def is_biggan_spec(spec: str | Path | None) -> bool:
    """A registry name (biggan-deep-256), a folder holding config.json + pytorch_model.bin, or a
    `…pytorch_model.bin` file: the generator spec names a BigGAN-deep."""
    if spec is None:
        return False
    if str(spec) in REGISTERED:
        return True
    p = Path(spec)
    return (p.is_dir() and (p / WEIGHTS_NAME).is_file()) or p.name.endswith(WEIGHTS_NAME)


def resolve_biggan(spec: str | Path) -> Path:
    """The folder (or .bin) of a spec; a registry name must have both of its files downloaded, else
    a `WeightsError` says how to fetch them."""
    from ...weights import require

    if str(spec) not in REGISTERED:
        return Path(spec)
    weights = require(str(spec))
    config = require(f"{spec}-config")
    if config.parent != weights.parent:
        raise BigGANCheckpointError(f"{spec}: config.json ({config.parent}) and pytorch_model.bin ({weights.parent}) must share a folder")
    return weights.parent
