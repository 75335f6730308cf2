"""An in-memory notary-server 0.7 for unit tests: :class:`FakeNotary`.

It implements :class:`offtrust.online.api.NotaryAPI` (what ``fetch`` and
``publish`` use) and behaves like notary-server as the formats doc describes it
(section 8.2, observed rules in 6.5, 6.6 and 11):

- per GUN it keeps every stored version of every role, so ``<role>.json``
  (current), ``<role>.<sha256>.json`` and ``<N>.<role>.json`` all work;
- ``get_server_key`` hands out a NEW ed25519 key on every call while the GUN
  has no root (it remembers their private halves, so the first upload whose
  root lists one can be signed for), and the key the root lists afterwards;
- ``publish`` validates like the server: root v1 for a new GUN or the current
  version + 1, signed by the previous root's threshold and by its own; every
  uploaded role newer than the stored one; key IDs matching key content;
  signature thresholds; nothing expired; an uploaded snapshot's hashes; then
  it signs a snapshot if none was uploaded and it holds the snapshot key
  (version + 1, 3 years), and always a new timestamp (version + 1, 14 days).
  A refusal raises the :class:`~offtrust.errors.ServerRejectedError` the real
  client raises for the server's 400 (``INVALID_UPDATE``, ``VERSION``, ...);
- an expired timestamp is re-signed when ``timestamp.json`` is fetched.

The clock is the :attr:`FakeNotary.now` attribute. Knobs for attacks and
failures: :meth:`freeze`, :meth:`drop`, :meth:`replace`, :meth:`restore`,
:meth:`fail_next_publish`, :meth:`force_update`; :attr:`publish_calls` and
:attr:`requests` record what the client did.

Documents are signed with ``builders.sign_metadata``, the helper every test uses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from builders import sign_metadata

if TYPE_CHECKING:
    from builders import RepoBuilder

from offtrust import crypto
from offtrust.crypto import PrivateKey
from offtrust.errors import InvalidMetadataError, ServerRejectedError, UsageError
from offtrust.model.canonical import encode_for_verification
from offtrust.model.keys import PublicKey
from offtrust.model.metadata import (
    BASE_ROLES,
    ROOT,
    SNAPSHOT,
    TARGETS,
    TIMESTAMP,
    Metadata,
    MetaFile,
    Snapshot,
    Timestamp,
)
from offtrust.model.names import check_gun, is_delegation, is_valid_role, parent_of
from offtrust.model.timefmt import format_go_time
from offtrust.online.api import NotaryAPI
from offtrust.online.notary import _describe_server_error

__all__ = ["SNAPSHOT_LIFETIME", "TIMESTAMP_LIFETIME", "FakeNotary"]

#: notary-server's lifetimes for what it signs (formats doc 8.2).
SNAPSHOT_LIFETIME = timedelta(days=1095)
TIMESTAMP_LIFETIME = timedelta(days=14)

_SERVER_KEY_ROLES = (TIMESTAMP, SNAPSHOT)
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


# --------------------------------------------------------------------------- #
# The server's error answers, as the real client turns them into exceptions
# --------------------------------------------------------------------------- #


def _rejected(code: str, message: str, detail: Any) -> ServerRejectedError:
    entry = {"code": code, "message": message, "detail": detail}
    return ServerRejectedError(
        f"server rejected the update: {_describe_server_error(entry)}",
        status=400,
        code=code,
        detail=detail,
        errors=[entry],
    )


def _invalid(name: str, msg: str) -> ServerRejectedError:
    """400 ``INVALID_UPDATE`` with a validation error (``ErrBadRoot``, ``ErrBadTargets``...)."""
    return _rejected(
        "INVALID_UPDATE",
        "Update sent by the client is invalid.",
        {"Name": name, "Error": {"Msg": msg}},
    )


def _old_version() -> ServerRejectedError:
    """400 ``VERSION``: a role is not newer than what the server stores."""
    return _rejected("VERSION", "A newer version of metadata is already available.", {})


def _error_name(role: str) -> str:
    if role == ROOT:
        return "ErrBadRoot"
    if role == SNAPSHOT:
        return "ErrBadSnapshot"
    return "ErrBadTargets"


# --------------------------------------------------------------------------- #
# Small helpers
# --------------------------------------------------------------------------- #


def _valid_keyids(md: Metadata[Any], keys: Mapping[str, PublicKey]) -> set[str]:
    """Distinct keys of *keys* (by content ID) with a valid signature on *md*.

    Written here again on purpose, not taken from ``offtrust.model.verify``: the
    fake plays the server, so it must not share a bug with the code under test.
    """
    message = encode_for_verification(md.signed.to_dict())
    valid: set[str] = set()
    for sig in md.iter_signatures():
        key = keys.get(sig.keyid)
        if key is None or key.keyid in valid:
            continue
        if crypto.verify_signature(key, sig.method.lower(), sig.sig_bytes, message):
            valid.add(key.keyid)
    return valid


def _version_of(data: bytes) -> int:
    try:
        return int(json.loads(data)["signed"]["version"])
    except (ValueError, KeyError, TypeError):
        return 0


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _server_sign(signed: Any, key: PrivateKey) -> bytes:
    return sign_metadata(signed, [(key.keyid, key)]).to_bytes()


@dataclass
class _Repo:
    """What the server holds for one GUN."""

    #: Every stored version of each role, oldest first.
    history: dict[str, list[bytes]] = field(default_factory=dict)
    #: Server-held private keys (timestamp, snapshot), by key ID.
    keys: dict[str, PrivateKey] = field(default_factory=dict)
    #: Keys handed out by ``get_server_key`` while the GUN had no root.
    handed_out: dict[str, PrivateKey] = field(default_factory=dict)
    dropped: set[str] = field(default_factory=set)
    replaced: dict[str, bytes] = field(default_factory=dict)
    frozen: bool = False

    def current(self, role: str) -> bytes | None:
        versions = self.history.get(role)
        return versions[-1] if versions else None

    def root(self) -> Metadata[Any] | None:
        data = self.current(ROOT)
        return None if data is None else Metadata.from_bytes(data, ROOT)

    def store(self, role: str, data: bytes) -> None:
        self.history.setdefault(role, []).append(bytes(data))

    def held_key(
        self, root: Metadata[Any], role: str, extra: Mapping[str, PrivateKey] | None = None
    ) -> PrivateKey | None:
        """The server's private key for *role* among those *root* lists, if it has one."""
        entry = root.signed.roles.get(role)
        for keyid in entry.keyids if entry else []:
            key = self.keys.get(keyid) or (extra or {}).get(keyid)
            if key is not None:
                return key
        return None


