"""Atomic file writes by path: temp file in the same directory, fsync, rename, fsync dir.

The store itself no longer uses this module: inside the trust directory every
write goes through :mod:`offtrust.store._fs` (no link followed, generations
switched in one rename). It stays for callers that write by path (the
benchmarks' fixtures), with the same temporary files as :mod:`._fs`: an
unpredictable name, created ``O_CREAT | O_EXCL | O_NOFOLLOW`` with its final
mode, so a link planted in the directory is never written through.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from offtrust.errors import StoreError
from offtrust.store._fs import fill_and_close, refuse_in_worker

DIR_MODE = 0o700
FILE_MODE = 0o600


def ensure_dir(path: Path) -> None:
    """Create *path* and missing parents, each with mode 0700 whatever the umask
    (existing ones keep theirs).

    Raises:
        StoreError: the directory cannot be created.
    """
    from offtrust.store._fs import open_root

    made = open_root(path, create=True)
    if made is not None:
        made.close()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_temp(path: Path, data: bytes, mode: int) -> Path:
    refuse_in_worker("write a file")
    ensure_dir(path.parent)
    tmp = path.with_name(f".tmp+{secrets.token_hex(16)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, mode)
    except OSError as e:
        raise StoreError(f"cannot write {path}: {e.strerror or e}") from e
    try:
        fill_and_close(fd, data, mode)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StoreError(f"cannot write {path}: {e.strerror or e}") from e
    return tmp


def write_atomic(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Replace *path* with *data* atomically, with *mode*.

    Raises:
        StoreError: the file cannot be written; *path* is then unchanged.
    """
    write_many({path: data}, mode)


def write_many(files: dict[Path, bytes], mode: int = FILE_MODE) -> None:
    """Write several files so that either all are replaced or none is.

    Every file is first written and synced under a temporary name; only then
    are they renamed into place (a rename does not fail for lack of space).

    Raises:
        StoreError: a file cannot be written; no target file was changed.
    """
    temps: list[tuple[Path, Path]] = []
    # The current content of every target, to put back if a later rename fails.
    originals: dict[Path, bytes | None] = {}
    try:
        for path, data in files.items():
            try:
                originals[path] = path.read_bytes()
            except FileNotFoundError:
                originals[path] = None
            except OSError as e:
                raise StoreError(f"cannot read {path}: {e.strerror or e}") from e
            temps.append((_write_temp(path, data, mode), path))
    except StoreError:
        _remove_quietly(tmp for tmp, _ in temps)
        raise
    replaced: list[Path] = []
    try:
        for tmp, path in temps:
            os.replace(tmp, path)
            replaced.append(path)
    except OSError as e:
        _restore(replaced, originals, mode)
        _remove_quietly(tmp for tmp, p in temps if p not in replaced)
        raise StoreError(f"cannot replace {path}: {e.strerror or e}") from e
    for parent in {path.parent for _, path in temps}:
        _fsync_dir(parent)


def _remove_quietly(paths: Iterable[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def _restore(paths: list[Path], originals: dict[Path, bytes | None], mode: int) -> None:
    """Best effort: put back what *paths* held before a failed :func:`write_many`."""
    for path in reversed(paths):
        old = originals[path]
        with contextlib.suppress(OSError, StoreError):
            if old is None:
                path.unlink()
            else:
                os.replace(_write_temp(path, old, mode), path)


def remove_files(paths: Iterable[Path]) -> None:
    """Remove files that exist; missing ones are fine.

    Raises:
        StoreError: a file exists but cannot be removed.
    """
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as e:
            raise StoreError(f"cannot remove {path}: {e.strerror or e}") from e
