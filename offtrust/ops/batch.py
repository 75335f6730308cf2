"""One runner for work done GUN by GUN, and the one rule for its exit status.

Every command that takes several GUNs (``--all``, ``verify``, ``fetch``,
``publish``, ``bundle verify``, ``signer add/remove``, ``delegation purge``,
``inspect``) runs its per-GUN action through :func:`run_batch`: one GUN failing
does not stop the others, each GUN keeps its own outcome and error object, and
:attr:`BatchResult.exit_code` decides the status once, for all of them.

The rule (:attr:`BatchResult.exit_code`):

1. Some item failed: the highest exit status among the failures' own
   ``exit_code``. The contract's statuses rank 2 (bad usage or unreadable
   input: a malformed or missing file) above 1 (the operation failed: a bad
   signature, a refused upload, a server error), because input that cannot be
   read has to be fixed before the operation's result means anything. So a
   malformed metadata file is exit 2 from every command, alone or among other
   GUNs, and a verification failure is 1.
2. Nothing failed and every item was skipped (``--all`` and no GUN had
   anything to change): exit 2, the status of
   :class:`~offtrust.errors.NothingToDoError`, as when a named GUN has nothing
   to change.
3. Otherwise (some items done, the rest skipped, or no item at all): 0.

A :class:`~offtrust.errors.NothingToDoError` is a skip only when the caller
asks for it (``--all``); for a GUN named on the command line it is a failure
like any other. Exceptions that are not :class:`~offtrust.errors.OfftrustError`
(bugs) and interrupts stop the batch at once.

This module never prints: the CLI reports each outcome (``on_outcome``) and
raises :meth:`BatchResult.error`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from offtrust.errors import BatchError, NothingToDoError, OfftrustError

ItemT = TypeVar("ItemT")
ValueT = TypeVar("ValueT")

Status = Literal["ok", "skipped", "failed"]
OK: Status = "ok"
SKIPPED: Status = "skipped"
FAILED: Status = "failed"


@dataclass(frozen=True)
class Outcome(Generic[ItemT, ValueT]):
    """What happened to one item of a batch.

    Attributes:
        item: The item the action was called with (a GUN, a bundle entry).
        gun: The item's GUN, for messages.
        status: ``ok``, ``skipped`` or ``failed``.
        value: What the action returned (``ok`` only).
        error: The error it raised (``skipped`` and ``failed``).
    """

    item: ItemT
    gun: str
    status: Status
    value: ValueT | None = None
    error: OfftrustError | None = None


@dataclass(frozen=True)
class BatchResult(Generic[ItemT, ValueT]):
    """Every item's outcome, in the order the items came, and the batch's status."""

    outcomes: list[Outcome[ItemT, ValueT]]

    @property
    def ok(self) -> list[Outcome[ItemT, ValueT]]:
        return [o for o in self.outcomes if o.status == OK]

    @property
    def skipped(self) -> list[Outcome[ItemT, ValueT]]:
        return [o for o in self.outcomes if o.status == SKIPPED]

    @property
    def failed(self) -> list[Outcome[ItemT, ValueT]]:
        return [o for o in self.outcomes if o.status == FAILED]

    @property
    def all_skipped(self) -> bool:
        """True when there were items and every one was skipped."""
        return bool(self.outcomes) and len(self.skipped) == len(self.outcomes)

    @property
    def exit_code(self) -> int:
        """The batch's exit status, by the rule in this module's docstring."""
        codes = [o.error.exit_code for o in self.failed if o.error is not None]
        if codes:
            return max(codes)
        if self.all_skipped:
            return NothingToDoError.exit_code
        return 0

    def error(self, summary: str | None = None) -> OfftrustError | None:
        """The one error the command ends with, or None when the batch succeeded.

        Args:
            summary: The message for a failed batch. Without one, a batch of a
                single item fails with that item's own error (message, hint and
                class), and a larger batch with ``N of M GUNs failed: A, B``.

        Returns:
            None when :attr:`exit_code` is 0. When every item was skipped, a
            :class:`NothingToDoError`. Otherwise a :class:`BatchError` whose
            ``exit_code`` is :attr:`exit_code` and whose hint is the failure's
            own when only one item failed.

        Raises:
            Nothing: the caller raises what this returns.
        """
        if self.exit_code == 0:
            return None
        failed = self.failed
        if not failed:
            return NothingToDoError(f"nothing to change in any of the {len(self.outcomes)} GUN(s)")
        first = failed[0].error
        if summary is None and len(self.outcomes) == 1 and first is not None:
            return first
        if summary is None:
            summary = f"{len(failed)} of {len(self.outcomes)} GUNs failed: " + ", ".join(
                o.gun for o in failed
            )
        hint = first.hint if len(failed) == 1 and first is not None else None
        return BatchError(summary, exit_code=self.exit_code, hint=hint)


def _gun_of(item: object) -> str:
    gun = item if isinstance(item, str) else getattr(item, "gun", None)
    return gun if isinstance(gun, str) else repr(item)


def run_batch(
    items: Iterable[ItemT],
    action: Callable[[ItemT], ValueT],
    *,
    gun_of: Callable[[ItemT], str] | None = None,
    skip_nothing_to_do: bool = False,
    on_outcome: Callable[[Outcome[ItemT, ValueT]], None] | None = None,
    one_barrier: bool = False,
    ahead: Sequence[ItemT] | None = None,
) -> BatchResult[ItemT, ValueT]:
    """Call *action* on each item; keep each item's result or error; never stop early.

    Args:
        items: GUNs, or objects with a ``gun`` attribute (bundle entries).
        action: Does one item's work; returns its value or raises an
            :class:`~offtrust.errors.OfftrustError`.
        gun_of: The GUN of an item that is neither a string nor has a ``gun``
            attribute.
        skip_nothing_to_do: Count a :class:`~offtrust.errors.NothingToDoError`
            as a skip rather than a failure (``--all``).
        on_outcome: Called with each outcome as soon as it is known, so that
            the CLI can report progress GUN by GUN.
        one_barrier: Edits of the staged layer share durability barriers
            instead of syncing each file and directory (see
            :func:`_run_one_barrier`): an edit's outcome is reported once it
            is switched in, a few GUNs later.
        ahead: With *one_barrier*, every item, in the order *items* yields
            them: when they are many and name distinct GUNs, worker processes
            do the actions ahead and the staged writes they record are
            replayed here (:mod:`offtrust.store.workers`); the outcomes are
            the same.

    Returns:
        Every outcome, in item order; :attr:`BatchResult.exit_code` decides
        the status.

    Raises:
        Exception: anything that is not an :class:`OfftrustError` (a bug) or an
            interrupt, at once.
    """
    if one_barrier:
        return _run_one_barrier(items, action, gun_of, skip_nothing_to_do, on_outcome, ahead)
    outcomes: list[Outcome[ItemT, ValueT]] = []
    for item in items:
        gun = gun_of(item) if gun_of is not None else _gun_of(item)
        outcome = _attempt(item, gun, action, skip_nothing_to_do)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return BatchResult(outcomes)


def _attempt(
    item: ItemT, gun: str, action: Callable[[ItemT], ValueT], skip_nothing_to_do: bool
) -> Outcome[ItemT, ValueT]:
    try:
        value = action(item)
    except NothingToDoError as e:
        return Outcome(item, gun, SKIPPED if skip_nothing_to_do else FAILED, error=e)
    except OfftrustError as e:
        return Outcome(item, gun, FAILED, error=e)
    return Outcome(item, gun, OK, value=value)


def _rehearsed(action: Callable[[ItemT], ValueT]) -> Callable[[ItemT], Any]:
    """*action* as a worker does it: its value, with the staged writes it recorded."""
    from offtrust.store.repo import recording

    def work(item: ItemT) -> tuple[ValueT, list[Any]]:
        with recording() as writes:
            value = action(item)
        return value, list(writes)

    return work


def _answered(
    item: ItemT,
    gun: str,
    answer: tuple[str, Any],
    action: Callable[[ItemT], ValueT],
    skip_nothing_to_do: bool,
) -> Outcome[ItemT, ValueT]:
    """The outcome of an item a worker did ahead: its recorded writes replayed, or its
    error; an item it could not do is done here (:func:`_attempt`)."""
    kind, payload = answer
    if kind == "error" and isinstance(payload, OfftrustError):
        skipped = isinstance(payload, NothingToDoError) and skip_nothing_to_do
        return Outcome(item, gun, SKIPPED if skipped else FAILED, error=payload)
    if kind != "ok":
        return _attempt(item, gun, action, skip_nothing_to_do)
    value, writes = payload
    try:
        for write in writes:
            write.replay()
    except OfftrustError as e:
        return Outcome(item, gun, FAILED, error=e)
    return Outcome(item, gun, OK, value=value)


#: Most GUN edits switched in at one barrier: each one's line waits for it,
#: and each holds a directory open meanwhile.
FLUSH_EVERY = 50


def _run_one_barrier(
    items: Iterable[ItemT],
    action: Callable[[ItemT], ValueT],
    gun_of: Callable[[ItemT], str] | None,
    skip_nothing_to_do: bool,
    on_outcome: Callable[[Outcome[ItemT, ValueT]], None] | None,
    ahead: Sequence[ItemT] | None = None,
) -> BatchResult[ItemT, ValueT]:
    """:func:`run_batch` under one :class:`~offtrust.store.repo.Barrier` (``one_barrier``).

    Each item's edit is written aside and its switch queued; the queue is
    flushed every :data:`FLUSH_EVERY` edits, before a GUN already queued is
    edited again (its edit must read the first one's result), and at the end.
    Outcomes are reported in item order, an edit only once it is switched in;
    one that cannot be is a failure (its GUN stays as it was). A failed action
    leaves nothing queued. An interrupt or a bug switches in and reports the
    edits already complete, as the GUN-by-GUN loop would have, then propagates.
    """
    from offtrust.store import workers

    rehearsal = None
    if ahead is not None:
        guns = [(gun_of(i) if gun_of is not None else _gun_of(i)).casefold() for i in ahead]
        count = workers.worker_count(len(ahead)) if len(set(guns)) == len(guns) else 0
        if count:
            from offtrust.ops.verify import warm_up

            warm_up()  # every action done ahead verifies metadata: load that once, here
            rehearsal = workers.Rehearsal(ahead, _rehearsed(action), count)
    with rehearsal if rehearsal is not None else contextlib.nullcontext():
        return _barrier_loop(items, action, gun_of, skip_nothing_to_do, on_outcome, rehearsal)


def _barrier_loop(
    items: Iterable[ItemT],
    action: Callable[[ItemT], ValueT],
    gun_of: Callable[[ItemT], str] | None,
    skip_nothing_to_do: bool,
    on_outcome: Callable[[Outcome[ItemT, ValueT]], None] | None,
    rehearsal: Any,
) -> BatchResult[ItemT, ValueT]:
    from offtrust.store.repo import Barrier

    outcomes: list[Outcome[ItemT, ValueT]] = []
    held: list[int] = []  # outcomes known but not reported yet, waiting for the flush
    queued: set[str] = set()  # GUNs (case-folded) with an edit waiting for the flush

    with Barrier() as barrier:
        settling = False

        def settle() -> None:
            nonlocal settling
            settling = True
            failed = barrier.flush()
            for index in held:
                outcome = outcomes[index]
                error = failed.get(index)
                if error is not None and outcome.status == OK:
                    outcome = Outcome(outcome.item, outcome.gun, FAILED, error=error)
                    outcomes[index] = outcome
                if on_outcome is not None:
                    on_outcome(outcome)
            held.clear()
            queued.clear()
            settling = False

        try:
            for item in items:
                gun = gun_of(item) if gun_of is not None else _gun_of(item)
                if gun.casefold() in queued:
                    settle()
                index = barrier.tag = len(outcomes)
                before = barrier.pending
                try:
                    if rehearsal is None:
                        outcome = _attempt(item, gun, action, skip_nothing_to_do)
                    else:
                        answer = rehearsal.answer(index)
                        outcome = _answered(item, gun, answer, action, skip_nothing_to_do)
                finally:
                    barrier.tag = None
                if outcome.status != OK:
                    barrier.drop(index)
                outcomes.append(outcome)
                held.append(index)
                if barrier.pending > before:
                    queued.add(gun.casefold())
                if not barrier.pending or barrier.pending >= FLUSH_EVERY:
                    settle()
            settle()
        except BaseException:
            # The interrupted item's edit (if it got queued) is dropped; the
            # complete ones before it are switched in and reported (unless the
            # trouble came from that: leaving the barrier drops what is left).
            barrier.drop(len(outcomes))
            if not settling:
                settle()
            raise
    return BatchResult(outcomes)
