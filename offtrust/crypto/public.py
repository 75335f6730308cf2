"""Public keys, key IDs and signature checks exactly as notary decides them.

Reading public keys the way ``notary delegation add --key`` does, writing them
as docker's ``NAME.pub``, the canonical key IDs notary names private key files
by (formats doc section 3), and notary's signature verifiers (section 4).
"""

from __future__ import annotations

import functools

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from offtrust.crypto._der import (
    _CURVE_OIDS,
    _ENC_NULL,
    _OID_RSA,
    _der_oid,
    _der_sequence,
    _DerError,
)
from offtrust.crypto.certificates import (
    _SHA1_SIGNATURES,
    _cert_validity,
    _first_plain_certificate,
    _load_certificate,
)
from offtrust.crypto.pem import PemBlock, _certificate_pem, _pem_decode, encode_pem, parse_pem
from offtrust.crypto.private import MIN_RSA_BITS
from offtrust.crypto.signers import _PSS
from offtrust.errors import InvalidKeyError, OfftrustError
from offtrust.model.keys import PublicKey

__all__ = [
    "canonical_keyid",
    "canonical_public_key",
    "encode_public_key_pem",
    "load_public_key_pem",
    "verify_signature",
]

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())

# Notary's verifiers refuse RSA signatures shorter than the smallest key allowed.
_MIN_RSA_SIGNATURE_BYTES = MIN_RSA_BITS // 8


@functools.lru_cache(maxsize=1024)
def _load_spki(der: bytes) -> PublicKeyTypes:
    """Parse a SubjectPublicKeyInfo as Go's ``x509.ParsePKIXPublicKey`` would.

    The key object of the same bytes is made once per process (a bulk command
    verifies with the same signer key in every GUN); a refusal is not kept.

    Raises:
        InvalidKeyError: not a public key Go reads (RSA without NULL parameter included).
    """
    try:
        pub = serialization.load_der_public_key(der)
        if isinstance(pub, rsa.RSAPublicKey):
            # Only an RSA key can lack the parameter Go insists on.
            items = _der_sequence(der, min_items=1)
            algorithm = _der_sequence(items[0].raw, min_items=1)
            if _der_oid(algorithm[0]) == _OID_RSA and (
                len(algorithm) != 2 or algorithm[1].raw != _ENC_NULL
            ):
                raise InvalidKeyError("RSA public key lacks the NULL parameter")
        return pub
    except (_DerError, ValueError, UnsupportedAlgorithm) as e:
        raise InvalidKeyError("unable to parse the public key") from e


def _check_public_key(pub: PublicKeyTypes) -> tuple[str, bytes]:
    """Return the keytype (``ecdsa``/``rsa``) and DER SPKI of a key notary accepts.

    Raises:
        InvalidKeyError: another key type, curve, or RSA under 2048 bits.
    """
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if isinstance(pub, ec.EllipticCurvePublicKey):
        if pub.curve.name not in _CURVE_OIDS:
            raise InvalidKeyError(f"unsupported elliptic curve {pub.curve.name}")
        return "ecdsa", pub.public_bytes(*spki)
    if isinstance(pub, rsa.RSAPublicKey):
        if pub.key_size < MIN_RSA_BITS:
            raise InvalidKeyError(
                f"RSA key of {pub.key_size} bits is too short (at least {MIN_RSA_BITS})"
            )
        return "rsa", pub.public_bytes(*spki)
    if isinstance(pub, ed25519.Ed25519PublicKey):
        raise InvalidKeyError("ed25519 public keys are not accepted (only ECDSA or RSA)")
    raise InvalidKeyError("unsupported public key type")


