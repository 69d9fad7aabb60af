"""The demo StyleGAN2 trainer: stops and resumes where it left off, and draws the same real
batches whether the main process renders them or a pool of worker processes does."""

import functools
import itertools

import torch

from sam_editor.demo import carworld
from sam_editor.demo.train_gan import TrainSettings, real_batches, train
from sam_editor.gan.native import load_generator
from sam_editor.gan.networks import GeneratorConfig

TINY = GeneratorConfig(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16)
FAST = TrainSettings(batch=4, r1_interval=2, checkpoint_minutes=60.0)
REALS = functools.partial(carworld.real_images, size=16)


def _quiet(_msg: str) -> None:
    pass


def test_stops_at_kimg_and_resumes_from_its_state(tmp_path):
    run, export = tmp_path / "run", tmp_path / "G.pt"
    first = train(run, REALS, kimg=0.012, export_to=export, settings=FAST, g_cfg=TINY, log=_quiet)
    assert first.nimg == 12 and first.step == 3
    G, meta = load_generator(export)
    assert meta["trained_kimg"] == 0.01 and G.cfg == TINY
    assert torch.isfinite(torch.cat([p.flatten() for p in G.parameters()])).all()
    state = torch.load(run / "state.pt", weights_only=True)
    assert all(t.device.type == "cpu" for t in state["G"].values())
    # the same command with a larger target continues instead of starting over
    more = train(run, REALS, kimg=0.020, export_to=export, settings=FAST, g_cfg=TINY, log=_quiet)
    assert more.nimg == 20 and more.step == 5
    assert (run / "samples.png").is_file()


def test_resume_carries_the_weights_on(tmp_path):
    run = tmp_path / "run"
    a = train(run, REALS, kimg=0.008, settings=FAST, g_cfg=TINY, log=_quiet)
    saved = {k: v.clone() for k, v in a.G.state_dict().items()}
    b = train(run, REALS, kimg=0.008, settings=FAST, g_cfg=TINY, log=_quiet)  # target already met: no step
    assert b.step == a.step
    for k, v in b.G.state_dict().items():
        torch.testing.assert_close(v, saved[k])


def test_stop_file_or_time_limit_ends_the_run_with_its_state_saved(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "STOP").touch()
    t = train(run, REALS, kimg=1.0, settings=FAST, g_cfg=TINY, log=_quiet)
    assert t.step == 0 and (run / "state.pt").is_file()
    (run / "STOP").unlink()
    t = train(run, REALS, kimg=0.2, minutes=0.0, settings=FAST, g_cfg=TINY, log=_quiet)  # a time limit stops it too
    assert t.step == 0


def test_worker_processes_render_the_same_batches_as_the_main_process():
    inline = list(itertools.islice(real_batches(REALS, 3, seed=5, start_step=7, workers=0), 3))
    gen = real_batches(REALS, 3, seed=5, start_step=7, workers=1)
    pooled = list(itertools.islice(gen, 3))
    gen.close()
    for a, b in zip(inline, pooled, strict=True):
        assert a.shape == (3, 3, 16, 16)
        torch.testing.assert_close(a, b)
    assert not torch.equal(inline[0], inline[1])  # and successive steps differ
