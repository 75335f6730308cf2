"""Canonical JSON exactly as Notary's Go encoder produces it.

Notary signs ``MarshalCanonical`` of the ``signed`` object: sorted keys, no
whitespace, only ``"`` and ``\\`` escaped, every other character raw (``<``,
``>``, ``&``, U+2028 and non-ASCII included), integers only. Files and wire
bodies then wrap those bytes in Go's ``encoding/json``, which HTML-escapes
``< > &`` and U+2028/U+2029 (see :func:`html_escape`).

``canonicaljson`` produces the same bytes for everything notary can write. It
differs on floats and on control characters, which Go writes raw and notary
cannot serialize at all, so both are refused here with a clear error instead of
producing bytes that would not verify.
"""

from __future__ import annotations

import re
from typing import Any

from offtrust.errors import InvalidMetadataError

# Go's verifier decodes every number into a float64 before re-encoding it, so
# integers beyond 2**53 cannot survive a round trip through notary.
MAX_SAFE_INTEGER = 2**53

# The largest integer a float64 holds; beyond it Go's decoder fails.
_MAX_FLOAT64_INTEGER = int(1.7976931348623157e308)

_CONTROL = frozenset(chr(c) for c in range(0x20))

# In JSON text, the start of an escape that decodes to a surrogate code point.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check(value: Any, path: str, like_float64: bool = False) -> Any:
    """Return *value* with integral floats made ints; refuse what Go cannot encode.

    With *like_float64*, integers beyond 2^53 are rounded as Go's verifier
    rounds them (it decodes every number into a float64) instead of refused.
    """
    if isinstance(value, str):
        if not _CONTROL.isdisjoint(value):
            raise InvalidMetadataError(
                f"{path}: control characters cannot be signed the way notary signs"
            )
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidMetadataError(f"{path}: object keys must be strings")
            if not _CONTROL.isdisjoint(k):
                _check(k, path)
            kind = v.__class__
            # Fast paths for the leaves that make up almost every document.
            if (kind is str and _CONTROL.isdisjoint(v)) or (
                kind is int and -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER
            ):
                out[k] = v
            else:
                out[k] = _check(v, f"{path}.{k}", like_float64)
        return out
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            if like_float64 and abs(value) <= _MAX_FLOAT64_INTEGER:
                return int(float(value))
            if like_float64:
                # Go's decoder refuses a number a float64 cannot hold.
                raise InvalidMetadataError(f"{path}: integer too large for a JSON number")
            raise InvalidMetadataError(
                f"{path}: integer {value} is too large for notary (over 2^53)"
            )
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")) or not value.is_integer():
            raise InvalidMetadataError(f"{path}: unsupported number {value!r} (integers only)")
        return _check(int(value), path, like_float64)
    if isinstance(value, (list, tuple)):
        return [_check(v, f"{path}[{i}]", like_float64) for i, v in enumerate(value)]
    raise InvalidMetadataError(f"{path}: cannot encode {type(value).__name__} as JSON")


def encode_canonical(value: Any) -> bytes:
    """Return the canonical bytes notary signs for *value*.

    Args:
        value: JSON-like data (dict, list, str, int, bool, None).

    Returns:
        The UTF-8 canonical JSON bytes.

    Raises:
        InvalidMetadataError: the value holds a float with a fraction, an
            integer over 2^53, a control character, a lone surrogate, a
            non-JSON type, or is nested too deeply.
    """
    return _encode(value, like_float64=False)


def _encode(value: Any, *, like_float64: bool) -> bytes:
    """Check *value* and encode it canonically; foreign failures become ours."""
    from canonicaljson import encode_canonical_json

    try:
        return bytes(encode_canonical_json(_check(value, "$", like_float64)))
    except RecursionError:
        raise InvalidMetadataError("$: nested too deeply to encode") from None
    except UnicodeEncodeError:
        # Only a lone surrogate ("\ud800" in the JSON text) is not UTF-8 encodable.
        raise InvalidMetadataError(
            "$: a string holds a lone surrogate (\\ud800-\\udfff), which is not text"
        ) from None


def encode_for_verification(value: Any) -> bytes:
    """Return the bytes Go's verifier re-encodes a decoded document into.

    The verifier decodes numbers to float64, so large integers are rounded as
    Go would round them before re-encoding; everything else is canonical.

    Raises:
        InvalidMetadataError: as :func:`encode_canonical`, but for large
            integers a float64 holds.
    """
    return _encode(value, like_float64=True)


_HTML_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def html_escape(data: bytes) -> bytes:
    """Escape ``< > &`` and U+2028/U+2029 as Go's ``encoding/json`` does.

    Applied to canonical bytes these characters can only occur inside strings,
    so a plain byte replacement is exact.
    """
    for raw, escaped in _HTML_ESCAPES:
        if raw in data:
            data = data.replace(raw, escaped)
    return data


def has_lone_surrogate(text: str, document: Any) -> bool:
    """Whether *document*, parsed from the JSON *text*, holds a lone surrogate.

    JSON may escape one half of a UTF-16 pair (``"\\ud800"``); Python decodes
    it to a code point that is not text, cannot be encoded as UTF-8 and that
    Go replaces with U+FFFD, so no signature over it can be checked. Valid
    pairs decode to one character; only lone halves remain. The walk over the
    document runs only when *text* holds such an escape at all.
    """
    if not _SURROGATE_ESCAPE.search(text):
        return False
    search = _SURROGATE.search
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if search(node):
                return True
        elif isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and search(key):
                    return True
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return False
