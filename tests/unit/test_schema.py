"""The JSON schemas in schemas/ and the loader in offtrust.schema.

Documents are built as notary 0.7 writes them (docs/notary-formats.md 6.1-6.4):
real key IDs (hex SHA-256 of the key's canonical JSON), padded base64, Go's
``expires`` format.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import importlib.resources
import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from offtrust import schema
from offtrust.errors import InvalidMetadataError, SchemaError

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
KINDS = ("root", "targets", "snapshot", "timestamp")
SRC = "tuf/example.com/app/metadata/x.json"

# P-256 SubjectPublicKeyInfo header, followed by an uncompressed point (04 || X || Y).
_P256_SPKI = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def digest(seed: str, algorithm: str = "sha256") -> str:
    return b64(hashlib.new(algorithm, seed.encode()).digest())


def make_key(keytype: str, seed: str) -> dict[str, Any]:
    if keytype == "ed25519":
        public = hashlib.sha256(seed.encode()).digest()
    elif keytype.endswith("-x509"):
        body = base64.encodebytes(hashlib.sha512(seed.encode()).digest() * 4).decode()
        public = f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode()
    else:
        public = _P256_SPKI + b"\x04" + hashlib.sha512(seed.encode()).digest()
    return {"keytype": keytype, "keyval": {"private": None, "public": b64(public)}}


def keyid(key: dict[str, Any]) -> str:
    canonical = json.dumps(key, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def signature(key_id: str, method: str = "ecdsa") -> dict[str, str]:
    size = 256 if method == "rsapss" else 64
    return {
        "keyid": key_id,
        "method": method,
        "sig": b64(hashlib.sha512(key_id.encode()).digest()[:size]),
    }


def file_meta(seed: str, length: int) -> dict[str, Any]:
    return {"hashes": {"sha256": digest(seed), "sha512": digest(seed, "sha512")}, "length": length}


def fresh(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Return deep copies, so that a test mutating a document never changes the shared keys."""

    @functools.wraps(build)
    def wrapper() -> dict[str, Any]:
        return copy.deepcopy(build())

    return wrapper


ROOT_KEY = make_key("ecdsa-x509", "root")
TARGETS_KEY = make_key("ecdsa", "targets")
SNAPSHOT_KEY = make_key("ecdsa", "snapshot")
TIMESTAMP_KEY = make_key("ed25519", "timestamp")
ALICE_KEY = make_key("ecdsa", "alice")
BOB_KEY = make_key("rsa-x509", "bob")


@fresh
def root_doc() -> dict[str, Any]:
    keys = {keyid(k): k for k in (ROOT_KEY, TARGETS_KEY, SNAPSHOT_KEY, TIMESTAMP_KEY)}
    roles = {
        name: {"keyids": [keyid(k)], "threshold": 1}
        for name, k in (
            ("root", ROOT_KEY),
            ("snapshot", SNAPSHOT_KEY),
            ("targets", TARGETS_KEY),
            ("timestamp", TIMESTAMP_KEY),
        )
    }
    return {
        "signed": {
            "_type": "Root",
            "consistent_snapshot": False,
            "expires": "2036-11-23T16:11:17.068278844Z",
            "keys": keys,
            "roles": roles,
            "version": 1,
        },
        "signatures": [signature(keyid(ROOT_KEY))],
    }


@fresh
def targets_doc() -> dict[str, Any]:
    alice, bob = keyid(ALICE_KEY), keyid(BOB_KEY)
    return {
        "signed": {
            "_type": "Targets",
            "delegations": {
                "keys": {alice: ALICE_KEY, bob: BOB_KEY},
                "roles": [
                    {"keyids": [alice], "name": "targets/alice", "paths": [""], "threshold": 1},
                    {
                        "keyids": [alice, bob],
                        "name": "targets/releases",
                        "paths": ["v1", "v2/"],
                        "threshold": 2,
                    },
                ],
            },
            "expires": "2029-11-25T16:15:54.169507945Z",
            "targets": {
                "v1": {**file_meta("v1", 1234), "custom": {"a": "x", "n": 2}},
                # docker trust sign: the manifest digest only, no custom.
                "latest": {"hashes": {"sha256": digest("latest")}, "length": 528},
                "a<b>&c": file_meta("a<b>&c", 7),
                "é😀": file_meta("unicode", 0),
            },
            "version": 2,
        },
        "signatures": [signature(keyid(TARGETS_KEY))],
    }


