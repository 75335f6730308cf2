"""The orjson fast path of canonical JSON gives exactly the exact path's bytes, or steps aside.

On real documents (the fixtures made with notary and docker, notary's own
compatibility fixtures) the fast path must be taken and agree with the exact
path and with the signed bytes in the file; on every edge case where orjson
and Go's encoder differ (control characters, floats, NaN, integers over
2^53, lone surrogates, deep nesting, foreign types) it must return None so
the exact path decides, bytes or error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from notary_fixtures import compatibility_dir

from offtrust.errors import InvalidMetadataError
from offtrust.model import canonical
from offtrust.model.canonical import encode_canonical, encode_for_verification, html_escape

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


def _exact(value: Any, like_float64: bool = False) -> bytes | InvalidMetadataError:
    try:
        return canonical._encode_exact(value, like_float64=like_float64)
    except InvalidMetadataError as e:
        return e


def _documents() -> list[Path]:
    found = sorted(FIXTURES.glob("example-trust/tuf/**/metadata/**/*.json"))
    compat = compatibility_dir()
    if isinstance(compat, Path):
        found += sorted(p for p in compat.rglob("*.json") if "metadata" in p.parts)
    return found


def _signed_member(raw: bytes) -> bytes:
    """The text of the file's ``signed`` member (notary writes it first, compact)."""
    assert raw.startswith(b'{"signed":'), raw[:40]
    end = raw.rindex(b',"signatures":')
    return raw[len(b'{"signed":') : end]


DOCUMENTS = _documents()


def test_real_documents_are_found() -> None:
    assert len([p for p in DOCUMENTS if str(p).startswith(str(FIXTURES))]) >= 11


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: "/".join(p.parts[-4:]))
def test_fast_path_taken_and_identical_on_real_documents(path: Path) -> None:
    raw = path.read_bytes()
    signed = json.loads(raw)["signed"]
    fast = canonical._encode_fast(signed)
    assert fast is not None, "the fast path must serve real notary documents"
    assert fast == _exact(signed)
    assert fast == _exact(signed, like_float64=True)
    assert encode_for_verification(signed) == fast
    # What notary signed is in the file, HTML-escaped by Go's encoding/json.
    assert html_escape(fast) == _signed_member(raw)


EDGE_CASES: dict[str, Any] = {
    "tab": {"t": "a\tb"},
    "newline-key": {"a\nb": 1},
    "nul": {"t": "\x00"},
    "quote": {"t": 'q"b'},
    "backslash": {"t": "a\\b"},
    "float-integral": {"f": 3.0},
    "float-fraction": {"f": 1.5},
    "float-exponent": {"f": 1e300},
    "nan": {"f": math.nan},
    "inf": {"f": [math.inf]},
    "int-2^53": {"n": 2**53},
    "int-2^53-1": {"n": 2**53 - 1},
    "int-neg-2^53": {"n": -(2**53)},
    "int-2^53+1": {"n": 2**53 + 1},
    "int-2^64": {"n": 2**64},
    "int-huge": {"n": 10**400},
    "lone-surrogate": {"t": "\ud800"},
    "lone-surrogate-key": {"\udfff": 1},
    "deep": json.loads("[" * 300 + "]" * 300),
    "tuple": {"t": (1, "a", None)},
    "bool-true": {"b": True},
    "html": {"t": "a<b>&c\u2028\u2029"},
    "non-ascii-keys": {"\u00e9": 1, "a": 2, "Z": 3, "\U0001f600": 4, "\uffff": 5},
    "del": {"t": "\x7f"},
    "str-subclass": {"t": type("S", (str,), {})("x")},
    "int-subclass": {"n": type("I", (int,), {})(3)},
    "uuid": {"u": uuid.UUID(int=1)},
    "datetime": {"d": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)},
    "dataclass": {"d": dataclasses.make_dataclass("D", ["x"])(1)},
    "bytes": {"b": b"x"},
    "non-str-key": {1: "a"},
    "set": {"s": {1}},
}


@pytest.mark.parametrize("value", EDGE_CASES.values(), ids=EDGE_CASES.keys())
@pytest.mark.parametrize("like_float64", [False, True], ids=["sign", "verify"])
def test_edge_cases_agree_with_the_exact_path(value: Any, like_float64: bool) -> None:
    exact = _exact(value, like_float64)
    fast = canonical._encode_fast(value)
    if isinstance(exact, InvalidMetadataError):
        assert fast is None
        with pytest.raises(InvalidMetadataError):
            canonical._encode(value, like_float64=like_float64)
    else:
        assert fast in (None, exact)
        assert canonical._encode(value, like_float64=like_float64) == exact


@pytest.mark.parametrize(
    "name",
    ["tab", "float-integral", "nan", "int-2^53", "lone-surrogate", "deep", "quote", "uuid"],
)
def test_fast_path_steps_aside_where_orjson_differs(name: str) -> None:
    assert canonical._encode_fast(EDGE_CASES[name]) is None


@pytest.mark.parametrize("name", ["html", "non-ascii-keys", "del", "tuple", "int-2^53-1"])
def test_fast_path_serves_what_go_writes_raw(name: str) -> None:
    value = EDGE_CASES[name]
    assert canonical._encode_fast(value) == _exact(value)


_TEXT = st.text(
    st.characters(codec="utf-8", categories=None) | st.sampled_from(list('<>&"\\\t\x7f\u2028é😀')),
    max_size=12,
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.sampled_from([2**53, 2**53 - 1, -(2**53), 2**53 + 1, 2**64, 0, -1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | _TEXT
    | st.sampled_from(["\ud800", "a\udc00b"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(_TEXT | st.sampled_from(["\ud83d", "_type"]), inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=600, deadline=None, database=None, derandomize=True)
@given(_VALUES)
def test_fast_and_exact_paths_agree_on_generated_values(value: Any) -> None:
    for like_float64 in (False, True):
        exact = _exact(value, like_float64)
        fast = canonical._encode_fast(value)
        if isinstance(exact, InvalidMetadataError):
            assert fast is None, (value, fast)
        elif fast is not None:
            assert fast == exact, value


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(st.dictionaries(_TEXT, st.integers(0, 2**53 - 1) | _TEXT, max_size=6))
def test_public_encoders_unchanged_for_plain_documents(value: dict[str, Any]) -> None:
    exact = _exact(value)
    if isinstance(exact, InvalidMetadataError):
        with pytest.raises(InvalidMetadataError):
            encode_canonical(value)
    else:
        assert encode_canonical(value) == exact
