"""BigGAN-deep's hyper-parameters, read from the PyTorch port's `config.json`.

The published files (DeepMind's TF-Hub BigGAN-deep 128/256/512, converted by the
`pytorch-pretrained-biggan` port) describe the network by a list of residual blocks
`layers = [[up-sample?, in_mult, out_mult], …]`, channels being `mult · channel_width`, and the
position of the one self-attention layer (before block `attention_layer_position`, counting
from 0). The channel table below is that list, spelled out (channel_width 128):

    block  up   128 px            256 px            512 px
    1      -    4²   2048→2048    4²   2048→2048    4²   2048→2048
    2      ×2   8²   2048→2048    8²   2048→2048    8²   2048→2048
    3      -    8²   2048→2048    8²   2048→2048    8²   2048→2048
    4      ×2   16²  2048→1024    16²  2048→1024    16²  2048→1024
    5      -    16²  1024→1024    16²  1024→1024    16²  1024→1024
    6      ×2   32²  1024→512     32²  1024→1024    32²  1024→1024
    7      -    32²  512→512      32²  1024→1024    32²  1024→1024
    8      ×2   64²  512→256      64²  1024→512     64²  1024→512
    (self-attention on the 64² features before block 9, at all three sizes)
    9      -    64²  256→256      64²  512→512      64²  512→512
    10     ×2   128² 256→128      128² 512→256      128² 512→256
    11     -                      128² 256→256      128² 256→256
    12     ×2                     256² 256→128      256² 256→128
    13     -                                        256² 128→128
    14     ×2                                       512² 128→128

(the 512 px list is the one the port's converter declares; `channel_table()` prints any config's).
followed by an unconditional batch norm, ReLU, a 3×3 conv to `channel_width` channels of which
the first three are RGB, and tanh. Each block is BigGAN-deep's bottleneck residual block (four
conditional batch norms, 1×1 → 3×3 → 3×3 → 1×1 convs with a 4× channel reduction inside).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

FIELDS = ("output_dim", "z_dim", "class_embed_dim", "channel_width", "num_classes", "layers",
          "attention_layer_position", "eps", "n_stats")  # fmt: skip


class BigGANConfigError(ValueError):
    """A config.json that does not describe a BigGAN-deep generator; the message says what is wrong."""


@dataclasses.dataclass(frozen=True)
class BigGANDeepConfig:
    """The port's config.json fields (defaults: BigGAN-deep 128)."""

    output_dim: int = 128  # square output resolution
    z_dim: int = 128  # width of z, and of the class embedding (the port's embedding maps classes → z_dim)
    class_embed_dim: int = 128  # recorded by the port, equal to z_dim in every published file
    channel_width: int = 128
    num_classes: int = 1000
    layers: tuple[tuple[bool, int, int], ...] = (
        (False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8),
        (True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1),
    )  # fmt: skip
    attention_layer_position: int = 8
    eps: float = 1e-4  # batch-norm epsilon
    n_stats: int = 51  # batch-norm statistics stored for truncation 0, 1/50, …, 1

    def __post_init__(self) -> None:
        layers = tuple((bool(u), int(i), int(o)) for u, i, o in self.layers)
        object.__setattr__(self, "layers", layers)
        if not layers:
            raise BigGANConfigError("config.json lists no generator blocks ('layers' is empty)")
        if self.z_dim < 1 or self.channel_width < 1 or self.num_classes < 1:
            raise BigGANConfigError("z_dim, channel_width and num_classes must be positive")
        if self.n_stats < 2:
            raise BigGANConfigError("n_stats must be ≥ 2 (truncation statistics at 0 and 1 at least)")
        if not 0 <= self.attention_layer_position < len(layers):
            raise BigGANConfigError(
                f"attention_layer_position {self.attention_layer_position} is not one of the {len(layers)} blocks"
            )
        for k, (_, cin, cout) in enumerate(layers, start=1):
            if cin < 1 or cout < 1:
                raise BigGANConfigError(f"block {k}: channel multipliers must be positive, got {cin}→{cout}")
            if cout != cin and 2 * cout != cin:
                # The residual path drops the second half of the channels when they shrink.
                raise BigGANConfigError(f"block {k}: channels may stay or halve, got {cin}→{cout}")
            if (cin * self.channel_width) % 4:
                raise BigGANConfigError(f"block {k}: {cin * self.channel_width} channels do not divide by 4")
        if 4 * 2 ** sum(u for u, _, _ in layers) != self.output_dim:
            raise BigGANConfigError(
                f"the blocks up-sample 4² to {4 * 2 ** sum(u for u, _, _ in layers)}², but output_dim is {self.output_dim}"
            )
        att_ch = layers[self.attention_layer_position][1] * self.channel_width
        if att_ch % 8:
            raise BigGANConfigError(f"self-attention needs channels divisible by 8, got {att_ch}")
        if layers[0][1] != 16:  # the port's gen_z is 4·4·16·channel_width wide, whatever the table says
            raise BigGANConfigError(f"the first block must take 16 · channel_width channels, got {layers[0][1]} ·")
        if self.channel_width < 3:
            raise BigGANConfigError("channel_width must be ≥ 3 (the first three output channels are RGB)")
        if layers[-1][2] != 1:
            raise BigGANConfigError("the last block must end at channel_width channels (multiplier 1)")

    # ---- geometry ----------------------------------------------------------------------------
    @property
    def resolution(self) -> int:
        return self.output_dim

    @property
    def output_size(self) -> tuple[int, int]:
        return (self.output_dim, self.output_dim)

    @property
    def crop(self) -> None:  # the frame is the image (the family interface's geometry)
        return None

    @property
    def num_blocks(self) -> int:
        return len(self.layers)

    @property
    def cond_dim(self) -> int:
        """Width of what every conditional batch norm reads: [z, class embedding]."""
        return 2 * self.z_dim

    def block_resolution(self, k: int) -> int:
        """Output resolution of block k (1-based)."""
        return 4 * 2 ** sum(u for u, _, _ in self.layers[:k])

    def block_channels(self, k: int) -> tuple[int, int]:
        """(in, out) channels of block k (1-based)."""
        _, cin, cout = self.layers[k - 1]
        return cin * self.channel_width, cout * self.channel_width

    def channel_table(self) -> list[tuple[int, bool, int, int, int]]:
        """[(block, up-samples, output resolution, in channels, out channels)] — the table above."""
        return [(k, self.layers[k - 1][0], self.block_resolution(k), *self.block_channels(k))
                for k in range(1, self.num_blocks + 1)]  # fmt: skip

    # ---- files ----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["layers"] = [list(layer) for layer in self.layers]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping) -> BigGANDeepConfig:
        if not isinstance(d, Mapping):
            raise BigGANConfigError("config.json must hold a JSON object")
        missing = [k for k in ("output_dim", "z_dim", "channel_width", "num_classes", "layers", "attention_layer_position") if k not in d]
        if missing:
            raise BigGANConfigError(f"config.json lacks {', '.join(missing)}")
        try:
            layers = tuple((bool(u), int(i), int(o)) for u, i, o in d["layers"])
            values = {k: d[k] for k in FIELDS if k in d and k != "layers"}
            for k in ("output_dim", "z_dim", "class_embed_dim", "channel_width", "num_classes", "attention_layer_position", "n_stats"):
                if k in values:
                    if isinstance(values[k], bool) or int(values[k]) != values[k]:
                        raise BigGANConfigError(f"config.json: {k} must be an integer, got {values[k]!r}")
                    values[k] = int(values[k])
            if "eps" in values:
                values["eps"] = float(values["eps"])
        except BigGANConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise BigGANConfigError(f"config.json: 'layers' must be a list of [up-sample, in, out] triples ({exc})") from exc
        return cls(layers=layers, **values)

    @classmethod
    def from_json_file(cls, path: str | Path) -> BigGANDeepConfig:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise BigGANConfigError(f"“{p.name}”: no such file (BigGAN-deep needs config.json next to pytorch_model.bin)") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise BigGANConfigError(f"“{p.name}” is not a readable config.json ({type(exc).__name__})") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BigGANConfigError(f"“{p.name}” is not valid JSON (line {exc.lineno}: {exc.msg})") from exc
        return cls.from_dict(data)
