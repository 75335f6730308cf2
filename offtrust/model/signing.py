"""Signing through an interface: the model never holds a passphrase or a key file.

A :class:`Signer` is anything with a key ID, a public key and ``sign(bytes)``
(securesystemslib's ``Signer``): today a decrypted key file
(``offtrust.crypto.PrivateKey``, found through ``offtrust.store.keyring``),
tomorrow a hardware token. :func:`sign_metadata` either replaces a document's
signatures or appends to them without touching ``signed`` (what gathering
signatures from several key holders needs).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from offtrust.model.keys import PublicKey
from offtrust.model.metadata import Metadata, Signature


class Signer(Protocol):
    """One key that can sign: its ID, its public key, and a signing function."""

    @property
    def keyid(self) -> str:
        """The key's canonical ID (what notary names its private key file by)."""
        ...

    def public_key(self) -> PublicKey:
        """The plain public key."""
        ...

    def sign(self, message: bytes) -> tuple[str, bytes]:
        """Sign *message*; returns ``(method, signature)`` as notary writes them."""
        ...


def sign_metadata(
    md: Metadata[Any], signers: Iterable[tuple[str, Signer]], *, append: bool = False
) -> bytes:
    """Sign *md*'s canonical ``signed`` bytes with each signer, under its listed key ID.

    Args:
        md: the document; its ``signed`` part is not changed.
        signers: ``(key ID as the role lists it, signer)`` pairs. The listed ID
            of a root key is its certificate's ID, not the signer's own.
        append: keep the existing signatures (a signature under the same key
            ID is replaced); otherwise start from none.

    Returns:
        The canonical bytes that were signed (the file bytes are kept on *md*).
    """
    message = md.signed_bytes()
    signatures = list(md.signatures or []) if append else []
    for keyid, signer in signers:
        method, sig = signer.sign(message)
        signatures = [s for s in signatures if s.keyid != keyid]
        signatures.append(Signature.from_bytes(keyid, method, sig))
    md.signatures = signatures
    # Keep the bytes just signed: encoding 100,000 targets again costs seconds.
    md.raw = md.serialize(message)
    return message
