"""Registry of the pretrained files SAM Editor can use, and a careful downloader for them.

Nothing here downloads on import or on its own: the app and the CLI call `fetch` explicitly.
Downloads resume (HTTP Range on a `.part` file), are checked against the published SHA-256
(or the torch-hub file-name prefix), and appear under their final name only when complete and
correct (atomic rename), so a half-written or wrong file is never mistaken for a good one.

Where files live: `$SAM_EDITOR_WEIGHTS` if set, else the per-user data folder
(`platformdirs.user_data_dir("sam-editor")/weights`); the repo's `weights/` (demo bundle) is also
searched. torchvision/LPIPS files use the torch-hub layout, `<torch hub dir>/checkpoints/<file>`,
because that is where torchvision and lpips look for them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from .util import sha256_file

ProgressFn = Callable[[int, "int | None"], None]  # (bytes done, total bytes or None)

REPO_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
_CHUNK = 1 << 20


class WeightsError(RuntimeError):
    """Anything that stops a weights file from being fetched or used; the message says what to do."""


class UnknownWeights(WeightsError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class NetworkError(WeightsError):
    """The server could not be reached or refused the request (nothing was written)."""


class DownloadInterrupted(WeightsError):
    """The connection dropped midway; the `.part` file is kept so the next fetch resumes."""


class HashMismatch(WeightsError):
    """The downloaded bytes are not the published file; nothing is kept."""


@dataclasses.dataclass(frozen=True)
class WeightsEntry:
    name: str  # registry key, e.g. "stylegan2-car"
    kind: str  # generator | encoder | invertibility | edit-direction | perceptual | clip | segmentation
    filename: str
    url: str
    sha256: str | None = None  # full SHA-256 where an official source publishes it
    sha256_prefix: str | None = None  # torch-hub convention: the hash prefix in the file name
    size: int | None = None  # bytes, where known
    licence: str = ""
    subdir: str = ""  # folder under the weights dir
    torch_hub: bool = False  # lives in <torch hub dir>/checkpoints/ instead
    domain: str = ""  # cars | faces | cats | horses | "" (any)
    note: str = ""

    @property
    def hash_known(self) -> bool:
        return bool(self.sha256 or self.sha256_prefix)

    def matches(self, digest: str) -> bool:
        if self.sha256:
            return digest == self.sha256.lower()
        if self.sha256_prefix:
            return digest.startswith(self.sha256_prefix.lower())
        return True


_NV = "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/"
_SAM = "https://www.cs.cmu.edu/~SAMInversion/ckpt/"
_SAM_COMMIT = "93d3bd6aabd3f395593dd8c2213812bb060e0970"  # adobe-research/sam_inversion master, pinned
_SAM_RAW = f"https://raw.githubusercontent.com/adobe-research/sam_inversion/{_SAM_COMMIT}/"
_LIC_NV = "Nvidia Source Code License-NC (non-commercial); https://nvlabs.github.io/stylegan2/license.html"
_LIC_ADOBE = "Adobe Research License (non-commercial research only), from adobe-research/sam_inversion"
_NO_HASH = "no official checksum is published; verify() can only check presence"
_SEGFORMER = "https://huggingface.co/nvidia/segformer-b0-finetuned-ade-512-512/resolve/main/"
_BIGGAN = "https://s3.amazonaws.com/models.huggingface.co/biggan/"  # the port's download location
_LIC_BIGGAN = "Apache-2.0 as TF-Hub lists DeepMind's BigGAN-deep (not re-checked offline); the port's code is MIT"
_LIC_SEGFORMER = "NVIDIA Source Code License for SegFormer (non-commercial research only), per the model card"

# SHA-256 and sizes of the edit directions: computed from the git blobs at _SAM_COMMIT.
_CAR_EDITS = {
    "black": "619c09202399a483a67f01f5e8d045e595f96beac7b5bc8169ff21ac8e2ffc27",
    "blue": "60acf865ec3b05e2f69f06b3d1fba86217bd3d4619ca8e1aadc19cfe11b3ce19",
    "model_t": "ba1a304bc0a15b6e63dfb04f3fb624ce8b6ef727319ae76f5faec760bb74c3af",
    "muscle": "dff95ad78cd802e23ee076c5328b7fae53a32c9f1746a30c489dc2c7e6430db1",
    "rims": "ff68dbaf415028ff58d68e893baba104e6fbd4e7602252491b6c23a1f456af2f",
    "snow": "36d23c3fef5926b6e88e97da402fedd4c98aa88436fa7a3e57521c2cf6a8903c",
    "starwars": "707023b8786d835ba335c30af43a85566ef9ad31f612dc4309c76a39dfe89e66",
    "suv": "2f1e869ede0428cd68d15c436c9967874e3b3e06e26a953699c5c2e490049b4e",
    "windows_closed": "f65f492d236c2af103c6dbca0cc3c81df815796d777a2c1bc774ca3594626272",
    "windows_open": "7b08a6a9943a097bf03382003e94e028b407c83720e1059f396c5e23cf7dd885",
}

_ENTRIES: list[WeightsEntry] = [
    # Generators. Car renders a 512² frame of which rows 64…448 are the 512×384 image.
    WeightsEntry("stylegan2-car", "generator", "stylegan2-car-config-f.pkl", _NV + "stylegan2-car-config-f.pkl",
                 licence=_LIC_NV, subdir="generators", domain="cars",
                 note="LSUN Car 512×384 (TF pickle, crop (64, 0, 384, 512)); " + _NO_HASH),
    WeightsEntry("stylegan2-ffhq", "generator", "stylegan2-ffhq-config-f.pkl", _NV + "stylegan2-ffhq-config-f.pkl",
                 licence=_LIC_NV + "; FFHQ images CC BY-NC-SA 4.0", subdir="generators", domain="faces",
                 note="FFHQ 1024² (TF pickle); " + _NO_HASH),
    WeightsEntry("stylegan2-cat", "generator", "stylegan2-cat-config-f_sg2adapyt.pkl",
                 _SAM + "stylegan2-cat-config-f_sg2adapyt.pkl", licence=_LIC_NV, subdir="generators", domain="cats",
                 note="LSUN Cat 256², NVIDIA's config-f converted to a stylegan2-ada-pytorch pickle by the SAM authors; "
                      + _NO_HASH),
    WeightsEntry("stylegan2-horse", "generator", "stylegan2-horse-config-f.pkl", _NV + "stylegan2-horse-config-f.pkl",
                 licence=_LIC_NV, subdir="generators", domain="horses",
                 note="LSUN Horse 256² (TF pickle). The SAM repo ships no horse predictor or encoder; " + _NO_HASH),
    # SAM's encoders (e4e, W+ initialisation) and invertibility predictors.
    *[
        WeightsEntry(f"e4e-{d}", "encoder", f"e4e_{f}_encode.pt", f"{_SAM}e4e_{f}_encode.pt", licence=_LIC_ADOBE,
                     subdir="encoders", domain=d, note="e4e encoder (pSp checkpoint with 'opts'); " + _NO_HASH)
        for d, f in (("cars", "cars"), ("faces", "ffhq"), ("cats", "lsuncats"))
    ],
    *[
        WeightsEntry(f"invertibility-{d}", "invertibility", f"invertibility_{f}_sg2.pt", f"{_SAM}invertibility_{f}_sg2.pt",
                     licence=_LIC_ADOBE, subdir="invertibility", domain=d,
                     note="DeepLab-ResNet invertibility predictor ('sd_base' + one head per latent space); " + _NO_HASH)
        for d, f in (("cars", "cars"), ("faces", "faces"), ("cats", "lsuncats"))
    ],
    *[
        WeightsEntry(f"edit-cars-{k.replace('_', '-')}", "edit-direction", f"csc_{k}.npy", f"{_SAM_RAW}edits/cars/csc_{k}.npy",
                     sha256=h, size=32896, licence=_LIC_ADOBE, subdir="edits/cars", domain="cars",
                     note="W+ edit direction, float32 (1, 16·512)")
        for k, h in _CAR_EDITS.items()
    ],
    # Backbones.
    WeightsEntry("vgg16", "perceptual", "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
                 sha256_prefix="397923af", torch_hub=True,
                 licence="torchvision (BSD-3-Clause code); ImageNet-trained weights",
                 note="LPIPS' VGG16 backbone; full SHA-256 not published, the file-name prefix is checked (torch hub rule)"),
    WeightsEntry("clip-vit-b-32", "clip", "ViT-B-32.pt",
                 "https://openaipublic.azureedge.net/clip/models/"
                 "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
                 sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af", subdir="clip",
                 licence="MIT (OpenAI CLIP)",
                 note="OpenAI TorchScript archive, as open_clip's 'openai' tag downloads it (needs QuickGELU); "
                      "the hash is the one in OpenAI's URL, which open_clip also checks"),
    WeightsEntry("deeplabv3-resnet50-coco", "segmentation", "deeplabv3_resnet50_coco-cd0a2569.pth",
                 "https://download.pytorch.org/models/deeplabv3_resnet50_coco-cd0a2569.pth",
                 sha256_prefix="cd0a2569", torch_hub=True,
                 licence="torchvision (BSD-3-Clause code); COCO-trained weights (VOC label set)",
                 note="torchvision DeepLabV3-ResNet50 (COCO_WITH_VOC_LABELS_V1); file-name hash prefix checked"),
    # The ADE20k scene parser of the refinement step (the official SAM code uses an ADE20k HRNet):
    # NVIDIA's SegFormer-B0, a Hugging Face folder; both files go to the same folder.
    *[
        WeightsEntry(name, "segmentation", filename, f"{_SEGFORMER}{filename}", licence=_LIC_SEGFORMER,
                     subdir="segmentation/segformer-b0-finetuned-ade-512-512",
                     note=f"{what} of SegFormer-B0 fine-tuned on ADE20k (150 classes, mIoU 37.4); fetch both "
                          "with `sam-editor weights fetch 'segformer-ade20k*'`; " + _NO_HASH)
        for name, filename, what in (("segformer-ade20k", "model.safetensors", "weights (3.75 M parameters, ~15 MB)"),
                                     ("segformer-ade20k-config", "config.json", "architecture and class names"))
    ],
    # BigGAN-deep (DeepMind's TF-Hub ImageNet models) in the pytorch-pretrained-biggan port's format:
    # config.json + pytorch_model.bin in one folder (sam_editor.gan.biggan.checkpoint). Sizes are
    # estimates from the port's tensor count (float32), not measured: offline, neither the files'
    # sizes nor any checksum could be read, and the port publishes no SHA-256.
    *[
        WeightsEntry(name, "generator", filename, f"{_BIGGAN}biggan-deep-{res}-{filename}",
                     licence=_LIC_BIGGAN, subdir=f"generators/biggan-deep-{res}",
                     note=f"BigGAN-deep {res}² ImageNet (1000 classes), {what}; fetch both with "
                          f"`sam-editor weights fetch 'biggan-deep-{res}*'`; " + _NO_HASH)
        for res, mb in ((128, 211), (256, 234), (512, 236))
        for name, filename, what in ((f"biggan-deep-{res}", "pytorch_model.bin",
                                      f"weights (state dict, about {mb} MB by its tensor count)"),
                                     (f"biggan-deep-{res}-config", "config.json", "architecture (the port's config)"))
    ],
]  # fmt: skip

REGISTRY: dict[str, WeightsEntry] = {e.name: e for e in _ENTRIES}


# ---- locations ----------------------------------------------------------------------------------
def demo_bundle_dir() -> Path:
    """The demo bundle every command falls back to without --generator: `$SAM_EDITOR_DEMO_BUNDLE`
    or the repository's `weights/demo`."""
    return Path(os.environ.get("SAM_EDITOR_DEMO_BUNDLE", REPO_WEIGHTS / "demo"))


