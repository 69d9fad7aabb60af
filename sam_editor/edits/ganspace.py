"""GANSpace directions (Härkönen et al. 2020), the unsupervised edits of the paper's §3.4.

GANSpace samples many z, maps them to w = M(z), and takes the principal components of the
W distribution. A *layer-wise edit* moves the style rows start…end of w+ along component k:

    δw+[start : end + 1] = strength · σ_k · v_k,        δw+ elsewhere = 0,

where v_k (w_dim,) is the unit component and σ_k the standard deviation of the samples along it
(GANSpace expresses strengths in these units). §3.4 then applies δw+ to the inverted w+ with
the per-segment gating of `Generator.synthesize`.

Facts taken from the GANSpace paper/code: PCA of W (the `style` layer with `use_w`), 10⁶ samples
(`-n=1000000`), 80 components kept (`-c` default), an incremental estimator (`ipca`), and σ_k =
√(explained variance). Here the covariance is accumulated batch by batch (float64, shifted sums),
so 10⁶ × 512 samples are never held at once, then eigen-decomposed. The sampling stops early
once the leading components have settled: at 2¹⁵, 2¹⁶, … samples the top `AGREE_TOP` components
are compared with those of the previous check, and when every one of them agrees to |cos| ≥
`AGREE_COS` at `AGREE_TIMES` checks in a row the rest of the 10⁶ samples would not move them
(the estimate's error shrinks as 1/√n, and the estimate at 2n averages the one at n with an
independent one, so successive estimates that keep agreeing this closely are that close to the
limit; a single agreement can be luck, measured on a tiny generator).
A spectrum whose leading eigenvalues are nearly equal never settles and runs to the full count.

Speed (issue 32: a full-size PCA under a minute on 2 CPU cores): the float32 mapping of 10⁶ z
through config-f's 8 FC layers costs about a minute of one core. With `precision='bfloat16'` the
mapping runs folded into one bf16 addmm + in-place lrelu per layer (`folded_mapping`), ~10× the
float32 matrix throughput on CPUs with AMX-BF16, and each batch's Σxxᵀ is a float32 product added
into the float64 sums. On config-f (random weights, the same 10⁶ z) every one of the first 20
components agrees with the float32 PCA to |cos| ≥ 0.99 — the issue's tolerance — and the error
is well below the estimator's own sampling error at 10⁶ samples (benchmarks/bench_ganspace_pca.py,
docs/benchmarks/ganspace_pca.txt). `load_or_compute` (what the session and the CLI call) therefore
defaults to 'auto': bf16 where the CPU has AMX-BF16, float32 elsewhere; `compute_components` and
`iter_w_batches` default to float32. The precision is stored with the components and is part of
the cache file's name.

Components are computed once per generator and cached next to the weights as `.npz`
(components, stdev, mean + bookkeeping), keyed by the weights file's sha256 or a given id.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..gan.networks import Generator
from ..gan.ops import SQRT2, normalize_2nd_moment
from ..util import OnStep, ShouldStop, atomic_write, sha256_file

PAPER_N_SAMPLES = 1_000_000  # GANSpace: PCA on 10⁶ sampled w for StyleGAN/StyleGAN2
PAPER_N_COMPONENTS = 80  # GANSpace's default number of components kept
CACHE_VERSION = 1
AGREE_TOP = 20  # components that must have settled before sampling stops early
AGREE_COS = 0.995  # |cos| between successive estimates; on the demo generator the stop then comes at
# 2¹⁹ samples with every top-20 component within cos 0.998 of the 10⁶-sample PCA
FIRST_CHECK = 32_768  # samples before the first check; then every doubling
AGREE_TIMES = 2  # successive checks that must agree (one can agree by chance)
PRECISIONS = ("float32", "bfloat16")  # how w = M(z) is computed for the PCA (see `iter_w_batches`)
MAP_ROWS = 2048  # rows per folded-mapping call: 2048 × 512 bf16 activations fit a 2 MB L2 (13 % faster than 4096)

@dataclasses.dataclass(frozen=True)
class GanspaceComponents:
    """Principal directions of W (GANSpace §3 / SAM §3.4).

    components: (K, w_dim) float32, orthonormal rows, sorted by decreasing variance; the sign of
        each row is fixed so that its largest-magnitude entry is positive (the convention of the
        incremental PCA GANSpace uses, which keeps preset signs meaningful).
    stdev: (K,) float32, σ_k = standard deviation of the samples along row k.
    mean: (w_dim,) float32, mean of the sampled w.
    """

    components: torch.Tensor
    stdev: torch.Tensor
    mean: torch.Tensor
    n_samples: int
    key: str = ""
    seed: int = 0
    total_variance: float = float("nan")  # trace of the covariance (all w_dim directions)
    n_requested: int = 0  # samples asked for (n_samples < n_requested: stopped early, settled)
    precision: str = "float32"  # how the sampled w were computed (`PRECISIONS`)

    @property
    def num_components(self) -> int:
        return int(self.components.shape[0])

    @property
    def w_dim(self) -> int:
        return int(self.components.shape[1])

    @property
    def explained_variance_ratio(self) -> torch.Tensor:  # (K,)
        return self.stdev.double().square().div(self.total_variance).float()

    def save_npz(self, path: str | os.PathLike) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a cache file."""
        arrays = {
            "components": self.components.numpy().astype(np.float32),
            "stdev": self.stdev.numpy().astype(np.float32),
            "mean": self.mean.numpy().astype(np.float32),
            "n_samples": np.int64(self.n_samples),
            "key": np.str_(self.key),
            "seed": np.int64(self.seed),
            "total_variance": np.float64(self.total_variance),
            "n_requested": np.int64(self.n_requested),
            "precision": np.str_(self.precision),
            "version": np.int64(CACHE_VERSION),
        }
        atomic_write(Path(path).with_suffix(".npz"), lambda tmp: np.savez(tmp, **arrays))

    @classmethod
    def load_npz(cls, path: str | os.PathLike) -> GanspaceComponents:
        with np.load(Path(path), allow_pickle=False) as d:
            comps = torch.from_numpy(np.ascontiguousarray(d["components"], dtype=np.float32))
            stdev = torch.from_numpy(np.ascontiguousarray(d["stdev"], dtype=np.float32))
            mean = torch.from_numpy(np.ascontiguousarray(d["mean"], dtype=np.float32))
            if comps.ndim != 2 or stdev.shape != (comps.shape[0],) or mean.shape != (comps.shape[1],):
                raise ValueError(
                    f"{path}: inconsistent GANSpace arrays {tuple(comps.shape)}, {tuple(stdev.shape)}, {tuple(mean.shape)}"
                )
            return cls(
                components=comps,
                stdev=stdev,
                mean=mean,
                n_samples=int(d["n_samples"]) if "n_samples" in d else 0,
                key=str(d["key"]) if "key" in d else "",
                seed=int(d["seed"]) if "seed" in d else 0,
                total_variance=float(d["total_variance"]) if "total_variance" in d else float("nan"),
                n_requested=int(d["n_requested"]) if "n_requested" in d else 0,
                precision=str(d["precision"]) if "precision" in d else "float32",
            )


