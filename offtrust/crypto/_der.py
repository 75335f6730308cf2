"""A minimal DER reader and encoder: just what notary's key formats need.

Internal to :mod:`offtrust.crypto`. Recent ``cryptography`` releases refuse
notary's ECDSA and Ed25519 PKCS#8 and cannot write its PBES2 variant, so the
ASN.1 around keys (and the names of root certificates) is read and written
here; ``cryptography`` only ever sees standard encodings. Errors are
:class:`_DerError`, which callers always turn into an :mod:`offtrust.errors`
class.
"""

from __future__ import annotations

from typing import NamedTuple


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
_UTF8_STRING = 0x0C
_PRINTABLE_STRING = 0x13
_SET = 0x31

_OID_PBES2 = "1.2.840.113549.1.5.13"
_OID_PBKDF2 = "1.2.840.113549.1.5.12"
_OID_RSA = "1.2.840.113549.1.1.1"
_OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_OID_ED25519_NOTARY = "1.3.6.1.4.1.11591.15.1"
_OID_ED25519 = "1.3.101.112"
_OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"
_OID_COMMON_NAME = "2.5.4.3"

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
