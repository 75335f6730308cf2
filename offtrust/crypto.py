"""Keys and signatures exactly as Notary 0.7 reads and writes them.

This is the only module that imports ``cryptography``. It covers:

* PEM framing as Go's ``encoding/pem`` decodes and encodes it (headers such as
  ``role:`` and ``gun:`` included, which OpenSSL-based readers choke on);
* private key files (``docs/notary-formats.md`` section 2): notary's own PKCS#8
  dialect (ECDSA version 1, RSA without the NULL parameter, Ed25519 under OID
  1.3.6.1.4.1.11591.15.1 as 96 bytes), PBES2 encryption with PBKDF2-HMAC-SHA1,
  and the legacy ``Proc-Type``/``DEK-Info`` formats;
* public keys, key IDs and root certificates (section 3);
* signing and verifying with notary's methods (section 4).

Recent ``cryptography`` releases refuse notary's ECDSA and Ed25519 PKCS#8 and
cannot write its PBES2 variant, so the ASN.1 around the keys is read and written
here with a tiny DER codec; ``cryptography`` only ever sees standard encodings.
Every exception from ``cryptography`` is turned into an :mod:`offtrust.errors`
class where it enters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import NamedTuple, NoReturn, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import (
    BlockCipherAlgorithm,
    Cipher,
    algorithms,
    modes,
)
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from offtrust.errors import (
    InvalidKeyError,
    OfftrustError,
    PassphraseRequiredError,
    WrongPassphraseError,
)
from offtrust.model.keys import PublicKey

__all__ = [
    "CertificateInfo",
    "PemBlock",
    "PrivateKey",
    "canonical_keyid",
    "canonical_public_key",
    "certificate_info",
    "decrypt_private_key",
    "ed25519_private_key_from_seed",
    "encode_pem",
    "encode_private_key",
    "encode_public_key_pem",
    "generate_private_key",
    "is_encrypted_block",
    "load_private_key_pem",
    "load_public_key_pem",
    "make_root_certificate",
    "parse_pem",
    "pkcs8_private_bytes",
    "verify_signature",
]

_CryptoPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
_T = TypeVar("_T")

# Notary refuses RSA keys below this size when verifying (tuf/signed/verifiers.go).
MIN_RSA_BITS = 2048
_MIN_RSA_SIGNATURE_BYTES = MIN_RSA_BITS // 8
_GENERATED_RSA_BITS = 4096

# What notary writes (tuf/utils/pkcs8.go): 8-byte salt, 2048 PBKDF2 rounds, AES-256-CBC.
_PBKDF2_SALT_BYTES = 8
_PBKDF2_ITERATIONS = 2048
_AES_IV_BYTES = 16
# A hostile file could ask for billions of rounds; no real key uses more than this.
_MAX_PBKDF2_ITERATIONS = 10_000_000

PRIVATE_KEY_BLOCK_TYPES = (
    "ENCRYPTED PRIVATE KEY",
    "PRIVATE KEY",
    "EC PRIVATE KEY",
    "RSA PRIVATE KEY",
    "ED25519 PRIVATE KEY",
)
_LEGACY_BLOCK_TYPES = ("EC PRIVATE KEY", "RSA PRIVATE KEY", "ED25519 PRIVATE KEY")


# --------------------------------------------------------------------------- DER


class _DerError(Exception):
    """Malformed DER. Internal: always turned into an offtrust error."""


class _Tlv(NamedTuple):
    tag: int
    value: bytes
    raw: bytes


_SEQUENCE = 0x30
_INTEGER = 0x02
_BIT_STRING = 0x03
_OCTET_STRING = 0x04
_OID = 0x06

_OID_PBES2 = "1.2.840.113549.1.5.13"
_OID_PBKDF2 = "1.2.840.113549.1.5.12"
_OID_RSA = "1.2.840.113549.1.1.1"
_OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_OID_ED25519_NOTARY = "1.3.6.1.4.1.11591.15.1"
_OID_ED25519 = "1.3.101.112"
_OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"

# PBES2 ciphers: OID -> key length. Notary only knows AES-256-CBC; the others are
# accepted on read because other tools write them.
_PBES2_CIPHERS = {
    "2.16.840.1.101.3.4.1.2": 16,
    "2.16.840.1.101.3.4.1.22": 24,
    _OID_AES256_CBC: 32,
}
# PBKDF2 PRFs. Notary ignores this field and always uses SHA-1 (its default);
# it is honoured on read so that keys written by other tools also load.
_PBKDF2_PRFS: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1.2.840.113549.2.7": hashes.SHA1,
    "1.2.840.113549.2.8": hashes.SHA224,
    "1.2.840.113549.2.9": hashes.SHA256,
    "1.2.840.113549.2.10": hashes.SHA384,
    "1.2.840.113549.2.11": hashes.SHA512,
}

# The curves Go's crypto/x509 (and so notary) understands.
_CURVE_OIDS = {
    "secp224r1": "1.3.132.0.33",
    "secp256r1": "1.2.840.10045.3.1.7",
    "secp384r1": "1.3.132.0.34",
    "secp521r1": "1.3.132.0.35",
}


def _der_read(data: bytes, pos: int = 0) -> tuple[_Tlv, int]:
    """Read the TLV starting at *pos*; return it and the offset after it."""
    if pos + 2 > len(data):
        raise _DerError("truncated DER")
    start = pos
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _DerError("multi-byte DER tags are not supported")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise _DerError("indefinite or oversized DER length")
        if pos + count > len(data):
            raise _DerError("truncated DER")
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise _DerError("non-minimal DER length")
        pos += count
    end = pos + length
    if end > len(data):
        raise _DerError("truncated DER")
    return _Tlv(tag, data[pos:end], data[start:end]), end


def _der_children(content: bytes) -> list[_Tlv]:
    items = []
    pos = 0
    while pos < len(content):
        item, pos = _der_read(content, pos)
        items.append(item)
    return items


def _der_sequence(data: bytes, *, min_items: int = 0, allow_trailing: bool = False) -> list[_Tlv]:
    """Parse *data* as one SEQUENCE of at least *min_items* elements and return them."""
    item, end = _der_read(data)
    if item.tag != _SEQUENCE:
        raise _DerError("expected a DER SEQUENCE")
    if end != len(data) and not allow_trailing:
        raise _DerError("trailing data after DER SEQUENCE")
    items = _der_children(item.value)
    if len(items) < min_items:
        raise _DerError("DER SEQUENCE is too short")
    return items


def _expect(item: _Tlv, tag: int) -> bytes:
    if item.tag != tag:
        raise _DerError(f"expected DER tag {tag:#04x}, found {item.tag:#04x}")
    return item.value


def _der_int(item: _Tlv) -> int:
    value = _expect(item, _INTEGER)
    if not value:
        raise _DerError("empty DER INTEGER")
    return int.from_bytes(value, "big", signed=True)


def _der_oid(item: _Tlv) -> str:
    value = _expect(item, _OID)
    if not value or value[-1] & 0x80:
        raise _DerError("malformed OID")
    arcs: list[int] = []
    acc = 0
    for byte in value:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(acc)
            acc = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _enc_seq(*items: bytes) -> bytes:
    return _tlv(_SEQUENCE, b"".join(items))


def _enc_int(value: int) -> bytes:
    return _tlv(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def _enc_octets(value: bytes) -> bytes:
    return _tlv(_OCTET_STRING, value)


def _enc_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return _tlv(_OID, bytes(body))


def _enc_explicit(number: int, content: bytes) -> bytes:
    return _tlv(0xA0 | number, content)


_ENC_NULL = b"\x05\x00"


# --------------------------------------------------------------------------- PEM


@dataclass(frozen=True)
class PemBlock:
    """One PEM block as Go's ``encoding/pem`` sees it.

    Attributes:
        type: The label, e.g. ``"ENCRYPTED PRIVATE KEY"``.
        headers: ``Key: value`` lines, e.g. ``{"role": "root"}``; ``Proc-Type``
            and ``DEK-Info`` are kept here too.
        der: The decoded body.
    """

    type: str
    headers: dict[str, str]
    der: bytes


_PEM_START = b"\n-----BEGIN "
_PEM_END = b"\n-----END "
_PEM_EOL = b"-----"


def _pem_line(data: bytes) -> tuple[bytes, bytes]:
    """Go's ``getLine``: the first line without trailing blanks, and the rest."""
    line, _, rest = data.partition(b"\n")
    return line.rstrip(b" \t\r"), rest


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _pem_decode(data: bytes) -> tuple[PemBlock | None, bytes]:
    """Port of Go's ``pem.Decode``: the next valid block and the remaining input.

    Malformed blocks are skipped, as Go skips them.
    """
    rest = data
    while True:
        if rest.startswith(_PEM_START[1:]):
            rest = rest[len(_PEM_START) - 1 :]
        else:
            index = rest.find(_PEM_START)
            if index < 0:
                return None, data
            rest = rest[index + len(_PEM_START) :]

        type_line, rest = _pem_line(rest)
        if not type_line.endswith(_PEM_EOL):
            continue
        type_line = type_line[: -len(_PEM_EOL)]

        headers: dict[str, str] = {}
        while True:
            if not rest:
                return None, data
            line, following = _pem_line(rest)
            key, colon, value = line.partition(b":")
            if not colon:
                break
            headers[_text(key.strip())] = _text(value.strip())
            rest = following

        if not headers and rest.startswith(_PEM_END[1:]):
            end_index, trailer_index = 0, len(_PEM_END) - 1
        else:
            end_index = rest.find(_PEM_END)
            trailer_index = end_index + len(_PEM_END)
        if end_index < 0:
            continue
        trailer = rest[trailer_index:]
        trailer_len = len(type_line) + len(_PEM_EOL)
        if len(trailer) < trailer_len:
            continue
        rest_of_end_line, trailer = trailer[trailer_len:], trailer[:trailer_len]
        if not (trailer.startswith(type_line) and trailer.endswith(_PEM_EOL)):
            continue
        if _pem_line(rest_of_end_line)[0]:
            continue
        body = rest[:end_index].translate(None, b" \t\r\n")
        try:
            der = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            continue
        _, rest = _pem_line(rest[end_index + len(_PEM_END) - 1 :])
        return PemBlock(_text(type_line), headers, der), rest


