"""Train the demo bundle's SAM encoder (`sam_editor.inversion.encoder`) for the demo generator.

Training pairs, half and half per batch:
- cluttered car-world renders (what the generator cannot make) with their *predicted* latent
  maps (segmenter + invertibility predictor, cached per image), re-thresholded at a random τ
  so the encoder serves every position of the τ slider; one in five gets an all-W+ map;
- generator samples G(w) (in-domain, w known), with an all-W+ map or a map borrowed from a
  render (the user may override any segment, so any map must give a sensible φ).
Loss: the inversion objective of eq. 3.8 on the encoder's φ̂ (L_rec of eq. 3.5, λ_F L_F of
eq. 3.7, the w+ spread of eq. 3.6), plus ‖ŵ − w‖² on generator samples, whose w is known.
Resumable: the state (model, optimiser, step, RNG) is saved every few minutes and on stop. A
fresh checkout has no run state but ships the bundle's encoder file: training then continues
from that file's weights and step count (with a fresh optimiser), so the demo encoder can be
trained further session after session, like the demo generator.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..gan.networks import Generator
from ..inversion import latent_maps as lm
from ..inversion.encoder import (
    EncoderConfig,
    EncoderError,
    SAMEncoder,
    _ranks_in_frame,
    _to_frame,
    load_encoder,
    onehot_map,
    save_encoder,
)
from ..inversion.losses import loss_f, loss_rec, w_spread_term
from ..util import TAU_MAX, TAU_MIN, OnStep, ShouldStop, atomic_write


@dataclasses.dataclass(frozen=True)
class EncoderTraining:
    """Settings of the encoder's training objective (eq. 3.8 on φ̂ = E(x, m))."""

    steps: int = 4000
    batch: int = 8  # half renders, half generator samples
    lr: float = 5e-4
    lambda_mse: float = 1.0
    lambda_lpips: float = 1.0
    lambda_f: float = 5.0  # eq. 3.7, as in the optimisation
    lambda_w_spread: float = 1e-3  # eq. 3.6
    lambda_w_known: float = 0.5  # ‖ŵ − w‖² per row, generator samples only
    p_all_wplus: float = 0.2
    psi_range: tuple[float, float] = (0.5, 1.0)  # truncation of the generator samples
    save_every_s: float = 120.0


def prepare_pool(images_dir: Path, maps_file: Path, predictor, segmenter, on_step: OnStep | None = None) -> dict:
    """Latent-map ingredients (labels, per-segment errors) of every image in `images_dir`,
    cached in `maps_file` (resumable: images already there are not predicted again)."""
    import cv2

    from ..invertibility.pipeline import latent_map_for_image

    cache: dict = {}
    if maps_file.is_file():
        with np.load(maps_file, allow_pickle=False) as z:
            cache = {k: z[k] for k in z.files}
    files = sorted(images_dir.glob("img_*.png"))
    todo = [f for f in files if f"{f.stem}_labels" not in cache]
    for k, f in enumerate(todo):
        img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        m = latent_map_for_image(img, predictor, segmenter, keep_pixels=False)
        cache[f"{f.stem}_labels"] = m.labels.astype(np.int16)
        cache[f"{f.stem}_errors"] = m.segment_errors.astype(np.float32)
        if on_step is not None:
            on_step(k + 1, len(todo), {}, None)
        if (k + 1) % 200 == 0 or k + 1 == len(todo):
            atomic_write(maps_file, lambda tmp: np.savez(tmp, **cache))
    return cache


class Pool:
    """Training images (N, 3, H, W) in [-1, 1] with the ingredients of their latent maps:
    segment labels (H, W) and per-segment predicted errors (K, 5) of each."""

    def __init__(self, images: torch.Tensor, labels: Sequence[np.ndarray], errors: Sequence[np.ndarray]) -> None:
        if not len(images) == len(labels) == len(errors):
            raise ValueError("one label map and one error table per image")
        self.images = images
        self.labels = [np.asarray(v, np.int32) for v in labels]
        self.errors = [np.asarray(v, np.float64) for v in errors]

    @classmethod
    def load(cls, images_dir: Path, cache: dict) -> Pool:
        """The renders of `images_dir` with the maps `prepare_pool` cached for them."""
        import cv2

        files = sorted(images_dir.glob("img_*.png"))
        images = torch.stack(
            [torch.from_numpy(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)).permute(2, 0, 1) for f in files]
        ).float().div(127.5).sub(1.0)
        return cls(images, [cache[f"{f.stem}_labels"] for f in files], [cache[f"{f.stem}_errors"] for f in files])

    def __len__(self) -> int:
        return len(self.images)

    def ranks(self, k: int, tau: float) -> np.ndarray:
        from ..invertibility.latent_map import LatentMap

        return LatentMap(self.labels[k], self.errors[k], tau).space_map().astype(np.uint8)


def _sample_maps(pool: Pool, idx: Sequence[int], rng: np.random.Generator, cfg: EncoderTraining, size) -> np.ndarray:
    out = []
    for k in idx:
        if rng.random() < cfg.p_all_wplus:
            out.append(np.zeros(size, np.uint8))
        else:
            out.append(pool.ranks(int(k), float(rng.uniform(TAU_MIN, TAU_MAX))))
    return np.stack(out)


def _earlier_encoder(out: Path, G: Generator, cfg: EncoderConfig) -> SAMEncoder | None:
    """The encoder already at `out` when it is one of ours, for this generator, with this
    architecture (anything else is trained from scratch and replaced)."""
    if not out.is_file():
        return None
    try:
        earlier = load_encoder(out, G=G)
    except EncoderError:
        return None
    return earlier if isinstance(earlier, SAMEncoder) and earlier.cfg == cfg else None


