"""BigGAN-deep behind the family interface (`gan/family.py`): Z+ and F2, class edits, the gated pass.

`ClassConditionedBigGAN` is the network with a class y and a truncation ψ bound to it — what
inversion, edits and the window receive. Its spaces Φ = {Z+, F2} (the paper's Fig. 4.4):

* **Z+** — one z per stage, rows (N, B + 1, z_dim): row 0 feeds gen_z, row k block k. BigGAN-deep
  feeds the whole z to every stage (it has no per-block chunks to split, unlike BigGAN), so Z+
  gives every consumer its own full copy — W+'s construction — and Z (one z repeated) is the
  released generator. Splitting z into B + 1 chunks instead would leave each block about
  9 of 128 dimensions and make the released generator unreachable.
* **F2** — the features after the second residual block, stage 2's output: 8×8 with 16·ch
  channels at 128/256/512 px (2048 for the published models). Indexing F_k by the row its
  block reads is StyleGAN2's rule (F_i comes out of the block that consumes row i), and it is
  also the paper's wording "after the second generator block". Every F_k (k = 1 … B) can be
  used; the family *offers* Z+ and F2 as Φ, as the paper does.

Edits are δ on the conditioning rows c_k = [z_k, e]: a z edit (GANSpace on z) has width z_dim;
a class edit has width 2·z_dim and moves only the embedding half by s·(E y' − E y), which is the
class interpolation e + s(e' − e) (E is linear). Both run through the one gated pass of §3.4:
a region inverted in F_k keeps its unedited f_k, so only the stages after k see the edit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..family import LatentSpaceInfo
from .config import BigGANDeepConfig
from .model import BigGANDeep

PAPER_FEATURE = 2  # F2 of Fig. 4.4
TRUNCNORM_BOUND = 2.0  # the port samples z from a normal truncated to [−2, 2], times ψ


def one_hot(classes: int | Sequence[int] | torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class index (or N indices) → (N, num_classes) float32 one-hot, with a clear error out of range."""
    idx = torch.as_tensor(classes if not isinstance(classes, int) else [classes]).long().flatten()
    bad = [int(i) for i in idx if not 0 <= int(i) < num_classes]
    if bad:
        raise ValueError(f"class {bad[0]} is not one of this generator's {num_classes} classes (0…{num_classes - 1})")
    return F.one_hot(idx, num_classes).float()


