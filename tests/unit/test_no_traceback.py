"""Foreign exceptions are wrapped where they enter (issue 7 finding 8).

Each input below raised a Python exception (ValueError from the 4,300-digit
int limit, OverflowError from datetime, UnicodeEncodeError from a lone
surrogate or a non-UTF-8 passphrase, RecursionError) that reached the user as
a traceback. Each entry point now raises one :mod:`offtrust.errors` class
with a one-line message. The command-level tests are in
tests/unit/cli/test_bad_input.py; tests/fuzz/ looks for more.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import urllib3

from offtrust import crypto
from offtrust.bundle import MANIFEST_NAME, read_bundle
from offtrust.errors import (
    BadResponseError,
    BundleError,
    InvalidMetadataError,
    NetworkError,
    OfftrustError,
    PassphraseRequiredError,
    ServerRejectedError,
    UsageError,
    WrongPassphraseError,
)
from offtrust.model.canonical import encode_canonical, encode_for_verification
from offtrust.model.names import check_path, check_tag
from offtrust.model.timefmt import parse_go_time
from offtrust.online.client import NotaryClient
from offtrust.online.transport import Reply, clip
from offtrust.ops.edit import expiry_after, parse_duration
from offtrust.passphrase import Passphrases
from offtrust.store.repo import parse_metadata

HUGE = "9" * 5000
DEEP = "[" * 100_000 + "]" * 100_000
SECRET = "s3cret-never-shown-xyzzy"  # TEST-ONLY


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def one_line(error: OfftrustError) -> str:
    message = str(error)
    assert "\n" not in message
    assert len(message) < 1000
    return message


# -- times -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9999-12-31T23:59:59-01:00", datetime.max.replace(tzinfo=timezone.utc)),
        ("9999-12-31T23:59:59.5+00:00", datetime(9999, 12, 31, 23, 59, 59, 500000, timezone.utc)),
        ("0001-01-01T00:00:00+01:00", datetime.min.replace(tzinfo=timezone.utc)),
    ],
)
def test_a_time_beyond_pythons_range_is_clamped(text: str, expected: datetime) -> None:
    """Go represents these; clamped, they still compare right against any other time."""
    assert parse_go_time(text) == expected


@pytest.mark.parametrize(
    "text", ["٢٠٢٦-01-01T00:00:00Z", "2026-01-01T00:00:00Z\n", "0000-01-01T00:00:00Z"]
)
def test_what_go_refuses_is_refused(text: str) -> None:
    with pytest.raises(InvalidMetadataError):
        parse_go_time(text)


def test_a_lifetime_past_the_year_9999() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(UsageError, match="year 9999"):
        expiry_after(now, parse_duration("9000y"))
    for text in ("999999999y", HUGE + "d", "²y", "-1d", "0d", "1.5d", ""):
        with pytest.raises(UsageError, match="--expires") as caught:
            parse_duration(text)
        one_line(caught.value)
    assert expiry_after(now, parse_duration("90d")) == now + timedelta(days=90)


# -- canonical JSON and metadata -----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [{"a": "\ud800"}, {"\udcff": 1}, nested(5000)],
    ids=["surrogate", "surrogate-key", "deep"],
)
def test_canonical_encoding_refuses_what_it_cannot_encode(value: Any) -> None:
    for encode in (encode_canonical, encode_for_verification):
        with pytest.raises(InvalidMetadataError) as caught:
            encode(value)
        one_line(caught.value)


def test_an_integer_a_float64_cannot_hold() -> None:
    with pytest.raises(InvalidMetadataError, match="too large"):
        encode_for_verification({"a": 10**400})
    assert encode_for_verification({"a": 2**60}) == b'{"a":1152921504606846976}'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"signed":{"version":' + HUGE.encode() + b"}}", "too many digits"),
        (b'{"signed":{"_type":"Root","x":"\\ud800"}}', "surrogate"),
        (b'{"signed":{"_type":"Root","\\udfff":1}}', "surrogate"),
        (DEEP.encode(), "nested too deeply"),
    ],
    ids=["huge-int", "surrogate", "surrogate-key", "deep"],
)
def test_the_metadata_loader(data: bytes, message: str) -> None:
    with pytest.raises(InvalidMetadataError, match=message) as caught:
        parse_metadata(data, "root", "tuf/x/metadata/root.json")
    assert one_line(caught.value).startswith("tuf/x/metadata/root.json: malformed JSON: ")


def test_a_valid_surrogate_pair_is_text() -> None:
    data = b'{"signed":{"_type":"Targets","x":"\\ud83d\\ude00"}}'
    with pytest.raises(InvalidMetadataError) as caught:  # the schema refuses it, not the parser
        parse_metadata(data, "targets", "t")
    assert "surrogate" not in str(caught.value)


# -- bundles ----------------------------------------------------------------------------------


def pack(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


@pytest.mark.parametrize(
    "manifest",
    [
        b'{"format":"offtrust-bundle","format_version":' + HUGE.encode() + b"}",
        b'{"format":"\\ud800"}',
        DEEP.encode(),
    ],
    ids=["huge-int", "surrogate", "deep"],
)
def test_the_bundle_manifest(manifest: bytes) -> None:
    with pytest.raises(BundleError) as caught:
        read_bundle(pack({MANIFEST_NAME: manifest}), source="b.bundle")
    assert one_line(caught.value).startswith("b.bundle: member 'manifest.json': ")


def test_a_bundle_member_with_a_huge_version() -> None:
    doc = b'{"signed":{"version":' + HUGE.encode() + b'},"signatures":[]}'
    files = {"root": doc, "targets": b'{"signed":{"version":1},"signatures":[]}'}
    metas = {
        role: {
            "sha256": hashlib.sha256(data).hexdigest(),
            "length": len(data),
            "version": 1,
            "upload": True,
        }
        for role, data in files.items()
    }
    gun = {"base": {}, "new_gun": True, "trusted_root": None, "files": metas}
    manifest = {"format": "offtrust-bundle", "format_version": 2, "guns": {"example.com/new": gun}}
    members = {f"example.com/new/{role}.json": data for role, data in sorted(files.items())}
    data = pack({MANIFEST_NAME: json.dumps(manifest).encode(), **members})
    with pytest.raises(BundleError, match="a number is too long") as caught:
        read_bundle(data)
    one_line(caught.value)


# -- server answers ----------------------------------------------------------------------------


class FakeTransport:
    """Answers every request with the same reply."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    def request(self, method: str, url: str, **kwargs: Any) -> Reply:
        return self.reply

    def close(self) -> None:
        pass


