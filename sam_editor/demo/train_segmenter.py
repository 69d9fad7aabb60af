"""Train the demo bundle's semantic segmenter (`invertibility.segmenters.CarWorldSegmenter`).

The paper refines the predicted invertibility per segment of a *semantic* segmentation (§3.1,
"one object, one latent space"; the official code uses an ADE20k HRNet). The demo bundle's
generator draws a procedural car world whose renderer knows every pixel's class
(`carworld.render_with_classes`: sky, vegetation, ground, road, car) and the clutter pipeline knows
where it pasted something (`clutter.cluttered_scene`: clutter). This module trains a small U-Net
on those labels:

- every batch is fresh: renders from a seed stream of its own (`numpy` seed sequence
  ``[seed, step]``, never the integer seeds of the eval sets), 0–4 clutter items each (fences,
  shrubs, signs, text, poles and procedural textures — not photo crops, which would teach that
  real car paint is clutter);
- geometry: random rescale (0.75–1.35) and crop to ``crop`` px, horizontal flip, and in one
  image of three a vertical squash + edge-replicated padding, as `imageio.letterbox` gives a
  landscape photo;
- photometry, so that it does something sensible on real photos: brightness, contrast, gamma,
  saturation, hue, white balance, a smooth illumination field, blur, sensor noise, JPEG.

Loss: cross-entropy. Resumable: the state (model, optimiser, step, elapsed time) is saved every
minute and on stop; a rerun continues. The exported file is float16 (a few hundred kB) with its
per-class IoU on held-out renders (seed ``eval_seed``) in the metadata.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..invertibility.segmenters import CarWorldSegNet, save_carworld_segmenter
from ..util import OnStep, ShouldStop, atomic_write
from . import carworld
from .clutter import cluttered_scene

DRAWN_CLUTTER = ("fence", "shrub", "sign", "text", "pole", "texture")


@dataclasses.dataclass(frozen=True)
class SegmenterTraining:
    steps: int = 3000
    batch: int = 8
    crop: int = 96
    size: int = 128  # render size (the generator's resolution)
    lr: float = 3e-3
    widths: tuple[int, ...] = (12, 16, 24, 32, 48)
    seed: int = 31
    eval_seed: int = 9_100_000
    eval_images: int = 64
    save_every_s: float = 60.0


# ----------------------------------------------------------------------------- data


def _photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour and sensor augmentation of one uint8 RGB image."""
    x = img.astype(np.float32) / 255.0
    if rng.uniform() < 0.8:  # saturation and hue
        hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-18, 18)) % 360.0
        hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.3, 1.5), 0, 1)
        x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    x = x * rng.uniform(0.85, 1.15, 3).astype(np.float32)  # white balance
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.6, 1.4) + mean * rng.uniform(0.6, 1.4)  # contrast, brightness
    if rng.uniform() < 0.5:  # smooth illumination field (shade, vignetting, reflections)
        field = cv2.resize(rng.uniform(0.7, 1.3, (3, 3)).astype(np.float32), x.shape[1::-1], interpolation=cv2.INTER_CUBIC)
        x = x * field[..., None]
    x = np.clip(x, 0, 1) ** rng.uniform(0.7, 1.4)
    if rng.uniform() < 0.3:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 1.2))
    x = x + rng.normal(0, rng.uniform(0, 0.035), x.shape).astype(np.float32)
    out = np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)
    if rng.uniform() < 0.3:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else out
    return out


