"""Private keys in ``<trust>/private``: the flat layout and the two legacy ones.

Listing reads only PEM headers (like ``notary key list``), so a key that
cannot be decrypted still lists. Keys are written as notary writes them:
``private/<keyid>.key``, mode 0600, atomically, named by the canonical key ID.

The legacy layouts (notary before 0.4) are read exactly as notary 0.7 sees
them once it has migrated them (``storage/filestore.go`` ``migrateTo0Dot4``),
but offtrust never changes them (notary rewrites and deletes them):

- notary 0.1: ``private/root_keys/<id>_root.key`` and
  ``private/tuf_keys/<gun>/<id>_<role>.key``, no headers;
- notary 0.3: ``private/root_keys/<id>.key`` and
  ``private/tuf_keys/[<gun>/]<id>.key`` with ``role:`` (and ``gun:``) headers.

Every regular ``*.key`` file below ``root_keys/`` or ``tuf_keys/`` counts. Its
key ID is the name less ``.key`` and less a ``_<role>`` suffix; that role
replaces the ``role`` header, and the directory below ``root_keys/`` or
``tuf_keys/``, when there is one, replaces the ``gun`` header. Files are
migrated ``root_keys/`` first, then ``tuf_keys/``, each in ``filepath.Walk``
order, each one replacing ``private/<id>.key``: so for one key ID the last
legacy file with a PEM block wins, over the flat file too. A file whose
block is not a private key notary reads is not listed.

Everything goes through :mod:`offtrust.store._fs`: a link, FIFO or device
named like a key is skipped by listings and refused by reads, never followed
or waited on, and no key file is read past :data:`~offtrust.store._fs.KEY_LIMIT`.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from offtrust.errors import (
    InvalidKeyError,
    NotFoundError,
    StoreError,
    UnreadableInputError,
    UsageError,
)
from offtrust.store import _fs
from offtrust.store._record import FrozenRecord
from offtrust.store.layout import PRIVATE, TrustDir
from offtrust.store.lock import holding, open_under

if TYPE_CHECKING:
    from offtrust.crypto import PemBlock, PrivateKey


class PassphraseSource(Protocol):
    """Where the key store gets passphrases (see :class:`offtrust.passphrase.Passphrases`)."""

    def __call__(self, role: str, keyid: str, attempt: int) -> str:
        """Passphrase number *attempt* (from 0) for an existing key.

        Raises when it has no further passphrase to offer.
        """

    def new(self, role: str, keyid: str) -> str:
        """The passphrase for a new key (asked twice on a terminal)."""


_KEYID = re.compile(r"^[0-9a-f]{64}$")
_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n")
#: A legacy file: key ID, then (notary 0.1) ``_<role>``, where notary takes the
#: role as the second ``_``-separated field and strips ``_<role>`` from the end.
_LEGACY = re.compile(r"^([0-9a-f]{64})(?:_([^_]*))?\.key$")
_LEGACY_DIRS = ("root_keys", "tuf_keys")
#: PEM types ``notary key list`` lists (``tuf/utils/x509.go`` ``extractPrivateKeyAttributes``).
_KEY_TYPES = frozenset(
    {
        "ENCRYPTED PRIVATE KEY",
        "PRIVATE KEY",
        "EC PRIVATE KEY",
        "RSA PRIVATE KEY",
        "ED25519 PRIVATE KEY",
    }
)
_BASE_WITH_GUN = ("targets", "snapshot", "timestamp")


#: The base of a key whose location is relative to nothing given.
_NO_BASE = Path()


class KeyInfo(FrozenRecord):
    """What the headers of one private key file say.

    *location* is the file's path relative to the trust directory *base*;
    :attr:`path` is made from them only when asked for (a listing of 20,000
    keys needs no path objects). Immutable, compared and hashed by all its
    fields (a :class:`FrozenRecord`, not a dataclass: ``key list`` starts
    without importing ``dataclasses``).
    """

    FIELDS = ("keyid", "role", "gun", "location", "encrypted", "pem_type", "legacy", "base")
    SHOWN = FIELDS[:-1]

    keyid: str
    role: str
    gun: str
    location: str
    encrypted: bool
    pem_type: str
    legacy: bool
    base: Path

    def __init__(
        self,
        keyid: str,
        role: str,
        gun: str,
        location: str,
        encrypted: bool,
        pem_type: str,
        legacy: bool = False,
        base: Path = _NO_BASE,
    ) -> None:
        self._set(keyid, role, gun, location, encrypted, pem_type, legacy, base)

    @functools.cached_property
    def path(self) -> Path:
        """The key file (the trust directory as given on the command line, joined)."""
        return self.base / self.location

    def to_dict(self) -> dict[str, Any]:
        return {
            "keyid": self.keyid,
            "role": self.role,
            "gun": self.gun,
            "location": self.location,
            "encrypted": self.encrypted,
            "pem_type": self.pem_type,
            "legacy_layout": self.legacy,
        }


def read_pem_headers(data: bytes) -> tuple[str, dict[str, str]]:
    """The type and headers of the first PEM block, without decoding it.

    Raises:
        InvalidKeyError: no PEM block.
    """
    text = data.decode("ascii", errors="replace")
    m = _PEM_BEGIN.search(text)
    if not m:
        raise InvalidKeyError("not a PEM file")
    headers: dict[str, str] = {}
    start = m.end()
    # The headers end at the first line with no colon at the latest, so the
    # lines before the first empty one are enough (a key file has ~10 lines).
    blank = text.find("\n\n", start)
    for line in (text[start:blank] if blank >= 0 else text[start:]).splitlines():
        if ":" not in line or line.startswith("-----"):
            break
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return m.group(1), headers


#: One key of :meth:`KeyStore.rows`: role, GUN, key ID, location, encrypted,
#: PEM type, legacy layout.
KeyRow = tuple[str, str, str, str, bool, str, bool]

#: The bytes of a PEM type (``_PEM_BEGIN``'s group).
_TYPE_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
#: Header bytes read by :func:`_key_fields` itself: printable ASCII, tab and
#: ``\\n`` (not ``\\r``, ``\\x0b``, ``\\x0c`` or ``\\x1c``-``\\x1f``, where
#: ``str.splitlines`` and ``str.strip`` differ from their ``bytes`` counterparts,
#: nor anything that is not ASCII).
_PLAIN_BYTES = bytes(range(0x20, 0x7F)) + b"\t\n"
#: The longest type line and header block :func:`_key_fields` remembers.
_MEMO_HEAD = 512
#: From this many flat key files on, ``key list`` reads half of them in a worker process.
PARALLEL_KEY_FILES = 4000
#: What :func:`_key_fields` answers: PEM type, role header, gun header, encrypted.
KeyFields = tuple[str, str, str, bool]


def _key_fields(data: bytes, memo: dict[bytes, KeyFields] | None = None) -> KeyFields | None:
    """(PEM type, ``role`` header, ``gun`` header, encrypted) of a key file, or None without PEM.

    Exactly what :func:`read_pem_headers` and :func:`_is_encrypted` say, on
    the bytes: a file that starts with a ``-----BEGIN TYPE-----\\n`` line and
    whose header lines are plain ASCII is read here; any other takes
    :func:`read_pem_headers` itself. With *memo*, files that start with
    the same type line and header lines (most do) are read once.
    """
    if memo is not None:
        # A head seen before was read (and checked) when it was first memoised.
        blank = data.find(b"\n\n")
        known = memo.get(data[:blank] if blank >= 0 else data)
        if known is not None:
            return known
    if data.startswith(b"-----BEGIN "):
        end = data.find(b"-----\n", 11)
        pem_type_bytes = data[11:end] if end > 11 else b""
        if pem_type_bytes and not pem_type_bytes.translate(None, _TYPE_BYTES):
            start = end + 6
            blank = data.find(b"\n\n", start)
            # Everything the answer depends on: the type line and the header block.
            head = data[:blank] if blank >= 0 else data
            if memo is not None and len(head) <= _MEMO_HEAD:
                known = memo.get(head)
                if known is None:
                    known = memo[head] = _key_fields(data)  # type: ignore[assignment]
                return known
            block = data[start:blank] if blank >= 0 else data[start:]
            if not block.translate(None, _PLAIN_BYTES):
                headers: dict[bytes, bytes] = {}
                for line in block.split(b"\n"):
                    if b":" not in line or line.startswith(b"-----"):
                        break
                    name, _, value = line.partition(b":")
                    headers[name.strip()] = value.strip()
                pem_type = pem_type_bytes.decode("ascii")
                return (
                    pem_type,
                    headers.get(b"role", b"").decode("ascii"),
                    headers.get(b"gun", b"").decode("ascii"),
                    pem_type == "ENCRYPTED PRIVATE KEY"
                    or b"ENCRYPTED" in headers.get(b"Proc-Type", b""),
                )
    try:
        pem_type, text_headers = read_pem_headers(data)
    except InvalidKeyError:
        return None
    return (
        pem_type,
        text_headers.get("role", ""),
        text_headers.get("gun", ""),
        _is_encrypted(pem_type, text_headers),
    )


def _has_pem(data: bytes) -> bool:
    try:
        read_pem_headers(data)
    except InvalidKeyError:
        return False
    return True


def _is_encrypted(pem_type: str, headers: dict[str, str]) -> bool:
    return pem_type == "ENCRYPTED PRIVATE KEY" or "ENCRYPTED" in headers.get("Proc-Type", "")


class KeyStore:
    def __init__(self, trust: TrustDir) -> None:
        self.trust = trust
        # (holding of the lock, whether private/ has legacy key directories):
        # see :meth:`_has_legacy_dirs`.
        self._legacy_dirs: tuple[object, bool] | None = None

    @contextlib.contextmanager
    def _dir(self, parts: Sequence[str] = (), *, create: bool = False) -> Iterator[_fs.Dir | None]:
        """``private/<parts>``, every component checked, or None when missing."""
        with open_under(self.trust, (*PRIVATE, *parts), create=create) as directory:
            yield directory

    def _parts(self, path: Path) -> tuple[tuple[str, ...], str]:
        """The directory below ``private/`` and the name of a key file's *path*."""
        rel = path.relative_to(self.trust.private)
        return rel.parts[:-1], rel.name

    def _read(self, path: Path) -> bytes | None:
        """The bytes of key file *path* (at most 1 MiB), or None when it is missing.

        Raises:
            UnreadableInputError: a link, a special file, too large, or unreadable.
        """
        parts, name = self._parts(path)
        with self._dir(parts) as directory:
            return None if directory is None else directory.read(name, _fs.KEY_LIMIT)

    # -- listing --------------------------------------------------------

    def _info_of(
        self,
        data: bytes,
        path: Path,
        keyid: str,
        role: str | None,
        gun: str | None,
        legacy: bool,
    ) -> KeyInfo | None:
        """What one key file says; *role* and *gun*, when not None, replace its headers.

        None for a file with no PEM block, or a legacy one whose block is not a private key.
        """
        try:
            pem_type, headers = read_pem_headers(data)
        except InvalidKeyError:
            return None
        if legacy and pem_type not in _KEY_TYPES:
            # As notary after migrating; a flat file is still listed (and
            # refused by name when it is used).
            return None
        # Names from a file's headers or path are shown on terminals: printable only.
        return KeyInfo(
            keyid=keyid,
            role=_fs.show(headers.get("role", "") if role is None else role),
            gun=_fs.show(headers.get("gun", "") if gun is None else gun),
            location=self.trust.relative(path),
            encrypted=_is_encrypted(pem_type, headers),
            pem_type=pem_type,
            legacy=legacy,
            base=self.trust.path,
        )

    @functools.cached_property
    def _flat_prefix(self) -> str:
        """The location of ``private/`` files, less their name (``private/``)."""
        return self.trust.relative(self.trust.private) + "/"

    def _key_files(
        self, keyid: str | None = None, *, flat: bool = True, read: bool = False
    ) -> list[tuple[Path, str, bool, bytes | None]]:
        """(path, key ID, legacy, bytes) of every regular file named like a key, in all layouts.

        The flat files come first, then the legacy ones in the order notary
        migrates them (``root_keys/``, then ``tuf_keys/``, each walked in
        name order, depth first). Links, FIFOs and devices are skipped: never
        followed, never opened. With *keyid*, only the legacy files of that
        key; without *flat*, no files of the flat layout. With *read*,
        each file's bytes (None for one that cannot be read or is over the limit).
        """
        out: list[tuple[Path, str, bool, bytes | None]] = []
        private = self.trust.private

        def take(directory: _fs.Dir, name: str, path: Path, keyid: str, legacy: bool) -> None:
            data = None
            if read:
                with contextlib.suppress(StoreError):
                    data = directory.read(name, _fs.KEY_LIMIT)
            out.append((path, keyid, legacy, data))

        try:
            with self._dir() as top:
                if top is None:
                    return out
                for name, kind in top.entries() if flat else ():
                    keyid = name[: -len(".key")]
                    if kind == _fs.FILE and name.endswith(".key") and _KEYID.match(keyid):
                        take(top, name, private / name, keyid, False)
                for sub in _LEGACY_DIRS:
                    if top.kind(sub) != _fs.DIR:
                        continue
                    with contextlib.suppress(StoreError):
                        found = top.open_dir(sub)
                        if found is None:
                            continue
                        with found:
                            for rel, directory, leaf in found.files(strict=False):
                                m = _LEGACY.match(leaf)
                                if m and (keyid is None or m.group(1) == keyid):
                                    take(directory, leaf, private / sub / rel, m.group(1), True)
        except StoreError:
            return out
        return out

    def _winner(self, candidates: Sequence[tuple[Path, bool, bytes | None]]) -> KeyInfo | None:
        """The key notary 0.7 sees for one key ID, from its files in migration order.

        *candidates* are (path, legacy, bytes), the flat file first, then the
        legacy ones in the order notary migrates them. Migration writes every
        legacy file with a PEM block over ``private/<id>.key``, so the last
        such one wins, else the flat file. None when the winner's block is not
        a private key notary reads (notary lists nothing then either).
        """
        found = self._winning(candidates)
        return None if found is None else found[0]

    def _winning(
        self, candidates: Sequence[tuple[Path, bool, bytes | None]]
    ) -> tuple[KeyInfo, bytes] | None:
        """:meth:`_winner`, with the bytes of the winning file."""
        flat = [c for c in candidates if not c[1]]
        legacy = [c for c in candidates if c[1]]
        for path, is_legacy, data in [*reversed(legacy), *flat]:
            if data is None or not _has_pem(data):
                continue
            keyid = self._keyid_of(path, is_legacy)
            role, gun = self._legacy_names(path) if is_legacy else (None, None)
            info = self._info_of(data, path, keyid, role, gun, is_legacy)
            return None if info is None else (info, data)
        return None

    def _keyid_of(self, path: Path, legacy: bool) -> str:
        if legacy:
            m = _LEGACY.match(path.name)
            assert m is not None
            return m.group(1)
        return path.name[: -len(".key")]

    def list(self) -> list[KeyInfo]:
        """Every private key, in all layouts, sorted by role, GUN and key ID (see the module).

        :meth:`rows`, as :class:`KeyInfo` objects.
        """
        base = self.trust.path
        return [
            KeyInfo(
                keyid=keyid,
                role=role,
                gun=gun,
                location=location,
                encrypted=encrypted,
                pem_type=pem_type,
                legacy=legacy,
                base=base,
            )
            for role, gun, keyid, location, encrypted, pem_type, legacy in self.rows()
        ]

    def rows(self) -> builtins.list[KeyRow]:
        """:meth:`list` as tuples (role, GUN, key ID, location, encrypted, PEM type, legacy).

        Sorted by role, GUN and key ID (a key ID is listed once). Only the PEM
        headers are parsed, each file is read once, with four system calls,
        and no path or other object is made per key: ``key list`` on 20,000
        keys must beat ``notary key list``. Key IDs that also have legacy
        files go through :meth:`_winner`, as :meth:`find` does.
        """
        out: list[KeyRow] = []
        names: list[str] = []
        legacy: dict[str, list[tuple[Path, bool, bytes | None]]] = {}
        try:
            with self._dir() as top:
                if top is None:
                    return out
                match = _KEYID.match
                legacy_dirs = False
                for name, kind in top.scan():
                    if kind == _fs.FILE:
                        if name.endswith(".key") and match(name[:-4]):
                            names.append(name)
                    elif name in _LEGACY_DIRS and kind == _fs.DIR:
                        legacy_dirs = True
                if legacy_dirs:
                    for path, keyid, _, data in self._key_files(read=True, flat=False):
                        legacy.setdefault(keyid, []).append((path, True, data))
                out = self._flat_rows(top, names, legacy)
        except UnreadableInputError:
            if self._private_refused():
                raise  # private/ itself is a link or a special file: say so, not "no keys"
            return out
        except StoreError:
            return out
        for info in map(self._winner, legacy.values()):
            if info is not None:
                out.append(
                    (
                        info.role,
                        info.gun,
                        info.keyid,
                        info.location,
                        info.encrypted,
                        info.pem_type,
                        info.legacy,
                    )
                )
        # By role, GUN and key ID (unique): as one string, which sorts faster
        # than the tuples. The names are printable, so they hold no NUL.
        out.sort(key=lambda row: f"{row[0]}\0{row[1]}\0{row[2]}")
        return out

    def _private_refused(self) -> bool:
        """``private/`` is there but is not a directory (a link, a file, a FIFO)."""
        try:
            with open_under(self.trust, ()) as root:
                return root is not None and root.refusal(PRIVATE[-1], _fs.DIR) is not None
        except StoreError:
            return False

    def _flat_rows(
        self,
        top: _fs.Dir,
        names: builtins.list[str],
        legacy: dict[str, builtins.list[tuple[Path, bool, bytes | None]]],
    ) -> builtins.list[KeyRow]:
        """The rows of the flat key files *names* in *top*, unsorted (see :meth:`rows`).

        A key ID that also has legacy files is not listed here: its flat file's
        bytes join *legacy* (first, as :meth:`_winner` expects). From
        :data:`PARALLEL_KEY_FILES` files on, with no legacy ones, a worker
        process reads the second half meanwhile (:mod:`offtrust.store.workers`):
        opening and reading 20,000 small files is mostly system time, which
        two CPUs share.
        """
        if not legacy and len(names) >= PARALLEL_KEY_FILES:
            from offtrust.store import workers  # imported only for that many files

            if workers.worker_count(len(names)):
                half = len(names) // 2
                rest = names[half:]
                with workers.Rehearsal(
                    [rest], lambda part: self._read_rows(top, part), 1
                ) as other:
                    rows = self._read_rows(top, names[:half])
                    kind, answer = other.answer(0)
                return rows + (answer if kind == "ok" else self._read_rows(top, rest))
        return self._read_rows(top, names, legacy)

    def _read_rows(
        self,
        top: _fs.Dir,
        names: builtins.list[str],
        legacy: dict[str, builtins.list[tuple[Path, bool, bytes | None]]] | None = None,
    ) -> builtins.list[KeyRow]:
        out: list[KeyRow] = []
        datas = top.read_all_listed(names, _fs.KEY_LIMIT)
        prefix = self._flat_prefix
        show = _fs.show
        add = out.append
        memo: dict[bytes, KeyFields] = {}
        for name, data in zip(names, datas, strict=True):
            keyid = name[:-4]
            if legacy and keyid in legacy:
                legacy[keyid].insert(0, (self.trust.private / name, False, data))
            elif data is not None:
                fields = _key_fields(data, memo)
                if fields is not None:
                    pem_type, role, gun, encrypted = fields
                    # Names from a file's headers are shown on terminals: printable only.
                    if not role.isprintable():
                        role = show(role)
                    if not gun.isprintable():
                        gun = show(gun)
                    add((role, gun, keyid, prefix + name, encrypted, pem_type, False))
        return out

    def find(self, keyid: str) -> KeyInfo:
        """The key with this ID, or a unique prefix of it (at least 4 characters).

        A key in a legacy layout is found as notary 0.7 finds it once
        migrated (see the module): the file it reads and the role and GUN it
        gives the key.

        Raises:
            NotFoundError: no such key, or the prefix is ambiguous.
        """
        return self._find(keyid)[0]

    def _find(self, keyid: str) -> tuple[KeyInfo, bytes | None]:
        """:meth:`find`, with the bytes of the file it names when it read them (else None)."""
        # A full ID is looked up by path: listing reads every key file, which
        # is slow with thousands of keys and runs once per key to sign with.
        if _KEYID.match(keyid):
            found = self._winning(self._candidates(keyid, read=True))
            if found is not None:
                return found
        keys = self.list()
        exact = [k for k in keys if k.keyid == keyid]
        if exact:
            return exact[0], None
        matches = [k for k in keys if len(keyid) >= 4 and k.keyid.startswith(keyid)]
        if len(matches) == 1:
            return matches[0], None
        if matches:
            raise NotFoundError(f"key ID prefix {keyid!r} is ambiguous ({len(matches)} keys)")
        raise NotFoundError(
            f"no private key {keyid!r} in {self.trust.relative(self.trust.private)}",
            hint="`offtrust key list` shows the local keys",
        )

    def _legacy_names(self, path: Path) -> tuple[str | None, str | None]:
        """The role and GUN notary's migration writes into a legacy key file's headers.

        The role comes from a ``_<role>`` suffix of the name, the GUN from the
        directory below ``root_keys/`` or ``tuf_keys/``; None where there is
        none, and the file's own header stays.
        """
        m = _LEGACY.match(path.name)
        role = m.group(2) if m else None
        below = path.parent.relative_to(self.trust.private).parts[1:]
        return role, "/".join(below) or None

    def _candidates(
        self, keyid: str, *, read: bool
    ) -> builtins.list[tuple[Path, bool, bytes | None]]:
        """(path, legacy, bytes) of the regular files that may hold *keyid*.

        The flat one first, then the legacy ones in the order notary migrates
        them (the last one wins). With *read*, each file's bytes (None for one
        that cannot be read or is over the limit), read once; else None.
        """
        flat = f"{keyid}.key"
        out: list[tuple[Path, bool, bytes | None]] = []
        legacy = False
        try:
            with self._dir() as top:
                if top is None:
                    return out
                st = top.lstat(flat)
                if st is not None and _fs.kind_of(st.st_mode) == _fs.FILE:
                    data = None
                    if read:
                        with contextlib.suppress(StoreError):
                            data = top.read(flat, _fs.KEY_LIMIT)
                    out.append((self.trust.private / flat, False, data))
                legacy = self._has_legacy_dirs(top)
        except StoreError:
            pass
        if legacy:
            out += [(p, True, d) for p, _, _, d in self._key_files(keyid, flat=False, read=read)]
        return out

    def _has_legacy_dirs(self, top: _fs.Dir) -> bool:
        """``private/`` (*top*) holds ``root_keys/`` or ``tuf_keys/`` directories.

        Looked at once while this process holds the trust directory's lock (a
        bulk edit looks up keys for every GUN): offtrust never makes them, and
        notary 0.7 only removes them.
        """
        token = holding(self.trust)
        seen = self._legacy_dirs
        if token is not None and seen is not None and seen[0] is token:
            return seen[1]
        present = any(top.kind(sub) == _fs.DIR for sub in _LEGACY_DIRS)
        self._legacy_dirs = None if token is None else (token, present)
        return present

    def has(self, keyid: str) -> bool:
        return bool(self._candidates(keyid, read=False))

    # -- private material -------------------------------------------------

    def read_private(self, keyid: str) -> tuple[KeyInfo, PemBlock]:
        """The file and the PEM private key block of key *keyid* (not decrypted).

        Raises:
            NotFoundError: no such key.
            InvalidKeyError: the file holds no PEM private key.
            UnreadableInputError: the file cannot be read.
        """
        from offtrust import crypto

        try:
            info, data = self._find(keyid)
        except NotFoundError:
            # list() skips files that are not PEM; name such a file rather than
            # claim the key does not exist (and refuse a link or a FIFO by name).
            name = f"{keyid}.key"
            with self._dir() as top:
                if _KEYID.match(keyid) and top is not None and top.lstat(name) is not None:
                    # Refuses a link, a FIFO or a file over the limit by name.
                    top.read(name, _fs.KEY_LIMIT)
                    raise InvalidKeyError(
                        f"{self.trust.relative(self.trust.private / name)}: "
                        "not a PEM private key file"
                    ) from None
            raise
        if data is None:
            data = self._read(info.path)
        if data is None:
            raise UnreadableInputError(f"{info.location}: cannot read: it is gone")
        blocks = [b for b in crypto.parse_pem(data) if "PRIVATE KEY" in b.type]
        if not blocks:
            raise InvalidKeyError(f"{info.location}: no private key in the file")
        return info, blocks[0]

    def load(self, keyid: str, passphrases: PassphraseSource) -> PrivateKey:
        """Decrypt the private key *keyid* (see :class:`offtrust.store.keyring.Keyring`).

        Raises:
            NotFoundError: no such key.
            InvalidKeyError: the file is not a usable key.
            KeyMismatchError: the file holds another key than *keyid*.
            WrongPassphraseError, PassphraseRequiredError: cannot decrypt.
        """
        from offtrust.store.keyring import Keyring

        return Keyring(self, passphrases).private_key(keyid)

    def save(
        self,
        key: PrivateKey,
        *,
        role: str,
        gun: str = "",
        passphrase: str | None,
        keyid: str | None = None,
        overwrite: bool = False,
    ) -> KeyInfo:
        """Write *key* as ``private/<keyid>.key`` the way notary does.

        The ``gun`` header is written only for targets, snapshot and timestamp
        keys, like notary (pitfall 9).

        Raises:
            UsageError: a key with this ID exists and *overwrite* is False.
            StoreError: the file cannot be written.
        """
        from offtrust import crypto

        keyid = keyid or key.keyid
        name = f"{keyid}.key"
        path = self.trust.private / name
        headers = {"role": role}
        if gun and role in _BASE_WITH_GUN:
            headers["gun"] = gun
        with self._dir(create=True) as directory:
            assert directory is not None
            if directory.lstat(name) is not None and not overwrite:
                raise UsageError(f"key {keyid[:12]} already exists in {self.trust.relative(path)}")
            data = crypto.encode_private_key(key, passphrase, headers)
            directory.write(name, data)
        # Report what the file says, as list() will: no gun header, no GUN.
        info = self._info_of(data, path, keyid, role, headers.get("gun", ""), False)
        if info is None:
            raise StoreError(f"cannot read back {self.trust.relative(path)}")
        return info

    def rewrite(self, info: KeyInfo, data: bytes) -> None:
        """Replace the content of the key file *info* in one rename (``key passwd``).

        The file keeps its owner's permission bits; group and other bits are
        dropped (a private key file is the owner's alone).

        Raises:
            StoreError: a legacy-layout file (offtrust never changes those), or
                the file cannot be written (then it is unchanged).
            UnreadableInputError: it is no longer a regular file.
        """
        if info.legacy:
            raise StoreError(
                f"{info.location}: offtrust does not change the legacy key layout",
                hint="run any notary command on this trust directory (e.g. `notary -d DIR "
                "key list`): it moves the keys to private/<keyid>.key; then retry",
            )
        parts, name = self._parts(info.path)
        with self._dir(parts) as directory:
            st = None if directory is None else directory.lstat(name)
            if directory is None or st is None:
                raise StoreError(f"{info.location}: the key file is gone")
            directory.write(name, data, mode=(st.st_mode & 0o700) or _fs.FILE_MODE)

    def remove_all(self, infos: Sequence[KeyInfo]) -> None:
        """Delete these key files: all of them, or (on a failure) none.

        Every file is checked and read before the first is removed; when a
        removal fails, the files already removed are written back.

        Raises:
            StoreError: a legacy-layout file (offtrust never changes those), or
                a file cannot be read or removed.
            UnreadableInputError: a file is not a regular file.
        """
        for info in infos:
            if info.legacy:
                raise StoreError(
                    f"{info.location}: offtrust does not change the legacy key layout",
                    hint="run any notary command on this trust directory (e.g. `notary -d "
                    "DIR key list`): it moves the keys to private/<keyid>.key; then retry",
                )
        saved: list[tuple[KeyInfo, bytes, int]] = []
        for info in infos:
            parts, name = self._parts(info.path)
            with self._dir(parts) as directory:
                st = None if directory is None else directory.lstat(name)
                data = None if directory is None else directory.read(name, _fs.KEY_LIMIT)
                if st is None or data is None:
                    raise StoreError(f"{info.location}: the key file is gone")
                saved.append((info, data, st.st_mode & 0o777))
        removed: list[tuple[KeyInfo, bytes, int]] = []
        try:
            for entry in saved:
                parts, name = self._parts(entry[0].path)
                with self._dir(parts) as directory:
                    if directory is not None:
                        directory.remove_file(name)
                removed.append(entry)
        except BaseException:
            for info, data, mode in removed:
                parts, name = self._parts(info.path)
                with contextlib.suppress(StoreError), self._dir(parts) as directory:
                    if directory is not None:
                        directory.create(name, data, mode)
            raise

    def remove(self, keyid: str) -> KeyInfo:
        """Delete one key file.

        Raises:
            NotFoundError: no such key.
            StoreError: it cannot be removed.
        """
        info = self.find(keyid)
        self.discard([info])
        return info

    def discard(self, infos: Sequence[KeyInfo]) -> None:
        """Delete these key files (keys saved by a command that then failed).

        Raises:
            StoreError: a file cannot be removed, or is no longer a regular file,
                or is in a legacy layout (offtrust never changes those).
        """
        for info in infos:
            if info.legacy:
                raise StoreError(
                    f"{info.location}: offtrust does not change the legacy key layout",
                    hint="notary migrates it to private/<keyid>.key on its next run",
                )
            parts, name = self._parts(info.path)
            with self._dir(parts) as directory:
                if directory is not None:
                    directory.remove_file(name)
