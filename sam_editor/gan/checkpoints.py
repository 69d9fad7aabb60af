"""Load StyleGAN2 generators from the formats the official SAM code and its ecosystem ship.

1. Official TensorFlow-era pickles (`stylegan2-car-config-f.pkl`, …): a tuple (G, D, Gs) of
   `dnnlib.tflib.network.Network` states; Gs's variables are converted with the mapping of
   NVIDIA's stylegan2-ada-pytorch `legacy.convert_tf_generator` (transposes, the Conv0_up
   kernel flip, `mod_bias + 1`, noise inputs `noise{2·log2(r)−5}` / `noise{2·log2(r)−4}`).
2. stylegan2-ada-pytorch / stylegan3 pickles (dict with `G_ema`, persistent objects): only the
   recorded module tree is read; `init_kwargs` give the config.
3. rosinality `.pt` checkpoints (`g_ema` + `latent_avg`): rosinality stores weights exactly like
   NVIDIA's (its 1/sqrt(fan_in) scales are applied at run time, the same as ours), so only the
   names and a few shapes change.
4. Our native format (`native.py`).

Pickles are read with `safe_pickle.RestrictedUnpickler`, so no code from a file ever runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import math
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..util import UNSAFE_FILE, UnreadableFile, safe_torch_load
from . import native
from .native import CheckpointError
from .networks import Generator, GeneratorConfig
from .safe_pickle import PersistentObject, TFNetworkStub, UnsafePickleError, restricted_load

EXPECTED = (
    "a StyleGAN2 generator: an official TensorFlow .pkl, a stylegan2-ada-pytorch/stylegan3 .pkl, "
    "a rosinality .pt or a SAM Editor generator .pt"
)

# Official files whose images are a crop of the square synthesis frame. LSUN Car config-f
# renders 512×512 with the car in the middle 384 rows; the SAM code crops `img[:, :, 64:-64, :]`
# (sam_inv_optimization.py), i.e. (top, left, height, width) = (64, 0, 384, 512).
KNOWN_CROPS: dict[str, tuple[int, int, int, int]] = {
    "stylegan2-car-config-f": (64, 0, 384, 512),
}

_TORCH_LEGACY_HEAD = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # torch.save's old magic number


@dataclasses.dataclass
class Converted:
    """A checkpoint turned into our config + state dict (tensors on CPU, float32)."""

    cfg: GeneratorConfig
    state_dict: dict[str, torch.Tensor]
    meta: dict


# ---- sniffing ---------------------------------------------------------------------------------
def sniff_format(path: str | Path) -> str:
    """'native' | 'torch' (zip or legacy torch.save) | 'pickle'; CheckpointError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found (expected {EXPECTED})")
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise CheckpointError(f"{path}: empty file (expected {EXPECTED})")
    if head.startswith(b"PK\x03\x04"):
        return "native" if _zip_is_native(path) else "torch"
    if head.startswith(_TORCH_LEGACY_HEAD):
        return "torch"
    if head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    raise CheckpointError(f"{path}: not a pickle or PyTorch file (expected {EXPECTED})")


