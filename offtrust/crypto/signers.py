"""Signing the way notary signs (``docs/notary-formats.md`` section 4).

Metadata is signed by anything of notary's signer shape: a ``keyid`` (str), a
``public_key()`` returning the :class:`offtrust.model.keys.PublicKey` that
verifies it, and ``sign(message)`` returning ``(method, signature)``. That is
the ``Signer`` protocol of :mod:`offtrust.model.signing`;
:class:`offtrust.crypto.PrivateKey` has exactly this shape and signs through
:func:`sign_message`, which holds notary's methods and encodings. The other
side, checking signatures, is :func:`offtrust.crypto.verify_signature`.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = ["sign_message"]

# A ``cryptography`` private key of a kind notary can use.
_CryptoPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

# RSASSA-PSS as notary signs and verifies it: SHA-256, MGF1-SHA-256, 32-byte salt.
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def sign_message(key: _CryptoPrivateKey, message: bytes) -> tuple[str, bytes]:
    """Sign *message* with a ``cryptography`` key the way notary does.

    Returns:
        ``(method, signature)``: ``("ecdsa", r||s)`` over SHA-256 with both
        halves padded to the curve size; ``("rsapss", sig)`` with PSS,
        SHA-256, MGF1-SHA-256 and a 32-byte salt; ``("eddsa", sig)``.
    """
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        size = (key.curve.key_size + 7) // 8
        return "ecdsa", r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsapss", key.sign(message, _PSS, hashes.SHA256())
    return "eddsa", key.sign(message)
