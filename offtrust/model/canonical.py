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

import functools
import re
from typing import Any

from offtrust.errors import InvalidMetadataError

# Go's verifier decodes every number into a float64 before re-encoding it, so
# integers beyond 2**53 cannot survive a round trip through notary.
MAX_SAFE_INTEGER = 2**53

# The largest integer a float64 holds; beyond it Go's decoder fails.
_MAX_FLOAT64_INTEGER = int(1.7976931348623157e308)

_CONTROL = frozenset(chr(c) for c in range(0x20))

# orjson's dumps with sorted keys and 53-bit integers, imported on first use;
# False when it is not installed (every value then takes the exact path).
_orjson_dumps: Any = None

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


def _is_plain(value: Any) -> bool:
    """Whether *value* holds only dicts, lists, tuples, str, int, bool and None.

    No float (orjson writes ``1.0`` and ``NaN`` as ``null`` where Go refuses
    or prints ``1``) and no other type (orjson serializes dataclasses, UUIDs,
    enums and dates where the exact path refuses them). A walk without copies;
    str and int subclasses count as other types, so they take the exact path.
    """
    stack = [value]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        kind = node.__class__
        if kind is dict:
            children: Any = node.values()
        elif kind is list or kind is tuple:
            children = node
        elif kind is str or kind is int or kind is bool or node is None:
            continue
        else:
            return False
        for child in children:
            kind = child.__class__
            if kind is str or kind is int:
                continue
            if kind is dict or kind is list or kind is tuple:
                push(child)
            elif not (kind is bool or child is None):
                return False
    return True


def _encode_fast(value: Any) -> bytes | None:
    """The canonical bytes from orjson when they are certainly Go's, else None.

    orjson with sorted keys writes what Go's canonical encoder writes (no
    whitespace, keys in code-point order, which is UTF-8 byte order, every
    character raw) except where guarded here:

    - a backslash in the output: orjson escaped a control character (Go
      writes it raw; the exact path refuses it) or a ``"``/``\\`` (same
      bytes, but the exact path decides);
    - floats and non-JSON types: refused by :func:`_is_plain`;
    - integers beyond +-(2^53 - 1), lone surrogates, nesting deeper than
      orjson's limit, non-string keys: orjson raises.

    None sends the value to the exact path, which gives the bytes or the error.
    """
    global _orjson_dumps
    if _orjson_dumps is None:
        try:
            import orjson
        except ImportError:  # pragma: no cover - a dependency; only a broken install
            _orjson_dumps = False
        else:
            options = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
            _orjson_dumps = functools.partial(orjson.dumps, option=options)
    if _orjson_dumps is False or not _is_plain(value):
        return None
    try:
        out: bytes = _orjson_dumps(value)
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
        return None
    if b"\\" in out:
        return None
    return out


def encode_fast_or_none(value: Any) -> bytes | None:
    """The bytes of :func:`encode_canonical` and :func:`encode_for_verification`
    when the guarded fast path certainly gives them, else None (never raises).

    For a value parsed now and checked later: the caller keeps the bytes, or
    the value itself for the exact path (and its precise error) when None.
    """
    return _encode_fast(value)


def _encode(value: Any, *, like_float64: bool) -> bytes:
    """Check *value* and encode it canonically; foreign failures become ours."""
    fast = _encode_fast(value)
    if fast is not None:
        return fast
    return _encode_exact(value, like_float64=like_float64)


def _encode_exact(value: Any, *, like_float64: bool) -> bytes:
    """The reference path: every value checked, then ``canonicaljson``."""
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
