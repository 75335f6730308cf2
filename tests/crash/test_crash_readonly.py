"""Read-only directories: every writing command refuses cleanly and changes nothing.

As root, permission bits stop nothing, so the directory is made read-only by a
read-only bind mount of itself (``mount --bind D D; mount -o remount,bind,ro D``);
as another user, by ``chmod 0500``. Root without mount rights: skipped, failed
under CI=true. Directories: ``trust/offtrust/staged``, ``trust/private``, the
whole ``trust`` dir, and ``out`` (where public keys and bundles go).

A command that needs to write there must fail with exit 1 or 2, one clear line
naming the cause (one per failed GUN in a batch), and leave the tree byte for
byte as it was; a command that does not need to (``key generate`` with a
read-only staged dir) must succeed with the whole new state. Afterwards keys
decrypt, ``verify`` finds nothing new and ``stage`` still works.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from crashkit import (
    READ_ONLY,
    SCENARIOS,
    Failure,
    ForkServer,
    Mounts,
    Reference,
    check_outcome,
    diff_trees,
    failures_of,
    format_failures,
    restore,
    snapshot,
)

pytestmark = pytest.mark.crash

READ_ONLY_DIRS = {
    "staged": "trust/offtrust/staged",
    "private": "trust/private",
    "trust": "trust",
    "out": "out",
}


@pytest.mark.parametrize("where", list(READ_ONLY_DIRS))
def test_read_only(
    where: str,
    crash_reference: Callable[[str], Reference],
    forkserver: ForkServer,
    mounts: Mounts,
    tmp_path: Path,
) -> None:
    work, scratch = tmp_path / "work", tmp_path / "scratch"
    scratch.mkdir()
    failures: list[Failure] = []
    outcomes = []
    for i, name in enumerate(SCENARIOS):
        ref = crash_reference(name)
        restore(ref.pristine, work)
        before = snapshot(work)
        target = work / READ_ONLY_DIRS[where]
        mounts.read_only(target)
        try:
            run = forkserver.run(ref.scenario.argv, work)
        finally:
            mounts.undo(target)
        findings = check_outcome(
            ref, forkserver, work, scratch, run, before, codes=(1, 2), cause=READ_ONLY
        )
        failures += failures_of(
            findings, name, f"read-only {where}", i, run, diff_trees(before, snapshot(work))
        )
        outcomes.append(f"{name}: {'ok' if run.rc == 0 else f'exit {run.rc}'}")
    print(f"read-only {READ_ONLY_DIRS[where]}: " + ", ".join(outcomes))
    if failures:
        pytest.fail(
            format_failures(
                failures, f"read-only {READ_ONLY_DIRS[where]}: " + ", ".join(outcomes), None
            ),
            pytrace=False,
        )