def parse_pem(data: bytes) -> list[PemBlock]:
    """Return every PEM block in *data*, in order, as Go would decode them.

    Args:
        data: File contents.

    Returns:
        The blocks; text around and between them is ignored.

    Raises:
        InvalidKeyError: no valid PEM block was found.
    """
    blocks = []
    rest = data
    while True:
        block, rest = _pem_decode(rest)
        if block is None:
            break
        blocks.append(block)
    if not blocks:
        raise InvalidKeyError("not a PEM file")
    return blocks


def encode_pem(block: PemBlock) -> bytes:
    """Encode *block* byte for byte as Go's ``pem.Encode``.

    ``Proc-Type`` comes first, the other headers sorted by key, then an empty
    line (only when there are headers), the base64 body in 64-column lines and
    the END line with a final newline.

    Args:
        block: The block to encode.

    Returns:
        The PEM text as bytes.

    Raises:
        InvalidKeyError: a header key contains ``:`` or a header contains a
            line break.
    """
    for key, value in block.headers.items():
        if ":" in key or any(c in key + value for c in "\r\n"):
            raise InvalidKeyError(f"cannot write PEM header {key!r}: {value!r}")
    if any(c in block.type for c in "\r\n"):
        raise InvalidKeyError(f"cannot write PEM type {block.type!r}")
    lines = [f"-----BEGIN {block.type}-----"]
    if block.headers:
        if "Proc-Type" in block.headers:
            lines.append(f"Proc-Type: {block.headers['Proc-Type']}")
        lines.extend(f"{k}: {block.headers[k]}" for k in sorted(block.headers) if k != "Proc-Type")
        lines.append("")
    body = base64.b64encode(block.der).decode("ascii")
    lines.extend(body[i : i + 64] for i in range(0, len(body), 64))
    lines.append(f"-----END {block.type}-----")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _certificate_pem(der: bytes) -> bytes:
    return encode_pem(PemBlock("CERTIFICATE", {}, der))


