"""CLIP for StyleCLIP edits, loaded through open_clip from local files only.

Two models share one code path, `open_clip.create_model(name, pretrained=<local file>)`:

* OpenAI's ViT-B/32 (what StyleCLIP uses), read from the user's weights folder. It is never
  downloaded here: when the file is absent `load_clip` raises `ClipWeightsMissing`, whose
  `message` says how to get it, and `clip_status` reports the same as a value for the UI.
* The demo bundle's tiny text–image model (`weights/demo/clip/`), trained on the car world by
  `sam_editor.demo.train_clip`. It is an ordinary open_clip model: a JSON config registered with
  `open_clip.add_model_config` plus a state dict, so StyleCLIP code cannot tell the two apart.

`ClipModel` hides the rest: it takes generator images in [-1, 1] at any size, resizes and
normalises them differentiably, and returns unit-length embeddings.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

REPO_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
DEMO_CLIP_DIR = REPO_WEIGHTS / "demo" / "clip"
DEMO_CLIP_NAME = "sam-editor-tiny-clip"  # open_clip model-config name (= the JSON file's stem)

VIT_B_32_KEY = "clip-vit-b-32"  # name in the weights registry / `sam-editor weights fetch`
VIT_B_32_MODEL = "ViT-B-32"  # open_clip's built-in config; OpenAI's weights need QuickGELU
# File names the real weights may carry, most preferred first: open_clip's own state-dict files
# (safetensors or .bin, from the `timm/vit_base_patch32_clip_224.openai` hub repo) or OpenAI's
# original TorchScript archive `ViT-B-32.pt`.
VIT_B_32_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "ViT-B-32.pt")
FETCH_HINT = f"StyleCLIP needs CLIP ViT-B/32 — run `sam-editor weights fetch {VIT_B_32_KEY}`"

_OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipWeightsMissing(RuntimeError):
    """The CLIP weights StyleCLIP needs are not on disk. `message` is meant for the user as is."""

    def __init__(self, message: str, which: str) -> None:
        super().__init__(message)
        self.message = message
        self.which = which


@dataclasses.dataclass(frozen=True)
class ClipStatus:
    """Whether a CLIP model can be loaded, without loading it (cheap; for menus and status bars)."""

    which: str  # "vit-b-32" or "demo"
    available: bool
    path: Path | None  # the weights file that would be loaded
    message: str  # what to tell the user (how to get it when missing)


def default_weights_dirs() -> list[Path]:
    """The weights registry's search folders ($SAM_EDITOR_WEIGHTS, the repo's `weights/`, the
    per-user data folder where `sam-editor weights fetch` puts downloads, a frozen app's bundle)."""
    from .. import weights as registry

    return registry.search_dirs()


def find_vit_b_32(weights_dirs: Sequence[str | os.PathLike] | None = None) -> Path | None:
    """The first ViT-B/32 weights file found in `<dir>/clip/` or `<dir>/`, else None."""
    for d in weights_dirs if weights_dirs is not None else default_weights_dirs():
        for sub in (Path(d) / "clip", Path(d)):
            for name in VIT_B_32_FILES:
                if (sub / name).is_file():
                    return sub / name
    return None


def demo_clip_files(directory: str | os.PathLike = DEMO_CLIP_DIR) -> tuple[Path, Path]:
    """(config .json, weights .pt) of a tiny model saved by `sam_editor.demo.train_clip`."""
    d = Path(directory)
    return d / f"{DEMO_CLIP_NAME}.json", d / f"{DEMO_CLIP_NAME}.pt"