# --------------------------------------------------------------------------- #
# The fake
# --------------------------------------------------------------------------- #


class FakeNotary:
    """An in-memory notary-server; implements :class:`offtrust.online.api.NotaryAPI`.

    Args:
        now: the server's clock (change :attr:`now` to move it).
        server: the URL it pretends to be, used in messages.

    Attributes:
        now: the time the server signs and checks expiry at.
        publish_calls: every ``publish`` call, ``(gun, files)``, refused ones too.
        delete_calls: every ``delete_trust_data`` call, by GUN.
        requests: every call, as ``"GET gun/root.json"``, ``"POST gun"`` lines.
    """

    def __init__(self, now: datetime | None = None, *, server: str = "https://notary.fake") -> None:
        self.server = server
        self.now = now if now is not None else datetime.now(timezone.utc)
        self.publish_calls: list[tuple[str, dict[str, bytes]]] = []
        self.delete_calls: list[str] = []
        self.requests: list[str] = []
        self.deadlines: list[float] = []
        self._repos: dict[str, _Repo] = {}
        self._fail_next: list[BaseException] = []

    def __repr__(self) -> str:
        return f"FakeNotary({self.server!r})"

    def deadline(self, seconds: float) -> contextlib.AbstractContextManager[None]:
        """Answers are instant here: no deadline to enforce (:class:`NotaryAPI`)."""
        self.deadlines.append(seconds)
        return contextlib.nullcontext()

    # -- set-up and inspection --------------------------------------------- #

    def host(
        self, gun: str, files: Mapping[str, bytes], *, keys: Iterable[PrivateKey] = ()
    ) -> None:
        """Store *files* for *gun* as if published earlier, without any check.

        Args:
            files: role -> bytes; each becomes the newest stored version.
            keys: the server's private timestamp and snapshot keys for the GUN
                (without the timestamp key the fake cannot accept a publish).
        """
        repo = self._repo(check_gun(gun))
        for role in sorted(files, key=_role_order):
            repo.store(_check_role(role), files[role])
        repo.keys.update({key.keyid: key for key in keys})

    def current(self, gun: str, role: str) -> bytes | None:
        """The newest stored version of *role* (knobs do not apply)."""
        repo = self._repos.get(gun)
        return None if repo is None else repo.current(role)

    def versions(self, gun: str, role: str) -> list[bytes]:
        """Every stored version of *role*, oldest first."""
        repo = self._repos.get(gun)
        return list(repo.history.get(role, [])) if repo is not None else []

    # -- knobs ------------------------------------------------------------- #

    def freeze(self, gun: str) -> None:
        """Stop re-signing *gun*'s timestamp on fetch, so an old one expires and is served."""
        self._repo(gun).frozen = True

    def thaw(self, gun: str) -> None:
        self._repo(gun).frozen = False

    def drop(self, gun: str, role: str) -> None:
        """Answer 404 for every request of *role* (current, by hash, by version)."""
        self._repo(gun).dropped.add(role)

    def replace(self, gun: str, role: str, data: bytes) -> None:
        """Serve *data* as *role*'s current version (and by its hash and version)."""
        self._repo(gun).replaced[role] = bytes(data)

    def restore(self, gun: str, role: str) -> None:
        """Undo :meth:`drop` and :meth:`replace` for *role*."""
        repo = self._repo(gun)
        repo.dropped.discard(role)
        repo.replaced.pop(role, None)

    def fail_next_publish(self, error: BaseException) -> None:
        """Make the next ``publish`` raise *error* (after recording it), storing nothing."""
        self._fail_next.append(error)

    def force_update(self, gun: str, files: Mapping[str, bytes]) -> None:
        """Store *files* without any check, as a compromised or broken server would.

        Then sign a snapshot (unless one is in *files*) and a timestamp with the
        server's keys, when the now current root lists keys the server holds,
        so that what it serves is consistent with its own root.
        """
        repo = self._repo(check_gun(gun))
        for role in sorted(files, key=_role_order):
            repo.store(_check_role(role), files[role])
        root = repo.root()
        if root is None:
            return
        if SNAPSHOT not in files and repo.held_key(root, SNAPSHOT) is not None:
            repo.store(SNAPSHOT, self._make_snapshot(repo, root, repo.current))
        snapshot = repo.current(SNAPSHOT)
        held = repo.held_key(root, TIMESTAMP) is not None
        if TIMESTAMP not in files and snapshot is not None and held:
            repo.store(TIMESTAMP, self._make_timestamp(repo, root, snapshot))

    # -- NotaryAPI --------------------------------------------------------- #

    def get_metadata(self, gun: str, role: str) -> bytes | None:
        check_gun(gun)
        _check_role(role)
        self.requests.append(f"GET {gun}/{role}.json")
        repo = self._repos.get(gun)
        if repo is None or role in repo.dropped:
            return None
        if role in repo.replaced:
            return repo.replaced[role]
        if role == TIMESTAMP:
            self._refresh_timestamp(repo)
        return repo.current(role)

    def get_metadata_by_hash(self, gun: str, role: str, sha256_hex: str) -> bytes | None:
        check_gun(gun)
        _check_role(role)
        if not _SHA256_HEX.match(sha256_hex):
            raise UsageError(f"invalid sha256 checksum {sha256_hex!r}")
        self.requests.append(f"GET {gun}/{role}.{sha256_hex}.json")
        for data in self._candidates(gun, role):
            if _sha256(data) == sha256_hex:
                return data
        return None

    def get_metadata_version(self, gun: str, role: str, version: int) -> bytes | None:
        check_gun(gun)
        _check_role(role)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise UsageError(f"invalid metadata version {version!r}")
        self.requests.append(f"GET {gun}/{version}.{role}.json")
        for data in self._candidates(gun, role):
            if _version_of(data) == version:
                return data
        return None

    def get_server_key(self, gun: str, role: str) -> dict[str, Any]:
        check_gun(gun)
        if role not in _SERVER_KEY_ROLES:
            raise UsageError(f"the server only holds timestamp and snapshot keys, not {role!r}")
        self.requests.append(f"GET {gun}/{role}.key")
        repo = self._repo(gun)
        root = repo.root()
        if root is not None:
            listed: dict[str, PublicKey] = root.signed.role_keys(role)
            if not listed:
                raise _rejected("METADATA_NOT_FOUND", "no key for this role", {})
            return next(iter(listed.values())).to_dict()
        key = crypto.generate_private_key("ed25519")
        repo.handed_out[key.keyid] = key
        return key.public_key().to_dict()

    def publish(self, gun: str, files: Mapping[str, bytes]) -> None:
        check_gun(gun)
        if not files:
            raise UsageError(f"nothing to publish for {gun}")
        for role in files:
            _check_role(role)
        self.requests.append(f"POST {gun}")
        self.publish_calls.append((gun, {role: bytes(data) for role, data in files.items()}))
        if self._fail_next:
            raise self._fail_next.pop(0)
        repo = self._repo(gun)
        updates = self._validate(gun, repo, files)
        for role in sorted(updates, key=_role_order):
            repo.store(role, updates[role])
        if ROOT in files:
            # A root the server accepted names the keys it now holds for good.
            root = repo.root()
            assert root is not None
            for role in _SERVER_KEY_ROLES:
                key = repo.held_key(root, role, repo.handed_out)
                if key is not None:
                    repo.keys[key.keyid] = key
            repo.handed_out.clear()

    def delete_trust_data(self, gun: str) -> None:
        """``DELETE /v2/<gun>/_trust/tuf/``: forget everything of *gun* (200 even if absent)."""
        check_gun(gun)
        self.requests.append(f"DELETE {gun}")
        self.delete_calls.append(gun)
        if self._fail_next:
            raise self._fail_next.pop(0)
        self._repos.pop(gun, None)

    # -- serving ----------------------------------------------------------- #

    def _repo(self, gun: str) -> _Repo:
        return self._repos.setdefault(gun, _Repo())

    def _candidates(self, gun: str, role: str) -> list[bytes]:
        repo = self._repos.get(gun)
        if repo is None or role in repo.dropped:
            return []
        out = [repo.replaced[role]] if role in repo.replaced else []
        return out + list(reversed(repo.history.get(role, [])))

    def _refresh_timestamp(self, repo: _Repo) -> None:
        """Re-sign an expired timestamp, as ``GET timestamp.json`` does on the server."""
        current = repo.current(TIMESTAMP)
        snapshot = repo.current(SNAPSHOT)
        root = repo.root()
        if repo.frozen or current is None or snapshot is None or root is None:
            return
        if not Metadata.from_bytes(current, TIMESTAMP).signed.is_expired(self.now):
            return
        if repo.held_key(root, TIMESTAMP) is not None:
            repo.store(TIMESTAMP, self._make_timestamp(repo, root, snapshot))

    # -- signing ----------------------------------------------------------- #

    def _make_snapshot(
        self, repo: _Repo, root: Metadata[Any], lookup: Callable[[str], bytes | None]
    ) -> bytes:
        """Snapshot v(prev+1), 3 years: root, targets and every delegation file."""
        key = repo.held_key(root, SNAPSHOT, repo.handed_out)
        assert key is not None, "the server holds no snapshot key for this GUN"
        meta: dict[str, MetaFile] = {}
        for role in (ROOT, *_targets_roles(lookup)):
            data = lookup(role)
            if data is not None:
                meta[role] = MetaFile.for_bytes(data)
        previous = repo.current(SNAPSHOT)
        snapshot = Snapshot(
            version=(_version_of(previous) if previous else 0) + 1,
            expires=format_go_time(self.now + SNAPSHOT_LIFETIME),
            unrecognized={},
            meta=meta,
        )
        return _server_sign(snapshot, key)

    def _make_timestamp(self, repo: _Repo, root: Metadata[Any], snapshot: bytes) -> bytes:
        """Timestamp v(prev+1), 14 days, recording *snapshot*."""
        key = repo.held_key(root, TIMESTAMP, repo.handed_out)
        if key is None:
            raise AssertionError(
                "FakeNotary does not hold the timestamp key this GUN's root lists: "
                "pass it to host(..., keys=[...])"
            )
        previous = repo.current(TIMESTAMP)
        timestamp = Timestamp(
            version=(_version_of(previous) if previous else 0) + 1,
            expires=format_go_time(self.now + TIMESTAMP_LIFETIME),
            unrecognized={},
            meta={SNAPSHOT: MetaFile.for_bytes(snapshot)},
        )
        return _server_sign(timestamp, key)

    # -- validation (server/handlers/validation.go) ------------------------ #

    def _validate(self, gun: str, repo: _Repo, files: Mapping[str, bytes]) -> dict[str, bytes]:
        """Check an update; return every document to store (with snapshot and timestamp).

        Raises:
            ServerRejectedError: as the real client raises it for the server's 400.
        """
        docs: dict[str, Metadata[Any]] = {}
        for role, data in files.items():
            if role == TIMESTAMP:
                continue  # the server ignores an uploaded timestamp and signs its own
            try:
                json.loads(data)
            except (ValueError, UnicodeDecodeError):
                raise _rejected(
                    "MALFORMED_JSON", "JSON sent by the client could not be parsed", None
                ) from None
            try:
                docs[role] = Metadata.from_bytes(data, role)
            except InvalidMetadataError as e:
                raise _invalid(
                    _error_name(role), f"{role} type metadata invalid: {e.message}"
                ) from None

        def lookup(role: str) -> bytes | None:
            return docs[role].to_bytes() if role in docs else repo.current(role)

        stored_root = repo.root()
        if ROOT in docs:
            self._check_root(gun, repo, docs[ROOT], stored_root)
            root = docs[ROOT]
        elif stored_root is None:
            raise _invalid("ErrValidation", "no pre-existing root and no root provided in update.")
        else:
            root = stored_root

        for role in sorted(docs, key=_role_order):
            if role not in (ROOT, SNAPSHOT):
                self._check_targets(role, docs[role], root, lookup)

        if lookup(TARGETS) is None:
            raise _invalid("ErrBadHierarchy", "no targets was included in the update")
        updates = {role: md.to_bytes() for role, md in docs.items()}
        if SNAPSHOT in docs:
            self._check_snapshot(docs[SNAPSHOT], root, docs, lookup)
        elif repo.held_key(root, SNAPSHOT, repo.handed_out if stored_root is None else None):
            updates[SNAPSHOT] = self._make_snapshot(repo, root, lookup)
        else:
            raise _rejected(
                "INVALID_UPDATE",
                "Update sent by the client is invalid.",
                {
                    "Name": "ErrBadHierarchy",
                    "Missing": "snapshot",
                    "Msg": "no snapshot was included in update and server does not hold "
                    "current snapshot key for repository",
                },
            )

        # Storage: every uploaded role must be newer than every stored version.
        for role, md in docs.items():
            stored = [_version_of(d) for d in repo.history.get(role, [])]
            if stored and md.signed.version <= max(stored):
                raise _old_version()
        updates[TIMESTAMP] = self._make_timestamp(repo, root, updates[SNAPSHOT])
        return updates

    def _check_root(
        self, gun: str, repo: _Repo, new: Metadata[Any], stored: Metadata[Any] | None
    ) -> None:
        root = new.signed
        current = stored.signed.version if stored is not None else 0
        if root.version not in (current, current + 1):
            raise _invalid(
                "ErrBadRoot",
                "Root modifications must increment the version. "
                f"Current {current}, new {root.version}",
            )
        for name in BASE_ROLES:
            entry = root.roles.get(name)
            if entry is None or entry.threshold < 1 or not entry.keyids:
                raise _invalid("ErrBadRoot", f"root is missing a valid {name} role")
            if any(k not in root.keys for k in entry.keyids):
                raise _invalid("ErrBadRoot", f"root lists an unknown key for {name}")
        if any(key.keyid != keyid for keyid, key in root.keys.items()):
            raise _invalid("ErrBadRoot", "key ID is not valid for key content")
        for key in root.role_keys(ROOT).values():
            problem = self._certificate_problem(gun, key)
            if problem:
                raise _invalid(
                    "ErrBadRoot", f"unable to retrieve valid leaf certificates: {problem}"
                )
        if root.is_expired(self.now):
            raise _invalid("ErrBadRoot", f"root expired at {root.expires}")
        if stored is not None:
            valid = _valid_keyids(new, stored.signed.role_keys(ROOT))
            if len(valid) < stored.signed.threshold(ROOT):
                raise _invalid(
                    "ErrBadRoot",
                    "rotation detected and new root was not signed with at least "
                    f"{stored.signed.threshold(ROOT)} old keys",
                )
        if len(_valid_keyids(new, root.role_keys(ROOT))) < root.threshold(ROOT):
            raise _invalid("ErrBadRoot", "valid signatures did not meet threshold for root")
        # The timestamp key must be one the server holds (a new GUN: one it handed out).
        extra = repo.handed_out if stored is None else None
        if repo.held_key(new, TIMESTAMP, extra) is None:
            changed = stored is None or (
                stored.signed.roles[TIMESTAMP].keyids != root.roles[TIMESTAMP].keyids
            )
            if changed:
                raise _invalid("ErrBadRoot", "the root's timestamp key is not the server's")

    def _certificate_problem(self, gun: str, key: PublicKey) -> str | None:
        if not key.is_x509:
            return f"root key {key.keyid[:12]} is not a certificate"
        try:
            info = crypto.certificate_info(key)
        except Exception as e:  # noqa: BLE001 - any unreadable certificate is refused
            return str(e)
        cn = info.common_name or ""
        if cn != gun and not (cn.endswith("*") and gun.startswith(cn[:-1])):
            return f"certificate is for {cn!r}"
        if info.not_after <= self.now or info.not_before > self.now + timedelta(days=1):
            return "certificate is not valid now"
        if info.leaf_count != 1 or info.is_ca:
            return "not exactly one leaf certificate"
        return None

    def _check_targets(
        self,
        role: str,
        md: Metadata[Any],
        root: Metadata[Any],
        lookup: Callable[[str], bytes | None],
    ) -> None:
        if role == TARGETS:
            keys = root.signed.role_keys(TARGETS)
            threshold = root.signed.threshold(TARGETS)
        else:
            parent = parent_of(role)
            parent_data = lookup(parent)
            entry = None
            if parent_data is not None:
                parent_md = Metadata.from_bytes(parent_data, parent)
                entry = parent_md.signed.delegations.get(role)
            if parent_data is None or entry is None:
                raise _invalid("ErrBadTargets", f"{role} is not delegated by {parent}")
            keys = parent_md.signed.delegations.role_keys(entry)
            threshold = entry.threshold
        delegations = md.signed.delegations
        for entry in delegations.roles:
            if not is_delegation(entry.name) or parent_of(entry.name) != role:
                raise _invalid(
                    "ErrBadTargets",
                    f"{role} type metadata invalid: delegation role {entry.name} invalid",
                )
            if entry.threshold < 1:
                raise _invalid(
                    "ErrBadTargets",
                    f"{role} type metadata invalid: invalid threshold specified for "
                    f"{entry.name}: {entry.threshold} ",
                )
            for keyid in entry.key_ids:
                if keyid not in delegations.keys:
                    raise _invalid(
                        "ErrBadTargets",
                        f"{role} type metadata invalid: key ID {keyid} specified in "
                        f"{entry.name} without corresponding key",
                    )
        if any(key.keyid != keyid for keyid, key in delegations.keys.items()):
            raise _invalid("ErrBadTargets", "key ID is not valid for key content")
        if not md.signatures:
            raise _invalid("ErrBadTargets", "tuf: data has no signatures")
        if len(_valid_keyids(md, keys)) < threshold:
            raise _invalid("ErrBadTargets", f"valid signatures did not meet threshold for {role}")
        if md.signed.is_expired(self.now):
            raise _invalid("ErrBadTargets", f"{role} expired at {md.signed.expires}")

    def _check_snapshot(
        self,
        md: Metadata[Any],
        root: Metadata[Any],
        docs: Mapping[str, Metadata[Any]],
        lookup: Callable[[str], bytes | None],
    ) -> None:
        if len(_valid_keyids(md, root.signed.role_keys(SNAPSHOT))) < root.signed.threshold(
            SNAPSHOT
        ):
            raise _invalid("ErrBadSnapshot", "valid signatures did not meet threshold for snapshot")
        if md.signed.is_expired(self.now):
            raise _invalid("ErrBadSnapshot", f"snapshot expired at {md.signed.expires}")
        meta = md.signed.meta
        for role in (ROOT, TARGETS):
            if "sha256" not in getattr(meta.get(role), "hashes", {}):
                raise _invalid(
                    "ErrBadSnapshot",
                    f"snapshot type metadata invalid: missing {role} sha256 checksum information",
                )
        for role in {ROOT, TARGETS, *docs} - {SNAPSHOT}:
            data = lookup(role)
            entry = meta.get(role)
            if data is None:
                continue
            if entry is None or entry.mismatch(data) is not None:
                expected = entry.hashes.get("sha256", "") if entry else ""
                raise _invalid(
                    "ErrBadSnapshot",
                    f"sha256 checksum for {role} did not match: expected {expected}",
                )


