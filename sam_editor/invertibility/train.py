"""Training of the invertibility predictor S (paper eq. 3.2): ℓ2 regression of e_l per space.

``train_predictor`` fits a :class:`TinyInvertibilityNet` on the ``.npz`` targets written by
:func:`sam_editor.invertibility.data.generate_targets` with Adam, reports progress through
``on_step(step, total, {"loss": …}, None)`` (the job contract of `sam_editor.util`), stops cleanly when ``should_stop()`` turns true, checkpoints to
``<out>.ckpt`` (and resumes from it) and finally evaluates on held-out images against a constant
predictor (the per-space mean of the training targets). The heads are named after the spaces the
targets were made for (StyleGAN2's W+ … F10, or a generator family's, e.g. BigGAN-deep's Z+, F2).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from sam_editor.invertibility.data import ErrorMapDataset, list_targets, split_files, target_spaces
from sam_editor.invertibility.pipeline import latent_map_for_image
from sam_editor.invertibility.predictor import (
    InvertibilityPredictor,
    TinyInvertibilityNet,
    predict,
    save_predictor,
)

from ..util import OnStep, ShouldStop, atomic_write

__all__ = [
    "TrainResult",
    "train_predictor",
    "evaluate_predictor",
    "constant_prediction",
    "predict",
    "latent_map_for_image",
]



@dataclass
class TrainResult:
    """Summary of a :func:`train_predictor` run (MSE = mean squared error of e_l, eq. 3.2)."""

    out_path: str
    steps_done: int
    total_steps: int
    stopped: bool
    final_loss: float
    val_mse: float
    const_mse: float
    per_space: dict[str, dict[str, float]] = field(default_factory=dict)
    num_train: int = 0
    num_val: int = 0

    @property
    def improvement(self) -> float:
        """Held-out MSE of the constant predictor divided by that of S (> 1 means S is better)."""
        return self.const_mse / self.val_mse if self.val_mse > 0 else math.inf


def constant_prediction(dataset: ErrorMapDataset) -> torch.Tensor:
    """Per-space mean of the targets, shape (S,) — the baseline constant predictor."""
    total = torch.zeros((), dtype=torch.float64)
    count = 0
    for i in range(len(dataset)):
        _, target = dataset[i]
        total = total + target.double().sum((1, 2))
        count += target.shape[1] * target.shape[2]
    return (total / max(count, 1)).float()


@torch.no_grad()
def evaluate_predictor(model: InvertibilityPredictor, dataset: ErrorMapDataset, constant: torch.Tensor) -> dict:
    """Held-out MSE of ``model`` and of the constant predictor, overall and per space."""
    was_training = model.training
    model.eval()
    names = model.space_names
    se_model = torch.zeros(len(names), dtype=torch.float64)
    se_const = torch.zeros(len(names), dtype=torch.float64)
    n = 0
    for i in range(len(dataset)):
        image, target = dataset[i]
        pred = model(image[None])[0]
        se_model += ((pred - target) ** 2).double().sum((1, 2))
        se_const += ((constant.view(-1, 1, 1) - target) ** 2).double().sum((1, 2))
        n += target.shape[1] * target.shape[2]
    model.train(was_training)
    n = max(n, 1)
    per_space = {s: {"mse": float(se_model[j] / n), "const_mse": float(se_const[j] / n)} for j, s in enumerate(names)}
    return {
        "mse": float(se_model.sum() / (n * len(names))),
        "const_mse": float(se_const.sum() / (n * len(names))),
        "per_space": per_space,
    }


def _checkpoint_path(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + ".ckpt")


def _save_checkpoint(
    path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, step: int, gen: torch.Generator, extra: dict
) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "step": step,
        "generator": gen.get_state(),
        **extra,
    }
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def train_predictor(
    data_dir: str | Path,
    out_path: str | Path,
    steps: int = 2000,
    *,
    batch_size: int = 8,
    lr: float = 1e-3,
    val_fraction: float = 0.1,
    width: int = 16,
    input_size: Sequence[int] | None = (128, 128),
    seed: int = 0,
    checkpoint_every: int = 200,
    resume: bool = True,
    hflip: bool = True,
    device: str | torch.device = "cpu",
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    meta: dict[str, Any] | None = None,
) -> TrainResult:
    """Fit S_l for every space of the targets (shared backbone, one head each) by ℓ2 regression (eq. 3.2).

    ``data_dir`` holds ``.npz`` targets, all made for the same spaces; ``out_path`` receives the
    trained predictor (format of :func:`save_predictor`, with the evaluation and ``meta`` — e.g. the
    generator it was trained for — in its metadata) plus ``<out>.eval.json``.  A run that was
    stopped (``should_stop``) or killed resumes from ``<out>.ckpt`` when ``resume``.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    files = list_targets(data_dir)
    if not files:
        raise FileNotFoundError(f"no training targets (*.npz) in {data_dir}")
    spaces = {target_spaces(f) for f in files}
    if len(spaces) != 1:
        raise ValueError(f"the targets in {data_dir} were made for different spaces: {sorted(spaces)}")
    space_names = spaces.pop()
    train_files, val_files = split_files(files, val_fraction, seed)
    size = None if input_size is None else (int(input_size[0]), int(input_size[1]))
    train_set = ErrorMapDataset(train_files, size)
    val_set = ErrorMapDataset(val_files, size) if val_files else train_set
    constant = constant_prediction(train_set)

    torch.manual_seed(seed)
    model = TinyInvertibilityNet(width, size, space_names).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    step = 0
    ckpt_path = _checkpoint_path(out_path)
    if resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        same_spaces = ckpt.get("spaces", list(space_names)) == list(space_names)
        if ckpt.get("width") == width and ckpt.get("input_size") == (list(size) if size else None) and same_spaces:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            gen.set_state(ckpt["generator"])
            step = int(ckpt["step"])
    extra = {"width": width, "input_size": list(size) if size else None, "spaces": list(space_names)}

    model.train()
    loss_value = float("nan")
    stopped = False
    order = torch.empty(0, dtype=torch.long)
    n = len(train_set)
    bs = max(1, min(batch_size, n))
    while step < steps:
        if should_stop is not None and should_stop():
            stopped = True
            break
        if order.numel() < bs:
            order = torch.cat([order, torch.randperm(n, generator=gen)])
        idx, order = order[:bs], order[bs:]
        images, targets = train_set.batch(idx.tolist())
        if hflip and torch.rand((), generator=gen) < 0.5:
            images, targets = images.flip(-1), targets.flip(-1)
        images, targets = images.to(device), targets.to(device)
        loss = F.mse_loss(model(images), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        loss_value = float(loss.detach())
        if on_step is not None:
            on_step(step, steps, {"loss": loss_value}, None)
        if checkpoint_every > 0 and step % checkpoint_every == 0 and step < steps:
            _save_checkpoint(ckpt_path, model, opt, step, gen, extra)

    if stopped:
        _save_checkpoint(ckpt_path, model, opt, step, gen, extra)
    model.eval()
    report = evaluate_predictor(model, val_set, constant.to(device))
    result = TrainResult(
        out_path=str(out_path),
        steps_done=step,
        total_steps=steps,
        stopped=stopped,
        final_loss=loss_value,
        val_mse=report["mse"],
        const_mse=report["const_mse"],
        per_space=report["per_space"],
        num_train=len(train_files),
        num_val=len(val_files),
    )
    if not stopped:
        _save_checkpoint(ckpt_path, model, opt, step, gen, extra)
        info = {**(meta or {}), "train": asdict(result), "constant": constant.tolist(), "data_dir": str(data_dir)}
        save_predictor(model.cpu(), out_path, info)
        out_path.with_suffix(".eval.json").write_text(json.dumps(asdict(result), indent=2))
    return result
