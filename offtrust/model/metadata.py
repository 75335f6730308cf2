"""TUF metadata documents exactly as notary 0.7 reads and writes them.

Each class mirrors the wire format: ``from_dict`` takes the fields it knows and
keeps the rest in ``unrecognized`` so an unedited document serializes back to
the same data. :class:`Metadata` keeps the original bytes it was read from and
returns them untouched until the document is re-signed (hashes in snapshot and
timestamp, and every byte of a bundle, come from those bytes).

New content is serialized as Go would: the canonical ``signed`` bytes wrapped
in ``{"signed":...,"signatures":[...]}`` with HTML escaping, no whitespace and
no trailing newline.
"""

from __future__ import annotations

import base64
import hashlib
import json
from binascii import a2b_base64 as _a2b_base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

from offtrust.errors import InvalidMetadataError
from offtrust.model.canonical import (
    encode_canonical,
    encode_fast_or_none,
    encode_for_verification,
    html_escape,
)
from offtrust.model.keys import PublicKey
from offtrust.model.timefmt import format_go_time, parse_go_time

ROOT, TARGETS, SNAPSHOT, TIMESTAMP = "root", "targets", "snapshot", "timestamp"
BASE_ROLES = (ROOT, TARGETS, SNAPSHOT, TIMESTAMP)

# notary's defaults (const.go), applied every time a role is signed.
DEFAULT_EXPIRY = {
    ROOT: timedelta(days=3650),
    TARGETS: timedelta(days=1095),
    SNAPSHOT: timedelta(days=1095),
    TIMESTAMP: timedelta(days=14),
}

_MISSING: Any = object()
_new_object = object.__new__


def default_expiry(role: str) -> timedelta:
    """The lifetime notary gives a freshly signed *role* (delegations as targets)."""
    return DEFAULT_EXPIRY.get(role, DEFAULT_EXPIRY[TARGETS])


