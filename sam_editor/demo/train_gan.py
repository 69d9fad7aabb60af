"""Train the demo bundle's StyleGAN2 on the procedural car world — resumable across sessions.

StyleGAN2 recipe at small scale: non-saturating logistic loss, lazy R1 on reals, style
mixing, an EMA generator, Adam(lr 0.0025, β = (0, 0.99)). Path-length regularisation is left
out: it doubles the cost of a G step and matters little for a 0.5 M-parameter model.
The training state is written atomically every few minutes and on SIGINT/SIGTERM or when
a stop file appears, so a run can be ended at any time and resumed with the same command.
The state is kept on the CPU, so a run started on a GPU resumes on a laptop and back.

Real batches are seeded by (seed, step), so they do not depend on who renders them: the main
process on CPU (workers=0), or a pool of processes that renders ahead while a GPU trains
(rendering 1.5 ms per 128-px image is the bottleneck there, not the 0.5 M-parameter networks).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..gan.discriminator import Discriminator
from ..gan.native import atomic_torch_save, save_generator
from ..gan.networks import Generator, GeneratorConfig
from .pipeline import prefetch, to_cpu

DEMO_G = GeneratorConfig(resolution=128, z_dim=128, w_dim=128, mapping_layers=4, channel_base=2048, channel_max=64)


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    batch: int = 16
    lr: float = 0.0025
    r1_gamma: float = 0.2  # NVIDIA's heuristic 2e-4 · res² / batch at 128 px, batch 16
    r1_interval: int = 16
    mixing_prob: float = 0.9
    ema_kimg: float = 5.0  # 10 kimg per 32 images, scaled to batch 16
    ema_rampup: float = 0.05
    checkpoint_minutes: float = 5.0
    seed: int = 0


SampleReals = Callable[[np.random.Generator, int], torch.Tensor]  # (rng, N) → (N, 3, R, R) in [-1, 1]


def batch_rng(seed: int, step: int) -> np.random.Generator:
    """The random stream of real batch `step`: the same wherever and in whichever order it is drawn."""
    return np.random.default_rng([seed, step])


def _real_batch(sample_reals: SampleReals, n: int, seed: int, step: int) -> torch.Tensor:
    return sample_reals(batch_rng(seed, step), n)


def real_batches(sample_reals: SampleReals, n: int, seed: int, start_step: int, workers: int = 0) -> Iterator[torch.Tensor]:
    """Real batches start_step, start_step + 1, …; with workers > 0 rendered ahead in that many
    spawned processes (`sample_reals` must then be a module-level function or a partial of one)."""
    return prefetch(functools.partial(_real_batch, sample_reals, n, seed), start_step, workers)


class GanTrainer:
    def __init__(
        self,
        g_cfg: GeneratorConfig = DEMO_G,
        settings: TrainSettings = TrainSettings(),
        device: str | torch.device = "cpu",
    ):
        self.s = settings
        self.device = torch.device(device)
        torch.manual_seed(settings.seed)
        self.G = Generator(g_cfg).train().to(self.device)
        self.D = Discriminator(g_cfg.resolution, g_cfg.channel_base, g_cfg.channel_max).train().to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        c = settings.r1_interval / (settings.r1_interval + 1)  # lazy-regularisation correction
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=settings.lr, betas=(0.0, 0.99), eps=1e-8)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=settings.lr * c, betas=(0.0, 0.99**c), eps=1e-8)
        self.step = 0
        self.nimg = 0

    # ---- one iteration -------------------------------------------------------------------
    def _ws(self, n: int) -> torch.Tensor:
        G = self.G
        w = G.mapping(torch.randn(n, G.z_dim, device=self.device), update_w_avg=True)
        ws = w.unsqueeze(1).repeat(1, G.num_ws, 1)
        if self.s.mixing_prob > 0 and torch.rand(()) < self.s.mixing_prob:
            cut = int(torch.randint(1, G.num_ws, ()))
            w2 = G.mapping(torch.randn(n, G.z_dim, device=self.device))
            ws[:, cut:] = w2.unsqueeze(1)
        return ws

    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        """One G and one D update; `real` (batch, 3, R, R) in [-1, 1], on any device."""
        n = self.s.batch
        G, D = self.G, self.D
        # G: non-saturating logistic loss.
        G.requires_grad_(True)
        D.requires_grad_(False)
        fake = G.synthesize(self._ws(n), noise_mode="random")
        loss_g = F.softplus(-D(fake)).mean()
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_G.step()
        # D: logistic loss, plus lazy R1 on reals.
        G.requires_grad_(False)
        D.requires_grad_(True)
        with torch.no_grad():
            fake = G.synthesize(self._ws(n), noise_mode="random")
        real = real.to(self.device, non_blocking=True)
        do_r1 = self.step % self.s.r1_interval == 0
        real.requires_grad_(do_r1)
        real_logits = D(real)
        loss_d = F.softplus(D(fake)).mean() + F.softplus(-real_logits).mean()
        r1 = torch.zeros((), device=self.device)
        if do_r1:
            (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            r1 = grad.square().sum(dim=[1, 2, 3]).mean()
            loss_d = loss_d + r1 * (self.s.r1_gamma / 2) * self.s.r1_interval
        self.opt_D.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_D.step()
        # EMA generator.
        self.nimg += n
        self.step += 1
        ema_nimg = min(self.s.ema_kimg * 1000, self.nimg * self.s.ema_rampup)
        beta = 0.5 ** (n / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), G.parameters(), strict=True):
                p_ema.lerp_(p, 1 - beta)
            for b_ema, b in zip(self.G_ema.buffers(), G.buffers(), strict=True):
                b_ema.copy_(b)
        return {"loss_g": loss_g.item(), "loss_d": loss_d.item(), "r1": r1.item()}

    # ---- state -----------------------------------------------------------------------------
    def state(self) -> dict:
        """Everything a resume needs, on the CPU (portable between GPU and CPU machines)."""
        return to_cpu({
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "step": self.step,
            "nimg": self.nimg,
            "torch_rng": torch.get_rng_state(),
            "g_cfg": self.G.cfg.to_json(),
            "settings": json.dumps(dataclasses.asdict(self.s)),
        })

    def load_state(self, st: dict) -> None:
        for name in ("G", "D", "G_ema", "opt_G", "opt_D"):
            getattr(self, name).load_state_dict(st[name])
        self.step, self.nimg = int(st["step"]), int(st["nimg"])
        torch.set_rng_state(st["torch_rng"])


def sample_grid(G: Generator, n: int = 16, seed: int = 123, psi: float = 1.0) -> np.ndarray:
    """A √n × √n grid of samples as uint8 RGB."""
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        img = G.synthesize(G.map(z.to(next(G.parameters()).device), truncation_psi=psi)).cpu()
    img = ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    k = int(math.ceil(math.sqrt(n)))
    h, w = img.shape[1:3]
    grid = np.zeros((k * h, k * w, 3), np.uint8)
    for i, im in enumerate(img):
        grid[(i // k) * h : (i // k + 1) * h, (i % k) * w : (i % k + 1) * w] = im
    return grid


def train(
    run_dir: str | os.PathLike,
    sample_reals: SampleReals,
    kimg: float,
    minutes: float | None = None,
    export_to: str | os.PathLike | None = None,
    settings: TrainSettings = TrainSettings(),
    g_cfg: GeneratorConfig = DEMO_G,
    log: Callable[[str], None] = print,
    device: str | torch.device = "cpu",
    workers: int = 0,
) -> GanTrainer:
    """Train until `kimg` thousand real images have been shown (counting earlier sessions),
    `minutes` have passed, SIGINT/SIGTERM arrives, or `run_dir/STOP` exists. Resumes from
    `run_dir/state.pt`; exports the EMA generator (native format) to `export_to`.
    `workers` > 0 renders real batches in that many processes (for a GPU run)."""
    import cv2  # local: keeps the core importable without OpenCV for non-demo users

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path, stop_path = run_dir / "state.pt", run_dir / "STOP"
    trainer = GanTrainer(g_cfg, settings, device)
    if state_path.exists():
        trainer.load_state(torch.load(state_path, map_location="cpu", weights_only=True))
        log(f"resumed at {trainer.nimg / 1000:.1f} kimg (step {trainer.step})")
    stop = {"flag": False}

    def _on_signal(signum, _frame):
        stop["flag"] = True
        log(f"signal {signum}: finishing this iteration and saving")

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def checkpoint() -> None:
        atomic_torch_save(trainer.state(), state_path)
        if export_to is not None:
            save_generator(export_to, trainer.G_ema, {"trained_kimg": round(trainer.nimg / 1000, 2), "domain": "carworld"})
        cv2.imwrite(str(run_dir / "samples.png"), cv2.cvtColor(sample_grid(trainer.G_ema), cv2.COLOR_RGB2BGR))

    t_start = last_ckpt = time.time()
    t_log, n_log = time.time(), trainer.nimg
    reals = real_batches(sample_reals, settings.batch, settings.seed, trainer.step, workers)
    try:
        with open(run_dir / "log.jsonl", "a") as logf:
            while trainer.nimg < kimg * 1000 and not stop["flag"] and not stop_path.exists():
                if minutes is not None and time.time() - t_start > minutes * 60:
                    break
                losses = trainer.train_step(next(reals))
                if trainer.step % 50 == 0:
                    dt = time.time() - t_log
                    rate = (trainer.nimg - n_log) / max(dt, 1e-9) * 3.6  # kimg / hour
                    rec = {"kimg": trainer.nimg / 1000, "kimg_per_h": round(rate, 1), **losses, "time": time.time()}
                    logf.write(json.dumps(rec) + "\n")
                    logf.flush()
                    log(f"{trainer.nimg / 1000:7.1f} kimg  {rate:5.1f} kimg/h  G {losses['loss_g']:.3f}  D {losses['loss_d']:.3f}")
                    t_log, n_log = time.time(), trainer.nimg
                if time.time() - last_ckpt > settings.checkpoint_minutes * 60:
                    checkpoint()
                    last_ckpt = time.time()
    finally:
        reals.close()
        checkpoint()
        for s, h in old.items():
            signal.signal(s, h)
        log(f"saved at {trainer.nimg / 1000:.1f} kimg → {state_path}")
    return trainer
