"""One GUN rule everywhere: the store, the bundle, the HTTP client and the CLI agree.

Before offtrust.model.names, ``a b`` or ``a#b`` could be staged and bundled and
then fail at publish. Each GUN below is accepted, or refused, by every layer.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from offtrust.bundle import MANIFEST_NAME, BundleFile, BundleGUN, read_bundle, write_bundle
from offtrust.cli import app
from offtrust.errors import BundleError, UsageError
from offtrust.online.client import NotaryClient
from offtrust.store.layout import TrustDir

ACCEPTED = [
    "docker.io/library/alpine",
    "localhost:5000/app",
    "127.0.0.1:4443/a/b",
    "example.com/app",
    "example.com/my_org/a.b-c__d",
    "[::1]:5000/app",
    "example.com/" + "a" * 243,
]
REFUSED = [
    "a b",
    "a#b",
    "a?b",
    "a%b",
    "a" * 300,
    "example.com/" + "a" * 244,
    "example.com/app:latest",
    "example.com/caf\u00e9",
    "a\tb",
]


def _doc(role: str) -> bytes:
    signed = {"_type": role.capitalize(), "expires": "2030-01-01T00:00:00Z", "version": 1}
    return json.dumps({"signed": signed, "signatures": []}, separators=(",", ":")).encode()


def _files() -> dict[str, BundleFile]:
    roles = ("root", "targets")
    return {role: BundleFile(role=role, data=_doc(role), version=1, upload=True) for role in roles}


def _hand_made_bundle(gun: str) -> bytes:
    """A bundle for *gun*, packed by tarfile itself so that write_bundle checks nothing.

    It is a valid bundle of another GUN with the GUN renamed, so it follows
    whatever the current format is.
    """
    placeholder = "example.com/placeholder"
    valid = write_bundle([BundleGUN(gun=placeholder, base={}, new_gun=True, files=_files())])
    with tarfile.open(fileobj=io.BytesIO(valid), mode="r:") as tar:
        members = []
        for member in tar:
            stream = tar.extractfile(member)
            assert stream is not None
            members.append((member.name, stream.read()))
    manifest = json.loads(members[0][1])
    manifest["guns"] = {gun: manifest["guns"][placeholder]}
    members[0] = (MANIFEST_NAME, json.dumps(manifest, sort_keys=True).encode())
    renamed = [(name.replace(placeholder, gun, 1), data) for name, data in members]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in renamed:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


class _NotFound(BaseHTTPRequestHandler):
    """A notary-server that knows no GUN: every GET is a 404."""

    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        type(self).paths.append(self.path)
        body = b'{"errors":[{"code":"METADATA_NOT_FOUND","message":"not found"}]}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def client() -> Iterator[NotaryClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with NotaryClient(f"http://127.0.0.1:{port}", insecure=True, timeout=5) as notary:
            yield notary
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("gun", ACCEPTED, ids=lambda g: g[:30])
def test_every_layer_accepts(gun: str, tmp_path: Path, client: NotaryClient) -> None:
    trust = TrustDir(tmp_path)
    assert trust.published_dir(gun) == tmp_path / "tuf" / gun / "metadata"
    assert trust.staged_dir(gun).parts[-2 - gun.count("/") : -1] == tuple(gun.split("/"))

    data = write_bundle([BundleGUN(gun=gun, base={}, new_gun=True, files=_files())])
    assert list(read_bundle(data).guns) == [gun]

    before = len(_NotFound.paths)
    assert client.get_metadata(gun, "root") is None
    assert len(_NotFound.paths) == before + 1

    result = CliRunner().invoke(app, ["-d", str(tmp_path), "verify", gun])
    assert "invalid GUN" not in result.stderr


@pytest.mark.parametrize("gun", REFUSED, ids=lambda g: repr(g[:30]))
def test_every_layer_refuses(gun: str, tmp_path: Path, client: NotaryClient) -> None:
    trust = TrustDir(tmp_path)
    for path_of in (trust.published_dir, trust.staged_dir, trust.server_keys_dir):
        with pytest.raises(UsageError, match="invalid GUN"):
            path_of(gun)

    with pytest.raises(BundleError, match="not a valid GUN|invalid GUN"):
        write_bundle([BundleGUN(gun=gun, base={}, new_gun=True, files=_files())])
    with pytest.raises(BundleError, match="not a valid GUN|invalid GUN"):
        read_bundle(_hand_made_bundle(gun))

    before = len(_NotFound.paths)
    with pytest.raises(UsageError, match="invalid GUN"):
        client.get_metadata(gun, "root")
    assert len(_NotFound.paths) == before  # refused before any request

    result = CliRunner().invoke(app, ["-d", str(tmp_path), "verify", gun])
    assert result.exit_code == 2
    assert result.stderr.startswith("offtrust: error: invalid GUN")
    assert not (tmp_path / "tuf").exists()