@fresh
def delegation_doc() -> dict[str, Any]:
    return {
        "signed": {
            "_type": "Targets",
            "delegations": {"keys": {}, "roles": []},
            "expires": "2029-11-25T16:15:54.5Z",
            "targets": {"v1.0": file_meta("v1.0", 99)},
            "version": 1,
        },
        "signatures": [signature(keyid(ALICE_KEY)), signature(keyid(BOB_KEY), "rsapss")],
    }


@fresh
def snapshot_doc() -> dict[str, Any]:
    return {
        "signed": {
            "_type": "Snapshot",
            "expires": "2029-11-25T16:12:44.732310276Z",
            "meta": {
                "root": file_meta("root.json", 2286),
                "targets": file_meta("targets.json", 341),
                "targets/team": file_meta("targets/team.json", 975),
            },
            "version": 2,
        },
        "signatures": [signature(keyid(SNAPSHOT_KEY))],
    }


@fresh
def timestamp_doc() -> dict[str, Any]:
    return {
        "signed": {
            "_type": "Timestamp",
            "expires": "2026-12-10T16:12:44.737912912Z",
            "meta": {"snapshot": file_meta("snapshot.json", 683)},
            "version": 1,
        },
        "signatures": [signature(keyid(TIMESTAMP_KEY), "eddsa")],
    }


BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "root": root_doc,
    "targets": targets_doc,
    "delegation": delegation_doc,
    "snapshot": snapshot_doc,
    "timestamp": timestamp_doc,
}


def kind_of(name: str) -> str:
    return "targets" if name == "delegation" else name


