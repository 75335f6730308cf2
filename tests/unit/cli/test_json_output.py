"""The fast indented JSON writer must print exactly what json.dumps prints."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offtrust.cli._common import dumps_indented

CASES: list[Any] = [
    [],
    {},
    [{"Name": "example.com/app", "SignedTags": [], "Signers": [{"Name": "a", "Keys": []}]}],
    {"b": [1, 2, {"c": None, "d": True}], "a": "é<&>\u2028", "e": {"f": [[], {}]}},
    [1.5, -3, 'quote"back\\slash\nnew'],
]


@pytest.mark.parametrize("value", CASES)
@pytest.mark.parametrize("indent", [2, 4])
@pytest.mark.parametrize("sort_keys", [False, True])
def test_same_text_as_json_dumps(value: Any, indent: int, sort_keys: bool) -> None:
    expected = json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False)
    assert dumps_indented(value, indent=indent, sort_keys=sort_keys) == expected


_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text()
_TREE = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner) | st.tuples(inner, inner),
    max_leaves=30,
)


@settings(max_examples=1000, deadline=None)
@given(_TREE, st.sampled_from([2, 4]), st.booleans())
def test_same_text_as_json_dumps_on_any_document(value: Any, indent: int, sort_keys: bool) -> None:
    expected = json.dumps(value, indent=indent, sort_keys=sort_keys, ensure_ascii=False)
    assert dumps_indented(value, indent=indent, sort_keys=sort_keys) == expected


def test_deeper_than_the_cached_indents() -> None:
    deep: list[Any] = []
    node = deep
    for _ in range(150):
        child: list[Any] = []
        node.append({"a": child, "b": 1})
        node = child
    assert dumps_indented(deep, indent=2) == json.dumps(deep, indent=2, ensure_ascii=False)
