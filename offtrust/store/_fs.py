"""Safe filesystem primitives: the only way the store touches the trust directory.

The trust directory is carried across an air gap from another machine, often
as root, so every name and byte in it is hostile. The rules:

**Paths.** The root's own path is resolved once (:attr:`TrustDir.root
<offtrust.store.layout.TrustDir.root>`): ``-d`` may point at a link on
purpose. Below it, every path component is
opened relative to its parent's descriptor with ``O_NOFOLLOW | O_DIRECTORY``
(``openat``), so a symbolic link anywhere below the root is refused, never
followed, whatever a string prefix says. Listings use ``scandir`` on a
descriptor and never follow a link either.

**Kinds.** Only regular files and directories are read, written, renamed or
removed. A link, FIFO, socket or device is refused with one line naming it.

**Reads** are bounded and never block: ``lstat`` says regular file and a size
under the limit, the file is opened ``O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`` and
``fstat`` must find the same regular file; no more than the limit is read
(:data:`KEY_LIMIT` for key files, :data:`METADATA_LIMIT` for metadata).

**Creation.** Directories are made 0700 and files 0600 whatever the umask
(created, then ``fchmod``). A file is created ``O_CREAT | O_EXCL |
O_NOFOLLOW`` under an unpredictable name (``.tmp+<128 random bits>``),
written, synced, and only then renamed into place; the directory is synced.

**Generations: crash-safe multi-file commits.** A GUN's metadata directory
(``offtrust/staged/<gun>/metadata`` for the staged layer, ``tuf/<gun>/metadata``
for the published one) changes only as a whole (:class:`Generation`):

1. the new generation is written aside as ``<gun>/.gen+<hex>``, every file and
   directory synced;
2. the current ``metadata``, if any, is renamed ``<gun>/.old+<hex>``;
3. ``.gen+<hex>`` is renamed ``metadata``: the commit point;
4. ``.old+<hex>`` is renamed ``.del+<hex>``, then removed.

A kill before step 2 leaves the old ``metadata`` (and a ``.gen+`` to remove);
between 2 and 3, no ``metadata`` but a complete ``.old+``, which readers read
in its place (:func:`current_generation`) and the next writing command renames
back: the old state; after 3, the new state. An ``.old+`` directory is always
complete, because it is renamed ``.del+`` before anything in it is removed, so
"no ``metadata``, one ``.old+``" always means the old state. Dropping a
generation (``reset``) is one rename of ``metadata`` to ``.del+<hex>``
(:func:`retire`).

Leftovers (``.gen+*``, ``.del+*``, an ``.old+*`` next to a ``metadata``,
``.tmp+*`` files, and the ``.<name>.<pid>.tmp`` files of earlier versions) are
ignored by readers and removed by :func:`recover_tree`, which the next writing
command runs under the lock. ``+`` cannot appear in a GUN, a role or a key file
name, so these names never collide with real data.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType

from offtrust.errors import StoreError, UnreadableInputError

KiB = 1024
MiB = 1024 * KiB

#: Largest private key file read (an RSA 8192 PEM with headers is under 7 KiB).
KEY_LIMIT = 1 * MiB
#: Largest metadata (or staged state) file read: the online client's limit for
#: what a server may send, so whatever ``fetch`` wrote can be read back. A
#: targets file with 100,000 tags is about 15 MB.
METADATA_LIMIT = 100 * MiB

DIR_MODE = 0o700
FILE_MODE = 0o600

#: The committed generation of a GUN's metadata, in the GUN's directory.
CURRENT = "metadata"

FILE = "file"
DIR = "dir"
LINK = "link"
OTHER = "other"

TEMP_PREFIX = ".tmp+"
GEN_PREFIX = ".gen+"
OLD_PREFIX = ".old+"
DEL_PREFIX = ".del+"
_OURS = re.compile(r"\.(tmp|gen|old|del)\+[0-9a-f]{32}")
#: Temporary files of offtrust before 0.2 (``.<name>.<pid>.tmp``).
_LEGACY_TEMP = re.compile(r"\..+\.[0-9]+\.tmp")

#: Deepest directory walked (a GUN has at most 128 components, a role as many).
MAX_DEPTH = 300

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | _CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC
#: What open(O_NOFOLLOW | O_DIRECTORY) answers for a link or a non-directory.
_NOT_A_DIR = {errno.ELOOP, errno.ENOTDIR, errno.EMLINK}

_CHUNK = 1 * MiB


#: True in a worker process (:mod:`offtrust.store.workers`): it never writes.
IN_WORKER = False


def refuse_in_worker(what: str) -> None:
    """A worker process reads only: a write of the trust directory is left to the main one.

    Raises:
        NeedsMainProcess: in a worker.
    """
    if IN_WORKER:
        from offtrust.errors import NeedsMainProcess

        raise NeedsMainProcess(what)


def show(text: str) -> str:
    """*text* safe to print on one line: control and non-printable characters escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def kind_of(mode: int) -> str:
    if stat.S_ISREG(mode):
        return FILE
    if stat.S_ISDIR(mode):
        return DIR
    if stat.S_ISLNK(mode):
        return LINK
    return OTHER


def _what(kind: str, mode: int = 0) -> str:
    if kind == LINK:
        return "is a symbolic link (offtrust never follows links inside the trust directory)"
    if kind == DIR:
        return "is a directory, not a file"
    if kind == FILE:
        return "is a file, not a directory"
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return f"is {name}, not a regular file or directory"
    return "is not a regular file or directory"