def client_answering(status: int, body: bytes, **headers: str) -> NotaryClient:
    client = NotaryClient("https://notary.invalid")
    fake = FakeTransport(Reply(status, "X", urllib3.HTTPHeaderDict(headers), body))
    client._transport = fake  # type: ignore[assignment]
    client._session._transport = fake  # type: ignore[assignment]
    return client


ANSWERS = {
    "huge-int": b'{"errors":[{"code":"X","message":"m","detail":' + HUGE.encode() + b"}]}",
    "deep": DEEP.encode(),
    "surrogate": b'{"errors":[{"code":"X","message":"\\ud800\\u001b[31m"}]}',
    # Found by tests/fuzz/test_fuzz_online.py: the code was not escaped.
    "surrogate-code": b'{"errors":[{"code":"\\ud800\\u001b[2J","message":"m"}]}',
}


@pytest.mark.parametrize("body", ANSWERS.values(), ids=ANSWERS.keys())
def test_server_error_bodies(body: bytes) -> None:
    with pytest.raises((ServerRejectedError, NetworkError)) as caught:
        client_answering(400, body).get_metadata("example.com/app", "root")
    message = one_line(caught.value)
    assert message.isprintable()


@pytest.mark.parametrize("body", ANSWERS.values(), ids=ANSWERS.keys())
def test_server_key_answers(body: bytes) -> None:
    with pytest.raises(BadResponseError) as caught:
        client_answering(200, body).get_server_key("example.com/app", "timestamp")
    one_line(caught.value)