# --------------------------------------------------------------------------- private keys


class PrivateKey:
    """A private key notary can use. The repr never shows secret material.

    Attributes:
        algorithm: ``"ecdsa"``, ``"rsa"`` or ``"ed25519"``.
    """

    __slots__ = ("_key", "_public", "algorithm")

    algorithm: str

    def __init__(self, key: _CryptoPrivateKey) -> None:
        """Wrap a ``cryptography`` key (use the loaders of this module instead).

        Raises:
            InvalidKeyError: notary cannot use this kind of key (curve, size).
        """
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if key.curve.name not in _CURVE_OIDS:
                raise InvalidKeyError(f"unsupported elliptic curve {key.curve.name}")
            self.algorithm = "ecdsa"
        elif isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < MIN_RSA_BITS:
                raise InvalidKeyError(
                    f"RSA key of {key.key_size} bits is too short (at least {MIN_RSA_BITS})"
                )
            self.algorithm = "rsa"
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            self.algorithm = "ed25519"
        else:
            raise InvalidKeyError(f"unsupported private key type {type(key).__name__}")
        self._key: _CryptoPrivateKey = key
        self._public: PublicKey | None = None

    def public_key(self) -> PublicKey:
        """The plain TUF public key (``ecdsa``/``rsa``: DER SPKI; ``ed25519``: raw)."""
        if self._public is None:
            pub = self._key.public_key()
            if isinstance(pub, ed25519.Ed25519PublicKey):
                raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            else:
                raw = pub.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            self._public = PublicKey.from_bytes(self.algorithm, raw)
        return self._public

    @property
    def keyid(self) -> str:
        """The key ID notary names the key file with."""
        return self.public_key().keyid

    def sign(self, message: bytes) -> tuple[str, bytes]:
        """Sign *message* the way notary does.

        Returns:
            ``(method, signature)``: ``("ecdsa", r||s)`` over SHA-256 with both
            halves padded to the curve size; ``("rsapss", sig)`` with PSS,
            SHA-256, MGF1-SHA-256 and a 32-byte salt; ``("eddsa", sig)``.
        """
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
            size = (key.curve.key_size + 7) // 8
            return "ecdsa", r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if isinstance(key, rsa.RSAPrivateKey):
            return "rsapss", key.sign(message, _PSS, hashes.SHA256())
        return "eddsa", key.sign(message)

    def __repr__(self) -> str:
        return f"PrivateKey({self.algorithm}, {self.keyid[:12]})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("private keys cannot be pickled")


