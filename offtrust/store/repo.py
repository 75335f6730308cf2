"""Per-GUN metadata: the published state, the staged layer over it, and writes.

Reads keep the exact bytes of every file (hashes and bundles use them); writes
go only to the staged layer, atomically, never to ``tuf/<gun>/metadata/``
(except :meth:`RepoStore.write_published`, used by ``fetch``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offtrust.errors import InvalidMetadataError, NotFoundError, StoreError, UnreadableInputError
from offtrust.model.metadata import ROOT, SNAPSHOT, TARGETS, TIMESTAMP, Metadata
from offtrust.model.repository import RepoState
from offtrust.model.roles import is_delegation
from offtrust.store._atomic import remove_files, write_many
from offtrust.store.layout import TrustDir, check_gun

_FIXED = (ROOT, TARGETS, SNAPSHOT, TIMESTAMP)
STATE_FILE = "state.json"


def schema_kind(role: str) -> str:
    return role if role in (ROOT, SNAPSHOT, TIMESTAMP) else TARGETS


def read_metadata_file(path: Path, role: str, source: str) -> Metadata[Any]:
    """Read, schema-check and parse one metadata file, keeping its bytes.

    Raises:
        UnreadableInputError: the file cannot be read.
        InvalidMetadataError: malformed JSON, schema or model violation.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UnreadableInputError(f"{source}: cannot read: {e.strerror or e}") from e
    return parse_metadata(data, role, source)


def parse_metadata(data: bytes, role: str, source: str) -> Metadata[Any]:
    """Schema-check and parse metadata bytes of *role*.

    Raises:
        InvalidMetadataError: malformed JSON, schema or model violation.
    """
    from offtrust.schema import parse_and_validate

    parsed = parse_and_validate(schema_kind(role), data, source=source)
    try:
        md = Metadata.from_dict(parsed, role)
    except InvalidMetadataError as e:
        raise InvalidMetadataError(f"{source}: {e}") from e
    md.raw = data
    return md


@dataclass
class StagedInfo:
    """What ``state.json`` records for a GUN's staged edits."""

    base: dict[str, int]
    edits: list[str]
    new_gun: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": dict(sorted(self.base.items())),
            "edits": list(self.edits),
            "new_gun": self.new_gun,
        }