class ClassConditionedBigGAN(torch.nn.Module):
    """BigGAN-deep with class vector y (1 | N, num_classes) and truncation ψ bound; see the module doc."""

    family = "biggan-deep"
    edit_panel = "class"  # the window's class picker (`gan.family.edit_panel_kind`)

    def __init__(self, net: BigGANDeep, class_vector: torch.Tensor, truncation: float = 1.0):
        super().__init__()
        if not 0 < truncation <= 1:
            raise ValueError(f"truncation must be in (0, 1], got {truncation}")
        self.net = net
        self.truncation = float(truncation)
        y = class_vector.float()
        if y.ndim == 1:
            y = y.unsqueeze(0)
        if y.ndim != 2 or y.shape[1] != net.cfg.num_classes:
            raise ValueError(f"class vector must be (N, {net.cfg.num_classes}), got {tuple(class_vector.shape)}")
        self.register_buffer("class_vector", y)
        self.num_ws = net.num_stages
        self.w_dim = net.cfg.z_dim
        self.eval()  # inference: batch norms use the stored statistics for ψ, never the batch's

    @classmethod
    def for_class(cls, net: BigGANDeep, class_index: int, truncation: float = 1.0) -> ClassConditionedBigGAN:
        return cls(net, one_hot(class_index, net.cfg.num_classes).to(_device(net)), truncation)

    def with_class(self, class_vector: torch.Tensor | int) -> ClassConditionedBigGAN:
        """The same network (shared, not copied) bound to another class."""
        if isinstance(class_vector, int):
            class_vector = one_hot(class_vector, self.net.cfg.num_classes)
        return ClassConditionedBigGAN(self.net, class_vector.to(self.class_vector.device), self.truncation)

    # ---- the family interface ----------------------------------------------------------------
    @property
    def cfg(self) -> BigGANDeepConfig:
        return self.net.cfg

    @property
    def spaces(self) -> tuple[LatentSpaceInfo, ...]:
        r = self.cfg.block_resolution(PAPER_FEATURE)
        return (
            LatentSpaceInfo("Z+", None, f"one z per stage ({self.num_ws} × {self.w_dim}), class fixed"),
            LatentSpaceInfo(f"F{PAPER_FEATURE}", PAPER_FEATURE, f"features after block {PAPER_FEATURE} ({r}×{r})"),
        )

    def mean_w_plus(self, n: int = 1) -> torch.Tensor:
        """The prior's mode, z = 0 on every row (N, B + 1, z_dim)."""
        return torch.zeros(n, self.num_ws, self.w_dim, device=self.class_vector.device)

    def feature_indices(self) -> list[int]:
        return list(range(1, self.cfg.num_blocks + 1))

    def feature_shape(self, index: int) -> tuple[int, int, int]:
        if index not in self.feature_indices():
            raise ValueError(f"F{index} does not exist in this BigGAN-deep (blocks 1…{self.cfg.num_blocks})")
        r = self.cfg.block_resolution(index)
        return (self.cfg.block_channels(index)[1], r, r)

    def mask_to_feature(self, mask: torch.Tensor, index: int) -> torch.Tensor:
        """Mask at output size (N, 1, H, W) → m_k on F_k's grid, bilinearly resized (the paper's m_i)."""
        _, h, w = self.feature_shape(index)
        return F.interpolate(mask.float(), size=(h, w), mode="bilinear", align_corners=False, antialias=True)

    def latent_prior(self, rows: torch.Tensor) -> torch.Tensor:
        """BigGAN's prior in place of eq. 3.6's Gaussian of ŵ: z_k/ψ ~ N(0, I) truncated to [−2, 2].
        Per image (N,): the mean over rows and coordinates of (z/ψ)² (≈ 0.77 for a typical sample,
        the Gaussian's −log-likelihood up to ½ and a constant) plus 10·(|z/ψ| − 2)² outside the
        support, which the truncated normal gives zero probability."""
        u = rows / self.truncation
        outside = F.relu(u.abs() - TRUNCNORM_BOUND)
        return (u.pow(2) + 10.0 * outside.pow(2)).mean(dim=(1, 2))

    def sample_z(self, n: int, seed: int = 0) -> torch.Tensor:
        """n z (n, z_dim) from the truncated normal times ψ (the port's `truncated_noise_sample`
        distribution, our own sampler: redraw outside [−2, 2])."""
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.w_dim, generator=gen)
        while bool((bad := z.abs() > TRUNCNORM_BOUND).any()):
            z[bad] = torch.randn(int(bad.sum()), generator=gen)
        return (z * self.truncation).to(self.class_vector.device)

    def z_plus(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, z_dim) → Z+ rows (N, B + 1, z_dim), the same z on every row."""
        return z.unsqueeze(1).repeat(1, self.num_ws, 1)

    # ---- edits ---------------------------------------------------------------------------------
    def class_delta(
        self,
        to_class: int | torch.Tensor,  # a class index or a class vector (num_classes,)
        strength: float = 1.0,  # s: 0 = unchanged, 1 = the new class, between = interpolation
        rows: Sequence[int] | range | None = None,  # stages that take the new class (None: all)
    ) -> torch.Tensor:
        """δc (1 | N, B + 1, 2·z_dim): the class edit e → e + s(e' − e) as a δ on the conditioning rows."""
        y_to = one_hot(to_class, self.cfg.num_classes) if isinstance(to_class, int) else to_class.float().reshape(1, -1)
        y_to = y_to.to(self.class_vector.device)
        de = strength * (self.net.embed(y_to) - self.net.embed(self.class_vector))  # (1 | N, z_dim)
        delta = torch.zeros(de.shape[0], self.num_ws, 2 * self.w_dim, device=de.device)
        selected = range(self.num_ws) if rows is None else rows
        for k in selected:
            if not 0 <= k < self.num_ws:
                raise ValueError(f"stage {k} does not exist (0…{self.num_ws - 1})")
            delta[:, k, self.w_dim :] = de
        return delta

    def cond_rows(self, rows: torch.Tensor, delta_w: torch.Tensor | None = None) -> torch.Tensor:
        """Z+ rows (N, B + 1, z_dim) [+ δ of width z_dim or 2·z_dim] → c (N, B + 1, 2·z_dim)."""
        if rows.ndim != 3 or tuple(rows.shape[1:]) != (self.num_ws, self.w_dim):
            raise ValueError(f"Z+ rows must be (N, {self.num_ws}, {self.w_dim}), got {tuple(rows.shape)}")
        e = self.net.embed(self.class_vector)  # (1 | N, z_dim)
        e = e.unsqueeze(1).expand(rows.shape[0], self.num_ws, -1)
        c = torch.cat([rows, e], dim=2)
        if delta_w is None:
            return c
        if delta_w.shape[-1] == self.w_dim:
            delta_w = F.pad(delta_w, (0, self.w_dim))
        if delta_w.ndim != 3 or tuple(delta_w.shape[1:]) != (self.num_ws, 2 * self.w_dim):
            raise ValueError(
                f"an edit must be (N | 1, {self.num_ws}, {self.w_dim}) on z or (N | 1, {self.num_ws}, "
                f"{2 * self.w_dim}) on [z, class embedding], got {tuple(delta_w.shape)}"
            )
        return c + delta_w

    # ---- staged synthesis (eq. 3.3–3.4) and the gated edit (§3.4) ------------------------------
    def staged(
        self,
        w_plus: torch.Tensor,  # Z+ rows (N, B + 1, z_dim)
        delta_f: Mapping[int, torch.Tensor] | None = None,  # k → Δf_k (N, C_k, H_k, W_k)
        masks: Mapping[int, torch.Tensor] | None = None,  # k → m_k (N | 1, 1, H_k, W_k) in [0, 1]
        delta_w: torch.Tensor | None = None,  # the edit δ (see `cond_rows`)
    ) -> Iterator[tuple[int, torch.Tensor | None, torch.Tensor | None]]:
        """Yields (k, f_k of the reconstruction, f_k of the edit or None) stage by stage.

        Reconstruction (None once no longer computed): f_k = stage_k(f_{k−1}, c_k) + m_k ⊙ Δf_k (eq. 3.3). Edit: the same with
        c_k + δ_k, and inside m_k the unedited f_k is pasted, so a region inverted in F_k takes
        the edit only in the stages after k. Until the edit's rows differ from the
        reconstruction's, the two paths share their features; the reconstruction stops once the
        edit has diverged and no gate is left (its later stages would be computed for nothing)."""
        delta_f = dict(delta_f or {})
        masks = dict(masks or {})
        for k in delta_f:
            if k not in masks:
                raise ValueError(f"Δf_{k} given without its mask m_{k}")
        for k in masks:
            self.feature_shape(k)  # a clear error for a feature the network does not have
        psi = self.truncation
        cond = self.cond_rows(w_plus)
        cond_e = None if delta_w is None else self.cond_rows(w_plus, delta_w)
        last_gate = max(masks, default=-1)
        diverged = delta_w is not None and delta_w.requires_grad
        rec: torch.Tensor | None = None
        ed: torch.Tensor | None = None
        for k in range(self.num_ws):
            if cond_e is not None:
                diverged = diverged or not torch.equal(cond_e[:, k], cond[:, k].expand_as(cond_e[:, k]))
            if cond_e is None or not diverged or k <= last_gate:
                rec = self.net.stage(k, rec, cond[:, k], psi)
                if k in delta_f:
                    rec = rec + masks[k] * delta_f[k]
            elif rec is not None:
                rec = None  # the reconstruction is no longer needed (and not computed) from here on
            if cond_e is None:
                assert rec is not None
                yield k, rec, None
                continue
            if not diverged:
                ed = rec
            else:
                ed = self.net.stage(k, ed, cond_e[:, k], psi)
                if k in masks:
                    if k in delta_f:  # δ → 0 gives the reconstruction also on soft mask edges
                        ed = ed + masks[k] * delta_f[k]
                    assert rec is not None  # computed up to the last gate
                    ed = torch.lerp(ed, rec, masks[k])
            yield k, rec, ed

    def synthesize(
        self,
        w_plus: torch.Tensor,
        delta_f: Mapping[int, torch.Tensor] | None = None,
        masks: Mapping[int, torch.Tensor] | None = None,
        delta_w: torch.Tensor | None = None,
        noise_mode: str = "const",  # BigGAN has no noise inputs; accepted for the interface
        cache: object | None = None,  # no feature cache yet: every render runs all stages
    ) -> torch.Tensor:
        """x̂ (N, 3, R, R) in [-1, 1]: eq. 3.3–3.4 without `delta_w`, §3.4's gated edit with it."""
        last: torch.Tensor | None = None
        for _, rec, ed in self.staged(w_plus, delta_f, masks, delta_w):
            last = rec if delta_w is None else ed
        assert last is not None
        return self.net.head(last, self.truncation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Sample images from z (N, z_dim), one z on every stage."""
        return self.synthesize(self.z_plus(z))


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def load_conditioned(
    spec: str | Path, class_spec: int | str | None = None, truncation: float = 1.0, device: str | torch.device = "cpu"
) -> tuple[ClassConditionedBigGAN, dict]:
    """A generator spec (registry name, folder or .bin) → (the network bound to a class — an index or
    ImageNet name, None for the default — and ψ, meta with the class index)."""
    from .checkpoint import load_biggan, resolve_biggan
    from .classes import parse_class

    net, meta = load_biggan(resolve_biggan(spec), map_location=device)
    class_index = parse_class(class_spec, net.cfg.num_classes)
    G = ClassConditionedBigGAN.for_class(net, class_index, truncation)
    return G, {**meta, "generator": str(spec), "class_index": class_index, "truncation": truncation}
