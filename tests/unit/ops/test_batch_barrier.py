"""``run_batch(one_barrier=True)``: staged edits of many GUNs share durability barriers.

Real staged writes (``RepoStore.write_staged``) on a copy of the example trust
directory: a GUN is reported only once its edit is switched in, outcomes keep
item order, a GUN edited twice sees its first edit, a failed edit changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import copy_example

from offtrust.errors import StoreError, UsageError
from offtrust.ops import batch as batch_mod
from offtrust.ops.batch import FAILED, OK, Outcome, run_batch
from offtrust.store import _fs
from offtrust.store.layout import TrustDir
from offtrust.store.repo import RepoStore, StagedInfo

GUNS = [f"example.com/bulk/app{i}" for i in range(7)]


@pytest.fixture
def repos(tmp_path: Path) -> RepoStore:
    return RepoStore(TrustDir(copy_example(tmp_path / "trust")))


def _edits(repos: RepoStore, gun: str) -> list[str]:
    info = repos.staged_info(gun)
    return [] if info is None else info.edits


def _stage(repos: RepoStore, fail_after: set[str] = frozenset()) -> object:  # type: ignore[assignment]
    def action(gun: str) -> int:
        edits = [*_edits(repos, gun), f"edit {len(_edits(repos, gun)) + 1}"]
        repos.write_staged(gun, {"targets": b"{}"}, StagedInfo(base={}, edits=edits))
        if gun in fail_after:
            raise UsageError(f"{gun}: refused after writing")
        return len(edits)

    return action


def test_each_gun_is_reported_once_switched_in_in_item_order(
    repos: RepoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_mod, "FLUSH_EVERY", 3)
    seen: list[tuple[str, list[str]]] = []

    def report(outcome: Outcome[str, int]) -> None:
        seen.append((outcome.gun, _edits(repos, outcome.gun)))

    batch = run_batch(GUNS, _stage(repos), on_outcome=report, one_barrier=True)  # type: ignore[arg-type]
    assert [o.status for o in batch.outcomes] == [OK] * len(GUNS)
    assert seen == [(gun, ["edit 1"]) for gun in GUNS]
    staged = Path(repos.trust.root) / "offtrust" / "staged" / "example.com" / "bulk"
    assert not [p for p in staged.rglob("*") if _fs.is_leftover(p.name)]


def test_a_gun_edited_twice_sees_its_first_edit(repos: RepoStore) -> None:
    items = [GUNS[0], GUNS[1], GUNS[0], GUNS[0]]
    batch = run_batch(items, _stage(repos), one_barrier=True)  # type: ignore[arg-type]
    assert [o.value for o in batch.outcomes] == [1, 1, 2, 3]
    assert _edits(repos, GUNS[0]) == ["edit 1", "edit 2", "edit 3"]


def test_a_failed_edit_leaves_its_gun_unchanged(repos: RepoStore) -> None:
    action = _stage(repos, fail_after={GUNS[1]})
    batch = run_batch(GUNS[:3], action, one_barrier=True)  # type: ignore[arg-type]
    assert [o.status for o in batch.outcomes] == [OK, FAILED, OK]
    assert repos.staged_info(GUNS[1]) is None
    assert not repos.has_gun(GUNS[1])
    staged = Path(repos.trust.root) / "offtrust" / "staged" / "example.com" / "bulk"
    assert not (staged / "app1").exists()


def test_a_switch_that_fails_is_the_guns_failure(
    repos: RepoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _fs.Dir.rename

    def rename(self: _fs.Dir, src: str, dst: str) -> None:
        if self.label.endswith("app2") and src.startswith(_fs.GEN_PREFIX):
            raise StoreError("cannot rename: Input/output error")
        real(self, src, dst)

    monkeypatch.setattr(_fs.Dir, "rename", rename)
    reported: list[tuple[str, str]] = []
    batch = run_batch(
        GUNS[:4],
        _stage(repos),  # type: ignore[arg-type]
        on_outcome=lambda o: reported.append((o.gun, o.status)),
        one_barrier=True,
    )
    assert reported == [(GUNS[0], OK), (GUNS[1], OK), (GUNS[2], FAILED), (GUNS[3], OK)]
    assert batch.failed[0].error is not None
    assert "Input/output error" in batch.failed[0].error.message
    assert repos.staged_info(GUNS[2]) is None
    assert _edits(repos, GUNS[3]) == ["edit 1"]


def test_a_bug_switches_in_and_reports_the_complete_edits_first(repos: RepoStore) -> None:
    stage = _stage(repos)
    reported: list[str] = []

    def action(gun: str) -> int:
        value = stage(gun)  # type: ignore[operator]
        if gun == GUNS[2]:
            raise RuntimeError("bug")
        return value  # type: ignore[no-any-return]

    with pytest.raises(RuntimeError):
        run_batch(GUNS[:4], action, on_outcome=lambda o: reported.append(o.gun), one_barrier=True)
    assert reported == GUNS[:2]
    assert [bool(_edits(repos, g)) for g in GUNS[:4]] == [True, True, False, False]


def test_no_fsync_per_file_one_sync_per_flush(
    repos: RepoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"fsync": 0, "syncfs": 0}
    real_fsync = _fs.os.fsync

    def fsync(fd: int) -> None:
        calls["fsync"] += 1
        real_fsync(fd)

    def syncfs(fd: int) -> int:
        calls["syncfs"] += 1
        return 0

    monkeypatch.setattr(_fs.os, "fsync", fsync)
    monkeypatch.setattr(_fs, "_SYNCFS", syncfs)
    run_batch(GUNS, _stage(repos), one_barrier=True)  # type: ignore[arg-type]
    assert calls == {"fsync": 0, "syncfs": 2}  # new staged layers: nothing set aside
