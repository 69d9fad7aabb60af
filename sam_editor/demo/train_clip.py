"""Train the demo bundle's tiny CLIP-style model on car-world renders and their captions.

The model is an ordinary open_clip CLIP (a tiny ModifiedResNet image tower at 128 px, a tiny text
transformer, open_clip's BPE tokenizer), so it is saved in open_clip's formats — a model-config
JSON and a state dict — and StyleCLIP loads it through the same `open_clip.create_model` call as
ViT-B/32. The image tower is convolutional because shape is learnt far sooner that way: with
the same CPU budget a tiny ViT (patch 16) learnt colours but left the body type at chance, while
the ResNet reached ~50 % on body type in 250 supervised steps where the ViT stayed at ~22 %.

Training is contrastive (InfoNCE, CLIP's learnable temperature) on fresh renders every step, so
it cannot overfit. Each image is paired with one text drawn from several templates — the full
caption ("a red sedan on a grey road under a blue sky") and shorter ones ("a red car",
"a sedan", "a red sedan on a grey road") — so short prompts such as "a blue car" mean something.
Because short texts repeat within a batch, the targets are multi-positive: a text is a positive
for every image whose scene agrees with everything the text says.

The vocabulary table dominates the size (49 408 BPE tokens × the text width), which is why the
text tower is narrow: the bundle stays under 10 MB.

Run: `nice -n 10 python -m sam_editor.demo.train_clip --minutes 30` (resumable from --run-dir).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..edits.clip_models import (
    DEMO_CLIP_DIR,
    DEMO_CLIP_NAME,
    ClipModel,
    clip_input,
    demo_clip_files,
    register_config,
)
from ..util import OnStep, ShouldStop, atomic_write
from . import carworld
from .pipeline import prefetch, to_cpu

REPO_ROOT = Path(__file__).resolve().parents[2]

_TEXT_CFG = {"context_length": 20, "vocab_size": 49408, "width": 24, "heads": 2, "layers": 3}
IMAGE_TOWERS: dict[str, dict] = {  # 0.5 M (vit) and 0.8 M (resnet) parameters at 128 px
    "vit": {"image_size": 128, "layers": 4, "width": 96, "head_width": 32, "patch_size": 16},
    "resnet": {"image_size": 128, "layers": [1, 1, 1, 1], "width": 12, "head_width": 32},
}
TINY_CLIP_CONFIG: dict = {"embed_dim": 64, "vision_cfg": IMAGE_TOWERS["resnet"], "text_cfg": _TEXT_CFG}

ATTRS = ("colour", "body", "sky", "road")
EVAL_SEED = 1_000_003  # held-out scenes: a different random stream from every training step


@dataclasses.dataclass(frozen=True)
class ClipTrainSettings:
    """Hyper-parameters of the tiny CLIP run (CPU-sized)."""

    batch: int = 64
    lr: float = 2e-3  # AdamW peak learning rate
    weight_decay: float = 0.05  # on matrices only (not embeddings, norms, biases, temperature)
    warmup_steps: int = 100
    steps: int = 3400  # cosine decay horizon; a run may stop earlier (minutes=, cancel)
    image_size: int = 128
    colour_group: int = 8  # scenes per batch that share a car colour (see `sample_scenes`) ...
    late_colour_group: int = 2  # ... and from `late_from` on: body types are learnt by then, and
    late_from: int = 2000  # more colours per batch sharpen the colour words
    twins: int = 0  # scenes per batch repeated with another car colour (see `sample_scenes`)
    checkpoint_minutes: float = 3.0
    seed: int = 0


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _a(word: str) -> str:
    return f"{_article(word)} {word}"


def _body_words(body: str) -> str:
    return "sports car" if body == "sports" else body


def scene_attrs(p: carworld.SceneParams) -> dict[str, str]:
    return {"colour": p.colour_name, "body": p.body_type, "sky": p.sky_name, "road": p.road_name}


# (weight, template, attributes it states); the templates are filled from a scene's attributes.
_TEMPLATES: tuple[tuple[float, str, tuple[str, ...]], ...] = (
    (0.22, "caption", ATTRS),
    (0.28, "{colour} car", ("colour",)),
    (0.20, "{colour} {body}", ("colour", "body")),
    (0.15, "{body}", ("body",)),
    (0.06, "{colour} car under {sky} sky", ("colour", "sky")),
    (0.05, "{colour} {body} on {road} road", ("colour", "body", "road")),
    (0.04, "{body} under {sky} sky", ("body", "sky")),
)  # no "a car on a grey road": next to "a grey car" it taught that a colour word before "car"
# may describe the road, and grey/brown/orange cars (colour words shared with road and sky) lagged


def sample_text(p: carworld.SceneParams, rng: np.random.Generator) -> tuple[str, dict[str, str]]:
    """One training text for scene p and the attributes it states (for multi-positive targets)."""
    weights = np.array([t[0] for t in _TEMPLATES])
    _, template, keys = _TEMPLATES[int(rng.choice(len(_TEMPLATES), p=weights / weights.sum()))]
    attrs = scene_attrs(p)
    if template == "caption":
        return carworld.caption(p), attrs
    words = {"colour": attrs["colour"], "body": _body_words(attrs["body"]), "sky": attrs["sky"], "road": attrs["road"]}
    text = template.format(**words)
    return f"{_article(text)} {text}", {k: attrs[k] for k in keys}


def positives(image_attrs: list[dict[str, str]], text_attrs: list[dict[str, str]]) -> torch.Tensor:
    """(N_img, N_txt) bool: text j agrees with everything it says about image i."""
    return torch.tensor([[all(ia[k] == v for k, v in ta.items()) for ta in text_attrs] for ia in image_attrs])


def info_nce(img: torch.Tensor, txt: torch.Tensor, logit_scale: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE with multi-positive targets: img, txt (N, D) unit vectors; pos (N, N)."""
    logits = logit_scale.exp() * img @ txt.T
    target = pos.float()
    loss_i = -(target / target.sum(1, keepdim=True) * F.log_softmax(logits, dim=1)).sum(1).mean()
    loss_t = -(target.T / target.T.sum(1, keepdim=True) * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return 0.5 * (loss_i + loss_t)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Hue-preserving augmentation so the model also reads GAN outputs: random flip, small
    zoom/shift, blur (GAN images are softer), brightness/contrast ±10 %, pixel noise.
    x (N, 3, H, W) in [-1, 1]."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
    scale = 1 - 0.12 * torch.rand(n, generator=gen)  # zoom in up to 12 %
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (1 - scale).unsqueeze(1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    soften = 1 + torch.rand(1, generator=gen).item()  # blur by a down/up-sampling round trip
    if soften > 1.2:  # (a depthwise Gaussian conv costs ~10x more on CPU)
        small = (max(8, round(h / soften)), max(8, round(w / soften)))
        x = F.interpolate(F.interpolate(x, size=small, mode="bilinear", antialias=True), size=(h, w), mode="bilinear")
    gain = 1 + 0.1 * (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1)
    bias = 0.1 * (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1)
    x = x * gain + bias + 0.04 * torch.rand(n, 1, 1, 1, generator=gen) * torch.randn(x.shape, generator=gen)
    return x.clamp(-1, 1)


def build_tiny_clip(config: dict | None = None) -> torch.nn.Module:
    """A fresh open_clip CLIP from a config dict (TINY_CLIP_CONFIG by default)."""
    from open_clip.model import CLIP

    return CLIP(**json.loads(json.dumps(config or TINY_CLIP_CONFIG)))


def _with_colour(p: carworld.SceneParams, name: str, rng: np.random.Generator) -> carworld.SceneParams:
    rgb = np.clip(np.asarray(carworld.COLOURS[name]) + rng.integers(-10, 11, 3), 0, 255)
    return dataclasses.replace(p, colour_name=name, colour_rgb=tuple(int(v) for v in rgb))


def sample_scenes(rng: np.random.Generator, n: int, group: int, twins: int = 0) -> list[carworld.SceneParams]:
    """n scenes: n − twins in groups of `group` that share the car colour, then `twins` copies of
    the first scenes with another car colour. Colours alone explain most of a caption, and
    contrastive learning then ignores the harder cue (feature suppression): the body type stayed
    at chance without the groups — inside a group only shape tells "a red van" from "a red sedan".
    The twins are hard negatives for the colour words: the same sky, road, body and position, only
    the car's colour differs, so "a blue car" must be read off the car itself. Measured, they did
    not make the text edit better (fresh 3400-step runs on a GPU, "a blue car" on 16 cluttered
    images of the 408-kimg generator, car B−R change: 16 twins −0.1 (8/16 bluer), 32 twins +6.0
    (11/16), the shipped model without twins +6.7 (12/16); its schedule was longer and
    different, so this is not a controlled comparison), so they are off by default."""
    colours = list(carworld.COLOURS)
    scenes: list[carworld.SceneParams] = []
    base = n - min(twins, n // 2)
    for start in range(0, base, group):
        name = colours[int(rng.integers(len(colours)))]
        scenes += [_with_colour(carworld.sample_params(rng), name, rng) for _ in range(min(group, base - start))]
    for p in scenes[: n - base]:
        other = [c for c in colours if c != p.colour_name]
        scenes.append(_with_colour(p, other[int(rng.integers(len(other)))], rng))
    return scenes


def make_batch(step: int, settings: ClipTrainSettings) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """Step-seeded fresh, augmented renders (a resumed run sees the same data): images as the
    image tower takes them (CLIP-normalised), one text each, and the (N, N) positive matrix."""
    rng = np.random.default_rng([settings.seed, step])
    group = settings.colour_group if step < settings.late_from else settings.late_colour_group
    params = sample_scenes(rng, settings.batch, group, settings.twins)
    images = np.stack([carworld.render(p, settings.image_size) for p in params])
    pairs = [sample_text(p, rng) for p in params]
    pos = positives([scene_attrs(p) for p in params], [a for _, a in pairs])
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    x = augment(carworld.to_tensor(images), gen)
    # the model sees exactly what ClipModel feeds it at inference (CLIP mean/std): BatchNorm's
    # running statistics are only right for the input distribution they were gathered on
    return clip_input(x, (settings.image_size, settings.image_size)), [t for t, _ in pairs], pos


def _atomic_save(obj, path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def save_clip(model: torch.nn.Module, directory: str | os.PathLike = DEMO_CLIP_DIR, config: dict | None = None,
              meta: dict | None = None) -> tuple[Path, Path]:
    """Write open_clip's two files: `<name>.json` (model config) and `<name>.pt` (state dict);
    `meta` (training figures) goes to `training.json` beside them. → (config path, weights path)."""
    cfg_path, pt_path = demo_clip_files(directory)
    cfg_path.parent.mkdir(parents=True, exist_ok=True)
    cfg_path.write_text(json.dumps(config or TINY_CLIP_CONFIG, indent=2) + "\n")
    _atomic_save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, pt_path)
    if meta is not None:
        (Path(directory) / "training.json").write_text(json.dumps(meta, indent=2) + "\n")
    return cfg_path, pt_path


def as_clip_model(model: torch.nn.Module) -> ClipModel:
    """Wrap a model being trained for evaluation (shares its weights; no copy)."""
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
    from open_clip.model import set_model_preprocess_cfg

    set_model_preprocess_cfg(model, {"size": model.visual.image_size, "mean": OPENAI_DATASET_MEAN,
                                     "std": OPENAI_DATASET_STD, "resize_mode": "shortest"})
    return ClipModel(model, _tokenizer(model), name=DEMO_CLIP_NAME, is_demo=True)


@torch.no_grad()
def zero_shot_accuracy(clip: ClipModel, n: int = 400, seed: int = EVAL_SEED, size: int = 128,
                       batch: int = 100) -> dict[str, float]:
    """Zero-shot accuracy on n held-out renders: colour ("a red car" vs the other colours) and
    body type ("a sedan" vs the other types); chance is 10 % and 16.7 %."""
    rng = np.random.default_rng(seed)
    colours, bodies = list(carworld.COLOURS), list(carworld.BODY_TYPES)
    t_col = clip.encode_text([_a(c) + " car" for c in colours])
    t_body = clip.encode_text([_a(_body_words(b)) for b in bodies])
    hits = {"colour": 0, "body_type": 0}
    for start in range(0, n, batch):
        images, params = carworld.batch(rng, min(batch, n - start), size)
        emb = clip.encode_image(carworld.to_tensor(images).to(clip.device))
        pc, pb = (emb @ t_col.T).argmax(1).tolist(), (emb @ t_body.T).argmax(1).tolist()
        hits["colour"] += sum(colours[i] == p.colour_name for i, p in zip(pc, params, strict=True))
        hits["body_type"] += sum(bodies[i] == p.body_type for i, p in zip(pb, params, strict=True))
    return {k: v / n for k, v in hits.items()}


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        is_matrix = p.ndim >= 2 and "embedding" not in name and "positional" not in name
        (decay if is_matrix else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _lr(step: int, s: ClipTrainSettings) -> float:
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    t = min(1.0, (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps))
    return s.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


@dataclasses.dataclass
class ClipTrainResult:
    steps: int  # steps done in total (over all resumed runs)
    loss: float  # mean InfoNCE over the last 50 steps
    accuracy: dict[str, float]  # zero-shot accuracy on held-out renders
    minutes: float  # wall-clock training minutes of this run (without the evaluation)
    size_mb: float  # size of the exported weights file
    cancelled: bool
    history: list[dict]
    model: torch.nn.Module  # the trained open_clip model (eval mode)


def train_clip(
    run_dir: str | os.PathLike,
    settings: ClipTrainSettings = ClipTrainSettings(),
    minutes: float | None = None,
    export_to: str | os.PathLike | None = DEMO_CLIP_DIR,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    eval_n: int = 400,
    config: dict | None = None,
    device: str | torch.device = "cpu",
    workers: int = 1,
) -> ClipTrainResult:
    """Train (or resume, from `run_dir/state.pt`) up to `settings.steps`; stop early after
    `minutes` or when `should_stop()` is true. The state is saved every few minutes and at the
    end; the model is exported to `export_to` (None: don't) with its zero-shot accuracy.
    `config` is the open_clip model config (TINY_CLIP_CONFIG by default; tests use smaller).
    `workers`: batches rendered ahead — 1 is a thread (CPU runs), more are spawned processes
    (a GPU run, where rendering is the bottleneck)."""
    run_dir = Path(run_dir)
    state_path = run_dir / "state.pt"
    state = torch.load(state_path, map_location="cpu", weights_only=True) if state_path.is_file() else None
    config = json.loads(state["config"]) if state is not None else (config or TINY_CLIP_CONFIG)  # a run keeps its model
    torch.manual_seed(settings.seed)
    device = torch.device(device)
    model = build_tiny_clip(config).to(device)
    opt = torch.optim.AdamW(_param_groups(model, settings.weight_decay), lr=settings.lr, betas=(0.9, 0.98), eps=1e-6)
    step, history, minutes_before = 0, [], 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, history = int(state["step"]), json.loads(state["history"])
        minutes_before = float(state.get("minutes", 0.0))
    tokenize = _tokenizer(model)
    model.train()

    def checkpoint() -> None:
        _atomic_save({"model": to_cpu(model.state_dict()), "opt": to_cpu(opt.state_dict()), "step": step, "history": json.dumps(history),
                      "minutes": minutes_before + (time.time() - t0) / 60, "config": json.dumps(config)}, state_path)

    t0 = last_ckpt = time.time()
    cancelled = False
    batches = prefetch(functools.partial(make_batch, settings=settings), step, max(1, workers))
    try:
        while step < settings.steps:
            if (should_stop and should_stop()) or (minutes is not None and time.time() - t0 > 60 * minutes):
                cancelled = step < settings.steps
                break
            images, texts, pos = next(batches)
            for g in opt.param_groups:
                g["lr"] = _lr(step, settings)
            img = model.encode_image(images.to(device, non_blocking=True), normalize=True)
            txt = model.encode_text(tokenize(texts).to(device), normalize=True)
            loss = info_nce(img, txt, model.logit_scale, pos.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            step += 1
            history.append({"step": step, "loss": round(loss.item(), 4), "temp": round(1 / model.logit_scale.exp().item(), 4)})
            if on_step:
                on_step(step, settings.steps, history[-1], None)
            if time.time() - last_ckpt > 60 * settings.checkpoint_minutes:
                checkpoint()
                last_ckpt = time.time()
    finally:
        batches.close()
    checkpoint()
    minutes_run = (time.time() - t0) / 60
    model.eval()
    accuracy = zero_shot_accuracy(as_clip_model(model).to(device), n=eval_n, size=settings.image_size) if eval_n else {}
    recent = [h["loss"] for h in history[-50:]]
    size_mb = 0.0
    if export_to is not None:
        meta = {"steps": step, "loss_last50": float(np.mean(recent)) if recent else None, "zero_shot": accuracy,
                "batch": settings.batch, "train_minutes": round(minutes_before + minutes_run, 2)}
        _, pt = save_clip(model, export_to, config=config, meta=meta)
        size_mb = pt.stat().st_size / 2**20
    return ClipTrainResult(step, float(np.mean(recent)) if recent else float("nan"), accuracy, minutes_run,
                           size_mb, cancelled, history, model)


def _tokenizer(model: torch.nn.Module):
    """open_clip's BPE tokenizer at the model's context length (what `get_tokenizer` gives)."""
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(context_length=model.context_length)


def load_trained(directory: str | os.PathLike = DEMO_CLIP_DIR) -> torch.nn.Module:
    """The raw open_clip model saved in `directory`, through open_clip's config + file path."""
    import open_clip

    cfg, pt = demo_clip_files(directory)
    return open_clip.create_model(register_config(cfg), pretrained=str(pt))


def main(argv: list[str] | None = None) -> int:
    from ..runtime import init_torch

    init_torch()
    torch.set_num_threads(1)  # the CPU is shared (GAN training): two threads per process oversubscribe it
    ap = argparse.ArgumentParser(description="train the demo bundle's tiny CLIP on the car world (resumable)")
    ap.add_argument("--run-dir", default=str(REPO_ROOT / "runs" / "demo-clip"), help="training state (resume)")
    ap.add_argument("--out", default=str(DEMO_CLIP_DIR), help="export folder (open_clip config + state dict)")
    ap.add_argument("--steps", type=int, default=ClipTrainSettings.steps)
    ap.add_argument("--batch", type=int, default=ClipTrainSettings.batch)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--lr", type=float, default=ClipTrainSettings.lr)
    ap.add_argument("--tower", choices=sorted(IMAGE_TOWERS), default="resnet", help="image tower of a new run (a resumed run keeps its own)")
    ap.add_argument("--twins", type=int, default=ClipTrainSettings.twins, help="colour-swapped copies per batch")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, … (auto: cuda when there is one)")
    ap.add_argument("--workers", type=int, default=1, help="rendering processes (1: a thread)")
    ap.add_argument("--eval-only", action="store_true", help="report the zero-shot accuracy of --out")
    args = ap.parse_args(argv)
    if args.eval_only:
        from ..edits.clip_models import load_demo_clip

        print(json.dumps(zero_shot_accuracy(load_demo_clip(args.out), n=1000)))
        return 0

    def progress(step: int, total: int, info: dict, _preview: object) -> None:
        if step % 25 == 0:
            print(f"step {step}/{total} loss {info['loss']:.3f} temp {info['temp']:.3f}", flush=True)

    s = ClipTrainSettings(steps=args.steps, batch=args.batch, lr=args.lr, twins=args.twins)
    if args.device == "auto":
        from ..runtime import default_device

        args.device = default_device()
    config = {**TINY_CLIP_CONFIG, "vision_cfg": IMAGE_TOWERS[args.tower]}
    r = train_clip(args.run_dir, s, minutes=args.minutes, export_to=args.out, on_step=progress, config=config,
                   device=args.device, workers=args.workers)
    print(json.dumps({"steps": r.steps, "loss": round(r.loss, 4), "zero_shot": r.accuracy,
                      "minutes": round(r.minutes, 1), "size_mb": round(r.size_mb, 2), "cancelled": r.cancelled}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