def train_encoder(
    G: Generator,
    pool: Pool,
    run_dir: Path,
    out: Path,
    settings: EncoderTraining | None = None,
    perceptual=None,
    device: torch.device | str = "cpu",
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    max_seconds: float | None = None,
    heldout: int = 0,
    config: EncoderConfig | None = None,
) -> dict:
    """Train (or resume) E; write the bundle file `out` at the end. → figures for the manifest.
    The last `heldout` pool images are never trained on."""
    s = settings or EncoderTraining()
    dev = torch.device(device)
    G = G.to(dev).eval().requires_grad_(False)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / "encoder_state.pt"
    enc = SAMEncoder(config or EncoderConfig.for_generator(G), w_avg=G.mapping.w_avg).to(dev)
    opt = torch.optim.Adam(enc.parameters(), lr=s.lr, betas=(0.9, 0.99))
    step, seconds, history, resumed = 0, 0.0, [], None
    if state_path.is_file():
        st = torch.load(state_path, map_location=dev, weights_only=False)
        enc.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, seconds, history = st["step"], st["seconds"], st["history"]
        resumed = "run state"
    elif (earlier := _earlier_encoder(Path(out), G, enc.cfg)) is not None:
        enc.load_state_dict(earlier.state_dict())
        meta = getattr(earlier, "metadata", {})
        step, seconds = int(meta.get("steps", 0)), float(meta.get("train_seconds", 0.0))
        resumed = Path(out).name
    rng = np.random.default_rng(step + 12345)
    torch.manual_seed(step + 12345)
    n_train = len(pool) - heldout
    size = G.cfg.output_size
    half = s.batch // 2
    t_start, t_saved = time.perf_counter(), time.perf_counter()

    def save() -> None:
        blob = {"model": enc.state_dict(), "opt": opt.state_dict(), "step": step, "history": history[-2000:],
                "seconds": seconds + time.perf_counter() - t_start}
        atomic_write(state_path, lambda tmp: torch.save(blob, tmp))

    enc.train()
    while step < s.steps:
        if (should_stop is not None and should_stop()) or (
            max_seconds is not None and time.perf_counter() - t_start > max_seconds
        ):
            break
        idx = rng.integers(0, n_train, half)
        x_pool = pool.images[idx].to(dev)
        ranks_pool = _sample_maps(pool, idx, rng, s, size)
        with torch.no_grad():
            z = torch.randn(half, G.z_dim, device=dev)
            w = G.mapping(z)
            psi = torch.empty(half, 1, device=dev).uniform_(*s.psi_range)
            w = G.mapping.w_avg + psi * (w - G.mapping.w_avg)
            w_known = w[:, None].expand(-1, G.num_ws, -1)
            x_gen = G.synthesize(w_known, {}, {}, noise_mode="const").clamp(-1, 1)
        borrow = rng.integers(0, n_train, half)
        ranks_gen = _sample_maps(pool, borrow, rng, dataclasses.replace(s, p_all_wplus=0.5), size)
        x = torch.cat([x_pool, x_gen])
        ranks = np.concatenate([ranks_pool, ranks_gen])
        frame = _to_frame(G, x)
        w_hat, df_hat = enc(frame, onehot_map(_ranks_in_frame(G, ranks), G.cfg.resolution, dev))
        masks = lm.feature_masks(G, ranks, dev)
        delta_f = {i: df_hat[i] for i in masks if i in df_hat}
        x_hat = G.synthesize(w_hat, delta_f, {i: masks[i] for i in delta_f}, noise_mode="const").clamp(-1, 1)
        rec, parts = loss_rec(x, x_hat, perceptual, s.lambda_lpips if perceptual is not None else 0.0, s.lambda_mse)
        lf = loss_f(delta_f, n=x.shape[0]).to(rec.device) if delta_f else torch.zeros_like(rec)
        spread = w_spread_term(w_hat)
        known = (w_hat[half:] - w_known).pow(2).mean(dim=(1, 2))
        total = rec.mean() + s.lambda_f * lf.mean() + s.lambda_w_spread * spread.mean() + s.lambda_w_known * known.mean()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        step += 1
        entry = {"step": step, "total": float(total.detach()), "rec_render": float(rec[:half].detach().mean()), "rec_sample": float(rec[half:].detach().mean())}
        history.append(entry)
        if on_step is not None:
            on_step(step, s.steps, {"loss": entry["total"]}, None)
        if time.perf_counter() - t_saved > s.save_every_s:
            save()
            t_saved = time.perf_counter()
    save()
    enc.eval()
    total_seconds = seconds + time.perf_counter() - t_start
    figures = {
        "steps": step,
        "batch": s.batch,
        "images_seen": step * s.batch,
        "train_seconds": round(total_seconds, 1),
        "device": str(dev),
        "pool_images": n_train,
        "settings": dataclasses.asdict(s),
        "last_100_rec_render": float(np.mean([h["rec_render"] for h in history[-100:]])) if history else None,
        "last_100_rec_sample": float(np.mean([h["rec_sample"] for h in history[-100:]])) if history else None,
        "perceptual": None if perceptual is None else perceptual.name,
        "resumed_from": resumed,
    }
    save_encoder(enc, out, metadata=figures)
    (run_dir / "encoder_history.json").write_text(json.dumps(history[-2000:]))
    return figures
