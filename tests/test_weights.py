"""The weights registry and downloader, against a local HTTP server (no internet needed)."""

from __future__ import annotations

import argparse
import hashlib
import http.server
import os
import socket
import threading

import pytest

from sam_editor import weights, weights_commands
from sam_editor.weights import DownloadInterrupted, HashMismatch, NetworkError, WeightsEntry

BLOB = os.urandom(300_000)
BLOB_SHA = hashlib.sha256(BLOB).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves server.files; honours Range; can drop the connection once after N bytes."""

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        srv = self.server
        rng = self.headers.get("Range")
        srv.requests.append((self.path, rng))
        data = srv.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        if start >= len(data):
            self.send_response(416)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = data[start:]
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        drop = srv.drop_after.pop(self.path, None)
        if drop is not None:  # send part of the body, then cut the connection
            self.wfile.write(body[:drop])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.drop_after, srv.requests = {"/blob.bin": BLOB}, {}, []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def entry_for(srv, sha256: str | None = BLOB_SHA, path: str = "/blob.bin") -> WeightsEntry:
    return WeightsEntry(
        "test-blob", "test", "blob.bin", f"http://127.0.0.1:{srv.server_port}{path}", sha256=sha256, subdir="t"
    )


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM_EDITOR_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(weights, "REPO_WEIGHTS", tmp_path / "repo-weights")


def test_good_download_appears_atomically(server, tmp_path):
    e = entry_for(server)
    target = weights.target_path(e)
    seen = []

    def progress(done: int, total: int | None) -> None:
        assert not target.exists()  # only the .part exists until the hash is checked
        seen.append((done, total))

    path = weights.fetch(e, progress=progress)
    assert path == target == tmp_path / "weights" / "t" / "blob.bin"
    assert path.read_bytes() == BLOB and not path.with_name("blob.bin.part").exists()
    assert seen[0] == (0, len(BLOB)) and seen[-1] == (len(BLOB), len(BLOB))
    assert weights.verify(e).state == "ok"
    server.requests.clear()
    assert weights.fetch(e) == path and server.requests == []  # a good copy is not downloaded again


def test_wrong_hash_keeps_nothing(server):
    e = entry_for(server, sha256="0" * 64)
    with pytest.raises(HashMismatch, match="nothing was kept"):
        weights.fetch(e)
    target = weights.target_path(e)
    assert not target.exists() and not target.with_name("blob.bin.part").exists()


def test_dropped_connection_keeps_part_then_resumes(server):
    e = entry_for(server)
    server.drop_after["/blob.bin"] = 100_000
    with pytest.raises(DownloadInterrupted, match=r"100000 of 300000 bytes.*kept"):
        weights.fetch(e)
    target = weights.target_path(e)
    part = target.with_name("blob.bin.part")
    assert not target.exists() and part.read_bytes() == BLOB[:100_000]
    path = weights.fetch(e)
    assert server.requests[-1] == ("/blob.bin", "bytes=100000-")
    assert path.read_bytes() == BLOB and not part.exists()


def test_complete_part_file_is_finished_on_416(server):
    e = entry_for(server)
    part = weights.target_path(e).with_name("blob.bin.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(BLOB)
    assert weights.fetch(e).read_bytes() == BLOB


def test_network_errors(server):
    with pytest.raises(NetworkError, match="HTTP 404"):
        weights.fetch(entry_for(server, path="/absent.bin"))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    e = WeightsEntry("offline", "test", "x.bin", f"http://127.0.0.1:{port}/x.bin", subdir="t")
    with pytest.raises(NetworkError, match="cannot download .*Check the network"):
        weights.fetch(e)
    assert not weights.target_path(e).parent.exists() or not any(weights.target_path(e).parent.iterdir())


def test_registry_entries_are_complete():
    for e in weights.REGISTRY.values():
        assert e.url.startswith("https://") and e.filename and e.licence, e.name
        assert e.sha256 is None or len(e.sha256) == 64
    assert weights.REGISTRY["stylegan2-car"].filename == "stylegan2-car-config-f.pkl"
    hub = weights.target_path("vgg16")
    assert hub.parts[-2:] == ("checkpoints", "vgg16-397923af.pth") and hub.parent.parent.name == "hub"
    with pytest.raises(weights.UnknownWeights, match="unknown weights 'nope'"):
        weights.get("nope")


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    weights_commands.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_list_shows_every_entry_and_presence(tmp_path, capsys):
    car = weights.target_path("stylegan2-car")
    car.parent.mkdir(parents=True)
    car.write_bytes(b"x")
    assert _run(["weights", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[2] for line in lines[1:-1]}
    assert set(rows) == set(weights.REGISTRY)
    assert rows["stylegan2-car"] == "present" and str(car) in "\n".join(lines)
    assert all(state == "missing" for name, state in rows.items() if name != "stylegan2-car")
    assert lines[-1].startswith(f"1 of {len(weights.REGISTRY)} present")


def test_cli_verify_and_fetch(server, monkeypatch, capsys):
    e = entry_for(server)
    monkeypatch.setitem(weights.REGISTRY, e.name, e)
    assert _run(["weights", "verify", "test-blob"]) == 1  # missing
    assert _run(["weights", "fetch", "test-*"]) == 0
    assert _run(["weights", "verify", "test-blob"]) == 0
    out = capsys.readouterr().out
    assert "test-blob: missing" in out and "test-blob: ok" in out
    bad = weights.target_path("edit-cars-black")
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\0" * 32896)
    assert _run(["weights", "verify", "edit-cars-black"]) == 1
    assert "edit-cars-black: mismatch" in capsys.readouterr().out
    assert _run(["weights", "fetch", "no-such-thing"]) == 2
    assert "no weights named 'no-such-thing'" in capsys.readouterr().err
