"""Root key certificates as notary makes and checks them (formats doc section 3).

Notary's ``ecdsa-x509``/``rsa-x509`` public key is the PEM text of one or more
certificates; :func:`make_root_certificate` writes the self-signed one
``notary init`` writes, and :func:`certificate_info` reports what
notary-server checks (validity window, CA flag, SHA-1, exactly one leaf).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from offtrust.crypto._der import (
    _BIT_STRING,
    _OID_COMMON_NAME,
    _PRINTABLE_STRING,
    _SET,
    _UTF8_STRING,
    _der_sequence,
    _DerError,
    _enc_oid,
    _enc_seq,
    _tlv,
)
from offtrust.crypto.pem import _certificate_pem, _pem_decode, parse_pem
from offtrust.crypto.private import PrivateKey, _crypto_key
from offtrust.errors import InvalidKeyError
from offtrust.model.keys import PublicKey

__all__ = ["CertificateInfo", "certificate_info", "make_root_certificate"]


def _load_certificate(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as e:
        raise InvalidKeyError("could not parse the certificate") from e


_SHA1_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA1,
        # sha1WithRSA of OIW, which Go also counts as SHA-1 (no public name in cryptography).
        x509.ObjectIdentifier("1.3.14.3.2.29"),
        SignatureAlgorithmOID.ECDSA_WITH_SHA1,
        SignatureAlgorithmOID.DSA_WITH_SHA1,
    }
)


def _cert_validity(cert: x509.Certificate) -> tuple[datetime, datetime]:
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def _first_plain_certificate(pem: bytes) -> x509.Certificate:
    """Go's ``LoadCertFromPEM``: the first parsable CERTIFICATE block without headers."""
    rest = pem
    while True:
        block, rest = _pem_decode(rest)
        if block is None:
            raise InvalidKeyError("no certificates found in the key's PEM data")
        if block.type != "CERTIFICATE" or block.headers:
            continue
        try:
            return x509.load_der_x509_certificate(block.der)
        except ValueError:
            continue


@dataclass(frozen=True)
class CertificateInfo:
    """What notary checks about a certificate key.

    Attributes:
        common_name: The subject CN of the leaf, or None.
        not_before: Start of validity (UTC, timezone-aware).
        not_after: End of validity (UTC, timezone-aware).
        is_ca: Whether the leaf is a CA (BasicConstraints cA).
        uses_sha1: Whether the leaf is signed with a SHA-1 algorithm.
        leaf_count: Number of non-CA certificates in the chain.
    """

    common_name: str | None
    not_before: datetime
    not_after: datetime
    is_ca: bool
    uses_sha1: bool
    leaf_count: int


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def certificate_info(key: PublicKey) -> CertificateInfo:
    """Describe the leaf certificate of an ``ecdsa-x509``/``rsa-x509`` key.

    The leaf is the first non-CA certificate of the chain (the first one if all
    are CAs); notary requires exactly one leaf per root key.

    Args:
        key: An x509 key.

    Returns:
        The leaf's details and the chain's leaf count.

    Raises:
        InvalidKeyError: not an x509 key, or its PEM holds anything but
            readable certificates.
        InvalidMetadataError: the public value is not base64.
    """
    if not key.is_x509:
        raise InvalidKeyError(f"a {key.keytype} key has no certificate")
    certs = []
    for block in parse_pem(key.public_bytes):
        if block.type != "CERTIFICATE":
            raise InvalidKeyError(f"invalid PEM block type {block.type!r} in certificate key")
        certs.append(_load_certificate(block.der))
    try:
        leaves = [c for c in certs if not _is_ca(c)]
        leaf = leaves[0] if leaves else certs[0]
        names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        not_before, not_after = _cert_validity(leaf)
        return CertificateInfo(
            common_name=str(names[0].value) if names else None,
            not_before=not_before,
            not_after=not_after,
            is_ca=_is_ca(leaf),
            uses_sha1=leaf.signature_algorithm_oid in _SHA1_SIGNATURES,
            leaf_count=len(leaves),
        )
    except ValueError as e:  # Malformed extensions or names are parsed lazily.
        raise InvalidKeyError(f"malformed certificate: {e}") from e