def is_leftover(name: str) -> bool:
    """A name offtrust uses for temporary files and generations (readers skip it)."""
    return bool(_OURS.fullmatch(name))


def _fresh(prefix: str) -> str:
    # Imported here: secrets imports hashlib (~8 ms), which readers never need.
    import secrets

    return prefix + secrets.token_hex(16)


def _component(name: str) -> str:
    """*name* if it is one path component (every method takes one: links hide in paths)."""
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise StoreError(f"internal error: {show(name)!r} is not one path component")
    return name


def _sync(fd: int) -> None:
    # Some file systems cannot sync a directory (EINVAL); the rename stands anyway.
    with contextlib.suppress(OSError):
        os.fsync(fd)



def fill_and_close(fd: int, data: bytes, mode: int, *, sync: bool = True) -> None:
    """Give the new file *fd* exactly *mode*, write all of *data*, sync it, close it.

    Not synced when not *sync*: a :class:`Barrier` syncs it before it is renamed in.

    Raises:
        OSError: as the system calls do (the descriptor is closed all the same).
    """
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)

class Dir:
    """An open directory of the trust directory, reached without following any link below the root.

    Args:
        fd: its descriptor, owned (closed by :meth:`close`).
        label: its path relative to the trust directory, for messages.
    """

    __slots__ = ("fd", "label")

    def __init__(self, fd: int, label: str) -> None:
        self.fd = fd
        self.label = label

    def __enter__(self) -> Dir:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def where(self, name: str = "") -> str:
        """``label/name``, printable, for messages."""
        return show("/".join(p for p in (self.label, name) if p) or ".")

    def sync(self) -> None:
        _sync(self.fd)

    # -- looking --------------------------------------------------------------

    def lstat(self, name: str) -> os.stat_result | None:
        """The entry *name* itself (a link is not followed), or None when missing.

        Raises:
            UnreadableInputError: it cannot be looked at.
        """
        try:
            return os.stat(_component(name), dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise UnreadableInputError(f"{self.where(name)}: cannot read: {e.strerror or e}") from e

    def kind(self, name: str) -> str | None:
        """:data:`FILE`, :data:`DIR`, :data:`LINK`, :data:`OTHER`, or None when missing."""
        st = self.lstat(name)
        return None if st is None else kind_of(st.st_mode)

    def entries(self) -> list[tuple[str, str]]:
        """(name, kind) of every entry, sorted by name; nothing is followed.

        Raises:
            UnreadableInputError: the directory cannot be listed.
        """
        out: list[tuple[str, str]] = []
        try:
            with os.scandir(self.fd) as listing:
                for entry in listing:
                    if entry.is_symlink():
                        kind = LINK
                    elif entry.is_dir(follow_symlinks=False):
                        kind = DIR
                    elif entry.is_file(follow_symlinks=False):
                        kind = FILE
                    else:
                        kind = OTHER
                    out.append((entry.name, kind))
        except OSError as e:
            raise UnreadableInputError(f"{self.where()}: cannot list: {e.strerror or e}") from e
        return sorted(out)

    def refusal(self, name: str, expected: str) -> UnreadableInputError | None:
        """The error for *name* when it is there but not of kind *expected*, else None."""
        return self.refusal_of(name, self.lstat(name), expected)

    def refusal_of(
        self, name: str, st: os.stat_result | None, expected: str
    ) -> UnreadableInputError | None:
        """:meth:`refusal` of *name*, whose :meth:`lstat` is *st*."""
        if st is None:
            return None
        kind = kind_of(st.st_mode)
        if kind == expected:
            return None
        return UnreadableInputError(f"{self.where(name)}: {_what(kind, st.st_mode)}; refusing it")

    # -- directories -------------------------------------------------------

    def open_dir(self, name: str, *, create: bool = False, durable: bool = True) -> Dir | None:
        """The subdirectory *name* (made 0700 if missing and *create*), or None when missing.

        A directory made is synced into this one unless not *durable*: a
        :class:`Generation` syncs all of its directories once, at its commit.

        Raises:
            UnreadableInputError: *name* is a link, a file or anything but a directory.
            StoreError: it cannot be opened or created.
        """
        try:
            fd = os.open(_component(name), _DIR_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            if not create:
                return None
            return self._make_dir(name, durable=durable)
        except OSError as e:
            raise self._open_error(name, e) from e
        return Dir(fd, self._join(name))

    def _make_dir(self, name: str, *, durable: bool = True) -> Dir:
        refuse_in_worker("create a directory")
        try:
            os.mkdir(name, DIR_MODE, dir_fd=self.fd)
        except FileExistsError:
            found = self.open_dir(name)
            if found is None:
                raise StoreError(f"cannot create {self.where(name)}: it keeps changing") from None
            return found
        except OSError as e:
            raise StoreError(f"cannot create {self.where(name)}: {e.strerror or e}") from e
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=self.fd)
        except OSError as e:
            raise self._open_error(name, e) from e
        try:
            # The umask may have taken bits away (or left group/other ones): 0700 exactly.
            os.fchmod(fd, DIR_MODE)
        except OSError as e:
            os.close(fd)
            raise StoreError(f"cannot create {self.where(name)}: {e.strerror or e}") from e
        if durable and not _deferred(self):
            self.sync()
        return Dir(fd, self._join(name))

    def _open_error(self, name: str, e: OSError) -> StoreError:
        if e.errno in _NOT_A_DIR:
            refused = self.refusal(name, DIR)
            if refused is not None:
                return refused
        return StoreError(f"{self.where(name)}: cannot open: {e.strerror or e}")

    def _join(self, name: str) -> str:
        return f"{self.label}/{name}" if self.label else name

    def walk(self, parts: Iterable[str], *, create: bool = False) -> Dir | None:
        """The directory at *parts* below this one, each component checked; None when missing.

        Raises:
            UnreadableInputError: a component is a link or not a directory.
            StoreError: a directory cannot be opened or created.
        """
        current = Dir(os.dup(self.fd), self.label)
        for part in parts:
            try:
                nxt = current.open_dir(part, create=create)
            finally:
                current.close()
            if nxt is None:
                return None
            current = nxt
        return current

    # -- files ---------------------------------------------------------------

    def read(self, name: str, limit: int) -> bytes | None:
        """The bytes of regular file *name* (at most *limit*), or None when it is missing.

        Raises:
            UnreadableInputError: not a regular file, over *limit*, or unreadable.
        """
        st = self.lstat(name)
        if st is None:
            return None
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableInputError(
                f"{self.where(name)}: {_what(kind_of(st.st_mode), st.st_mode)}; refusing to read it"
            )
        if st.st_size > limit:
            raise self._too_big(name, limit)
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise UnreadableInputError(f"{self.where(name)}: cannot read: {e.strerror or e}") from e
        try:
            now = os.fstat(fd)
            if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                raise UnreadableInputError(f"{self.where(name)}: changed while being read")
            chunks: list[bytes] = []
            total = 0
            while True:
                # The size fstat gave, and one byte more to see the end; a file
                # growing meanwhile is read on in chunks, bounded by the limit.
                wanted = now.st_size + 1 - total if total <= now.st_size else _CHUNK
                wanted = min(limit + 1 - total, wanted)
                chunk = os.read(fd, wanted)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise self._too_big(name, limit)
                if len(chunk) < wanted:
                    break  # a short read of a regular file is its end
        except OSError as e:
            raise UnreadableInputError(f"{self.where(name)}: cannot read: {e.strerror or e}") from e
        finally:
            os.close(fd)
        return b"".join(chunks)

    def read_listed(self, name: str, limit: int) -> bytes | None:
        """:meth:`read` for a file that :meth:`scan` just listed as a regular file.

        The listing's own ``lstat`` (the directory entry's type, with no link
        followed) replaces the one :meth:`read` makes first, so a small file
        costs four system calls (open, fstat, read, close), which matters for
        20,000 key files. Nothing is weaker: the file is opened with
        ``O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`` (a link swapped in is refused, a
        FIFO never blocks) and ``fstat`` must find a regular file within
        *limit*, as :meth:`read` checks. (Inode numbers are not compared with
        the listing's: on overlay file systems ``readdir`` and ``fstat`` may
        report different ones.)

        Returns:
            The bytes, or None when the file is gone.

        Raises:
            UnreadableInputError: not a regular file, over *limit*, or unreadable.
        """
        try:
            fd = os.open(_component(name), _READ_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno in _NOT_A_DIR:
                refused = self.refusal(name, FILE)
                if refused is not None:
                    raise refused from e
            raise UnreadableInputError(f"{self.where(name)}: cannot read: {e.strerror or e}") from e
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UnreadableInputError(
                    f"{self.where(name)}: {_what(kind_of(st.st_mode), st.st_mode)}; "
                    "refusing to read it"
                )
            if st.st_size > limit:
                raise self._too_big(name, limit)
            data = os.read(fd, st.st_size + 1)
            if len(data) > st.st_size:
                # Growing while read: finish as read() does, bounded by the limit.
                chunks, total = [data], len(data)
                while total <= limit:
                    chunk = os.read(fd, min(limit + 1 - total, _CHUNK))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    total += len(chunk)
                if total > limit:
                    raise self._too_big(name, limit)
                data = b"".join(chunks)
        except OSError as e:
            raise UnreadableInputError(f"{self.where(name)}: cannot read: {e.strerror or e}") from e
        finally:
            os.close(fd)
        return data

    def read_all_listed(self, names: Iterable[str], limit: int) -> list[bytes | None]:
        """:meth:`read_listed` of each name, None where it finds nothing or refuses.

        The same checks in one loop (``key list`` reads 20,000 files): opened
        with ``O_NOFOLLOW | O_NONBLOCK | O_NOCTTY``, ``fstat`` must find a
        regular file within *limit*, one bounded read. A file that grows while
        it is read, and any name that is not one path component, take
        :meth:`read_listed` itself.
        """
        out: list[bytes | None] = []
        add = out.append
        dfd = self.fd
        flags = _READ_FLAGS
        isreg = stat.S_ISREG
        fopen, fstat, fread, fclose = os.open, os.fstat, os.read, os.close
        for name in names:
            if not name or "/" in name or name in (".", "..") or "\0" in name:
                add(None)  # read_listed raises (StoreError): nothing read
                continue
            try:
                fd = fopen(name, flags, dir_fd=dfd)
            except OSError:
                add(None)
                continue
            data: bytes | None = None
            grew = False
            try:
                st = fstat(fd)
                size = st.st_size
                if isreg(st.st_mode) and size <= limit:
                    data = fread(fd, size + 1)
                    grew = len(data) > size
            except OSError:
                data = None
            finally:
                fclose(fd)
            if grew:
                data = None
                with contextlib.suppress(StoreError):
                    data = self.read_listed(name, limit)
            add(data)
        return out

    def scan(self) -> list[tuple[str, str]]:
        """(name, kind) of every entry, in directory order (unsorted); nothing is followed.

        :meth:`entries` without the sort, for listings that sort their own results.

        Raises:
            UnreadableInputError: the directory cannot be listed.
        """
        out: list[tuple[str, str]] = []
        add = out.append
        try:
            with os.scandir(self.fd) as listing:
                for entry in listing:
                    # d_type from readdir: no system call per entry (but on file
                    # systems that do not fill it in).
                    if entry.is_file(follow_symlinks=False):
                        add((entry.name, FILE))
                    elif entry.is_symlink():
                        add((entry.name, LINK))
                    elif entry.is_dir(follow_symlinks=False):
                        add((entry.name, DIR))
                    else:
                        add((entry.name, OTHER))
        except OSError as e:
            raise UnreadableInputError(f"{self.where()}: cannot list: {e.strerror or e}") from e
        return out

    def _too_big(self, name: str, limit: int) -> UnreadableInputError:
        return UnreadableInputError(
            f"{self.where(name)}: larger than the limit of {limit // MiB} MiB; refusing to read it"
        )

    def create(self, name: str, data: bytes, mode: int = FILE_MODE, *, sync: bool = True) -> None:
        """Create the new file *name* holding *data*, synced, with exactly *mode*.

        Not synced when not *sync* (a :class:`Generation` under a :class:`Barrier`).

        Raises:
            StoreError: it exists (even as a link) or cannot be written; nothing is left.
        """
        refuse_in_worker("write a file")
        try:
            fd = os.open(_component(name), _CREATE_FLAGS, mode, dir_fd=self.fd)
        except OSError as e:
            raise StoreError(f"cannot write {self.where(name)}: {e.strerror or e}") from e
        try:
            fill_and_close(fd, data, mode, sync=sync)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=self.fd)
            raise StoreError(f"cannot write {self.where(name)}: {e.strerror or e}") from e

    def write(self, name: str, data: bytes, mode: int = FILE_MODE, *, sync: bool = True) -> None:
        """Replace (or create) the regular file *name* with *data* in one rename.

        Without *sync* nothing is forced to disk: after a crash the file may be
        the old one, or missing (for advisory records only, never a key or
        metadata).

        Raises:
            UnreadableInputError: *name* is a link, a directory or a special file.
            StoreError: it cannot be written; the old file (or none) is left.
        """
        refused = self.refusal(name, FILE)
        if refused is not None:
            raise refused
        tmp = _fresh(TEMP_PREFIX)
        self.create(tmp, data, mode, sync=sync)
        try:
            os.rename(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=self.fd)
            raise StoreError(f"cannot write {self.where(name)}: {e.strerror or e}") from e
        if sync:
            self.sync()

    def remove_file(self, name: str) -> bool:
        """Remove the regular file *name*; False when it was missing.

        Raises:
            UnreadableInputError: *name* is not a regular file.
            StoreError: it cannot be removed.
        """
        refuse_in_worker("remove a file")
        refused = self.refusal(name, FILE)
        if refused is not None:
            raise refused
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            return False
        except OSError as e:
            raise StoreError(f"cannot remove {self.where(name)}: {e.strerror or e}") from e
        return True

    def rename(self, src: str, dst: str) -> None:
        """Rename entry *src* to *dst* in this directory (neither is followed).

        Raises:
            StoreError: the rename failed.
        """
        refuse_in_worker("rename")
        try:
            os.rename(_component(src), _component(dst), src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError as e:
            raise StoreError(
                f"cannot rename {self.where(src)} to {show(dst)}: {e.strerror or e}"
            ) from e

    # -- trees ---------------------------------------------------------------

    def files(self, *, strict: bool = True, depth: int = 0) -> Iterator[tuple[str, Dir, str]]:
        """(relative path, directory, name) of every regular file below, sorted by name.

        The directory is open only until the next item. Leftover temporary
        files and generations are skipped, and so are links and special files
        unless *strict*.

        Raises:
            UnreadableInputError: (*strict*) an entry is a link or a special file.
        """
        for name, kind in self.entries():
            if is_leftover(name) or _LEGACY_TEMP.fullmatch(name):
                continue
            if kind == FILE:
                yield name, self, name
            elif kind == DIR and depth < MAX_DEPTH:
                sub = self.open_dir(name)
                if sub is None:
                    continue
                with sub:
                    for rel, where, leaf in sub.files(strict=strict, depth=depth + 1):
                        yield f"{name}/{rel}", where, leaf
            elif strict:
                refused = self.refusal(name, FILE)
                if refused is not None:
                    raise refused

    def check_tree(self, name: str, *, depth: int = 0) -> None:
        """Refuse directory *name* if anything below it is not a regular file or directory.

        Raises:
            UnreadableInputError: naming the first such entry.
        """
        sub = self.open_dir(name)
        if sub is None:
            return
        with sub:
            for entry, kind in sub.entries():
                if kind == DIR and depth < MAX_DEPTH:
                    sub.check_tree(entry, depth=depth + 1)
                elif kind != FILE:
                    refused = sub.refusal(entry, FILE)
                    if refused is not None:
                        raise refused

    def remove_tree(self, name: str, *, depth: int = 0) -> None:
        """Remove directory *name* and the regular files and directories in it.

        Nothing is followed; a link or special file inside stops the removal.

        Raises:
            UnreadableInputError: a link or special file is in the way.
            StoreError: something cannot be removed.
        """
        refuse_in_worker("remove a directory")
        sub = self.open_dir(name)
        if sub is None:
            return
        with sub:
            for entry, kind in sub.entries():
                if kind == DIR and depth < MAX_DEPTH:
                    sub.remove_tree(entry, depth=depth + 1)
                else:
                    sub.remove_file(entry)
        try:
            os.rmdir(name, dir_fd=self.fd)
        except FileNotFoundError:
            return
        except OSError as e:
            raise StoreError(f"cannot remove {self.where(name)}: {e.strerror or e}") from e

    def remove_if_empty(self, name: str) -> bool:
        """Remove directory *name* if it is empty; True if it was removed."""
        refuse_in_worker("remove a directory")
        try:
            os.rmdir(name, dir_fd=self.fd)
        except OSError:
            return False
        return True


def missing_dirs(path: Path) -> list[Path]:
    """*path* and its parents that do not exist, deepest first (what ``create`` would make)."""
    missing = []
    while not os.path.lexists(path) and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def open_root(path: Path, *, create: bool = False) -> Dir | None:
    """The trust directory itself, or None when it does not exist (and not *create*).

    *path* is the user's choice and may be or go through a link; it is
    followed. Missing directories are made 0700 when *create*.

    Raises:
        UnreadableInputError: *path* is not a directory.
        StoreError: it cannot be opened or created.
    """
    flags = os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC
    try:
        return Dir(os.open(path, flags), "")
    except FileNotFoundError:
        if not create:
            return None
    except NotADirectoryError as e:
        raise UnreadableInputError(f"{show(str(path))}: not a directory") from e
    except OSError as e:
        raise StoreError(f"cannot open {show(str(path))}: {e.strerror or e}") from e
    refuse_in_worker("create a directory")
    for directory in reversed(missing_dirs(path)):
        try:
            os.mkdir(directory, DIR_MODE)
            os.chmod(directory, DIR_MODE)
        except FileExistsError:
            continue
        except OSError as e:
            raise StoreError(f"cannot create {show(str(directory))}: {e.strerror or e}") from e
    try:
        return Dir(os.open(path, flags), "")
    except OSError as e:
        raise StoreError(f"cannot open {show(str(path))}: {e.strerror or e}") from e


# -- generations -----------------------------------------------------------------


class DirCache:
    """Directories of one trust directory kept open while a command holds its lock.

    Every GUN read or written is opened below the trust directory component
    by component (each ``O_NOFOLLOW | O_DIRECTORY``); a bulk command over 200
    GUNs did that some 40,000 times. While this process holds the lock, no
    other offtrust command changes the tree, so the directories on the way
    (``tuf/``, ``offtrust/staged/``, ``private/``, and the GUNs' own) are
    opened once, each checked as before, and kept: every later open starts
    from the deepest one kept. A descriptor stays bound to the directory it
    opened, so a name swapped meanwhile is not followed either. The only
    directories the store removes while it runs are a GUN's emptied ones
    (:meth:`forget` drops them first); ``metadata`` generations are never
    kept.

    A worker process (:mod:`offtrust.store.workers`) keeps using the cache it
    inherited: its parent holds the lock, and is the one other process that
    may change the tree meanwhile. So there (*checked*) a kept directory is
    used only while it is still linked in the tree: one its parent removed
    (pruned, perhaps made again) is dropped and opened again from the root.

    Args:
        root: the trust directory, borrowed (the lock closes it).
        checked: look that a kept directory is still in the tree before using it.
    """

    __slots__ = ("_open", "checked", "root")

    def __init__(self, root: Dir, *, checked: bool = False) -> None:
        self.root = root
        self.checked = checked
        self._open: dict[tuple[str, ...], Dir] = {}

    def open(self, parts: tuple[str, ...], *, create: bool = False) -> Dir | None:
        """A new descriptor of ``<root>/<parts>`` (the caller closes it), or None when missing.

        Raises:
            UnreadableInputError: a component is a link or not a directory.
            StoreError: a directory cannot be opened or created.
        """
        depth = len(parts)
        current = self._open.get(parts) if depth else self.root
        while current is None or (self.checked and depth and not _linked(current)):
            if current is not None:  # removed meanwhile: forget it and all below it
                self.forget(parts[:depth])
            depth -= 1
            current = self._open.get(parts[:depth]) if depth else self.root
        for i in range(depth, len(parts)):
            nxt = current.open_dir(parts[i], create=create)
            if nxt is None:
                return None
            self._open[parts[: i + 1]] = current = nxt
        return Dir(os.dup(current.fd), current.label)

    def forget(self, parts: tuple[str, ...]) -> None:
        """Close every kept directory at or below *parts* (before one of them is removed)."""
        n = len(parts)
        for key in [k for k in self._open if k[:n] == parts]:
            self._open.pop(key).close()

    def close(self) -> None:
        for directory in self._open.values():
            directory.close()
        self._open.clear()


def _linked(directory: Dir) -> bool:
    """*directory* is still in the tree (a removed one has no links left)."""
    try:
        return os.fstat(directory.fd).st_nlink > 0
    except OSError:
        return False


def current_generation(parent: Dir) -> str | None:
    """The committed metadata directory in *parent*: ``metadata``, else the ``.old+``
    an interrupted switch left (the old state), else None.

    Raises:
        UnreadableInputError: ``metadata`` is a link or not a directory.
    """
    st = parent.lstat(CURRENT)
    refused = parent.refusal_of(CURRENT, st, DIR)
    if refused is not None:
        raise refused
    if st is not None:
        return CURRENT
    olds = _olds(parent)
    return olds[0] if olds else None


def open_generation(parent: Dir) -> Dir | None:
    """The committed metadata directory of *parent*, opened: :func:`current_generation`'s.

    ``metadata`` is opened at once (without a link followed); only when it is
    missing are the ``.old+`` directories looked for.

    Raises:
        UnreadableInputError: ``metadata`` is a link or not a directory.
        StoreError: it cannot be opened.
    """
    found = parent.open_dir(CURRENT)
    if found is not None:
        return found
    olds = _olds(parent)
    return parent.open_dir(olds[0]) if olds else None


def _olds(parent: Dir) -> list[str]:
    """The ``.old+`` directories in *parent* (at most one while ``metadata`` is missing)."""
    return [
        n for n, k in parent.entries() if k == DIR and n.startswith(OLD_PREFIX) and is_leftover(n)
    ]


class Generation:
    """A new generation of the metadata directory of *parent*, written aside.

    Use as a context manager: files are added with :meth:`put`, then
    :meth:`commit` switches it in; leaving the block without committing
    removes it. Under a :class:`Barrier` its files are not synced one by one
    and :meth:`commit` queues the switch for the barrier's :meth:`~Barrier.flush`.

    Raises:
        StoreError: (on creation) the directory cannot be made.
    """

    def __init__(self, parent: Dir) -> None:
        self.parent = parent
        self.barrier = _BARRIER
        self.name = _fresh(GEN_PREFIX)
        # Not synced into the parent now: switch() syncs the parent before the
        # rename that commits (and commit() syncs every directory of this one).
        made = parent.open_dir(self.name, create=True, durable=False)
        assert made is not None
        self.root = made
        self._dirs: dict[str, Dir] = {"": made}
        self._done = False

    def __enter__(self) -> Generation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()
        if not self._done:
            with contextlib.suppress(StoreError, OSError):
                self.parent.remove_tree(self.name)

    def _close(self) -> None:
        for d in self._dirs.values():
            d.close()

    def _dir(self, rel: str) -> Dir:
        found = self._dirs.get(rel)
        if found is None:
            head, _, leaf = rel.rpartition("/")
            # Synced at commit(), deepest first, with every other directory of it.
            made = self._dir(head).open_dir(leaf, create=True, durable=False)
            assert made is not None
            self._dirs[rel] = found = made
        return found

    def put(self, relpath: str, data: bytes) -> None:
        """Add the file *relpath* (``/``-separated, already checked) holding *data*.

        Raises:
            StoreError: it cannot be written.
        """
        head, _, leaf = relpath.rpartition("/")
        self._dir(head).create(leaf, data, sync=self.barrier is None)

    def commit(
        self,
        after: Callable[[Dir], None] | None = None,
        on_fail: Callable[[], None] | None = None,
    ) -> None:
        """Make this generation the parent's ``metadata``, in one rename (see the module).

        *after(parent)* runs once it is switched in. Under a :class:`Barrier` the
        switch is only queued: it happens (and *after* runs) at the barrier's
        :meth:`~Barrier.flush`, which runs *on_fail* instead if it cannot.

        Raises:
            StoreError: it cannot be switched in; the old generation stays.
        """
        if self.barrier is not None:
            self._close()
            self.barrier.queue(self.parent, self.name, after, on_fail)
            self._done = True
            return
        # Deepest first, so each directory's entry is durable before its parent's.
        for rel in sorted(self._dirs, key=lambda r: -r.count("/") - (r != "")):
            self._dirs[rel].sync()
        self._close()
        switch(self.parent, self.name)
        self._done = True
        if after is not None:
            after(self.parent)


def _set_aside(parent: Dir) -> str | None:
    """Step 2 of the module: rename ``metadata`` to a new ``.old+``; its name, or None.

    Raises:
        UnreadableInputError: ``metadata`` is a link or not a directory.
        StoreError: a rename failed; nothing that matters changed.
    """
    st = parent.lstat(CURRENT)
    refused = parent.refusal_of(CURRENT, st, DIR)
    if refused is not None:
        raise refused
    if st is None:
        return None
    # Next to "metadata", an .old+ is garbage (a switch killed after its
    # commit point); it must go before "metadata" becomes the only .old+.
    for name in _olds(parent):
        trash = _fresh(DEL_PREFIX)
        parent.rename(name, trash)
        with contextlib.suppress(StoreError):
            parent.remove_tree(trash)
    old = _fresh(OLD_PREFIX)
    parent.rename(CURRENT, old)
    return old


def switch(parent: Dir, gen: str) -> None:
    """Rename the complete generation *gen* to ``metadata`` (steps 2-4 of the module).

    Raises:
        UnreadableInputError: ``metadata`` is a link or not a directory.
        StoreError: a rename failed; the old generation is in place again.
    """
    old = _set_aside(parent)
    if old is not None:
        parent.sync()
    try:
        parent.rename(gen, CURRENT)
    except StoreError:
        if old is not None:
            with contextlib.suppress(StoreError):
                parent.rename(old, CURRENT)
        raise
    parent.sync()
    # Committed. Every .old+ here (this one, or one an interrupted switch left
    # and this generation was built from) is now garbage.
    for name in _olds(parent):
        _discard(parent, name)


# -- one durability barrier for many generations -----------------------------------

#: The :class:`Barrier` open in this process, if any.
_BARRIER: Barrier | None = None
#: ``syncfs`` once looked up (False: not yet).
_SYNCFS: Callable[[int], int] | None | bool = False


def _deferred(directory: Dir) -> bool:
    """True under a :class:`Barrier`, which then syncs *directory*'s file system."""
    barrier = _BARRIER
    if barrier is None:
        return False
    barrier.watch(directory)
    return True


def _syncfs() -> Callable[[int], int] | None:
    """``syncfs(2)`` of the C library (Linux), or None where there is none."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.syncfs
    except (OSError, AttributeError, ImportError):
        return None
    call.argtypes = [ctypes.c_int]
    call.restype = ctypes.c_int

    def syncfs(fd: int) -> int:
        if call(fd) == 0:
            return 0
        return ctypes.get_errno() or errno.EIO

    return syncfs


class _Switch:
    """A generation written aside under a :class:`Barrier`, waiting for its switch."""

    __slots__ = ("after", "error", "gen", "ident", "old", "on_fail", "parent", "tag")

    def __init__(
        self,
        parent: Dir,
        gen: str,
        tag: object,
        after: Callable[[Dir], None] | None,
        on_fail: Callable[[], None] | None,
    ) -> None:
        self.parent = parent
        self.gen = gen
        self.tag = tag
        self.after = after
        self.on_fail = on_fail
        self.old: str | None = None
        self.error: StoreError | None = None
        self.ident: tuple[int, int] = (-1, -1)


class Barrier:
    """One durability barrier for the generations of many GUNs (a batch of edits).

    While it is open (``with Barrier() as barrier:``), a :class:`Generation`
    writes its files without syncing each one and :meth:`Generation.commit`
    queues its switch, labelled with :attr:`tag`; directories made meanwhile
    are not synced one by one either. :meth:`flush` then does for every queued
    generation what :func:`switch` does for one, with one sync of each file
    system for all of them at each step instead of a sync per file and
    directory:

    1. sync (``syncfs``): every file and directory written is durable;
    2. rename each ``metadata`` to ``.old+``; sync;
    3. rename each ``.gen+`` to ``metadata`` (each GUN's commit point); sync;
    4. remove the ``.old+`` directories.

    A kill at any moment still leaves each GUN in its old or its new state (see
    the module: between 2 and 3 a GUN has an ``.old+`` and no ``metadata``, the
    old state). A generation that cannot be switched in leaves its GUN as it was
    and its error is returned, under its tag; when the first sync fails, every
    queued one fails. Leaving the block removes what is still queued: those
    GUNs stay as they were.
    """

    def __init__(self) -> None:
        self.tag: object = None
        self._queue: list[_Switch] = []
        self._flushing: list[_Switch] = []
        #: One open directory per file system written to (st_dev -> Dir, owned).
        self._devices: dict[int, Dir] = {}
        self._dirty = False

    def __enter__(self) -> Barrier:
        global _BARRIER
        if _BARRIER is not None:
            raise StoreError("internal error: a durability barrier is already open")
        _BARRIER = self
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _BARRIER
        _BARRIER = None
        try:
            self._drop(lambda tag: True)
            for sw in self._flushing:
                # Interrupted in flush(): a generation not switched in goes (its
                # GUN keeps "metadata" or the .old+ readers take for it).
                with contextlib.suppress(StoreError, OSError):
                    sw.parent.remove_tree(sw.gen)
                sw.parent.close()
            self._flushing = []
            if self._dirty:
                self._sync(strict=False)
        finally:
            for directory in self._devices.values():
                directory.close()
            self._devices = {}

    @property
    def pending(self) -> int:
        """How many generations wait for :meth:`flush`."""
        return len(self._queue)

    def watch(self, directory: Dir) -> None:
        """Remember to sync the file system of *directory* (something was written in it)."""
        self._dirty = True
        try:
            dev = os.fstat(directory.fd).st_dev
        except OSError:
            return
        if dev not in self._devices:
            self._devices[dev] = Dir(os.dup(directory.fd), directory.label)

    def queue(
        self,
        parent: Dir,
        gen: str,
        after: Callable[[Dir], None] | None = None,
        on_fail: Callable[[], None] | None = None,
    ) -> None:
        """Switch the complete generation *gen* of *parent* in at the next :meth:`flush`.

        Raises:
            StoreError: a generation of *parent* is queued already (it was read
                before that one was switched in: the caller flushes first).
        """
        try:
            st = os.fstat(parent.fd)
        except OSError as e:
            raise StoreError(f"{parent.where()}: cannot read: {e.strerror or e}") from e
        for sw in self._queue:
            if sw.ident == (st.st_dev, st.st_ino):
                raise StoreError(
                    f"internal error: {parent.where()} is edited twice before its first "
                    "edit is switched in"
                )
        self.watch(parent)
        held = Dir(os.dup(parent.fd), parent.label)
        self._queue.append(_Switch(held, gen, self.tag, after, on_fail))
        self._queue[-1].ident = (st.st_dev, st.st_ino)

    def drop(self, tag: object) -> None:
        """Remove the queued generations labelled *tag*: their GUNs stay as they were."""
        self._drop(lambda t: t == tag)

    def _drop(self, which: Callable[[object], bool]) -> None:
        keep = []
        for sw in self._queue:
            if not which(sw.tag):
                keep.append(sw)
                continue
            with contextlib.suppress(StoreError, OSError):
                sw.parent.remove_tree(sw.gen)
            sw.parent.close()
            if sw.on_fail is not None:
                with contextlib.suppress(StoreError):
                    sw.on_fail()
        self._queue = keep

    def flush(self) -> dict[object, StoreError]:
        """Switch every queued generation in (see the class); the errors, by tag.

        A tag missing from the answer had all of its generations switched in.
        """
        queue = self._flushing = self._queue
        self._queue = []
        failed: dict[object, StoreError] = {}

        def fail(sw: _Switch, e: StoreError) -> None:
            sw.error = e
            failed.setdefault(sw.tag, e)

        if not queue:
            return failed
        try:
            self._sync(strict=True)
        except StoreError as e:
            for sw in queue:
                fail(sw, e)
        for sw in queue:
            if sw.error is None:
                try:
                    sw.old = _set_aside(sw.parent)
                except StoreError as e:
                    fail(sw, e)
        if any(sw.old is not None for sw in queue):
            self._sync(strict=False)
        for sw in queue:
            if sw.error is not None:
                continue
            try:
                sw.parent.rename(sw.gen, CURRENT)
            except StoreError as e:
                if sw.old is not None:
                    with contextlib.suppress(StoreError):
                        sw.parent.rename(sw.old, CURRENT)
                fail(sw, e)
        self._sync(strict=False)
        self._dirty = False
        while queue:
            sw = queue.pop(0)
            try:
                if sw.error is None:
                    # Committed: every .old+ here is garbage (see switch()).
                    with contextlib.suppress(StoreError):
                        for name in _olds(sw.parent):
                            _discard(sw.parent, name)
                    if sw.after is not None:
                        with contextlib.suppress(StoreError):
                            sw.after(sw.parent)
                else:
                    with contextlib.suppress(StoreError, OSError):
                        sw.parent.remove_tree(sw.gen)
                    if sw.on_fail is not None:
                        with contextlib.suppress(StoreError):
                            sw.on_fail()
            finally:
                sw.parent.close()
        self._flushing = []
        return failed

    def _sync(self, *, strict: bool) -> None:
        """Sync each file system written to (``syncfs``; else ``sync``).

        Raises:
            StoreError: (*strict*) the system reports that something could not be written.
        """
        global _SYNCFS
        if _SYNCFS is False:
            _SYNCFS = _syncfs()
        syncfs = _SYNCFS
        if syncfs is None or isinstance(syncfs, bool):
            os.sync()
            return
        for directory in self._devices.values():
            err = syncfs(directory.fd)
            if err and strict:
                raise StoreError(f"cannot write {directory.where()}: {os.strerror(err)}")


def retire(parent: Dir) -> bool:
    """Drop the committed generation of *parent* in one rename; False when there was none.

    Raises:
        UnreadableInputError: a link or special file is in it (nothing is changed).
        StoreError: it cannot be renamed.
    """
    st = parent.lstat(CURRENT)
    refused = parent.refusal_of(CURRENT, st, DIR)
    if refused is not None:
        raise refused
    olds = _olds(parent)
    current = [CURRENT] if st is not None else []
    if not olds and not current:
        return False
    for name in [*olds, *current]:
        parent.check_tree(name)
    # .old+ ones first: while "metadata" exists they are garbage; its rename commits.
    trash = []
    for name in [*olds, *current]:
        trash.append(_fresh(DEL_PREFIX))
        parent.rename(name, trash[-1])
    parent.sync()
    for name in trash:
        with contextlib.suppress(StoreError):
            parent.remove_tree(name)
    return True


def _discard(parent: Dir, name: str) -> None:
    """Best effort: rename a garbage directory ``.del+`` (never a partial ``.old+``), remove it."""
    target = name
    if name.startswith(OLD_PREFIX):
        target = _fresh(DEL_PREFIX)
        try:
            parent.rename(name, target)
        except StoreError:
            return
    with contextlib.suppress(StoreError):
        parent.remove_tree(target)


def recover_tree(
    top: Dir, *, prune: bool = False, depth: int = 0, skip: frozenset[str] = frozenset()
) -> None:
    """Best effort, under the lock: finish or undo what a killed command left below *top*.

    Puts back an ``.old+`` generation where ``metadata`` is missing (the switch
    was interrupted before its commit point), removes every other leftover
    (see the module) and, with *prune*, empty directories. Nothing is
    followed; nothing but offtrust's own leftovers is removed; directories
    named in *skip* (directly below *top*) are not entered at all.
    """
    try:
        entries = top.entries()
    except StoreError:
        return
    names = {name for name, _ in entries}
    if CURRENT not in names:
        olds = [n for n, k in entries if k == DIR and n.startswith(OLD_PREFIX) and is_leftover(n)]
        if olds:
            with contextlib.suppress(StoreError):
                top.rename(olds[0], CURRENT)
                top.sync()
                entries = [(CURRENT if n == olds[0] else n, k) for n, k in entries]
    for name, kind in entries:
        if name in skip:
            continue
        if is_leftover(name):
            if kind == DIR:
                _discard(top, name)
            elif kind == FILE:
                with contextlib.suppress(StoreError):
                    top.remove_file(name)
        elif kind == FILE and _LEGACY_TEMP.fullmatch(name):
            with contextlib.suppress(StoreError):
                top.remove_file(name)
        elif kind == DIR and depth < MAX_DEPTH:
            try:
                sub = top.open_dir(name)
            except StoreError:
                continue
            if sub is None:
                continue
            with sub:
                recover_tree(sub, prune=prune, depth=depth + 1)
            if prune:
                top.remove_if_empty(name)
