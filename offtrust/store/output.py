"""Files the user names on the command line: ``stage --output``, ``key generate``'s ``.pub``.

Such a path may point anywhere: at a device, a FIFO, a directory, through a
symbolic link. Writing is allowed only as a regular file, and only like this:

- ``-`` is standard output where a command allows it (:func:`is_stdout`); the
  command writes there itself;
- a symbolic link is followed to where it points, and that target is what the
  rules below apply to (an existing regular file, or nothing yet);
- a device, FIFO, socket or directory is refused, before anything is written
  and without opening it (opening a FIFO would block, writing to
  ``/dev/null`` as root would replace the device with a file);
- the parent directory must exist: it is never created;
- the file is never read: the new content is written to a temporary file in
  the same directory (``O_CREAT | O_EXCL | O_NOFOLLOW``, an unpredictable
  name), synced, given its mode and renamed over the name in one step, and
  the directory is synced; a failure leaves the old file (or no file) and no
  temporary file.

Inputs the user names (a bundle, a key file) are read with
:func:`read_user_file`: regular files only, opened without blocking, and no
more than a size limit.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from offtrust.errors import StoreError, UnreadableInputError, UsageError

__all__ = [
    "STDOUT",
    "OutputTarget",
    "check_output",
    "is_stdout",
    "read_user_file",
    "write_output",
]

#: The name that means standard output, where a command allows it.
STDOUT = "-"

_OPEN_TEMP = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_OPEN_TEMP |= getattr(os, "O_CLOEXEC", 0)
_OPEN_INPUT = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, text in _KINDS:
        if test(mode):
            return text
    return "not a regular file"


def is_stdout(path: Path | str) -> bool:
    """True when *path* is ``-``, the name for standard output."""
    return str(path) == STDOUT


@dataclass(frozen=True)
class OutputTarget:
    """An output path checked by :func:`check_output`.

    Attributes:
        shown: the path as the user gave it, for messages.
        path: where the file is written: the absolute path, symbolic links resolved.
        exists: whether a regular file is there now (to be replaced).
    """

    shown: str
    path: Path
    exists: bool


def check_output(path: Path | str, *, replace: bool = True) -> OutputTarget:
    """Check that *path* can receive a new regular file, before any work is done.

    Args:
        path: the path the user named (not ``-``: see :func:`is_stdout`).
        replace: whether an existing regular file may be replaced.

    Returns:
        Where to write.

    Raises:
        UsageError: the path is empty, ``-``, names a directory, a device, a
            FIFO or a socket (or a link to one), an existing file when
            *replace* is False, or its parent directory does not exist.
    """
    shown = str(path)
    if not shown:
        raise UsageError("the output file name is empty")
    if is_stdout(shown):
        raise UsageError("'-' (standard output) cannot be used here; name a file")
    if shown.endswith(("/", "/.", "/..")) or shown in (".", ".."):
        raise UsageError(f"{shown} is a directory; name a file in it")
    try:
        real = Path(os.path.realpath(os.path.abspath(shown)))
        try:
            info: os.stat_result | None = os.lstat(real)
        except FileNotFoundError:
            info = None
        if info is not None and stat.S_ISLNK(info.st_mode):
            # realpath() leaves a link it cannot resolve (a loop) in place.
            raise UsageError(f"{shown}: cannot resolve the symbolic link")
        if info is not None and not stat.S_ISREG(info.st_mode):
            hint = "use -o - for standard output" if stat.S_ISCHR(info.st_mode) else None
            if stat.S_ISDIR(info.st_mode):
                hint = "name a file in that directory"
            raise UsageError(
                f"{shown} is {_kind(info.st_mode)}; offtrust writes only regular files",
                hint=hint,
            )
        if info is not None and not replace:
            raise UsageError(f"{shown} already exists")
        try:
            parent = os.stat(real.parent)
        except FileNotFoundError:
            raise UsageError(
                f"cannot write {shown}: the directory {real.parent} does not exist",
                hint="create it first; offtrust does not create directories for outputs",
            ) from None
        if not stat.S_ISDIR(parent.st_mode):
            raise UsageError(f"cannot write {shown}: {real.parent} is not a directory")
    except OSError as e:
        raise UsageError(f"cannot write {shown}: {e.strerror or e}") from e
    except ValueError as e:  # an embedded NUL byte
        raise UsageError(f"cannot write {shown!r}: invalid file name") from e
    return OutputTarget(shown=shown, path=real, exists=info is not None)


def write_output(
    path: Path | str | OutputTarget, data: bytes, *, mode: int = 0o644, replace: bool = True
) -> OutputTarget:
    """Write *data* as the regular file *path*, atomically (see the module docstring).

    Args:
        path: the path the user named, or the result of :func:`check_output`
            (checked again: the file system may have changed meanwhile).
        data: the whole content.
        mode: the file's permission bits, exactly (the umask does not apply).
        replace: whether an existing regular file may be replaced; when
            False, a file that appears meanwhile is not overwritten either.

    Returns:
        Where the file was written.

    Raises:
        UsageError: as :func:`check_output`.
        StoreError: the file could not be written; nothing changed.
    """
    shown = path.shown if isinstance(path, OutputTarget) else str(path)
    target = check_output(shown, replace=replace)
    final = target.path
    tmp = final.with_name(f".{final.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, _OPEN_TEMP, 0o600)
    except OSError as e:
        raise StoreError(f"cannot write {shown}: {e.strerror or e}") from e
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, final)
        else:
            _link_new(tmp, final, shown)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StoreError(f"cannot write {shown}: {e.strerror or e}") from e
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(final.parent)
    return target


def _link_new(tmp: Path, final: Path, shown: str) -> None:
    """Give *tmp* the name *final* only if nothing has that name; then drop *tmp*.

    Raises:
        UsageError: *final* exists.
        OSError: the link or the rename failed otherwise.
    """
    try:
        os.link(tmp, final, follow_symlinks=False)
    except FileExistsError:
        raise UsageError(f"{shown} already exists") from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # A file system without hard links (FAT on a USB stick): check, then rename.
        if os.path.lexists(final):
            raise UsageError(f"{shown} already exists") from None
        os.replace(tmp, final)
        return
    os.unlink(tmp)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_user_file(path: Path | str, *, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file the user named, at most *limit* of them.

    The file is opened without blocking (a FIFO does not hang the command) and
    must be a regular file (``/dev/zero`` is not read forever).

    Raises:
        UnreadableInputError: the file cannot be read, is not a regular file,
            or is larger than *limit* bytes.
    """
    shown = str(path)
    try:
        fd = os.open(shown, _OPEN_INPUT)
    except OSError as e:
        raise UnreadableInputError(f"{shown}: cannot read: {e.strerror or e}") from e
    except ValueError as e:  # an embedded NUL byte
        raise UnreadableInputError(f"{shown!r}: cannot read: invalid file name") from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableInputError(
                f"{shown}: cannot read: {_kind(info.st_mode)}, not a regular {what}"
            )
        if info.st_size > limit:
            raise UnreadableInputError(
                f"{shown}: {info.st_size} bytes is over the limit of {limit} bytes for a {what}"
            )
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise UnreadableInputError(f"{shown}: over the limit of {limit} bytes for a {what}")
        return b"".join(chunks)
    except OSError as e:
        raise UnreadableInputError(f"{shown}: cannot read: {e.strerror or e}") from e
    finally:
        os.close(fd)