def weights_dir() -> Path:
    """Where downloads go: $SAM_EDITOR_WEIGHTS, else the per-user data folder."""
    env = os.environ.get("SAM_EDITOR_WEIGHTS")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("sam-editor")) / "weights"


def search_dirs() -> list[Path]:
    """Folders searched for existing files, first match wins (same order as edits.clip_models)."""
    import platformdirs

    env = os.environ.get("SAM_EDITOR_WEIGHTS")
    dirs = [Path(env).expanduser()] if env else []
    dirs += [REPO_WEIGHTS, Path(platformdirs.user_data_dir("sam-editor")) / "weights"]
    if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):  # PyInstaller bundle
        dirs.append(Path(sys._MEIPASS) / "weights")
    return list(dict.fromkeys(dirs))


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch (same rule: $TORCH_HOME or XDG cache)."""
    home = os.environ.get("TORCH_HOME")
    if not home:
        home = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(home).expanduser() / "hub"


def get(name: str | WeightsEntry) -> WeightsEntry:
    if isinstance(name, WeightsEntry):
        return name
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownWeights(f"unknown weights {name!r}; known: {', '.join(REGISTRY)}") from None


def target_path(entry: str | WeightsEntry, directory: str | os.PathLike | None = None) -> Path:
    """Where `fetch` writes the file. For torch-hub entries `directory` is the torch hub dir."""
    e = get(entry)
    if e.torch_hub:
        return Path(directory or torch_hub_dir()) / "checkpoints" / e.filename
    return Path(directory or weights_dir()) / e.subdir / e.filename


def candidate_paths(entry: str | WeightsEntry) -> list[Path]:
    e = get(entry)
    paths = [target_path(e)]
    for d in search_dirs():
        paths += [d / e.subdir / e.filename, d / e.filename]
        if e.torch_hub:
            paths.append(d / "torch" / "hub" / "checkpoints" / e.filename)
    return list(dict.fromkeys(paths))


def locate(entry: str | WeightsEntry) -> Path | None:
    """The first existing copy of the file, or None (presence only; see `verify`)."""
    return next((p for p in candidate_paths(entry) if p.is_file()), None)


def require(entry: str | WeightsEntry) -> Path:
    """The file's path, or a WeightsError that tells the user how to get it."""
    e = get(entry)
    path = locate(e)
    if path is None:
        raise WeightsError(
            f"{e.name} ({e.filename}) is not downloaded. Run `sam-editor weights fetch {e.name}`, "
            f"or download {e.url} to {target_path(e)}"
        )
    return path


