"""PEM framing exactly as Go's ``encoding/pem`` decodes and encodes it.

Headers such as ``role:`` and ``gun:`` are kept (OpenSSL-based readers choke
on them); malformed blocks are skipped as Go skips them.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from offtrust.errors import InvalidKeyError

__all__ = ["PemBlock", "encode_pem", "parse_pem"]


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
