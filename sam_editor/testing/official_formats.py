"""Stand-ins for the official weight files, in their published formats, with random weights.

For the tests and the official-size rehearsal (`benchmarks/rehearse_official.py`): every file is
written in the layout the published one has, so the app's loaders read it exactly as they read
the real file, and at either the official size or a tiny size of the same layout.

* the TF-era NVIDIA generator pickle (`stylegan2-car-config-f.pkl`): a tuple (G, D, Gs) of
  `dnnlib.tflib.network.Network` states, written as the inverse of NVIDIA's converter mapping;
* the official SAM invertibility checkpoint (`invertibility_cars_sg2.pt`): `sd_base` (DeepLabV3+
  on ResNet-101, key names from the published architecture) and one head per latent space;
* torchvision's VGG16 (`vgg16-397923af.pth`, the LPIPS backbone), under `<torch hub>/checkpoints`;
* CLIP ViT-B/32 as open_clip's state-dict file (`open_clip_model.safetensors`);
* NVIDIA's SegFormer-B0 ADE20k folder (`config.json` + `model.safetensors`, Hugging Face names).

Nothing here is imported by the app; nothing needs pytest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pickle
import sys
import time
import types
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..gan.networks import Generator, GeneratorConfig

# ---- the TF-era NVIDIA generator pickle -----------------------------------------------------------
CAR_CONFIG_F = GeneratorConfig()  # config-f at 512 px: NVIDIA's TF defaults (fmap_base 16384, fmap_max 512)
CAR_CROP = (64, 0, 384, 512)  # the SAM code's img[:, :, 64:-64, :]
SMALL_CAR = GeneratorConfig(resolution=64, z_dim=32, w_dim=32, mapping_layers=2, channel_base=512, channel_max=32)
SMALL_CROP = (8, 0, 48, 64)  # the same 4:3 band of the square frame


class FakeTFNetwork:
    """Pickles as `dnnlib.tflib.network.Network` with the TF-era state layout."""

    def __init__(self, name: str, variables: list, components: dict | None = None, static_kwargs: dict | None = None):
        self.state = dict(
            version=4,
            name=name,
            static_kwargs=static_kwargs or {},
            components=components or {},
            build_module_src="raise SystemExit('never executed')",
            build_func_name="G_main",
            variables=variables,
        )

    def __getstate__(self) -> dict:
        return self.state


FakeTFNetwork.__module__, FakeTFNetwork.__qualname__ = "dnnlib.tflib.network", "Network"


@contextlib.contextmanager
def tf_network_module() -> Iterator[None]:
    """`dnnlib.tflib.network.Network` importable while pickling (pickle checks the global's name)."""
    tfnet = types.ModuleType("dnnlib.tflib.network")
    tfnet.Network = FakeTFNetwork
    mods = {"dnnlib": types.ModuleType("dnnlib"), "dnnlib.tflib": types.ModuleType("dnnlib.tflib"),
            "dnnlib.tflib.network": tfnet}  # fmt: skip
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def write_tf_pickle(
    G: Generator, path: Path, protocol: int = 2, static_kwargs: dict | None = None, **extra_kwargs
) -> None:
    """G as NVIDIA's TF-era pickle. `static_kwargs` replaces Gs's recorded kwargs (the official
    car file records none of the widths: the converter then uses the TF defaults); by default the
    config is written out in full, updated with `extra_kwargs`."""
    sd, cfg = {k: v.detach().cpu().numpy() for k, v in G.state_dict().items()}, G.cfg
    mapping = []
    for i in range(cfg.mapping_layers):
        mapping += [
            (f"Dense{i}/weight", sd[f"mapping.fc{i}.weight"].T.copy()),
            (f"Dense{i}/bias", sd[f"mapping.fc{i}.bias"]),
        ]
    synth: list = [("4x4/Const/const", sd["synthesis.b4.const"][None]), ("lod", np.float32(0))]

    def layer(src: str, dst: str, noise: int | None, flip: bool = False) -> None:
        w = sd[f"{dst}.weight"].transpose(2, 3, 1, 0)  # (O, I, k, k) → TF (k, k, I, O)
        synth.extend([(f"{src}/weight", (w[::-1, ::-1] if flip else w).copy()), (f"{src}/bias", sd[f"{dst}.bias"]),
                      (f"{src}/mod_weight", sd[f"{dst}.affine.weight"].T.copy()), (f"{src}/mod_bias", sd[f"{dst}.affine.bias"] - 1)])  # fmt: skip
        if noise is not None:
            synth.append((f"{src}/noise_strength", np.float32(sd[f"{dst}.noise_strength"])))  # a NumPy scalar, as TF returns
            synth.append((f"noise{noise}", sd[f"{dst}.noise_const"][None, None]))

    for res in cfg.block_resolutions:
        log2 = int(np.log2(res))
        if res == 4:
            layer("4x4/Conv", "synthesis.b4.conv1", 0)
        else:
            layer(f"{res}x{res}/Conv0_up", f"synthesis.b{res}.conv0", 2 * log2 - 5, flip=True)
            layer(f"{res}x{res}/Conv1", f"synthesis.b{res}.conv1", 2 * log2 - 4)
        layer(f"{res}x{res}/ToRGB", f"synthesis.b{res}.torgb", None)
    if static_kwargs is None:
        kwargs = dict(num_channels=3, resolution=cfg.resolution, label_size=0, latent_size=cfg.z_dim, dlatent_size=cfg.w_dim,
                      mapping_layers=cfg.mapping_layers, fmap_base=cfg.channel_base // 2, fmap_max=cfg.channel_max)  # fmt: skip
        kwargs.update(extra_kwargs)
    else:
        kwargs = dict(static_kwargs)
    with tf_network_module():
        comps = {"mapping": FakeTFNetwork("G_mapping", mapping), "synthesis": FakeTFNetwork("G_synthesis", synth)}
        gs = FakeTFNetwork("Gs", [("dlatent_avg", sd["mapping.w_avg"])], comps, kwargs)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump((FakeTFNetwork("G", []), FakeTFNetwork("D", []), gs), f, protocol=protocol)


def random_generator(cfg: GeneratorConfig, seed: int = 0) -> Generator:
    """A StyleGAN2 with random weights whose biases, noise strengths and w_avg are not zero."""
    torch.manual_seed(seed)
    G = Generator(cfg).eval().requires_grad_(False)
    for name, p in G.named_parameters():
        if name.endswith(("bias", "noise_strength")) and "affine" not in name:
            p.normal_(0, 0.1)
    G.mapping.w_avg.normal_(0, 0.5)
    return G


def write_car_pickle(path: Path, size: str = "full", seed: int = 0) -> Path:
    """`stylegan2-car-config-f.pkl` with random weights. Full: config-f 512 with only the kwargs
    NVIDIA's file records (the widths are TF defaults); small: a 64-px generator of the same format."""
    if size == "full":
        write_tf_pickle(random_generator(CAR_CONFIG_F, seed), path, static_kwargs={"num_channels": 3, "resolution": 512, "label_size": 0})
    else:
        write_tf_pickle(random_generator(SMALL_CAR, seed), path)
    return path


# ---- the official SAM invertibility predictor (DeepLabV3+ / ResNet-101 / OS16 + per-space heads) -----
OFFICIAL_HEADS = ("W+", "F4", "F6", "F8", "F10")


def _conv(spec: dict, name: str, cout: int, cin: int, k: int, bias: bool = False) -> None:
    spec[f"{name}.weight"] = (cout, cin, k, k)
    if bias:
        spec[f"{name}.bias"] = (cout,)


def _bn(spec: dict, name: str, c: int) -> None:
    for p in ("weight", "bias", "running_mean", "running_var"):
        spec[f"{name}.{p}"] = (c,)
    spec[f"{name}.num_batches_tracked"] = ()


def official_base_spec() -> OrderedDict[str, tuple[int, ...]]:
    """Key names and shapes of the official `sd_base`, written from the published architecture."""
    spec: OrderedDict[str, tuple[int, ...]] = OrderedDict()
    _conv(spec, "backbone.conv1", 64, 3, 7)
    _bn(spec, "backbone.bn1", 64)
    inplanes = 64
    for li, (planes, blocks) in enumerate([(64, 3), (128, 4), (256, 23), (512, 3)], start=1):
        for b in range(blocks):
            p = f"backbone.layer{li}.{b}"
            cin = inplanes if b == 0 else planes * 4
            _conv(spec, f"{p}.conv1", planes, cin, 1)
            _bn(spec, f"{p}.bn1", planes)
            _conv(spec, f"{p}.conv2", planes, planes, 3)
            _bn(spec, f"{p}.bn2", planes)
            _conv(spec, f"{p}.conv3", planes * 4, planes, 1)
            _bn(spec, f"{p}.bn3", planes * 4)
            if b == 0:
                _conv(spec, f"{p}.downsample.0", planes * 4, cin, 1)
                _bn(spec, f"{p}.downsample.1", planes * 4)
        inplanes = planes * 4
    for i, k in enumerate((1, 3, 3, 3), start=1):
        _conv(spec, f"aspp.aspp{i}.atrous_conv", 256, 2048, k)
        _bn(spec, f"aspp.aspp{i}.bn", 256)
    _conv(spec, "aspp.global_avg_pool.1", 256, 2048, 1)
    _bn(spec, "aspp.global_avg_pool.2", 256)
    _conv(spec, "aspp.conv1", 256, 1280, 1)
    _bn(spec, "aspp.bn1", 256)
    _conv(spec, "decoder.conv1", 48, 256, 1)
    _bn(spec, "decoder.bn1", 48)
    _conv(spec, "decoder.last_conv.0", 256, 304, 3)
    _bn(spec, "decoder.last_conv.1", 256)
    _conv(spec, "decoder.last_conv.4", 256, 256, 3)
    _bn(spec, "decoder.last_conv.5", 256)
    _conv(spec, "decoder.last_conv.8", 8, 256, 1, bias=True)
    return spec


def official_head_spec() -> OrderedDict[str, tuple[int, ...]]:
    spec: OrderedDict[str, tuple[int, ...]] = OrderedDict()
    spec["m.0.weight"] = (8, 4, 3, 3)  # ConvTranspose2d(8, 4, 3): weight is (in, out, k, k)
    spec["m.0.bias"] = (4,)
    _bn(spec, "m.1", 4)
    spec["m.3.weight"] = (4, 1, 1, 1)
    spec["m.3.bias"] = (1,)
    return spec


def random_state(spec: dict, gen: torch.Generator, prefix: str = "") -> dict[str, torch.Tensor]:
    out = {}
    for name, shape in spec.items():
        if name.endswith("num_batches_tracked"):
            out[prefix + name] = torch.tensor(0)
        elif name.endswith("running_var"):
            out[prefix + name] = torch.rand(shape, generator=gen) + 0.5
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            out[prefix + name] = torch.randn(shape, generator=gen) / np.sqrt(fan_in)
    return out


def official_predictor_checkpoint(seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """{"sd_base": …, "W+": …, "F4": …, …}: the official file's dict (~59 M weights)."""
    gen = torch.Generator().manual_seed(seed)
    ckpt = {"sd_base": random_state(official_base_spec(), gen)}
    for name in OFFICIAL_HEADS:
        ckpt[name] = random_state(official_head_spec(), gen)
    return ckpt


def write_official_predictor(path: Path, seed: int = 0) -> Path:
    """The official architecture has one size: the small rehearsal writes it too (a few seconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(official_predictor_checkpoint(seed), path)
    return path


# ---- VGG16 (LPIPS backbone), torchvision's layout --------------------------------------------------
def write_vgg16(path: Path, classifier: bool = True, seed: int = 0) -> Path:
    """torchvision's `vgg16` state dict (`features.K.*`, `classifier.K.*`). LPIPS reads only the
    features; `classifier=False` leaves out the 124 M classifier weights (the small rehearsal)."""
    from torchvision.models import vgg

    with torch.device("meta"):  # names and shapes only: torchvision's init of 138 M weights is slow
        model = vgg.vgg16(weights=None)
    spec = {k: tuple(v.shape) for k, v in model.state_dict().items() if classifier or k.startswith("features.")}
    sd = random_state(spec, torch.Generator().manual_seed(seed))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)
    return path


# ---- CLIP ----------------------------------------------------------------------------------------
TINY_CLIP = {  # a random open_clip model in the demo CLIP's file format (config JSON + state dict)
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


def write_vit_b_32(folder: Path, seed: int = 0) -> Path:
    """open_clip's ViT-B-32 (QuickGELU, as OpenAI's weights) with random weights, as the state-dict
    file of open_clip's hub layout: `<folder>/open_clip_model.safetensors` (151 M weights)."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.create_model("ViT-B-32", force_quick_gelu=True)
    sd = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(folder / "open_clip_model.safetensors"))
    return folder / "open_clip_model.safetensors"


def write_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A tiny open_clip model in the demo CLIP's layout (`<name>.json` + `<name>.pt`) → folder."""
    from ..demo.train_clip import build_tiny_clip, save_clip

    torch.manual_seed(seed)
    save_clip(build_tiny_clip(TINY_CLIP), folder, config=TINY_CLIP)
    return folder


# ---- SegFormer ADE20k (Hugging Face folder) --------------------------------------------------------
SEGFORMER_B0 = dict(  # nvidia/segformer-b0-finetuned-ade-512-512's config.json (architecture part)
    hidden_sizes=[32, 64, 160, 256],
    depths=[2, 2, 2, 2],
    num_attention_heads=[1, 2, 5, 8],
    sr_ratios=[8, 4, 2, 1],
    patch_sizes=[7, 3, 3, 3],
    strides=[4, 2, 2, 2],
    mlp_ratios=[4, 4, 4, 4],
    decoder_hidden_size=256,
)
SEGFORMER_TINY = dict(  # 4 stages as B0, heads > 1 and key/value reduction (sr) > 1 where B0 has them
    hidden_sizes=[8, 16, 24, 32],
    depths=[1, 2, 1, 1],
    num_attention_heads=[1, 2, 2, 4],
    sr_ratios=[8, 4, 2, 1],
    patch_sizes=[7, 3, 3, 3],
    strides=[4, 2, 2, 2],
    mlp_ratios=[4, 4, 4, 4],
    decoder_hidden_size=16,
)
ADE20K_NAMES = [f"class{i}" for i in range(150)]
ADE20K_NAMES[20], ADE20K_NAMES[2], ADE20K_NAMES[6] = "car", "sky", "road"  # as in ADE20k's 150-class list


def segformer_config(arch: dict, **changes) -> dict:
    cfg = {"model_type": "segformer", "num_channels": 3, "hidden_act": "gelu", **arch}
    cfg["id2label"] = {str(i): n for i, n in enumerate(ADE20K_NAMES)}
    cfg.update(changes)
    return cfg


def randomise_segformer(model: torch.nn.Module, seed: int = 0) -> None:
    """Weights large enough that every layer shapes the output (the default init is near zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 1.0 if "norm" in name and name.endswith("weight") else 0.5
            p.copy_(torch.randn(p.shape, generator=g) * scale + (1.0 if scale == 1.0 else 0.0))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.3)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)


def write_segformer_folder(folder: Path, arch: dict | None = None, seed: int = 0, fmt: str = "safetensors",
                           **config_changes) -> Path:
    """A SegFormer checkpoint folder (config.json + model.safetensors or pytorch_model.bin) with the
    published parameter names, written without transformers. `arch`: SEGFORMER_B0 by default."""
    from safetensors.torch import save_file

    from ..invertibility.ade20k import SegformerNet, SegformerSpec

    folder.mkdir(parents=True, exist_ok=True)
    cfg = segformer_config(SEGFORMER_B0 if arch is None else arch, **config_changes)
    (folder / "config.json").write_text(json.dumps(cfg))
    model = SegformerNet(SegformerSpec.from_config(cfg))
    randomise_segformer(model, seed)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if fmt == "safetensors":
        save_file(state, str(folder / "model.safetensors"))
    else:
        torch.save(state, folder / "pytorch_model.bin")
    return folder


# ---- the whole official bundle --------------------------------------------------------------------
@dataclasses.dataclass
class OfficialBundle:
    """Where the stand-ins were written. Point the app at them with
    SAM_EDITOR_WEIGHTS=`weights` and TORCH_HOME=`torch_home` (the VGG16 is a torch-hub file)."""

    weights: Path
    torch_home: Path
    generator: Path
    predictor: Path
    vgg16: Path
    clip: Path  # the ViT-B/32 file (full) or the tiny model's folder (small)
    segmenter: Path
    size: str
    build_seconds: dict[str, float]


def official_paths(root: Path, size: str = "full") -> OfficialBundle:
    """Where `write_official_bundle(root, size)` puts each file (the registry's places)."""
    from .. import weights as registry

    if size not in ("full", "small"):
        raise ValueError(f"size must be 'full' or 'small', got {size!r}")
    w, th = root / "weights", root / "torch"
    clip = registry.target_path("clip-vit-b-32", w).parent / "open_clip_model.safetensors" if size == "full" else root / "tiny_clip"
    return OfficialBundle(w, th, registry.target_path("stylegan2-car", w), registry.target_path("invertibility-cars", w),
                          registry.target_path("vgg16", th / "hub"), clip, registry.target_path("segformer-ade20k", w).parent,
                          size, {})  # fmt: skip


def write_official_bundle(root: Path, size: str = "full", seed: int = 0) -> OfficialBundle:
    """Every official file in its registry place under `root/weights` (and the VGG16 under
    `root/torch/hub/checkpoints`), random weights, at official size ("full") or tiny ("small").
    The small bundle's generator needs `SMALL_CROP` recorded for the official file name (see
    `small_car_crop`); its CLIP is a tiny open_clip model in the demo layout (ViT-B/32 has one size)."""
    b = official_paths(root, size)
    full = size == "full"

    def timed(name: str, fn, *a) -> None:  # noqa: ANN001, ANN002
        t0 = time.perf_counter()
        fn(*a)
        b.build_seconds[name] = time.perf_counter() - t0

    timed("generator", write_car_pickle, b.generator, size, seed)
    timed("predictor", write_official_predictor, b.predictor, seed)
    timed("vgg16", write_vgg16, b.vgg16, full, seed)
    timed("clip", write_vit_b_32 if full else write_tiny_clip, b.clip.parent if full else b.clip, seed)
    timed("segmenter", write_segformer_folder, b.segmenter, SEGFORMER_B0 if full else SEGFORMER_TINY, seed)
    return b


@contextlib.contextmanager
def small_car_crop() -> Iterator[None]:
    """The small generator sits under the official car file name, whose known crop is 512-px:
    record the small one's band (8, 0, 48, 64) for that name while this lasts."""
    from ..gan import checkpoints

    old = checkpoints.KNOWN_CROPS.get("stylegan2-car-config-f")
    checkpoints.KNOWN_CROPS["stylegan2-car-config-f"] = SMALL_CROP
    try:
        yield
    finally:
        checkpoints.KNOWN_CROPS["stylegan2-car-config-f"] = old  # type: ignore[assignment]
