"""Per-GUN metadata: the published state, the staged layer over it, and writes.

Reads keep the exact bytes of every file (hashes and bundles use them); writes
go only to the staged layer, never to ``tuf/<gun>/metadata/`` (except
:meth:`RepoStore.write_published`, used by ``fetch``).

Everything goes through :mod:`offtrust.store._fs`: no link below the trust
directory is followed, only regular files and directories are touched, reads
are bounded. A GUN's ``metadata`` directory is one generation: a write builds
the whole new directory aside (the files it changes plus copies of the others,
and for the staged layer its ``state.json``) and switches it in with one
rename, so a kill at any moment leaves the old or the new state, never a mix.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offtrust.errors import (
    InvalidMetadataError,
    NotFoundError,
    OfftrustError,
    StoreError,
    UnreadableInputError,
)
from offtrust.model.metadata import ROOT, SNAPSHOT, TARGETS, TIMESTAMP, Metadata
from offtrust.model.repository import RepoState
from offtrust.model.roles import is_delegation
from offtrust.store import _fs
from offtrust.store.layout import (
    OFFTRUST,
    SERVER,
    STAGED,
    TUF,
    TrustDir,
    check_role_path,
    gun_parts,
)
from offtrust.store.lock import forget_under, open_under

#: One durability barrier for the edits of many GUNs (see :class:`offtrust.store._fs.Barrier`).
Barrier = _fs.Barrier

_FIXED = (ROOT, TARGETS, SNAPSHOT, TIMESTAMP)
#: The staged state, inside the staged generation (``staged/<gun>/metadata/``).
STATE_FILE = "state.json"
#: A staged deletion of the GUN on the server (``repo delete``), next to the
#: staged generation: ``staged/<gun>/deletion.json``. A directory holding only
#: it is not a GUN (no ``metadata``), so a deleted GUN is gone from every listing.
DELETION_FILE = "deletion.json"
#: Which staged state ``stage`` last packed for each GUN, and into which bundle
#: (for ``doctor``): ``offtrust/bundled.json``, ``{"guns": {GUN: {"bundle_sha256":
#: ..., "staged": fingerprint}}}``.
BUNDLED_INDEX = "bundled.json"
#: Where earlier offtrust kept each GUN's record: ``staged/<gun>/bundled.json``
#: (removed wherever the staged layer changes).
BUNDLED_FILE = "bundled.json"


def schema_kind(role: str) -> str:
    return role if role in (ROOT, SNAPSHOT, TIMESTAMP) else TARGETS


def read_metadata_file(path: Path, role: str, source: str) -> Metadata[Any]:
    """Read (at most :data:`~offtrust.store._fs.METADATA_LIMIT` bytes of a regular
    file), schema-check and parse one metadata file, keeping its bytes.

    Raises:
        UnreadableInputError: the file cannot be read.
        InvalidMetadataError: malformed JSON, schema or model violation.
    """
    try:
        parent = _fs.open_root(path.parent)
        data = None
        if parent is not None:
            with parent:
                data = parent.read(path.name, _fs.METADATA_LIMIT)
    except StoreError as e:
        raise UnreadableInputError(f"{source}: cannot read: {e.message}") from e
    if data is None:
        raise UnreadableInputError(f"{source}: cannot read: No such file or directory")
    return parse_metadata(data, role, source)


#: From this size on, the garbage collector pauses while a document is parsed.
GC_PAUSE_BYTES = 1 << 20


def parse_metadata(data: bytes, role: str, source: str) -> Metadata[Any]:
    """Schema-check and parse metadata bytes of *role*.

    A large document (100,000 targets) makes hundreds of thousands of objects
    that all stay alive: the collector would walk them again and again while
    they are made (half the parse time), and at every later collection of the
    command. So it is paused while they are made, and they are then frozen
    (``gc.freeze``: kept out of later collections) -- they live until the
    command ends anyway.

    Raises:
        InvalidMetadataError: malformed JSON, schema or model violation.
    """
    if len(data) < GC_PAUSE_BYTES or not gc.isenabled():
        return _parse_metadata(data, role, source)
    gc.disable()
    try:
        return _parse_metadata(data, role, source)
    finally:
        gc.enable()
        gc.freeze()


def _parse_metadata(data: bytes, role: str, source: str) -> Metadata[Any]:
    from offtrust.schema import parse_and_validate

    parsed = parse_and_validate(schema_kind(role), data, source=source)
    try:
        md = Metadata.from_dict(parsed, role, owned=True)
    except InvalidMetadataError as e:
        raise InvalidMetadataError(f"{source}: {e}") from e
    md.raw = data
    md.keep_parsed_signed(parsed["signed"])
    return md


@dataclass
class StagedInfo:
    """What ``state.json`` records for a GUN's staged edits.

    ``base``: the published versions the edits were built on; ``edits``: one
    human line each (``status``); ``ops``: the edits as replayable operations
    (one small dict per edit command, see :mod:`offtrust.ops.rebase`), or None
    when some edit has none (written by offtrust before ``rebase``, or by a
    command that records none): such a GUN cannot be rebased.
    """

    base: dict[str, int]
    edits: list[str]
    new_gun: bool = False
    ops: list[dict[str, Any]] | None = field(default_factory=list)

    def add_ops(self, ops: list[dict[str, Any]]) -> None:
        """Record the operations of one edit; an edit without any makes the GUN unreplayable."""
        if self.ops is None:
            return
        if not ops:
            self.ops = None
            return
        self.ops.extend(dict(op) for op in ops)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "base": dict(sorted(self.base.items())),
            "edits": list(self.edits),
            "new_gun": self.new_gun,
        }
        if self.ops:  # none recorded (or None): read back as unreplayable
            out["ops"] = [dict(op) for op in self.ops]
        return out


@dataclass(frozen=True)
class StagedDeletion:
    """A deletion of a GUN on the server, staged by ``repo delete``.

    ``base``: the published versions the deletion was decided on;
    ``trusted_root``: the bytes of the published root then, which ``publish``
    requires the server to serve before it deletes anything.
    """

    base: dict[str, int]
    trusted_root: bytes

    def to_bytes(self) -> bytes:
        doc = {
            "base": dict(sorted(self.base.items())),
            "trusted_root": base64.b64encode(self.trusted_root).decode("ascii"),
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> StagedDeletion:
        """Raises: ValueError, TypeError, AttributeError, KeyError, RecursionError: malformed."""
        parsed = json.loads(data)
        root = base64.b64decode(str(parsed["trusted_root"]), validate=True)
        base = {str(k): int(v) for k, v in dict(parsed["base"]).items()}
        if not root or ROOT not in base:
            raise ValueError("no trusted root")
        return cls(base=base, trusted_root=root)


@dataclass
class StagedWrite:
    """One :meth:`RepoStore.write_staged` a worker process recorded instead of doing it."""

    trust: TrustDir
    gun: str
    documents: dict[str, bytes]
    info: StagedInfo
    remove: tuple[str, ...]

    def replay(self) -> None:
        """Do it, in the main process (same checks, same one-rename switch).

        Raises:
            StoreError: nothing was written.
        """
        RepoStore(self.trust).write_staged(self.gun, self.documents, self.info, self.remove)


#: In a worker process (:mod:`offtrust.store.workers`): the staged writes it
#: recorded, for the main process to replay; None elsewhere.
_recorded: list[StagedWrite] | None = None


@contextlib.contextmanager
def recording() -> Iterator[list[StagedWrite]]:
    """Record :meth:`RepoStore.write_staged` calls instead of writing (worker processes).

    A GUN read again after its staged layer was written (its bytes would be
    the old ones here) is left to the main process (``NeedsMainProcess``).
    """
    global _recorded
    outer, _recorded = _recorded, []
    try:
        yield _recorded
    finally:
        _recorded = outer


class RepoStore:
    """Metadata of the GUNs in one trust directory."""

    def __init__(self, trust: TrustDir) -> None:
        self.trust = trust
        self._bundled: dict[str, dict[str, str]] | None = None
        # Within :meth:`remembering` only: GUN -> the retire rule's answer;
        # (directory, path) -> what :meth:`_read` read; directory -> its files.
        self._retired_memo: dict[str, bool] | None = None
        self._reads: dict[tuple[str, str], tuple[bytes, str] | None] | None = None
        self._listings: dict[str, list[str]] | None = None

    @contextlib.contextmanager
    def remembering(self) -> Iterator[RepoStore]:
        """Within the block, read each file and list each generation once.

        ``stage`` packing a GUN works out its retire rule (which reads both
        layers), its staged files, state and deletion, loads it and takes its
        fingerprint: each file is read from disk once, and each GUN's retire
        rule worked out once. For read-only work under the lock: nothing may
        change the staged or published layers meanwhile. A write through this
        store forgets all of it, to be safe.
        """
        outer = self._retired_memo, self._reads, self._listings
        self._retired_memo, self._reads, self._listings = {}, {}, {}
        try:
            yield self
        finally:
            self._retired_memo, self._reads, self._listings = outer

    def _retired(self, gun: str, published: _fs.Dir | None, staged: _fs.Dir) -> bool:
        """:func:`_is_published` on *gun*'s open generations (once in :meth:`remembering`)."""
        memo = self._retired_memo
        if memo is None:
            return _is_published(self, published, staged)
        if gun not in memo:
            memo[gun] = _is_published(self, published, staged)
        return memo[gun]

    def _forget(self) -> None:
        """A layer is about to change: nothing worked out about it holds any more."""
        for memo in (self._retired_memo, self._reads, self._listings):
            if memo:
                memo.clear()

    # -- opening ------------------------------------------------------------

    @contextlib.contextmanager
    def _gun_dir(
        self, base: tuple[str, ...], gun: str, *, create: bool = False
    ) -> Iterator[_fs.Dir | None]:
        """The directory of *gun* under *base* (None when missing), every component checked."""
        with open_under(self.trust, (*base, *gun_parts(gun)), create=create) as directory:
            yield directory

    @contextlib.contextmanager
    def _generation(self, base: tuple[str, ...], gun: str) -> Iterator[_fs.Dir | None]:
        """The committed metadata directory of *gun* under *base*, or None."""
        if _recorded and base == STAGED and any(w.gun == gun for w in _recorded):
            from offtrust.errors import NeedsMainProcess

            raise NeedsMainProcess(f"{gun} is read again after its staged write")
        with self._gun_dir(base, gun) as parent:
            generation = None if parent is None else _fs.open_generation(parent)
        if generation is None:
            yield None
            return
        with generation:
            yield generation

    def _read(self, directory: _fs.Dir, relpath: str) -> tuple[bytes, str] | None:
        """The bytes and the printable path of file *relpath* in *directory*, or None.

        Read once within :meth:`remembering` (an error is not kept: it is
        raised again).
        """
        memo = self._reads
        if memo is None:
            return _read_file(directory, relpath)
        key = (directory.label, relpath)  # the directory's path in the trust directory
        if key not in memo:
            memo[key] = _read_file(directory, relpath)
        return memo[key]

    def _listing(self, generation: _fs.Dir) -> list[str]:
        """The relative path of every regular file in *generation* (listed once within
        :meth:`remembering`).

        Raises:
            UnreadableInputError: a link or special file is among them.
        """
        memo = self._listings
        if memo is not None and generation.label in memo:
            return memo[generation.label]
        rels = [rel for rel, _, _ in generation.files()]
        if memo is not None:
            memo[generation.label] = rels
        return rels

    def _read_role(self, generation: _fs.Dir | None, role: str) -> Metadata[Any] | None:
        if generation is None:
            return None
        found = self._read(generation, check_role_path(role) + ".json")
        if found is None:
            return None
        data, source = found
        return parse_metadata(data, role, source)

    def has_gun(self, gun: str) -> bool:
        """*gun* has published or staged metadata."""
        with self._generation(TUF, gun) as published, self._generation(STAGED, gun) as staged:
            return published is not None or staged is not None

    def has_published(self, gun: str) -> bool:
        """*gun* has published metadata (also while a ``fetch`` killed midway is not recovered).

        Raises:
            UnreadableInputError: its directory is a link or not a directory.
        """
        with self._generation(TUF, gun) as published:
            return published is not None

    def load(self, gun: str, *, staged: bool = True) -> RepoState:
        """Load a GUN: published documents, with staged ones over them.

        Raises:
            NotFoundError: the GUN has neither published nor staged metadata.
            InvalidMetadataError, UnreadableInputError: a file is broken, a
                link, a special file or too large.
        """
        gun_parts(gun)
        with contextlib.ExitStack() as stack:
            pub_dir = stack.enter_context(self._generation(TUF, gun))
            stg_dir = stack.enter_context(self._generation(STAGED, gun)) if staged else None
            if stg_dir is not None and self._retired(gun, pub_dir, stg_dir):
                stg_dir = None  # retired: every staged file is on the published side
            if pub_dir is None and stg_dir is None:
                raise NotFoundError(
                    f"no trust data for {gun} in {self.trust.path}",
                    hint=self._unknown_gun_hint(gun),
                )
            return self._load(gun, pub_dir, stg_dir)

    def _unknown_gun_hint(self, gun: str) -> str:
        """Did you mean one of the GUNs present? Else how to get this one."""
        import difflib

        try:
            present = self.trust.all_guns()
        except OfftrustError:
            present = []
        close = difflib.get_close_matches(gun, present, n=3, cutoff=0.6)
        if close:
            return "did you mean " + " or ".join(close) + "?"
        return f"check --trust-dir, or run `offtrust fetch {gun} --server URL`"

    def _load(self, gun: str, pub_dir: _fs.Dir | None, stg_dir: _fs.Dir | None) -> RepoState:
        return self._merge(
            gun,
            lambda role: self._read_role(pub_dir, role),
            lambda role: self._read_role(stg_dir, role),
        )

    @staticmethod
    def _merge(
        gun: str,
        read_published: Callable[[str], Metadata[Any] | None],
        read_staged: Callable[[str], Metadata[Any] | None],
    ) -> RepoState:
        """The published documents of *gun* with the staged ones over them."""
        state = RepoState(gun=gun)

        def take(role: str) -> None:
            pub = read_published(role)
            stg = read_staged(role)
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

    def metadata_documents(self) -> Iterator[bytes]:
        """The bytes of every metadata file of every GUN, published and staged.

        Best effort (for labels): links, special files and unreadable files are
        skipped, never followed or waited on.
        """
        for base, guns in ((TUF, self.trust.published_guns()), (STAGED, self.trust.staged_guns())):
            for gun in guns:
                try:
                    with self._generation(base, gun) as generation:
                        if generation is None:
                            continue
                        for rel, directory, leaf in generation.files(strict=False):
                            if not rel.endswith(".json") or rel == STATE_FILE:
                                continue
                            with contextlib.suppress(StoreError):
                                data = directory.read(leaf, _fs.METADATA_LIMIT)
                                if data is not None:
                                    yield data
                except StoreError:
                    continue

    # -- staged layer ---------------------------------------------------

    def staged_info(self, gun: str) -> StagedInfo | None:
        """What the staged edits of *gun* were built on, or None when nothing is staged.

        A staged layer that is all on the published side (see
        :meth:`staged_published`) counts as nothing staged.

        Raises:
            InvalidMetadataError: the state file is broken.
            UnreadableInputError: it is a link, a special file or too large.
        """
        found: tuple[bytes, str] | None = None
        with self._gun_dir(STAGED, gun) as parent:
            generation = None if parent is None else _fs.open_generation(parent)
            if parent is None or generation is None:
                return None
            with generation, self._generation(TUF, gun) as published:
                if self._retired(gun, published, generation):
                    return None
                found = self._read(generation, STATE_FILE)
            if found is None:
                # Written by offtrust before 0.2, next to the generation.
                found = self._read(parent, STATE_FILE)
        if found is None:
            return None
        data, where = found
        try:
            return parse_staged_info(data)
        except (ValueError, TypeError, AttributeError, RecursionError) as e:
            raise InvalidMetadataError(
                f"{where}: unreadable staged state: {_fs.show(str(e))}"
            ) from e

    def staged_files(self, gun: str) -> dict[str, Path]:
        """Role name → path of every staged metadata file of *gun* (none once all published).

        Raises:
            UnreadableInputError: a link or special file is among them.
        """
        out: dict[str, Path] = {}
        with self._generation(STAGED, gun) as generation:
            if generation is None:
                return out
            with self._generation(TUF, gun) as published:
                if self._retired(gun, published, generation):
                    return out
            # The metadata directory, or the .old+ an interrupted switch left.
            directory = self.trust.path / generation.label
            for rel in self._listing(generation):
                if (
                    rel == STATE_FILE
                    or not rel.endswith(".json")
                    or rel.rpartition("/")[2].startswith(".")
                ):
                    continue
                out[rel[: -len(".json")]] = directory / rel
        return dict(sorted(out.items()))

    def staged_published(self, gun: str) -> bool:
        """Every staged file of *gun* is on the published side: the edits reached the server.

        The retire rule: each staged document is byte for byte the published
        one, except the snapshot, which also counts once the published snapshot
        is at its version or past it (a later publisher signed a newer one).
        A staged layer with a document the published side lacks or holds in
        other bytes (not yet published, or the server moved on: a conflict for
        ``rebase``) is not published. Readers (``status``, ``stage``,
        ``inspect``, ``diff``, edits) treat a published staged layer as absent;
        writers drop it (:meth:`retire`).

        Raises:
            UnreadableInputError: a link or special file is in the way.
        """
        with self._generation(STAGED, gun) as staged:
            if staged is None:
                return False
            with self._generation(TUF, gun) as published:
                return self._retired(gun, published, staged)

    def retire(self, gun: str) -> bool:
        """Drop the staged layer of *gun* when it is all published (one rename); True if it was.

        Raises:
            UnreadableInputError: a link or special file is in the way (nothing is changed).
            StoreError: the staged generation cannot be removed.
        """
        return self.staged_published(gun) and self.reset(gun)

    def write_staged(
        self,
        gun: str,
        documents: dict[str, bytes],
        info: StagedInfo,
        remove: list[str] | tuple[str, ...] = (),
    ) -> None:
        """Write staged documents and the staged state in one all-or-nothing step.

        The new staged generation (these documents, the staged files kept, the
        state) is written aside and switched in with one rename.

        Raises:
            StoreError: nothing was written.
        """
        if _recorded is not None:
            _recorded.append(StagedWrite(self.trust, gun, dict(documents), info, tuple(remove)))
            return
        files = {check_role_path(role) + ".json": data for role, data in documents.items()}
        dropped = {check_role_path(role) + ".json" for role in remove}
        files[STATE_FILE] = _state_bytes(info)
        # A staged layer the published side already holds is retired: start afresh.
        kept = not self.staged_published(gun)
        self._commit(
            STAGED, gun, files, keep=lambda rel: kept and rel.endswith(".json"), drop=dropped
        )

    def replace_staged(self, gun: str, documents: dict[str, bytes], info: StagedInfo) -> None:
        """Make *documents* (and *info*) the whole staged layer of *gun*, in one rename.

        Nothing of the current staged layer is kept (``rebase``).

        Raises:
            StoreError: nothing was written.
        """
        files = {check_role_path(role) + ".json": data for role, data in documents.items()}
        files[STATE_FILE] = _state_bytes(info)
        self._commit(STAGED, gun, files, keep=lambda rel: False)

    def _commit(
        self,
        base: tuple[str, ...],
        gun: str,
        files: dict[str, bytes],
        *,
        keep: Callable[[str], bool],
        drop: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        """Switch in a new generation of *gun* under *base*: *files* over the kept current ones."""
        self._forget()
        try:
            with self._gun_dir(base, gun, create=True) as parent:
                assert parent is not None
                current = _fs.current_generation(parent)
                with _fs.Generation(parent) as generation:
                    if current is not None:
                        old = parent.open_dir(current)
                        assert old is not None
                        with old:
                            for rel, directory, leaf in old.files():
                                if rel in files or rel in drop or not keep(rel):
                                    continue
                                data = directory.read(leaf, _fs.METADATA_LIMIT)
                                if data is not None:
                                    generation.put(rel, data)
                    for rel, data in sorted(files.items()):
                        generation.put(rel, data)
                    # Under an _fs.Barrier (a batch) the switch, and what follows
                    # it, happen at the barrier's flush.
                    generation.commit(
                        _after_staged if base == STAGED else None,
                        (lambda: self._prune(gun)) if base == STAGED else None,
                    )
        except BaseException:
            if base == STAGED:
                self._prune(gun)
            raise

    def _prune(self, gun: str) -> None:
        """Best effort: remove the now-empty directories of *gun* up to ``offtrust/staged``."""
        self._prune_under(STAGED, gun)

    def reset(self, gun: str) -> bool:
        """Drop every staged edit of *gun* (never those of GUNs nested in it).

        Returns False when there was none.

        Raises:
            UnreadableInputError: a link or special file is in the way (nothing is changed).
            StoreError: the staged generation cannot be removed.
        """
        self._forget()
        with self._gun_dir(STAGED, gun) as parent:
            if parent is None:
                return False
            dropped = _fs.retire(parent)
            # A staged deletion is dropped too (``reset`` undoes ``repo delete``'s
            # staging; the local data it removed comes back with ``fetch``).
            for name in (STATE_FILE, DELETION_FILE):
                if parent.kind(name) == _fs.FILE:
                    parent.remove_file(name)
                    dropped = True
            if parent.kind(BUNDLED_FILE) == _fs.FILE:
                parent.remove_file(BUNDLED_FILE)
        self._prune(gun)
        return dropped

    # -- staged deletions (``repo delete``) -------------------------------

    def deletion(self, gun: str) -> StagedDeletion | None:
        """The staged deletion of *gun*, or None.

        Raises:
            InvalidMetadataError: the record is broken.
            UnreadableInputError: it is a link, a special file or too large.
        """
        with self._gun_dir(STAGED, gun) as parent:
            found = None if parent is None else self._read(parent, DELETION_FILE)
        if found is None:
            return None
        data, where = found
        try:
            return StagedDeletion.from_bytes(data)
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as e:
            raise InvalidMetadataError(
                f"{where}: unreadable staged deletion: {_fs.show(str(e))}",
                hint=f"`offtrust reset {gun}` drops it",
            ) from e

    def stage_deletion(self, gun: str, deletion: StagedDeletion) -> None:
        """Record a staged deletion of *gun* (one atomic file write).

        Raises:
            StoreError: nothing was written.
        """
        self._forget()
        with self._gun_dir(STAGED, gun, create=True) as parent:
            assert parent is not None
            parent.write(DELETION_FILE, deletion.to_bytes())

    def deleted_guns(self) -> list[str]:
        """Every GUN with a staged deletion (links and unreadable parts skipped)."""
        return self.staged_and_deleted_guns()[1]

    def staged_and_deleted_guns(self) -> tuple[list[str], list[str]]:
        """The GUNs with a staged generation, and those with a staged deletion (one walk)."""
        return self.trust.staged_guns_marked(DELETION_FILE)

    def remove_published(self, gun: str) -> bool:
        """Remove the published cache of *gun* (``tuf/<gun>/metadata`` in one rename,
        then its ``changelist``), as ``notary delete`` does, and the server keys
        ``fetch`` recorded for it (:meth:`remove_server_keys`). GUNs nested
        below it are kept.

        Returns:
            False when there was no published cache.

        Raises:
            UnreadableInputError: a link or special file is in the way (nothing
                is changed).
            StoreError: it cannot be removed.
        """
        self._forget()
        with self._gun_dir(TUF, gun) as parent:
            if parent is None:
                return False
            if parent.kind("changelist") == _fs.DIR:
                parent.check_tree("changelist")
            removed = _fs.retire(parent)
            if parent.kind("changelist") == _fs.DIR:
                parent.remove_tree("changelist")
        self._prune_under(TUF, gun)
        self.remove_server_keys(gun)
        return removed

    def remove_server_keys(self, gun: str) -> None:
        """Forget the server keys ``fetch`` recorded for *gun* (to initialise it offline).

        Raises:
            UnreadableInputError: a link or special file is in the way.
            StoreError: a file cannot be removed.
        """
        with self._gun_dir(SERVER, gun) as directory:
            if directory is not None:
                for role in (TIMESTAMP, SNAPSHOT):
                    if directory.kind(_server_key_file(role)) == _fs.FILE:
                        directory.remove_file(_server_key_file(role))
        self._prune_under(SERVER, gun)

    def _prune_under(self, base: tuple[str, ...], gun: str) -> None:
        """Best effort: remove the now-empty directories of *gun* under *base*."""
        parts = gun_parts(gun)
        try:
            with contextlib.suppress(StoreError):
                for depth in range(len(parts), 0, -1):
                    # Kept open by the lock (see open_under): forgotten below, once removed.
                    with open_under(self.trust, (*base, *parts[: depth - 1])) as parent:
                        if parent is None:
                            continue
                        name = parts[depth - 1]
                        # A level already gone is passed; one still holding something ends it.
                        if parent.lstat(name) is not None and not parent.remove_if_empty(name):
                            return
        finally:
            # No descriptor of a removed directory may be used again (a write
            # through it would land nowhere): the next open starts from the base.
            forget_under(self.trust, (*base, *parts[:1]))

    # -- what ``stage`` packed (for ``doctor``) ---------------------------

    def staged_fingerprint(self, gun: str, *, packed: bool = False) -> str | None:
        """A digest of *gun*'s whole staged state (edits or deletion), or None when none.

        *packed*: ``stage`` just packed this state, so it is not all published.

        Raises:
            UnreadableInputError: a link or special file is in the way.
        """
        digest = hashlib.sha256()
        seen = False
        with self._gun_dir(STAGED, gun) as parent:
            if parent is None:
                return None
            deletion = self._read(parent, DELETION_FILE)
            if deletion is not None:
                digest.update(b"deletion\0" + deletion[0])
                seen = True
        if not packed and not seen and not self.staged_files(gun):
            return None
        with self._generation(STAGED, gun) as generation:
            if generation is not None:
                for rel in self._listing(generation):
                    found = self._read(generation, rel)
                    content = b"" if found is None else found[0]
                    digest.update(f"{rel}\0{len(content)}\0".encode() + content)
                    seen = True
        return digest.hexdigest() if seen else None

    def record_bundled(self, bundle_sha256: str, fingerprints: dict[str, str | None]) -> None:
        """Record that each GUN's staged state (*fingerprints*) went into bundle *bundle_sha256*.

        *fingerprints*: each GUN's :meth:`staged_fingerprint`, taken as
        ``stage`` packed it (under the same lock); a GUN with None is not
        recorded. One file, ``offtrust/bundled.json``, holds every GUN's
        record: what other GUNs were packed into is kept while they are staged.

        Raises:
            StoreError: it cannot be written.
        """
        records = {
            gun: record
            for gun, record in self._bundled_index().items()
            if gun not in fingerprints and self._is_staged_dir(gun)
        }
        for gun, fingerprint in fingerprints.items():
            if fingerprint is not None:
                records[gun] = {"bundle_sha256": bundle_sha256, "staged": fingerprint}
        data = (json.dumps({"guns": records}, sort_keys=True) + "\n").encode()
        with open_under(self.trust, (OFFTRUST,), create=True) as parent:
            assert parent is not None
            # ``stage`` holds only a reader's lock, so no recovery ran: the
            # temporary file of a record killed midway is dropped here.
            for name, kind in parent.entries():
                if kind == _fs.FILE and name.startswith(_fs.TEMP_PREFIX):
                    with contextlib.suppress(StoreError):
                        parent.remove_file(name)
            # Advisory (doctor's "not yet published"): lost in a crash, doctor
            # merely says "staged, not bundled" again; so no fsync.
            parent.write(BUNDLED_INDEX, data, sync=False)
        self._bundled = records

    def _is_staged_dir(self, gun: str) -> bool:
        try:
            with self._gun_dir(STAGED, gun) as parent:
                return parent is not None
        except OfftrustError:
            return False

    def _bundled_index(self) -> dict[str, dict[str, str]]:
        """The records of ``offtrust/bundled.json`` (read once); empty when missing or broken."""
        if self._bundled is None:
            records: dict[str, dict[str, str]] = {}
            try:
                with open_under(self.trust, (OFFTRUST,)) as parent:
                    data = (
                        None if parent is None else parent.read(BUNDLED_INDEX, _fs.METADATA_LIMIT)
                    )
                guns = json.loads(data)["guns"] if data is not None else {}
                for gun, record in guns.items():
                    if isinstance(record.get("bundle_sha256"), str) and isinstance(
                        record.get("staged"), str
                    ):
                        records[gun] = {
                            "bundle_sha256": record["bundle_sha256"],
                            "staged": record["staged"],
                        }
            except (OfftrustError, ValueError, TypeError, AttributeError, KeyError, RecursionError):
                records = {}
            self._bundled = records
        return self._bundled

    def bundled(self, gun: str) -> str | None:
        """The sha256 of the bundle the current staged state of *gun* went into, or None.

        None too when the staged state changed since it was packed.
        """
        record = self._bundled_index().get(gun)
        if record is None:
            return None
        try:
            if record["staged"] != self.staged_fingerprint(gun):
                return None
        except OfftrustError:
            return None
        return record["bundle_sha256"]

    def write_published(self, gun: str, documents: dict[str, bytes]) -> None:
        """Store metadata fetched from the server as the new published state.

        The other files of ``tuf/<gun>/metadata`` stay, as notary keeps them.

        Raises:
            StoreError: nothing was written.
        """
        files = {check_role_path(role) + ".json": data for role, data in documents.items()}
        self._commit(TUF, gun, files, keep=lambda rel: True)


def _after_staged(parent: _fs.Dir) -> None:
    """Once a new staged generation is in: drop what described the previous one."""
    # The state file of offtrust before 0.2: the generation has its own now.
    with contextlib.suppress(StoreError):
        parent.remove_file(STATE_FILE)
    # What ``stage`` packed is no longer the staged state.
    with contextlib.suppress(StoreError):
        parent.remove_file(BUNDLED_FILE)


def _state_bytes(info: StagedInfo) -> bytes:
    return (json.dumps(info.to_dict(), indent=2, sort_keys=True) + "\n").encode()


def parse_staged_info(data: bytes) -> StagedInfo:
    """A ``state.json``; one without ``ops`` (offtrust before ``rebase``) has ``ops`` None.

    Raises:
        ValueError, TypeError, AttributeError, RecursionError: it is malformed.
    """
    parsed = json.loads(data)
    ops = parsed.get("ops")
    if ops is not None:
        if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
            raise TypeError("ops must be a list of objects")
        ops = [dict(op) for op in ops]
    return StagedInfo(
        base={str(k): int(v) for k, v in parsed.get("base", {}).items()},
        edits=[str(e) for e in parsed.get("edits", [])],
        new_gun=bool(parsed.get("new_gun", False)),
        ops=ops,
    )


def _signed_version(data: bytes) -> int | None:
    try:
        version = json.loads(data)["signed"]["version"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def _read_file(directory: _fs.Dir, relpath: str) -> tuple[bytes, str] | None:
    """The bytes and the printable path of file *relpath* in *directory*, or None."""
    head, _, leaf = relpath.rpartition("/")
    if not head:
        data = directory.read(leaf, _fs.METADATA_LIMIT)
        return None if data is None else (data, directory.where(leaf))
    below = directory.walk(head.split("/"))
    if below is None:
        return None
    with below:
        data = below.read(leaf, _fs.METADATA_LIMIT)
        return None if data is None else (data, below.where(leaf))


def _is_published(store: RepoStore, published: _fs.Dir | None, staged: _fs.Dir) -> bool:
    """The retire rule (see :meth:`RepoStore.staged_published`) on open generations."""
    if published is None:
        return False
    seen = False
    for rel in store._listing(staged):
        if rel == STATE_FILE or not rel.endswith(".json") or rel.rpartition("/")[2].startswith("."):
            continue
        mine = store._read(staged, rel)
        found = store._read(published, rel)
        if mine is None or found is None:
            return False
        data = mine[0]
        if found[0] != data:
            if rel != SNAPSHOT + ".json":
                return False
            ours, theirs = _signed_version(data), _signed_version(found[0])
            if ours is None or theirs is None or theirs < ours:
                return False
        seen = True
    return seen


class ScratchRepoStore(RepoStore):
    """A :class:`RepoStore` whose staged layer of one GUN lives in memory, over an empty one.

    ``rebase`` replays edits into it through the ordinary operations (every
    edit writes its staged layer here, not to disk), then :meth:`commit`
    switches the result in with one rename: a failure or a kill midway
    changes nothing on disk.
    """

    def __init__(self, trust: TrustDir, gun: str) -> None:
        super().__init__(trust)
        self.gun = gun
        self.documents: dict[str, bytes] = {}
        self.info: StagedInfo | None = None

    def _read_memory(self, role: str) -> Metadata[Any] | None:
        data = self.documents.get(role)
        if data is None:
            return None
        return parse_metadata(data, role, f"staged (rebase):{self.gun}/{role}.json")

    def load(self, gun: str, *, staged: bool = True) -> RepoState:
        if gun != self.gun or not staged:
            return super().load(gun, staged=staged)
        with self._generation(TUF, gun) as published:
            if published is None and not self.documents:
                return super().load(gun, staged=False)  # raises NotFoundError
            return self._merge(
                gun,
                lambda role: self._read_role(published, role),
                self._read_memory,
            )

    def has_gun(self, gun: str) -> bool:
        if gun == self.gun and self.documents:
            return True
        return self.has_published(gun) if gun == self.gun else super().has_gun(gun)

    def staged_info(self, gun: str) -> StagedInfo | None:
        if gun != self.gun:
            return super().staged_info(gun)
        return None if self.info is None else parse_staged_info(_state_bytes(self.info))

    def staged_files(self, gun: str) -> dict[str, Path]:
        if gun != self.gun:
            return super().staged_files(gun)
        where = self.trust.path / "(rebase)"
        return {role: where / f"{role}.json" for role in sorted(self.documents)}

    def staged_published(self, gun: str) -> bool:
        return False if gun == self.gun else super().staged_published(gun)

    def write_staged(
        self,
        gun: str,
        documents: dict[str, bytes],
        info: StagedInfo,
        remove: list[str] | tuple[str, ...] = (),
    ) -> None:
        if gun != self.gun:
            raise StoreError(f"rebase of {self.gun} cannot stage edits of {gun}")
        for role in remove:
            check_role_path(role)
            self.documents.pop(role, None)
        for role, data in documents.items():
            check_role_path(role)
            self.documents[role] = data
        self.info = parse_staged_info(_state_bytes(info))

    def reset(self, gun: str) -> bool:
        if gun != self.gun:
            raise StoreError(f"rebase of {self.gun} cannot reset {gun}")
        had = bool(self.documents)
        self.documents, self.info = {}, None
        return had

    def commit(self) -> None:
        """Switch the replayed staged layer in (or drop the staged layer when it is empty).

        Raises:
            StoreError: nothing was changed.
        """
        if not self.documents or self.info is None:
            RepoStore(self.trust).reset(self.gun)
            return
        RepoStore(self.trust).replace_staged(self.gun, self.documents, self.info)


def read_server_keys(trust: TrustDir, gun: str) -> dict[str, dict[str, Any]]:
    """The timestamp and snapshot keys ``fetch`` recorded for a GUN the server did not know.

    Both or none: a single one (a ``fetch`` killed between the two files) is
    not a record, and the next ``fetch`` records both again.

    Raises:
        InvalidMetadataError: a recorded key file is broken.
        UnreadableInputError: it is a link, a special file or too large.
    """
    out: dict[str, dict[str, Any]] = {}
    with RepoStore(trust)._gun_dir(SERVER, gun) as directory:
        if directory is None:
            return out
        for role in (TIMESTAMP, SNAPSHOT):
            name = _server_key_file(role)
            data = directory.read(name, _fs.KEY_LIMIT)
            if data is None:
                return {}
            try:
                key = json.loads(data)
            except (ValueError, RecursionError) as e:
                raise InvalidMetadataError(
                    f"{directory.where(name)}: unreadable: {_fs.show(str(e))}"
                ) from e
            if not isinstance(key, dict):
                raise InvalidMetadataError(f"{directory.where(name)}: not a key")
            out[role] = key
    return out


def write_server_keys(trust: TrustDir, gun: str, keys: dict[str, dict[str, Any]]) -> None:
    """Record server-held public keys (kept once: the server hands out new ones each time).

    Raises:
        StoreError: a file cannot be written (see :func:`read_server_keys`).
    """
    with RepoStore(trust)._gun_dir(SERVER, gun, create=True) as directory:
        assert directory is not None
        for role, key in sorted(keys.items()):
            data = (json.dumps(key, sort_keys=True) + "\n").encode()
            directory.write(_server_key_file(role), data)


def _server_key_file(role: str) -> str:
    return f"{role}.key.json"
