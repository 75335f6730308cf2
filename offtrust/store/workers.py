"""Work done ahead in worker processes; every write stays in the main one.

A bulk edit over hundreds of GUNs (``signer remove NAME --all``) spends most
of its time reading, verifying and signing each GUN, work that needs no other
GUN. :class:`Rehearsal` forks a few workers (one per CPU, at most
:data:`MAX_WORKERS`) that do that work, each taking the next GUN as it
finishes one, while the main process goes through them in order. A worker:

- writes nothing: a staged edit is *recorded* (``offtrust.store.repo.recording``)
  and sent back, and the main process replays it itself, under its lock and
  its durability barrier, exactly as if it had made the edit;
- never prompts: an item that needs a passphrase typed, a key or file
  written, or the lock, raises :class:`~offtrust.errors.NeedsMainProcess`,
  and so does any unexpected error; the main process then does that item
  itself from the start, as it would have without workers (after a
  passphrase prompt was needed, a worker takes every item left and leaves
  them to the main process at once: they would need one too);
- holds nothing of the main process's: its copy of the lock file is closed at
  once, and it ends with ``os._exit`` (no handlers, no buffers flushed).

The answer for an item is its value and recorded writes, or the
:class:`~offtrust.errors.OfftrustError` it raised, or "redo". Answers come
back in any order; the main process keeps them until it asks for them, and
redoes any item no worker answered. Only items for distinct GUNs can be done ahead: an edit
reads the state the edits before it left, and the state of other GUNs is not
read by an edit. ``stage`` (read-only) and ``key list`` (half of the key
files read by one worker) use the same machinery.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import signal
import struct
from collections.abc import Callable, Sequence
from typing import Any, Generic, Literal, TypeVar

from offtrust.errors import NeedsMainProcess, OfftrustError

ItemT = TypeVar("ItemT")

#: Fewer items than this are done in the main process alone (forking costs more).
MIN_ITEMS = 16
#: At most this many worker processes.
MAX_WORKERS = 4

Kind = Literal["ok", "error", "redo"]
_LENGTH = struct.Struct(">Q")
#: A ticket: the index of the first item it stands for.
_TICKET = struct.Struct(">I")
#: At most this many tickets (all must fit in a pipe's buffer before any is read).
_MAX_TICKETS = 4096
_READ_SIZE = 1 << 16


#: How many workers, whatever the number of items (0: none); unset, one per CPU
#: for :data:`MIN_ITEMS` items or more.
WORKERS_VARIABLE = "OFFTRUST_WORKERS"


def worker_count(items: int) -> int:
    """How many workers to fork for *items* items: 0 when not worth it or not possible."""
    if items < 2 or not hasattr(os, "fork"):
        return 0
    chosen = os.environ.get(WORKERS_VARIABLE, "").strip()
    if chosen.isdigit():
        return min(int(chosen), MAX_WORKERS, items)
    if items < MIN_ITEMS:
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return min(cpus, MAX_WORKERS) if cpus > 1 else 0


class Rehearsal(Generic[ItemT]):
    """*work(item)* for every item, done ahead in worker processes.

    Args:
        items: the items, in the order the main process will ask for them.
        work: what a worker does for one item; its value must pickle.
        workers: how many processes (see :func:`worker_count`).

    Use :meth:`answer` for item *i* in increasing order, and :meth:`close`
    (or ``with``) at the end, which stops any worker still running.

    Items are not dealt out in advance: each worker takes the next one as it
    finishes the last (a ticket from a shared pipe), so a worker on a slower
    CPU, or with heavier GUNs, does fewer and none waits for another.
    """

    def __init__(self, items: Sequence[ItemT], work: Callable[[ItemT], Any], workers: int) -> None:
        self._items = items
        self._answers: dict[int, tuple[Kind, Any]] = {}
        self._pipes: dict[int, bytearray] = {}  # read end -> bytes received, not yet decoded
        self._pids: list[int] = []
        count = max(1, workers)
        # Every ticket is written before any worker starts: a reader never
        # finds part of one, and the last one read leaves the pipe empty.
        per_ticket = max(1, -(-len(items) // _MAX_TICKETS))
        tickets_r, tickets_w = os.pipe()
        try:
            os.write(tickets_w, b"".join(_TICKET.pack(i) for i in range(0, len(items), per_ticket)))
            os.close(tickets_w)
            tickets_w = -1
            for _ in range(count):
                read_fd, write_fd = os.pipe()
                pid = os.fork()
                if pid == 0:  # the worker
                    os.close(read_fd)
                    _work(write_fd, tickets_r, per_ticket, items, work)
                os.close(write_fd)
                self._pids.append(pid)
                self._pipes[read_fd] = bytearray()
        except BaseException:
            self.close()
            raise
        finally:
            os.close(tickets_r)
            if tickets_w >= 0:
                os.close(tickets_w)

    def __enter__(self) -> Rehearsal[ItemT]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def answer(self, index: int) -> tuple[Kind, Any]:
        """Item *index*'s answer: ``("ok", value)``, ``("error", error)`` or ``("redo", None)``.

        ``redo``: the main process does the item itself (the worker could
        not, or every worker ended without doing it).
        """
        while index not in self._answers:
            if not self._pipes:
                return "redo", None
            # poll, not select: a pipe's descriptor may be numbered above 1024
            # (a bulk edit keeps its GUNs' directories open).
            waiting = select.poll()
            for fd in self._pipes:
                waiting.register(fd, select.POLLIN)
            for fd, _ in waiting.poll():
                self._receive(fd)
        return self._answers.pop(index)

    def _receive(self, fd: int) -> None:
        """Take what worker pipe *fd* holds; keep every whole answer in it."""
        try:
            chunk = os.read(fd, _READ_SIZE)
        except OSError:
            chunk = b""
        if not chunk:  # the worker ended (what it left unanswered is redone)
            self._drop(fd)
            return
        buffer = self._pipes[fd]
        buffer += chunk
        while len(buffer) >= _LENGTH.size:
            size = _LENGTH.unpack_from(buffer)[0]
            if len(buffer) < _LENGTH.size + size:
                break
            body = bytes(buffer[_LENGTH.size : _LENGTH.size + size])
            del buffer[: _LENGTH.size + size]
            try:
                got_index, kind, payload = pickle.loads(body)  # noqa: S301 - our own forked child
            except Exception:  # noqa: BLE001 - garbage from a worker: redo what it has not answered
                self._drop(fd)
                return
            self._answers[got_index] = (kind, payload)

    def _drop(self, fd: int) -> None:
        if self._pipes.pop(fd, None) is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        """Stop and reap every worker (one still working is killed: it writes nothing)."""
        for fd in list(self._pipes):
            self._drop(fd)
        for pid in self._pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
        self._pids.clear()


def _work(
    write_fd: int,
    tickets: int,
    per_ticket: int,
    items: Sequence[Any],
    work: Callable[[Any], Any],
) -> None:
    """A worker's whole life: answer the items of each ticket it takes, then ``os._exit``.

    After an item needs the main process for good (a passphrase prompt), it
    takes every ticket left and answers "redo" for their items: they would
    need it too.
    """
    try:
        _enter_worker()
        given_up = False
        with os.fdopen(write_fd, "wb") as out:
            while True:
                ticket = os.read(tickets, _TICKET.size)
                if len(ticket) < _TICKET.size:
                    break
                start = _TICKET.unpack(ticket)[0]
                for index in range(start, min(start + per_ticket, len(items))):
                    if given_up:
                        out.write(_encode(index, ("redo", None)))
                        continue
                    message, given_up = _message(index, items[index], work)
                    out.write(message)
                    out.flush()
            out.flush()
    except BaseException:  # noqa: BLE001, S110 - the main process redoes what is missing
        pass
    finally:
        os._exit(0)


def _message(index: int, item: Any, work: Callable[[Any], Any]) -> tuple[bytes, bool]:
    """Item *index*'s answer, encoded, and whether the worker should give up the rest."""
    answer: tuple[Kind, Any]
    give_up = False
    try:
        answer = ("ok", work(item))
    except OfftrustError as e:
        answer = ("error", e)
    except NeedsMainProcess as e:
        answer, give_up = ("redo", None), e.give_up
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - a bug: the main process meets it itself
        answer = ("redo", None)
    return _encode(index, answer), give_up


def _encode(index: int, answer: tuple[Kind, Any]) -> bytes:
    try:
        body = pickle.dumps((index, *answer))
        pickle.loads(body)  # noqa: S301 - proves the main process can read it back
    except Exception:  # noqa: BLE001 - an answer that does not travel: the main process redoes it
        body = pickle.dumps((index, "redo", None))
    return _LENGTH.pack(len(body)) + body


def _enter_worker() -> None:
    """Make this forked process a worker: no writes, no prompts, no lock, no signals of its own."""
    from offtrust import passphrase
    from offtrust.store import _fs, lock

    lock.leave_to_parent()
    # What the main process made stays out of this process's collections: a
    # collection walking it would write to (and so copy) every page it is on.
    gc.freeze()
    _fs.IN_WORKER = True
    passphrase.IN_WORKER = True
    # Ctrl-C reaches the whole process group: the main process decides, and kills workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
