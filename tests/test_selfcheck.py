"""The import self-check that guards the frozen app (`SAMEditor --check-imports`), from source."""

from __future__ import annotations

import ast
from pathlib import Path

from sam_editor import _lazy
from sam_editor.selfcheck import NOT_BUNDLED, check_imports, expected_modules

PACKAGE = Path(__file__).resolve().parents[1] / "sam_editor"


def lazy_tables_in_source() -> dict[str, dict[str, str]]:
    """The tables passed to `lazy_exports`, read from the packages' source (not imported)."""
    tables = {}
    for init in PACKAGE.rglob("__init__.py"):
        tree = ast.parse(init.read_text())
        if "lazy_exports" not in init.read_text():
            continue
        package = ".".join(("sam_editor", *init.parent.relative_to(PACKAGE).parts))
        dicts = [n for n in ast.walk(tree) if isinstance(n, ast.Dict) and n.keys]
        assert dicts, init
        table = max(dicts, key=lambda d: len(d.keys))
        tables[package] = {ast.literal_eval(k): ast.literal_eval(v) for k, v in zip(table.keys, table.values, strict=True)}
    return tables


def test_the_bundle_list_holds_every_module_a_lazy_table_names():
    modules = set(expected_modules())
    tables = lazy_tables_in_source()
    assert len(tables) >= 5
    named = {f"{package}.{module}" for package, table in tables.items() for module in table.values()}
    assert "sam_editor.session.files" in named  # the module the broken build lacked
    assert named <= modules - NOT_BUNDLED


def test_expected_modules_lists_the_tree_and_not_caches(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__pycache__").mkdir()
    for f in ("__init__.py", "a.py", "sub/__init__.py", "sub/b.py", "__pycache__/c.py", "__main__.py"):
        (pkg / f).write_text("")
    (pkg / "notes.txt").write_text("")
    assert expected_modules(pkg, "pkg.") == ["pkg", "pkg.a", "pkg.sub", "pkg.sub.b"]


def test_check_imports_passes_from_source_and_resolves_every_lazy_name():
    report = check_imports()
    assert report["ok"], report["missing"]
    assert report["source"] == "source tree" and not report["frozen"]
    assert report["lazy_names"] == sum(len(t) for t in _lazy.TABLES.values()) >= 90


def test_check_imports_reports_a_missing_module_and_an_unresolvable_lazy_name(monkeypatch):
    import sam_editor.session as session

    table = dict(_lazy.TABLES["sam_editor.session"], Ghost="no_such_module")
    monkeypatch.setitem(_lazy.TABLES, "sam_editor.session", table)
    # the package's __getattr__ reads its own table: point it at one naming a module that is gone
    _, getattr_, _ = _lazy.lazy_exports("sam_editor.session", table)
    monkeypatch.setattr(session, "__getattr__", getattr_)
    report = check_imports(["sam_editor.util", "sam_editor.no_such_module"])
    assert not report["ok"]
    missing = dict(report["missing"])
    assert "ModuleNotFoundError" in missing["sam_editor.no_such_module"]
    assert "sam_editor.session.Ghost" in missing and "sam_editor.util" not in missing