def notary_bytes(document: object) -> bytes:
    """The envelope as notary writes it: compact, sorted, HTML-escaped, no newline."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return text.encode()


def schema_error(kind: str, document: object) -> str:
    with pytest.raises(SchemaError) as info:
        schema.validate(kind, document, source=SRC)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- the schema files themselves -------------------------------------------------


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.json")), ids=lambda p: p.name)
def test_schema_file_is_a_valid_draft_2020_12_schema(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"https://offtrust.invalid/schemas/{path.name}"


def test_the_loader_finds_every_schema_file() -> None:
    assert {*KINDS, "common"} <= {p.stem for p in SCHEMAS.glob("*.json")}
    assert set(schema._schemas()) == {p.stem for p in SCHEMAS.glob("*.json")}
    assert (SCHEMAS / "__init__.py").exists()


def test_the_loader_falls_back_to_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(package: str) -> None:
        raise ModuleNotFoundError(package)

    monkeypatch.setattr(importlib.resources, "files", not_installed)
    names = {entry.name for entry in schema._schema_files()}
    assert names == {p.name for p in SCHEMAS.glob("*.json")}


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


@pytest.mark.parametrize("kind", [*KINDS, "common"])
def test_every_ref_resolves_from_the_local_registry(kind: str) -> None:
    document = schema._schemas()[kind]
    resolver = schema._registry().resolver(base_uri=document["$id"])
    refs = _refs(document)
    assert refs or kind == "common"
    for ref in refs:
        assert resolver.lookup(ref).contents is not None


def test_validate_refuses_an_unknown_kind_and_common() -> None:
    for kind in ("common", "no-such-schema", "../root", "root.json"):
        with pytest.raises(ValueError, match="no metadata schema"):
            schema.validate(kind, {}, source=SRC)


def test_validation_works_on_a_fake_filesystem_after_preload() -> None:
    fake_filesystem_unittest = pytest.importorskip("pyfakefs.fake_filesystem_unittest")
    schema.preload()
    document = targets_doc()
    with fake_filesystem_unittest.Patcher():
        schema.validate("targets", document, source=SRC)
        document["signed"]["version"] = 0
        assert schema_error("targets", document).endswith("0 is less than the minimum of 1")


def test_jsonschema_is_imported_only_when_needed() -> None:
    code = "import sys, offtrust.schema; sys.exit('jsonschema' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0



def test_the_schemas_are_found_without_importlib_resources() -> None:
    # Every worker process reads them: importing importlib.resources cost each
    # several milliseconds. Without site hooks (which may import it themselves).
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys, pathlib; sys.path.insert(0, sys.argv[1]); import offtrust.schema as s; "
        "wanted = sorted(p.stem for p in (pathlib.Path(sys.argv[1]) / 'schemas').glob('*.json')); "
        "assert sorted(s._schemas()) == wanted, sorted(s._schemas()); "
        "sys.exit('importlib.resources' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-I", "-S", "-c", code, str(root)]).returncode == 0

# --- real notary output is accepted ----------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_notary_documents_are_accepted(name: str) -> None:
    document = BUILDERS[name]()
    schema.validate(kind_of(name), document, source=SRC)
    data = notary_bytes(document)
    assert schema.parse_and_validate(kind_of(name), data, source=SRC) == document


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """A mutation setting the dotted *path* (list indices as digits) to *value*."""

    def apply(document: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = document
        for part in parents:
            node = node[part]
        node[last] = value

    return apply


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(document: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = document
        for part in parents:
            node = node[part]
        del node[last]

    return apply


ROOT_KID = keyid(ROOT_KEY)
# JSONPath writes a member name that does not start with a letter in brackets.
assert ROOT_KID[0].isdigit()

ACCEPTED = [
    # Notary writes null once every key of a delegation was removed ...
    ("targets", _set("signed.delegations.roles.0.keyids", None), "keyids-null"),
    # ... and drops paths when all were removed.
    ("targets", _delete("signed.delegations.roles.1.paths"), "paths-absent"),
    ("targets", _set("signed.delegations.roles.0.paths", []), "paths-empty"),
    ("targets", _set("signed.targets", {}), "no-targets"),
    ("targets", _delete("signed.delegations"), "delegations-absent"),
    ("targets", _set("signed.targets.v1.custom", [3, 1]), "custom-array"),
    ("targets", _set("signed.targets.v1.custom", "str"), "custom-string"),
    ("targets", _set("signed.targets.v1.custom", None), "custom-null"),
    ("targets", _set("signed.targets.v1.custom", {"a": {"b": [1, {"c": True}]}}), "custom-nested"),
    ("targets", _set("signed.targets.v1.hashes", {}), "hashes-empty"),
    ("targets", _set("signed.targets.v1.hashes.md5", b64(b"0" * 16)), "hashes-other-alg"),
    ("targets", _set("signed.targets.v1.length", 0), "length-0"),
    ("targets", _set("signed.version", 2**53), "version-large"),
    ("targets", _set("signatures", None), "signatures-null"),
    ("targets", _set("signatures", []), "signatures-empty"),
    ("targets", _set("signatures.0.keyid", "not-a-key-id"), "signature-unknown-keyid"),
    ("targets", _set("signatures.0.method", "RSAPKCS1V15"), "method-any-case"),
    # Unknown fields are kept, so they must be allowed everywhere.
    ("targets", _set("extra", {"x": 1}), "unknown-envelope"),
    ("targets", _set("signed.path_hash_prefixes", ["ab"]), "unknown-signed"),
    ("targets", _set("signed.targets.v1.note", "hi"), "unknown-target"),
    ("targets", _set("signed.delegations.roles.0.terminating", True), "unknown-role"),
    ("targets", _set("signed.delegations.unknown", 1), "unknown-delegations"),
    ("targets", _set("signatures.0.extra", None), "unknown-signature"),
    ("root", _set(f"signed.keys.{ROOT_KID}.keyval.x", 1), "unknown-keyval"),
    ("root", _set(f"signed.keys.{ROOT_KID}.scheme", "x"), "unknown-key-field"),
    ("root", _delete(f"signed.keys.{ROOT_KID}.keyval.private"), "private-absent"),
    (
        "root",
        _set("signed.keys." + keyid(make_key("unknown", "u")), make_key("unknown", "u")),
        "unknown-keytype",
    ),
    ("root", _delete("signed.consistent_snapshot"), "consistent-snapshot-absent"),
    ("root", _set("signed.roles.root.unknown", 1), "unknown-root-role-field"),
    ("root", _set("signed.roles.targets.keyids", []), "root-role-keyids-empty"),
    ("snapshot", _set("signed.meta.targets/team.hashes", {"sha256": digest("x")}), "no-sha512"),
    ("snapshot", _set("signed.meta.targets/x", {"hashes": {}, "length": 0}), "delegation-meta"),
    ("snapshot", _set("signed.meta.root.custom", {"x": 1}), "meta-custom"),
    ("timestamp", _set("signed.meta.snapshot.hashes.sha384", b64(b"0" * 48)), "extra-hash"),
]
EXPIRES = [
    "2029-11-25T16:15:54Z",
    "2029-11-25T16:15:54.5Z",
    "2029-11-25T16:15:54.26629808Z",
    "2029-11-25T16:15:54.123456789Z",
    "2029-11-25T11:17:39.178665792-05:00",
    "2029-11-25T21:47:39+05:30",
    "2029-11-25T16:15:54+00:00",
    "2028-02-29T23:59:59Z",
]


@pytest.mark.parametrize(
    ("kind", "mutate"), [a[:2] for a in ACCEPTED], ids=[a[2] for a in ACCEPTED]
)
def test_tolerated_variants_are_accepted(kind: str, mutate: Callable[[Any], None]) -> None:
    document = BUILDERS[kind]()
    mutate(document)
    schema.validate(kind, document, source=SRC)


@pytest.mark.parametrize("expires", EXPIRES)
@pytest.mark.parametrize("kind", KINDS)
def test_go_time_formats_are_accepted(kind: str, expires: str) -> None:
    document = BUILDERS[kind]()
    document["signed"]["expires"] = expires
    schema.validate(kind, document, source=SRC)


def test_delegation_file_with_removed_keys_and_paths_round_trips() -> None:
    document = targets_doc()
    role = document["signed"]["delegations"]["roles"][0]
    role["keyids"] = None
    del role["paths"]
    data = notary_bytes(document)
    assert b'"keyids":null' in data
    assert schema.parse_and_validate("targets", data, source=SRC) == document


# --- invalid documents are refused with one precise line -------------------------

BAD_KID = "ABCDEF" + "0" * 58
TARGETS_KID = keyid(TARGETS_KEY)

REJECTED = [
    ("root", _set("signed._type", "Targets"), "$.signed._type: 'Targets' is not 'Root'"),
    ("targets", _set("signed._type", "targets"), "$.signed._type: 'targets' is not 'Targets'"),
    ("snapshot", _delete("signed._type"), "$.signed: '_type' is a required property"),
    ("root", _set("signed.version", 0), "$.signed.version: 0 is less than the minimum of 1"),
    ("timestamp", _set("signed.version", -3), "$.signed.version: -3 is less than the minimum of 1"),
    ("targets", _set("signed.version", 1.0), "$.signed.version: 1.0 is not of type 'integer'"),
    ("snapshot", _set("signed.version", "2"), "$.signed.version: '2' is not of type 'integer'"),
    ("targets", _set("signed.version", True), "$.signed.version: True is not of type 'integer'"),
    ("root", _delete("signed"), "$: 'signed' is a required property"),
    ("timestamp", _delete("signatures"), "$: 'signatures' is a required property"),
    ("targets", _set("signatures", {}), "$.signatures: {} is not of type 'array', 'null'"),
    ("targets", _delete("signatures.0.sig"), "$.signatures[0]: 'sig' is a required property"),
    (
        "snapshot",
        _set("signatures.0.sig", "abc"),
        "$.signatures[0].sig: 'abc' is not a valid standard padded base64 string",
    ),
    (
        "root",
        _set("signed.roles.root.threshold", 0),
        "$.signed.roles.root.threshold: 0 is less than the minimum of 1",
    ),
    (
        "targets",
        _set("signed.delegations.roles.1.threshold", 0),
        "$.signed.delegations.roles[1].threshold: 0 is less than the minimum of 1",
    ),
    (
        "root",
        _delete("signed.roles.root.threshold"),
        "$.signed.roles.root: 'threshold' is a required property",
    ),
    (
        "root",
        _set("signed.roles.targets.keyids", [BAD_KID]),
        f"$.signed.roles.targets.keyids[0]: '{BAD_KID}' is not a valid key ID "
        "(64 lowercase hex digits)",
    ),
    (
        "targets",
        _set("signed.delegations.roles.0.keyids", ["32d1"]),
        "$.signed.delegations.roles[0].keyids[0]: '32d1' is not a valid key ID "
        "(64 lowercase hex digits)",
    ),
    (
        "root",
        _set("signed.roles.targets.keyids", [TARGETS_KID + "\n"]),
        f"$.signed.roles.targets.keyids[0]: '{TARGETS_KID}\\n' is not a valid key ID "
        "(64 lowercase hex digits)",
    ),
    (
        "root",
        _set("signed.roles.targets.keyids", TARGETS_KID),
        f"$.signed.roles.targets.keyids: '{TARGETS_KID}' is not of type 'array', 'null'",
    ),
    (
        "root",
        _set(f"signed.keys.{BAD_KID}", TARGETS_KEY),
        f"$.signed.keys: property name '{BAD_KID}' is not a valid key ID (64 lowercase hex digits)",
    ),
    (
        "root",
        _delete("signed.roles.timestamp"),
        "$.signed.roles: 'timestamp' is a required property",
    ),
    (
        "root",
        _set("signed.consistent_snapshot", "false"),
        "$.signed.consistent_snapshot: 'false' is not of type 'boolean'",
    ),
    (
        "root",
        _delete(f"signed.keys.{ROOT_KID}.keyval.public"),
        f"$.signed.keys['{ROOT_KID}'].keyval: 'public' is a required property",
    ),
    (
        "root",
        _set(f"signed.keys.{ROOT_KID}.keytype", None),
        f"$.signed.keys['{ROOT_KID}'].keytype: None is not of type 'string'",
    ),
    # A private key in public metadata is refused without being echoed.
    (
        "root",
        _set(f"signed.keys.{ROOT_KID}.keyval.private", "MIGHAgEAMBMGByqGSM49AgEGCCqG"),
        f"$.signed.keys['{ROOT_KID}'].keyval.private: the value is not of type 'null'",
    ),
    (
        "targets",
        _set("signed.expires", "tomorrow"),
        "$.signed.expires: 'tomorrow' is not a valid RFC 3339 time",
    ),
    (
        "root",
        _set("signed.expires", 1893456000),
        "$.signed.expires: 1893456000 is not of type 'string'",
    ),
    (
        "timestamp",
        _set("signed.expires", "2029-11-25 16:15:54Z"),
        "$.signed.expires: '2029-11-25 16:15:54Z' is not a valid RFC 3339 time",
    ),
    (
        "timestamp",
        _set("signed.expires", "2029-11-25T16:15:54"),
        "$.signed.expires: '2029-11-25T16:15:54' is not a valid RFC 3339 time",
    ),
    (
        "timestamp",
        _set("signed.expires", "2029-11-25T16:15:54.1234567890Z"),
        "$.signed.expires: '2029-11-25T16:15:54.1234567890Z' is not a valid RFC 3339 time",
    ),
    (
        "timestamp",
        _set("signed.expires", "2029-13-25T16:15:54Z"),
        "$.signed.expires: '2029-13-25T16:15:54Z' is not a valid RFC 3339 time",
    ),
    (
        "timestamp",
        _set("signed.expires", "2029-11-25T16:15:54.Z"),
        "$.signed.expires: '2029-11-25T16:15:54.Z' is not a valid RFC 3339 time",
    ),
    (
        "timestamp",
        _set("signed.expires", "2029-11-25T16:15:54Z\n"),
        "$.signed.expires: '2029-11-25T16:15:54Z\\n' is not a valid RFC 3339 time",
    ),
    (
        "targets",
        _set("signed.targets.v1.length", -1),
        "$.signed.targets.v1.length: -1 is less than the minimum of 0",
    ),
    (
        "targets",
        _delete("signed.targets.latest.length"),
        "$.signed.targets.latest: 'length' is a required property",
    ),
    (
        "targets",
        _set("signed.targets.a<b>&c.hashes.sha256", "zc3N="),
        "$.signed.targets['a<b>&c'].hashes.sha256: 'zc3N=' is not a valid standard padded "
        "base64 string",
    ),
    (
        "targets",
        _set("signed.targets.v1.hashes", None),
        "$.signed.targets.v1.hashes: None is not of type 'object'",
    ),
    ("targets", _set("signed.targets", []), "$.signed.targets: [] is not of type 'object'"),
    (
        "targets",
        _set("signed.delegations.roles.0.name", "targets/Alice"),
        "$.signed.delegations.roles[0].name: 'targets/Alice' is not a valid delegation role name",
    ),
    (
        "targets",
        _set("signed.delegations.roles.0.name", "targets/a//b"),
        "$.signed.delegations.roles[0].name: 'targets/a//b' is not a valid delegation role name",
    ),
    (
        "targets",
        _set("signed.delegations.roles.0.name", "targets/"),
        "$.signed.delegations.roles[0].name: 'targets/' is not a valid delegation role name",
    ),
    (
        "targets",
        _set("signed.delegations.roles.0.name", "targets/" + "a" * 248),
        f"$.signed.delegations.roles[0].name: 'targets/{'a' * 68}... is not a valid "
        "delegation role name",
    ),
    (
        "targets",
        _set("signed.delegations.roles.0.paths", ""),
        "$.signed.delegations.roles[0].paths: '' is not of type 'array'",
    ),
    (
        "targets",
        _set("signed.delegations.roles.0.paths", None),
        "$.signed.delegations.roles[0].paths: None is not of type 'array'",
    ),
    (
        "targets",
        _delete("signed.delegations.roles.0.keyids"),
        "$.signed.delegations.roles[0]: 'keyids' is a required property",
    ),
    (
        "targets",
        _set("signed.delegations.roles", {}),
        "$.signed.delegations.roles: {} is not of type 'array', 'null'",
    ),
    ("snapshot", _delete("signed.meta.root"), "$.signed.meta: 'root' is a required property"),
    (
        "snapshot",
        _delete("signed.meta.targets.hashes.sha256"),
        "$.signed.meta.targets.hashes: 'sha256' is a required property",
    ),
    (
        "snapshot",
        _set("signed.meta.root.hashes.sha256", digest("x", "sha512")),
        f"$.signed.meta.root.hashes.sha256: '{digest('x', 'sha512')[:76]}... is not a valid "
        "SHA-256 digest (base64 of 32 bytes)",
    ),
    (
        "snapshot",
        _set("signed.meta.targets/team.length", "975"),
        "$.signed.meta['targets/team'].length: '975' is not of type 'integer'",
    ),
    (
        "timestamp",
        _delete("signed.meta.snapshot"),
        "$.signed.meta: 'snapshot' is a required property",
    ),
    (
        "timestamp",
        _set("signed.meta.snapshot.hashes.sha512", digest("x")),
        f"$.signed.meta.snapshot.hashes.sha512: '{digest('x')}' is not a valid SHA-512 digest "
        "(base64 of 64 bytes)",
    ),
]


@pytest.mark.parametrize(
    ("kind", "mutate", "expected"), REJECTED, ids=[f"{r[0]}:{r[2][:50]}" for r in REJECTED]
)
def test_invalid_documents_are_refused_with_path_and_reason(
    kind: str, mutate: Callable[[Any], None], expected: str
) -> None:
    document = BUILDERS[kind]()
    mutate(document)
    assert schema_error(kind, document) == f"{SRC}: {expected}"


def test_the_message_format_of_the_example() -> None:
    document = root_doc()
    document["signed"]["version"] = 0
    with pytest.raises(SchemaError) as info:
        schema.validate("root", document, source="tuf/example.com/app/metadata/root.json")
    assert str(info.value) == (
        "tuf/example.com/app/metadata/root.json: $.signed.version: 0 is less than the minimum of 1"
    )
    assert info.value.exit_code == 2
    assert isinstance(info.value, InvalidMetadataError)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([], "$: [] is not of type 'object'"),
        (None, "$: None is not of type 'object'"),
        ({"signed": [], "signatures": []}, "$.signed: [] is not of type 'object'"),
        (
            {"signed": {"_type": "Targets", "x": "y" * 200}, "signatures": []},
            "$.signed: 'expires' is a required property",
        ),
        (
            [{"signed": "x" * 100}],
            "$: [{'signed': '" + "x" * 64 + "... is not of type 'object'",
        ),
    ],
    ids=["list", "null", "signed-list", "first-required", "long-repr"],
)
def test_top_level_errors(document: object, expected: str) -> None:
    assert schema_error("targets", document) == f"{SRC}: {expected}"


def test_a_wrong_type_is_reported_before_anything_else() -> None:
    # A root file checked as targets misses "targets" too; the _type says why.
    assert schema_error("targets", root_doc()) == f"{SRC}: $.signed._type: 'Root' is not 'Targets'"
    assert schema_error("snapshot", timestamp_doc()) == (
        f"{SRC}: $.signed._type: 'Timestamp' is not 'Snapshot'"
    )


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("v1.0", "$.signed.targets['v1.0']"),
        ("it's", "$.signed.targets['it\\'s']"),
        ("tab\there", "$.signed.targets['tab\\there']"),
        ("line\nbreak", "$.signed.targets['line\\nbreak']"),
        ("é😀", "$.signed.targets['é😀']"),
        ("a\u2028b\x7f", "$.signed.targets['a\\u2028b\\u007f']"),
        ("back\\slash", "$.signed.targets['back\\\\slash']"),
        ("1.2", "$.signed.targets['1.2']"),
        ("latest_2", "$.signed.targets.latest_2"),
    ],
)
def test_target_names_in_paths_are_quoted_on_one_line(name: str, path: str) -> None:
    document = targets_doc()
    document["signed"]["targets"][name] = {"hashes": {}}
    assert schema_error("targets", document) == f"{SRC}: {path}: 'length' is a required property"


def test_long_instances_are_shortened() -> None:
    document = targets_doc()
    document["signed"]["targets"]["big"] = {"hashes": {}, "length": 1, "custom": None}
    document["signed"]["targets"]["big"]["hashes"] = ["x" * 10_000]
    message = schema_error("targets", document)
    assert message == (
        f"{SRC}: $.signed.targets.big.hashes: ['{'x' * 75}... is not of type 'object'"
    )


# --- parsing ---------------------------------------------------------------------


MALFORMED = {
    "empty": (b"", "Expecting value (line 1 column 1)"),
    "text": (b"not json at all", "Expecting value (line 1 column 1)"),
    "truncated": (b'{"signed": {}', "Expecting ',' delimiter (line 1 column 14)"),
    "extra-data": (b'{"signed": {},\n "signatures": []}}', "Extra data (line 2 column 19)"),
    "single-quotes": (
        b"{'signed': 1}",
        "Expecting property name enclosed in double quotes (line 1 column 2)",
    ),
    "nan": (b'{"a": NaN}', "NaN is not a JSON value"),
    "infinity": (b'{"a": -Infinity}', "-Infinity is not a JSON value"),
    "bom": (b"\xef\xbb\xbf{}", "UTF-8 byte order mark (line 1 column 1)"),
    "binary": (b"\x89PNG\r\n\x1a\n", "invalid UTF-8 byte 0x89 (line 1 column 1)"),
    "latin-1": (
        b'{"signed": {"targets": {"caf\xe9": 1}}}',
        "invalid UTF-8 byte 0xe9 (line 1 column 29)",
    ),
    "cut-sequence": (b'{\n  "n": "\xc3\xa9\xc3"}', "invalid UTF-8 byte 0xc3 (line 2 column 10)"),
    "surrogate": (b'"\xed\xa0\x80"', "invalid UTF-8 byte 0xed (line 1 column 2)"),
    "deep": (b"[" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize(("data", "expected"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bytes_are_refused(data: bytes, expected: str) -> None:
    with pytest.raises(InvalidMetadataError) as info:
        schema.parse_and_validate("targets", data, source=SRC)
    assert type(info.value) is InvalidMetadataError
    assert str(info.value) == f"{SRC}: malformed JSON: {expected}"


def test_parse_then_schema_error() -> None:
    document = snapshot_doc()
    document["signed"]["version"] = 0
    with pytest.raises(SchemaError, match=r"\$\.signed\.version: 0 is less than the minimum of 1"):
        schema.parse_and_validate("snapshot", notary_bytes(document), source=SRC)


def test_html_escaped_names_parse_to_the_raw_characters() -> None:
    data = notary_bytes(targets_doc())
    assert b"a\\u003cb\\u003e\\u0026c" in data
    parsed = schema.parse_and_validate("targets", data, source=SRC)
    assert "a<b>&c" in parsed["signed"]["targets"]


def test_duplicate_keys_keep_the_last_value_like_go() -> None:
    data = notary_bytes(timestamp_doc()).replace(b'"version":1', b'"version":0,"version":7')
    assert schema.parse_and_validate("timestamp", data, source=SRC)["signed"]["version"] == 7


# --- the fast path for large target maps -----------------------------------------


def full_validation_message(kind: str, document: object) -> str | None:
    """What plain jsonschema (no fast path) reports, formatted like validate()."""
    error = schema._best_error(schema._validator(kind).iter_errors(document))
    if error is None:
        return None
    return f"{SRC}: {schema._json_path(error.absolute_path)}: {schema._describe(error)}"


def test_fast_path_is_active_for_targets() -> None:
    # If this fails, a schema edit switched the fast path off: update
    # _refused_file_metas and _EXPECTED_FAST_SCHEMAS in offtrust/schema.py.
    assert schema._fast_map("targets") == ("signed", "targets")
    assert schema._fast_map("snapshot") is None


TARGET_ENTRIES = [
    {"hashes": {"sha256": digest("a")}, "length": 1},
    {"hashes": {}, "length": 0, "custom": {"x": [1.5]}, "other": None},
    {"hashes": {"sha256": digest("a")}, "length": -1},
    {"hashes": {"sha256": digest("a")}, "length": 1.0},
    {"hashes": {"sha256": digest("a")}, "length": True},
    {"hashes": {"sha256": digest("a")}, "length": "1"},
    {"hashes": {"sha256": digest("a")}},
    {"length": 3},
    {"hashes": None, "length": 3},
    {"hashes": [], "length": 3},
    {"hashes": {"sha256": None}, "length": 3},
    {"hashes": {"sha256": 5}, "length": 3},
    {"hashes": {"sha256": "abc"}, "length": 3},
    {"hashes": {"sha256": "abc=\n"}, "length": 3},
    {"hashes": {"sha256": ""}, "length": 3},
    {"hashes": {"sha256": digest("a"), "sha512": "!!!!"}, "length": 3},
    [],
    None,
    "v1",
    {},
]


@pytest.mark.parametrize("entry", TARGET_ENTRIES, ids=[repr(e)[:40] for e in TARGET_ENTRIES])
def test_fast_path_reports_what_full_validation_reports(entry: object) -> None:
    document = targets_doc()
    document["signed"]["targets"]["zz"] = entry
    expected = full_validation_message("targets", document)
    if expected is None:
        schema.validate("targets", document, source=SRC)
    else:
        assert schema_error("targets", document) == expected


def test_fast_path_keeps_the_most_relevant_error_across_the_document() -> None:
    document = targets_doc()
    document["signed"]["targets"]["zz"] = {"hashes": {}}
    document["signed"]["targets"]["aa"] = None
    document["signed"]["delegations"]["roles"][0]["threshold"] = 0
    expected = full_validation_message("targets", document)
    assert schema_error("targets", document) == expected
    document["signed"]["version"] = 0
    assert schema_error("targets", document) == full_validation_message("targets", document)
    assert expected != full_validation_message("targets", document)
    document["signed"]["_type"] = "Root"
    assert schema_error("targets", document) == full_validation_message("targets", document)
    assert schema_error("targets", document).endswith("$.signed._type: 'Root' is not 'Targets'")


def big_targets(count: int) -> dict[str, Any]:
    document = delegation_doc()
    hashes = [{"sha256": digest(str(i)), "sha512": digest(str(i), "sha512")} for i in range(256)]
    document["signed"]["targets"] = {
        f"tag-{i}": {"hashes": dict(hashes[i % 256]), "length": 1000 + i} for i in range(count)
    }
    return document


def test_100k_targets_validate_and_one_bad_entry_is_found() -> None:
    # Speed is measured by benchmarks/bench.py; here: the fast path accepts a
    # large map and still pinpoints the one bad entry.
    document = big_targets(100_000)
    schema.validate("targets", document, source=SRC)

    document["signed"]["targets"]["tag-77777"]["length"] = -1
    assert schema_error("targets", document) == (
        f"{SRC}: $.signed.targets['tag-77777'].length: -1 is less than the minimum of 0"
    )


def test_fast_base64_check_equals_the_schema_pattern() -> None:
    pattern = schema._compile(schema._schemas()["common"]["$defs"]["base64"]["pattern"])
    # Every string of up to 6 characters over valid, padding and invalid characters.
    strings = ["".join(chars) for n in range(7) for chars in itertools.product("A/+=-\n", repeat=n)]
    strings += ["AAAA" * 10 + tail for tail in ("", "A", "AA==", "AAA=", "A===", "====", "AA=A")]
    for text in strings:
        fast = len(text) % 4 == 0 and schema._BASE64_BODY.fullmatch(text) is not None
        assert fast is (pattern.search(text) is not None), repr(text)


# --- ECMA-262 patterns -----------------------------------------------------------


@pytest.mark.parametrize(
    ("regex", "text", "matches"),
    [
        ("^a$", "a", True),
        ("^a$", "a\n", False),
        ("^a\\$", "a$", True),
        ("^a\\\\$", "a\\", True),
        ("^a\\\\$", "a\\\n", False),
        ("^a", "ab\n", True),
        ("^(?:a|$)b?$", "\n", False),
        ("^(?:a|$)", "", True),
        ("^[$]$", "$", True),
        ("^[\\]$]$", "$", True),
        ("^[\\]$]$", "]\n", False),
    ],
)
def test_dollar_only_matches_at_the_end(regex: str, text: str, matches: bool) -> None:
    assert (schema._compile(regex).search(text) is not None) is matches


def test_documents_are_not_modified() -> None:
    document = targets_doc()
    before = copy.deepcopy(document)
    schema.validate("targets", document, source=SRC)
    document["signed"]["targets"]["bad"] = {}
    schema_error("targets", document)
    del document["signed"]["targets"]["bad"]
    assert document == before


def test_inlined_quick_check_agrees_on_real_files() -> None:
    # The quick path must accept what the reference validator accepts, or
    # every valid file would pay for the slow path.
    root = Path(__file__).resolve().parents[2] / "fixtures" / "example-trust" / "tuf"
    files = sorted(root.rglob("*.json"))
    assert files
    for path in files:
        role = path.stem if path.parent.name == "metadata" else "targets"
        kind = role if role in ("root", "snapshot", "timestamp") else "targets"
        document = json.loads(path.read_bytes())
        assert schema._is_valid(kind, document), path
        broken = json.loads(path.read_bytes())
        broken["signed"]["version"] = 0
        assert not schema._is_valid(kind, broken), path
