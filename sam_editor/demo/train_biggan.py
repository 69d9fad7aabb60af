"""Train a small class-conditional BigGAN-deep on the car world, its body types as classes.

BigGAN's recipe at toy scale: hinge loss, a projection discriminator with spectral norm (SAGAN /
BigGAN), Adam(β = (0, 0.999)) with D's learning rate 4× G's, an EMA generator. The generator is
our `BigGANDeep` (the published layout) training with batch statistics; when exported, its
batch norms get *standing statistics* per truncation, as DeepMind's released files carry them:
for each of the 51 ψ in 0, 1/50, …, 1 the EMA generator runs on z ~ truncated normal × ψ and
the mean batch mean / variance of every batch norm is stored. The export is the port's format
(`config.json` + `pytorch_model.bin`), so `sam-editor invert --generator FOLDER` reads it.

Resumable like `train_gan`: the state (networks, optimisers, step) is written atomically every
few minutes and at the end; a run ends after `kimg`, `minutes` or when `run_dir/STOP` exists.
Measured on the shared 2-core machine (1 thread, load ≈ 10): about 6 s per step of 16 images at
64 px (G 1.16 M, D 1.22 M parameters), 0.16 kimg per minute — hours per ten kimg, far too slow
for a usable model here; the intended run is on a GPU (`sam-editor demo train-biggan --device cuda`).
No such run has been made yet: no demo BigGAN ships, and the recipe is untested beyond a few steps.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from ..gan.biggan.checkpoint import save_port_format
from ..gan.biggan.config import BigGANDeepConfig
from ..gan.biggan.model import BigGANDeep, ConditionalBatchNorm
from ..gan.native import atomic_torch_save
from .pipeline import to_cpu

# 64 px, 16·ch = 256 channels at 4², the six body types of the car world as classes.
DEMO_BIGGAN = BigGANDeepConfig(
    output_dim=64, z_dim=64, class_embed_dim=64, channel_width=16, num_classes=6,
    layers=((False, 16, 16), (True, 16, 8), (False, 8, 4), (True, 4, 4), (False, 4, 2), (True, 2, 2),
            (False, 2, 1), (True, 1, 1)),
    attention_layer_position=5, eps=1e-4, n_stats=51,
)  # fmt: skip

SampleReals = Callable[[np.random.Generator, int], tuple[torch.Tensor, torch.Tensor]]  # → images, class ids


@dataclasses.dataclass(frozen=True)
class BigGANTrainSettings:
    batch: int = 32
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    betas: tuple[float, float] = (0.0, 0.999)
    ema_beta: float = 0.999
    standing_batches: int = 4  # batches per ψ for the standing statistics at export
    checkpoint_minutes: float = 5.0
    seed: int = 0


def carworld_reals(rng: np.random.Generator, n: int, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """n car-world renders (n, 3, size, size) in [-1, 1] and their body types' indices (n,)."""
    from . import carworld

    params = [carworld.sample_params(rng) for _ in range(n)]
    imgs = np.stack([carworld.render(p, size) for p in params]).astype(np.float32)
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2) / 127.5 - 1
    y = torch.tensor([carworld.BODY_TYPES.index(p.body_type) for p in params])
    return x, y


class _DBlock(torch.nn.Module):
    """Residual down block of the projection discriminator (spectral-normed convs)."""

    def __init__(self, cin: int, cout: int, first: bool):
        super().__init__()
        self.first = first
        self.conv1 = spectral_norm(torch.nn.Conv2d(cin, cout, 3, padding=1))
        self.conv2 = spectral_norm(torch.nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = spectral_norm(torch.nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)
        return h + F.avg_pool2d(self.skip(x), 2)


class ProjectionDiscriminator(torch.nn.Module):
    """D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩ (Miyato & Koyama), down to 4² then summed."""

    def __init__(self, resolution: int, num_classes: int, ch: int = 32):
        super().__init__()
        blocks, cin, r = [], 3, resolution
        widths = [ch * min(2**i, 8) for i in range(int(np.log2(resolution)) - 2)]
        for i, cout in enumerate(widths):
            blocks.append(_DBlock(cin, cout, first=i == 0))
            cin, r = cout, r // 2
        self.blocks = torch.nn.Sequential(*blocks)
        self.linear = spectral_norm(torch.nn.Linear(cin, 1))
        self.embed = spectral_norm(torch.nn.Embedding(num_classes, cin))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)


