"""The lock of a trust directory: one writing command at a time.

Every command that writes holds an exclusive ``flock`` on
``<trust>/offtrust/lock`` from loading the state it edits to committing it, so
two concurrent edits of one GUN never lose one of them. The file is created
like every other (``O_NOFOLLOW``, 0600) and holds the pid of the writer, which
a second command names when it fails: by the CLI contract it fails at once
rather than wait. The kernel releases the lock when its holder dies, so a
killed command never leaves the directory locked (its file, naming a dead pid,
is simply locked by the next command).

The last holder removes the file (and ``offtrust/`` if nothing else is in it),
while still holding it exclusively; every command checks after locking that
the name still leads to the file it locked, and starts again otherwise. So a
command that wrote nothing leaves no trace, and two commands never both hold
the lock.

Right after taking the lock, the writer finishes or undoes what a killed
command left (:func:`recover`); readers take no lock and skip leftovers. A
command that only reads a consistent view of several GUNs (``stage``) takes a
shared lock: it excludes writers but not other readers.

The lock is re-entrant within one process (nested :func:`trust_lock` calls on
the same directory share it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from offtrust.errors import ConflictError, StoreError, UnreadableInputError
from offtrust.store import _fs
from offtrust.store.layout import OFFTRUST, PRIVATE, SERVER, STAGED, TUF, TrustDir

LOCK_FILE = "lock"

_OPEN_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
_OPEN = _OPEN_READ | os.O_RDWR | os.O_CREAT


class _Held:
    """This process's hold on one trust directory's lock (re-entrant)."""

    __slots__ = ("count", "exclusive", "lock")

    def __init__(self, lock: _Lock | None, count: int, exclusive: bool) -> None:
        self.lock = lock
        self.count = count
        self.exclusive = exclusive


class _Lock:
    """The lock file held, and what was opened or made to take it."""

    __slots__ = ("dirs", "fd", "home", "made", "root")

    def __init__(
        self,
        root: _fs.Dir,  # <trust>
        home: _fs.Dir,  # <trust>/offtrust
        fd: int,  # the locked file
        made: list[Path],  # the trust directory and parents this lock created, deepest first
        dirs: _fs.DirCache | None = None,  # directories kept open while it is held
    ) -> None:
        self.root = root
        self.home = home
        self.fd = fd
        self.made = made
        self.dirs = dirs


_held: dict[str, _Held] = {}
#: In a worker process: the directories its parent kept open under its lock,
#: by trust directory (see :func:`leave_to_parent`).
_borrowed: dict[str, _fs.DirCache] = {}
#: Attempts to lock a file that is not removed under us by its last holder.
_ATTEMPTS = 20


#: This process's ID (a system call each time otherwise; made again in a forked child).
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def _key(trust: TrustDir) -> str:
    # A forked child inherits the parent's registry, not its lock.
    return f"{_pid}:{trust.root}"


@contextlib.contextmanager
def trust_lock(trust: TrustDir, *, shared: bool = False, create: bool = False) -> Iterator[None]:
    """Hold the lock of *trust* for the block.

    Args:
        trust: the trust directory.
        shared: a reader's lock (excludes writers only); no recovery is run,
            and a directory that cannot be written is read without a lock.
        create: create the trust directory if it does not exist; otherwise a
            missing directory has nothing to lock (the command finds nothing).

    Raises:
        ConflictError: another command holds the lock; the message names its pid.
        StoreError: the lock file cannot be created or is not a regular file.
    """
    key = _key(trust)
    held = _held.get(key)
    if held is not None:
        if held.lock is not None and not held.exclusive and not shared:
            raise StoreError("internal error: a shared lock cannot become exclusive")
        held.count += 1
        try:
            yield
        finally:
            held.count -= 1
        return
    lock = _acquire(trust, shared=shared, create=create)
    _held[key] = _Held(lock, 1, not shared)
    try:
        if lock is not None and not shared:
            recover(trust)
        yield
    finally:
        del _held[key]
        if lock is not None:
            _release(lock)


@contextlib.contextmanager
def open_under(
    trust: TrustDir, parts: tuple[str, ...], *, create: bool = False
) -> Iterator[_fs.Dir | None]:
    """The directory ``<trust>/<parts>`` for the block, every component checked; None when missing.

    While this process holds the lock of *trust*, it starts from the
    directories kept open since the lock was taken (:class:`~offtrust.store._fs.DirCache`);
    otherwise it opens the trust directory and walks down.

    Raises:
        UnreadableInputError: a component is a link or not a directory.
        StoreError: a directory cannot be opened or created.
    """
    held = _held.get(_key(trust))
    borrowed = _borrowed.get(str(trust.root)) if _borrowed else None
    if held is not None and held.lock is not None:
        lock = held.lock
        if lock.dirs is None:
            lock.dirs = _fs.DirCache(lock.root)
        directory = lock.dirs.open(parts, create=create)
    elif borrowed is not None:
        directory = borrowed.open(parts, create=create)
    else:
        root = _fs.open_root(trust.root, create=create)
        if root is None:
            yield None
            return
        with root:
            directory = root.walk(parts, create=create)
    if directory is None:
        yield None
        return
    with directory:
        yield directory


def forget_under(trust: TrustDir, parts: tuple[str, ...]) -> None:
    """Before directories at or below ``<trust>/<parts>`` are removed: stop keeping them open."""
    held = _held.get(_key(trust))
    if held is not None and held.lock is not None and held.lock.dirs is not None:
        held.lock.dirs.forget(parts)


def leave_to_parent() -> None:
    """In a forked worker process: close its copies of the parent's lock files.

    The locks stay the parent's (a ``flock`` lives until every descriptor of
    it is closed, and nothing is unlocked here); a worker outliving a killed
    parent then holds no trust directory locked.

    The directories the parent keeps open under its lock are kept here too
    (a worker reads the GUNs of its parent's command, under its parent's
    lock): a worker then opens each GUN from them, not from the trust
    directory down, with each kept one checked to be still in the tree
    before use (:class:`~offtrust.store._fs.DirCache`, *checked*).
    """
    for key, held in _held.items():
        lock = held.lock
        if lock is None:
            continue
        if lock.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(lock.fd)
            lock.fd = -1
        dirs = lock.dirs if lock.dirs is not None else _fs.DirCache(lock.root)
        dirs.checked = True
        _borrowed[key.split(":", 1)[1]] = dirs
    _held.clear()


def is_locked(trust: TrustDir) -> bool:
    """True while this process holds the lock of *trust*."""
    return _key(trust) in _held


def holding(trust: TrustDir) -> object | None:
    """While this process (or, in a worker, its parent) holds the lock of *trust*:
    an object for that holding, else None.

    What is worked out about the trust directory under one holding (nothing
    else offtrust runs writes meanwhile) may be kept until it ends: a new
    holding is a new object.
    """
    held = _held.get(_key(trust))
    if held is None or held.lock is None:
        return _borrowed.get(str(trust.root)) if _borrowed else None
    return held.lock


def _acquire(trust: TrustDir, *, shared: bool, create: bool) -> _Lock | None:
    _fs.refuse_in_worker("take the lock")
    made = _fs.missing_dirs(trust.root) if create and not shared else []
    root = _fs.open_root(trust.root, create=create and not shared)
    if root is None:
        return None
    try:
        for _ in range(_ATTEMPTS):
            try:
                home = root.open_dir(OFFTRUST, create=not shared)
            except StoreError:
                if shared:
                    break
                raise
            if home is None:
                break
            try:
                fd = _lock_in(trust, home, shared=shared)
            except BaseException:
                home.close()
                raise
            if fd is not None:
                return _Lock(root, home, fd, made)
            home.close()
        else:
            raise StoreError(
                f"cannot lock {_fs.show(str(trust.path))}: the lock file keeps changing"
            )
    except BaseException:
        root.close()
        raise
    root.close()
    return None


def _lock_in(trust: TrustDir, home: _fs.Dir, *, shared: bool) -> int | None:
    """Lock ``offtrust/lock`` in *home*, or None if it vanished meanwhile (try again).

    A reader that cannot create the file (a read-only trust directory, which
    nothing can write) goes on without a lock: it answers -1.
    """
    refused = home.refusal(LOCK_FILE, _fs.FILE)
    if refused is not None:
        raise refused
    try:
        fd = os.open(LOCK_FILE, _OPEN, 0o600, dir_fd=home.fd)
    except FileNotFoundError:
        return None  # offtrust/ was removed by the last holder
    except OSError as e:
        if not shared:
            raise StoreError(
                f"cannot lock {_fs.show(str(trust.path))}: {home.where(LOCK_FILE)}: "
                f"{e.strerror or e}"
            ) from e
        try:
            fd = os.open(LOCK_FILE, _OPEN_READ, dir_fd=home.fd)
        except OSError:
            return -1
    try:
        _lock_fd(trust, fd, home, shared)
    except _Gone:
        return None
    if not shared:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # the pid is only named in messages
    return fd


def _lock_fd(trust: TrustDir, fd: int, home: _fs.Dir, shared: bool) -> None:
    """Lock the open lock file *fd*, which must still be the one named ``lock``.

    Raises:
        ConflictError: another command holds it (*fd* is closed).
        _Gone: its last holder removed it meanwhile (*fd* is closed; try again).
    """
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableInputError(f"{home.where(LOCK_FILE)}: not a regular file; refusing it")
        if stat.S_IMODE(st.st_mode) != 0o600:
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(trust, fd) from None
        except OSError as e:
            raise StoreError(f"cannot lock {_fs.show(str(trust.path))}: {e.strerror or e}") from e
        now = home.lstat(LOCK_FILE)
        if now is None or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise _Gone()
    except BaseException:
        os.close(fd)
        raise


def _release(lock: _Lock) -> None:
    """Unlock; the last holder removes the lock file, and ``offtrust/`` if that left it empty.

    The file is removed while locked exclusively, and every locker checks
    after locking that the name still leads to its file, so removing it never
    lets two commands hold the lock; nothing of the lock stays on disk.
    """
    try:
        if lock.fd >= 0:
            with contextlib.suppress(OSError, StoreError):
                # Exclusive (a writer already is): no other reader holds it.
                fcntl.flock(lock.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                lock.home.remove_file(LOCK_FILE)
                if lock.root.remove_if_empty(OFFTRUST):
                    # A trust directory made for a command that wrote nothing goes too.
                    for directory in lock.made:
                        os.rmdir(directory)
    finally:
        if lock.fd >= 0:
            os.close(lock.fd)
        if lock.dirs is not None:
            lock.dirs.close()
        lock.home.close()
        lock.root.close()


class _Gone(Exception):
    """The lock file was removed or replaced between opening and locking it."""


def _busy(trust: TrustDir, fd: int) -> ConflictError:
    pid = _holder(fd)
    who = f"offtrust (pid {pid})" if pid else "another offtrust command"
    return ConflictError(
        f"the trust directory {_fs.show(str(trust.path))} is busy: {who} is using it",
        hint="wait for that command to finish, then run this one again",
    )


#: How long a refused command waits for the holder to write its pid (it locks, then writes).
_PID_WAIT = 0.25


def _holder(fd: int) -> int | None:
    """The pid the lock file names, if that process is alive.

    The holder writes its pid right after locking, so a command refused in
    between finds the file still empty: it looks again for a moment. (A
    reader's shared lock names no pid; then the wait is all it costs.)
    """
    deadline = time.monotonic() + _PID_WAIT
    while True:
        try:
            text = os.pread(fd, 32, 0).decode("ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        if text.isdigit() or time.monotonic() >= deadline:
            break
        time.sleep(0.005)
    try:
        pid = int(text)
    except ValueError:
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass  # alive, but another user's
    return pid


#: notary 0.1/0.3 key directories below private/: offtrust never changes them.
LEGACY_KEY_DIRS = frozenset({"root_keys", "tuf_keys"})


def recover(trust: TrustDir) -> None:
    """Best effort: finish or undo what killed commands left (see :mod:`offtrust.store._fs`)."""
    with contextlib.suppress(StoreError):
        root = _fs.open_root(trust.root)
        if root is None:
            return
        with root:
            for parts, prune in ((STAGED, True), (SERVER, False), (TUF, False), (PRIVATE, False)):
                with contextlib.suppress(StoreError):
                    top = root.walk(parts)
                    if top is None:
                        continue
                    with top:
                        # notary's legacy key directories are only ever read.
                        skip = LEGACY_KEY_DIRS if parts == PRIVATE else frozenset()
                        _fs.recover_tree(top, prune=prune, skip=skip)
