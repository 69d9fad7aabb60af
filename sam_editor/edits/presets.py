"""Named GANSpace edits (§3.4): built-in car presets from the GANSpace paper, plus user presets.

A preset is (component k, style rows start–end inclusive, strength in σ_k units); it becomes a
δw+ through `ganspace.direction_to_delta_w`.

Built-in data: the StyleGAN2 LSUN-car W-space edits that the GANSpace authors list in their
figure notebooks (`notebooks/figure_edit_zoo.ipynb`, `notebooks/figure_teaser.ipynb` of
harskish/ganspace). Their notebook ranges are end-*exclusive* ("Range is exclusive, in contrast
to notation in paper"); below they are converted to this project's inclusive rows (end − 1).
In the edit zoo the strength is σ, the end point of a ±σ strip whose image is first centred on
the component's mean; in the teaser it is a target coordinate. Either way it is used here as an
additive strength, so the sign that shows the named effect may need flipping on a given image.
Component indices refer to GANSpace's PCA of the official `stylegan2-car-config-f` (10⁶ samples,
80 components); they are only meaningful for that generator.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

from ..util import atomic_write

OFFICIAL_CAR_GENERATOR = "stylegan2-car-config-f"

# Data, not code: one JSON object per preset.
BUILTIN_PRESETS_JSON = """
[
 {"name": "Car - Viewpoint", "component": 0, "layers": [0, 5], "strength": 2.0, "source": "GANSpace component as the SAM authors edit cars (±2)"},
 {"name": "Car - Cube", "component": 16, "layers": [3, 6], "strength": 25.0, "source": "GANSpace component as the SAM authors edit cars"},
 {"name": "Car - Color", "component": 22, "layers": [9, 11], "strength": -27.0, "source": "GANSpace component as the SAM authors edit cars"},
 {"name": "Car - Grass", "component": 41, "layers": [9, 11], "strength": -18.0, "source": "GANSpace component as the SAM authors edit cars"},
 {"name": "Car - Autumn", "component": 50, "layers": [8, 8], "strength": 20.0, "source": "GANSpace edit zoo (in paper)"},
 {"name": "Car - Focal length", "component": 15, "layers": [0, 3], "strength": -10.0, "source": "GANSpace edit zoo (in paper)"},
 {"name": "Car - Car model", "component": 44, "layers": [0, 8], "strength": 18.5, "source": "GANSpace edit zoo (in paper)"},
 {"name": "Car - Reflections", "component": 18, "layers": [7, 8], "strength": 20.0, "source": "GANSpace edit zoo (in paper)"},
 {"name": "Car - Add grass", "component": 41, "layers": [9, 10], "strength": -20.0, "source": "GANSpace edit zoo (other)"},
 {"name": "Car - Horizontal flip", "component": 0, "layers": [0, 4], "strength": -2.7, "source": "GANSpace edit zoo (other)"},
 {"name": "Car - Fall foliage", "component": 50, "layers": [7, 15], "strength": 20.0, "source": "GANSpace edit zoo (other)"},
 {"name": "Car - Blown out highlight", "component": 29, "layers": [8, 8], "strength": -14.0, "source": "GANSpace edit zoo (other)"},
 {"name": "Car - Flat vs tall", "component": 13, "layers": [0, 3], "strength": 12.0, "source": "GANSpace edit zoo (other)"},
 {"name": "Car - Front wheel turn", "component": 32, "layers": [5, 5], "strength": 20.0, "source": "GANSpace edit zoo (other)"},
 {"name": "Car - Ground smoothness", "component": 35, "layers": [9, 9], "strength": -20.0, "source": "GANSpace edit zoo (other)"},
 {"name": "Car - Image contrast", "component": 37, "layers": [7, 15], "strength": 20.0, "source": "GANSpace edit zoo (other)"},
 {"name": "Car - Sepia", "component": 45, "layers": [9, 10], "strength": -20.0, "source": "GANSpace edit zoo (other)"},
 {"name": "Car - Sunset", "component": 38, "layers": [7, 15], "strength": 20.0, "source": "GANSpace edit zoo (other)"},
 {"name": "Car - Side to front", "component": 1, "layers": [0, 4], "strength": -2.0, "source": "GANSpace edit zoo (other)"},
 {"name": "Car - Sports car", "component": 10, "layers": [3, 6], "strength": -7.5, "source": "GANSpace edit zoo (other)"},
 {"name": "Car - White car", "component": 14, "layers": [8, 8], "strength": 5.3, "source": "GANSpace edit zoo (other)"},
 {"name": "Car - Redness", "component": 22, "layers": [9, 10], "strength": -8.0, "source": "GANSpace teaser (target coordinate)"},
 {"name": "Car - Blocky shape", "component": 16, "layers": [3, 5], "strength": 25.0, "source": "GANSpace teaser (target coordinate)"}
]
"""


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named GANSpace edit: component k on style rows layers=(start, end) inclusive, strength in σ_k."""

    name: str
    component: int
    layers: tuple[int, int]
    strength: float
    generator: str | None = None  # generator the component indices were found for (None: any)
    source: str = "user"

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", (int(self.layers[0]), int(self.layers[1])))
        if not self.name.strip():
            raise ValueError("a preset needs a name")
        if self.component < 0 or self.layers[0] < 0 or self.layers[1] < self.layers[0]:
            raise ValueError(f"preset {self.name!r}: invalid component/layers {self.component}, {self.layers}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["layers"] = list(self.layers)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Preset:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown preset fields: {sorted(unknown)}")
        return cls(
            name=str(d["name"]),
            component=int(d["component"]),
            layers=(int(d["layers"][0]), int(d["layers"][1])),
            strength=float(d["strength"]),
            generator=d.get("generator"),
            source=str(d.get("source", "user")),
        )