def clip_status(which: str = "vit-b-32", weights_dirs: Sequence[str | os.PathLike] | None = None,
                demo_dir: str | os.PathLike = DEMO_CLIP_DIR) -> ClipStatus:
    """Report whether `which` ("vit-b-32" or "demo") is on disk and what to say to the user."""
    if which == "vit-b-32":
        path = find_vit_b_32(weights_dirs)
        if path is None:
            return ClipStatus(which, False, None, FETCH_HINT)
        return ClipStatus(which, True, path, f"CLIP ViT-B/32 ({path})")
    if which == "demo":
        cfg, pt = demo_clip_files(demo_dir)
        if not (cfg.is_file() and pt.is_file()):
            return ClipStatus(which, False, None, f"the demo bundle's CLIP model is missing ({pt}); "
                              "train it with `python -m sam_editor.demo.train_clip`")
        return ClipStatus(which, True, pt, f"demo CLIP ({pt.name}, car world only)")
    raise ValueError(f"unknown CLIP model {which!r}; expected 'vit-b-32' or 'demo'")


def clip_input(
    x: torch.Tensor,  # (N, 3, H, W) in [-1, 1]
    size: tuple[int, int],
    mean: torch.Tensor | Sequence[float] = _OPENAI_MEAN,
    std: torch.Tensor | Sequence[float] = _OPENAI_STD,
    resize_mode: str = "shortest",
) -> torch.Tensor:
    """Differentiable CLIP preprocessing → (N, 3, *size): resize (shortest side + centre crop,
    or squash), map to [0, 1], normalise by mean/std. Training and inference both use it."""
    th, tw = size
    h, w = x.shape[-2:]
    if resize_mode == "shortest" and (h, w) != (th, tw):
        s = max(th / h, tw / w)  # scale the shortest side to fit, then centre-crop
        nh, nw = max(th, round(h * s)), max(tw, round(w * s))
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        top, left = (nh - th) // 2, (nw - tw) // 2
        x = x[:, :, top : top + th, left : left + tw]
    elif (h, w) != (th, tw):
        x = F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return ((x + 1) / 2 - mean) / std