def _take(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    try:
        value = data[key]
    except KeyError:
        raise InvalidMetadataError(f"{where}: missing field {key!r}") from None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise InvalidMetadataError(f"{where}.{key}: unexpected type {type(value).__name__}")
    return value


def _rest(data: dict[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in known}


def _keys_from_dict(data: Any, where: str) -> dict[str, PublicKey]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidMetadataError(f"{where}: keys must be an object")
    return {keyid: PublicKey.from_dict(value) for keyid, value in data.items()}


@dataclass
class Signature:
    """``{"keyid", "method", "sig"}``; ``sig`` kept as the base64 text."""

    keyid: str
    method: str
    sig: str
    unrecognized: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        where = "signature"
        return cls(
            keyid=_take(data, "keyid", str, where),
            method=_take(data, "method", str, where),
            sig=_take(data, "sig", str, where),
            unrecognized=_rest(data, ("keyid", "method", "sig")),
        )

    @classmethod
    def from_bytes(cls, keyid: str, method: str, sig: bytes) -> Signature:
        return cls(keyid=keyid, method=method, sig=base64.b64encode(sig).decode("ascii"))

    def to_dict(self) -> dict[str, Any]:
        # Go's struct order, which is also what notary writes on disk.
        return {"keyid": self.keyid, "method": self.method, "sig": self.sig, **self.unrecognized}

    @property
    def sig_bytes(self) -> bytes:
        try:
            return base64.b64decode(self.sig, validate=True)
        except ValueError:
            return b""


@dataclass
class Signed:
    """Fields common to every ``signed`` object."""

    TYPE: ClassVar[str] = ""
    version: int
    expires: str
    unrecognized: dict[str, Any]

    @property
    def expires_at(self) -> datetime:
        return parse_go_time(self.expires)

    def set_expires(self, when: datetime) -> None:
        self.expires = format_go_time(when)

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at <= now

    @classmethod
    def _common(cls, data: dict[str, Any], where: str) -> tuple[int, str]:
        kind = _take(data, "_type", str, where)
        if kind != cls.TYPE:
            raise InvalidMetadataError(f"{where}: expected type {cls.TYPE}, not {kind}")
        version = _take(data, "version", int, where)
        if version < 1:
            raise InvalidMetadataError(f"{where}: version cannot be less than one")
        expires = _take(data, "expires", str, where)
        parse_go_time(expires)
        return version, expires

    def _common_dict(self) -> dict[str, Any]:
        return {
            **self.unrecognized,
            "_type": self.TYPE,
            "expires": self.expires,
            "version": self.version,
        }

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def drop_unrecognized(self) -> None:
        """Forget fields notary does not know, as notary does when it re-signs.

        The server and later clients re-serialize what they parse; a field they
        drop would change the bytes behind every recorded hash.
        """
        self.unrecognized = {}


@dataclass
class RoleKeys:
    """A root role entry: ``{"keyids": [...], "threshold": N}``."""

    keyids: list[str]
    threshold: int
    unrecognized: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> RoleKeys:
        keyids = data.get("keyids")
        if keyids is not None and not (
            isinstance(keyids, list) and all(isinstance(k, str) for k in keyids)
        ):
            raise InvalidMetadataError(f"{where}.keyids: must be a list of key IDs")
        return cls(
            keyids=list(keyids or []),
            threshold=_take(data, "threshold", int, where),
            unrecognized=_rest(data, ("keyids", "threshold")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.unrecognized, "keyids": list(self.keyids), "threshold": self.threshold}


@dataclass
class Root(Signed):
    TYPE: ClassVar[str] = "Root"
    keys: dict[str, PublicKey] = field(default_factory=dict)
    roles: dict[str, RoleKeys] = field(default_factory=dict)
    consistent_snapshot: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Root:
        where = "root"
        version, expires = cls._common(data, where)
        roles_raw = _take(data, "roles", dict, where)
        return cls(
            version=version,
            expires=expires,
            keys=_keys_from_dict(data.get("keys"), f"{where}.keys"),
            roles={
                name: RoleKeys.from_dict(value, f"{where}.roles.{name}")
                for name, value in roles_raw.items()
            },
            consistent_snapshot=bool(data.get("consistent_snapshot", False)),
            unrecognized=_rest(
                data, ("_type", "version", "expires", "keys", "roles", "consistent_snapshot")
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self._common_dict(),
            "consistent_snapshot": self.consistent_snapshot,
            "keys": {keyid: key.to_dict() for keyid, key in self.keys.items()},
            "roles": {name: role.to_dict() for name, role in self.roles.items()},
        }

    def role_keys(self, role: str) -> dict[str, PublicKey]:
        """The keys listed for a base role, by key ID (missing IDs are left out)."""
        entry = self.roles.get(role)
        if entry is None:
            return {}
        return {k: self.keys[k] for k in entry.keyids if k in self.keys}

    def threshold(self, role: str) -> int:
        entry = self.roles.get(role)
        return entry.threshold if entry else 1


@dataclass
class DelegatedRole:
    """One entry of ``delegations.roles``.

    ``keyids`` is ``None`` when the file says ``null`` (notary writes that once
    every key was removed); ``paths`` is ``None`` when the field is absent.
    """

    name: str
    keyids: list[str] | None
    threshold: int
    paths: list[str] | None
    unrecognized: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> DelegatedRole:
        name = _take(data, "name", str, where)
        keyids = data.get("keyids")
        if keyids is not None and not (
            isinstance(keyids, list) and all(isinstance(k, str) for k in keyids)
        ):
            raise InvalidMetadataError(f"{where}.keyids: must be a list of key IDs or null")
        paths = data.get("paths", _MISSING)
        if paths is _MISSING or paths is None:
            paths_value: list[str] | None = None
        elif isinstance(paths, list) and all(isinstance(p, str) for p in paths):
            paths_value = list(paths)
        else:
            raise InvalidMetadataError(f"{where}.paths: must be a list of strings")
        return cls(
            name=name,
            keyids=list(keyids) if keyids is not None else None,
            threshold=_take(data, "threshold", int, where),
            paths=paths_value,
            unrecognized=_rest(data, ("name", "keyids", "threshold", "paths")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.unrecognized,
            "keyids": list(self.keyids) if self.keyids else None,
            "name": self.name,
            "threshold": self.threshold,
        }
        # Go: `paths,omitempty`; `keyids` has no omitempty, so nil is `null`.
        if self.keyids is not None and not self.keyids:
            out["keyids"] = []
        if self.paths:
            out["paths"] = list(self.paths)
        return out

    @property
    def key_ids(self) -> list[str]:
        return list(self.keyids or [])

    def matches(self, target: str) -> bool:
        """True when *target* lies in this role's paths (plain prefixes)."""
        paths = self.paths
        if not paths:
            return False
        # Most roles delegate every path ("" is a prefix of everything).
        return "" in paths or target.startswith(tuple(paths))


@dataclass
class Delegations:
    """``delegations``; ``roles_null`` records a file that says ``"roles": null``.

    Notary writes ``null`` once its last delegation was removed (a nil Go
    slice); it is written back as read while no role is added, so the
    signature over the canonical bytes still holds.
    """

    keys: dict[str, PublicKey] = field(default_factory=dict)
    roles: list[DelegatedRole] = field(default_factory=list)
    unrecognized: dict[str, Any] = field(default_factory=dict)
    roles_null: bool = field(default=False, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> Delegations:
        raw_roles = data.get("roles")
        roles = raw_roles or []
        if not isinstance(roles, list):
            raise InvalidMetadataError(f"{where}.roles: must be a list")
        return cls(
            keys=_keys_from_dict(data.get("keys"), f"{where}.keys"),
            roles=[DelegatedRole.from_dict(r, f"{where}.roles[{i}]") for i, r in enumerate(roles)],
            unrecognized=_rest(data, ("keys", "roles")),
            roles_null="roles" in data and raw_roles is None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.unrecognized,
            "keys": {keyid: key.to_dict() for keyid, key in self.keys.items()},
            "roles": None
            if self.roles_null and not self.roles
            else [role.to_dict() for role in self.roles],
        }

    def get(self, name: str) -> DelegatedRole | None:
        for role in self.roles:
            if role.name == name:
                return role
        return None

    def role_keys(self, role: DelegatedRole) -> dict[str, PublicKey]:
        return {k: self.keys[k] for k in role.key_ids if k in self.keys}

    def prune_unused_keys(self) -> None:
        """Drop keys no role lists any more (notary's ``RemoveUnusedKeys``)."""
        used = {k for role in self.roles for k in role.key_ids}
        self.keys = {k: v for k, v in self.keys.items() if k in used}


@dataclass(slots=True)
class TargetFile:
    """A target entry: ``{"custom"?, "hashes", "length"}``.

    Slotted: a targets file holds 100,000 of them (a third of the memory).
    """

    length: int
    hashes: dict[str, str]
    custom: Any = _MISSING
    unrecognized: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> TargetFile:
        hashes = _take(data, "hashes", dict, where)
        length = _take(data, "length", int, where)
        # Fast path for the common shape; 100,000 targets pass through here.
        extra = {} if len(data) == 2 else _rest(data, ("length", "hashes", "custom"))
        return cls(
            length=length,
            hashes=dict(hashes),
            custom=data.get("custom", _MISSING),
            unrecognized=extra,
        )

    @classmethod
    def _from_plain(cls, data: Any, owned: bool = False) -> TargetFile | None:
        """The entry for the common ``{"hashes": {...}, "length": N}``, built
        without the checks of :meth:`from_dict` (100,000 targets pass here);
        None for any other shape, which :meth:`from_dict` then handles.
        *owned*: *data* is the caller's to give away, its ``hashes`` are taken
        instead of copied."""
        if data.__class__ is not dict or len(data) != 2:
            return None
        hashes = data.get("hashes")
        length = data.get("length")
        if hashes.__class__ is not dict or length.__class__ is not int:
            return None
        entry = _new_object(cls)
        entry.length = length
        entry.hashes = hashes if owned else hashes.copy()
        entry.custom = _MISSING
        entry.unrecognized = {}
        return entry

    def to_dict(self) -> dict[str, Any]:
        custom = self.custom
        if not self.unrecognized and custom is _MISSING:
            return {"hashes": self.hashes.copy(), "length": self.length}
        out: dict[str, Any] = {**self.unrecognized, "hashes": dict(self.hashes)}
        out["length"] = self.length
        if custom is not _MISSING and custom is not None:
            out["custom"] = custom
        return out

    @property
    def has_custom(self) -> bool:
        return self.custom is not _MISSING and self.custom is not None

    def sha256_hex(self) -> str | None:
        value = self.hashes.get("sha256")
        if value is None:
            return None
        try:
            # What base64.b64decode(value) does, without its per-call wrapping
            # (inspect asks for every one of 100,000 tags).
            return _a2b_base64(value).hex()
        except ValueError:  # binascii.Error, or a non-ASCII str
            return None


@dataclass
class Targets(Signed):
    TYPE: ClassVar[str] = "Targets"
    targets: dict[str, TargetFile] | None = field(default_factory=dict)
    delegations: Delegations = field(default_factory=Delegations)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, owned: bool = False) -> Targets:
        """*owned*: *data* is the caller's to give away (parsed for this
        document only): target entries take parts of it instead of copies."""
        where = "targets"
        version, expires = cls._common(data, where)
        raw_targets = data.get("targets")
        if raw_targets is not None and not isinstance(raw_targets, dict):
            raise InvalidMetadataError(f"{where}.targets: must be an object")
        raw_delegations = data.get("delegations") or {}
        if not isinstance(raw_delegations, dict):
            raise InvalidMetadataError(f"{where}.delegations: must be an object")
        return cls(
            version=version,
            expires=expires,
            targets=None if raw_targets is None else _target_files(raw_targets, where, owned),
            delegations=Delegations.from_dict(raw_delegations, f"{where}.delegations"),
            unrecognized=_rest(data, ("_type", "version", "expires", "targets", "delegations")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self._common_dict(),
            "delegations": self.delegations.to_dict(),
            "targets": None
            if self.targets is None
            else {name: t.to_dict() for name, t in self.targets.items()},
        }

    def files(self) -> dict[str, TargetFile]:
        if self.targets is None:
            self.targets = {}
        return self.targets


def _target_files(raw: dict[str, Any], where: str, owned: bool) -> dict[str, TargetFile]:
    """The ``targets`` map: plain entries built directly, any other through from_dict."""
    plain = TargetFile._from_plain
    out: dict[str, TargetFile] = {}
    for name, value in raw.items():
        entry = plain(value, owned)
        out[name] = (
            entry
            if entry is not None
            else TargetFile.from_dict(value, f"{where}.targets[{name!r}]")
        )
    return out


@dataclass
class MetaFile:
    """A snapshot/timestamp ``meta`` entry: ``{"hashes", "length"}``."""

    length: int
    hashes: dict[str, str]
    unrecognized: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> MetaFile:
        return cls(
            length=_take(data, "length", int, where),
            hashes=dict(_take(data, "hashes", dict, where)),
            unrecognized=_rest(data, ("length", "hashes")),
        )

    @classmethod
    def for_bytes(cls, data: bytes) -> MetaFile:
        """The entry notary records for a file: sha256 and sha512 of its bytes."""
        return cls(
            length=len(data),
            hashes={
                "sha256": base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"),
                "sha512": base64.b64encode(hashlib.sha512(data).digest()).decode("ascii"),
            },
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.unrecognized, "hashes": dict(self.hashes), "length": self.length}

    def mismatch(self, data: bytes) -> str | None:
        """Why *data* does not match this entry, or None when it does."""
        if len(data) != self.length:
            return f"length {len(data)} differs from the recorded {self.length}"
        algorithms = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
        checked = 0
        for name, expected in self.hashes.items():
            if name not in algorithms:
                continue
            checked += 1
            actual = base64.b64encode(algorithms[name](data).digest()).decode("ascii")
            if actual != expected:
                return f"{name} checksum differs from the recorded one"
        if not checked:
            return "no sha256 or sha512 checksum is recorded"
        return None


@dataclass
class _MetaSigned(Signed):
    meta: dict[str, MetaFile] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        where = cls.TYPE.lower()
        version, expires = cls._common(data, where)
        meta = _take(data, "meta", dict, where)
        return cls(
            version=version,
            expires=expires,
            meta={
                name: MetaFile.from_dict(value, f"{where}.meta.{name}")
                for name, value in meta.items()
            },
            unrecognized=_rest(data, ("_type", "version", "expires", "meta")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self._common_dict(),
            "meta": {name: m.to_dict() for name, m in self.meta.items()},
        }


@dataclass
class Snapshot(_MetaSigned):
    TYPE: ClassVar[str] = "Snapshot"


@dataclass
class Timestamp(_MetaSigned):
    TYPE: ClassVar[str] = "Timestamp"


SIGNED_TYPES: dict[str, type[Signed]] = {
    "Root": Root,
    "Targets": Targets,
    "Snapshot": Snapshot,
    "Timestamp": Timestamp,
}

T = TypeVar("T", bound=Signed)


def role_type(role: str) -> type[Signed]:
    """The ``signed`` class for a role name (every delegation is Targets)."""
    return {ROOT: Root, SNAPSHOT: Snapshot, TIMESTAMP: Timestamp}.get(role, Targets)


@dataclass
class Metadata(Generic[T]):
    """A signed envelope ``{"signed": ..., "signatures": [...]}``.

    ``raw`` holds the bytes the document was read from; they are what
    :meth:`to_bytes` returns until :meth:`sign` or :meth:`clear_signatures`
    changes the document.
    """

    signed: T
    signatures: list[Signature] | None
    unrecognized: dict[str, Any] = field(default_factory=dict)
    raw: bytes | None = None
    # (raw, the canonical bytes of its parsed ``signed`` member, or None when
    # only the exact encoder can tell); see :meth:`keep_parsed_signed`.
    _parsed_signed: tuple[bytes, Any] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: Any, role: str, *, owned: bool = False) -> Metadata[Any]:
        """Build the envelope of *role* from parsed JSON.

        *owned*: *data* is the caller's to give away (nothing else holds or
        changes it): the model takes parts of it instead of copies.

        Raises:
            InvalidMetadataError: the document is not a notary envelope for the role.
        """
        if not isinstance(data, dict):
            raise InvalidMetadataError("metadata must be a JSON object")
        signed = data.get("signed")
        if not isinstance(signed, dict):
            raise InvalidMetadataError("metadata lacks a 'signed' object")
        sigs = data.get("signatures")
        if sigs is not None and not isinstance(sigs, list):
            raise InvalidMetadataError("'signatures' must be a list")
        kind = role_type(role)
        return cls(
            signed=Targets.from_dict(signed, owned=owned)  # type: ignore[arg-type]
            if kind is Targets
            else kind.from_dict(signed),  # type: ignore[attr-defined]
            signatures=None
            if sigs is None
            else [Signature.from_dict(s) for s in sigs if isinstance(s, dict)],
            unrecognized=_rest(data, ("signed", "signatures")),
        )

    @classmethod
    def from_bytes(cls, data: bytes, role: str) -> Metadata[Any]:
        """Parse envelope bytes and keep them as ``raw``.

        Raises:
            InvalidMetadataError: malformed JSON or not a notary document.
        """
        try:
            parsed = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidMetadataError(f"malformed JSON: {e}") from e
        md = cls.from_dict(parsed, role)
        md.raw = bytes(data)
        return md

    def signed_bytes(self) -> bytes:
        """The canonical bytes signatures cover."""
        return encode_canonical(self.signed.to_dict())

    def keep_parsed_signed(self, signed: Any) -> None:
        """Remember *signed*, the ``signed`` member parsed from :attr:`raw`, for
        :meth:`verification_message`: its canonical bytes when the guarded fast
        encoder gives them; the parsed value itself is never kept.

        Call it right after setting :attr:`raw` to the bytes *signed* was
        parsed from; nothing may change *signed* afterwards.
        """
        if self.raw is None:
            return
        self._parsed_signed = (self.raw, encode_fast_or_none(signed))

    def verification_message(self) -> bytes:
        """The bytes the signatures on this document are checked against.

        As notary's verifier does: the canonical form of the ``signed`` member
        as parsed from the file (numbers as Go's float64 decoding leaves them),
        while :attr:`raw` is still the bytes it was parsed from; once the
        document is edited or re-serialized, the canonical form of the model.

        Raises:
            InvalidMetadataError: the ``signed`` object cannot be canonicalized.
        """
        kept = self._parsed_signed
        if kept is not None and kept[0] is self.raw:
            if kept[1] is not None:
                return kept[1]  # type: ignore[no-any-return]
            # Only the exact encoder can tell (a rare document): parse the
            # bytes again rather than keep the parsed value for so long. They
            # were parsed once already, and json.loads gives what the orjson
            # parse gave (see offtrust.schema).
            try:
                parsed = json.loads(kept[0].decode("utf-8"))
            except RecursionError:  # orjson parses deeper than json.loads
                raise InvalidMetadataError("$: nested too deeply to encode") from None
            return encode_for_verification(parsed["signed"])
        return encode_for_verification(self.signed.to_dict())

    def to_bytes(self) -> bytes:
        """The file bytes: the original ones if unchanged, else what notary writes."""
        if self.raw is not None:
            return self.raw
        return self.serialize()

    def serialize(self, signed_bytes: bytes | None = None) -> bytes:
        """Serialize as Go does: canonical ``signed`` inside compact ``encoding/json``.

        Args:
            signed_bytes: the canonical bytes of ``signed`` when the caller
                already has them (they were just signed), to skip re-encoding.
        """
        signed = html_escape(signed_bytes if signed_bytes is not None else self.signed_bytes())
        if self.signatures is None:
            sigs = b"null"
        else:
            sigs = html_escape(
                json.dumps(
                    [s.to_dict() for s in self.signatures],
                    separators=(",", ":"),
                    ensure_ascii=False,
                ).encode("utf-8")
            )
        out = b'{"signed":' + signed + b',"signatures":' + sigs
        for key, value in self.unrecognized.items():
            out += b"," + json.dumps(key).encode() + b":" + json.dumps(value).encode()
        return out + b"}"

    def changed(self) -> None:
        """Mark the document as edited: :meth:`to_bytes` serializes it anew."""
        self.raw = None

    def clear_signatures(self) -> None:
        self.signatures = []
        self.raw = None

    def add_signature(self, signature: Signature) -> None:
        """Add or replace the signature of ``signature.keyid``."""
        sigs = [s for s in (self.signatures or []) if s.keyid != signature.keyid]
        sigs.append(signature)
        self.signatures = sigs
        self.raw = None

    def iter_signatures(self) -> Iterator[Signature]:
        yield from self.signatures or []
