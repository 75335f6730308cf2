"""The batch runner: each GUN keeps its outcome, and the exit status is decided once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from offtrust.errors import (
    BatchError,
    ConflictError,
    InvalidMetadataError,
    NetworkError,
    NothingToDoError,
    OfftrustError,
    SignatureError,
    UsageError,
)
from offtrust.ops.batch import FAILED, OK, SKIPPED, Outcome, run_batch


def _acting(errors: dict[str, OfftrustError]) -> Callable[[str], str]:
    """An action that raises the error given for a GUN and returns ``done <gun>`` otherwise."""

    def action(gun: str) -> str:
        if gun in errors:
            raise errors[gun]
        return f"done {gun}"

    return action


def test_every_item_ok() -> None:
    batch = run_batch(["a", "b"], _acting({}))
    assert [(o.gun, o.status, o.value) for o in batch.outcomes] == [
        ("a", OK, "done a"),
        ("b", OK, "done b"),
    ]
    assert batch.exit_code == 0
    assert batch.error() is None


def test_no_item_is_success() -> None:
    nothing: list[str] = []
    batch = run_batch(nothing, _acting({}))
    assert batch.exit_code == 0
    assert batch.error() is None


def test_a_failure_does_not_stop_the_others_and_keeps_its_error() -> None:
    broken = SignatureError("b: targets: threshold not met", hint="offtrust witness b targets")
    batch = run_batch(["a", "b", "c"], _acting({"b": broken}))
    assert [o.status for o in batch.outcomes] == [OK, FAILED, OK]
    assert batch.failed[0].error is broken
    assert batch.exit_code == 1
    error = batch.error()
    assert isinstance(error, BatchError)
    assert error.message == "1 of 3 GUNs failed: b"
    assert error.exit_code == 1
    assert error.hint == broken.hint  # one failure: its hint still helps


def test_the_only_item_fails_with_its_own_error() -> None:
    broken = InvalidMetadataError("tuf/a/metadata/root.json: malformed JSON")
    batch = run_batch(["a"], _acting({"a": broken}))
    assert batch.error() is broken
    assert batch.exit_code == 2


@pytest.mark.parametrize("order", [["bad", "malformed"], ["malformed", "bad"]])
def test_unreadable_input_outranks_a_failed_operation(order: list[str]) -> None:
    errors: dict[str, OfftrustError] = {
        "bad": SignatureError("bad: targets: threshold not met"),
        "malformed": InvalidMetadataError("malformed: root.json: malformed JSON"),
    }
    batch = run_batch(order, _acting(errors))
    assert batch.exit_code == 2
    error = batch.error("verification failed for 2 of 2 GUNs")
    assert isinstance(error, BatchError)
    assert error.exit_code == 2
    assert error.message == "verification failed for 2 of 2 GUNs"
    assert error.hint is None  # several failures: no single hint applies


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (SignatureError("x"), 1),
        (NetworkError("x"), 1),
        (ConflictError("x"), 1),
        (InvalidMetadataError("x"), 2),
        (UsageError("x"), 2),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_the_status_is_the_failures_own(error: OfftrustError, status: int) -> None:
    batch = run_batch(["a", "b"], _acting({"a": error}))
    assert batch.exit_code == status
    result = batch.error()
    assert result is not None
    assert result.exit_code == status


def test_nothing_to_do_is_a_failure_unless_skipping() -> None:
    absent = NothingToDoError("no signer zed in a")
    batch = run_batch(["a"], _acting({"a": absent}))
    assert batch.outcomes[0].status == FAILED
    assert batch.error() is absent
    assert batch.exit_code == 2


def test_skipped_items_do_not_fail_the_batch() -> None:
    batch = run_batch(
        ["a", "b"], _acting({"a": NothingToDoError("no signer zed in a")}), skip_nothing_to_do=True
    )
    assert [o.status for o in batch.outcomes] == [SKIPPED, OK]
    assert batch.skipped[0].error is not None
    assert batch.exit_code == 0
    assert batch.error() is None


def test_every_item_skipped_fails_as_nothing_to_do() -> None:
    errors: dict[str, OfftrustError] = {
        gun: NothingToDoError(f"no signer zed in {gun}") for gun in ("a", "b")
    }
    batch = run_batch(["a", "b"], _acting(errors), skip_nothing_to_do=True)
    assert batch.all_skipped
    assert batch.exit_code == 2
    error = batch.error()
    assert isinstance(error, NothingToDoError)
    assert error.message == "nothing to change in any of the 2 GUN(s)"


def test_a_failure_among_skips_decides_the_status() -> None:
    errors: dict[str, OfftrustError] = {
        "a": NothingToDoError("no signer zed in a"),
        "b": ConflictError("b: locked"),
    }
    batch = run_batch(["a", "b"], _acting(errors), skip_nothing_to_do=True)
    assert [o.status for o in batch.outcomes] == [SKIPPED, FAILED]
    assert batch.exit_code == 1
    error = batch.error()
    assert error is not None
    assert error.message == "1 of 2 GUNs failed: b"


def test_a_bug_stops_the_batch_at_once() -> None:
    seen: list[str] = []

    def action(gun: str) -> None:
        seen.append(gun)
        raise KeyError(gun)

    with pytest.raises(KeyError):
        run_batch(["a", "b"], action)
    assert seen == ["a"]


def test_outcomes_are_reported_as_they_happen() -> None:
    events: list[str] = []

    def action(gun: str) -> str:
        events.append(f"run {gun}")
        if gun == "b":
            raise ConflictError("b: locked")
        return gun

    def report(outcome: Outcome[str, str]) -> None:
        events.append(f"{outcome.status} {outcome.gun}")

    run_batch(["a", "b"], action, on_outcome=report)
    assert events == ["run a", "ok a", "run b", "failed b"]


@dataclass
class _Entry:
    gun: str


def test_the_gun_of_an_item() -> None:
    batch = run_batch([_Entry("example.com/app")], lambda entry: entry.gun.upper())
    assert batch.outcomes[0].gun == "example.com/app"
    assert batch.outcomes[0].item == _Entry("example.com/app")
    tagged = run_batch([("example.com/app", "v1")], lambda item: item, gun_of=lambda i: i[0])
    assert tagged.outcomes[0].gun == "example.com/app"
