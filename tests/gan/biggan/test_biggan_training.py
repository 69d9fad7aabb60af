"""The demo BigGAN trainer on a tiny config: steps run, the state resumes, and the export is the
port's format with standing statistics per truncation that load back through `load_biggan`."""

from __future__ import annotations

import numpy as np
import torch

from sam_editor.demo.train_biggan import BigGANTrainSettings, train_biggan
from sam_editor.gan.biggan.checkpoint import load_biggan
from sam_editor.gan.biggan.generator import ClassConditionedBigGAN
from sam_editor.testing.biggan import tiny_config


def _reals(rng: np.random.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.from_numpy(rng.integers(0, 10, n))
    x = torch.from_numpy(rng.uniform(-1, 1, (n, 3, 32, 32)).astype(np.float32))
    return x * 0.2 + (y.float() / 10 - 0.5).view(n, 1, 1, 1), y


def test_train_resume_and_export(tmp_path):
    cfg = tiny_config()
    s = BigGANTrainSettings(batch=4, standing_batches=1)
    logs: list[str] = []
    tr = train_biggan(tmp_path / "run", kimg=0.008, cfg=cfg, settings=s, sample_reals=_reals, log=logs.append)
    assert tr.step == 2 and (tmp_path / "run" / "state.pt").is_file()
    tr = train_biggan(tmp_path / "run", kimg=0.012, export_to=tmp_path / "out", cfg=cfg, settings=s,
                      sample_reals=_reals, log=logs.append)  # fmt: skip
    assert tr.step == 3 and any("resumed at 0.01 kimg (step 2)" in m for m in logs)
    net, _ = load_biggan(tmp_path / "out")
    bn = net.block(2).bn_1
    assert not torch.allclose(bn.running_means[50], bn.running_means[10])  # statistics differ per ψ
    assert not torch.allclose(bn.running_vars[0], torch.ones_like(bn.running_vars[0]))  # measured, not the init
    G = ClassConditionedBigGAN.for_class(net, 4, truncation=0.5)
    with torch.no_grad():
        img = G(G.sample_z(2))
    assert bool(torch.isfinite(img).all()) and img.std() > 0