def _zip_is_native(path: Path) -> bool:
    """Peek at the small pickled index inside a torch zip file (tensors live outside it)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not names:
                raise CheckpointError(f"{path}: a zip file but not a PyTorch checkpoint (expected {EXPECTED})")
            return native.FORMAT.encode() in zf.read(names[0])
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated PyTorch zip file ({exc}) (expected {EXPECTED})") from exc


# ---- public entry points ----------------------------------------------------------------------
def load_generator_any(
    path: str | Path,
    *,
    crop: str | tuple[int, int, int, int] | None = "auto",
    cache_dir: str | Path | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[Generator, dict]:
    """Any supported generator file → (Generator in eval mode, meta).

    crop: 'auto' uses KNOWN_CROPS by file name, None keeps the square frame, or a
    (top, left, height, width) tuple. With `cache_dir`, a converted official file is also
    written there in the native format and read from there next time (fast and exec-free).
    """
    path = Path(path)
    kind = sniff_format(path)
    if kind == "native":
        G, meta = native.load_generator(path, map_location=map_location)
        return G, {**meta, "source_format": meta.get("source_format", "native")}
    cached = _cache_path(path, crop, cache_dir) if cache_dir is not None else None
    if cached is not None and cached.is_file():
        try:
            return native.load_generator(cached, map_location=map_location)
        except CheckpointError:
            pass  # stale or damaged cache entry: convert again
    conv = convert_checkpoint(path, crop=crop, kind=kind)
    G = build_generator(conv, path)
    if cached is not None:
        native.save_generator(cached, G, conv.meta)
    return G.to(map_location), conv.meta


def convert_to_native(src: str | Path, dst: str | Path, *, crop: str | tuple | None = "auto") -> dict:
    """Convert any supported file to our native format at `dst` (atomic write); → meta."""
    G, meta = load_generator_any(src, crop=crop)
    native.save_generator(dst, G, meta)
    return meta


def convert_checkpoint(path: str | Path, *, crop: str | tuple | None = "auto", kind: str | None = None) -> Converted:
    """Read a non-native file into a `Converted` (config + state dict), without building G."""
    path = Path(path)
    kind = kind or sniff_format(path)
    try:
        if kind == "pickle":
            data = read_network_pickle(path)
            conv = _convert_pickle_data(data, path)
        elif kind == "torch":
            conv = _convert_rosinality(_torch_load(path), path)
        else:
            raise CheckpointError(f"{path}: already a SAM Editor generator; load it with native.load_generator")
    except CheckpointError:
        raise
    except (IndexError, ValueError, TypeError, RuntimeError) as exc:  # e.g. a 1-D noise map indexed [0, 0]
        raise CheckpointError(
            f"{path}: a weight has an unexpected shape or type ({type(exc).__name__}: {exc}) (expected {EXPECTED})"
        ) from exc
    return _apply_crop(conv, path, crop)


def read_network_pickle(path: str | Path) -> Any:
    """Unpickle with the whitelist; CheckpointError names the file and any refused global."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return restricted_load(f)
    except UnsafePickleError as exc:
        raise CheckpointError(
            f"{path.name}: {UNSAFE_FILE} (it asks for {exc.qualified_name}, which is not a network weight; "
            f"nothing from it was run; expected {EXPECTED})"
        ) from exc
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            RuntimeError, OverflowError, MemoryError, UnicodeDecodeError) as exc:  # fmt: skip
        raise CheckpointError(
            f"{path}: corrupt or truncated pickle ({type(exc).__name__}: {exc}) (expected {EXPECTED})"
        ) from exc


def build_generator(conv: Converted, path: str | Path = "<memory>") -> Generator:
    """Instantiate our Generator and load the converted weights, with readable mismatch errors."""
    try:
        G = Generator(conv.cfg)
    except (ValueError, RuntimeError, ArithmeticError) as exc:  # e.g. w_dim 0 (division), z_dim −1 (torch)
        raise CheckpointError(f"{path}: unsupported generator configuration ({exc})") from exc
    ref = G.state_dict()
    sd = dict(conv.state_dict)
    for k, v in ref.items():  # fixed FIR filters are not stored by every format
        if k not in sd and k.endswith("resample_filter"):
            sd[k] = v
    missing = sorted(set(ref) - set(sd))
    unexpected = sorted(set(sd) - set(ref))
    bad = [f"{k} {tuple(sd[k].shape)}≠{tuple(ref[k].shape)}" for k in ref if k in sd and sd[k].shape != ref[k].shape]
    if missing or unexpected or bad:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", bad)):
            if items:
                parts.append(f"{label}: {', '.join(items[:4])}{' …' if len(items) > 4 else ''}")
        raise CheckpointError(f"{path}: weights do not fit a StyleGAN2 generator ({'; '.join(parts)})")
    G.load_state_dict(sd, strict=True)
    return G.eval().requires_grad_(False)


# ---- helpers ----------------------------------------------------------------------------------
def _cache_path(path: Path, crop: Any, cache_dir: str | Path) -> Path:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{crop!r}|v{native.VERSION}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return Path(cache_dir) / f"{path.stem}.{digest}.sam.pt"


def _apply_crop(conv: Converted, path: Path, crop: Any) -> Converted:
    source = None
    if crop == "auto":
        crop = KNOWN_CROPS.get(path.stem.lower())
        source = "known file name" if crop is not None else None
    elif crop is not None:
        source = "argument"
    if crop is not None:
        try:
            cfg = dataclasses.replace(conv.cfg, crop=tuple(int(v) for v in crop))
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"{path}: crop {crop!r} does not fit this generator ({exc})") from exc
        conv = Converted(cfg, conv.state_dict, {**conv.meta, "crop": list(cfg.crop), "crop_source": source})
    return conv


