"""StyleCLIP text edits by latent optimisation (Patashnik et al. 2021, §4), applied SAM-style.

Given the inverted φ = {w+, Δf_i, m_i} and a prompt t, find the edit δw+ that minimises

    L(δ) = D_CLIP(G(w+, δ), t) + λ_L2 ‖δ‖²,      D_CLIP = 1 − cos(E_I(image), E_T(t)),

where G(w+, δ) is `Generator.synthesize(w_plus, delta_f, masks, delta_w=δ)`: the gated pass of
§3.4 of the SAM paper, so a region inverted in F_i keeps its Δf_i and only feels δ in the layers
after F_i *during* the optimisation, not just when the result is shown. ‖δ‖² = ‖w − w_s‖² is
StyleCLIP's latent L2 term (a sum, as in the official code). Their identity loss is for faces and
is left out. Defaults are the official `optimization/run_optimization.py` values: Adam, lr 0.1,
300 steps, λ_L2 0.008, learning-rate ramp-up over the first 5 % and cosine ramp-down over the
last 25 % of the steps.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import torch

from ..gan.layers import block_of_feature_index
from ..gan.networks import Generator
from ..util import OnStep, PreviewFn, ShouldStop, ramped_lr
from .clip_models import ClipModel


@dataclasses.dataclass(frozen=True)
class StyleClipSettings:
    """Official StyleCLIP latent-optimisation defaults (`run_optimization.py`)."""

    steps: int = 300
    lr: float = 0.1  # Adam, peak learning rate
    l2_lambda: float = 0.008  # weight of ‖w − w_s‖² (summed over all rows and channels)
    lr_rampup: float = 0.05  # fraction of the steps with a linear ramp-up from 0
    lr_rampdown: float = 0.25  # fraction of the steps with a cosine ramp-down to 0
    # Not StyleCLIP's: δ starts at tiny seeded noise instead of exactly 0. `synthesize` shares
    # the unedited features wherever w+ + δ equals w+ exactly, and a path that is shared carries
    # no gradient to δ; 1e-4 changes no pixel visibly and makes the gradient exist from step 1.
    init_std: float = 1e-4
    # Not StyleCLIP's either (default off = the official loss): average D_CLIP over this many
    # randomly shifted/zoomed/flipped views of the render. A small CLIP (the demo bundle's) is
    # easy to satisfy with pixel patterns; a loss that must hold for every view favours real
    # colour and shape changes.
    clip_views: int = 1


@dataclasses.dataclass
class TextEditResult:
    """δw+ (1, num_ws, w_dim) — the lowest-loss one seen — with the per-step losses."""

    delta_w: torch.Tensor
    history: list[dict]  # per step: step, loss, clip, l2, lr
    cancelled: bool
    prompt: str = ""
    best_step: int = 0  # step whose δ was returned (0: none taken, δ = 0)


def l2_lambda_for_region(area: float, l2_lambda: float = StyleClipSettings.l2_lambda) -> float:
    """λ_L2 for an edit limited to a region covering `area` (0–1] of the frame (`edits.region`).

    StyleCLIP's λ_L2 keeps the whole picture near the original. Inside a region the masks already
    hold everything else, and the full λ then leaves the region itself almost unchanged: on the demo
    bundle, "a blue car" limited to the car's segments moved the car's B−R by +0.8 with λ = 0.008
    and by +35.2 (14 of 16 images bluer, background |Δ| 5.1) with λ scaled by the area
    (`benchmarks/measure_text_edit.py --region`). An empirical rule, not StyleCLIP's.
    """
    if not 0 < area <= 1:
        raise ValueError(f"region area must be in (0, 1], got {area}")
    return l2_lambda * area


def rows_before_feature(G: Generator, index: int) -> list[int]:
    """Style rows that act only up to F_index: the convs of every block through F_index's block.

    That block's toRGB row is excluded because it is also the next block's first conv row.
    δ confined to these rows leaves a region inverted in F_index unchanged in its interior.
    """
    res = block_of_feature_index(index)
    rows = G.style_rows_of_block(res)
    return list(range(0, rows.stop - 1))


def rows_from_feature(G: Generator, index: int) -> list[int]:
    """Style rows that act after F_index (the complement of `rows_before_feature`)."""
    before = set(rows_before_feature(G, index))
    return [r for r in range(G.num_ws) if r not in before]


def _row_mask(G: Generator, layers: Sequence[int] | torch.Tensor | None, device) -> torch.Tensor:
    """(1, num_ws, 1) float mask of the rows δ may change."""
    m = torch.zeros(G.num_ws, device=device)
    if layers is None:
        m[:] = 1
    elif isinstance(layers, torch.Tensor) and layers.dtype == torch.bool:
        if layers.numel() != G.num_ws:
            raise ValueError(f"layer mask has {layers.numel()} entries; the generator has {G.num_ws} style rows")
        m[layers.to(device).flatten()] = 1
    else:
        rows = [int(r) for r in layers]
        bad = [r for r in rows if not 0 <= r < G.num_ws]
        if bad:
            raise ValueError(f"style rows {bad} out of range 0..{G.num_ws - 1}")
        m[rows] = 1
    return m.view(1, -1, 1)


def clip_loss(clip: ClipModel, image: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
    """D_CLIP = 1 − cos(E_I(image), E_T(text)) per image: (N,). Equals StyleCLIP's
    1 − logits/100 for OpenAI's model, whose logit scale is 100."""
    return 1.0 - (clip.encode_image(image) * text_emb).sum(-1)


