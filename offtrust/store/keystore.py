"""Private keys in ``<trust>/private``: the flat layout and the legacy one.

Listing reads only PEM headers (like ``notary key list``), so a key that
cannot be decrypted still lists. Keys are written as notary writes them:
``private/<keyid>.key``, mode 0600, atomically, named by the canonical key ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from offtrust.errors import (
    InvalidKeyError,
    NotFoundError,
    StoreError,
    UnreadableInputError,
    UsageError,
)
from offtrust.store._atomic import ensure_dir, remove_files, write_atomic
from offtrust.store.layout import TrustDir

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
_LEGACY = re.compile(r"^([0-9a-f]{64})_(.+)\.key$")
_BASE_WITH_GUN = ("targets", "snapshot", "timestamp")


@dataclass(frozen=True)
class KeyInfo:
    """What the headers of one private key file say."""

    keyid: str
    role: str
    gun: str
    path: Path
    location: str
    encrypted: bool
    pem_type: str
    legacy: bool = False

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


def _is_encrypted(pem_type: str, headers: dict[str, str]) -> bool:
    return pem_type == "ENCRYPTED PRIVATE KEY" or "ENCRYPTED" in headers.get("Proc-Type", "")


class KeyStore:
    def __init__(self, trust: TrustDir) -> None:
        self.trust = trust

    # -- listing --------------------------------------------------------

    def _info(
        self, path: Path, keyid: str, role: str | None, gun: str | None, legacy: bool
    ) -> KeyInfo | None:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            pem_type, headers = read_pem_headers(data)
        except InvalidKeyError:
            return None
        return KeyInfo(
            keyid=keyid,
            role=headers.get("role", role or ""),
            gun=headers.get("gun", gun or ""),
            path=path,
            location=self.trust.relative(path),
            encrypted=_is_encrypted(pem_type, headers),
            pem_type=pem_type,
            legacy=legacy,
        )

    def list(self) -> list[KeyInfo]:
        """Every private key file, in both layouts, sorted by role, GUN and key ID."""
        out: list[KeyInfo] = []
        private = self.trust.private
        if not private.is_dir():
            return out
        candidates: list[tuple[Path, str, bool]] = []
        for path in private.glob("*.key"):
            keyid = path.name[: -len(".key")]
            if _KEYID.match(keyid):
                candidates.append((path, keyid, False))
        tuf_keys = private / "tuf_keys"
        legacy = [*(private / "root_keys").glob("*.key")]
        legacy += tuf_keys.rglob("*.key") if tuf_keys.is_dir() else []
        for path in legacy:
            m = _LEGACY.match(path.name)
            if m:
                candidates.append((path, m.group(1), True))
        for path, keyid, is_legacy in candidates:
            info = self._info_at(path, keyid, is_legacy)
            if info:
                out.append(info)
        # The flat file wins when notary migrated a key but left the old one.
        unique: dict[str, KeyInfo] = {}
        for info in out:
            if info.keyid not in unique or unique[info.keyid].legacy:
                unique[info.keyid] = info
        return sorted(unique.values(), key=lambda i: (i.role, i.gun, i.keyid))

    def find(self, keyid: str) -> KeyInfo:
        """The key with this ID, or a unique prefix of it (at least 4 characters).

        Raises:
            NotFoundError: no such key, or the prefix is ambiguous.
        """
        # A full ID is looked up by path: listing reads every key file, which
        # is slow with thousands of keys and runs once per key to sign with.
        if _KEYID.match(keyid):
            for path, legacy in self._paths_of(keyid):
                info = self._info_at(path, keyid, legacy)
                if info is not None:
                    return info
        keys = self.list()
        exact = [k for k in keys if k.keyid == keyid]
        if exact:
            return exact[0]
        matches = [k for k in keys if len(keyid) >= 4 and k.keyid.startswith(keyid)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise NotFoundError(f"key ID prefix {keyid!r} is ambiguous ({len(matches)} keys)")
        raise NotFoundError(
            f"no private key {keyid!r} in {self.trust.relative(self.trust.private)}",
            hint="`offtrust key list` shows the local keys",
        )

    def _info_at(self, path: Path, keyid: str, legacy: bool) -> KeyInfo | None:
        """Like :meth:`list` does for one file: role and GUN of legacy files from their path."""
        if not legacy:
            return self._info(path, keyid, None, None, False)
        m = _LEGACY.match(path.name)
        role = m.group(2) if m else None
        tuf_keys = self.trust.private / "tuf_keys"
        gun = path.parent.relative_to(tuf_keys).as_posix() if tuf_keys in path.parents else ""
        return self._info(path, keyid, role, gun, True)

    def _paths_of(self, keyid: str) -> tuple[tuple[Path, bool], ...]:
        """Files that may hold *keyid*: the flat one first, then legacy ones."""
        private = self.trust.private
        out = []
        flat = private / f"{keyid}.key"
        if flat.is_file():
            out.append((flat, False))
        root_keys = private / "root_keys"
        if root_keys.is_dir():
            out += [(p, True) for p in sorted(root_keys.glob(f"{keyid}_*.key"))]
        tuf_keys = private / "tuf_keys"
        if tuf_keys.is_dir():
            out += [(p, True) for p in sorted(tuf_keys.rglob(f"{keyid}_*.key"))]
        return tuple(out)

    def has(self, keyid: str) -> bool:
        return bool(self._paths_of(keyid))

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
            info = self.find(keyid)
        except NotFoundError:
            # list() skips files that are not PEM; name such a file rather than
            # claim the key does not exist.
            path = self.trust.private / f"{keyid}.key"
            if _KEYID.match(keyid) and path.is_file():
                raise InvalidKeyError(
                    f"{self.trust.relative(path)}: not a PEM private key file"
                ) from None
            raise
        try:
            data = info.path.read_bytes()
        except OSError as e:
            raise UnreadableInputError(f"{info.location}: cannot read: {e.strerror or e}") from e
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
        path = self.trust.private / f"{keyid}.key"
        if path.exists() and not overwrite:
            raise UsageError(f"key {keyid[:12]} already exists in {self.trust.relative(path)}")
        headers = {"role": role}
        if gun and role in _BASE_WITH_GUN:
            headers["gun"] = gun
        data = crypto.encode_private_key(key, passphrase, headers)
        ensure_dir(self.trust.path)
        ensure_dir(self.trust.private)
        write_atomic(path, data)
        # Report what the file says, as list() will: no gun header, no GUN.
        info = self._info(path, keyid, role, headers.get("gun", ""), False)
        if info is None:
            raise StoreError(f"cannot read back {path}")
        return info

    def remove(self, keyid: str) -> KeyInfo:
        """Delete one key file.

        Raises:
            NotFoundError: no such key.
            StoreError: it cannot be removed.
        """
        info = self.find(keyid)
        remove_files([info.path])
        return info
