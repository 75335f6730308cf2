"""``key list --json`` writes its rows with a template: byte for byte what print_json writes."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offtrust._entry import key_rows_json
from offtrust.cli._common import print_json
from offtrust.ops.keys import ROW_FIELDS


def printed(write: Any, *args: Any) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        write(*args)
    return out.getvalue()


def general(rows: list[dict[str, Any]]) -> str:
    """What key list printed before: the general writer, no GUN as null."""
    return printed(print_json, {"keys": [{**r, "gun": r["gun"] or None} for r in rows]})


_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "<&>", 'a"b\\c', "\x00\x1f\x7f", "é\u2028\u2029", "targets/releases"]
)
_ROW = st.fixed_dictionaries(
    {
        "algorithm": st.none() | st.sampled_from(["ecdsa", "rsa", "ed25519"]) | _TEXT,
        "encrypted": st.booleans(),
        "gun": _TEXT,
        "keyid": _TEXT,
        "legacy_layout": st.booleans(),
        "location": _TEXT,
        "pem_type": _TEXT,
        "role": _TEXT,
    }
)


def as_row(row: dict[str, Any]) -> tuple[Any, ...]:
    """A ``key_rows`` row (its fields, then the algorithm) of a ``list_keys`` dict."""
    return (*(row[name] for name in ROW_FIELDS), row["algorithm"])


@settings(max_examples=500, deadline=None)
@given(st.lists(_ROW, max_size=4))
def test_same_bytes_as_the_general_writer(rows: list[dict[str, Any]]) -> None:
    assert key_rows_json([as_row(r) for r in rows]) == general(rows)


def test_a_value_of_another_type_is_refused_not_written() -> None:
    row = ("root", "", "k", "l", True, "p", False, None)
    for odd in (3, 2.5, [1], {"b": 2}):
        with pytest.raises(TypeError):
            key_rows_json([(*row[:7], odd)])
    assert key_rows_json([]) == general([])
