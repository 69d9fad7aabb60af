"""Lazy package namespaces (PEP 562): a package's public names load their module on first use,
so that importing one light submodule (a CLI command table, a settings dataclass) does not pull
in torch, cv2 or Qt through the package's ``__init__``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

# Every table handed to `lazy_exports`, by package: what `selfcheck` resolves in a frozen app,
# where a module imported only by name at run time is exactly what a bundler's analysis misses.
TABLES: dict[str, Mapping[str, str]] = {}


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """`exports` maps a public name to the submodule (relative to `package`) that defines it.
    Returns ``__all__, __getattr__, __dir__`` for the package's ``__init__``."""
    namespace = importlib.import_module(package).__dict__
    TABLES[package] = exports

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return sorted(exports), __getattr__, __dir__