class ClipModel(torch.nn.Module):
    """A frozen open_clip model behind the two calls StyleCLIP needs.

    * `encode_image(x)`: x (N, 3, H, W) in [-1, 1], any H, W → (N, D) unit vectors. Resizing
      follows the model's preprocessing (shortest side + centre crop, or squash) and is
      differentiable, so gradients reach the generator.
    * `encode_text(texts)`: list of N strings → (N, D) unit vectors (no gradient needed).
    """

    def __init__(self, model: torch.nn.Module, tokenizer, name: str, is_demo: bool) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.name = name
        self.is_demo = is_demo
        cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
        size = cfg.get("size", getattr(model.visual, "image_size", 224))
        self.image_size: tuple[int, int] = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        self.resize_mode: str = cfg.get("resize_mode", "shortest")
        self.register_buffer("mean", torch.tensor(cfg.get("mean", _OPENAI_MEAN)).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.get("std", _OPENAI_STD)).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> ClipModel:  # a fixed metric: always in eval mode
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] → (N, 3, h, w) at the model's input size, CLIP-normalised."""
        return clip_input(x, self.image_size, self.mean, self.std, self.resize_mode)

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) in [-1, 1] → (N, D)
        return self.model.encode_image(self.preprocess(x.to(self.device, torch.float32)), normalize=True)

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(texts)).to(self.device)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:  # N strings → (N, D)
        return self.model.encode_text(self.tokenize(texts), normalize=True)

    def similarity(self, x: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """Cosine similarity (N_images, N_texts) between images in [-1, 1] and texts."""
        return self.encode_image(x) @ self.encode_text(texts).T


def _is_torchscript(path: Path) -> bool:
    """OpenAI's original files are TorchScript archives (a zip with `code/` and `constants.pkl`)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


def create_open_clip(model_name: str, weights: str | os.PathLike, quick_gelu: bool = False,
                     device: str | torch.device = "cpu") -> tuple[torch.nn.Module, object]:
    """(open_clip model, tokenizer) for a registered config name and a local weights file.

    The one loader for both the real and the demo model. State dicts load with
    `weights_only=True`; only a genuine TorchScript archive (OpenAI's format) is handed to
    `torch.jit.load` (which does not run pickled Python) via open_clip's own fallback."""
    import open_clip

    path = Path(weights)
    model = open_clip.create_model(model_name, pretrained=str(path), force_quick_gelu=quick_gelu,
                                   weights_only=not _is_torchscript(path), device=device)
    return model.eval().requires_grad_(False), open_clip.get_tokenizer(model_name)


def register_config(config_path: str | os.PathLike) -> str:
    """Make open_clip know the model config in `config_path` (name = file stem); → the name."""
    import open_clip

    path = Path(config_path)
    cfg = json.loads(path.read_text())
    if not all(k in cfg for k in ("embed_dim", "vision_cfg", "text_cfg")):
        raise ValueError(f"{path}: not an open_clip model config (needs embed_dim, vision_cfg, text_cfg)")
    if path.stem not in open_clip.list_models() or open_clip.get_model_config(path.stem) != cfg:
        open_clip.add_model_config(path)
    return path.stem


def load_demo_clip(directory: str | os.PathLike = DEMO_CLIP_DIR, device: str | torch.device = "cpu") -> ClipModel:
    """The demo bundle's tiny model (or one saved by `train_clip.save_clip` in `directory`)."""
    cfg, pt = demo_clip_files(directory)
    if not (cfg.is_file() and pt.is_file()):
        raise ClipWeightsMissing(clip_status("demo", demo_dir=directory).message, "demo")
    return _cached_load("demo", str(cfg), str(pt), _mtime(cfg, pt), str(device))


def load_vit_b_32(weights_dirs: Sequence[str | os.PathLike] | None = None,
                  device: str | torch.device = "cpu") -> ClipModel:
    """OpenAI's CLIP ViT-B/32 from the first weights folder that has it; ClipWeightsMissing if none."""
    path = find_vit_b_32(weights_dirs)
    if path is None:
        raise ClipWeightsMissing(FETCH_HINT, "vit-b-32")
    return _cached_load("vit-b-32", "", str(path), _mtime(path), str(device))


def load_clip(which: str = "auto", weights_dirs: Sequence[str | os.PathLike] | None = None,
              demo_dir: str | os.PathLike = DEMO_CLIP_DIR, device: str | torch.device = "cpu") -> ClipModel:
    """Load "vit-b-32", "demo", or "auto" (the real model when present, else the demo model);
    a folder holding a tiny model in the demo bundle's format (e.g. one just retrained) also works.

    Pick "demo" for the demo generator: the tiny model only knows the car world's words.
    Raises ClipWeightsMissing (with a user-facing `message`) when nothing usable is on disk."""
    if which not in ("vit-b-32", "demo", "auto") and Path(which).is_dir():
        which, demo_dir = "demo", which
    if which == "vit-b-32":
        return load_vit_b_32(weights_dirs, device)
    if which == "demo":
        return load_demo_clip(demo_dir, device)
    if which != "auto":
        raise ValueError(f"unknown CLIP model {which!r}; expected 'auto', 'vit-b-32', 'demo' or a folder")
    if find_vit_b_32(weights_dirs) is not None:
        return load_vit_b_32(weights_dirs, device)
    if clip_status("demo", demo_dir=demo_dir).available:
        return load_demo_clip(demo_dir, device)
    raise ClipWeightsMissing(FETCH_HINT, "vit-b-32")


def _mtime(*paths: Path) -> tuple[int, ...]:
    return tuple(p.stat().st_mtime_ns for p in paths)


@functools.lru_cache(maxsize=4)
def _cached_load(which: str, config: str, weights: str, mtime: tuple[int, ...], device: str) -> ClipModel:
    """Load once per (file version, device): heavy models are loaded lazily and kept."""
    if which == "demo":
        name = register_config(config)
        model, tok = create_open_clip(name, weights, device=device)
        return ClipModel(model, tok, name=f"{name} (demo)", is_demo=True).to(device)
    model, tok = create_open_clip(VIT_B_32_MODEL, weights, quick_gelu=True, device=device)
    return ClipModel(model, tok, name="ViT-B/32 (OpenAI)", is_demo=False).to(device)


def clear_cache() -> None:
    """Forget loaded models (after re-training the demo model, or in tests)."""
    _cached_load.cache_clear()