def _torch_load(path: Path) -> Any:
    """torch.load with weights_only=True (argparse.Namespace allowed: rosinality stores its args)."""
    try:
        return safe_torch_load(path, "generator", allow=(argparse.Namespace,))
    except UnreadableFile as exc:
        raise CheckpointError(f"{exc} (expected {EXPECTED})") from exc


def _tensor(value: Any, path: Path, what: str) -> torch.Tensor:
    try:
        if isinstance(value, torch.Tensor):
            return value.detach().to(torch.float32).contiguous().clone()
        return torch.from_numpy(np.array(value, dtype=np.float32, order="C", copy=True))  # keeps 0-d scalars 0-d
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: {what} is not a numeric array ({exc})") from exc


# ---- 1. TensorFlow pickles --------------------------------------------------------------------
def _convert_pickle_data(data: Any, path: Path) -> Converted:
    if isinstance(data, tuple) and data and all(isinstance(n, TFNetworkStub) for n in data):
        return _convert_tf(data[-1], path)  # (G, D, Gs): Gs is the moving average used for inference
    if isinstance(data, TFNetworkStub):
        return _convert_tf(data, path)
    if isinstance(data, dict) and isinstance(data.get("G_ema"), PersistentObject):
        return _convert_ada(data["G_ema"], path)
    if isinstance(data, PersistentObject) and data.class_name == "Generator":
        return _convert_ada(data, path)
    found = type(data).__name__ + (f" with keys {sorted(map(str, data))[:6]}" if isinstance(data, dict) else "")
    raise CheckpointError(f"{path}: a pickle, but not a StyleGAN2 network pickle (found {found}; expected {EXPECTED})")


_TF_KWARGS_OK = {  # name → allowed values (None: anything)
    "latent_size": None, "dlatent_size": None, "resolution": None, "num_channels": None,
    "mapping_layers": None, "mapping_lrmul": None, "fmap_base": None, "fmap_max": None,
    "conv_clamp": None, "w_avg_beta": None, "dlatent_avg_beta": None, "num_fp16_res": None,
    "truncation_psi": None, "truncation_cutoff": None, "style_mixing_prob": None, "structure": None,
    "randomize_noise": None, "fused_modconv": None, "dtype": None, "is_template_graph": None,
    "label_size": (0,), "label_fmaps": None, "mapping_fmaps": None,
    "mapping_nonlinearity": ("lrelu",), "nonlinearity": ("lrelu",), "architecture": ("skip",),
    "resample_kernel": ([1, 3, 3, 1], (1, 3, 3, 1)), "use_noise": (True,), "normalize_latents": (True,),
    "fmap_min": (1,), "fmap_decay": (1, 1.0),
}  # fmt: skip


def _tf_params(net: TFNetworkStub, path: Path) -> dict[str, Any]:
    """All variables by relative name: Gs's own ('dlatent_avg') and its components'
    ('mapping/Dense0/weight', 'synthesis/4x4/Conv/weight', 'synthesis/noise0', …)."""
    out: dict[str, Any] = {}
    aliases = {"G_mapping": "mapping", "G_synthesis": "synthesis"}

    def rec(prefix: str, n: Any, depth: int) -> None:
        if not isinstance(n, TFNetworkStub) or depth > 4:
            raise CheckpointError(f"{path}: malformed TensorFlow network component under {prefix or 'Gs'!r}")
        for item in n.variables:
            if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
                raise CheckpointError(f"{path}: malformed TensorFlow variable list in {n.name!r}")
            out[prefix + item[0]] = item[1]
        for key, comp in n.components.items():
            name = aliases.get(getattr(comp, "name", ""), str(key))
            rec(f"{prefix}{name}/", comp, depth + 1)

    rec("", net, 0)
    for name in list(out):  # also accept global names ('G_synthesis/4x4/…')
        for long, short in aliases.items():
            if name.startswith(long + "/"):
                out.setdefault(short + name[len(long) :], out[name])
    return out


