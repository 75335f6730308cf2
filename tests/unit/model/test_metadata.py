"""The metadata model reads and writes documents exactly as notary 0.7 does."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from builders import delegation_key, sign_metadata

from offtrust import crypto
from offtrust.errors import InvalidMetadataError
from offtrust.model.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from offtrust.model.timefmt import format_go_time, parse_go_time
from offtrust.model.verify import count_valid_signatures

TUF = Path(__file__).resolve().parents[3] / "fixtures" / "example-trust" / "tuf"
FILES = sorted(TUF.rglob("*.json"))


def role_of(path: Path) -> str:
    """``tuf/<gun>/metadata/targets/releases.json`` → ``targets/releases``."""
    return path.relative_to(TUF).as_posix().split("/metadata/", 1)[1].removesuffix(".json")


def test_fixture_has_every_cached_role() -> None:
    # Guards the parametrization below: an empty list would pass vacuously.
    assert len(FILES) == 11
    assert {role_of(p) for p in FILES} == {
        "root",
        "targets",
        "snapshot",
        "timestamp",
        "targets/releases",
        "targets/alice",
    }


# -- byte-exact round trip ------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(TUF).as_posix() for p in FILES])
def test_fixture_round_trips_byte_exactly(path: Path) -> None:
    data = path.read_bytes()
    md = Metadata.from_bytes(data, role_of(path))
    # serialize() ignores the kept bytes: it rebuilds the file from the model.
    assert md.serialize() == data
    assert md.to_bytes() == data


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(TUF).as_posix() for p in FILES])
def test_fixture_signed_bytes_are_what_was_signed(path: Path) -> None:
    # The canonical bytes must equal the canonical form of the file's `signed`
    # object as parsed by plain json (keys sorted, no spaces, raw characters).
    data = path.read_bytes()
    md = Metadata.from_bytes(data, role_of(path))
    expected = json.dumps(
        json.loads(data)["signed"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert md.signed_bytes() == expected


def test_changed_document_is_serialized_anew() -> None:
    path = TUF / "example.com" / "app" / "metadata" / "targets.json"
    md = Metadata.from_bytes(path.read_bytes(), "targets")
    md.signed.version += 1
    assert md.to_bytes() == path.read_bytes()  # raw bytes kept until marked changed
    md.changed()
    assert b'"version":%d' % md.signed.version in md.to_bytes()


# -- unknown fields ---------------------------------------------------------------------


def _load(gun: str, role: str) -> dict[str, Any]:
    path = TUF / gun / "metadata" / f"{role}.json"
    return json.loads(path.read_bytes())


def _with_extras(doc: dict[str, Any]) -> dict[str, Any]:
    """Add an unknown field at every level the model has a class for."""
    doc = copy.deepcopy(doc)
    doc["x-envelope"] = {"kept": True}
    signed = doc["signed"]
    signed["x-signed"] = [1, "two"]
    for sig in doc["signatures"]:
        sig["x-sig"] = "s"
    for key in signed.get("keys", {}).values():
        key["x-key"] = 1
    for entry in signed.get("roles", {}).values():
        entry["x-role"] = None
    for meta in signed.get("meta", {}).values():
        meta["x-meta"] = {}
    if "delegations" in signed:
        signed["delegations"]["x-delegations"] = 3
        for role in signed["delegations"]["roles"]:
            role["x-delegated"] = "d"
        for key in signed["delegations"]["keys"].values():
            key["x-key"] = 2
    for target in (signed.get("targets") or {}).values():
        target["x-target"] = False
    return doc


@pytest.mark.parametrize(
    ("gun", "role", "cls"),
    [
        ("example.com/app", "root", Root),
        ("example.com/app", "targets", Targets),
        ("example.com/app", "targets/releases", Targets),
        ("example.com/tools", "snapshot", Snapshot),
        ("example.com/tools", "timestamp", Timestamp),
    ],
    ids=["root", "targets", "delegation", "snapshot", "timestamp"],
)
def test_unknown_fields_survive_from_dict_to_dict(gun: str, role: str, cls: type) -> None:
    doc = _with_extras(_load(gun, role))
    md = Metadata.from_dict(doc, role)
    assert isinstance(md.signed, cls)
    assert md.signed.to_dict() == doc["signed"]
    assert [s.to_dict() for s in md.iter_signatures()] == doc["signatures"]
    assert md.unrecognized == {"x-envelope": {"kept": True}}
    # And the envelope keeps it when written out.
    assert json.loads(md.serialize()) == doc


def test_unknown_fields_are_really_unknown() -> None:
    # A guard for the test above: the extras must not be fields the model knows.
    doc = _with_extras(_load("example.com/app", "targets"))
    md = Metadata.from_dict(doc, "targets")
    assert md.signed.unrecognized == {"x-signed": [1, "two"]}
    assert md.signed.delegations.unrecognized == {"x-delegations": 3}
    assert md.signed.delegations.roles[0].unrecognized == {"x-delegated": "d"}


# -- pitfall 13: delegations as Go writes them -----------------------------------------


def test_delegated_role_without_keys_serializes_null_keyids_and_no_paths() -> None:
    entry = DelegatedRole(name="targets/releases", keyids=None, threshold=1, paths=None)
    assert entry.to_dict() == {"keyids": None, "name": "targets/releases", "threshold": 1}

    signed = Targets(version=2, expires="2030-01-01T00:00:00Z", unrecognized={})
    signed.delegations = Delegations(roles=[entry])
    raw = Metadata(signed=signed, signatures=[]).signed_bytes()
    assert b'{"keyids":null,"name":"targets/releases","threshold":1}' in raw
    assert b'"paths"' not in raw


def test_fixture_role_emptied_of_keys_serializes_null() -> None:
    md = Metadata.from_dict(_load("example.com/app", "targets"), "targets")
    entry = md.signed.delegations.get("targets/alice")
    assert entry is not None
    assert entry.key_ids  # the fixture's role has a key to remove
    entry.keyids = None  # what notary leaves once every key is removed
    entry.paths = []
    md.changed()
    data = md.to_bytes()
    assert b'{"keyids":null,"name":"targets/alice","threshold":1}' in data


def test_null_keyids_read_back_as_null() -> None:
    entry = DelegatedRole.from_dict(
        {"keyids": None, "name": "targets/a", "threshold": 1}, "roles[0]"
    )
    assert entry.keyids is None
    assert entry.key_ids == []
    assert entry.paths is None
    assert entry.to_dict() == {"keyids": None, "name": "targets/a", "threshold": 1}


def test_delegated_role_with_paths_keeps_them() -> None:
    entry = DelegatedRole(name="targets/a", keyids=["ab"], threshold=1, paths=["", "v1"])
    assert entry.to_dict()["paths"] == ["", "v1"]


# -- HTML escaping in the envelope, raw in the signature --------------------------------


def test_html_characters_escaped_in_file_but_signed_raw() -> None:
    name = "tag<b>&c"
    signed = Targets(version=1, expires="2030-01-01T00:00:00Z", unrecognized={})
    signed.targets = {name: TargetFile(length=3, hashes={"sha256": "AAAA"})}
    md = sign_metadata(signed, [(delegation_key(1).keyid, delegation_key(1))])

    raw_signed = md.signed_bytes()
    assert b'"tag<b>&c"' in raw_signed
    assert b"\\u003c" not in raw_signed

    file_bytes = md.serialize()
    for char in (b"<", b">", b"&"):
        assert char not in file_bytes
    assert b'"tag\\u003cb\\u003e\\u0026c"' in file_bytes

    # Reading the file back yields the raw name, and the signature still verifies.
    back = Metadata.from_bytes(file_bytes, "targets/a")
    assert list(back.signed.targets) == [name]
    assert back.signed_bytes() == raw_signed
    keys = {delegation_key(1).keyid: delegation_key(1).public_key()}
    assert count_valid_signatures(back, keys, crypto) == {delegation_key(1).keyid}


# -- expiry format ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2029, 11, 25, 20, 12, 13, 334100, timezone.utc), "2029-11-25T20:12:13.3341Z"),
        (datetime(2029, 11, 25, 20, 12, 13, 123456, timezone.utc), "2029-11-25T20:12:13.123456Z"),
        (datetime(2029, 11, 25, 20, 12, 13, 500000, timezone.utc), "2029-11-25T20:12:13.5Z"),
        (datetime(2029, 11, 25, 20, 12, 13, tzinfo=timezone.utc), "2029-11-25T20:12:13Z"),
        (
            datetime(2029, 11, 25, 22, 12, 13, 10, timezone(timedelta(hours=2))),
            "2029-11-25T20:12:13.00001Z",
        ),
    ],
    ids=["trimmed", "micro", "one-digit", "whole-second", "offset-to-utc"],
)
def test_set_expires_writes_go_format(when: datetime, expected: str) -> None:
    signed = Targets(version=1, expires="2000-01-01T00:00:00Z", unrecognized={})
    signed.set_expires(when)
    assert signed.expires == expected
    assert signed.expires_at == when
    assert Metadata(signed=signed, signatures=[]).signed_bytes().count(expected.encode()) == 1


def test_set_expires_refuses_naive_time() -> None:
    signed = Targets(version=1, expires="2000-01-01T00:00:00Z", unrecognized={})
    with pytest.raises(ValueError, match="naive"):
        signed.set_expires(datetime(2030, 1, 1))


def test_is_expired_at_the_exact_instant() -> None:
    signed = Targets(version=1, expires="2030-01-01T00:00:00Z", unrecognized={})
    at = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert signed.is_expired(at)
    assert not signed.is_expired(at - timedelta(microseconds=1))


# -- timefmt ----------------------------------------------------------------------------

_BASE = datetime(2026, 12, 10, 20, 12, 13, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-10T20:12:13Z", _BASE),
        ("2026-12-10T20:12:13.3Z", _BASE.replace(microsecond=300000)),
        ("2026-12-10T20:12:13.34Z", _BASE.replace(microsecond=340000)),
        ("2026-12-10T20:12:13.344Z", _BASE.replace(microsecond=344000)),
        ("2026-12-10T20:12:13.3442Z", _BASE.replace(microsecond=344200)),
        ("2026-12-10T20:12:13.34421Z", _BASE.replace(microsecond=344210)),
        ("2026-12-10T20:12:13.344219Z", _BASE.replace(microsecond=344219)),
        ("2026-12-10T20:12:13.3442190Z", _BASE.replace(microsecond=344219)),
        ("2026-12-10T20:12:13.34421902Z", _BASE.replace(microsecond=344219)),
        ("2026-12-10T20:12:13.344219021Z", _BASE.replace(microsecond=344219)),
        ("2026-12-10T22:12:13+02:00", _BASE),
        ("2026-12-10T14:42:13.5-05:30", _BASE.replace(microsecond=500000)),
        ("2026-12-11T05:12:13+09:00", _BASE),
        ("2026-12-10t20:12:13z", _BASE),
    ],
    ids=[
        "0-digits",
        "1-digit",
        "2-digits",
        "3-digits",
        "4-digits",
        "5-digits",
        "6-digits",
        "7-digits",
        "8-digits",
        "9-digits",
        "plus-offset",
        "minus-half-hour-offset",
        "next-day-offset",
        "lower-case",
    ],
)
def test_parse_go_time(text: str, expected: datetime) -> None:
    parsed = parse_go_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-10T20:12:13.1234567890Z",
        "2026-12-10T20:12:13",
        "2026-12-10 20:12:13Z",
        "2026-13-10T20:12:13Z",
        "2026-02-30T20:12:13Z",
        "2026-12-10T20:12:13.Z",
        "2026-12-10T20:12:13+0200",
        "",
    ],
    ids=[
        "10-digits",
        "no-zone",
        "space",
        "month-13",
        "feb-30",
        "empty-fraction",
        "offset-no-colon",
        "empty",
    ],
)
def test_parse_go_time_refuses(text: str) -> None:
    with pytest.raises(InvalidMetadataError):
        parse_go_time(text)


def test_format_then_parse_round_trips() -> None:
    when = datetime(2031, 5, 6, 7, 8, 9, 120000, timezone.utc)
    assert format_go_time(when) == "2031-05-06T07:08:09.12Z"
    assert parse_go_time(format_go_time(when)) == when


def test_delegations_roles_null_round_trips_as_null() -> None:
    # What notary writes once its last delegation was removed.
    signed = {
        "_type": "Targets",
        "delegations": {"keys": {}, "roles": None},
        "expires": "2030-01-01T00:00:00Z",
        "targets": {},
        "version": 3,
    }
    md = Metadata.from_dict({"signed": signed, "signatures": []}, "targets")
    assert md.signed.delegations.roles == []
    assert b'"delegations":{"keys":{},"roles":null}' in md.signed_bytes()
    md.signed.delegations.roles.append(DelegatedRole("targets/a", ["0" * 64], 1, [""]))
    assert b'"roles":[{' in md.signed_bytes()
