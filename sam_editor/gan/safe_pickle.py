"""Restricted unpickling of network pickles: nothing in the file is imported or executed.

Official StyleGAN2 pickles (TensorFlow era) and stylegan2-ada-pytorch / stylegan3 pickles
normally rebuild their networks by `exec`-ing source code stored inside the pickle. We never do
that: `find_class` resolves only a whitelist of harmless constructors (NumPy/PyTorch array
rebuilders, a few containers) and maps the known network classes to inert stand-ins that just
record their pickled state. Any other global is refused before anything runs.
"""

from __future__ import annotations

import codecs
import io
import pickle
import warnings
from collections import OrderedDict
from typing import Any, BinaryIO

import numpy as np
import torch


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references a global outside the whitelist (nothing was executed)."""

    def __init__(self, module: str, name: str):
        super().__init__(f"refused global {module}.{name}")
        self.module = module
        self.name = name

    @property
    def qualified_name(self) -> str:
        return f"{self.module}.{self.name}"


class EasyDict(dict):
    """Stand-in for `dnnlib.util.EasyDict` (a dict with attribute access)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class TFNetworkStub:
    """Stand-in for `dnnlib.tflib.network.Network`: keeps the pickled state, builds no graph."""

    state: dict

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("TensorFlow network state is not a dict")
        self.state = dict(state)

    @property
    def name(self) -> str:
        return str(self.state.get("name", ""))

    @property
    def version(self) -> int:
        return int(self.state.get("version", 0))

    @property
    def static_kwargs(self) -> dict:
        return dict(self.state.get("static_kwargs") or {})

    @property
    def components(self) -> dict:
        return dict(self.state.get("components") or {})

    @property
    def variables(self) -> list[tuple[str, Any]]:
        return list(self.state.get("variables") or [])


class PersistentObject:
    """What `torch_utils.persistence._reconstruct_persistent_obj(meta)` would have rebuilt, minus
    the code: the class name, the (never executed) module source and the object's state."""

    def __init__(self, class_name: str, module_src: str, state: dict):
        self.class_name = class_name
        self.module_src = module_src
        self.state = state

    def __repr__(self) -> str:
        return f"PersistentObject({self.class_name})"

    @property
    def init_kwargs(self) -> dict:
        return dict(self.state.get("_init_kwargs") or {})

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args") or ())

    @property
    def modules(self) -> dict:
        return dict(self.state.get("_modules") or {})


def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    if not isinstance(meta, dict) or meta.get("type", "class") != "class":
        raise pickle.UnpicklingError("unexpected persistent-object metadata")
    state = meta.get("state") or {}
    if not isinstance(state, dict):
        raise pickle.UnpicklingError("persistent-object state is not a dict")
    return PersistentObject(str(meta.get("class_name", "")), str(meta.get("module_src", "")), dict(state))


def _load_from_bytes(data: bytes) -> Any:
    """Our `torch.storage._load_from_bytes`: the bytes are a torch.save'd storage, read safely."""
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("tensor storage payload is not bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation noise
        return torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)


def _rebuild_tensor(storage: Any, storage_offset: int, size: tuple, stride: tuple) -> torch.Tensor:
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError("tensor rebuilt from something that is not a storage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch._utils._rebuild_tensor(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_tensor_v2(
    storage: Any, storage_offset: int, size: tuple, stride: tuple, requires_grad: bool = False, *_ignored: Any
) -> torch.Tensor:
    """Backward hooks and metadata in the pickle are dropped: they can only be whitelisted
    objects anyway, and inference needs neither."""
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: bool = False, *_ignored: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("parameter rebuilt from something that is not a tensor")
    return data


def _codecs_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """Protocol-2 pickles spell `bytes` as `_codecs.encode(str, 'latin1')`; allow only that."""
    if not isinstance(obj, str) or codecs.lookup(encoding).name not in ("iso8859-1", "latin-1"):
        raise pickle.UnpicklingError("only latin-1 byte strings may be encoded")
    return obj.encode("latin-1")


_STUB_CLASSES = (TFNetworkStub, EasyDict, PersistentObject)


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    """Protocol-0/1 object creation (`copyreg._reconstructor`), for our stand-ins only."""
    if cls not in _STUB_CLASSES or base not in (object, dict):
        raise pickle.UnpicklingError(f"refused to construct {cls!r}")
    return base.__new__(cls) if base is object else dict.__new__(cls)


def _numpy_core_attr(name: str) -> Any:
    try:
        from numpy._core import multiarray  # numpy ≥ 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    return getattr(multiarray, name)


def _storage_classes() -> dict[str, Any]:
    names = ["Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool"]
    out: dict[str, Any] = {}
    for n in names:
        cls = getattr(torch, f"{n}Storage", None)
        if cls is not None:
            out[f"torch.{n}Storage"] = cls
    return out


_ALLOWED: dict[str, Any] = {
    "numpy.core.multiarray._reconstruct": _numpy_core_attr("_reconstruct"),
    "numpy._core.multiarray._reconstruct": _numpy_core_attr("_reconstruct"),
    "numpy.core.multiarray.scalar": _numpy_core_attr("scalar"),
    "numpy._core.multiarray.scalar": _numpy_core_attr("scalar"),
    "numpy.ndarray": np.ndarray,
    "numpy.dtype": np.dtype,
    "collections.OrderedDict": OrderedDict,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "_codecs.encode": _codecs_encode,
    "copyreg._reconstructor": _reconstructor,
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch.storage._load_from_bytes": _load_from_bytes,
    # Known network classes → inert stand-ins.
    "dnnlib.tflib.network.Network": TFNetworkStub,
    "dnnlib.util.EasyDict": EasyDict,
    "dnnlib.EasyDict": EasyDict,
    "torch_utils.persistence._reconstruct_persistent_obj": _reconstruct_persistent_obj,
    **_storage_classes(),
}

_RENAMED_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}  # Python 2 spellings


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose globals come only from `_ALLOWED`."""

    def find_class(self, module: str, name: str) -> Any:
        module = _RENAMED_MODULES.get(module, module)
        obj = _ALLOWED.get(f"{module}.{name}")
        if obj is None:
            raise UnsafePickleError(module, name)
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("<persistent id>", repr(pid)[:60])


def restricted_load(f: BinaryIO) -> Any:
    """Unpickle `f` with the whitelist; raises UnsafePickleError or pickle/EOF errors."""
    return RestrictedUnpickler(f).load()


def allowed_globals() -> list[str]:
    """The whitelist, for error messages and documentation."""
    return sorted(_ALLOWED)