class BigGANTrainer:
    def __init__(self, cfg: BigGANDeepConfig = DEMO_BIGGAN, settings: BigGANTrainSettings = BigGANTrainSettings(),
                 device: str | torch.device = "cpu"):  # fmt: skip
        self.cfg, self.s, self.device = cfg, settings, torch.device(device)
        torch.manual_seed(settings.seed)
        self.G = BigGANDeep(cfg).train().to(self.device)
        for name, t in self.G.named_parameters():  # BigGAN's orthogonal-ish init, small BN gains
            if t.ndim >= 2:
                torch.nn.init.orthogonal_(t.view(t.shape[0], -1))
            if name.endswith(("scale.weight", "offset.weight")):
                t.data.mul_(0.1)
        self.D = ProjectionDiscriminator(cfg.output_dim, cfg.num_classes).train().to(self.device)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=settings.lr_g, betas=settings.betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=settings.lr_d, betas=settings.betas)
        self.step = 0
        self.nimg = 0

    def _fake(self, G: BigGANDeep, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(n, self.cfg.z_dim, device=self.device)
        y = torch.randint(0, self.cfg.num_classes, (n,), device=self.device)
        return G(z, F.one_hot(y, self.cfg.num_classes).float(), 1.0), y

    def train_step(self, real: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """One D and one G update (hinge loss); `real` (batch, 3, R, R) in [-1, 1], `labels` (batch,)."""
        n = real.shape[0]
        real, labels = real.to(self.device), labels.to(self.device)
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        with torch.no_grad():
            fake, fy = self._fake(self.G, n)
        loss_d = F.relu(1 - self.D(real, labels)).mean() + F.relu(1 + self.D(fake, fy)).mean()
        self.opt_D.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_D.step()
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        fake, fy = self._fake(self.G, n)
        loss_g = -self.D(fake, fy).mean()
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_G.step()
        with torch.no_grad():
            for pe, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
                pe.lerp_(p, 1 - self.s.ema_beta)
        self.step += 1
        self.nimg += n
        return {"loss_g": float(loss_g.detach()), "loss_d": float(loss_d.detach())}

    @torch.no_grad()
    def export(self, folder: str | os.PathLike, seed: int = 0) -> Path:
        """The EMA generator with standing statistics for every ψ, in the port's format."""
        G = copy.deepcopy(self.G_ema).train()
        bns = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm)]
        gen = torch.Generator().manual_seed(seed)
        for i, psi in enumerate(np.linspace(0.0, 1.0, self.cfg.n_stats)):
            for bn in bns:
                bn.collected = []
            for _ in range(self.s.standing_batches):
                z = torch.randn(self.s.batch, self.cfg.z_dim, generator=gen).clamp(-2, 2) * float(psi)
                y = torch.randint(0, self.cfg.num_classes, (self.s.batch,), generator=gen)
                G(z.to(self.device), F.one_hot(y, self.cfg.num_classes).float().to(self.device), 1.0)
            for bn in bns:
                assert bn.collected
                bn.running_means[i] = torch.stack([m for m, _ in bn.collected]).mean(dim=0)
                bn.running_vars[i] = torch.stack([v for _, v in bn.collected]).mean(dim=0)
                bn.collected = None
        return save_port_format(G.eval().cpu(), folder)

    def state(self) -> dict:
        return to_cpu({
            "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "step": self.step, "nimg": self.nimg, "config": self.cfg.to_json(),
            "settings": json.dumps(dataclasses.asdict(self.s)),
        })  # fmt: skip

    def load_state(self, st: dict) -> None:
        if json.loads(st["config"]) != json.loads(self.cfg.to_json()):
            raise ValueError("the run's state is of another BigGAN config; use another --run-dir")
        for name in ("G", "D", "G_ema", "opt_G", "opt_D"):
            getattr(self, name).load_state_dict(st[name])
        self.step, self.nimg = int(st["step"]), int(st["nimg"])


def train_biggan(
    run_dir: str | os.PathLike,
    kimg: float,
    minutes: float | None = None,
    export_to: str | os.PathLike | None = None,
    cfg: BigGANDeepConfig = DEMO_BIGGAN,
    settings: BigGANTrainSettings = BigGANTrainSettings(),
    sample_reals: SampleReals | None = None,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] = print,
) -> BigGANTrainer:
    """Train until `kimg` thousand reals (counting earlier sessions), `minutes`, or `run_dir/STOP`;
    resumes from `run_dir/state.pt`; exports the port-format folder to `export_to` at the end."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / "state.pt"
    sample = sample_reals or (lambda rng, n: carworld_reals(rng, n, cfg.output_dim))
    trainer = BigGANTrainer(cfg, settings, device)
    if state_path.exists():
        trainer.load_state(torch.load(state_path, map_location="cpu", weights_only=True))
        log(f"resumed at {trainer.nimg / 1000:.2f} kimg (step {trainer.step})")
    t0 = last = time.time()
    with open(run_dir / "log.jsonl", "a") as logf:
        while trainer.nimg < kimg * 1000 and not (run_dir / "STOP").exists():
            if minutes is not None and time.time() - t0 > minutes * 60:
                break
            real, labels = sample(np.random.default_rng([settings.seed, trainer.step]), settings.batch)
            losses = trainer.train_step(real, labels)
            if trainer.step % 20 == 0:
                logf.write(json.dumps({"kimg": trainer.nimg / 1000, **losses, "time": time.time()}) + "\n")
                logf.flush()
                log(f"{trainer.nimg / 1000:7.2f} kimg  G {losses['loss_g']:.3f}  D {losses['loss_d']:.3f}")
            if time.time() - last > settings.checkpoint_minutes * 60:
                atomic_torch_save(trainer.state(), state_path)
                last = time.time()
    atomic_torch_save(trainer.state(), state_path)
    if export_to is not None:
        trainer.export(export_to)
        log(f"exported {export_to} (config.json + pytorch_model.bin, standing statistics for {cfg.n_stats} ψ)")
    return trainer