# ---- hashing / verification ---------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class EntryStatus:
    entry: WeightsEntry
    path: Path | None  # the copy found, or None
    state: str  # "ok" | "unverified" (present, no hash known) | "missing" | "mismatch" | "present" (not checked)
    detail: str = ""

    @property
    def present(self) -> bool:
        return self.path is not None


def verify(entry: str | WeightsEntry, path: str | os.PathLike | None = None) -> EntryStatus:
    """Presence + hash of one file (the located copy, or `path`)."""
    e = get(entry)
    p = Path(path) if path is not None else locate(e)
    if p is None or not p.is_file():
        return EntryStatus(e, None, "missing", f"not found; expected at {target_path(e)}")
    if e.size is not None and p.stat().st_size != e.size:
        return EntryStatus(e, p, "mismatch", f"size {p.stat().st_size} bytes, expected {e.size}")
    if not e.hash_known:
        return EntryStatus(e, p, "unverified", "present; no official hash to check against")
    digest = sha256_file(p)
    if not e.matches(digest):
        return EntryStatus(e, p, "mismatch", f"sha256 {digest}, expected {e.sha256 or e.sha256_prefix + '…'}")
    return EntryStatus(e, p, "ok", f"sha256 {digest[:16]}…")


def status(names: Iterable[str] | None = None) -> list[EntryStatus]:
    """Every entry (or `names`) with where it was found; cheap: no hashing."""
    out = []
    for name in names if names is not None else REGISTRY:
        e = get(name)
        p = locate(e)
        out.append(EntryStatus(e, p, "present" if p else "missing", str(p) if p else f"expected at {target_path(e)}"))
    return out