# ---- sampling and PCA ------------------------------------------------------------------------
def folded_mapping(G: Generator, dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor, bool]]:
    """G's mapping MLP as plain affine layers [(Wᵀ (in, out), b (out,), lrelu?)] in `dtype`, with
    the equalised-learning-rate gains and the lrelu gain √2 folded into W and b (lrelu(a)·g =
    lrelu(a·g) for g > 0): one addmm and one in-place lrelu per layer (`map_folded`)."""
    mapping = G.mapping
    layers = []
    for i in range(mapping.num_layers):
        fc = getattr(mapping, f"fc{i}")
        if fc.activation not in ("lrelu", "linear"):
            raise ValueError(f"mapping layer fc{i}: cannot fold activation {fc.activation!r}")
        gain = SQRT2 if fc.activation == "lrelu" else 1.0
        weight = fc.weight * (fc.weight_gain * gain)  # (out, in)
        bias = fc.bias * (fc.bias_gain * gain) if fc.bias is not None else weight.new_zeros(weight.shape[0])
        layers.append((weight.t().contiguous().to(dtype), bias.to(dtype), fc.activation == "lrelu"))
    return layers


def map_folded(z: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor, bool]]) -> torch.Tensor:
    """w = M(z) through `folded_mapping`'s layers: (B, z_dim) float32 → (B, w_dim) in their dtype
    (the 2nd-moment normalisation of z stays in float32)."""
    x = normalize_2nd_moment(z).to(layers[0][0].dtype)
    for weight_t, bias, lrelu in layers:
        x = torch.addmm(bias, x, weight_t)
        if lrelu:
            F.leaky_relu(x, 0.2, inplace=True)
    return x


