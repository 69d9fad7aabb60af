"""The models one session uses — generator, invertibility predictor, segmenter, CLIP — found
through the weights registry (official car bundle) or in `weights/demo/` (the demo bundle)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from ..util import TAU_DEFAULT, sha256_file
from .files import Problem

# the demo predictor's name (demo.bundle.COMPONENTS says invertibility.pt), older names accepted
DEMO_PREDICTOR_FILES = ("invertibility.pt", "predictor.pt")
DEMO_ENCODER_FILES = ("encoder.pt",)
FETCH_HINT = "Official car weights: run `sam-editor weights fetch stylegan2-car` and restart."


@dataclasses.dataclass
class Bundle:
    """The models one session uses: generator, invertibility predictor, segmenter, CLIP."""

    G: Any  # sam_editor.gan.networks.Generator
    meta: dict
    generator_path: Path
    generator_id: str  # sha256 of the weights file (cache key of GANSpace / W statistics)
    kind: str  # "official" | "demo" | "custom"
    predictor: Any | None
    predictor_name: str
    segmenter: Any
    device: torch.device
    notes: list[str] = dataclasses.field(default_factory=list)  # missing pieces, for the user
    tau: float = TAU_DEFAULT  # the bundle's default τ (= tau_scale.default)
    tau_scale: Any = None  # invertibility.latent_map.TauScale: metric, default, slider range
    inversion_settings: Any = None  # InversionSettings
    ganspace_samples: int = 1_000_000
    cache_dir: Path | None = None
    presets_dir: Path | None = None  # the user's own GANSpace presets
    clip_which: str = "auto"  # "demo" for the demo generator: its tiny CLIP knows the car world
    clip_dir: Path | None = None  # the demo CLIP's folder
    weights_dirs: list[Path] | None = None  # where official files are looked for (None: registry)
    predictor_path: Path | None = None
    encoder: Any | None = None  # sam_editor.inversion.encoder.SAMEncoder: instant φ, optimisation seed
    encoder_name: str = "none"
    _clip: Any = None
    _hashes: dict[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        from ..invertibility.latent_map import LPIPS_TAU, TauScale

        if self.tau_scale is None:  # no calibration given: the paper's LPIPS scale around `tau`
            self.tau_scale = LPIPS_TAU if self.tau == LPIPS_TAU.default else TauScale(
                LPIPS_TAU.metric, self.tau, min(LPIPS_TAU.lo, self.tau), max(LPIPS_TAU.hi, self.tau), "bundle")
        self.tau = self.tau_scale.default

    @property
    def segmenter_label(self) -> str:
        """Which segmenter makes the segments (shown in the map panel)."""
        return str(getattr(self.segmenter, "label", type(self.segmenter).__name__))

    def file_sha256(self, which: str) -> str | None:
        """SHA-256 of the 'generator' or 'predictor' file (hashed once), None without one."""
        path = self.generator_path if which == "generator" else self.predictor_path
        if path is None or self.predictor is None and which == "predictor":
            return None
        if which not in self._hashes:
            self._hashes[which] = sha256_file(path)
        return self._hashes[which]

    @property
    def clip(self) -> Any:
        """CLIP for StyleCLIP, loaded on first use (ClipWeightsMissing when absent)."""
        if self._clip is None:
            from ..edits.clip_models import DEMO_CLIP_DIR, load_clip

            self._clip = load_clip(
                self.clip_which, self.weights_dirs, self.clip_dir or DEMO_CLIP_DIR, device=self.device
            )
        return self._clip

    def clip_status(self) -> tuple[bool, str]:
        """(available, message for the user) — cheap, nothing is loaded."""
        from ..edits.clip_models import DEMO_CLIP_DIR, clip_status, find_vit_b_32

        which = self.clip_which
        if which == "auto":
            which = "vit-b-32" if find_vit_b_32(self.weights_dirs) else "demo"
        st = clip_status(which, self.weights_dirs, self.clip_dir or DEMO_CLIP_DIR)
        return st.available, st.message

    def describe(self) -> dict[str, str]:
        """Short strings for the status bar."""
        res = "×".join(str(v) for v in reversed(self.G.cfg.output_size))
        return {
            "device": device_name(self.device),
            "generator": f"{self.generator_path.name} ({res}, {self.meta.get('trained_kimg', '?')} kimg)"
            if self.kind == "demo"
            else f"{self.generator_path.name} ({res})",
            "weights": {"official": "official weights", "demo": "demo bundle", "custom": "custom weights"}[self.kind],
            "predictor": self.predictor_name,
            "encoder": self.encoder_name,
            "segmenter": self.segmenter_label,
            "tau": f"τ {self.tau_scale.default:g} on {self.tau_scale.metric}",
        }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads)"


def _locate(name: str, dirs: list[Path] | None) -> Path | None:
    """A registry entry's file (`sam_editor.weights`), searched in `dirs` or the default places."""
    from .. import weights

    if dirs is None:
        return weights.locate(name)
    e = weights.get(name)
    return _first_file(dirs, (e.filename,), (e.subdir, ""))


