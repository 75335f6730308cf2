"""Text that reaches offtrust from metadata and the command line, generated.

Times (``expires``), durations (``resign --expires``), names (GUNs, tags,
paths, key and signer names, ``GUN:TAG`` references) and canonical JSON
encoding, fed with arbitrary text: surrogates (non-UTF-8 argv bytes),
control characters, other scripts' digits, huge numbers.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fuzzkit import cases, check, json_values
from hypothesis import given
from hypothesis import strategies as st

from offtrust.model import names
from offtrust.model.canonical import encode_canonical, encode_for_verification
from offtrust.model.timefmt import format_go_time, parse_go_time
from offtrust.ops.edit import expiry_after, parse_duration
from offtrust.ops.inspect import split_reference

NOW = datetime(2026, 11, 26, 20, 12, 13, tzinfo=timezone.utc)

# Any code point, surrogates included (as argv bytes that are not UTF-8 arrive).
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)


@st.composite
def near_times(draw: st.DrawFn) -> str:
    """RFC 3339-shaped text with extreme or broken fields."""
    digits = st.text(alphabet="0123456789٠١٢", min_size=1, max_size=5)
    year = draw(st.sampled_from(["0000", "0001", "9999", "2026", "10000", "99"]) | digits)
    month, day = draw(digits), draw(digits)
    hour, minute, second = draw(digits), draw(digits), draw(digits)
    frac = draw(st.sampled_from(["", ".5", ".123456789", ".1234567891"]))
    zone = draw(st.sampled_from(["Z", "z", "+01:00", "-01:00", "+23:59", "-99:99", "", "Z\n"]))
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}{frac}{zone}"


@cases(600)
@given(st.one_of(near_times(), any_text))
def test_times(text: str) -> None:
    value = check(parse_go_time, text)
    if value is not None:
        assert value.tzinfo is not None
        check(lambda: value <= NOW)
        try:
            format_go_time(value)
        except OverflowError:
            # Only a time clamped to the end of Python's range cannot be formatted.
            assert value.year in (1, 9999)


@cases(400)
@given(
    st.one_of(
        any_text,
        st.builds(
            lambda n, u: f"{n}{u}",
            st.one_of(st.integers(), st.text(alphabet="0123456789²٣", max_size=12)),
            st.sampled_from(["h", "d", "w", "y", "H", "Y", "", " "]),
        ),
    )
)
def test_durations(text: str) -> None:
    lifetime = check(parse_duration, text)
    if lifetime is not None:
        expiry = check(expiry_after, NOW, lifetime)
        if expiry is not None:
            assert format_go_time(expiry)


@cases(600)
@given(any_text)
def test_names(text: str) -> None:
    for rule in (
        names.check_gun,
        names.check_tag,
        names.check_path,
        names.check_key_name,
        names.check_signer_name,
    ):
        check(rule, text)
    names.gun_problem(text)
    names.is_delegation(text)
    names.is_valid_role(text)
    gun, tag = split_reference(text)
    check(names.check_gun, gun)
    if tag is not None:
        check(names.check_tag, tag)


@cases(200)
@given(st.one_of(json_values, st.dictionaries(any_text, any_text, max_size=3)))
def test_canonical_encoding(value: Any) -> None:
    check(encode_canonical, value)
    check(encode_for_verification, value)
