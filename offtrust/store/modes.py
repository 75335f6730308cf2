"""Read-only: the modes of the key store's files and directories (for ``doctor``).

Nothing is followed or opened but directories (``O_NOFOLLOW``, see
:mod:`offtrust.store._fs`); files are only ``lstat``-ed, so a FIFO or a device
named like a key is never waited on. Links are reported as what they are,
never followed.
"""

from __future__ import annotations

import contextlib
import stat
from dataclasses import dataclass
from pathlib import Path

from offtrust.errors import StoreError
from offtrust.store import _fs
from offtrust.store.layout import PRIVATE, TrustDir


@dataclass(frozen=True)
class PathMode:
    """One entry of the key store: its path, kind (``file``/``dir``/``link``/``other``), mode."""

    path: Path
    kind: str
    mode: int

    @property
    def others_can_access(self) -> bool:
        """Group or other users have any permission bit on it."""
        return bool(self.mode & 0o077)


def key_store_modes(trust: TrustDir) -> list[PathMode]:
    """``private/`` itself and every file and directory below it, in name order.

    Leftover temporary files of offtrust are skipped; unreadable directories
    are skipped too (best effort: this is an audit, never a failure).
    """
    out: list[PathMode] = []
    with contextlib.suppress(StoreError):
        root = _fs.open_root(trust.root)
        if root is None:
            return out
        with root:
            found = root.lstat(PRIVATE[0])
            if found is None:
                return out
            out.append(PathMode(trust.private, _fs.kind_of(found.st_mode), found.st_mode))
            if not stat.S_ISDIR(found.st_mode):
                return out
            directory = root.walk(PRIVATE)
            if directory is None:
                return out
            with directory:
                _walk(directory, trust.private, out, 0)
    return out


def _walk(directory: _fs.Dir, path: Path, out: list[PathMode], depth: int) -> None:
    try:
        entries = directory.entries()
    except StoreError:
        return
    for name, kind in sorted(entries):
        if _fs.is_leftover(name):
            continue
        try:
            found = directory.lstat(name)
        except StoreError:
            continue
        if found is None:
            continue
        out.append(PathMode(path / name, kind, found.st_mode))
        if kind == _fs.DIR and depth < _fs.MAX_DEPTH:
            with contextlib.suppress(StoreError):
                sub = directory.open_dir(name)
                if sub is None:
                    continue
                with sub:
                    _walk(sub, path / name, out, depth + 1)