def _check_tf_options(kw: dict[str, Any], path: Path) -> None:
    """Refuse generator options this converter does not reproduce exactly."""
    norm = lambda x: list(x) if isinstance(x, (list, tuple)) else x  # noqa: E731
    for k, v in kw.items():
        if k not in _TF_KWARGS_OK:
            raise CheckpointError(f"{path}: unsupported TensorFlow generator option {k}={v!r}")
        allowed = _TF_KWARGS_OK[k]
        if allowed is not None and v is not None and not any(norm(v) == norm(a) for a in allowed):
            raise CheckpointError(f"{path}: unsupported TensorFlow generator option {k}={v!r} (only {allowed[0]!r})")
    if kw.get("mapping_fmaps") not in (None, kw.get("dlatent_size", 512)):
        raise CheckpointError(f"{path}: mapping_fmaps ≠ dlatent_size is not supported")


def _tf_config(kw: dict[str, Any], p: dict[str, Any], path: Path) -> GeneratorConfig:
    """The generator's hyper-parameters from the pickle's static kwargs (TF defaults otherwise)."""
    if any(re.fullmatch(r"synthesis/ToRGB_lod\d+/.*", k) for k in p):
        raise CheckpointError(f"{path}: 'orig' (non-skip) StyleGAN2 architecture is not supported")
    if any(re.search(r"/Skip/weight$", k) for k in p if k.startswith("synthesis/")):
        raise CheckpointError(f"{path}: 'resnet' generator architecture is not supported")
    sizes = [int(m.group(1)) for k in p if (m := re.fullmatch(r"synthesis/(\d+)x\1/.*", k))]
    w_avg_beta = kw.get("w_avg_beta", kw.get("dlatent_avg_beta", 0.995))
    try:
        return GeneratorConfig(
            resolution=int(kw.get("resolution") or (max(sizes) if sizes else 1024)),
            z_dim=int(kw.get("latent_size") or 512),
            w_dim=int(kw.get("dlatent_size") or 512),
            mapping_layers=int(kw.get("mapping_layers") or 8),
            channel_base=int(kw.get("fmap_base") or 16384) * 2,
            channel_max=int(kw.get("fmap_max") or 512),
            img_channels=int(kw.get("num_channels") or 3),
            mapping_lr_multiplier=float(kw["mapping_lrmul"] if kw.get("mapping_lrmul") is not None else 0.01),
            conv_clamp=None if kw.get("conv_clamp") is None else float(kw["conv_clamp"]),
            w_avg_beta=1.0 if w_avg_beta is None else float(w_avg_beta),
        )
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: unsupported TensorFlow generator options ({exc})") from exc


def _tf_state_dict(p: dict[str, Any], cfg: GeneratorConfig, path: Path) -> tuple[dict[str, Any], set[str]]:
    """TF variables → our state dict (numpy), and the names of the variables used."""
    used: set[str] = set()

    def get(name: str) -> Any:
        if name not in p:
            raise CheckpointError(f"{path}: TensorFlow variable {name!r} is missing (expected {EXPECTED})")
        used.add(name)
        try:
            return np.asarray(p[name], dtype=np.float32)
        except (TypeError, ValueError) as exc:  # a string, a dict, a ragged list …
            raise CheckpointError(f"{path}: TensorFlow variable {name!r} is not a numeric array ({exc})") from exc

    sd: dict[str, Any] = {"mapping.w_avg": get("dlatent_avg")}
    for i in range(cfg.mapping_layers):
        sd[f"mapping.fc{i}.weight"] = get(f"mapping/Dense{i}/weight").T
        sd[f"mapping.fc{i}.bias"] = get(f"mapping/Dense{i}/bias")
    sd["synthesis.b4.const"] = get("synthesis/4x4/Const/const")[0]

    def layer(dst: str, src: str, noise: int, flip: bool = False) -> None:
        w = get(f"{src}/weight")
        if w.ndim != 4:
            raise CheckpointError(f"{path}: {src}/weight is not a 4-D kernel")
        if flip:  # TF's Conv0_up is a transposed conv with a flipped kernel (see legacy.py)
            w = w[::-1, ::-1]
        sd[f"{dst}.weight"] = w.transpose(3, 2, 0, 1)
        sd[f"{dst}.bias"] = get(f"{src}/bias")
        sd[f"{dst}.noise_const"] = get(f"synthesis/noise{noise}")[0, 0]
        sd[f"{dst}.noise_strength"] = get(f"{src}/noise_strength").reshape(())
        sd[f"{dst}.affine.weight"] = get(f"{src}/mod_weight").T
        sd[f"{dst}.affine.bias"] = get(f"{src}/mod_bias") + 1

    for res in cfg.block_resolutions:
        log2 = int(math.log2(res))
        if res == 4:
            layer("synthesis.b4.conv1", "synthesis/4x4/Conv", 0)
        else:
            layer(f"synthesis.b{res}.conv0", f"synthesis/{res}x{res}/Conv0_up", 2 * log2 - 5, flip=True)
            layer(f"synthesis.b{res}.conv1", f"synthesis/{res}x{res}/Conv1", 2 * log2 - 4)
        rgb = f"synthesis/{res}x{res}/ToRGB"
        sd[f"synthesis.b{res}.torgb.weight"] = get(f"{rgb}/weight").transpose(3, 2, 0, 1)
        sd[f"synthesis.b{res}.torgb.bias"] = get(f"{rgb}/bias")
        sd[f"synthesis.b{res}.torgb.affine.weight"] = get(f"{rgb}/mod_weight").T
        sd[f"synthesis.b{res}.torgb.affine.bias"] = get(f"{rgb}/mod_bias") + 1
    if f"mapping/Dense{cfg.mapping_layers}/weight" in p:
        raise CheckpointError(f"{path}: more mapping layers than mapping_layers={cfg.mapping_layers}")
    return sd, used