_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def generate_private_key(algorithm: str = "ecdsa") -> PrivateKey:
    """Generate a new key: ECDSA P-256 (notary's default), RSA 4096 or Ed25519.

    Args:
        algorithm: ``"ecdsa"``, ``"rsa"`` or ``"ed25519"``.

    Returns:
        The new key.

    Raises:
        InvalidKeyError: unknown algorithm.
    """
    key: _CryptoPrivateKey
    if algorithm == "ecdsa":
        key = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=_GENERATED_RSA_BITS)
    elif algorithm == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise InvalidKeyError(f"unsupported key algorithm {algorithm!r} (ecdsa, rsa, ed25519)")
    return PrivateKey(key)


def ed25519_private_key_from_seed(seed: bytes) -> PrivateKey:
    """Build an Ed25519 key from its 32-byte seed (deterministic test keys).

    Raises:
        InvalidKeyError: the seed is not 32 bytes.
    """
    if len(seed) != 32:
        raise InvalidKeyError("an ed25519 seed must be 32 bytes")
    return PrivateKey(ed25519.Ed25519PrivateKey.from_private_bytes(seed))


def is_encrypted_block(block: PemBlock) -> bool:
    """Whether *block* needs a passphrase (PKCS#8 encryption or legacy DEK-Info)."""
    if block.type == "ENCRYPTED PRIVATE KEY":
        return True
    return "DEK-Info" in block.headers or block.headers.get("Proc-Type", "") == "4,ENCRYPTED"


class _BadPassphrase(Exception):
    """The passphrase did not produce a well-formed key. Internal."""


def _with_passphrase(passphrase: str | None, attempt: Callable[[bytes], _T]) -> _T:
    """Run *attempt* with the passphrase, trying the empty one as notary does.

    Notary tries the empty passphrase before asking for one (``GetKey``), so a
    key encrypted with ``""`` opens without a prompt.
    """
    candidates = [""] if not passphrase else [passphrase, ""]
    for candidate in candidates:
        try:
            return attempt(candidate.encode("utf-8"))
        except _BadPassphrase:
            continue
    if passphrase is None:
        raise PassphraseRequiredError("a passphrase is required to decrypt the key")
    raise WrongPassphraseError("wrong passphrase")


