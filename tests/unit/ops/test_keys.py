"""key generate and key load, as docker trust key generate/load behave."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from builders import REPOSITORY_PASSPHRASE
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from offtrust import crypto
from offtrust.errors import (
    InvalidKeyError,
    UnreadableInputError,
    UsageError,
    WrongPassphraseError,
)
from offtrust.ops.context import Context
from offtrust.ops.keys import generate_key, list_keys, load_key
from offtrust.passphrase import Passphrases
from offtrust.store.keystore import read_pem_headers


def write_key(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def pem(key: object, fmt: serialization.PrivateFormat, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)  # type: ignore[attr-defined]


@pytest.fixture
def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def stored(ctx: Context, keyid: str) -> tuple[str, dict[str, str], int]:
    path = ctx.trust.private / f"{keyid}.key"
    pem_type, headers = read_pem_headers(path.read_bytes())
    return pem_type, headers, path.stat().st_mode & 0o777


@pytest.mark.parametrize(
    "fmt",
    [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL],
    ids=["pkcs8", "sec1"],
)
def test_load_unencrypted_ec_is_stored_encrypted_under_the_name(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey, fmt
) -> None:
    path = write_key(tmp_path / "k.pem", pem(p256, fmt))
    result = load_key(ctx, path, "dana", passphrases)
    pem_type, headers, mode = stored(ctx, result["keyid"])
    assert (pem_type, headers, mode) == ("ENCRYPTED PRIVATE KEY", {"role": "dana"}, 0o600)
    again = ctx.keys.load(result["keyid"], passphrases)
    assert again.keyid == result["keyid"]
    assert result["algorithm"] == "ecdsa"


def test_load_encrypted_pkcs8_with_the_repository_passphrase(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey
) -> None:
    data = pem(p256, serialization.PrivateFormat.PKCS8, REPOSITORY_PASSPHRASE.encode())
    path = write_key(tmp_path / "enc.pem", data)
    result = load_key(ctx, path, "erin", passphrases)
    assert ctx.keys.load(result["keyid"], passphrases).keyid == result["keyid"]


def test_load_encrypted_with_another_passphrase_is_refused(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey
) -> None:
    data = pem(p256, serialization.PrivateFormat.PKCS8, b"something else entirely")
    path = write_key(tmp_path / "enc.pem", data)
    before = sorted(p.name for p in ctx.trust.private.iterdir())
    with pytest.raises(WrongPassphraseError):
        load_key(ctx, path, "erin", passphrases)
    assert sorted(p.name for p in ctx.trust.private.iterdir()) == before


def test_load_pkcs1_rsa(ctx: Context, passphrases: Passphrases, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = write_key(tmp_path / "rsa.pem", pem(key, serialization.PrivateFormat.TraditionalOpenSSL))
    assert path.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    result = load_key(ctx, path, "rsa-signer", passphrases)
    assert result["algorithm"] == "rsa"
    method, signature = ctx.keys.load(result["keyid"], passphrases).sign(b"msg")
    assert method == "rsapss"
    assert len(signature) == 256


def test_load_refuses_short_rsa(ctx: Context, passphrases: Passphrases, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path = write_key(tmp_path / "rsa.pem", pem(key, serialization.PrivateFormat.PKCS8))
    with pytest.raises(InvalidKeyError, match="2048"):
        load_key(ctx, path, "weak", passphrases)


def test_load_refuses_a_file_others_can_read(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey
) -> None:
    path = write_key(tmp_path / "k.pem", pem(p256, serialization.PrivateFormat.PKCS8), 0o644)
    with pytest.raises(UnreadableInputError, match="readable or writable by others"):
        load_key(ctx, path, "dana", passphrases)


def with_role_header(key: ec.EllipticCurvePrivateKey, role: str) -> bytes:
    block = crypto.parse_pem(pem(key, serialization.PrivateFormat.PKCS8))[0]
    return crypto.encode_pem(crypto.PemBlock(block.type, {"role": role}, block.der))


def test_without_a_name_the_role_header_names_the_key(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey
) -> None:
    path = write_key(tmp_path / "k.pem", with_role_header(p256, "from-header"))
    result = load_key(ctx, path, None, passphrases)
    assert stored(ctx, result["keyid"])[1] == {"role": "from-header"}
    # The same name given explicitly agrees with the header.
    other = ec.generate_private_key(ec.SECP256R1())
    path = write_key(tmp_path / "k2.pem", with_role_header(other, "erin"))
    assert load_key(ctx, path, "erin", passphrases)["role"] == "erin"


def test_a_root_key_is_not_loaded_as_a_signer(
    ctx: Context, passphrases: Passphrases, tmp_path: Path, p256: ec.EllipticCurvePrivateKey
) -> None:
    """Issue 7 finding 11: `key load --name dave` of a `role: root` file stored a root key."""
    path = write_key(tmp_path / "root.pem", with_role_header(p256, "root"))
    before = sorted(p.name for p in ctx.trust.private.iterdir())
    for name in ("dave", None):
        with pytest.raises(InvalidKeyError, match="'root'") as caught:
            load_key(ctx, path, name, passphrases)
        assert caught.value.exit_code == 2
        assert caught.value.hint is not None
        assert f"offtrust key import {path} --role root" in caught.value.hint
    with pytest.raises(UsageError, match="not root keys") as named_root:
        load_key(ctx, path, "root", passphrases)
    assert named_root.value.hint is not None
    assert "key import" in named_root.value.hint
    assert sorted(p.name for p in ctx.trust.private.iterdir()) == before


@pytest.mark.parametrize("header", ["targets", "snapshot", "timestamp", "alice", "targets/qa"])
def test_a_name_and_a_header_that_disagree_are_refused(
    ctx: Context,
    passphrases: Passphrases,
    tmp_path: Path,
    p256: ec.EllipticCurvePrivateKey,
    header: str,
) -> None:
    path = write_key(tmp_path / "k.pem", with_role_header(p256, header))
    with pytest.raises(InvalidKeyError, match=f"role '{header}'") as caught:
        load_key(ctx, path, "dave", passphrases)
    hint = caught.value.hint or ""
    if header == "alice":
        assert f"--name {header}" in hint
    else:
        assert f"offtrust key import {path} --role {header}" in hint
    assert not list(ctx.trust.private.glob(f"{p256_keyid(p256)}*"))


def p256_keyid(key: ec.EllipticCurvePrivateKey) -> str:
    return crypto.load_private_key_pem(pem(key, serialization.PrivateFormat.PKCS8), None).keyid


def test_load_refuses_a_fifo_or_a_device(
    ctx: Context, passphrases: Passphrases, tmp_path: Path
) -> None:
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(UnreadableInputError, match="FIFO"):
        load_key(ctx, fifo, "dana", passphrases)


def test_generate_writes_key_and_pub(
    ctx: Context, passphrases: Passphrases, tmp_path: Path
) -> None:
    result = generate_key(ctx, "frank", tmp_path, passphrases)
    pub = tmp_path / "frank.pub"
    assert pub.stat().st_mode & 0o777 == 0o600
    public = crypto.load_public_key_pem(pub.read_bytes())
    assert public.keyid == result["keyid"]
    assert read_pem_headers(pub.read_bytes()) == ("PUBLIC KEY", {"role": "frank"})
    assert stored(ctx, result["keyid"])[:2] == ("ENCRYPTED PRIVATE KEY", {"role": "frank"})
    rows = {r["keyid"]: r for r in list_keys(ctx)}
    assert rows[result["keyid"]]["role"] == "frank"


def test_generate_refuses_existing_pub_and_bad_names(
    ctx: Context, passphrases: Passphrases, tmp_path: Path
) -> None:
    (tmp_path / "gail.pub").write_text("taken")
    with pytest.raises(UsageError, match="already exists"):
        generate_key(ctx, "gail", tmp_path, passphrases)
    for name in ("Gail", "-x", "a/b", ""):
        with pytest.raises(UsageError):
            generate_key(ctx, name, tmp_path, passphrases)
    with pytest.raises(UsageError, match="algorithm"):
        generate_key(ctx, "hal", tmp_path, passphrases, algorithm="dsa")
    assert not list(tmp_path.glob("hal*"))


# -- key list --json -----------------------------------------------------------------------


def _print_json_text(rows: list[dict[str, object]], capsys: pytest.CaptureFixture[str]) -> str:
    from offtrust.cli._common import print_json

    print_json({"keys": [{**r, "gun": r["gun"] or None} for r in rows]})
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "row",
    [
        ("", "", "0" * 64, "private/" + "0" * 64 + ".key", True, "PRIVATE KEY", False, None),
        ("targets", "a<b>&c/é", "a" * 64, "private/x.key", False, "EC PRIVATE KEY", True, "ecdsa"),
        ('r\\u00e9"q', "g", "b" * 63 + "\n", 'p/"x".key', True, "RSA PRIVATE KEY", False, ""),
        ("\u2028", "\x7f", "c" * 64, "private/\\.key", False, "ENCRYPTED PRIVATE KEY", False, "x"),
    ],
)
def test_key_list_json_writes_what_print_json_writes(
    row: tuple[object, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    from offtrust._entry import key_rows_json
    from offtrust.ops.keys import ROW_FIELDS

    rows = [
        row,
        ("root", "", "d" * 64, "private/d.key", True, "ENCRYPTED PRIVATE KEY", False, None),
    ]
    dicts = [dict(zip((*ROW_FIELDS, "algorithm"), r, strict=True)) for r in rows]
    assert key_rows_json(rows) == _print_json_text(dicts, capsys)
    assert key_rows_json([]) == _print_json_text([], capsys)


def test_key_rows_are_list_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from builders import copy_example

    from offtrust._entry import key_rows_json
    from offtrust.ops.keys import ROW_FIELDS, key_rows

    ctx = Context.at(copy_example(tmp_path / "trust"))
    for gun in (None, "example.com/nope"):
        for algorithm in (False, True):
            rows = key_rows(ctx, gun, with_algorithm=algorithm)
            fields = (*ROW_FIELDS, "algorithm") if algorithm else ROW_FIELDS
            dicts = list_keys(ctx, gun, with_algorithm=algorithm)
            assert rows
            assert [dict(zip(fields, r, strict=True)) for r in rows] == dicts
            assert [list(d) for d in dicts] == [
                ["keyid", "role", "gun", "location", "encrypted", "pem_type", "legacy_layout"]
                + (["algorithm"] if algorithm else [])
            ] * len(dicts)
            if algorithm:
                assert key_rows_json(rows) == _print_json_text(dicts, capsys)


def test_key_list_table_is_print_table(capsys: pytest.CaptureFixture[str]) -> None:
    from offtrust._entry import NO_KEYS, key_rows_table
    from offtrust.cli._common import print_table

    rows = [
        ("root", "", "a" * 64, "private/a.key", True, "ENCRYPTED PRIVATE KEY", False),
        ("targets", "example.com/a-long/gun ", "b" * 64, "p/b.key", True, "PRIVATE KEY", True),
        ("", "g", "c", "x", False, "EC PRIVATE KEY", False),
    ]
    print_table([["ROLE", "GUN", "KEY ID", "LOCATION"]] + [list(r[:4]) for r in rows])
    assert key_rows_table(rows) == capsys.readouterr().out
    assert key_rows_table([]) == NO_KEYS == "No signing keys found.\n"