def _geometric(img: np.ndarray, cls: np.ndarray, rng: np.random.Generator, crop: int) -> tuple[np.ndarray, np.ndarray]:
    size = img.shape[0]
    if rng.uniform() < 0.33:  # a landscape photo letterboxed into the square frame
        h = int(round(size * rng.uniform(0.55, 0.85)))
        top = int(rng.integers(0, size - h + 1))
        img = cv2.resize(img, (size, h), interpolation=cv2.INTER_AREA)
        cls = cv2.resize(cls, (size, h), interpolation=cv2.INTER_NEAREST)
        pad = (top, size - h - top, 0, 0)
        img = cv2.copyMakeBorder(img, *pad, cv2.BORDER_REPLICATE)
        cls = cv2.copyMakeBorder(cls, *pad, cv2.BORDER_REPLICATE)
    s = max(rng.uniform(0.75, 1.35), crop / size)
    n = int(round(size * s))
    img = cv2.resize(img, (n, n), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    cls = cv2.resize(cls, (n, n), interpolation=cv2.INTER_NEAREST)
    y, x = int(rng.integers(0, n - crop + 1)), int(rng.integers(0, n - crop + 1))
    img, cls = img[y : y + crop, x : x + crop], cls[y : y + crop, x : x + crop]
    if rng.uniform() < 0.5:
        img, cls = img[:, ::-1], cls[:, ::-1]
    return np.ascontiguousarray(img), np.ascontiguousarray(cls)


def training_batch(step: int, cfg: SegmenterTraining) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch `step` of the training stream: ((B, 3, crop, crop) float in [0, 1], (B, crop, crop) long)."""
    rng = np.random.default_rng([cfg.seed, step])
    imgs, labels = [], []
    for _ in range(cfg.batch):
        img, cls, _ = cluttered_scene(rng, cfg.size, clutter=rng.uniform() < 0.9, count=(1, 4))
        img, cls = _geometric(img, cls, rng, cfg.crop)
        imgs.append(_photometric(img, rng))
        labels.append(cls)
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div_(255.0)
    return x, torch.from_numpy(np.stack(labels).astype(np.int64))


def heldout_set(n: int, seed: int, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """n cluttered renders never used in training (integer seed `seed`): (images, class maps)."""
    rng = np.random.default_rng(seed)
    pairs = [cluttered_scene(rng, size)[:2] for _ in range(n)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def per_class_iou(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> list[float]:
    """Intersection over union per class over all pixels (NaN where a class never occurs)."""
    out = []
    for k in range(num_classes):
        p, t = pred == k, truth == k
        union = (p | t).sum()
        out.append(float((p & t).sum() / union) if union else float("nan"))
    return out


def evaluate(model: torch.nn.Module, images: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Per-class IoU and pixel accuracy of `model` on (N, H, W, 3) uint8 images."""
    model.eval()
    with torch.inference_mode():
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)
        pred = torch.cat([model(x[i : i + 16]).argmax(1) for i in range(0, len(x), 16)]).numpy()
    model.train()
    iou = per_class_iou(pred, truth, len(carworld.CLASSES))
    return {
        "iou": {c: round(v, 4) for c, v in zip(carworld.CLASSES, iou, strict=True)},
        "mean_iou": round(float(np.nanmean(iou)), 4),
        "pixel_accuracy": round(float((pred == truth).mean()), 4),
    }


# ----------------------------------------------------------------------------- training


def train_segmenter(
    work: Path,
    out: Path,
    cfg: SegmenterTraining,
    device: torch.device,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    max_seconds: float | None = None,
) -> dict[str, Any]:
    """Train (or resume from `work`/state.pt) and export to `out`. → figures for the manifest."""
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / "state.pt"
    model = CarWorldSegNet(len(carworld.CLASSES), cfg.widths).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step, elapsed, cpu = 0, 0.0, 0.0
    if state_path.is_file():
        st = torch.load(state_path, map_location=device, weights_only=True)
        if st.get("config") != model.config():
            raise ValueError(f"{state_path} holds another architecture {st.get('config')}; use another --work-dir")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, elapsed, cpu = int(st["step"]), float(st["elapsed_s"]), float(st.get("cpu_s", 0.0))

    def save() -> None:
        blob = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed_s": elapsed,
                "cpu_s": cpu_base + time.process_time() - c_start, "config": model.config()}
        atomic_write(state_path, lambda p: torch.save(blob, p))

    t_start, t_saved, loss_avg = time.perf_counter(), time.perf_counter(), None
    base_elapsed, cpu_base, c_start = elapsed, cpu, time.process_time()
    model.train()
    while step < cfg.steps:
        if should_stop is not None and should_stop():
            break
        if max_seconds is not None and time.perf_counter() - t_start > max_seconds:
            break
        lr = cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = training_batch(step, cfg)
        loss = F.cross_entropy(model(x.to(device)), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        elapsed = base_elapsed + time.perf_counter() - t_start
        loss_avg = float(loss) if loss_avg is None else 0.98 * loss_avg + 0.02 * float(loss)
        if on_step is not None:
            on_step(step, cfg.steps, {"loss": round(loss_avg, 4)}, None)
        if time.perf_counter() - t_saved > cfg.save_every_s:
            save()
            t_saved = time.perf_counter()
    save()
    images, truth = heldout_set(cfg.eval_images, cfg.eval_seed, cfg.size)
    figures = {
        "steps": step,
        "total_steps": cfg.steps,
        "training_minutes": round(elapsed / 60, 1),  # wall clock (a shared machine: see cpu_minutes)
        "cpu_minutes": round((cpu_base + time.process_time() - c_start) / 60, 1),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "loss": None if loss_avg is None else round(loss_avg, 4),
        "classes": list(carworld.CLASSES),
        "heldout": f"{cfg.eval_images} cluttered renders, seed {cfg.eval_seed} (procedural clutter, no augmentation)",
        **evaluate(model.cpu(), images, truth),
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()},
    }
    model.to(device)
    save_carworld_segmenter(model.cpu(), out, carworld.CLASSES, meta=figures, work_size=cfg.size)
    figures["size_kb"] = round(out.stat().st_size / 1024, 1)
    return figures