def test_a_server_key_answer_keeps_only_the_key() -> None:
    key = {"keytype": "ed25519", "keyval": {"private": None, "public": "AAAA"}}
    body = json.dumps({**key, "extra": nested(100)}).encode()
    assert client_answering(200, body).get_server_key("example.com/app", "snapshot") == key


@pytest.mark.parametrize("body", ANSWERS.values(), ids=ANSWERS.keys())
def test_token_answers(body: bytes) -> None:
    client = client_answering(
        401, b"", **{"WWW-Authenticate": 'Bearer realm="https://auth.invalid/token"'}
    )
    client._transport.reply = Reply(200, "OK", urllib3.HTTPHeaderDict(), body)  # type: ignore[attr-defined]
    client._session._bearer = None
    with pytest.raises(OfftrustError) as caught:
        client._session._fetch_token(  # the answer to the challenge above
            client._session._pick_challenge(
                Reply(
                    401,
                    "",
                    urllib3.HTTPHeaderDict(
                        {"WWW-Authenticate": 'Bearer realm="https://auth.invalid/token"'}
                    ),
                    b"",
                )
            ),  # type: ignore[arg-type]
            "repository:example.com/app:pull",
        )
    one_line(caught.value)


def test_server_text_is_printable() -> None:
    assert clip("a\x1b[31mb\ud800") == "a\\x1b[31mb\\ud800"


# -- passphrases -------------------------------------------------------------------------------


def test_a_non_utf8_passphrase_decrypts_by_its_bytes() -> None:
    """As Go does: b"\\xff..." from the environment is "\\udcff..." in Python."""
    key = crypto.generate_private_key("ed25519")
    data = crypto.encode_private_key(key, "\udcff" + SECRET, {"role": "alice"})
    block = crypto.parse_pem(data)[0]
    assert crypto.decrypt_private_key(block, "\udcff" + SECRET).keyid == key.keyid


@pytest.mark.parametrize("passphrase", ["\ud800" + SECRET, SECRET + "\udfff\ud800"])
def test_a_passphrase_that_is_no_bytes_is_refused_without_echo(passphrase: str) -> None:
    key = crypto.generate_private_key("ed25519")
    block = crypto.parse_pem(crypto.encode_private_key(key, "other-passphrase", {}))[0]
    with pytest.raises(WrongPassphraseError) as caught:
        crypto.decrypt_private_key(block, passphrase)
    assert SECRET not in str(caught.value)
    assert caught.value.__suppress_context__ or caught.value.__context__ is None
    with pytest.raises(WrongPassphraseError):
        crypto.encode_private_key(key, passphrase, {})


@pytest.mark.parametrize(
    "failure",
    [EOFError(), UnicodeDecodeError("utf-8", b"s3\xffcret", 2, 3, "invalid start byte")],
    ids=["eof", "not-utf8"],
)
def test_a_prompt_that_fails(failure: BaseException) -> None:
    def prompt(text: str) -> str:
        raise failure

    source = Passphrases(environ={}, prompt=prompt, interactive=True)
    with pytest.raises(PassphraseRequiredError) as caught:
        source("targets", "ab" * 32, 0)
    assert "position" not in str(caught.value)
    assert "\\xff" not in str(caught.value)


# -- names from the command line ---------------------------------------------------------------


@pytest.mark.parametrize("check", [check_tag, check_path])
def test_arguments_that_are_not_utf8(check: Callable[[str], str]) -> None:
    with pytest.raises(UsageError, match="UTF-8"):
        check("v\udcff")
    assert check("v1.0-é") == "v1.0-é"