def bfloat16_is_fast(device: torch.device | str = "cpu") -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AMX-BF16): there a 512×512
    bf16 product ran 10× faster than float32 (870 against 88 GFLOP per CPU-second); without
    it bf16 can be slower than float32. False off the CPU (a GPU maps 10⁶ z in float32 quickly)."""
    if torch.device(device).type != "cpu":
        return False
    caps = getattr(torch.cpu, "get_capabilities", lambda: {})()
    return bool(caps.get("amx_bf16", False))


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """'auto' → 'bfloat16' where `bfloat16_is_fast`, else 'float32'; a name in `PRECISIONS` as is."""
    if precision == "auto":
        return "bfloat16" if bfloat16_is_fast(device) else "float32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {PRECISIONS}, got {precision!r}")
    return precision


@torch.no_grad()
def iter_w_batches(
    G: Generator, n_samples: int, batch_size: int = 4096, seed: int = 0, precision: str = "float32"
) -> Iterator[torch.Tensor]:
    """Yield w = M(z) for z ~ N(0, I), (B, w_dim) float32 per batch, n_samples in total.

    Deterministic for a given (n_samples, batch_size, seed): tests use it to rebuild the exact
    samples the PCA saw. No truncation (GANSpace fits the PCA on the untruncated distribution).
    `precision` 'float32' runs G.mapping; 'bfloat16' runs the same MLP folded (`folded_mapping`)
    with bf16 weights and activations — the same z, w within about 1 % of the float32 w's spread
    on config-f (bench_ganspace_pca.py) — and returns it as float32.
    """
    if n_samples < 2:
        raise ValueError("GANSpace needs at least 2 samples")
    precision = resolve_precision(precision, G.mapping.w_avg.device)
    layers = folded_mapping(G, torch.bfloat16) if precision == "bfloat16" else None
    gen = torch.Generator().manual_seed(seed)
    device = G.mapping.w_avg.device
    done = 0
    while done < n_samples:
        b = min(batch_size, n_samples - done)
        z = torch.randn(b, G.z_dim, generator=gen).to(device)
        w = G.mapping(z) if layers is None else torch.cat([map_folded(part, layers) for part in z.split(MAP_ROWS)])
        yield w.float().cpu()
        done += b


def _sign_convention(comps: np.ndarray) -> np.ndarray:
    """Flip each row so that its largest-|·| entry is positive. comps: (K, D)."""
    idx = np.argmax(np.abs(comps), axis=1)
    signs = np.sign(comps[np.arange(comps.shape[0]), idx])
    signs[signs == 0] = 1
    return comps * signs[:, None]


def _pca(s1: torch.Tensor, s2: torch.Tensor, done: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """(eigenvalues descending (D,), eigenvectors as rows (D, D), shifted mean (D,)) of the
    covariance accumulated from shifted sums s1 = Σx, s2 = Σxxᵀ over `done` samples."""
    mean_shifted = s1 / done
    cov = (s2 - done * torch.outer(mean_shifted, mean_shifted)) / (done - 1)  # (D, D)
    cov = 0.5 * (cov + cov.T)
    evals, evecs = np.linalg.eigh(cov.numpy())  # ascending
    order = np.argsort(evals)[::-1]
    return evals[order], evecs[:, order].T, mean_shifted


def settled(previous: np.ndarray, current: np.ndarray, top: int = AGREE_TOP, cos: float = AGREE_COS) -> bool:
    """Whether the first `top` rows of two component estimates (K, D) agree, row by row, to
    |cos| ≥ `cos` (signs are arbitrary; rows are unit vectors)."""
    k = min(top, previous.shape[0], current.shape[0])
    return bool(np.all(np.abs(np.sum(previous[:k] * current[:k], axis=1)) >= cos))


def compute_components(
    G: Generator,
    n_samples: int = PAPER_N_SAMPLES,
    n_components: int = PAPER_N_COMPONENTS,
    batch_size: int = 4096,
    seed: int = 0,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    key: str = "",
    stop_when_settled: bool = True,
    agree_top: int = AGREE_TOP,
    first_check: int = FIRST_CHECK,
    precision: str = "float32",
) -> GanspaceComponents | None:
    """PCA of W by batched covariance accumulation (GANSpace §3, used by SAM §3.4).

    Memory is O(w_dim²) whatever n_samples is. With `stop_when_settled` the sampling ends before
    `n_samples` once the top `agree_top` components agree between two checks, made at
    `first_check` samples and every doubling after it (module docstring);
    `n_samples` of the result says how many were used. `on_step(done, total, {"samples": done},
    None)` is called after every batch (and once with done = 0 before the first); `should_stop()`
    is polled between batches, and a stopped PCA returns None (half a covariance means nothing).

    `precision` ('auto', 'float32', 'bfloat16'; `iter_w_batches`): with 'bfloat16' each batch's
    Σxxᵀ is a float32 product (its rounding, ~10⁻⁶ relative, is far below the 1/√n sampling
    error), added into the float64 sums; with 'float32' it is a float64 product.
    """
    precision = resolve_precision(precision, G.mapping.w_avg.device)
    gram_dtype = torch.float32 if precision == "bfloat16" else torch.float64
    D = G.w_dim
    n_components = min(n_components, D)
    shift: torch.Tensor | None = None  # (D,) first-batch mean: keeps the sums well-conditioned
    s1 = torch.zeros(D, dtype=torch.float64)
    s2 = torch.zeros(D, D, dtype=torch.float64)
    done = 0
    next_check, previous, agreed = first_check, None, 0
    if on_step is not None:
        on_step(0, n_samples, {"samples": 0}, None)
    for w in iter_w_batches(G, n_samples, batch_size, seed, precision):
        if should_stop is not None and should_stop():
            return None
        x = w.to(gram_dtype)  # (B, D)
        if shift is None:
            shift = x.mean(dim=0)
        x = x - shift
        s1 += x.sum(dim=0)  # a float32 batch sum (bfloat16 path): pairwise, ~10⁻⁷ relative
        s2 += x.T @ x
        done += w.shape[0]
        if on_step is not None:
            on_step(done, n_samples, {"samples": done}, None)
        if stop_when_settled and done >= next_check and done < n_samples:
            current = _pca(s1, s2, done)[1]
            agreed = agreed + 1 if previous is not None and settled(previous, current, agree_top) else 0
            if agreed >= AGREE_TIMES:
                if on_step is not None:
                    on_step(n_samples, n_samples, {"samples": done, "settled": True}, None)
                break
            previous, next_check = current, 2 * next_check
    assert shift is not None
    evals, evecs, mean_shifted = _pca(s1, s2, done)
    variances = np.clip(evals[:n_components], 0.0, None)
    comps = _sign_convention(evecs[:n_components])  # (K, D)
    return GanspaceComponents(
        components=torch.from_numpy(comps.astype(np.float32)),
        stdev=torch.from_numpy(np.sqrt(variances).astype(np.float32)),
        mean=(shift.double() + mean_shifted).float(),
        n_samples=done,
        key=key,
        seed=seed,
        total_variance=float(np.clip(evals, 0.0, None).sum()),
        n_requested=n_samples,
        precision=precision,
    )


# ---- on-disk cache -----------------------------------------------------------------------------
def cache_path(
    weights_path: str | os.PathLike | None,
    key: str,
    n_samples: int,
    n_components: int,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    precision: str = "float32",
) -> Path:
    """`<dir>/<weights stem>.ganspace-<key[:16]>-n<N>-c<K>-s<seed>[-bfloat16].npz`; <dir> is
    `cache_dir` or the weights' folder; a float32 PCA has no precision suffix (the files written
    before there was a choice)."""
    if cache_dir is None and weights_path is None:
        raise ValueError("give weights_path or cache_dir for the GANSpace cache")
    folder = Path(cache_dir) if cache_dir is not None else Path(weights_path).parent  # type: ignore[arg-type]
    stem = Path(weights_path).stem if weights_path is not None else "generator"
    safe_key = "".join(c if c.isalnum() or c in "-_" else "_" for c in key)[:16]
    suffix = "" if precision == "float32" else f"-{precision}"
    return folder / f"{stem}.ganspace-{safe_key}-n{n_samples}-c{n_components}-s{seed}{suffix}.npz"


def load_or_compute(
    G: Generator,
    weights_path: str | os.PathLike | None = None,
    key: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    n_samples: int = PAPER_N_SAMPLES,
    n_components: int = PAPER_N_COMPONENTS,
    batch_size: int = 4096,
    seed: int = 0,
    on_step: OnStep | None = None,
    should_stop: ShouldStop | None = None,
    precision: str = "auto",
) -> GanspaceComponents | None:
    """The GANSpace components of G, from the cache when a matching file exists (None: stopped
    through `should_stop` before the PCA finished; nothing is written then).

    The cache key is `key` if given, else the sha256 of `weights_path`. A cached file is used
    only if its key, n_samples, seed, w_dim and precision (`compute_components`; 'auto' resolved
    first) match; otherwise it is recomputed and rewritten.
    """
    if key is None:
        if weights_path is None:
            raise ValueError("give weights_path (hashed) or an explicit key for the GANSpace cache")
        key = sha256_file(weights_path)
    n_components = min(n_components, G.w_dim)
    precision = resolve_precision(precision, G.mapping.w_avg.device)
    path = cache_path(weights_path, key, n_samples, n_components, seed, cache_dir, precision)
    if path.is_file():
        try:
            cached = GanspaceComponents.load_npz(path)
        except (OSError, ValueError, KeyError):
            cached = None  # unreadable: recompute and overwrite
        if (
            cached is not None
            and cached.key == key
            and (cached.n_requested or cached.n_samples) == n_samples
            and cached.seed == seed
            and cached.w_dim == G.w_dim
            and cached.num_components == n_components
            and cached.precision == precision
        ):
            return cached
    comps = compute_components(
        G, n_samples, n_components, batch_size, seed, on_step, should_stop, key=key, precision=precision
    )
    if comps is not None:
        comps.save_npz(path)
    return comps


# ---- directions ---------------------------------------------------------------------------------
def parse_layers(text: str | None, num_ws: int) -> tuple[int, int]:
    """'0-5' → (0, 5) inclusive; '7' → (7, 7); None/'' / 'all' → (0, num_ws − 1)."""
    if text is None or text.strip() in ("", "all"):
        return (0, num_ws - 1)
    parts = text.strip().split("-")
    try:
        start, end = (int(parts[0]), int(parts[0])) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    except (ValueError, IndexError):
        raise ValueError(f"layer range {text!r}: expected START-END (style rows, inclusive) or a single row") from None
    check_layers((start, end), num_ws)
    return (start, end)


def check_layers(layers: tuple[int, int], num_ws: int) -> None:
    start, end = layers
    if not (0 <= start <= end < num_ws):
        raise ValueError(f"layer range {start}-{end} is not within the style rows 0-{num_ws - 1}")


def direction_to_delta_w(
    G: Generator,
    comps: GanspaceComponents,
    k: int,
    layers: tuple[int, int] | None = None,
    strength: float = 1.0,
) -> torch.Tensor:
    """δw+ (1, num_ws, w_dim) for component k on style rows layers = (start, end), inclusive
    (None: every row), with `strength` in units of σ_k — GANSpace's layer-wise edit E(v_k, start–end)."""
    if not 0 <= k < comps.num_components:
        raise ValueError(f"component {k} does not exist (0-{comps.num_components - 1} were computed)")
    if comps.w_dim != G.w_dim:
        raise ValueError(f"components are {comps.w_dim}-d but the generator's W is {G.w_dim}-d")
    start, end = layers if layers is not None else (0, G.num_ws - 1)
    check_layers((start, end), G.num_ws)
    delta = torch.zeros(1, G.num_ws, G.w_dim)
    delta[0, start : end + 1] = comps.components[k] * (comps.stdev[k] * float(strength))
    return delta.to(G.mapping.w_avg.device)