def decrypt_private_key(block: PemBlock, passphrase: str | None) -> PrivateKey:
    """Load the private key in *block*, decrypting it if needed.

    Accepts every block type notary reads (``ENCRYPTED PRIVATE KEY``,
    ``PRIVATE KEY``, ``EC PRIVATE KEY``, ``RSA PRIVATE KEY``,
    ``ED25519 PRIVATE KEY``, the last three optionally ``DEK-Info``-encrypted),
    in notary's own dialect as well as the standard one (RFC 8410 Ed25519, any
    PBKDF2 PRF, AES-128/192/256-CBC).

    Args:
        block: A PEM block from :func:`parse_pem`.
        passphrase: The passphrase, or None when none is known yet.

    Returns:
        The key.

    Raises:
        PassphraseRequiredError: the key is encrypted and *passphrase* is None.
        WrongPassphraseError: the passphrase does not decrypt the key.
        InvalidKeyError: the block is not a key notary can use.
    """
    try:
        if block.type not in PRIVATE_KEY_BLOCK_TYPES:
            raise InvalidKeyError(f"unsupported private key PEM type {block.type!r}")
        der = block.der
        if block.type in _LEGACY_BLOCK_TYPES and is_encrypted_block(block):
            return _with_passphrase(passphrase, lambda pw: _decrypt_legacy(block, pw))
        if block.type == "ENCRYPTED PRIVATE KEY":
            params = _parse_encrypted_pkcs8(der)
            return _with_passphrase(passphrase, lambda pw: _decrypt_pkcs8(params, pw))
        if block.type == "PRIVATE KEY":
            return _load_pkcs8(der)
        return _load_legacy(block.type, der)
    except _DerError as e:
        raise InvalidKeyError(f"malformed {block.type}: {e}") from e


def _load_der_key(der: bytes) -> PrivateKey:
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise InvalidKeyError("unreadable private key") from e
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise InvalidKeyError(f"unsupported private key type {type(key).__name__}")
    return PrivateKey(key)


def _ed25519_from_notary(data: bytes) -> PrivateKey:
    """Notary's 96 bytes: public key, then Go's private key (seed, public key)."""
    if len(data) != 96:
        raise InvalidKeyError("malformed ed25519 private key (expected 96 bytes)")
    key = ed25519.Ed25519PrivateKey.from_private_bytes(data[32:64])
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    # Go signs with the stored public half, so an inconsistent key would make
    # signatures nobody can verify.
    if data[:32] != public or data[64:] != public:
        raise InvalidKeyError("ed25519 private key does not match its public key")
    return PrivateKey(key)


def _load_legacy(block_type: str, der: bytes) -> PrivateKey:
    """Load an ``EC``/``RSA``/``ED25519 PRIVATE KEY`` body (already decrypted).

    Raises:
        _DerError: the body is not the structure its type names.
    """
    if block_type == "ED25519 PRIVATE KEY":
        if len(der) != 96:
            raise _DerError("ed25519 private key must be 96 bytes")
        return _ed25519_from_notary(der)
    # SEC1 ECPrivateKey starts INTEGER 1, OCTET STRING; PKCS#1 RSAPrivateKey
    # starts INTEGER 0, INTEGER. Checking this refuses a PKCS#8 body under a
    # legacy label, as Go's parsers do.
    items = _der_sequence(der, min_items=2)
    second = _OCTET_STRING if block_type == "EC PRIVATE KEY" else _INTEGER
    if items[0].tag != _INTEGER or items[1].tag != second:
        raise _DerError(f"not a {block_type}")
    key = _load_der_key(der)
    expected = "ecdsa" if block_type == "EC PRIVATE KEY" else "rsa"
    if key.algorithm != expected:
        raise InvalidKeyError(f"{block_type} holds a {key.algorithm} key")
    return key


def _load_pkcs8(der: bytes, *, allow_trailing: bool = False) -> PrivateKey:
    """Load a PrivateKeyInfo in notary's or the standard dialect.

    Raises:
        _DerError: not a PrivateKeyInfo.
        InvalidKeyError: a well-formed PrivateKeyInfo notary cannot use.
    """
    items = _der_sequence(der, min_items=3, allow_trailing=allow_trailing)
    version = _der_int(items[0])
    algorithm = _der_sequence(items[1].raw, min_items=1)
    oid = _der_oid(algorithm[0])
    private = _expect(items[2], _OCTET_STRING)
    if version not in (0, 1):
        raise InvalidKeyError(f"unsupported PKCS#8 version {version}")
    if oid == _OID_ED25519_NOTARY:
        return _ed25519_from_notary(private)
    if oid == _OID_ED25519:
        seed_item, end = _der_read(private)
        seed = _expect(seed_item, _OCTET_STRING)
        if end != len(private) or len(seed) != 32:
            raise InvalidKeyError("malformed ed25519 private key")
        return PrivateKey(ed25519.Ed25519PrivateKey.from_private_bytes(seed))
    if oid == _OID_EC_PUBLIC_KEY:
        algorithm_raw = items[1].raw
    elif oid == _OID_RSA:
        # Notary omits the NULL parameter; the standard form has it.
        algorithm_raw = _enc_seq(_enc_oid(_OID_RSA), _ENC_NULL)
    else:
        raise InvalidKeyError(f"unsupported private key algorithm {oid}")
    # Re-wrapped as version 0 without optional fields, which every
    # cryptography release reads (48 refuses notary's ECDSA version 1).
    return _load_der_key(_enc_seq(_enc_int(0), algorithm_raw, _enc_octets(private)))


