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
from offtrust.errors import InvalidKeyError, StoreError, UnreadableInputError
from offtrust.model import metadata, names
from offtrust.ops.context import Context
from offtrust.ops.keys import list_keys
from offtrust.store import _fs
from offtrust.store.keystore import KeyStore, _is_encrypted, _key_fields, read_pem_headers
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


def _reference_fields(data: bytes) -> object:
    """What the listing took from a key file before :func:`_key_fields` read bytes."""
    try:
        pem_type, headers = read_pem_headers(data)
    except InvalidKeyError:
        return None
    return (
        pem_type,
        headers.get("role", ""),
        headers.get("gun", ""),
        _is_encrypted(pem_type, headers),
    )


_KEY_PIECES = st.sampled_from(
    [
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n",
        b"-----BEGIN EC PRIVATE KEY-----\n",
        b"-----BEGIN RSA PRIVATE KEY-----\r\n",
        b"-----BEGIN  -----\n",
        b"-----BEGIN a-----\n",
        b"-----BEGIN X------\n",
        b"-----BEGIN ",
        b"PRIVATE KEY",
        b"-----\n",
        b"\n",
        b"\r",
        b"\n\n",
        b":",
        b"role: root",
        b"role:",
        b"gun: example.com/app ",
        b"\tgun\t:\tx\t",
        b"Proc-Type: 4,ENCRYPTED",
        b"Proc-Type: 4,encrypted",
        b"DEK-Info: AES-128-CBC,00",
        b" x ",
        b"\x00",
        b"\x0b",
        b"\x0c",
        b"\x1c",
        b"\x1f",
        b"\x7f",
        b"\x85",
        b"\xe2\x80\xa8",
        b"\xff",
        b"-----",
        b"MIHuMEkGCSqG",
    ]
)


@settings(max_examples=4000, deadline=None)
@given(st.lists(_KEY_PIECES, max_size=16))
def test_the_byte_level_header_reader_answers_as_read_pem_headers(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    assert _key_fields(data) == _reference_fields(data)


_MEMO: dict[bytes, object] = {}


@settings(max_examples=4000, deadline=None)
@given(st.lists(_KEY_PIECES, max_size=16))
def test_files_with_the_same_head_are_read_once_with_the_same_answer(pieces: list[bytes]) -> None:
    # One memo for every example: a file answered from another file's entry
    # must get its own answer.
    data = b"".join(pieces)
    assert _key_fields(data, _MEMO) == _reference_fields(data)  # type: ignore[arg-type]


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=64), st.binary(max_size=64))
def test_the_byte_level_header_reader_on_any_bytes(head: bytes, tail: bytes) -> None:
    for data in (head, b"-----BEGIN PRIVATE KEY-----\n" + head + b"\n\n" + tail):
        assert _key_fields(data) == _reference_fields(data)


@pytest.mark.parametrize(
    "headers",
    [
        b"role: r\xffot\n",
        b"role: root\x85\n",
        b"gun: a\xe2\x80\xa8b\n",
        b"role: root\r\ngun: x\n",
        b"role: a\rgun: b\n",
        b"role:\x0broot\n",
        b"role: ro\x0cot\n",
        b"role: root\x1c\n",
        b"\x1frole: root\n",
        b"role: ro\x7fot\x00\n",
        b"role: a\nrole: b\n",
        b"role: a\n-----END\ngun: b\n",
        b"role: a\nno colon\ngun: b\n",
        b"Proc-Type: 4,ENCRYPTED\n",
        b"",
    ],
)
def test_the_byte_level_header_reader_on_odd_headers(headers: bytes) -> None:
    for begin in (b"-----BEGIN EC PRIVATE KEY-----\n", b"-----BEGIN EC PRIVATE KEY-----\r\n"):
        for end in (b"\nMIHu\n-----END EC PRIVATE KEY-----\n", b""):
            data = begin + headers + end
            assert _key_fields(data) == _reference_fields(data)


def test_the_byte_level_header_reader_on_real_key_files() -> None:
    key = ed25519_key(4)
    for headers in ({}, {"role": "root"}, {"gun": "example.com/app", "role": "targets"}):
        for passphrase in ("pass", None):
            data = crypto.encode_private_key(key, passphrase, headers)
            assert _key_fields(data) == _reference_fields(data)
            assert _key_fields(data) == (
                "ENCRYPTED PRIVATE KEY" if passphrase else "PRIVATE KEY",
                headers.get("role", ""),
                headers.get("gun", ""),
                passphrase is not None,
            )


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


def test_read_all_listed_answers_as_read_listed(tmp_path: Path, directory: _fs.Dir) -> None:
    (tmp_path / "k.key").write_bytes(b"x" * 3000)
    (tmp_path / "empty.key").write_bytes(b"")
    (tmp_path / "edge.key").write_bytes(b"y" * 4096)
    (tmp_path / "big.key").write_bytes(b"x" * 5000)
    (tmp_path / "target").write_bytes(b"secret")
    (tmp_path / "link.key").symlink_to(tmp_path / "target")
    (tmp_path / "dirlink.key").symlink_to(tmp_path)
    os.mkfifo(tmp_path / "fifo.key")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.key"))
    (tmp_path / "dir.key").mkdir()
    names = [
        "k.key",
        "empty.key",
        "edge.key",
        "gone.key",
        "big.key",
        "link.key",
        "dirlink.key",
        "fifo.key",
        "sock.key",
        "dir.key",
        "../target",
        "",
        ".",
        "..",
    ]

    def one(name: str) -> bytes | None:
        try:
            return directory.read_listed(name, 4096)
        except StoreError:
            return None

    with directory:
        expected = [b"x" * 3000, b"", b"y" * 4096] + [None] * (len(names) - 3)
        assert [one(n) for n in names] == expected
        assert directory.read_all_listed(names, 4096) == expected
        assert directory.read_all_listed([], 4096) == []
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


def test_listing_sorts_by_role_then_gun_then_key_id(tmp_path: Path) -> None:
    trust = tmp_path / "trust"
    (trust / "private").mkdir(parents=True)
    names = [("a", ""), ("ab", ""), ("a", "x"), ("a b", "x/y"), ("", "x"), ("a", "x!"), ("é", "")]
    for n, (role, gun) in enumerate(names * 2):
        key = ed25519_key(40 + n)
        headers = {"role": role, "gun": gun} if gun else {"role": role}
        (trust / "private" / f"{key.keyid}.key").write_bytes(
            crypto.encode_private_key(key, None, headers)
        )
    rows = KeyStore(TrustDir(trust)).rows()
    assert len(rows) == 2 * len(names)
    assert rows == sorted(rows, key=lambda r: (r[0], r[1], r[2]))
