"""Tag order must be Docker's (fvbommel/sortorder.NaturalLess)."""

from __future__ import annotations

import random

import pytest

from offtrust.ops.natural import natural_key, natural_less


@pytest.mark.parametrize(
    ("a", "b"),
    [("v2", "v10"), ("1", "a"), ("v1a", "v01a"), ("v1", "v01"), ("a", "ab"), ("1.9", "1.10"),
     ("", "0"), ("latest", "v1")],
)
def test_natural_less_examples(a: str, b: str) -> None:
    assert natural_less(a, b)
    assert not natural_less(b, a)


def test_sort_key_agrees_with_natural_less() -> None:
    rng = random.Random(7)
    alphabet = "a0-1b9.0Z"
    for _ in range(5000):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
        assert natural_less(a, b) == (natural_key(a) < natural_key(b)), (a, b)
