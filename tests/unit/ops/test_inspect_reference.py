"""GUN[:TAG] references, split as Docker splits them."""

from __future__ import annotations

import pytest

from offtrust.ops.inspect import split_reference


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("example.com/app", ("example.com/app", None)),
        ("example.com/app:v1", ("example.com/app", "v1")),
        ("localhost:5000/app", ("localhost:5000/app", None)),
        ("localhost:5000/team/app:1.2.3", ("localhost:5000/team/app", "1.2.3")),
        ("app:latest", ("app", "latest")),
    ],
)
def test_split_reference(reference: str, expected: tuple[str, str | None]) -> None:
    assert split_reference(reference) == expected