class _Pbes2(NamedTuple):
    salt: bytes
    iterations: int
    prf: Callable[[], hashes.HashAlgorithm]
    key_length: int
    iv: bytes
    ciphertext: bytes


def _parse_encrypted_pkcs8(der: bytes) -> _Pbes2:
    """Parse an EncryptedPrivateKeyInfo using PBES2, PBKDF2 and AES-CBC.

    Raises:
        _DerError: malformed structure.
        InvalidKeyError: an encryption scheme other than PBES2/PBKDF2/AES-CBC.
    """
    outer = _der_sequence(der, min_items=2)
    scheme = _der_sequence(outer[0].raw, min_items=1)
    ciphertext = _expect(outer[1], _OCTET_STRING)
    if _der_oid(scheme[0]) != _OID_PBES2 or len(scheme) != 2:
        raise InvalidKeyError("unsupported key encryption (only PBES2 is supported)")
    kdf, cipher = _der_sequence(scheme[1].raw, min_items=2)[:2]
    kdf_items = _der_sequence(kdf.raw, min_items=1)
    if _der_oid(kdf_items[0]) != _OID_PBKDF2 or len(kdf_items) != 2:
        raise InvalidKeyError("unsupported key derivation (only PBKDF2 is supported)")
    kdf_params = _der_sequence(kdf_items[1].raw, min_items=2)
    salt = _expect(kdf_params[0], _OCTET_STRING)
    iterations = _der_int(kdf_params[1])
    key_length: int | None = None
    prf: Callable[[], hashes.HashAlgorithm] = hashes.SHA1
    for extra in kdf_params[2:]:
        if extra.tag == _INTEGER and key_length is None:
            key_length = _der_int(extra)
        elif extra.tag == _SEQUENCE:
            prf_oid = _der_oid(_der_sequence(extra.raw, min_items=1)[0])
            if prf_oid not in _PBKDF2_PRFS:
                raise InvalidKeyError(f"unsupported PBKDF2 PRF {prf_oid}")
            prf = _PBKDF2_PRFS[prf_oid]
        else:
            raise _DerError("unexpected PBKDF2 parameter")
    cipher_items = _der_sequence(cipher.raw, min_items=1)
    cipher_oid = _der_oid(cipher_items[0])
    if cipher_oid not in _PBES2_CIPHERS:
        raise InvalidKeyError(f"unsupported key cipher {cipher_oid} (only AES-CBC)")
    expected_length = _PBES2_CIPHERS[cipher_oid]
    if key_length is not None and key_length != expected_length:
        raise InvalidKeyError("PBKDF2 key length does not match the cipher")
    iv = _expect(cipher_items[1], _OCTET_STRING) if len(cipher_items) > 1 else b""
    if len(iv) != _AES_IV_BYTES:
        raise InvalidKeyError("malformed key encryption parameters (IV must be 16 bytes)")
    if not 0 < iterations <= _MAX_PBKDF2_ITERATIONS:
        raise InvalidKeyError(f"unsupported PBKDF2 iteration count {iterations}")
    if not ciphertext or len(ciphertext) % 16:
        raise InvalidKeyError("malformed encrypted key (ciphertext is not whole AES blocks)")
    return _Pbes2(salt, iterations, prf, expected_length, iv, ciphertext)


def _decrypt_pkcs8(params: _Pbes2, passphrase: bytes) -> PrivateKey:
    """Decrypt and load; a plaintext that is no PrivateKeyInfo means a wrong passphrase."""
    key = PBKDF2HMAC(
        algorithm=params.prf(),
        length=params.key_length,
        salt=params.salt,
        iterations=params.iterations,
    ).derive(passphrase)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(params.iv)).decryptor()
    plaintext = decryptor.update(params.ciphertext) + decryptor.finalize()
    try:
        # Like notary, padding is not checked: DER parsing ignores what follows.
        return _load_pkcs8(plaintext, allow_trailing=True)
    except _DerError as e:
        raise _BadPassphrase from e


def _evp_bytes_to_key(passphrase: bytes, salt: bytes, length: int) -> bytes:
    """OpenSSL's legacy PEM key derivation (MD5, one round), as Go implements it."""
    derived = b""
    block = b""
    while len(derived) < length:
        block = hashlib.md5(block + passphrase + salt, usedforsecurity=False).digest()
        derived += block
    return derived[:length]


