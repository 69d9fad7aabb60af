"""`SAMEditor --check-imports`: is every module of the package inside this build?

The package namespaces are lazy (`_lazy.lazy_exports`): their public names import a submodule by
name on first use, which a bundler's static analysis (PyInstaller's) cannot follow. A module left
out of the frozen app then fails only when the user reaches it. This check imports every module
the build was meant to hold and resolves every lazily exported name, so a build that lacks one
fails at build time instead.

The expected module list comes from the source tree: `expected_modules()` walks the package on
disk, and the packaging spec writes that same list into the bundle (`BUNDLE_MANIFEST`), because a
frozen app can only enumerate what it contains, never what it lacks.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path

import sam_editor

from . import _lazy

PACKAGE_DIR = Path(sam_editor.__file__).resolve().parent
BUNDLE_MANIFEST = PACKAGE_DIR / "_bundle_modules.json"  # written by packaging/sam_editor.spec

# Modules the bundle leaves out on purpose (training-only; see packaging/sam_editor.spec).
NOT_BUNDLED = frozenset({"sam_editor.demo.train_clip"})


def expected_modules(package_dir: Path = PACKAGE_DIR, prefix: str = "sam_editor.") -> list[str]:
    """Every module and package under `package_dir`, read from the source tree (not imported)."""
    names: set[str] = set()
    for init in package_dir.rglob("__init__.py"):
        rel = init.parent.relative_to(package_dir)
        pkg = ".".join((prefix.rstrip("."), *rel.parts))
        names.add(pkg)
        names.update(f"{pkg}.{mod.stem}" for mod in init.parent.glob("*.py") if mod.name != "__init__.py")
    return sorted(n for n in names if "__pycache__" not in n and not n.endswith(".__main__"))


def modules_to_check() -> tuple[list[str], str]:
    """(module names, where the list came from): the build's manifest in a frozen app, else the
    source tree."""
    if BUNDLE_MANIFEST.is_file():
        return json.loads(BUNDLE_MANIFEST.read_text())["modules"], "bundle manifest"
    return [m for m in expected_modules() if m not in NOT_BUNDLED], "source tree"


def check_imports(modules: list[str] | None = None) -> dict:
    """Import `modules` (default: `modules_to_check()`), then resolve every name of every lazy
    table; → a report with the failures as ``"missing": [(what, error), …]``."""
    source = "given"
    if modules is None:
        modules, source = modules_to_check()
    missing: list[tuple[str, str]] = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any failure to import is what this check reports
            missing.append((name, f"{type(exc).__name__}: {exc}"))
    names = 0
    for package, table in sorted(_lazy.TABLES.items()):
        pkg = sys.modules.get(package) or importlib.import_module(package)
        for attr in sorted(table):
            names += 1
            try:
                getattr(pkg, attr)
            except Exception as exc:  # noqa: BLE001
                last = traceback.extract_tb(exc.__traceback__)[-1:]
                missing.append((f"{package}.{attr}", f"{type(exc).__name__}: {exc}" + (f" ({last[0].filename})" if last else "")))
    return {
        "ok": not missing,
        "modules": len(modules),
        "lazy_tables": len(_lazy.TABLES),
        "lazy_names": names,
        "source": source,
        "frozen": bool(getattr(sys, "frozen", False)),
        "missing": missing,
    }


def main() -> int:
    report = check_imports()
    print(json.dumps(report), flush=True)
    return 0 if report["ok"] else 1
