"""ADE20k semantic segmenter (150 classes) for the official bundle's refinement step (§3.1).

The official SAM code refines the predicted invertibility map with an ADE20k scene parser, so that
a car, the road, the sky and each tree are one segment each (one object, one latent space).  This
module reads NVIDIA's published SegFormer checkpoints fine-tuned on ADE20k, as they sit on the
Hugging Face hub (``nvidia/segformer-b0-finetuned-ade-512-512``): a folder holding ``config.json``
and ``model.safetensors`` (or the older ``pytorch_model.bin``).  Registry names:
``segformer-ade20k`` (weights) and ``segformer-ade20k-config``.

Why our own forward pass instead of ``transformers``: SegFormer is a small, fixed architecture
(overlapping patch embeddings, efficient self-attention with a strided key/value reduction,
Mix-FFN with a depthwise 3×3 conv, an all-MLP decoder; ~150 lines here), while ``transformers``
is ~130 MB installed, takes seconds to import and is excluded from the packaged app.  The tests
check this module against ``transformers``' own SegFormer on tiny models written by its
``save_pretrained`` — the same file format as the published checkpoint.

The modules below carry the checkpoint's own parameter names (``segformer.encoder.block.0.0.
attention.self.query.weight`` …), so a strict ``load_state_dict`` checks every name and shape.
Files are read without executing anything: safetensors, or a pickle through
``util.safe_torch_load`` (``weights_only=True``); a pickle asking for code is refused with
``util.UNSAFE_FILE``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..util import UnreadableFile, safe_torch_load
from .segmenters import ClassMapSegmenter, OversegSegmenter, Segmenter, _check_image

__all__ = [
    "Ade20kError",
    "Ade20kSegmenter",
    "SegformerSpec",
    "SegformerNet",
    "find_ade20k_folder",
    "load_segformer",
    "official_segmenter",
]

WEIGHTS_ENTRY = "segformer-ade20k"
CONFIG_ENTRY = "segformer-ade20k-config"
FETCH_COMMAND = "sam-editor weights fetch 'segformer-ade20k*'"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
NUM_CLASSES = 150

# ImageNet statistics and the 512×512 input of the published preprocessor_config.json
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class Ade20kError(ValueError):
    """The ADE20k segmenter's files are missing, broken or unsafe; the message says which and why."""


# ---------------------------------------------------------------------------------- the config


@dataclasses.dataclass(frozen=True)
class SegformerSpec:
    """The architecture fields of a SegFormer ``config.json`` (per-stage lists, stage 1 first)."""

    hidden_sizes: tuple[int, ...]  # channels per stage, B0: 32, 64, 160, 256
    depths: tuple[int, ...]  # transformer blocks per stage
    num_attention_heads: tuple[int, ...]
    sr_ratios: tuple[int, ...]  # key/value reduction factor of the efficient attention
    patch_sizes: tuple[int, ...]  # overlapping patch-embedding kernel
    strides: tuple[int, ...]
    mlp_ratios: tuple[int, ...]  # Mix-FFN hidden width / channels
    decoder_hidden_size: int
    num_labels: int
    num_channels: int = 3
    labels: tuple[str, ...] = ()  # class names, index = class id

    _LISTS = ("hidden_sizes", "depths", "num_attention_heads", "sr_ratios", "patch_sizes", "strides", "mlp_ratios")

    @classmethod
    def from_config(cls, cfg: Any) -> SegformerSpec:
        """Validate a parsed ``config.json``; ValueError naming the first field that is wrong."""
        if not isinstance(cfg, dict):
            raise ValueError("the file is not a JSON object")
        if cfg.get("model_type") != "segformer":
            raise ValueError(f"model_type is {cfg.get('model_type')!r}, expected 'segformer'")
        if cfg.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"hidden_act {cfg.get('hidden_act')!r} is not supported (only 'gelu')")
        if cfg.get("reshape_last_stage", True) is not True:
            raise ValueError("reshape_last_stage must be true for semantic segmentation")
        fields: dict[str, Any] = {}
        for name in cls._LISTS:
            value = cfg.get(name)
            if not isinstance(value, list) or not value or not all(_positive_int(v) for v in value):
                raise ValueError(f"{name} must be a non-empty list of positive integers, got {value!r}")
            fields[name] = tuple(value)
        stages = {len(v) for v in fields.values()} | {cfg.get("num_encoder_blocks", len(fields["depths"]))}
        if len(stages) != 1:
            raise ValueError("the per-stage lists and num_encoder_blocks disagree on the number of stages")
        for c, h in zip(fields["hidden_sizes"], fields["num_attention_heads"], strict=True):
            if c % h:
                raise ValueError(f"hidden size {c} is not divisible by its {h} attention heads")
        for key, default in (("decoder_hidden_size", None), ("num_channels", 3)):
            value = cfg.get(key, default)
            if not _positive_int(value):
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
            fields[key] = value
        id2label = cfg.get("id2label")
        if not isinstance(id2label, dict):
            raise ValueError("id2label (the class names) is missing")
        try:
            names = {int(k): str(v) for k, v in id2label.items()}
        except (TypeError, ValueError):
            raise ValueError("id2label keys must be class indices") from None
        if sorted(names) != list(range(len(names))):
            raise ValueError("id2label must number the classes 0…K-1")
        if len(names) != NUM_CLASSES:
            raise ValueError(f"it has {len(names)} classes; an ADE20k scene parser has {NUM_CLASSES}")
        return cls(**fields, num_labels=len(names), labels=tuple(names[i] for i in range(len(names))))


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


