"""SAM's latent map for a generator family (BigGAN-deep's Z+ / F2), for the CLI and the window, Qt-free.

* **Predicted** (paper §3.1–3.2) when the generator has a trained predictor (`invertibility.pt`
  beside its weights, or a file given): S_l(x) for l ∈ Φ, refined over the segments, thresholded
  at τ (`invertibility.family.predicted_latent_map`). One network pass: milliseconds.
* **Measured** — the clearly-labelled fallback where there is none: invert in the rows space
  first (a quarter of the steps), and refine and threshold *that* per-pixel error the same way
  (`inversion.family.rows_space_error` → `invertibility.family.latent_map_from_errors`).

And the predictor's training for a family (`train_family_predictor`, `sam-editor train-predictor`):
images the generator renders and the same images with clutter it cannot render (the demo's
`add_clutter`, photo patches when photos are given) plus any photos, inverted in every space of
Φ for the targets e_l, then `invertibility.train.train_predictor` with the generator's identity
in the predictor's metadata.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..invertibility.family import MSE_TAU, PREDICTOR_FILE, load_family_predictor, predictor_beside
from ..util import OnStep, ShouldStop

MEASURED_STEPS_SHARE = 4  # the measured map's rows-space inversion runs steps // 4


@dataclass
class FamilyMap:
    """A latent map of feature-space masks and where it came from."""

    masks: dict[str, torch.Tensor]  # feature space name → bool (N, 1, H, W); the rest is the rows space
    source: str  # 'predicted' or 'measured'
    note: str  # one line for the CLI / the window's status
    seconds: float
    segment_errors: list[np.ndarray] = field(default_factory=list)  # per image (K, S): the refined e_l

    def share(self, name: str | None = None) -> float:
        """Share of the pixels in feature space `name` (default: the first one)."""
        m = self.masks[name] if name is not None else next(iter(self.masks.values()))
        return float(m.float().mean())


def weights_folder(meta: dict) -> Path | None:
    """The folder of a loaded generator's weights (`load_conditioned`'s meta), if it has one."""
    path = meta.get("path")
    return None if not path else Path(str(path)).parent


def find_predictor(G: Any, meta: dict, explicit: str | Path | None = None, device: str = "cpu") -> tuple[Any, str]:
    """(the family predictor for G, a note) — or (None, why not) where the measured map must serve.

    `explicit`: a predictor file the user named; one that does not fit G raises ValueError (the
    user asked for it). Otherwise `invertibility.pt` beside G's weights; one trained for other
    weights or spaces is passed over with its reason in the note."""
    if explicit is not None:
        return load_family_predictor(explicit, G, device), f"predictor {Path(explicit).name}"
    folder = weights_folder(meta)
    path = predictor_beside(folder) if folder is not None else None
    if path is None or not path.is_file():
        return None, f"no invertibility predictor for this generator ({PREDICTOR_FILE} beside its weights)"
    try:
        return load_family_predictor(path, G, device), f"predictor {path.name} beside the weights"
    except (ValueError, OSError) as exc:
        return None, f"{PREDICTOR_FILE} beside the weights not used: {exc}"


def measured_errors(
    G: Any,
    images: torch.Tensor,  # (N, 3, H_out, W_out) in [-1, 1]
    settings: Any,
    *,
    valid: torch.Tensor | np.ndarray | None = None,
    seed: int = 0,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
) -> tuple[np.ndarray, Any]:
    """e_l as far as it is measured, (N, S, H, W) for G's S spaces: the rows space's per-pixel
    error (`rows_space_error`) and 0 for the feature spaces, which are not measured — a segment
    the rows space cannot reach goes to the first of them. → (errors, the rows-space inversion)."""
    from ..inversion.family import rows_space_error

    err, res = rows_space_error(G, images, settings, valid=valid, seed=seed, on_step=on_step,
                                should_stop=should_stop)  # (N, 1, H, W)  # fmt: skip
    others = np.zeros((err.shape[0], len(G.spaces) - 1, *err.shape[-2:]), np.float32)
    return np.concatenate([err.numpy(), others], axis=1), res


def measured_latent_map(
    G: Any,
    images: torch.Tensor,  # (N, 3, H_out, W_out) in [-1, 1]
    segments: np.ndarray,  # (N | 1, H_out, W_out) int segment ids
    tau: float,
    settings: Any,
    *,
    valid: torch.Tensor | np.ndarray | None = None,
    seed: int = 0,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
) -> tuple[dict[str, torch.Tensor], Any]:
    """The map from *measured* invertibility (§3.2's rule with the rows space's measured error in
    place of S_l's prediction): invert in the rows space, refine its per-pixel error over the
    segments (`latent_map_from_errors`), segments above τ go to the first feature space.
    → ({name: bool mask (N, 1, H, W)}, the rows-space inversion). `on_step` / `should_stop` are
    the rows-space inversion's (a stop measures with the best rows so far)."""
    from ..invertibility.family import latent_map_from_errors

    errors, res = measured_errors(G, images, settings, valid=valid, seed=seed, on_step=on_step, should_stop=should_stop)
    return latent_map_from_errors(G, errors, segments, tau, valid)[0], res


def family_latent_map(
    G: Any,
    images: torch.Tensor,  # (N, 3, H, W) in [-1, 1]
    segments: np.ndarray,  # (N | 1, H, W)
    tau: float,
    settings: Any,  # InversionSettings of the SAM inversion (the measured map takes a quarter of its steps)
    *,
    predictor: Any = None,
    why_not: str = "",
    valid: torch.Tensor | np.ndarray | None = None,
    seed: int = 0,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
) -> FamilyMap:
    """Predicted map when `predictor` is given, else the measured one (its note says which and why;
    `on_step` / `should_stop` follow the measuring inversion, steps 1 … settings.steps // 4)."""
    from ..invertibility.family import latent_map_from_errors, predicted_latent_map

    t0 = time.perf_counter()
    k = int(np.asarray(segments).max()) + 1
    if predictor is not None:
        masks, means = predicted_latent_map(G, predictor, images, segments, tau, valid)
        fmap = FamilyMap(masks, "predicted", "", 0.0, means)
        fmap.note = f"predicted invertibility ({G.spaces[0].name} error, MSE) over {k} segments, τ = {tau:g}"
    else:
        steps = max(1, settings.steps // MEASURED_STEPS_SHARE)
        errors, _ = measured_errors(G, images, settings.replace(steps=steps), valid=valid, seed=seed, on_step=on_step,
                                    should_stop=should_stop)  # fmt: skip
        masks, means = latent_map_from_errors(G, errors, segments, tau, valid)
        fmap = FamilyMap(masks, "measured", "", 0.0, means)
        reason = f" ({why_not})" if why_not else ""
        fmap.note = (f"measured {G.spaces[0].name} error ({steps} steps) over {k} segments, τ = {tau:g} — fallback: "
                     f"no predictor{reason}")  # fmt: skip
    fmap.seconds = time.perf_counter() - t0
    name = next(iter(masks))
    fmap.note += f", {fmap.share(name):.0%} in {name}"
    return fmap


# ---- training the family's predictor ----------------------------------------------------------
def training_images(
    G: Any, out_dir: str | Path, n: int, seed: int = 0, photo_paths: Sequence[str | Path] = (), hard_share: float = 0.5
) -> list[Path]:
    """n renders of G (its bound class, z from its prior) as PNGs; the last `hard_share` of them
    with `demo.clutter.add_clutter` drawn over them (fences, signs, text, textures, patches of
    `photo_paths`), which G cannot render. Resumable: existing files are kept."""
    import cv2

    from ..demo.clutter import add_clutter
    from ..inversion.images import tensor_to_rgb8

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_hard = int(round(n * hard_share))
    paths = [out / (f"render_{i:05d}.png" if i < n - n_hard else f"clutter_{i:05d}.png") for i in range(n)]
    if all(p.is_file() for p in paths):
        return paths
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        x = torch.cat([G(z) for z in G.sample_z(n, seed=seed).split(16)])
    for i, p in enumerate(paths):
        rgb = tensor_to_rgb8(x[i])
        if i >= n - n_hard:
            rgb, _ = add_clutter(rgb, rng, photo_paths=[str(q) for q in photo_paths])
        if not cv2.imwrite(str(p), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {p}")
    return paths


@dataclass
class FamilyTraining:
    """What `train_family_predictor` makes and measures."""

    out: Path
    images: int
    targets_written: int
    result: Any  # invertibility.train.TrainResult


def train_family_predictor(
    G: Any,
    meta: dict,
    work_dir: str | Path,
    out: str | Path,
    *,
    n_images: int = 200,
    inversion_steps: int = 200,
    train_steps: int = 2000,
    photos: Sequence[str | Path] = (),
    seed: int = 0,
    width: int = 16,
    batch_size: int = 8,
    lr: float = 1e-3,
    val_fraction: float = 0.1,
    settings: Any = None,
    on_targets: OnStep | None = None,
    on_train: OnStep | None = None,
    should_stop: ShouldStop | None = None,
) -> FamilyTraining:
    """Targets e_l for G's spaces (eq. 3.1 with `squared_error_map`) on renders, cluttered renders
    and `photos` (letterboxed into the frame), then S_l by ℓ2 regression (eq. 3.2). Resumable
    like StyleGAN2's: finished targets are skipped, training resumes from `<out>.ckpt`."""
    from ..inversion.family import family_reconstructor
    from ..inversion.settings import InversionSettings
    from ..invertibility.data import generate_targets
    from ..invertibility.family import predictor_meta, squared_error_map
    from ..invertibility.train import train_predictor

    work = Path(work_dir)
    settings = settings or InversionSettings(steps=inversion_steps, lambda_lpips=0.0)
    images = training_images(G, work / "images", n_images, seed, photos) + [Path(p) for p in photos]
    device = G.mean_w_plus(1).device
    report = generate_targets(images, work / "targets", family_reconstructor(G, settings, seed), squared_error_map,
                              size=tuple(G.cfg.output_size), batch_size=batch_size, device=device, on_step=on_targets,
                              should_stop=should_stop, spaces=G.spaces)  # fmt: skip
    if should_stop is not None and should_stop():  # a rerun resumes with the targets written so far
        return FamilyTraining(Path(out), len(images), len(report.written), None)
    info = predictor_meta(G, str(meta.get("generator", "")), meta.get("class_index"))
    info["targets"] = {"images": len(images), "photos": len(photos), "inversion_steps": settings.steps, "seed": seed}
    result = train_predictor(work / "targets", out, train_steps, batch_size=batch_size, lr=lr, val_fraction=val_fraction,
                             width=width, input_size=tuple(G.cfg.output_size), seed=seed, on_step=on_train,
                             should_stop=should_stop, meta=info)  # fmt: skip
    return FamilyTraining(Path(out), len(images), len(report.written), result)


def default_tau(tau: float | None) -> float:
    """τ on the family map's scale (`MSE_TAU`, the same for predicted and measured maps)."""
    return MSE_TAU.default if tau is None else float(tau)
