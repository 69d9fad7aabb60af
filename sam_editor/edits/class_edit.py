"""Class edits of a class-conditional family (BigGAN-deep, Fig. 4.4's bottom row), gated per segment.

A class edit turns the class embedding e into e + s(e' − e) on the chosen stages — class
interpolation with strength s, s = 1 being the new class — as a δ on the conditioning rows
(`ClassConditionedBigGAN.class_delta`), so it runs through the one gated pass of §3.4: segments
inverted in F2 keep their unedited features up to F2, Z+ segments take the edit everywhere.

`hold_outside` keeps everything outside a region as inverted: the region's complement joins the
masks at F2 and at the last block's features F_B, so outside it the edit can only act through the
layers after F_B — BigGAN's final batch norm and conv, which read no class at all.

`sam-editor edit PHI --class 511 [--class-strength S] [--class-stages A-B] [--ganspace K:S[@A-B]]
[--region MASK.png]` reads φ's family, generator, class and ψ from its metadata (written by
`session.family_commands`); --ganspace moves z along GANSpace's directions (`ganspace_z`) and
--text runs StyleCLIP (`styleclip.text_edit`, which only asks the family interface) on z.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

DEFAULT_STRENGTH = 1.0


def hold_outside(
    G,  # a class-conditional family generator (ClassConditionedBigGAN)
    delta_f: Mapping[int, torch.Tensor],
    masks: Mapping[int, torch.Tensor],
    region: np.ndarray | torch.Tensor,  # (H_out, W_out) bool/[0, 1]: where the edit may act
) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    """(Δf', m') with m_k' = max(m_k, 1 − r_k) at F2 and F_B and Δf_k' = Δf_k ⊙ m_k / m_k', so the
    reconstruction is unchanged (m' ⊙ Δf' = m ⊙ Δf) and outside r the edit is gated away."""
    delta_f, masks = dict(delta_f), dict(masks)
    r = torch.as_tensor(np.asarray(region, np.float32) if not isinstance(region, torch.Tensor) else region).float()
    if r.ndim != 2 or tuple(r.shape) != tuple(G.cfg.output_size):
        raise ValueError(f"region must be (H, W) = {tuple(G.cfg.output_size)}, got {tuple(r.shape)}")
    outside_full = (1.0 - r.clamp(0, 1)).view(1, 1, *r.shape).to(G.mean_w_plus(1).device)
    feature_spaces = [s.feature_index for s in G.spaces if s.feature_index is not None]
    for k in sorted({*feature_spaces, G.feature_indices()[-1]}):
        outside = G.mask_to_feature(outside_full, k)
        m = masks.get(k)
        if m is None:
            masks[k] = outside
            continue
        new = torch.maximum(m, outside.to(m.dtype))
        if k in delta_f:
            delta_f[k] = delta_f[k] * (m / new.clamp_min(1e-6))
        masks[k] = new
    return delta_f, masks


def family_edit_delta(
    G,  # ClassConditionedBigGAN
    to_class: int,
    strength: float,
    stages: range | None,
    z_edits: Iterable[torch.Tensor] = (),  # each δz (1, num_ws, z_dim): GANSpace (`ZComponents.total`), text
) -> torch.Tensor:
    """δ (1, num_ws, 2·z_dim) of one BigGAN edit, the CLI's and the window's: the class edit on the
    embedding columns (`class_delta`, s on `stages`) plus the z edits on the z columns."""
    delta = G.class_delta(to_class, strength, stages)
    for d in z_edits:
        delta[..., : G.w_dim] += d.to(delta.device)
    return delta


def parse_stages(text: str | None, num_ws: int) -> range | None:
    """'A-B' (inclusive) → range(A, B + 1) of conditioning stages; None → all."""
    if text is None:
        return None
    head, sep, tail = text.partition("-")
    try:
        a, b = int(head), int(tail if sep else head)
    except ValueError:
        raise ValueError(f"--class-stages {text!r}: expected A-B, e.g. 3-{num_ws - 1}") from None
    if not 0 <= a <= b < num_ws:
        raise ValueError(f"--class-stages {text!r}: stages run 0…{num_ws - 1}")
    return range(a, b + 1)


def is_class_edit(args: argparse.Namespace) -> bool:
    """The edit command is a class-conditional family's: a --class edit, a BigGAN generator, or a φ
    whose metadata says it was inverted into BigGAN-deep (an unreadable φ: the StyleGAN2 path reports it)."""
    from ..gan.biggan.checkpoint import is_biggan_spec
    from ..inversion.phi import Phi

    if getattr(args, "class_index", None) is not None or is_biggan_spec(getattr(args, "generator", None)):
        return True
    try:
        return Phi.load(args.phi_file).metadata.get("family") == "biggan-deep"
    except (ValueError, OSError):
        return False


def ganspace_delta(G, args: argparse.Namespace) -> torch.Tensor:
    """Σ of the --ganspace K:S[@A-B] edits (at least one) as δz (1, num_ws, z_dim); components of the
    bound class computed on the spot (6-7 s for the published gen_z on one busy core), nothing cached."""
    from ..util import StepBar
    from .commands import parse_ganspace_arg
    from .ganspace_z import DEFAULT_COMPONENTS, DEFAULT_SAMPLES, z_components

    specs = [parse_ganspace_arg(text, args.layers, G.num_ws) for text in args.ganspace]
    with StepBar("GANSpace on z", unit="z") as bar:
        comps = z_components(G, args.n_samples or DEFAULT_SAMPLES, args.components or DEFAULT_COMPONENTS,
                             seed=args.pca_seed, on_step=bar)  # fmt: skip
    assert comps is not None
    return comps.total([(k, strength, range(a, b + 1)) for k, strength, (a, b) in specs], G.num_ws)


def run_class_edit(args: argparse.Namespace) -> int:
    """`sam-editor edit PHI --class N …` for a φ inverted into BigGAN-deep; errors → one line, exit 2."""
    from ..gan.biggan.checkpoint import BigGANCheckpointError
    from ..gan.biggan.classes import class_name, parse_class
    from ..gan.biggan.generator import load_conditioned
    from ..inversion.images import save_png
    from ..inversion.phi import Phi
    from ..weights import WeightsError
    from .clip_models import ClipWeightsMissing
    from .commands import _text_delta_w, load_phi, load_region

    try:
        phi = Phi.load(args.phi_file)
        meta = phi.metadata
        if meta.get("family") != "biggan-deep":
            raise ValueError(f"{Path(args.phi_file).name} was not inverted into BigGAN-deep; a --class edit needs "
                             "a φ from `sam-editor invert --generator biggan-deep-…`")  # fmt: skip
        if args.preset or args.direction:
            raise ValueError("a BigGAN-deep φ takes --class, --ganspace and --text edits (on z); presets and "
                             "official directions are StyleGAN2's")  # fmt: skip
        if args.class_index is None and not args.ganspace and not args.text:
            raise ValueError("nothing to edit: pass --class N (an ImageNet index or name, e.g. 511 or convertible), "
                             "--ganspace K:S[@A-B] or --text PROMPT")  # fmt: skip
        spec = args.generator or meta.get("generator")
        if not spec:
            raise ValueError("φ does not name its generator; pass --generator")
        G, _ = load_conditioned(spec, int(meta.get("class_index", 0)), float(meta.get("truncation", 1.0)))
        start = int(meta.get("class_index", 0))
        to = start if args.class_index is None else parse_class(args.class_index, G.cfg.num_classes)
        w_plus, delta_f, masks = load_phi(G, args.phi_file, args.index)
        area = 1.0
        if args.region:
            region = load_region(args.region, G.cfg.output_size)
            delta_f, masks = hold_outside(G, delta_f, masks, region)
            area = float(region.mean())
        stages = parse_stages(args.class_stages, G.num_ws)
        z_edits = [ganspace_delta(G, args)] if args.ganspace else []
        if args.text:  # StyleCLIP through the family interface: δz optimised on the inverted class
            z_edits.append(_text_delta_w(G, (w_plus, delta_f, masks), args.text, args, area))
        delta = family_edit_delta(G, to, args.class_strength, stages, z_edits)
        with torch.no_grad():
            image = G.synthesize(w_plus, delta_f, masks, delta_w=delta).clamp(-1, 1)
        out = save_png(args.out, image[0].cpu())
    except ClipWeightsMissing as exc:
        print(f"sam-editor edit: error: {exc.message}", file=sys.stderr)
        return 2
    except (BigGANCheckpointError, WeightsError, ValueError, OSError) as exc:
        print(f"sam-editor edit: error: {exc}", file=sys.stderr)
        return 2
    what = [f"{class_name(start, G.cfg.num_classes)} → {class_name(to, G.cfg.num_classes)} at {args.class_strength:g}"]
    what += [f"GANSpace z {g}" for g in args.ganspace or []] + ([f"text {args.text!r}"] if args.text else [])
    print(f"{'; '.join(what)}: {out}")
    return 0