def load_public_key_pem(data: bytes) -> PublicKey:
    """Read a public key the way ``notary delegation add --key`` does.

    Only the first PEM block counts. ``PUBLIC KEY`` (ECDSA or RSA SPKI, as
    docker writes ``NAME.pub``) becomes an ``ecdsa``/``rsa`` key; a
    ``CERTIFICATE`` becomes ``ecdsa-x509``/``rsa-x509`` holding that single
    certificate re-encoded as Go's PEM text. Expiry is not checked here (no
    clock); use :func:`certificate_info`.

    Args:
        data: PEM file contents; headers such as ``role:`` are ignored.

    Returns:
        The public key.

    Raises:
        InvalidKeyError: not a PEM public key or certificate; ed25519; RSA under
            2048 bits; a SHA-1 signed or inverted-validity certificate; an SPKI
            that is not in canonical DER form (notary would hash other bytes).
    """
    block = parse_pem(data)[0]
    if block.type == "PUBLIC KEY":
        keytype, der = _check_public_key(_load_spki(block.der))
        if der != block.der:
            raise InvalidKeyError("public key is not in canonical DER form")
        return PublicKey.from_bytes(keytype, der)
    if block.type == "CERTIFICATE":
        cert = _load_certificate(block.der)
        not_before, not_after = _cert_validity(cert)
        if not_before > not_after:
            raise InvalidKeyError("certificate validity window is invalid")
        if cert.signature_algorithm_oid in _SHA1_SIGNATURES:
            raise InvalidKeyError("certificate uses an invalid SHA1 signature algorithm")
        try:
            keytype = _check_public_key(cert.public_key())[0] + "-x509"
        except (ValueError, UnsupportedAlgorithm) as e:
            raise InvalidKeyError("unsupported certificate public key") from e
        return PublicKey.from_bytes(
            keytype, _certificate_pem(cert.public_bytes(serialization.Encoding.DER))
        )
    raise InvalidKeyError(
        f"unsupported PEM block type {block.type!r}, expected CERTIFICATE or PUBLIC KEY"
    )


def encode_public_key_pem(key: PublicKey, headers: dict[str, str] | None = None) -> bytes:
    """The PEM form of *key*: a ``PUBLIC KEY`` block like docker's ``NAME.pub``.

    Args:
        key: An ``ecdsa``, ``rsa``, ``ecdsa-x509`` or ``rsa-x509`` key.
        headers: Headers for a ``PUBLIC KEY`` block (e.g. ``{"role": "alice"}``).
            Certificates are returned verbatim, without headers.

    Returns:
        The PEM bytes.

    An ed25519 key is written in the standard RFC 8410 form: notary reads no
    PEM form of ed25519 public keys, so such a file is for records only.

    Raises:
        InvalidKeyError: an unknown key type.
        InvalidMetadataError: the key's public value is not base64.
    """
    if key.keytype in ("ecdsa", "rsa"):
        return encode_pem(PemBlock("PUBLIC KEY", dict(headers or {}), key.public_bytes))
    if key.is_x509:
        return key.public_bytes
    if key.keytype == "ed25519" and len(key.public_bytes) == 32:
        spki = ed25519.Ed25519PublicKey.from_public_bytes(key.public_bytes).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return encode_pem(PemBlock("PUBLIC KEY", dict(headers or {}), spki))
    raise InvalidKeyError(f"{key.keytype} keys have no PEM form")


def canonical_public_key(key: PublicKey) -> PublicKey:
    """The key notary's ``CanonicalKeyID`` hashes (names private key files by).

    For ``*-x509`` keys: the plain ``ecdsa``/``rsa`` key of the first
    header-less certificate in the PEM text. Other keys are returned as they are.

    Raises:
        InvalidKeyError: no readable certificate in an x509 key.
        InvalidMetadataError: the public value is not base64.
    """
    if not key.is_x509:
        return key
    cert = _first_plain_certificate(key.public_bytes)
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PublicKey.from_bytes(key.keytype.removesuffix("-x509"), der)


def canonical_keyid(key: PublicKey) -> str:
    """The ID of :func:`canonical_public_key`.

    Raises:
        InvalidKeyError: as :func:`canonical_public_key`.
        InvalidMetadataError: as :func:`canonical_public_key`.
    """
    return canonical_public_key(key).keyid


