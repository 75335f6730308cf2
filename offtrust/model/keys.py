"""TUF public keys as notary writes them, and their key IDs.

A key object is ``{"keytype": T, "keyval": {"private": null, "public": B64}}``;
its ID is the hex SHA-256 of that object's canonical JSON. ``public`` holds the
DER SubjectPublicKeyInfo (``ecdsa``, ``rsa``), the raw 32 bytes (``ed25519``) or
the base64 of the certificate's PEM *text* (``ecdsa-x509``, ``rsa-x509``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

from offtrust.errors import InvalidMetadataError
from offtrust.model.canonical import encode_canonical

KEY_TYPES = ("ecdsa", "rsa", "ed25519", "ecdsa-x509", "rsa-x509")
X509_TYPES = ("ecdsa-x509", "rsa-x509")

# The signature method notary produces for each key type.
SIGNING_METHOD = {
    "ecdsa": "ecdsa",
    "ecdsa-x509": "ecdsa",
    "rsa": "rsapss",
    "rsa-x509": "rsapss",
    "ed25519": "eddsa",
}


@dataclass(frozen=True)
class PublicKey:
    """One TUF public key. ``public`` is the base64 text exactly as in metadata."""

    keytype: str
    public: str
    unrecognized: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PublicKey:
        """Build a key from its metadata form.

        Raises:
            InvalidMetadataError: fields are missing or of the wrong type.
        """
        try:
            keytype = data["keytype"]
            public = data["keyval"]["public"]
        except (KeyError, TypeError) as e:
            raise InvalidMetadataError(f"key object lacks {e}") from e
        if not isinstance(keytype, str) or not isinstance(public, str):
            raise InvalidMetadataError("key object has a non-string keytype or public value")
        extra = {k: v for k, v in data.items() if k not in ("keytype", "keyval")}
        return cls(keytype=keytype, public=public, unrecognized=extra)

    @classmethod
    def from_bytes(cls, keytype: str, public: bytes) -> PublicKey:
        return cls(keytype=keytype, public=base64.b64encode(public).decode("ascii"))

    def to_dict(self) -> dict[str, Any]:
        """The key as notary serializes it (``private`` is always null)."""
        return {
            **self.unrecognized,
            "keytype": self.keytype,
            "keyval": {"private": None, "public": self.public},
        }

    @property
    def public_bytes(self) -> bytes:
        """The decoded ``public`` value (DER, raw ed25519 bytes or certificate PEM).

        Raises:
            InvalidMetadataError: the value is not base64.
        """
        try:
            return base64.b64decode(self.public, validate=True)
        except (binascii.Error, ValueError) as e:
            raise InvalidMetadataError(f"key {self.keyid[:12]}: public value is not base64") from e

    @property
    def keyid(self) -> str:
        """The TUF key ID: SHA-256 of the canonical key object with ``private`` null."""
        return _keyid(self.keytype, self.public)

    @property
    def is_x509(self) -> bool:
        return self.keytype in X509_TYPES

    @property
    def method(self) -> str:
        """The signature method notary writes for this key type."""
        try:
            return SIGNING_METHOD[self.keytype]
        except KeyError:
            raise InvalidMetadataError(f"unsupported key type {self.keytype!r}") from None

    def __repr__(self) -> str:
        return f"PublicKey({self.keytype}, {self.keyid[:12]})"


@functools.lru_cache(maxsize=8192)
def _keyid(keytype: str, public: str) -> str:
    """:attr:`PublicKey.keyid`, memoised: every check of a role meets each of its keys."""
    blob = encode_canonical({"keytype": keytype, "keyval": {"private": None, "public": public}})
    return hashlib.sha256(blob).hexdigest()
