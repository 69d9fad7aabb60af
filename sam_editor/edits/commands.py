"""`sam-editor edit …`, `sam-editor ganspace …`, `sam-editor edit-presets …` (§3.4 from the CLI).

    sam-editor edit PHI_FILE --generator G.pt --ganspace 3:1.5 --layers 0-5 \\
        --preset "Car - Autumn" --direction edits/cars/csc_blue.npy:2 --text "a red car" --out edited.png

PHI_FILE is the inverted code φ = {w+, Δf_i, m_i}, as written by the inversion
(`sam_editor.inversion.phi.Phi.save`, `.pt` or `.npz`); a plain `torch.save`d dict
{"w_plus": (N, num_ws, w_dim), "delta_f": {i: (N, C_i, H_i, W_i)}, "masks": {i: mask}} (keys i
or "F<i>"; a mask may be at F_i's size or at the output size (N|1, 1, H_out, W_out)) works too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..gan.networks import Generator
    from . import ganspace as gs


# ---- φ loading ---------------------------------------------------------------------------------
def load_phi(
    G: Generator, path: str | Path, index: int = 0
) -> tuple[torch.Tensor, dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    """φ of image `index` from a file (`Phi.load`: the inversion's `.pt`/`.npz`, or a plain
    dict of w_plus / delta_f / masks) → (w+ (1, num_ws, w_dim), {i: Δf_i}, {i: m_i at F_i's size})."""
    from ..inversion.phi import Phi

    phi = Phi.load(path)
    if phi.n > 1:
        phi = phi.select(index)
    if tuple(phi.w_plus.shape[1:]) != (G.num_ws, G.w_dim):
        raise ValueError(f"φ's w+ is {tuple(phi.w_plus.shape)}, the generator needs (N, {G.num_ws}, {G.w_dim})")
    masks = {i: m if tuple(m.shape[-2:]) == G.feature_shape(i)[1:] else G.mask_to_feature(m, i) for i, m in phi.masks.items()}
    return phi.w_plus.float(), {i: v.float() for i, v in phi.delta_f.items()}, {i: m.float() for i, m in masks.items()}


# ---- argument parsing ---------------------------------------------------------------------------
def _split_value(text: str, default: float) -> tuple[str, float]:
    """'NAME:2.0' → ('NAME', 2.0); 'NAME' → ('NAME', default). Splits at the last colon only
    when what follows is a number (so Windows paths and names with colons survive)."""
    head, sep, tail = text.rpartition(":")
    if sep:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return text, default


def parse_ganspace_arg(text: str, default_layers: str | None, num_ws: int) -> tuple[int, float, tuple[int, int]]:
    """'K:S' or 'K:S@A-B' → (k, strength, (start, end))."""
    from . import ganspace as gs

    spec, _, layers = text.partition("@")
    k_text, _, s_text = spec.partition(":")
    try:
        k, strength = int(k_text), float(s_text) if s_text else 1.0
    except ValueError:
        raise ValueError(f"--ganspace {text!r}: expected COMPONENT:STRENGTH[@START-END]") from None
    return k, strength, gs.parse_layers(layers or default_layers, num_ws)


def _components(G: Generator, args: argparse.Namespace) -> gs.GanspaceComponents:
    from ..util import StepBar
    from . import ganspace as gs

    with StepBar("GANSpace PCA", unit="w") as bar:
        return gs.load_or_compute(
            G,
            weights_path=args.generator,
            cache_dir=args.ganspace_cache,
            n_samples=args.n_samples or gs.PAPER_N_SAMPLES,
            n_components=args.components or gs.PAPER_N_COMPONENTS,
            seed=args.pca_seed,
            on_step=bar,
            precision=args.pca_precision,
        )


def _text_delta_w(G: Generator, phi: tuple, text: str, args: argparse.Namespace, area: float = 1.0) -> torch.Tensor:
    """δw+ (1, num_ws, w_dim) for a prompt, delegated to `sam_editor.edits.styleclip`: its
    `text_edit(G, w+, Δf, masks, prompt, clip, …)` (gated latent optimisation) with the CLIP
    model from `clip_models.load_clip`."""
    from . import clip_models, styleclip
    from . import ganspace as gs

    w_plus, delta_f, masks = phi
    clip = clip_models.load_clip(args.clip)
    kwargs = {} if args.text_steps is None else {"steps": args.text_steps}
    if getattr(args, "text_l2", None) is not None:
        kwargs["l2_lambda"] = args.text_l2
    elif area < 1.0:
        kwargs["l2_lambda"] = styleclip.l2_lambda_for_region(area)
    if getattr(args, "text_views", None) is not None:
        kwargs["settings"] = styleclip.StyleClipSettings(clip_views=args.text_views)
    if getattr(args, "text_layers", None):
        start, end = gs.parse_layers(args.text_layers, G.num_ws)
        kwargs["layers"] = list(range(start, end + 1))
    result = styleclip.text_edit(G, w_plus[:1], delta_f, masks, text, clip, **kwargs)
    return result.delta_w.detach()


def save_png(img: torch.Tensor, path: str | Path) -> None:
    """(1, 3, H, W) in [-1, 1] → 8-bit RGB PNG."""
    import cv2
    import numpy as np

    arr = ((img[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: could not write the image")


def load_region(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """A mask image (white: edits may act) → (H, W) bool at the generator's output size."""
    import cv2

    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"--region {path}: not a readable image")
    if mask.shape != tuple(size):
        mask = cv2.resize(mask, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    region = mask > 127
    if not region.any():
        raise ValueError(f"--region {path}: the mask is empty (no white pixels), so no edit could act")
    return region


def _load_G(args: argparse.Namespace) -> Generator:
    """Any generator `invert` reads (native .pt, official .pkl, rosinality .pt); without
    --generator the demo bundle's, as `invert` does (`args.generator` is set to the path)."""
    from ..gan.checkpoints import load_generator_any
    from ..weights import demo_bundle_dir

    if args.generator is None:
        args.generator = str(demo_bundle_dir() / "generator.pt")
    return load_generator_any(args.generator)[0]


# ---- subcommands ------------------------------------------------------------------------------
def run_edit(args: argparse.Namespace) -> int:
    """The `edit` subcommand; user errors (bad files, names, shapes) → message + exit code 2."""
    from ..gan.native import CheckpointError
    from .class_edit import is_class_edit, run_class_edit
    from .official import DirectionError

    if is_class_edit(args):  # a class-conditional family's φ (BigGAN-deep): class edits
        return run_class_edit(args)
    try:
        return _run_edit(args)
    except (CheckpointError, DirectionError, KeyError, ValueError, RuntimeError, OSError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"sam-editor edit: error: {msg}", file=sys.stderr)
        return 2


def _run_edit(args: argparse.Namespace) -> int:
    import numpy as np

    from . import ganspace as gs
    from .compose import render_edit
    from .official import directions_for_generator, load_direction_for
    from .presets import OFFICIAL_CAR_GENERATOR, get_preset
    from .region import limit_to_region
    from .spec import EditSpec, resolve_edits

    G = _load_G(args)
    w_plus, delta_f, masks = load_phi(G, args.phi_file, args.index)
    area = 1.0  # fraction of the frame the edits may change
    if args.region:
        region = load_region(args.region, G.cfg.output_size)
        delta_f, masks = limit_to_region(G, delta_f, masks, region)
        area = float(region.mean())
    # The same edit model as the window's and the recipes' (edits.spec): every argument becomes an
    # EditSpec first, so a typo fails before the (possibly long) PCA or text optimisation.
    all_rows = (0, G.num_ws - 1)
    specs: list[EditSpec] = []
    for text in args.ganspace or []:
        k, strength, layers = parse_ganspace_arg(text, args.layers, G.num_ws)
        specs.append(EditSpec("ganspace", f"PC{k} [{layers[0]}-{layers[1]}]", strength, layers, component=k))
    for text in args.preset or []:
        name, strength = _split_value(text, float("nan"))
        preset = get_preset(name, args.user_presets)
        gs.check_layers(preset.layers, G.num_ws)
        if preset.generator == OFFICIAL_CAR_GENERATOR and (G.num_ws, G.w_dim) != (16, 512):
            print(f"warning: preset {preset.name!r} was found for {OFFICIAL_CAR_GENERATOR}; its component "
                  "index may mean something else for this generator", file=sys.stderr)  # fmt: skip
        strength = preset.strength if np.isnan(strength) else strength
        specs.append(EditSpec("ganspace", preset.name, strength, tuple(preset.layers), component=preset.component))
    directions: dict[int, torch.Tensor] = {}
    official = None
    for text in args.direction or []:
        target, mult = _split_value(text, 1.0)
        if Path(target).suffix == ".npy" or Path(target).is_file():
            d = load_direction_for(G, target)
        else:
            official = official if official is not None else directions_for_generator(G, args.generator)
            if target not in official:
                raise KeyError(f"no direction {target!r}; found next to the weights: {sorted(official) or 'none'}")
            d = official[target]
        directions[len(directions) + 1] = d.delta_w
        specs.append(EditSpec("direction", d.name, mult, all_rows, key=len(directions)))
    comps = _components(G, args) if any(s.kind == "ganspace" for s in specs) else None
    if args.text:
        directions[len(directions) + 1] = _text_delta_w(G, (w_plus, delta_f, masks), args.text, args, area)
        specs.append(EditSpec("styleclip", f"“{args.text}”", args.text_strength, all_rows, text=args.text, key=len(directions)))
    stack = resolve_edits(G, specs, comps, directions)
    img = render_edit(G, w_plus, delta_f, masks, stack)
    save_png(img[:1], args.out)
    print(f"{args.out}: {len(stack.active())} edit(s), changes from style row {stack.earliest_row()}")
    return 0


def component_strip(
    G: Generator,
    comps: gs.GanspaceComponents,
    components: list[int],
    strength: float = 3.0,
    n_seeds: int = 3,
    layers: tuple[int, int] | None = None,
    truncation_psi: float = 0.7,
) -> np.ndarray:
    """Visualise components: one row per component, for each seed the images at −s, 0, +s σ_k
    (GANSpace-style strips) → uint8 RGB grid (rows·H, seeds·3·W, 3)."""
    import torch

    from . import ganspace as gs

    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        w = G.map(torch.randn(n_seeds, G.z_dim, generator=gen).to(G.mapping.w_avg.device), truncation_psi)
        rows = []
        for k in components:
            d = gs.direction_to_delta_w(G, comps, k, layers, strength)
            imgs = [G.synthesize(w, delta_w=s * d) if s else G.synthesize(w) for s in (-1.0, 0.0, 1.0)]
            tiles = torch.stack(imgs, dim=1).flatten(0, 1)  # (seeds·3, 3, H, W), seed-major
            rows.append(torch.cat(list(tiles), dim=2))  # (3, H, seeds·3·W)
        grid = torch.cat(rows, dim=1)
        return ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def run_ganspace(args: argparse.Namespace) -> int:
    import torch

    from . import ganspace as gs

    G = _load_G(args)
    comps = _components(G, args)
    ratio = comps.explained_variance_ratio
    for k in range(min(args.show, comps.num_components)):
        print(f"PC{k:<3d} σ = {comps.stdev[k]:.4f}  variance {100 * ratio[k]:.2f} %")
    if args.strip:
        layers = gs.parse_layers(args.layers, G.num_ws)
        ks = list(range(min(args.strip_components, comps.num_components)))
        grid = component_strip(G, comps, ks, args.strip_strength, args.strip_seeds, layers)
        save_png(torch.from_numpy(grid).permute(2, 0, 1)[None].float() / 127.5 - 1, args.strip)
        print(
            f"{args.strip}: components {ks[0]}-{ks[-1]} at −{args.strip_strength}, 0, +{args.strip_strength} σ, rows {layers[0]}-{layers[1]}"
        )
    return 0


def run_presets(args: argparse.Namespace) -> int:
    from .presets import Preset, all_presets, save_user_preset

    if args.save:
        if not args.user_presets:
            raise SystemExit("--save needs --user-presets DIR")
        if "@" not in args.save[1] and not args.layers:
            raise SystemExit("--save needs the style rows: K:S@A-B or --layers A-B")
        k, strength, layers = parse_ganspace_arg(args.save[1], args.layers, 10**6)
        path = save_user_preset(Preset(args.save[0], k, layers, strength, source="user"), args.user_presets)
        print(f"saved {path}")
        return 0
    for p in all_presets(args.user_presets):
        print(
            f"{p.name:32s} PC{p.component:<3d} rows {p.layers[0]}-{p.layers[1]:<3d} strength {p.strength:+.1f}  ({p.source})"
        )
    return 0


def _add_pca_args(p: argparse.ArgumentParser) -> None:
    # defaults (None → GANSpace's figures) are resolved in _components, so building the parser loads no torch
    p.add_argument("--n-samples", type=int, default=None, help="sampled w for the PCA (default GANSpace's 10⁶)")
    p.add_argument("--components", type=int, default=None, help="components kept (default GANSpace's 80)")
    p.add_argument("--pca-seed", type=int, default=0)
    p.add_argument("--pca-precision", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="the mapping's precision for the PCA (auto: bfloat16 on CPUs with AMX-BF16, 2.7x fewer CPU-seconds "
                   "on config-f, its first 20 components within cos 0.998 of float32's; benchmarks/bench_ganspace_pca.py)")  # fmt: skip
    p.add_argument("--ganspace-cache", default=None, help="folder of the .npz cache (default: next to the weights)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("edit", help="apply GANSpace / official / text edits to an inverted φ (§3.4)")
    p.add_argument("phi_file", metavar="PHI_FILE")
    p.add_argument("--generator", default=None, help="generator file (native .pt or an official checkpoint; default: the demo bundle's)")
    p.add_argument("--index", type=int, default=0, help="which image of a multi-image φ file")
    p.add_argument("--ganspace", action="append", metavar="K:S[@A-B]", help="component K at strength S (σ units)")
    p.add_argument("--layers", default=None, metavar="A-B", help="style rows for --ganspace (inclusive; default all)")
    p.add_argument("--preset", action="append", metavar="NAME[:S]", help="named GANSpace preset")
    p.add_argument("--direction", action="append", metavar="FILE.npy:M", help="δw+ file (or official name) × M")
    p.add_argument("--text", default=None, help="text edit via StyleCLIP")
    p.add_argument("--region", default=None, metavar="MASK.png",
                   help="edit only where this mask is white (resized to the generator's frame); the rest stays as inverted")
    p.add_argument("--text-strength", type=float, default=1.0, help="multiplier of the optimised text δw+")
    p.add_argument("--text-steps", type=int, default=None, help="StyleCLIP optimisation steps (default: theirs)")
    p.add_argument("--text-l2", type=float, default=None, metavar="LAMBDA",
                   help="StyleCLIP's λ_L2 (default 0.008, scaled by the region's area with --region)")
    p.add_argument("--text-views", type=int, default=None,
                   help="CLIP views per StyleCLIP step (default 1: the official loss)")
    p.add_argument("--text-layers", default=None, metavar="A-B",
                   help="style rows the text edit may change (inclusive; default all), e.g. 4-11 for colour only")
    p.add_argument("--clip", default="auto", help="CLIP model for --text: auto, vit-b-32, demo, or a folder with a tiny model (see sam_editor.edits.clip_models)")
    p.add_argument("--user-presets", default=None, metavar="DIR", help="folder of user presets (JSON)")
    p.add_argument("--class", dest="class_index", default=None, metavar="N|NAME",
                   help="BigGAN-deep φ: change the class (ImageNet index or name, e.g. 511 or convertible)")
    p.add_argument("--class-strength", type=float, default=1.0, help="class interpolation s (0 = unchanged, 1 = the new class)")
    p.add_argument("--class-stages", default=None, metavar="A-B", help="conditioning stages the class edit reaches (default all)")
    p.add_argument("--out", required=True, help="output PNG")
    _add_pca_args(p)
    p.set_defaults(func=run_edit)

    q = subparsers.add_parser("ganspace", help="compute (or read from cache) the GANSpace PCA of a generator")
    q.add_argument("--generator", default=None, help="generator file (native .pt or an official checkpoint; default: the demo bundle's)")
    q.add_argument("--show", type=int, default=10, help="components to print")
    q.add_argument("--strip", default=None, metavar="OUT.png", help="also write a −s/0/+s strip per component")
    q.add_argument("--strip-components", type=int, default=5)
    q.add_argument("--strip-strength", type=float, default=3.0, help="s, in σ units")
    q.add_argument("--strip-seeds", type=int, default=3)
    q.add_argument("--layers", default=None, metavar="A-B", help="style rows the strip edits (default all)")
    _add_pca_args(q)
    q.set_defaults(func=run_ganspace)

    r = subparsers.add_parser("edit-presets", help="list GANSpace presets, or save a user preset")
    r.add_argument("--user-presets", default=None, metavar="DIR")
    r.add_argument("--save", nargs=2, metavar=("NAME", "K:S[@A-B]"), help="save a user preset")
    r.add_argument("--layers", default=None, metavar="A-B")
    r.set_defaults(func=run_presets)