# ---- download -------------------------------------------------------------------------------------
def fetch(
    entry: str | WeightsEntry,
    directory: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
    timeout: float = 30.0,
    force: bool = False,
) -> Path:
    """Download `entry` (resuming a `.part` file), check its hash, rename into place → path.

    Raises NetworkError (cannot connect / HTTP error; nothing written), DownloadInterrupted
    (connection dropped; `.part` kept for the next call) or HashMismatch (nothing kept).
    """
    e = get(entry)
    target = target_path(e, directory)
    if target.is_file() and not force:
        found = verify(e, target)
        if found.state in ("ok", "unverified"):
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    if e.size is not None and offset > e.size:
        part.unlink()
        offset = 0
    resp = _open(e, offset, timeout)
    if resp is None:  # 416: the .part already holds the whole file
        return _finish(e, part, target)
    with resp:
        if offset and resp.status != 206:  # server ignored Range: start over
            offset = 0
        length = resp.headers.get("Content-Length")
        total = offset + int(length) if length is not None and length.isdigit() else e.size
        if offset:
            m = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", "").strip())
            if m is None or int(m.group(1)) != offset:
                part.unlink(missing_ok=True)
                raise NetworkError(
                    f"{e.name}: the server resumed at the wrong offset; the partial file was removed, try again"
                )
            total = int(m.group(2)) if m.group(2) != "*" else total
        hasher = hashlib.sha256()
        if offset:
            sha256_file(part, hasher)
        done = offset
        if progress:
            progress(done, total)
        with open(part, "ab" if offset else "wb") as f:
            while True:
                try:
                    chunk = resp.read(_CHUNK)
                except (OSError, http.client.HTTPException) as exc:  # includes timeouts and resets
                    raise DownloadInterrupted(
                        f"{e.name}: connection dropped after {done} of {total or '?'} bytes ({exc}); "
                        f"the partial file {part} is kept and the next fetch resumes from there"
                    ) from exc
                if not chunk:
                    break
                f.write(chunk)
                hasher.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    if total is not None and done < total:
        raise DownloadInterrupted(
            f"{e.name}: connection dropped after {done} of {total} bytes; "
            f"the partial file {part} is kept and the next fetch resumes from there"
        )
    return _finish(e, part, target, hasher.hexdigest())


def _open(e: WeightsEntry, offset: int, timeout: float) -> http.client.HTTPResponse | None:
    headers = {"User-Agent": "sam-editor-weights/1"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(e.url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return None
        raise NetworkError(f"{e.name}: the server answered HTTP {exc.code} {exc.reason} for {e.url}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise NetworkError(
            f"{e.name}: cannot download {e.url} ({reason}). Check the network connection, or download "
            f"the file by other means and place it at {target_path(e)}"
        ) from exc


def _finish(e: WeightsEntry, part: Path, target: Path, digest: str | None = None) -> Path:
    digest = digest or sha256_file(part)
    if not e.matches(digest):
        part.unlink(missing_ok=True)
        expected = e.sha256 or f"{e.sha256_prefix}…"
        raise HashMismatch(f"{e.name}: downloaded file has sha256 {digest}, expected {expected}; nothing was kept")
    size = part.stat().st_size
    if e.size is not None and size != e.size:
        part.unlink(missing_ok=True)
        raise HashMismatch(f"{e.name}: downloaded {size} bytes, expected {e.size}; nothing was kept")
    os.replace(part, target)
    return target