def _check_role(role: str) -> str:
    if not is_valid_role(role):
        raise UsageError(f"invalid role name {role!r}")
    return role


def _role_order(role: str) -> tuple[int, int, str]:
    """Root, then targets and delegations by depth, then snapshot and timestamp."""
    rank = {ROOT: 0, SNAPSHOT: 2, TIMESTAMP: 3}.get(role, 1)
    return rank, role.count("/"), role


def _targets_roles(lookup: Callable[[str], bytes | None]) -> list[str]:
    """``targets`` and every delegation reachable from it that has a document."""
    if lookup(TARGETS) is None:
        return []
    out = [TARGETS]
    queue = deque([TARGETS])
    while queue:
        parent = queue.popleft()
        data = lookup(parent)
        if data is None:
            continue
        for entry in Metadata.from_bytes(data, parent).signed.delegations.roles:
            name = entry.name
            if name in out or parent_of(name) != parent or lookup(name) is None:
                continue
            out.append(name)
            queue.append(name)
    return out


def _is_a_notary_api(fake: FakeNotary) -> NotaryAPI:
    return fake  # mypy checks here that FakeNotary implements the interface


# -- serving test repositories ------------------------------------------------------------


def signed_by(signed: Any, *keys: tuple[str, PrivateKey]) -> bytes:
    """*signed* signed with *keys* ((key ID, private key) pairs), as bytes."""
    data: bytes = sign_metadata(signed, list(keys)).to_bytes()
    return data


def host(
    fake: FakeNotary,
    gun: str = "example.com/hosted",
    *,
    delegations: tuple[str, ...] = ("targets/releases",),
    expired: tuple[str, ...] = (),
    with_files: bool = True,
) -> RepoBuilder:
    """Make *fake* serve a RepoBuilder repository (server-held timestamp and snapshot keys).

    Every delegation holds one tag, ``v1`` (or has no document, without
    *with_files*); those in *expired* expired a day ago.
    """
    from builders import EXAMPLE_NOW, RepoBuilder, delegation_key

    repo = RepoBuilder(gun=gun, now=EXAMPLE_NOW)
    for n, name in enumerate(delegations, start=1):
        repo.add_delegation(name, [delegation_key(n)], with_file=with_files)
        if with_files:
            repo.add_target(name, "v1")
    for name in expired:
        repo.expire(name, EXAMPLE_NOW - timedelta(days=1))
    state = repo.build()
    fake.host(
        gun,
        {role: md.to_bytes() for role, md in state.roles.items()},
        keys=[repo.keys[TIMESTAMP], repo.keys[SNAPSHOT]],
    )
    return repo
