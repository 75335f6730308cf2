"""One durability barrier for many generations (``_fs.Barrier``), on a real file system.

Under a barrier a generation is written aside unsynced and its switch queued;
``flush`` syncs each file system once, then switches every queued generation.
Each GUN still changes in one rename; what cannot be switched stays as it was.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from offtrust.errors import StoreError, UnreadableInputError
from offtrust.store import _fs


def _tree(path: Path) -> dict[str, bytes | None]:
    """Every entry below *path*: file contents, None for directories."""
    return {
        p.relative_to(path).as_posix(): (None if p.is_dir() else p.read_bytes())
        for p in sorted(path.rglob("*"))
    }


@pytest.fixture
def root(tmp_path: Path) -> Iterator[_fs.Dir]:
    """A directory holding GUN directories a, b, c; a and b have a committed ``metadata``."""
    for gun in ("a", "b"):
        (tmp_path / gun / "metadata" / "targets").mkdir(parents=True)
        (tmp_path / gun / "metadata" / "targets.json").write_bytes(b"old " + gun.encode())
        (tmp_path / gun / "metadata" / "targets" / "releases.json").write_bytes(b"rel")
    (tmp_path / "c").mkdir()
    top = _fs.open_root(tmp_path)
    assert top is not None
    with top:
        yield top


def _write(top: _fs.Dir, gun: str, data: bytes, **commit: object) -> None:
    parent = top.open_dir(gun, create=True)
    assert parent is not None
    with parent, _fs.Generation(parent) as generation:
        generation.put("targets.json", data)
        generation.put("targets/releases.json", data + b" rel")
        generation.commit(**commit)  # type: ignore[arg-type]


class _Syncs:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fsync = 0
        self.syncfs = 0
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            self.fsync += 1
            real_fsync(fd)

        def syncfs(fd: int) -> int:
            self.syncfs += 1
            os.sync()
            return 0

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(_fs, "_SYNCFS", syncfs)


def test_switches_wait_for_the_flush_then_each_gun_is_new(
    root: _fs.Dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = _Syncs(monkeypatch)
    with _fs.Barrier() as barrier:
        for gun in ("a", "b", "c"):
            barrier.tag = gun
            _write(root, gun, b"new " + gun.encode())
        assert barrier.pending == 3
        # Nothing switched yet: readers see the old state, the new ones are hidden.
        assert (tmp_path / "a" / "metadata" / "targets.json").read_bytes() == b"old a"
        assert not (tmp_path / "c" / "metadata").exists()
        assert all(
            _fs.is_leftover(p.name) for g in "abc" for p in (tmp_path / g).iterdir()
            if p.name != "metadata"
        )
        assert barrier.flush() == {}
        assert barrier.pending == 0
    for gun in ("a", "b", "c"):
        assert _tree(tmp_path / gun) == {
            "metadata": None,
            "metadata/targets": None,
            "metadata/targets.json": b"new " + gun.encode(),
            "metadata/targets/releases.json": b"new " + gun.encode() + b" rel",
        }
    # Three generations, two of them replacing one: no fsync at all, three syncs.
    assert syncs.fsync == 0
    assert syncs.syncfs == 3


def test_without_a_barrier_every_file_is_synced(
    root: _fs.Dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = _Syncs(monkeypatch)
    _write(root, "a", b"new a")
    assert (tmp_path / "a" / "metadata" / "targets.json").read_bytes() == b"new a"
    assert syncs.syncfs == 0
    assert syncs.fsync >= 4  # two files, two directories, the parent around the renames


def test_leaving_the_barrier_unflushed_changes_nothing(root: _fs.Dir, tmp_path: Path) -> None:
    before = _tree(tmp_path)
    with _fs.Barrier() as barrier:
        for gun in ("a", "c"):
            _write(root, gun, b"new")
        assert barrier.pending == 2
    assert _tree(tmp_path) == before


def test_an_interrupt_in_the_barrier_changes_nothing(root: _fs.Dir, tmp_path: Path) -> None:
    before = _tree(tmp_path)

    def interrupted() -> None:
        with _fs.Barrier():
            _write(root, "a", b"new")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert _tree(tmp_path) == before


def test_a_dropped_tag_leaves_its_gun_and_the_others_switch(
    root: _fs.Dir, tmp_path: Path
) -> None:
    pruned: list[str] = []
    with _fs.Barrier() as barrier:
        for gun in ("a", "b"):
            barrier.tag = gun
            _write(root, gun, b"new", on_fail=lambda g=gun: pruned.append(g))
        barrier.drop("a")
        assert pruned == ["a"]
        assert barrier.flush() == {}
    assert (tmp_path / "a" / "metadata" / "targets.json").read_bytes() == b"old a"
    assert (tmp_path / "b" / "metadata" / "targets.json").read_bytes() == b"new"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["metadata"]


def test_a_gun_that_cannot_switch_is_reported_and_left_as_it_was(
    root: _fs.Dir, tmp_path: Path
) -> None:
    after: list[str] = []
    failed: list[str] = []
    with _fs.Barrier() as barrier:
        for gun in ("a", "b"):
            barrier.tag = gun
            _write(
                root,
                gun,
                b"new",
                after=lambda parent, g=gun: after.append(g),
                on_fail=lambda g=gun: failed.append(g),
            )
        # Meanwhile b's metadata became a link: refused at the switch, nothing followed.
        (tmp_path / "elsewhere").mkdir()
        os.rename(tmp_path / "b" / "metadata", tmp_path / "b-old")
        os.symlink(tmp_path / "elsewhere", tmp_path / "b" / "metadata")
        errors = barrier.flush()
    assert list(errors) == ["b"]
    assert isinstance(errors["b"], UnreadableInputError)
    assert "symbolic link" in errors["b"].message
    assert (after, failed) == (["a"], ["b"])
    assert (tmp_path / "a" / "metadata" / "targets.json").read_bytes() == b"new"
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["metadata"]  # gen removed
    assert os.listdir(tmp_path / "elsewhere") == []


def test_a_failed_rename_puts_the_old_generation_back(
    root: _fs.Dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _fs.Dir.rename

    def rename(self: _fs.Dir, src: str, dst: str) -> None:
        if self.label == "a" and src.startswith(_fs.GEN_PREFIX):
            raise StoreError("cannot rename: No space left on device")
        real(self, src, dst)

    with _fs.Barrier() as barrier:
        for gun in ("a", "b"):
            barrier.tag = gun
            _write(root, gun, b"new")
        monkeypatch.setattr(_fs.Dir, "rename", rename)
        errors = barrier.flush()
    assert list(errors) == ["a"]
    assert _tree(tmp_path / "a") == {
        "metadata": None,
        "metadata/targets": None,
        "metadata/targets.json": b"old a",
        "metadata/targets/releases.json": b"rel",
    }
    assert (tmp_path / "b" / "metadata" / "targets.json").read_bytes() == b"new"


def test_when_the_first_sync_fails_every_gun_stays_old(
    root: _fs.Dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _tree(tmp_path)
    monkeypatch.setattr(_fs, "_SYNCFS", lambda fd: errno.EIO)
    with _fs.Barrier() as barrier:
        for gun in ("a", "b", "c"):
            barrier.tag = gun
            _write(root, gun, b"new")
        errors = barrier.flush()
    assert sorted(errors) == ["a", "b", "c"]
    assert "Input/output error" in errors["a"].message
    # c's directory existed before; nothing else was left.
    assert _tree(tmp_path) == before


def test_a_gun_queued_twice_is_refused(root: _fs.Dir, tmp_path: Path) -> None:
    with _fs.Barrier() as barrier:
        _write(root, "a", b"first")
        with pytest.raises(StoreError, match="edited twice"):
            _write(root, "a", b"second")
        assert barrier.flush() == {}
    assert (tmp_path / "a" / "metadata" / "targets.json").read_bytes() == b"first"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["metadata"]


def test_barriers_do_not_nest() -> None:
    with _fs.Barrier(), pytest.raises(StoreError, match="already open"), _fs.Barrier():
        pass
    with _fs.Barrier():  # the first one closed: a new one opens
        pass


def test_a_kill_between_the_two_renames_reads_and_recovers_the_old_state(
    root: _fs.Dir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a kill after step 2 leaves (every metadata set aside, no generation in yet)."""
    real = _fs.Dir.rename

    class Killed(BaseException):
        pass

    def rename(self: _fs.Dir, src: str, dst: str) -> None:
        if src.startswith(_fs.GEN_PREFIX):
            raise Killed
        real(self, src, dst)

    monkeypatch.setattr(_fs.Dir, "rename", rename)

    def killed() -> None:
        with _fs.Barrier() as barrier:
            for gun in ("a", "b"):
                _write(root, gun, b"new")
            barrier.flush()

    with pytest.raises(Killed):
        killed()
    monkeypatch.setattr(_fs.Dir, "rename", real)
    for gun in ("a", "b"):
        parent = root.open_dir(gun)
        assert parent is not None
        with parent:
            current = _fs.current_generation(parent)
            assert current is not None
            assert current.startswith(_fs.OLD_PREFIX)
            _fs.recover_tree(parent)
        assert _tree(tmp_path / gun) == {
            "metadata": None,
            "metadata/targets": None,
            "metadata/targets.json": b"old " + gun.encode(),
            "metadata/targets/releases.json": b"rel",
        }
