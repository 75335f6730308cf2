"""Go ``time.Time`` JSON timestamps, as notary writes ``expires``.

RFC 3339 with 0-9 fractional digits (trailing zeros trimmed) and an offset or
``Z``. Python keeps microseconds, so parsing drops nanoseconds; that is why the
metadata model keeps the original string until a role is re-signed.

Go represents times far beyond Python's years 1 to 9999: a time whose offset
moves it past either end once converted to UTC (``9999-12-31T23:59:59-01:00``)
is clamped to that end, which orders it correctly against any other time.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone

from offtrust.errors import InvalidMetadataError

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z",
    re.ASCII,  # Go reads ASCII digits only; \d alone would match any script's.
)


_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
_LATEST = datetime.max.replace(tzinfo=timezone.utc)


def parse_go_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (any offset, 0-9 fraction digits) to aware UTC.

    A valid time outside the range Python represents in UTC is clamped to the
    first or last microsecond of that range (see the module docstring).

    Raises:
        InvalidMetadataError: the text is not RFC 3339.
    """
    if not isinstance(text, str):
        raise InvalidMetadataError(f"not an RFC 3339 time: {text!r}")
    return _parse(text)


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> datetime:
    """:func:`parse_go_time` of a string, memoised (a command meets each ``expires`` often)."""
    m = _RFC3339.match(text)
    if not m:
        raise InvalidMetadataError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    micro = int((frac + "000000")[:6])
    if m.group(8):
        tz = timezone.utc
    else:
        sign = 1 if m.group(9) == "+" else -1
        tz = timezone(sign * timedelta(hours=int(m.group(10)), minutes=int(m.group(11))))
    try:
        value = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as e:
        raise InvalidMetadataError(f"not a valid time: {text!r}") from e
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        # Only the offset can push a valid local time out of range, by less than a day.
        return _LATEST if value.year == datetime.max.year else _EARLIEST


def format_go_time(value: datetime) -> str:
    """Format *value* as Go marshals a UTC ``time.Time``: ``...T..:..:..[.frac]Z``.

    Raises:
        ValueError: *value* is naive.
        OverflowError: *value* is out of range once converted to UTC.
    """
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    value = value.astimezone(timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    return text + "Z"