class RepoStore:
    """Metadata of the GUNs in one trust directory."""

    def __init__(self, trust: TrustDir) -> None:
        self.trust = trust

    def has_gun(self, gun: str) -> bool:
        return self.trust.published_dir(gun).is_dir() or self.trust.staged_dir(gun).is_dir()

    def _read_role(self, directory: Path, role: str) -> Metadata[Any] | None:
        path = TrustDir.role_file(directory, role)
        if not path.is_file():
            return None
        return read_metadata_file(path, role, self.trust.relative(path))

    def load(self, gun: str, *, staged: bool = True) -> RepoState:
        """Load a GUN: published documents, with staged ones over them.

        Raises:
            NotFoundError: the GUN has neither published nor staged metadata.
            InvalidMetadataError, UnreadableInputError: a file is broken.
        """
        check_gun(gun)
        pub_dir = self.trust.published_dir(gun)
        stg_dir = self.trust.staged_dir(gun)
        has_staged = staged and stg_dir.is_dir()
        if not pub_dir.is_dir() and not has_staged:
            raise NotFoundError(
                f"no trust data for {gun} in {self.trust.path}",
                hint=f"check --trust-dir, or run `offtrust fetch {gun} --server URL`",
            )
        state = RepoState(gun=gun)

        def take(role: str) -> None:
            pub = self._read_role(pub_dir, role) if pub_dir.is_dir() else None
            stg = self._read_role(stg_dir, role) if has_staged else None
            if pub is not None:
                state.published[role] = pub
            if stg is not None:
                state.roles[role] = stg
                state.staged.add(role)
                state.sources[role] = "staged"
            elif pub is not None:
                state.roles[role] = pub
                state.sources[role] = "published"

        for role in _FIXED:
            take(role)
        # Walk the delegation tree breadth-first so only roles some parent
        # lists are read (notary's cache keeps files of deleted delegations).
        seen: set[str] = set()
        progress = True
        while progress:
            progress = False
            for _, entry in list(state.walk_delegations()):
                if entry.name in seen or not is_delegation(entry.name):
                    continue
                seen.add(entry.name)
                take(entry.name)
                progress = True
        return state

    # -- staged layer ---------------------------------------------------

    def staged_info(self, gun: str) -> StagedInfo | None:
        path = self.trust.staged_root(gun) / STATE_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_bytes())
            return StagedInfo(
                base={str(k): int(v) for k, v in data.get("base", {}).items()},
                edits=[str(e) for e in data.get("edits", [])],
                new_gun=bool(data.get("new_gun", False)),
            )
        except (OSError, ValueError, TypeError, AttributeError) as e:
            raise InvalidMetadataError(
                f"{self.trust.relative(path)}: unreadable staged state: {e}"
            ) from e

    def staged_files(self, gun: str) -> dict[str, Path]:
        """Role name → path of every staged metadata file of *gun*."""
        directory = self.trust.staged_dir(gun)
        out: dict[str, Path] = {}
        if not directory.is_dir():
            return out
        for path in sorted(directory.rglob("*.json")):
            if path.name.startswith("."):
                continue
            out[path.relative_to(directory).as_posix()[: -len(".json")]] = path
        return out

    def write_staged(
        self,
        gun: str,
        documents: dict[str, bytes],
        info: StagedInfo,
        remove: list[str] | tuple[str, ...] = (),
    ) -> None:
        """Write staged documents and the staged state in one all-or-nothing step.

        Raises:
            StoreError: nothing was written.
        """
        directory = self.trust.staged_dir(gun)
        files = {TrustDir.role_file(directory, role): data for role, data in documents.items()}
        files[self.trust.staged_root(gun) / STATE_FILE] = (
            json.dumps(info.to_dict(), indent=2, sort_keys=True) + "\n"
        ).encode()
        write_many(files)
        remove_files(TrustDir.role_file(directory, role) for role in remove)

    def reset(self, gun: str) -> bool:
        """Drop every staged edit of *gun*. Returns False when there was none.

        Raises:
            StoreError: the staged directory cannot be removed.
        """
        root = self.trust.staged_root(gun)
        if not root.exists():
            return False
        try:
            shutil.rmtree(root)
        except OSError as e:
            raise StoreError(f"cannot remove {root}: {e.strerror or e}") from e
        # Remove now-empty parents (nested GUNs) up to offtrust/staged.
        parent = root.parent
        stop = self.trust.offtrust / "staged"
        while parent != stop and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
        return True

    def write_published(self, gun: str, documents: dict[str, bytes]) -> None:
        """Store metadata fetched from the server as the new published state.

        Raises:
            StoreError: nothing was written.
        """
        directory = self.trust.published_dir(gun)
        write_many({TrustDir.role_file(directory, r): d for r, d in documents.items()})


def _server_key_path(trust: TrustDir, gun: str, role: str) -> Path:
    return trust.server_keys_dir(gun) / f"{role}.key.json"


def read_server_keys(trust: TrustDir, gun: str) -> dict[str, dict[str, Any]]:
    """The timestamp and snapshot keys ``fetch`` recorded for a GUN the server did not know.

    Raises:
        InvalidMetadataError: a recorded key file is broken.
    """
    out: dict[str, dict[str, Any]] = {}
    for role in (TIMESTAMP, SNAPSHOT):
        path = _server_key_path(trust, gun, role)
        if path.is_file():
            try:
                out[role] = json.loads(path.read_bytes())
            except (OSError, ValueError) as e:
                raise InvalidMetadataError(f"{trust.relative(path)}: unreadable: {e}") from e
    return out


def write_server_keys(trust: TrustDir, gun: str, keys: dict[str, dict[str, Any]]) -> None:
    """Record server-held public keys (kept once: the server hands out new ones each time).

    Raises:
        StoreError: nothing was written.
    """
    write_many(
        {
            _server_key_path(trust, gun, role): (json.dumps(key, sort_keys=True) + "\n").encode()
            for role, key in keys.items()
        }
    )
