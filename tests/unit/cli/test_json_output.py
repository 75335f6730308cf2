"""The fast indented JSON writer must print exactly what json.dumps prints."""

from __future__ import annotations

import json
from typing import Any

import pytest

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