# --------------------------------------------------------------------------- verification


def verify_signature(key: PublicKey, method: str, signature: bytes, message: bytes) -> bool:
    """Whether *signature* over *message* verifies as notary's verifiers decide.

    Methods (lower-cased first): ``ecdsa`` (``ecdsa``/``ecdsa-x509`` keys, raw
    ``r||s`` of exactly twice the curve size, SHA-256), ``rsapss`` and
    ``rsapkcs1v15`` (``rsa``/``rsa-x509``, SHA-256), ``pycrypto-pkcs#1 pss``
    (``rsa`` keys whose public value is PEM) and ``eddsa`` (``ed25519``). RSA
    keys under 2048 bits and RSA signatures under 256 bytes never verify.

    This is a building block for a verifier that raises; by itself it never
    raises, and returns False for any malformed input.
    """
    method = method.lower()
    try:
        if method == "ecdsa":
            return _verify_ecdsa(key, signature, message)
        if method == "rsapss":
            return _verify_rsa(_rsa_public(key), signature, message, pss=True)
        if method == "rsapkcs1v15":
            return _verify_rsa(_rsa_public(key), signature, message, pss=False)
        if method == "pycrypto-pkcs#1 pss":
            if key.keytype != "rsa":
                return False
            block, _ = _pem_decode(key.public_bytes)
            if block is None:
                return False
            return _verify_rsa(_load_spki(block.der), signature, message, pss=True)
        if method == "eddsa":
            return _verify_ed25519(key, signature, message)
    except (OfftrustError, _DerError, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return False


def _x509_public(key: PublicKey) -> PublicKeyTypes:
    """The public key of the first PEM block, parsed as a certificate (Go's verifiers)."""
    return _certificate_public_key(key.public_bytes)


@functools.lru_cache(maxsize=1024)
def _certificate_public_key(pem: bytes) -> PublicKeyTypes:
    """:func:`_x509_public` of these PEM bytes (made once per process; a refusal is not kept)."""
    block, _ = _pem_decode(pem)
    if block is None:
        raise InvalidKeyError("no PEM block")
    return _load_certificate(block.der).public_key()


def _rsa_public(key: PublicKey) -> PublicKeyTypes | None:
    if key.keytype == "rsa-x509":
        return _x509_public(key)
    if key.keytype == "rsa":
        return _load_spki(key.public_bytes)
    return None


def _verify_rsa(pub: PublicKeyTypes | None, signature: bytes, message: bytes, *, pss: bool) -> bool:
    if not isinstance(pub, rsa.RSAPublicKey):
        return False
    if pub.key_size < MIN_RSA_BITS or len(signature) < _MIN_RSA_SIGNATURE_BYTES:
        return False
    scheme: padding.AsymmetricPadding = _PSS if pss else padding.PKCS1v15()
    try:
        pub.verify(signature, message, scheme, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _verify_ecdsa(key: PublicKey, signature: bytes, message: bytes) -> bool:
    if key.keytype == "ecdsa-x509":
        pub = _x509_public(key)
    elif key.keytype == "ecdsa":
        pub = _load_spki(key.public_bytes)
    else:
        return False
    if not isinstance(pub, ec.EllipticCurvePublicKey):
        return False
    size = (pub.curve.key_size + 7) // 8
    if len(signature) != 2 * size:
        return False
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    try:
        pub.verify(encode_dss_signature(r, s), message, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True


def _verify_ed25519(key: PublicKey, signature: bytes, message: bytes) -> bool:
    if key.keytype != "ed25519" or len(signature) != 64:
        return False
    # Go copies the public value into a 32-byte array, padding or truncating it.
    raw = key.public_bytes[:32].ljust(32, b"\x00")
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
    except InvalidSignature:
        return False
    return True
