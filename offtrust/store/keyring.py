"""The keyring: where every signing key of one command is found, decrypted once and checked.

It owns the only passphrase loop of offtrust: a key is decrypted at most once
per command (one prompt per key, not per GUN), the empty passphrase is tried
first as notary does, and a key file whose key is not the key ID it is stored
under is refused (signing with it would stage an invalid signature).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from offtrust.errors import InvalidKeyError, KeyMismatchError, WrongPassphraseError
from offtrust.store.keystore import KeyInfo, KeyStore, PassphraseSource

if TYPE_CHECKING:
    from offtrust.crypto import PemBlock, PrivateKey

#: Passphrases asked for one key before giving up.
MAX_ATTEMPTS = 3


def decrypt_block(
    block: PemBlock,
    passphrases: PassphraseSource,
    *,
    role: str,
    keyid: str,
    label: str,
    try_empty: bool = False,
) -> PrivateKey:
    """Decrypt one PEM private key block, asking *passphrases* up to :data:`MAX_ATTEMPTS` times.

    Args:
        block: the PEM block (encrypted or not).
        passphrases: where passphrases come from (variables, a hidden prompt).
        role: the role named in the prompt.
        keyid: the key ID named in the prompt (``"(file)"`` for an input file).
        label: what the error names (a key file's location).
        try_empty: try the empty passphrase first, silently (notary does so).

    Raises:
        WrongPassphraseError: no passphrase decrypted it.
        PassphraseRequiredError: a passphrase is needed and none can be had.
        InvalidKeyError: not a usable key.
    """
    return decrypt_block_with_passphrase(
        block, passphrases, role=role, keyid=keyid, label=label, try_empty=try_empty
    )[0]


def decrypt_block_with_passphrase(
    block: PemBlock,
    passphrases: PassphraseSource,
    *,
    role: str,
    keyid: str,
    label: str,
    try_empty: bool = False,
) -> tuple[PrivateKey, str | None]:
    """:func:`decrypt_block`, and the passphrase that opened the block.

    Returns:
        The key and its passphrase: None for an unencrypted block, ``""`` for
        one the empty passphrase opens (it protects nothing).

    Raises:
        As :func:`decrypt_block`.
    """
    from offtrust import crypto

    def opens_with_empty() -> bool:
        try:
            crypto.decrypt_private_key(block, "")
        except (WrongPassphraseError, InvalidKeyError):
            return False
        return True

    if not crypto.is_encrypted_block(block):
        return crypto.decrypt_private_key(block, None), None
    preset = _preset(passphrases, role)
    if try_empty and preset:
        # The first passphrase on offer, asked of nobody (a variable): try it
        # first, alone. It opens the usual key in one key derivation instead
        # of two; a key it does not open goes the notary way below (the empty
        # passphrase, then each passphrase), with the same outcome as before.
        with contextlib.suppress(WrongPassphraseError, InvalidKeyError):
            return crypto.decrypt_private_key(block, preset, empty_fallback=False), preset
    if try_empty and opens_with_empty():
        return crypto.decrypt_private_key(block, ""), ""
    for attempt in range(MAX_ATTEMPTS):
        passphrase = passphrases(role, keyid, attempt)
        try:
            # Falls back to the empty passphrase, as notary does.
            key = crypto.decrypt_private_key(block, passphrase)
        except WrongPassphraseError:
            continue
        if not try_empty and opens_with_empty():
            return key, ""
        return key, passphrase
    raise WrongPassphraseError(f"wrong passphrase for {label}")


def _preset(passphrases: PassphraseSource, role: str) -> str | None:
    """The passphrase *passphrases* gives first for *role* without asking anyone, if any.

    A source without a ``preset`` method (a test's) has none.
    """
    preset = getattr(passphrases, "preset", None)
    found = preset(role) if callable(preset) else None
    return found if isinstance(found, str) and found else None


class OpenedKey:
    """A key file read and decrypted by :meth:`Keyring.open`.

    Attributes:
        info: what its headers say.
        block: its PEM private key block, as read.
        key: the key in it (its ID checked against the file's).
        passphrase: the passphrase that opened it: None when it is not
            encrypted, ``""`` when the empty passphrase opens it.
    """

    __slots__ = ("block", "info", "key", "passphrase")

    def __init__(
        self, info: KeyInfo, block: PemBlock, key: PrivateKey, passphrase: str | None
    ) -> None:
        self.info = info
        self.block = block
        self.key = key
        self.passphrase = passphrase

    def __repr__(self) -> str:  # never the passphrase
        return f"OpenedKey(info={self.info!r}, key={self.key!r})"


class Keyring:
    """The private keys one command signs with.

    Args:
        keys: the key store of the trust directory.
        passphrases: where passphrases come from.
    """

    def __init__(self, keys: KeyStore, passphrases: PassphraseSource) -> None:
        self.keys = keys
        self.passphrases = passphrases
        self._cache: dict[str, PrivateKey] = {}
        # Key IDs whose key file was found (a key saved later in the same
        # context is found then: absence is never remembered).
        self._present: set[str] = set()

    def add(self, key: PrivateKey) -> None:
        """Make a key this command created (or already decrypted) available for signing."""
        self._cache[key.keyid] = key

    def has(self, keyid: str) -> bool:
        """A private key with this canonical ID is local (once found, not looked up again)."""
        if keyid in self._cache or keyid in self._present:
            return True
        if self.keys.has(keyid):
            self._present.add(keyid)
            return True
        return False

    def private_key(self, keyid: str) -> PrivateKey:
        """The decrypted key *keyid* (a :class:`~offtrust.model.signing.Signer`).

        Raises:
            NotFoundError: no such key.
            KeyMismatchError: the file holds another key than *keyid*.
            WrongPassphraseError, PassphraseRequiredError: cannot decrypt.
            InvalidKeyError: the file is not a usable key.
        """
        cached = self._cache.get(keyid)
        if cached is not None:
            return cached
        return self.open(keyid).key

    def open(self, keyid: str) -> OpenedKey:
        """The key file of *keyid*, its PEM block as read, and its key, checked and decrypted.

        For commands that rewrite or copy the key file (``key passwd``, ``key
        export``): the block is the one the key was decrypted from. The key is
        decrypted again even when it is cached, so the block is proved to hold it.

        Raises:
            As :meth:`private_key`.
        """
        info, block = self.keys.read_private(keyid)
        label = f"key {info.keyid[:12]} (role {info.role})"
        key, passphrase = decrypt_block_with_passphrase(
            block,
            self.passphrases,
            role=info.role or "key",
            keyid=info.keyid,
            label=label,
            try_empty=True,
        )
        if key.keyid != info.keyid:
            raise KeyMismatchError(
                f"{info.location} holds key {key.keyid[:12]}, not key {info.keyid[:12]} "
                "it is stored as",
                hint="the file was replaced or misnamed; restore the right key file",
            )
        self._cache[info.keyid] = key
        return OpenedKey(info, block, key, passphrase)
