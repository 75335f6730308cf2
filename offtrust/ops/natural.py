"""Natural string order as Docker sorts tags (``fvbommel/sortorder.NaturalLess``)."""

from __future__ import annotations

import re
from collections.abc import Sequence


def natural_less(a: str, b: str) -> bool:
    s1, s2 = a.encode(), b.encode()
    i, j = 0, 0
    while i < len(s1) and j < len(s2):
        c1, c2 = s1[i], s2[j]
        d1, d2 = 48 <= c1 <= 57, 48 <= c2 <= 57
        if d1 != d2:
            return d1
        if not d1:
            if c1 != c2:
                return c1 < c2
            i += 1
            j += 1
            continue
        while i < len(s1) and s1[i] == 48:
            i += 1
        while j < len(s2) and s2[j] == 48:
            j += 1
        nz1, nz2 = i, j
        while i < len(s1) and 48 <= s1[i] <= 57:
            i += 1
        while j < len(s2) and 48 <= s2[j] <= 57:
            j += 1
        if i - nz1 != j - nz2:
            return i - nz1 < j - nz2
        if s1[nz1:i] != s2[nz2:j]:
            return s1[nz1:i] < s2[nz2:j]
        if nz1 != nz2:
            return nz1 < nz2
    return len(s1) < len(s2)


_RUNS = re.compile(rb"[0-9]+|[^0-9]")


def natural_key(text: str) -> tuple[tuple[int, int, bytes, int], ...]:
    """A sort key ordering strings exactly as :func:`natural_less` does.

    Digit runs become ``(0, significant length, significant digits, zeros)``
    and every other byte ``(1, byte)``: digits sort before other characters,
    numbers by value, and at equal value fewer leading zeros first.
    """
    out = []
    for run in _RUNS.findall(text.encode()):
        if run[0] < 58 and run[0] > 47:
            significant = run.lstrip(b"0")
            out.append((0, len(significant), significant, len(run) - len(significant)))
        else:
            out.append((1, run[0], b"", 0))
    return tuple(out)


_RUN = re.compile(r"[0-9]+")  # ASCII digits only, as Go's sortorder (not \\d)
_SEP = "\n"
#: Longest digit run (after its leading zeros) :func:`natural_order` encodes in
#: one character; a longer one sends the whole list to :func:`natural_key`.
_MAX_RUN = 0x10FFFF - 0x100


class _TooLong(Exception):
    pass


def natural_order(names: Sequence[str]) -> list[int]:
    """The indexes of *names* in Docker's order (as :func:`natural_less`), stable.

    Same order as sorting by :func:`natural_key`, several times faster on
    100,000 tags: every name becomes one string compared by the C string
    comparison, made by one regular-expression pass over all names joined.
    Every character except ``\\x00`` and ``\\x01`` stands for itself (code-point
    order is UTF-8 byte order); those two become ``\\x01\\x00`` and
    ``\\x01\\x01``, and a digit run becomes ``\\x00``, one character for its
    significant length, its significant digits, its leading zeros and ``\\x00``:
    runs before any other character, by value, fewer zeros first. Each piece is
    prefix-free and ordered as the piece it stands for, so the strings compare
    as the names do.
    """
    count = len(names)
    if count < 2:
        return list(range(count))
    joined = _SEP.join(names)
    if "\x00" in joined or "\x01" in joined:
        joined = joined.replace("\x01", "\x01\x01").replace("\x00", "\x01\x00")
    pieces: dict[str, str] = {}

    def piece(match: re.Match[str]) -> str:
        run = match[0]
        found = pieces.get(run)
        if found is None:
            significant = run.lstrip("0")
            if len(significant) > _MAX_RUN:
                raise _TooLong
            zeros = "0" * (len(run) - len(significant))
            found = pieces[run] = f"\x00{chr(0x100 + len(significant))}{significant}{zeros}\x00"
        return found

    try:
        keys = _RUN.sub(piece, joined).split(_SEP)
    except _TooLong:
        keys = []
    if len(keys) != count:  # a name holds the separator, or an enormous number
        return sorted(range(count), key=lambda i: natural_key(names[i]))
    return sorted(range(count), key=keys.__getitem__)