# Go's encoding/asn1 writes a name as PrintableString when every character allows it.
_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def make_root_certificate(
    key: PrivateKey, gun: str, now: datetime, *, days: int = 3650
) -> PublicKey:
    """Wrap a root key in a self-signed certificate exactly as ``notary init`` does.

    Subject and issuer ``CN=<gun>``, a random 128-bit serial, validity from
    *now* (to the second) for *days* days, KeyUsage digitalSignature and
    keyEncipherment (critical), ExtKeyUsage codeSigning, BasicConstraints
    CA:FALSE (critical); signed with ECDSA-SHA256 (SHA-384/512 for P-384/P-521
    as Go picks) or sha256WithRSAEncryption.

    Args:
        key: An ECDSA or RSA root key.
        gun: The GUN, used as common name.
        now: The start of validity; must be timezone-aware.
        days: Validity length; notary uses 10 x 365 days.

    Returns:
        The ``ecdsa-x509``/``rsa-x509`` key holding the certificate's PEM text.

    Raises:
        InvalidKeyError: an Ed25519 key (notary cannot make certificates for it).
        ValueError: *now* is naive (a programming error).
    """
    if now.tzinfo is None:
        raise ValueError("make_root_certificate needs a timezone-aware time")
    raw = _crypto_key(key)
    if isinstance(raw, ed25519.Ed25519PrivateKey):
        raise InvalidKeyError("ed25519 keys cannot be root keys (notary makes no certificate)")
    start = now.astimezone(timezone.utc).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, gun)])
    algorithm: hashes.SHA256 | hashes.SHA384 | hashes.SHA512 = hashes.SHA256()
    if isinstance(raw, ec.EllipticCurvePrivateKey):
        if raw.curve.key_size == 384:
            algorithm = hashes.SHA384()
        elif raw.curve.key_size == 521:
            algorithm = hashes.SHA512()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(raw.public_key())
        .serial_number(secrets.randbits(128) or 1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    try:
        der = builder.sign(raw, algorithm).public_bytes(serialization.Encoding.DER)
        if set(gun) <= _PRINTABLE:
            der = _with_printable_name(der, gun, raw, algorithm)
    except (ValueError, TypeError, _DerError) as e:
        raise InvalidKeyError(f"could not create the root certificate: {e}") from e
    return PublicKey.from_bytes(f"{key.algorithm}-x509", _certificate_pem(der))


def _common_name(gun: str, string_tag: int) -> bytes:
    """The DER of the Name ``CN=<gun>`` with the value under *string_tag*."""
    attribute = _enc_seq(_enc_oid(_OID_COMMON_NAME), _tlv(string_tag, gun.encode("utf-8")))
    return _enc_seq(_tlv(_SET, attribute))


def _with_printable_name(
    der: bytes,
    gun: str,
    raw: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    algorithm: hashes.HashAlgorithm,
) -> bytes:
    """Re-issue the certificate *der* with issuer and subject CN as PrintableString.

    ``cryptography`` has no public way to choose a name's string type and
    writes a common name as UTF8String; Go writes PrintableString whenever the
    characters allow it. So the TBSCertificate's two names are replaced and it
    is signed again with the same key and algorithm.

    Raises:
        _DerError: *der* is not the certificate just built.
    """
    outer = _der_sequence(der, min_items=3)
    fields = [item.raw for item in _der_sequence(outer[0].raw, min_items=6)]
    # TBSCertificate: [0] version, serial, signature, issuer, validity, subject, ...
    utf8_name = _common_name(gun, _UTF8_STRING)
    if fields[3] != utf8_name or fields[5] != utf8_name:
        raise _DerError("unexpected certificate names")
    fields[3] = fields[5] = _common_name(gun, _PRINTABLE_STRING)
    tbs = _enc_seq(*fields)
    if isinstance(raw, rsa.RSAPrivateKey):
        signature = raw.sign(tbs, padding.PKCS1v15(), algorithm)
    else:
        signature = raw.sign(tbs, ec.ECDSA(algorithm))
    return _enc_seq(tbs, outer[1].raw, _tlv(_BIT_STRING, b"\x00" + signature))
