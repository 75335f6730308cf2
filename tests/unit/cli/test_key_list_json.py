"""``key list --json`` writes its rows with a template: byte for byte what print_json writes."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from offtrust.cli._common import print_json
from offtrust.cli.keys import _print_key_rows


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


@settings(max_examples=500, deadline=None)
@given(st.lists(_ROW, max_size=4))
def test_same_bytes_as_the_general_writer(rows: list[dict[str, Any]]) -> None:
    assert printed(_print_key_rows, rows) == general(rows)


def test_rows_of_another_shape_take_the_general_writer() -> None:
    odd: list[dict[str, Any]] = [
        {"keyid": "a", "gun": "", "role": "root", "extra": [1, {"b": 2.5}]},
        {"algorithm": 3, "encrypted": True, "gun": "g", "keyid": "k", "legacy_layout": False,
         "location": "l", "pem_type": "p", "role": "r"},
    ]  # fmt: skip
    for rows in ([odd[0]], [odd[1]], odd, []):
        assert printed(_print_key_rows, rows) == general(rows)
