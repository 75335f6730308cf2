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


# --- natural_order: the fast form used for 100,000 tags ------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from offtrust.ops import natural  # noqa: E402
from offtrust.ops.natural import natural_order  # noqa: E402

# Digits (leading zeros, long runs), letters of both cases, the characters the
# fast form escapes, the separator it joins with, and multi-byte characters.
_ADVERSARIAL = st.text(
    st.sampled_from(list("0001239aAzZ.-_/:\x00\x01\x02\n\x7f") + ["é", "€", "ÿ", "\u0100", "😀"]),
    max_size=12,
)


def _reference(names: list[str]) -> list[int]:
    return sorted(range(len(names)), key=lambda i: natural_key(names[i]))


@settings(max_examples=600, deadline=None)
@given(st.lists(_ADVERSARIAL, max_size=30))
def test_natural_order_is_the_reference_order(names: list[str]) -> None:
    assert natural_order(names) == _reference(names)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.text("0123456789", min_size=1, max_size=4), min_size=1, max_size=4).flatmap(
            lambda parts: st.sampled_from(["", "v", "V"]).map(
                lambda prefix: prefix + ".".join(parts)
            )
        ),
        max_size=40,
    )
)
def test_natural_order_on_version_like_tags(names: list[str]) -> None:
    order = natural_order(names)
    assert order == _reference(names)
    ordered = [names[i] for i in order]
    for a, b in zip(ordered, ordered[1:], strict=False):
        assert not natural_less(b, a), (a, b)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=8), max_size=20))
def test_natural_order_on_any_text(names: list[str]) -> None:
    names = [n for n in names if not any(0xD800 <= ord(c) <= 0xDFFF for c in n)]
    assert natural_order(names) == _reference(names)


def test_natural_order_is_stable_and_complete() -> None:
    names = ["v1", "v01", "v1", "", "0", "00", "a\x00", "a\x01", "a", "a\n1", "v1"]
    order = natural_order(names)
    assert sorted(order) == list(range(len(names)))
    assert [i for i in order if names[i] == "v1"] == [0, 2, 10]
    assert order == _reference(names)


def test_natural_order_falls_back_on_a_number_too_long_to_encode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(natural, "_MAX_RUN", 3)
    names = ["x12345", "x999", "x0012", "x1234", "x10000"]
    assert natural_order(names) == _reference(names) == [2, 1, 3, 4, 0]


def test_natural_order_of_a_hundred_thousand_tags() -> None:
    rng = random.Random(11)
    names = [
        f"{rng.randint(0, 3)}.{rng.randint(0, 120)}.{rng.randint(0, 999):0{rng.randint(1, 3)}d}"
        for _ in range(20000)
    ]
    assert natural_order(names) == _reference(names)