def random_views(image: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """n differentiable views of image (1, 3, H, W): the image itself, then random flips,
    zooms up to 15 % and shifts (border padding) → (n, 3, H, W)."""
    if n <= 1:
        return image
    k = n - 1
    scale = 1 - 0.15 * torch.rand(k, generator=gen)
    shift = (torch.rand(k, 2, generator=gen) * 2 - 1) * (1 - scale).unsqueeze(1)
    flip = torch.where(torch.rand(k, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(k, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, :, 2] = scale * flip, scale, shift
    grid = torch.nn.functional.affine_grid(theta.to(image), [k, *image.shape[1:]], align_corners=False)
    views = torch.nn.functional.grid_sample(image.expand(k, -1, -1, -1), grid, padding_mode="border", align_corners=False)
    return torch.cat([image, views])


def text_edit(
    G: Generator,
    w_plus: torch.Tensor,  # (1, num_ws, w_dim): the inverted w+
    delta_f: Mapping[int, torch.Tensor] | None,  # i → Δf_i of the SAM inversion
    masks: Mapping[int, torch.Tensor] | None,  # i → m_i at F_i's size
    prompt: str,
    clip: ClipModel,
    steps: int | None = None,
    lr: float | None = None,
    l2_lambda: float | None = None,
    layers: Sequence[int] | torch.Tensor | None = None,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    seed: int = 0,
    settings: StyleClipSettings = StyleClipSettings(),
) -> TextEditResult:
    """Optimise δw+ so the gated render matches `prompt`; → TextEditResult.

    `layers` restricts the style rows δ may change (indices or a bool mask of num_ws; None: all).
    `on_step(step, total, losses, preview)` runs after every step; `preview()` renders the
    current δ (no grad), so a UI pays for a preview only when it wants one. `should_stop()` is
    polled before every step: cancelling returns within one step with the best δ so far.
    Deterministic for a given seed (the seed draws δ's tiny starting noise and any views).
    `settings` supplies every knob; `steps`, `lr` and `l2_lambda`, when given, override its own.
    """
    steps = settings.steps if steps is None else steps
    lr = settings.lr if lr is None else lr
    l2_lambda = settings.l2_lambda if l2_lambda is None else l2_lambda
    if w_plus.ndim != 3 or w_plus.shape[0] != 1 or w_plus.shape[1:] != (G.num_ws, G.w_dim):
        raise ValueError(f"w_plus must be (1, {G.num_ws}, {G.w_dim}), got {tuple(w_plus.shape)}")
    device = w_plus.device
    w_plus = w_plus.detach()
    delta_f = {i: d.detach() for i, d in (delta_f or {}).items()}
    masks = {i: m.detach() for i, m in (masks or {}).items()}
    rows = _row_mask(G, layers, device)
    text_emb = clip.encode_text([prompt]).to(device)

    gen = torch.Generator().manual_seed(seed)
    init = torch.randn(w_plus.shape, generator=gen) * settings.init_std
    delta = (init.to(device) * rows).requires_grad_(True)
    opt = torch.optim.Adam([delta], lr=lr)

    def render(d: torch.Tensor) -> torch.Tensor:
        return G.synthesize(w_plus, delta_f, masks, delta_w=d * rows, noise_mode="const")

    best = torch.zeros_like(w_plus)
    best_loss, best_step = math.inf, 0
    history: list[dict] = []
    cancelled = False
    for i in range(steps):
        if should_stop is not None and should_stop():
            cancelled = True
            break
        step_lr = ramped_lr(i / steps, lr, settings.lr_rampup, settings.lr_rampdown)
        opt.param_groups[0]["lr"] = step_lr
        with torch.enable_grad():
            d_eff = delta * rows
            c_loss = clip_loss(clip, random_views(render(delta), settings.clip_views, gen), text_emb).mean()
            l2 = (d_eff**2).sum()
            loss = c_loss + l2_lambda * l2
            (grad,) = torch.autograd.grad(loss, [delta])
        if loss.item() < best_loss:  # losses are of δ before this step's update
            best_loss, best_step = loss.item(), i + 1
            best = d_eff.detach().clone()
        delta.grad = grad
        opt.step()
        losses = {"step": i + 1, "loss": loss.item(), "clip": c_loss.item(), "l2": l2.item(), "lr": step_lr}
        history.append(losses)
        if on_step is not None:
            current = (delta * rows).detach().clone()
            on_step(i + 1, steps, losses, _preview(G, w_plus, delta_f, masks, current))
    return TextEditResult(best, history, cancelled, prompt, best_step)


def _preview(G: Generator, w_plus, delta_f, masks, delta: torch.Tensor) -> PreviewFn:
    def preview() -> torch.Tensor:
        with torch.no_grad():
            return G.synthesize(w_plus, delta_f, masks, delta_w=delta, noise_mode="const")

    return preview