def _convert_tf(gs: TFNetworkStub, path: Path) -> Converted:
    if gs.version < 4:
        raise CheckpointError(f"{path}: TensorFlow network pickle version {gs.version} is too old (need 4)")
    kw = gs.static_kwargs
    _check_tf_options(kw, path)
    p = _tf_params(gs, path)
    cfg = _tf_config(kw, p, path)
    sd, used = _tf_state_dict(p, cfg, path)
    state = {k: _tensor(v, path, k) for k, v in sd.items()}
    ignored = sorted(k for k in p if k not in used and not k.startswith(("G_mapping/", "G_synthesis/")))
    meta = {
        "source_format": "stylegan2-tf-pickle",
        "source_file": path.name,
        "network_name": gs.name,
        "static_kwargs": {k: v for k, v in kw.items() if isinstance(v, (int, float, str, bool, type(None)))},
        "ignored_variables": ignored,
    }
    return Converted(cfg, state, meta)


# ---- 2. stylegan2-ada-pytorch / stylegan3 pickles -------------------------------------------------
def _is_stylegan3(obj: PersistentObject) -> bool:
    src = obj.module_src
    if "class SynthesisInput" in src or "filtered_lrelu" in src:
        return True
    synth = obj.modules.get("synthesis")
    return isinstance(synth, PersistentObject) and (
        "input" in synth.modules or "class SynthesisInput" in synth.module_src or "filtered_lrelu" in synth.module_src
    )


def _collect_state(obj: PersistentObject, path: Path, prefix: str = "", depth: int = 0) -> dict[str, torch.Tensor]:
    if depth > 8:
        raise CheckpointError(f"{path}: network module tree is too deep")
    st = obj.state
    skip = set(st.get("_non_persistent_buffers_set") or ())
    out: dict[str, torch.Tensor] = {}
    for group in ("_parameters", "_buffers"):
        for name, t in (st.get(group) or {}).items():
            if t is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(t, torch.Tensor):
                raise CheckpointError(f"{path}: {prefix}{name} is not a tensor")
            out[prefix + name] = t
    for name, m in obj.modules.items():
        if m is None:
            continue
        if not isinstance(m, PersistentObject):
            raise CheckpointError(f"{path}: module {prefix}{name} is not a persistent network object")
        out.update(_collect_state(m, path, f"{prefix}{name}.", depth + 1))
    return out