def _dek_cipher(name: str, key: bytes) -> tuple[BlockCipherAlgorithm, int]:
    """The cipher for a ``DEK-Info`` name and its block size."""
    if name.startswith("AES-"):
        return algorithms.AES(key), 16
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

    # Single DES is triple DES with three equal keys.
    return TripleDES(key * 3 if len(key) == 8 else key), 8


_DEK_KEY_SIZES = {
    "DES-CBC": 8,
    "DES-EDE3-CBC": 24,
    "AES-128-CBC": 16,
    "AES-192-CBC": 24,
    "AES-256-CBC": 32,
}


def _decrypt_dek_info(block: PemBlock, passphrase: bytes) -> bytes:
    """Decrypt a legacy ``Proc-Type: 4,ENCRYPTED`` body like Go's ``DecryptPEMBlock``."""
    dek = block.headers.get("DEK-Info")
    if dek is None:
        raise InvalidKeyError("encrypted PEM block lacks a DEK-Info header")
    name, _, iv_hex = dek.partition(",")
    name = name.strip()
    if name not in _DEK_KEY_SIZES:
        raise InvalidKeyError(f"unsupported PEM encryption {name}")
    try:
        iv = bytes.fromhex(iv_hex.strip())
    except ValueError as e:
        raise InvalidKeyError("malformed DEK-Info header") from e
    key = _evp_bytes_to_key(passphrase, iv[:8], _DEK_KEY_SIZES[name])
    cipher_algorithm, block_size = _dek_cipher(name, key)
    if len(iv) != block_size or not block.der or len(block.der) % block_size:
        raise InvalidKeyError("malformed encrypted PEM block")
    decryptor = Cipher(cipher_algorithm, modes.CBC(iv)).decryptor()
    plaintext = decryptor.update(block.der) + decryptor.finalize()
    unpadder = sym_padding.PKCS7(block_size * 8).unpadder()
    try:
        return unpadder.update(plaintext) + unpadder.finalize()
    except ValueError as e:
        raise _BadPassphrase from e


def _decrypt_legacy(block: PemBlock, passphrase: bytes) -> PrivateKey:
    der = _decrypt_dek_info(block, passphrase)
    try:
        return _load_legacy(block.type, der)
    except _DerError as e:
        # Padding matched by chance (1 in 256); the body shows the passphrase was wrong.
        raise _BadPassphrase from e


def pkcs8_private_bytes(key: PrivateKey) -> bytes:
    """The unencrypted PKCS#8 DER notary writes for *key* (formats doc 2.3).

    ECDSA: version 1, ``{id-ecPublicKey, curve}``, SEC1 with curve and public
    key; RSA: version 0, ``{rsaEncryption}`` without NULL, PKCS#1; Ed25519:
    version 0, ``{1.3.6.1.4.1.11591.15.1}``, public || seed || public.
    """
    raw = key._key
    if isinstance(raw, ec.EllipticCurvePrivateKey):
        curve_oid = _CURVE_OIDS[raw.curve.name]
        size = (raw.curve.key_size + 7) // 8
        point = raw.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        sec1 = _enc_seq(
            _enc_int(1),
            _enc_octets(raw.private_numbers().private_value.to_bytes(size, "big")),
            _enc_explicit(0, _enc_oid(curve_oid)),
            _enc_explicit(1, _tlv(_BIT_STRING, b"\x00" + point)),
        )
        return _enc_seq(
            _enc_int(1),
            _enc_seq(_enc_oid(_OID_EC_PUBLIC_KEY), _enc_oid(curve_oid)),
            _enc_octets(sec1),
        )
    if isinstance(raw, rsa.RSAPrivateKey):
        pkcs1 = raw.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return _enc_seq(_enc_int(0), _enc_seq(_enc_oid(_OID_RSA)), _enc_octets(pkcs1))
    public = raw.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    seed = raw.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return _enc_seq(
        _enc_int(0),
        _enc_seq(_enc_oid(_OID_ED25519_NOTARY)),
        _enc_octets(public + seed + public),
    )


