"""Typed schemas of the files a user hands us (projects, recipes, presets, φ headers) and the
one way of reading their JSON: size and nesting limits first, then a strict pydantic model.

A file is parsed into its model *before* anything changes; whatever does not fit (a string
where a bool belongs, NaN, a name with a path in it, nesting 10 000 deep, a list where an
object belongs) is a `FileFormatError` with one readable sentence, never a traceback.

pydantic (v2) rather than hand-written checks: the models below *are* the format's
documentation, strict mode refuses the silent coercions (``"no"`` → True, ``"3"`` → 3) that the
old ``bool(...)``/``int(...)`` readers did, and its error locations ("edits.0.strength") name
the bad field for the user.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

MAX_DEPTH = 24  # JSON nesting: our files need 5
MAX_JSON_BYTES = 64 * 1024 * 1024  # a recipe with a few δw+ is < 1 MB; a project.json with its map a few MB
MAX_NAME = 200  # characters in a file name we will write or show


class FileFormatError(ValueError):
    """A file the user gave us does not fit its format; the message is for the user as is."""


# ----------------------------------------------------------------------------------- JSON
def _reject_constant(name: str) -> float:
    raise FileFormatError(f"{name} is not a number a SAM Editor file may hold")


def load_json(data: str | bytes, what: str, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """JSON text → Python data, refusing oversized text, NaN/Infinity literals and nesting
    deeper than `max_depth`. `what` names the file in the message."""
    if len(data) > max_bytes:
        raise FileFormatError(f"{what} is too large ({len(data) / 1e6:.1f} MB; at most {max_bytes / 1e6:.0f} MB)")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileFormatError(f"{what} is not UTF-8 text") from exc
    _check_depth_text(data, what, max_depth)
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except FileFormatError as exc:
        raise FileFormatError(f"{what}: {exc}") from exc
    except (ValueError, RecursionError) as exc:
        raise FileFormatError(f"{what} is not valid JSON ({str(exc)[:120]})") from exc


def _check_depth_text(text: str, what: str, max_depth: int) -> None:
    """Bracket depth outside strings, without recursion (json.loads recurses and would raise
    RecursionError far below a limit the user could understand)."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    depth, in_str, esc = 0, False, False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                raise FileFormatError(f"{what} is nested more than {max_depth} levels deep")
        elif ch in "]}":
            depth -= 1


def describe(exc: ValidationError, what: str) -> str:
    """A pydantic error as one sentence: the first bad field, and how many more there are."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "the file"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    msg = str(first["msg"]).removeprefix("Value error, ")
    return f"{what}: {where}: {msg}{more}"


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M] | TypeAdapter[Any], text: str | bytes, what: str) -> Any:
    """JSON `text` (already through `load_json`'s limits) into `model` (a model class or a
    TypeAdapter), or a FileFormatError naming the bad field. Validated from the JSON text
    itself: strict mode then takes JSON arrays for tuples but nothing else in disguise."""
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_json(text, strict=True)
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise FileFormatError(describe(exc, what)) from exc


def check_format(data: Any, fmt: str, version: int, what: str, kind: str) -> None:
    """The common head of our files: an object whose "format" is `fmt` and whose "version" is
    a whole number no newer than `version`."""
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise FileFormatError(f"{what} is not a SAM Editor {kind}")
    v = data.get("version")
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise FileFormatError(f"{what}: its version ({v!r}) is not a version number")
    if v > version:
        raise FileFormatError(f"{what} was written by a newer SAM Editor ({kind} version {v}; this one reads up to {version})")


# ----------------------------------------------------------------------------------- field types
def _plain_name(s: str) -> str:
    if not s or s in (".", "..") or any(c in s for c in '/\\\0:') or s != s.strip() or any(ord(c) < 32 for c in s):
        raise ValueError("must be a plain file name (no folders, no '..', no control characters)")
    return s


Name = Annotated[str, Field(max_length=MAX_NAME), AfterValidator(_plain_name)]
Text = Annotated[str, Field(max_length=1000)]
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-1e6, le=1e6)]
Fraction = Annotated[float, Field(allow_inf_nan=False, ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0, le=1_000_000)]
Row = Annotated[int, Field(ge=0, le=64)]  # a style row (num_ws ≤ 18 for 1024 px)
Tau = Annotated[float, Field(allow_inf_nan=False, ge=0.0, le=1.0)]
SPACE_NAMES = ("W+", "F4", "F6", "F8", "F10")


def _space(s: str) -> str:
    t = s.strip().upper().replace("PLUS", "+")
    if t not in SPACE_NAMES:
        raise ValueError(f"must be one of {', '.join(SPACE_NAMES)}")
    return t


Space = Annotated[str, Field(max_length=8), AfterValidator(_space)]


class Strict(BaseModel):
    """Strict types (no "no" → True, no "3" → 3); unknown fields are kept out of the way."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def _layers_ordered(v: tuple[int, int]) -> tuple[int, int]:
    if v[1] < v[0]:
        raise ValueError("the first style row must not come after the last")
    return v


Layers = Annotated[tuple[Row, Row], AfterValidator(_layers_ordered)]


