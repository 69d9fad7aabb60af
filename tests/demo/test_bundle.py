"""The committed demo bundle is consistent with its manifest, and the manifest tooling detects changes."""

import shutil

from sam_editor.demo import bundle


def test_committed_bundle_matches_manifest():
    assert bundle.read_manifest() is not None, "weights/demo/manifest.json must ship with the bundle"
    assert bundle.verify() == []
    roles = {f["role"] for f in bundle.read_manifest()["files"]}
    assert "generator" in roles


def test_manifest_detects_corruption(tmp_path):
    d = tmp_path / "demo"
    d.mkdir()
    shutil.copy(bundle.BUNDLE_DIR / "generator.pt", d / "generator.pt")
    m = bundle.write_manifest(d, figures={"generator": {"kimg": 1}})
    assert [f["role"] for f in m["files"]] == ["generator"]
    assert bundle.verify(d) == []
    with open(d / "generator.pt", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    assert any("sha256 differs" in p for p in bundle.verify(d))
    (d / "generator.pt").unlink()
    assert any("missing" in p for p in bundle.verify(d))
    # An absent file drops out of a rewritten manifest.
    assert bundle.write_manifest(d)["files"] == []