def builtin_presets() -> list[Preset]:
    """The GANSpace car presets (for the official `stylegan2-car-config-f`)."""
    return [Preset.from_dict({**d, "generator": OFFICIAL_CAR_GENERATOR}) for d in json.loads(BUILTIN_PRESETS_JSON)]


def short_name(name: str) -> str:
    """"Demo - Sky bluer (PC 0, layers 2-5)" → "Sky bluer": the effect, without the family
    prefix or the component/rows suffix."""
    name = re.sub(r"\s*\((?:PC|component)\s*\d+[^)]*\)\s*$", "", name.strip())
    return name.split(" - ", 1)[-1].strip() if " - " in name else name


def component_names(presets: list[Preset], limit: int = 2) -> dict[int, str]:
    """A name for each component some preset uses: the effects its presets name, in list order
    (at most `limit`, joined by " / "): what a probe measured for the demo generator
    (`sam-editor demo presets` → presets.json), the known edits for the official car."""
    names: dict[int, list[str]] = {}
    for p in presets:
        n = short_name(p.name)
        have = names.setdefault(p.component, [])
        if n and n not in have and len(have) < limit:
            have.append(n)
    return {k: " / ".join(v) for k, v in names.items()}


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", name.strip()).strip("_").lower()
    return slug or "preset"


def save_user_preset(preset: Preset, user_dir: str | os.PathLike) -> Path:
    """Write `<user_dir>/<slug of name>.json` atomically; overwrites a preset of the same name."""
    path = Path(user_dir) / f"{_slug(preset.name)}.json"
    return atomic_write(path, json.dumps(preset.to_dict(), indent=1, sort_keys=True))


def delete_user_preset(name: str, user_dir: str | os.PathLike) -> bool:
    path = Path(user_dir) / f"{_slug(name)}.json"
    if path.is_file():
        path.unlink()
        return True
    return False


def load_user_presets(user_dir: str | os.PathLike | None) -> list[Preset]:
    """Every `*.json` preset in `user_dir` (sorted by name); unreadable files raise ValueError
    naming the file."""
    if user_dir is None or not Path(user_dir).is_dir():
        return []
    from ..schema import PresetModel, load_json, parse

    out = []
    for path in sorted(Path(user_dir).glob("*.json")):
        try:
            text = path.read_bytes()
            load_json(text, path.name, max_bytes=1024 * 1024)
            out.append(Preset.from_dict(parse(PresetModel, text, path.name).model_dump()))
        except (OSError, ValueError) as exc:  # FileFormatError is a ValueError naming the field
            raise ValueError(f"{path}: not a valid preset ({exc})") from exc
    return sorted(out, key=lambda p: p.name.lower())


GENERATOR_PRESETS_FILE = "presets.json"  # beside a generator: presets found for it (e.g. the demo bundle)


def load_preset_list(path: str | os.PathLike) -> list[Preset]:
    """A JSON list of presets (the generator-specific file that ships beside its weights);
    [] when the file is absent, ValueError naming the file when it is broken."""
    from ..schema import PresetList, load_json, parse

    path = Path(path)
    if not path.is_file():
        return []
    try:
        text = path.read_bytes()
        load_json(text, path.name, max_bytes=16 * 1024 * 1024)
        return [Preset.from_dict(p.model_dump()) for p in parse(PresetList, text, path.name)]
    except (OSError, ValueError) as exc:  # FileFormatError is a ValueError naming the field
        raise ValueError(f"{path}: not a valid preset list ({exc})") from exc


def all_presets(user_dir: str | os.PathLike | None = None) -> list[Preset]:
    """Built-ins first, then user presets (a user preset with a built-in's name replaces it)."""
    user = load_user_presets(user_dir)
    names = {p.name.lower() for p in user}
    return [p for p in builtin_presets() if p.name.lower() not in names] + user


def get_preset(name: str, user_dir: str | os.PathLike | None = None) -> Preset:
    """Look up by name, case-insensitive; 'Autumn' also finds 'Car - Autumn'."""
    presets = all_presets(user_dir)
    want = name.strip().lower()
    for p in presets:
        if p.name.lower() == want:
            return p
    matches = [p for p in presets if p.name.lower().split(" - ", 1)[-1] == want]
    if len(matches) == 1:
        return matches[0]
    raise KeyError(f"no preset named {name!r}; known: {', '.join(p.name for p in presets)}")