def _convert_ada(g: PersistentObject, path: Path) -> Converted:
    if _is_stylegan3(g):
        raise CheckpointError(f"{path}: StyleGAN3 synthesis is not supported (this app needs a StyleGAN2 generator)")
    names = ["z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"]
    kw = {**dict(zip(names, g.init_args, strict=False)), **g.init_kwargs}
    mk = dict(kw.get("mapping_kwargs") or {})
    # stylegan2-ada-pytorch nests synthesis options in `synthesis_kwargs`; the stylegan3 repo's
    # networks_stylegan2 (used by the SAM code) passes them as top-level **synthesis_kwargs.
    sk = {**{k: v for k, v in kw.items() if k not in names}, **dict(kw.get("synthesis_kwargs") or {})}
    if "img_resolution" not in kw:
        raise CheckpointError(f"{path}: G_ema has no init_kwargs (expected {EXPECTED})")
    if int(kw.get("c_dim") or 0) != 0:
        raise CheckpointError(f"{path}: conditional generators (c_dim={kw['c_dim']}) are not supported")
    checks = {
        "architecture": (sk.get("architecture", "skip"), ("skip",)),
        "activation": (sk.get("activation", "lrelu"), ("lrelu",)),
        "use_noise": (sk.get("use_noise", True), (True,)),
        "mapping activation": (mk.get("activation", "lrelu"), ("lrelu",)),
    }
    for what, (value, ok) in checks.items():
        if value not in ok:
            raise CheckpointError(f"{path}: unsupported generator option {what}={value!r} (only {ok[0]!r})")
    if list(sk.get("resample_filter", [1, 3, 3, 1])) != [1, 3, 3, 1]:
        raise CheckpointError(f"{path}: only the [1, 3, 3, 1] resampling filter is supported")
    if mk.get("layer_features") not in (None, kw.get("w_dim")):
        raise CheckpointError(f"{path}: mapping layer_features ≠ w_dim is not supported")
    beta = mk.get("w_avg_beta", 0.995)
    try:
        cfg = GeneratorConfig(
            resolution=int(kw["img_resolution"]),
            z_dim=int(kw.get("z_dim", 512)),
            w_dim=int(kw.get("w_dim", 512)),
            mapping_layers=int(mk.get("num_layers", 8)),
            channel_base=int(sk.get("channel_base", 32768)),
            channel_max=int(sk.get("channel_max", 512)),
            img_channels=int(kw.get("img_channels", 3)),
            mapping_lr_multiplier=float(mk.get("lr_multiplier", 0.01)),
            conv_clamp=None if sk.get("conv_clamp") is None else float(sk["conv_clamp"]),
            w_avg_beta=1.0 if beta is None else float(beta),
        )
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: unsupported generator options ({exc})") from exc
    state = {k: _tensor(v, path, k) for k, v in _collect_state(g, path).items()}
    plain = lambda d: {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool, type(None)))}  # noqa: E731
    meta = {
        "source_format": "stylegan2-ada-pickle",
        "source_file": path.name,
        "init_kwargs": {**plain(kw), "mapping_kwargs": plain(mk), "synthesis_kwargs": plain(sk)},
    }
    return Converted(cfg, state, meta)