# ----------------------------------------------------------------------------------- edits
class EditModel(Strict):
    """One edit of the stack (`edits.spec.EditSpec.to_json`)."""

    kind: Literal["ganspace", "styleclip", "direction"]
    name: Text
    strength: Finite
    layers: Layers
    component: Annotated[int, Field(ge=-1, le=100_000)] = -1
    text: Text = ""
    key: Count = 0
    enabled: bool = True  # a layer switched off in the stack (absent in older files: on)
    label: Text = ""  # the user's name for the layer (absent: its name)


class TensorModel(Strict):
    """A float32 tensor as base64 (`session.recipe.encode_tensor`)."""

    shape: Annotated[list[Annotated[int, Field(ge=1, le=4096)]], Field(min_length=1, max_length=4)]
    float32: Annotated[str, Field(max_length=16 * 1024 * 1024)]

    @model_validator(mode="after")
    def _size_matches(self) -> TensorModel:
        n = math.prod(self.shape)
        if n > 1_000_000:
            raise ValueError(f"a tensor of {n} values is larger than any edit direction")
        if len(self.float32) != 4 * ((4 * n + 2) // 3):
            raise ValueError(f"its data does not hold {n} float32 values of shape {self.shape}")
        return self


class RecipeEditModel(EditModel):
    delta_w: TensorModel | None = None


# ----------------------------------------------------------------------------------- latent map
class LatentMapModel(Strict):
    """`invertibility.latent_map.LatentMap.to_json` (the pixels are checked when decoded)."""

    format: Literal["sam_editor.latent_map"]
    version: Annotated[int, Field(ge=1, le=1)]
    height: Annotated[int, Field(ge=1, le=4096)]
    width: Annotated[int, Field(ge=1, le=4096)]
    spaces: list[Space]
    tau: Tau
    labels_png: Annotated[str, Field(max_length=32 * 1024 * 1024)]
    segment_errors: Annotated[list[Annotated[list[Finite], Field(min_length=5, max_length=5)]], Field(max_length=65_536)]
    overrides: Annotated[dict[Annotated[str, Field(pattern=r"^[0-9]{1,5}$")], Space], Field(max_length=65_536)] = {}


# ----------------------------------------------------------------------------------- projects
class SourceModel(Strict):
    name: Name
    size: tuple[Annotated[int, Field(ge=1, le=1_000_000)], Annotated[int, Field(ge=1, le=1_000_000)]]
    notes: Annotated[list[Text], Field(max_length=32)] = []


class GeneratorRef(Strict):
    file: Annotated[str, Field(max_length=MAX_NAME)]
    id: Annotated[str, Field(max_length=MAX_NAME)] | None = None


class InversionModel(Strict):
    method: Annotated[str, Field(max_length=32)]
    steps_run: Count
    cancelled: bool
    seconds: Annotated[float, Field(allow_inf_nan=False, ge=0.0)]
    losses: Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[float, Field(allow_inf_nan=False)]], Field(max_length=64)]
    map_json: LatentMapModel | None


class ProjectModel(Strict):
    """project.json inside a `.samproj` (`Session.save_project`)."""

    format: Literal["sam-editor-project"]
    version: Annotated[int, Field(ge=1)]
    source: SourceModel
    generator: GeneratorRef
    latent_map: LatentMapModel | None = None
    inversion: InversionModel | None = None
    edits: Annotated[list[EditModel], Field(max_length=256)] = []
    edit_region: Annotated[list[Annotated[int, Field(ge=0, le=65_535)]], Field(max_length=65_536)] = []


# ----------------------------------------------------------------------------------- recipes
class PhotoRef(Strict):
    name: Annotated[str, Field(max_length=1000)]
    size: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]


class FileRef(Strict):
    file: Annotated[str, Field(max_length=1000)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class RecipeInversion(Strict):
    method: Annotated[str, Field(min_length=1, max_length=32)] = "sam"
    steps: Annotated[int, Field(ge=0, le=100_000)] = 300


class OverrideModel(Strict):
    point: tuple[Fraction, Fraction]
    space: Space


class ExportModel(Strict):
    full_size: bool = True


class RecipeModel(Strict):
    """A recipe (`session.recipe`), as written into an export's PNG or a `.json`."""

    format: Literal["sam-editor-recipe"]
    version: Annotated[int, Field(ge=1)]
    app_version: Annotated[str, Field(max_length=64)] | None = None
    photo: PhotoRef | None = None
    generator: FileRef | None = None
    predictor: FileRef | None = None
    tau: Tau
    inversion: RecipeInversion | None = None
    overrides: Annotated[list[OverrideModel], Field(max_length=4096)] = []
    region: Annotated[list[tuple[Fraction, Fraction]], Field(max_length=4096)] = []
    edits: Annotated[list[RecipeEditModel], Field(max_length=256)] = []
    export: ExportModel | None = None


# ----------------------------------------------------------------------------------- presets, φ
class PresetModel(Strict):
    """A GANSpace preset (`edits.presets.Preset.to_dict`)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=200)]
    component: Annotated[int, Field(ge=0, le=100_000)]
    layers: Layers
    strength: Finite
    generator: Annotated[str, Field(max_length=MAX_NAME)] | None = None
    source: Annotated[str, Field(max_length=200)] = "user"


PresetList = TypeAdapter(Annotated[list[PresetModel], Field(max_length=10_000)])


class PhiHeaderModel(Strict):
    """The JSON header of a φ file (`inversion.phi.Phi.save`)."""

    format: Literal["sam-editor-phi"]
    version: Annotated[int, Field(ge=1)]
    metadata: dict[Annotated[str, Field(max_length=200)], Any] = {}