def _encrypt_pkcs8(plaintext: bytes, passphrase: str) -> bytes:
    salt = os.urandom(_PBKDF2_SALT_BYTES)
    iv = os.urandom(_AES_IV_BYTES)
    key = PBKDF2HMAC(
        algorithm=hashes.SHA1(), length=32, salt=salt, iterations=_PBKDF2_ITERATIONS
    ).derive(passphrase.encode("utf-8"))
    padder = sym_padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return _enc_seq(
        _enc_seq(
            _enc_oid(_OID_PBES2),
            _enc_seq(
                _enc_seq(
                    _enc_oid(_OID_PBKDF2),
                    _enc_seq(_enc_octets(salt), _enc_int(_PBKDF2_ITERATIONS)),
                ),
                _enc_seq(_enc_oid(_OID_AES256_CBC), _enc_octets(iv)),
            ),
        ),
        _enc_octets(ciphertext),
    )


def encode_private_key(key: PrivateKey, passphrase: str | None, headers: dict[str, str]) -> bytes:
    """Encode *key* as the PEM file notary writes (formats doc 2.3).

    Args:
        key: The key.
        passphrase: None or ``""`` writes an unencrypted ``PRIVATE KEY``;
            anything else an ``ENCRYPTED PRIVATE KEY`` (PBES2, PBKDF2-HMAC-SHA1
            with an 8-byte salt and 2048 rounds, AES-256-CBC).
        headers: PEM headers, e.g. ``{"role": "targets", "gun": "example.com/a"}``.
            Written as given: notary writes ``gun`` only for targets, snapshot
            and timestamp keys, which is the caller's rule to apply.

    Returns:
        The PEM bytes.

    Raises:
        InvalidKeyError: a header cannot be written.
    """
    der = pkcs8_private_bytes(key)
    if not passphrase:
        return encode_pem(PemBlock("PRIVATE KEY", dict(headers), der))
    return encode_pem(
        PemBlock("ENCRYPTED PRIVATE KEY", dict(headers), _encrypt_pkcs8(der, passphrase))
    )


def load_private_key_pem(data: bytes, passphrase: str | None) -> PrivateKey:
    """Load the first private key block of a PEM file.

    Args:
        data: File contents.
        passphrase: As for :func:`decrypt_private_key`.

    Returns:
        The key.

    Raises:
        InvalidKeyError: no private key block, or an unusable key.
        PassphraseRequiredError: the key is encrypted and *passphrase* is None.
        WrongPassphraseError: the passphrase does not decrypt the key.
    """
    for block in parse_pem(data):
        if block.type in PRIVATE_KEY_BLOCK_TYPES:
            return decrypt_private_key(block, passphrase)
    raise InvalidKeyError("no private key found in the PEM data")


# --------------------------------------------------------------------------- public keys


def _load_spki(der: bytes) -> PublicKeyTypes:
    """Parse a SubjectPublicKeyInfo as Go's ``x509.ParsePKIXPublicKey`` would.

    Raises:
        InvalidKeyError: not a public key Go reads (RSA without NULL parameter included).
    """
    try:
        items = _der_sequence(der, min_items=1)
        algorithm = _der_sequence(items[0].raw, min_items=1)
        if _der_oid(algorithm[0]) == _OID_RSA and (
            len(algorithm) != 2 or algorithm[1].raw != _ENC_NULL
        ):
            raise InvalidKeyError("RSA public key lacks the NULL parameter")
        return serialization.load_der_public_key(der)
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


def _load_certificate(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as e:
        raise InvalidKeyError("could not parse the certificate") from e


_SHA1_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA1,
        SignatureAlgorithmOID._RSA_WITH_SHA1,
        SignatureAlgorithmOID.ECDSA_WITH_SHA1,
        SignatureAlgorithmOID.DSA_WITH_SHA1,
    }
)


def _cert_validity(cert: x509.Certificate) -> tuple[datetime, datetime]:
    return cert.not_valid_before_utc, cert.not_valid_after_utc


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
    block, _ = _pem_decode(key.public_bytes)
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
        pub.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
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


# --------------------------------------------------------------------------- certificates


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
    raw = key._key
    if isinstance(raw, ed25519.Ed25519PrivateKey):
        raise InvalidKeyError("ed25519 keys cannot be root keys (notary makes no certificate)")
    start = now.astimezone(timezone.utc).replace(microsecond=0)
    string_type = _ASN1Type.PrintableString if set(gun) <= _PRINTABLE else _ASN1Type.UTF8String
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, gun, _type=string_type)])
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
        cert = builder.sign(raw, algorithm)
    except (ValueError, TypeError) as e:
        raise InvalidKeyError(f"could not create the root certificate: {e}") from e
    keytype = f"{key.algorithm}-x509"
    return PublicKey.from_bytes(
        keytype, _certificate_pem(cert.public_bytes(serialization.Encoding.DER))
    )