# ------------------------------------------------------------------------------- the network
# Attribute names follow the published checkpoint's parameter names (hence `self.self`).


class _PatchEmbed(nn.Module):
    """Overlapping patch embedding: strided conv (padding k//2) + LayerNorm over channels."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cin, cout, kernel, stride, kernel // 2)
        self.layer_norm = nn.LayerNorm(cout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)  # (B, C, h, w)
        h, w = x.shape[-2:]
        return self.layer_norm(x.flatten(2).transpose(1, 2)), h, w  # tokens (B, h·w, C)


class _EfficientSelfAttention(nn.Module):
    """Multi-head attention whose keys/values come from a sr×sr strided conv of the tokens."""

    def __init__(self, channels: int, heads: int, sr: int) -> None:
        super().__init__()
        self.heads, self.sr_ratio = heads, sr
        self.query = nn.Linear(channels, channels)
        self.key = nn.Linear(channels, channels)
        self.value = nn.Linear(channels, channels)
        if sr > 1:
            self.sr = nn.Conv2d(channels, channels, sr, sr)
            self.layer_norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        kv = x
        if self.sr_ratio > 1:
            grid = x.transpose(1, 2).reshape(b, c, h, w)
            kv = self.layer_norm(self.sr(grid).flatten(2).transpose(1, 2))

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, N, C) → (B, heads, N, C/heads)
            return t.reshape(b, t.shape[1], self.heads, c // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(kv)), split(self.value(kv)))
        return out.transpose(1, 2).reshape(b, n, c)


class _AttentionOutput(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dense = nn.Linear(channels, channels)


class _Attention(nn.Module):
    def __init__(self, channels: int, heads: int, sr: int) -> None:
        super().__init__()
        self.self = _EfficientSelfAttention(channels, heads, sr)
        self.output = _AttentionOutput(channels)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return self.output.dense(self.self(x, h, w))


class _DepthwiseConv(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, 3, 1, 1, groups=channels)


class _MixFFN(nn.Module):
    """Linear → depthwise 3×3 conv (the positional cue) → GELU → linear."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.dense1 = nn.Linear(channels, hidden)
        self.dwconv = _DepthwiseConv(hidden)
        self.dense2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = self.dense1(x)
        b, n, c = x.shape
        x = self.dwconv.dwconv(x.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)
        return self.dense2(F.gelu(x))


