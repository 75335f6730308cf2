"""``key list`` at scale: the fast listing reads what the careful one read, no more.

The listing parses PEM headers only, reads each file with four system calls
(:meth:`offtrust.store._fs.Dir.read_listed`) and makes no path object per key;
these tests pin that it still refuses what the store refuses and answers what
the slower code answered.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest
from builders import copy_example, ed25519_key
from hypothesis import given, settings
from hypothesis import strategies as st

from offtrust import crypto
from offtrust.errors import InvalidKeyError, UnreadableInputError
from offtrust.model import metadata, names
from offtrust.ops.context import Context
from offtrust.ops.keys import list_keys
from offtrust.store import _fs
from offtrust.store.keystore import KeyStore, read_pem_headers
from offtrust.store.layout import TrustDir


def reference_headers(data: bytes) -> tuple[str, dict[str, str]]:
    """read_pem_headers as it was: the whole rest of the file split into lines."""
    text = data.decode("ascii", errors="replace")
    m = re.search(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n", text)
    if not m:
        raise InvalidKeyError("not a PEM file")
    headers: dict[str, str] = {}
    for line in text[m.end() :].splitlines():
        if ":" not in line or line.startswith("-----"):
            break
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return m.group(1), headers


def _either(data: bytes, parse: object) -> object:
    try:
        return parse(data)  # type: ignore[operator]
    except InvalidKeyError:
        return "not PEM"


_PIECES = st.sampled_from(
    [
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----",
        b"-----BEGIN EC PRIVATE KEY-----\r\n",
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b":",
        b"role: root",
        b"gun:example.com/app",
        b" x ",
        b"\x0b",
        b"\x0c",
        b"\x1c",
        b"\x85",
        b"\xe2\x80\xa8",
        b"-----",
        b"\xff",
        b"MIHuMEkGCSqG",
    ]
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=24))
def test_header_parsing_answers_as_the_whole_file_parse(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    assert _either(data, read_pem_headers) == _either(data, reference_headers)


def test_header_parsing_of_real_key_files() -> None:
    key = ed25519_key(3)
    for headers in ({}, {"role": "root"}, {"gun": "example.com/app", "role": "targets"}):
        data = crypto.encode_private_key(key, "pass", headers)
        assert (
            read_pem_headers(data) == reference_headers(data) == ("ENCRYPTED PRIVATE KEY", headers)
        )


def test_the_name_rules_use_the_metadata_role_names() -> None:
    # names.py keeps its own copy so that key commands need not import the model.
    assert names.BASE_ROLES == metadata.BASE_ROLES
    assert names.TARGETS == metadata.TARGETS


# -- read_listed -------------------------------------------------------------------------


@pytest.fixture
def directory(tmp_path: Path) -> _fs.Dir:
    found = _fs.open_root(tmp_path)
    assert found is not None
    return found


def test_read_listed_reads_a_regular_file(tmp_path: Path, directory: _fs.Dir) -> None:
    (tmp_path / "k.key").write_bytes(b"x" * 3000)
    with directory:
        assert directory.read_listed("k.key", 4096) == b"x" * 3000
        assert directory.read_listed("gone.key", 4096) is None


def test_read_listed_refuses_what_read_refuses(tmp_path: Path, directory: _fs.Dir) -> None:
    (tmp_path / "big.key").write_bytes(b"x" * 5000)
    (tmp_path / "target").write_bytes(b"secret")
    (tmp_path / "link.key").symlink_to(tmp_path / "target")
    os.mkfifo(tmp_path / "fifo.key")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.key"))
    (tmp_path / "dir.key").mkdir()
    with directory:
        for name, why in (
            ("big.key", "larger than the limit"),
            ("link.key", "symbolic link"),
            ("fifo.key", "FIFO"),
            ("dir.key", "directory"),
        ):
            with pytest.raises(UnreadableInputError, match=why):
                directory.read_listed(name, 4096)
            with pytest.raises(UnreadableInputError, match=why):
                directory.read(name, 4096)
        with pytest.raises(UnreadableInputError):
            directory.read_listed("sock.key", 4096)
        with pytest.raises(_fs.StoreError):
            directory.read_listed("../target", 4096)
    sock.close()


def test_scan_lists_every_kind_without_following(tmp_path: Path, directory: _fs.Dir) -> None:
    (tmp_path / "a").write_bytes(b"")
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to(tmp_path / "d")
    os.mkfifo(tmp_path / "f")
    with directory:
        assert (
            sorted(directory.scan())
            == directory.entries()
            == [
                ("a", _fs.FILE),
                ("d", _fs.DIR),
                ("f", _fs.OTHER),
                ("l", _fs.LINK),
            ]
        )


# -- the listing -------------------------------------------------------------------------


def test_listing_skips_what_is_not_a_readable_key_file(tmp_path: Path) -> None:
    trust = copy_example(tmp_path / "trust")
    private = trust / "private"
    before = KeyStore(TrustDir(trust)).list()
    keyid = "ab" * 32
    (private / f"{keyid}.key").symlink_to(next(private.glob("*.key")))
    os.mkfifo(private / ("cd" * 32 + ".key"))
    (private / ("ef" * 32 + ".key")).write_bytes(b"not a PEM file")
    (private / ("12" * 32 + ".key")).write_bytes(b"x" * (_fs.KEY_LIMIT + 1))
    (private / "notanid.key").write_bytes(next(private.glob("*.key")).read_bytes())
    after = KeyStore(TrustDir(trust)).list()
    assert after == before
    assert [i.location for i in after] == [f"private/{i.keyid}.key" for i in after]
    assert all(i.path == trust / "private" / f"{i.keyid}.key" for i in after)


def test_every_example_key_gets_its_algorithm_from_the_metadata(tmp_path: Path) -> None:
    # Encrypted PKCS#8 files do not say their algorithm: the metadata does,
    # through the certificate for the root key (whose file is named by the
    # canonical ID).
    ctx = Context.at(copy_example(tmp_path / "trust"))
    rows = list_keys(ctx, with_algorithm=True)
    assert {r["role"] for r in rows} >= {"root", "targets"}
    assert all(r["algorithm"] == "ecdsa" for r in rows), rows
    assert all("algorithm" not in r for r in list_keys(ctx))


def test_a_key_no_metadata_lists_has_no_algorithm(tmp_path: Path) -> None:
    trust = copy_example(tmp_path / "trust")
    key = ed25519_key(7)
    (trust / "private" / f"{key.keyid}.key").write_bytes(
        crypto.encode_private_key(key, "pass", {"role": "zed"})
    )
    rows = {r["keyid"]: r for r in list_keys(Context.at(trust), with_algorithm=True)}
    assert rows[key.keyid]["algorithm"] is None
    assert rows[key.keyid]["role"] == "zed"