def _first_file(dirs: list[Path], names: tuple[str, ...], subdirs: tuple[str, ...] = ("",)) -> Path | None:
    for d in dirs:
        for sub in subdirs:
            for n in names:
                p = d / sub / n
                if p.is_file():
                    return p
    return None


def _demo_dir(weights_dirs: list[Path] | None) -> Path:
    """`<dir>/demo` of the first weights folder that has a demo generator; by default the demo
    bundle's own folder (`sam_editor.demo.bundle.bundle_dir`, `$SAM_EDITOR_DEMO_BUNDLE`)."""
    from ..demo.bundle import bundle_dir

    if weights_dirs is None:
        return bundle_dir()
    found = _first_file(weights_dirs, ("generator.pt",), ("demo",))
    return found.parent if found is not None else weights_dirs[0] / "demo"


def load_bundle(
    weights_dirs: list[Path] | None = None,
    generator: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    ganspace_samples: int | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Bundle | Problem:
    """The official car bundle when its generator is on disk, else the demo bundle in
    `<weights>/demo/` (or the generator file given). Missing optional parts become notes."""
    from ..gan.checkpoints import load_generator_any
    from ..gan.native import CheckpointError
    from ..inversion.settings import InversionSettings
    from ..invertibility.predictor import load_predictor
    from ..runtime import default_device

    dev = torch.device(device) if device is not None else default_device()
    notes: list[str] = []
    if generator is not None:
        gen_path, kind = Path(generator), "custom"
    elif (official := _locate("stylegan2-car", weights_dirs)) is not None:
        gen_path, kind = official, "official"
    else:
        gen_path, kind = _demo_dir(weights_dirs) / "generator.pt", "demo"
        notes.append(FETCH_HINT)
    cache = Path(cache_dir) if cache_dir is not None else _user_cache_dir()
    try:
        G, meta = load_generator_any(gen_path, cache_dir=cache / "generators", map_location=dev)
    except (CheckpointError, OSError, ValueError, RuntimeError) as exc:
        return Problem("Could not load the generator", str(exc))
    predictor, predictor_name = None, "none"
    if kind == "official":
        pred_path = _locate("invertibility-cars", weights_dirs)
    else:  # the demo bundle's predictor (or one beside a custom generator)
        pred_path = _first_file([gen_path.parent], DEMO_PREDICTOR_FILES)
    if pred_path is not None:
        try:
            predictor, predictor_name = load_predictor(pred_path, device=dev), pred_path.name
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            notes.append(f"Invertibility predictor {pred_path.name} could not be loaded ({exc}); segments start in W+.")
    else:
        notes.append("No invertibility predictor found: every segment starts in W+; set layers by hand.")
    encoder, encoder_name = None, "none"
    if kind == "official":  # the SAM authors' e4e for cars (W+ start point, as the official code)
        enc_path = _locate("e4e-cars", weights_dirs)
    else:
        enc_path = _first_file([gen_path.parent], DEMO_ENCODER_FILES)
    if enc_path is not None:
        from ..inversion.encoder import EncoderError, load_encoder

        try:
            encoder, encoder_name = load_encoder(enc_path, device=dev, G=G), enc_path.name
        except (EncoderError, OSError, KeyError, RuntimeError) as exc:
            notes.append(f"Encoder {enc_path.name} could not be loaded ({exc}); inversions start from the mean w.")
    segmenter, tau_scale = _segmenter_and_tau(
        kind, gen_path.parent, pred_path if predictor is not None else None, notes, weights_dirs, dev
    )
    return Bundle(
        G=G,
        encoder=encoder,
        encoder_name=encoder_name,
        meta=meta,
        generator_path=gen_path,
        generator_id=sha256_file(gen_path)[:32],
        kind=kind,
        predictor=predictor,
        predictor_name=predictor_name,
        segmenter=segmenter,
        device=dev,
        notes=notes,
        tau=tau_scale.default,
        tau_scale=tau_scale,
        inversion_settings=InversionSettings(),
        ganspace_samples=ganspace_samples or 1_000_000,
        cache_dir=cache / "ganspace",
        presets_dir=_user_data_dir() / "presets",
        clip_which="demo" if kind == "demo" else "auto",
        clip_dir=gen_path.parent / "clip" if kind == "demo" else None,
        weights_dirs=weights_dirs,
        predictor_path=pred_path if predictor is not None else None,
    )


DEMO_SEGMENTER_FILE = "segmenter.pt"


def _segmenter_and_tau(
    kind: str,
    directory: Path,
    pred_path: Path | None,
    notes: list[str],
    weights_dirs: list[Path] | None = None,
    device: torch.device | None = None,
) -> tuple[Any, Any]:
    """The bundle's segmenter and τ scale (issue 35). The demo bundle (or a custom generator's
    folder) uses its semantic `segmenter.pt` when present (else the over-segmentation) and the τ
    calibration `tau.json` beside its predictor (else the paper's LPIPS-VGG scale). The official
    bundle uses the ADE20k SegFormer as the official code uses an ADE20k parser (else DeepLabV3-VOC,
    else the over-segmentation, named in the notes) and keeps the paper's τ = 0.225 on LPIPS-VGG."""
    from ..invertibility.latent_map import LPIPS_TAU, TAU_FILE, read_tau_scale
    from ..invertibility.segmenters import SegmenterFileError, make_segmenter

    segmenter = None
    if kind == "official":
        from ..invertibility.ade20k import official_segmenter

        segmenter, why = official_segmenter(weights_dirs, device or "cpu")
        notes.extend(why)
    seg_path = directory / DEMO_SEGMENTER_FILE
    if kind != "official" and seg_path.is_file():
        try:
            segmenter = make_segmenter("carworld", seg_path, device=str(device or "cpu"))
        except SegmenterFileError as exc:
            notes.append(f"Segmenter {seg_path.name} could not be loaded ({exc}); using the over-segmentation.")
    if segmenter is None:
        segmenter = make_segmenter("overseg")
    tau_scale = LPIPS_TAU
    tau_path = (pred_path.parent if pred_path is not None else directory) / TAU_FILE
    if kind != "official" and tau_path.is_file():
        try:
            tau_scale = read_tau_scale(tau_path)
        except ValueError as exc:
            notes.append(f"{exc}; τ uses the LPIPS-VGG default {LPIPS_TAU.default}.")
    return segmenter, tau_scale


def _user_data_dir() -> Path:
    env = os.environ.get("SAM_EDITOR_DATA")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("sam-editor"))


def _user_cache_dir() -> Path:
    env = os.environ.get("SAM_EDITOR_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("sam-editor"))