class _Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MixFFN(LN(x))."""

    def __init__(self, channels: int, heads: int, sr: int, mlp_ratio: int) -> None:
        super().__init__()
        self.layer_norm_1 = nn.LayerNorm(channels)
        self.attention = _Attention(channels, heads, sr)
        self.layer_norm_2 = nn.LayerNorm(channels)
        self.mlp = _MixFFN(channels, channels * mlp_ratio)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self.attention(self.layer_norm_1(x), h, w)
        return x + self.mlp(self.layer_norm_2(x), h, w)


class _Encoder(nn.Module):
    """Mix Transformer: four stages at 1/4, 1/8, 1/16, 1/32 of the input."""

    def __init__(self, spec: SegformerSpec) -> None:
        super().__init__()
        cins = (spec.num_channels, *spec.hidden_sizes[:-1])
        self.patch_embeddings = nn.ModuleList(
            _PatchEmbed(cin, c, k, s)
            for cin, c, k, s in zip(cins, spec.hidden_sizes, spec.patch_sizes, spec.strides, strict=True)
        )
        self.block = nn.ModuleList(
            nn.ModuleList(_Block(c, heads, sr, r) for _ in range(depth))
            for c, heads, sr, r, depth in zip(
                spec.hidden_sizes, spec.num_attention_heads, spec.sr_ratios, spec.mlp_ratios, spec.depths, strict=True
            )
        )
        self.layer_norm = nn.ModuleList(nn.LayerNorm(c) for c in spec.hidden_sizes)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for embed, blocks, norm in zip(self.patch_embeddings, self.block, self.layer_norm, strict=True):
            tokens, h, w = embed(x)
            for block in blocks:
                tokens = block(tokens, h, w)
            x = norm(tokens).transpose(1, 2).reshape(tokens.shape[0], -1, h, w)  # (B, C_i, h_i, w_i)
            features.append(x)
        return features


class _Backbone(nn.Module):
    def __init__(self, spec: SegformerSpec) -> None:
        super().__init__()
        self.encoder = _Encoder(spec)


class _Projection(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.proj = nn.Linear(cin, cout)


class _DecodeHead(nn.Module):
    """All-MLP decoder: project every stage to D channels, upsample to 1/4, fuse, classify."""

    def __init__(self, spec: SegformerSpec) -> None:
        super().__init__()
        d = spec.decoder_hidden_size
        self.linear_c = nn.ModuleList(_Projection(c, d) for c in spec.hidden_sizes)
        self.linear_fuse = nn.Conv2d(d * len(spec.hidden_sizes), d, 1, bias=False)
        self.batch_norm = nn.BatchNorm2d(d)
        self.classifier = nn.Conv2d(d, spec.num_labels, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        size = features[0].shape[-2:]
        projected = []
        for f, lin in zip(features, self.linear_c, strict=True):
            b, _, h, w = f.shape
            p = lin.proj(f.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(b, -1, h, w)
            projected.append(F.interpolate(p, size=size, mode="bilinear", align_corners=False))
        fused = F.relu(self.batch_norm(self.linear_fuse(torch.cat(projected[::-1], dim=1))))
        return self.classifier(fused)


class SegformerNet(nn.Module):
    """SegFormer for semantic segmentation: normalised (B, 3, H, W) → logits (B, K, H/4, W/4)."""

    def __init__(self, spec: SegformerSpec) -> None:
        super().__init__()
        self.spec = spec
        self.segformer = _Backbone(spec)
        self.decode_head = _DecodeHead(spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_head(self.segformer.encoder(x))


# ------------------------------------------------------------------------------ file reading


def _read_config(path: Path) -> SegformerSpec:
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Ade20kError(f"{path}: not a readable SegFormer config.json ({exc})") from None
    try:
        return SegformerSpec.from_config(cfg)
    except ValueError as exc:
        raise Ade20kError(f"{path}: not a SegFormer ADE20k config: {exc}") from None


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The file's tensors, read without executing anything from it."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except OSError as exc:
            raise Ade20kError(f"{path}: cannot be read ({exc})") from None
        except Exception as exc:  # SafetensorError and whatever else malformed bytes raise; nothing ran
            raise Ade20kError(f"{path}: broken or truncated safetensors file ({exc})") from None
    else:
        try:  # the project's one torch reader: weights only, our own words on refusal
            state = safe_torch_load(path, what="SegFormer checkpoint")
        except UnreadableFile as exc:
            raise Ade20kError(f"{path.parent}: {exc}") from None
        for key in ("state_dict", "model"):  # tolerate the usual wrappers
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise Ade20kError(f"{path}: holds no state dict of named tensors")
    return state


def load_segformer(folder: str | Path, device: str | torch.device = "cpu") -> SegformerNet:
    """The SegFormer in ``folder`` (``config.json`` + ``model.safetensors`` / ``pytorch_model.bin``),
    or a path to one of those files; Ade20kError with a clear reason when it cannot be used."""
    config_path, weights_path = _checkpoint_files(Path(folder))
    spec = _read_config(config_path)
    state = _read_tensors(weights_path)
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise Ade20kError(f"{weights_path}: tensor {bad[0]} holds NaN or infinite values")
    model = SegformerNet(spec)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise Ade20kError(
            f"{weights_path}: does not match {config_path.name} (a SegFormer with hidden sizes "
            f"{list(spec.hidden_sizes)}): {len(missing)} tensors missing{_examples(missing)}, "
            f"{len(unexpected)} unexpected{_examples(unexpected)}"
        )
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items() if state[k].shape != v.shape]
    if wrong:
        k, got, want = wrong[0]
        raise Ade20kError(f"{weights_path}: {k} has shape {got}, {config_path.name} says {want}")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    return model.eval().requires_grad_(False).to(device)


def _examples(keys: list[str]) -> str:
    return f" (e.g. {', '.join(keys[:2])})" if keys else ""


def _checkpoint_files(path: Path) -> tuple[Path, Path]:
    folder = path if path.is_dir() else path.parent
    if not folder.is_dir():
        raise Ade20kError(f"ADE20k segmenter folder not found: {folder}. Run `{FETCH_COMMAND}`")
    config = folder / "config.json"
    if not config.is_file():
        raise Ade20kError(f"{folder}: no config.json beside the weights. Run `{FETCH_COMMAND}`")
    if path.is_file() and path.name != "config.json":
        return config, path
    weights = next((folder / n for n in WEIGHT_FILES if (folder / n).is_file()), None)
    if weights is None:
        raise Ade20kError(f"{folder}: no {' or '.join(WEIGHT_FILES)}. Run `{FETCH_COMMAND}`")
    return config, weights


def find_ade20k_folder(dirs: list[Path] | None = None) -> Path | None:
    """The first folder with the registry's ADE20k files (config.json + weights), or None.

    Looked for in ``<dir>/segmentation/segformer-b0-finetuned-ade-512-512/`` of each of ``dirs`` (default: the
    registry's download folder and search folders), never in a bare weights root where another
    model's config.json could sit."""
    from .. import weights

    entry = weights.get(WEIGHTS_ENTRY)
    folders = [d / entry.subdir for d in dirs] if dirs is not None else [
        weights.target_path(entry).parent, *(d / entry.subdir for d in weights.search_dirs())
    ]  # fmt: skip
    for folder in dict.fromkeys(folders):
        if (folder / "config.json").is_file() and any((folder / n).is_file() for n in WEIGHT_FILES):
            return folder
    return None


# ------------------------------------------------------------------------------ the segmenter


class Ade20kSegmenter(ClassMapSegmenter):
    """ADE20k scene parser (car, road, sky, tree, building, grass, fence, pole, signboard, person…).

    The image is resized to ``size``×``size`` (bilinear, antialiased when shrinking) and
    normalised with the ImageNet statistics, as the published preprocessor does; the logits
    (1/4 of the input) are upsampled to at most ``work_size`` on the longer side and arg-maxed,
    and the class map is scaled to the image with nearest-neighbour.  Segments are the
    connected components of the class map; components under ``min_area_fraction`` of the image
    join a neighbour, so a car stays one segment.
    """

    #: shown in the window: which segmenter made the segments
    label = "ADE20k SegFormer (semantic, 150 classes)"

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        size: int = 512,
        work_size: int = 256,
        device: str | torch.device = "cpu",
        min_area_fraction: float = 0.005,
    ) -> None:
        folder = Path(weights) if weights is not None else find_ade20k_folder()
        if folder is None:
            raise Ade20kError(f"the ADE20k segmenter (SegFormer) is not downloaded. Run `{FETCH_COMMAND}`")
        self.model = load_segformer(folder, device)
        self.class_names = self.model.spec.labels  # ADE20k names, index = class id ("car" = 20)
        self.size, self.work_size = int(size), int(work_size)
        self.device = torch.device(device)
        self.min_area_fraction = float(min_area_fraction)

    def logits(self, image: np.ndarray) -> torch.Tensor:
        """Class scores (1, 150, size/4, size/4) of an RGB uint8 (H, W, 3) image."""
        image = _check_image(image)
        x = torch.tensor(image).permute(2, 0, 1)[None].float().div(255.0)
        shrink = self.size < max(image.shape[:2])
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=shrink)
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        with torch.inference_mode():
            return self.model(x.to(self.device)).float().cpu()

    def class_map(self, image: np.ndarray) -> np.ndarray:
        """Per-pixel ADE20k class index (H, W) int32, 0…149 (``self.class_names`` names them)."""
        height, width = np.shape(image)[:2]
        logits = self.logits(image)
        scale = min(1.0, self.work_size / max(height, width))
        wh, ww = max(1, round(height * scale)), max(1, round(width * scale))
        classes = F.interpolate(logits, size=(wh, ww), mode="bilinear", align_corners=False).argmax(1)[0]
        classes = classes.numpy().astype(np.int32)
        if (wh, ww) != (height, width):
            rows = np.minimum((np.arange(height) + 0.5) * wh / height, wh - 1).astype(np.intp)
            cols = np.minimum((np.arange(width) + 0.5) * ww / width, ww - 1).astype(np.intp)
            classes = classes[rows[:, None], cols[None, :]]
        return classes

    def class_features(self, image: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """One-hot of the classes present only (typically < 10 of the 150): the same merge costs,
        since one-hot distances only depend on equality, at a fraction of the memory and time."""
        present, compact = np.unique(classes, return_inverse=True)
        return np.eye(len(present), dtype=np.float32)[compact.reshape(classes.shape)] * 100.0


# ------------------------------------------------------------------ the official bundle's choice


def official_segmenter(
    dirs: list[Path] | None = None, device: str | torch.device = "cpu"
) -> tuple[Segmenter, list[str]]:
    """(segmenter, notes for the user) for the official bundle: the ADE20k SegFormer when its
    files are present and sound, else torchvision DeepLabV3 (VOC classes) when its file is
    present, else the weight-free over-segmentation; a fallback is named in the notes, with why."""
    folder = find_ade20k_folder(dirs)
    if folder is None:
        why = f"the ADE20k segmenter is not downloaded (run `{FETCH_COMMAND}`)"
    else:
        try:
            return Ade20kSegmenter(folder, device=device), []
        except Ade20kError as exc:
            why = f"the ADE20k segmenter could not be loaded: {exc}"
    from .. import weights
    from .segmenters import TorchvisionSemanticSegmenter

    entry = weights.get("deeplabv3-resnet50-coco")
    if dirs is None:
        deeplab = weights.locate(entry)
    else:
        places = [p for d in dirs for p in (d / entry.subdir / entry.filename, d / entry.filename)]
        deeplab = next((p for p in places if p.is_file()), None)
    if deeplab is not None:
        try:
            segmenter = TorchvisionSemanticSegmenter(deeplab, device=str(device))
            return segmenter, [
                f"Segments come from the fallback DeepLabV3-VOC (sky, road and trees are one class): {why}."
            ]
        except Exception as exc:  # a broken third-party file must not stop the bundle from loading
            why += f"; the DeepLabV3 fallback {deeplab.name} could not be loaded either ({type(exc).__name__}: {exc})"
    return OversegSegmenter(), [
        f"Segments come from the fallback colour over-segmentation (a car may be split): {why}."
    ]
