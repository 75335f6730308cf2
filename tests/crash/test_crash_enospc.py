"""ENOSPC: every writing command on a full (or nearly full) small tmpfs.

The work tree (trust dir and outputs) is copied onto a small tmpfs (mounted for
the test; root only: skipped elsewhere, failed under CI=true). The command then
runs with no inode left, and with 0, 1, 2, ... free pages until it succeeds.
Each failing run must exit 1 with one clear line naming the full disk (one per
failed GUN in a batch) and leave the tree byte for byte as it was (types, modes,
contents; not times); once space is back, keys decrypt, ``verify`` finds
nothing new and ``stage`` still packs the GUNs staged before (every pristine
tree has example.com/tools staged). A run that succeeds must leave the whole
new state and no debris.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from crashkit import (
    NO_SPACE,
    PAGE,
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
    tree_pages,
)

pytestmark = pytest.mark.crash

#: Free pages tried, at most, before giving up on a command ever succeeding.
SPARE_PAGES = 40
INODES = 512


def _free_bytes(mount: Path) -> int:
    st = os.statvfs(mount)
    return st.f_bavail * st.f_frsize


def _fill_bytes(mount: Path, leave: int) -> None:
    """Take all free space of *mount* but *leave* bytes."""
    take = _free_bytes(mount) - leave
    if take > 0:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, take)
        finally:
            os.close(fd)
    assert _free_bytes(mount) <= leave, "the tmpfs could not be filled as planned"


def _fill_inodes(mount: Path) -> None:
    """Take every free inode of *mount*."""
    inodes = mount / "inodes"
    inodes.mkdir()
    n = 0
    while True:
        try:
            os.close(os.open(inodes / str(n), os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            return
        n += 1


def _release(mount: Path) -> None:
    (mount / "filler").unlink(missing_ok=True)
    shutil.rmtree(mount / "inodes", ignore_errors=True)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_enospc(
    name: str,
    crash_reference: Callable[[str], Reference],
    forkserver: ForkServer,
    mounts: Mounts,
    tmp_path: Path,
) -> None:
    ref = crash_reference(name)
    mount = tmp_path / "tmpfs"
    size = (tree_pages(ref.old_tree) + SPARE_PAGES + 8) * PAGE
    mounts.tmpfs(mount, size=size, inodes=INODES)
    work, scratch = mount / "work", tmp_path / "scratch"
    scratch.mkdir()
    failures: list[Failure] = []
    outcomes: list[str] = []
    levels: list[tuple[str, int]] = [("no inode", 0)]
    levels += [(f"{pages} free pages", pages * PAGE) for pages in range(SPARE_PAGES)]
    for i, (label, free) in enumerate(levels):
        _release(mount)
        restore(ref.pristine, work)
        before = snapshot(work)
        if label == "no inode":
            _fill_inodes(mount)
        else:
            _fill_bytes(mount, free)
        run = forkserver.run(ref.scenario.argv, work)
        _release(mount)
        findings = check_outcome(
            ref, forkserver, work, scratch, run, before, codes=(1,), cause=NO_SPACE
        )
        failures += failures_of(
            findings, name, f"ENOSPC, {label}", i, run, diff_trees(before, snapshot(work))
        )
        outcomes.append(f"{label}: {'ok' if run.rc == 0 else f'exit {run.rc}'}")
        if run.rc == 0 and label != "no inode":
            break
    print(f"{name} on a {size // 1024} KiB tmpfs: " + ", ".join(outcomes))
    if failures:
        pytest.fail(
            format_failures(
                failures,
                f"{name} under ENOSPC ({size // 1024} KiB tmpfs): " + ", ".join(outcomes),
                None,
            ),
            pytrace=False,
        )
