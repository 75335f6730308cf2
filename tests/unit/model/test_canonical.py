"""Canonical JSON must be byte-for-byte what notary's Go encoder produces."""

from __future__ import annotations

import pytest

from offtrust.errors import InvalidMetadataError
from offtrust.model.canonical import encode_canonical, encode_for_verification, html_escape


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": 2}, b'{"a":2,"b":1}'),
        ({"a": [1, None, True, False]}, b'{"a":[1,null,true,false]}'),
        ({"t": "a<b>&c"}, b'{"t":"a<b>&c"}'),
        ({"t": "\u00e9\U0001f600"}, '{"t":"\u00e9\U0001f600"}'.encode()),
        ({"t": "x\u2028y\u2029"}, '{"t":"x\u2028y\u2029"}'.encode()),
        ({"t": 'q"b\\'}, b'{"t":"q\\"b\\\\"}'),
        ({"t": "\x7f"}, b'{"t":"\x7f"}'),
        ({"n": 2**53}, b'{"n":9007199254740992}'),
        ({"n": -(2**53)}, b'{"n":-9007199254740992}'),
        ({"f": 3.0}, b'{"f":3}'),
        # Keys sort by code point (= UTF-8 byte order), so "Z" < "a" < "é".
        ({"\u00e9": 1, "a": 2, "Z": 3}, '{"Z":3,"a":2,"\u00e9":1}'.encode()),
    ],
    ids=[
        "sorted",
        "literals",
        "html-raw",
        "non-ascii",
        "u2028",
        "escapes",
        "del",
        "max-int",
        "min-int",
        "integral-float",
        "key-order",
    ],
)
def test_canonical_bytes(value: object, expected: bytes) -> None:
    assert encode_canonical(value) == expected


@pytest.mark.parametrize(
    "value",
    [{"n": 2**53 + 1}, {"f": 1.5}, {"t": "tab\there"}, {"t": "nl\n"}, {"f": float("nan")}],
    ids=["too-large", "fraction", "tab", "newline", "nan"],
)
def test_canonical_refuses_what_notary_cannot_sign(value: object) -> None:
    with pytest.raises(InvalidMetadataError):
        encode_canonical(value)


def test_verification_rounds_large_integers_like_float64() -> None:
    # Go's verifier decodes numbers to float64: 2^53+1 becomes 2^53.
    assert encode_for_verification({"n": 2**53 + 1}) == b'{"n":9007199254740992}'


def test_html_escape_matches_go_encoding_json() -> None:
    raw = encode_canonical({"t": "a<b>&c\u2028\u2029\u00e9"})
    assert html_escape(raw) == (
        b'{"t":"a\\u003cb\\u003e\\u0026c\\u2028\\u2029' + "\u00e9".encode() + b'"}'
    )
