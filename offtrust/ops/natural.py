"""Natural string order as Docker sorts tags (``fvbommel/sortorder.NaturalLess``)."""

from __future__ import annotations

import re


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
