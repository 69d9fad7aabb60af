"""BigGAN-deep's generator (Brock et al. 2019, the "deep" variant DeepMind released on TF-Hub).

Data flow, with the channel table in `config.py`:

    e      = E y                                       class embedding, y a (soft) one-hot (N, classes)
    c_k    = [z_k, e]                                   what stage k reads (N, 2·z_dim)
    F_0    = reshape(gen_z(c_0))                        (N, 16·ch, 4, 4)
    F_k    = block_k(attention?(F_{k−1}), c_k)          k = 1 … B, the residual blocks
    x̂      = tanh(conv_to_rgb(relu(bn(F_B)))[:, :3])

Every block's four batch norms are conditional: scale 1 + W_s c_k and offset W_o c_k, with the
normalisation statistics DeepMind measured for the truncation ψ in use (51 values, ψ = 0 … 1).
In the released model every stage reads the *same* c = [z, e]; BigGAN-deep, unlike BigGAN, does
not split z into chunks per block. Giving stage k its own z_k is the Z+ space of the SAM paper
(Fig. 4.4), built exactly like StyleGAN2's W+ from W: Z+ = {(z_0, …, z_B)}, and z_k = z for all k
is the ordinary generator.

Module and parameter names follow the port (`generator.layers.3.bn_1.scale.weight`, …) with its
spectral norms already folded in (W = W_orig / σ, σ = uᵀ W_orig v from the file's u, v), so a
converted file is a plain `load_state_dict` (`checkpoint.py`). All pure PyTorch; nothing compiles.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import BigGANDeepConfig

BOTTLENECK = 4  # channel reduction inside a block


class ConditionalBatchNorm(torch.nn.Module):
    """Batch norm with stored statistics per truncation ψ; conditional: γ = 1 + W_s c, β = W_o c.
    In training mode it normalises with the batch's statistics (and records them while
    `collected` is a list: how the demo trainer measures the standing statistics per ψ)."""

    def __init__(
        self,
        num_features: int,  # channels normalised
        cond_dim: int | None,  # width of c; None: an ordinary affine batch norm (the final one)
        n_stats: int,  # statistics for ψ = 0, 1/(n−1), …, 1
        eps: float,
    ):
        super().__init__()
        self.eps = eps
        self.register_buffer("running_means", torch.zeros(n_stats, num_features))
        self.register_buffer("running_vars", torch.ones(n_stats, num_features))
        self.collected: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # batch stats while standing
        self.conditional = cond_dim is not None
        if self.conditional:
            self.scale = torch.nn.Linear(cond_dim, num_features, bias=False)
            self.offset = torch.nn.Linear(cond_dim, num_features, bias=False)
        else:
            self.weight = torch.nn.Parameter(torch.ones(num_features))
            self.bias = torch.nn.Parameter(torch.zeros(num_features))

    def statistics(self, truncation: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, var) (C,) at ψ, linearly interpolated between the two stored neighbours.

        The port weights the neighbours the other way round (the fraction multiplies the lower
        one), which is exact only on the grid ψ = k/(n−1); on the grid both agree."""
        if not 0 < truncation <= 1:
            raise ValueError(f"truncation must be in (0, 1], got {truncation}")
        pos = truncation * (self.running_means.shape[0] - 1)
        lo = min(int(math.floor(pos)), self.running_means.shape[0] - 1)
        frac = pos - lo
        if frac < 1e-9:
            return self.running_means[lo], self.running_vars[lo]
        hi = lo + 1
        mean = torch.lerp(self.running_means[lo], self.running_means[hi], frac)
        var = torch.lerp(self.running_vars[lo], self.running_vars[hi], frac)
        return mean, var

    def forward(self, x: torch.Tensor, truncation: float, cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.training:  # training and standing statistics (demo/train_biggan.py): the batch's own
            mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
            if self.collected is not None:
                self.collected.append((mean.detach(), var.detach()))
        else:
            mean, var = self.statistics(truncation)
        x = (x - mean[:, None, None]) * torch.rsqrt(var[:, None, None] + self.eps)
        if self.conditional:
            gamma = 1 + self.scale(cond)[:, :, None, None]  # (N, C, 1, 1)
            beta = self.offset(cond)[:, :, None, None]
            return x * gamma + beta
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class GenBlock(torch.nn.Module):
    """BigGAN-deep's residual block: 4 × (cond. BN, ReLU, conv) with a 4× bottleneck; the skip
    path keeps the first half of the channels when they halve and is up-sampled (nearest) too."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, up: bool, n_stats: int, eps: float):
        super().__init__()
        mid = in_ch // BOTTLENECK
        self.up = up
        self.in_channels, self.out_channels = in_ch, out_ch
        self.bn_0 = ConditionalBatchNorm(in_ch, cond_dim, n_stats, eps)
        self.conv_0 = torch.nn.Conv2d(in_ch, mid, 1)
        self.bn_1 = ConditionalBatchNorm(mid, cond_dim, n_stats, eps)
        self.conv_1 = torch.nn.Conv2d(mid, mid, 3, padding=1)
        self.bn_2 = ConditionalBatchNorm(mid, cond_dim, n_stats, eps)
        self.conv_2 = torch.nn.Conv2d(mid, mid, 3, padding=1)
        self.bn_3 = ConditionalBatchNorm(mid, cond_dim, n_stats, eps)
        self.conv_3 = torch.nn.Conv2d(mid, out_ch, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, truncation: float) -> torch.Tensor:
        """(N, in, r, r), c (N, cond_dim) → (N, out, r·(2 if up else 1), …)."""
        h = self.conv_0(F.relu(self.bn_0(x, truncation, cond)))
        h = F.relu(self.bn_1(h, truncation, cond))
        if self.up:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.conv_1(h)
        h = self.conv_2(F.relu(self.bn_2(h, truncation, cond)))
        h = self.conv_3(F.relu(self.bn_3(h, truncation, cond)))
        skip = x[:, : self.out_channels] if self.out_channels != self.in_channels else x
        if self.up:
            skip = F.interpolate(skip, scale_factor=2, mode="nearest")
        return h + skip


class SelfAttention(torch.nn.Module):
    """SAGAN attention with BigGAN's 2×2 max-pooled keys and values: x + γ · o(softmax(θᵀφ) g)."""

    def __init__(self, channels: int):
        super().__init__()
        self.snconv1x1_theta = torch.nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.snconv1x1_phi = torch.nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.snconv1x1_g = torch.nn.Conv2d(channels, channels // 2, 1, bias=False)
        self.snconv1x1_o_conv = torch.nn.Conv2d(channels // 2, channels, 1, bias=False)
        self.gamma = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        theta = self.snconv1x1_theta(x).flatten(2)  # (N, C/8, HW)
        phi = F.max_pool2d(self.snconv1x1_phi(x), 2).flatten(2)  # (N, C/8, HW/4)
        g = F.max_pool2d(self.snconv1x1_g(x), 2).flatten(2)  # (N, C/2, HW/4)
        attn = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (N, HW, HW/4)
        out = (g @ attn.transpose(1, 2)).view(n, c // 2, h, w)
        return x + self.gamma * self.snconv1x1_o_conv(out)


class _Trunk(torch.nn.Module):
    """The port's `generator` sub-module: gen_z, the blocks (attention among them), bn, conv_to_rgb."""

    def __init__(self, cfg: BigGANDeepConfig):
        super().__init__()
        ch = cfg.channel_width
        self.gen_z = torch.nn.Linear(cfg.cond_dim, 4 * 4 * 16 * ch)
        layers: list[torch.nn.Module] = []
        for i, (up, cin, cout) in enumerate(cfg.layers):
            if i == cfg.attention_layer_position:
                layers.append(SelfAttention(cin * ch))
            layers.append(GenBlock(cin * ch, cout * ch, cfg.cond_dim, up, cfg.n_stats, cfg.eps))
        self.layers = torch.nn.ModuleList(layers)
        self.bn = ConditionalBatchNorm(ch, None, cfg.n_stats, cfg.eps)
        self.conv_to_rgb = torch.nn.Conv2d(ch, ch, 3, padding=1)


class BigGANDeep(torch.nn.Module):
    """The network and its stages. Stage 0 is gen_z (reads c_0), stage k ≥ 1 is block k (reads
    c_k), with the self-attention layer run at the start of the stage whose block it precedes;
    F_k is stage k's output. `head` turns F_B into the image."""

    def __init__(self, cfg: BigGANDeepConfig):
        super().__init__()
        self.cfg = cfg
        self.embeddings = torch.nn.Linear(cfg.num_classes, cfg.z_dim, bias=False)
        self.generator = _Trunk(cfg)
        # Plain lists/indices, not sub-module attributes: the state dict keeps the port's names only.
        self._block_index = [i for i, m in enumerate(self.generator.layers) if isinstance(m, GenBlock)]
        self.attention_stage = cfg.attention_layer_position + 1  # runs before block k = position + 1

    @property
    def num_stages(self) -> int:
        return self.cfg.num_blocks + 1

    def block(self, k: int) -> GenBlock:
        """Block k, 1-based as in the channel table."""
        return self.generator.layers[self._block_index[k - 1]]  # type: ignore[return-value]

    def embed(self, class_vector: torch.Tensor) -> torch.Tensor:
        """y (N, num_classes), one-hot or a mixture → e (N, z_dim)."""
        return self.embeddings(class_vector)

    def stage(self, k: int, x: torch.Tensor | None, cond: torch.Tensor, truncation: float) -> torch.Tensor:
        """F_{k−1} (None for k = 0), c_k (N, 2·z_dim) → F_k."""
        if k == 0:
            ch = 16 * self.cfg.channel_width
            h = self.generator.gen_z(cond)
            # The TF weights lay the 4×4 grid out as (H, W, C).
            return h.view(-1, 4, 4, ch).permute(0, 3, 1, 2).contiguous()
        if x is None:
            raise ValueError(f"stage {k} needs F{k - 1}")
        if k == self.attention_stage:
            x = self.generator.layers[self.cfg.attention_layer_position](x)
        return self.block(k)(x, cond, truncation)

    def head(self, x: torch.Tensor, truncation: float) -> torch.Tensor:
        """F_B (N, ch, R, R) → x̂ (N, 3, R, R) in [-1, 1]."""
        x = F.relu(self.generator.bn(x, truncation))
        return torch.tanh(self.generator.conv_to_rgb(x)[:, :3])

    def forward(self, z: torch.Tensor, class_vector: torch.Tensor, truncation: float) -> torch.Tensor:
        """The released generator: one z (N, z_dim) for every stage, y (N, num_classes), ψ."""
        cond = torch.cat([z, self.embed(class_vector)], dim=1)
        x = None
        for k in range(self.num_stages):
            x = self.stage(k, x, cond, truncation)
        assert x is not None
        return self.head(x, truncation)