# ---- 3. rosinality checkpoints ----------------------------------------------------------------
def _channels_to_base_max(channels: dict[int, int], path: Path) -> tuple[int, int]:
    """Find (channel_base, channel_max) with min(base // r, max) == channels[r] for every r."""
    cmax = max(channels.values())
    res = max(channels)
    candidates = [32768, 16384] + [c * r for r, c in sorted(channels.items())] + [cmax * res]
    for base in candidates:
        if all(min(base // r, cmax) == c for r, c in channels.items()):
            return base, cmax
    raise CheckpointError(f"{path}: channel layout {channels} is not a StyleGAN2 channel_base/channel_max layout")


def _convert_rosinality(ckpt: Any, path: Path) -> Converted:
    if isinstance(ckpt, dict) and native.FORMAT == ckpt.get("format"):
        raise CheckpointError(f"{path}: already a SAM Editor generator")
    g = ckpt.get("g_ema") if isinstance(ckpt, dict) else None
    if g is None and isinstance(ckpt, dict) and "style.1.weight" in ckpt:
        g = ckpt  # a bare rosinality generator state dict
    if not isinstance(g, dict) or "style.1.weight" not in g:
        keys = sorted(map(str, ckpt))[:6] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(
            f"{path}: a PyTorch file, but not a rosinality StyleGAN2 checkpoint (found {keys}; expected {EXPECTED})"
        )

    def get(name: str) -> torch.Tensor:
        if name not in g or not isinstance(g[name], torch.Tensor):
            raise CheckpointError(f"{path}: rosinality weight {name!r} is missing")
        return g[name].detach().to(torch.float32)

    mapping_layers = 0
    while f"style.{mapping_layers + 1}.weight" in g:
        mapping_layers += 1
    num_up = 0
    while f"to_rgbs.{num_up}.conv.weight" in g:
        num_up += 1
    resolution = 4 * 2**num_up
    w_dim = get("style.1.weight").shape[1]
    channels = {4: get("conv1.conv.weight").shape[1]}
    for i in range(num_up):
        channels[8 * 2**i] = get(f"convs.{2 * i}.conv.weight").shape[1]
    base, cmax = _channels_to_base_max(channels, path)
    try:
        cfg = GeneratorConfig(resolution=resolution, z_dim=w_dim, w_dim=w_dim, mapping_layers=mapping_layers,
                              channel_base=base, channel_max=cmax, img_channels=get("to_rgb1.conv.weight").shape[1])  # fmt: skip
    except ValueError as exc:
        raise CheckpointError(f"{path}: unsupported rosinality generator ({exc})") from exc

    sd: dict[str, torch.Tensor] = {}
    for i in range(mapping_layers):
        sd[f"mapping.fc{i}.weight"] = get(f"style.{i + 1}.weight")
        sd[f"mapping.fc{i}.bias"] = get(f"style.{i + 1}.bias")
    sd["synthesis.b4.const"] = get("input.input")[0]

    def styled(dst: str, src: str, noise: int) -> None:
        sd[f"{dst}.weight"] = get(f"{src}.conv.weight")[0]  # (1, O, I, k, k); rosinality scales at run time
        sd[f"{dst}.affine.weight"] = get(f"{src}.conv.modulation.weight")
        sd[f"{dst}.affine.bias"] = get(f"{src}.conv.modulation.bias")
        sd[f"{dst}.noise_strength"] = get(f"{src}.noise.weight").reshape(())
        sd[f"{dst}.bias"] = get(f"{src}.activate.bias")
        sd[f"{dst}.noise_const"] = get(f"noises.noise_{noise}")[0, 0]

    def torgb(dst: str, src: str) -> None:
        sd[f"{dst}.weight"] = get(f"{src}.conv.weight")[0]
        sd[f"{dst}.affine.weight"] = get(f"{src}.conv.modulation.weight")
        sd[f"{dst}.affine.bias"] = get(f"{src}.conv.modulation.bias")
        sd[f"{dst}.bias"] = get(f"{src}.bias").reshape(-1)

    styled("synthesis.b4.conv1", "conv1", 0)
    torgb("synthesis.b4.torgb", "to_rgb1")
    for i in range(num_up):
        res = 8 * 2**i
        styled(f"synthesis.b{res}.conv0", f"convs.{2 * i}", 2 * i + 1)
        styled(f"synthesis.b{res}.conv1", f"convs.{2 * i + 1}", 2 * i + 2)
        torgb(f"synthesis.b{res}.torgb", f"to_rgbs.{i}")

    meta = {"source_format": "rosinality", "source_file": path.name,
            "mapping_lr_multiplier_assumed": cfg.mapping_lr_multiplier}  # fmt: skip
    avg = ckpt.get("latent_avg") if isinstance(ckpt, dict) else None
    if isinstance(avg, torch.Tensor) and avg.numel() >= w_dim:
        sd["mapping.w_avg"] = avg.detach().to(torch.float32).reshape(-1, w_dim)[0]
    else:  # training checkpoints carry no latent_avg: estimate it reproducibly
        sd["mapping.w_avg"] = _estimate_w_avg(cfg, sd, path)
        meta["w_avg_estimated"] = True
    return Converted(cfg, {k: v.contiguous().clone() for k, v in sd.items()}, meta)


def _estimate_w_avg(cfg: GeneratorConfig, sd: dict[str, torch.Tensor], path: Path, n: int = 4096) -> torch.Tensor:
    G = build_generator(Converted(cfg, {**sd, "mapping.w_avg": torch.zeros(cfg.w_dim)}, {}), path)
    z = torch.randn(n, cfg.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return G.mapping(z).mean(dim=0)
