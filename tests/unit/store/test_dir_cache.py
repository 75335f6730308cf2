"""The directories a locked command keeps open (``offtrust.store._fs.DirCache``).

While a command holds the trust directory's lock, the directories on the way
to each GUN are opened once and kept. These tests hold what that must not
change: a GUN directory the command itself removes (``reset`` prunes it) is
never written through a stale descriptor, nothing stays open after the lock,
every component is still checked (a link is refused, not followed), and a
command without the lock opens everything afresh as before.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from builders import copy_example

from offtrust.errors import UnreadableInputError
from offtrust.store.layout import TrustDir
from offtrust.store.lock import open_under, trust_lock
from offtrust.store.repo import RepoStore, StagedInfo

APP = "example.com/app"
NEW = "example.com/new/deep"


@pytest.fixture
def trust(tmp_path: Path) -> TrustDir:
    return TrustDir(copy_example(tmp_path / "trust"))


def open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_a_gun_reset_and_staged_again_in_one_locked_command_is_on_disk(trust: TrustDir) -> None:
    """``reset`` removes the GUN's emptied directories: the next write must not
    land in the removed (still open) directory, where it would be lost."""
    repos = RepoStore(trust)
    with trust_lock(trust):
        repos.write_staged(NEW, {"targets": b"first"}, StagedInfo({}, []))
        assert repos.reset(NEW)
        assert not (trust.path / "offtrust" / "staged" / "example.com" / "new").exists()
        repos.write_staged(NEW, {"targets": b"second"}, StagedInfo({}, []))
    staged = trust.path / "offtrust" / "staged" / NEW / "metadata" / "targets.json"
    assert staged.read_bytes() == b"second"
    assert RepoStore(trust).staged_files(NEW) == {"targets": staged}


def test_a_published_gun_removed_in_a_locked_command_is_gone(trust: TrustDir) -> None:
    repos = RepoStore(trust)
    with trust_lock(trust):
        assert repos.has_published(APP)
        assert repos.remove_published(APP)
        assert not repos.has_published(APP)
        repos.write_published(APP, {"timestamp": b"TS"})
    assert (trust.path / "tuf" / APP / "metadata" / "timestamp.json").read_bytes() == b"TS"


def test_no_descriptor_outlives_the_lock(trust: TrustDir) -> None:
    before = open_descriptors()
    repos = RepoStore(trust)
    with trust_lock(trust):
        repos.load(APP)
        repos.write_staged(APP, {"targets": b"T"}, StagedInfo({}, []))
        repos.staged_files(APP)
        assert len(open_descriptors() - before) >= 3  # the lock's and the kept directories
    assert open_descriptors() == before


def test_a_link_is_refused_with_the_lock_held_as_without(trust: TrustDir, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "metadata").mkdir(parents=True)
    (trust.path / "tuf" / "example.com" / "linked").symlink_to(elsewhere)
    with (
        pytest.raises(UnreadableInputError, match="link"),
        open_under(trust, ("tuf", "example.com", "linked")),
    ):
        pass
    with trust_lock(trust):
        with open_under(trust, ("tuf", "example.com")) as kept:
            assert kept is not None  # example.com is now kept open
        with (
            pytest.raises(UnreadableInputError, match="link"),
            open_under(trust, ("tuf", "example.com", "linked")),
        ):
            pass


def test_a_kept_directory_is_the_one_opened_first(trust: TrustDir, tmp_path: Path) -> None:
    """A name swapped for a link after the lock opened it is not followed:
    the descriptor stays bound to the directory that was checked."""
    with trust_lock(trust):
        with open_under(trust, ("tuf", "example.com")) as first:
            assert first is not None
        (trust.path / "tuf" / "example.com").rename(tmp_path / "moved")
        (trust.path / "tuf" / "example.com").symlink_to(tmp_path / "moved")
        with open_under(trust, ("tuf", "example.com", "app")) as app:
            assert app is not None
            assert os.fstat(app.fd).st_ino == (tmp_path / "moved" / "app").stat().st_ino
    # Without the lock, every component is checked afresh: the link is refused.
    with (
        pytest.raises(UnreadableInputError, match="link"),
        open_under(trust, ("tuf", "example.com", "app")),
    ):
        pass


def test_a_missing_directory_is_not_kept_as_missing(trust: TrustDir) -> None:
    with trust_lock(trust):
        with open_under(trust, ("offtrust", "staged", "example.com")) as missing:
            assert missing is None
        with open_under(trust, ("offtrust", "staged", "example.com"), create=True) as made:
            assert made is not None
        with open_under(trust, ("offtrust", "staged", "example.com")) as found:
            assert found is not None


def test_a_worker_opens_guns_from_the_directories_its_parent_kept(
    trust: TrustDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker reads its parent's GUNs under its parent's lock: from the
    directories the parent keeps open, not from the trust directory down."""
    from offtrust.store import _fs, workers

    repos = RepoStore(trust)
    opened: list[str] = []
    real = _fs.Dir.open_dir

    def counting(self: _fs.Dir, name: str, **kwargs: bool) -> _fs.Dir | None:
        opened.append(name)
        return real(self, name, **kwargs)

    def work(gun: str) -> list[str]:
        opened.clear()
        RepoStore(trust).load(gun)
        return list(opened)

    with trust_lock(trust):
        repos.load(APP)  # keeps tuf/, tuf/example.com and tuf/example.com/app open
        monkeypatch.setattr(_fs.Dir, "open_dir", counting)
        with workers.Rehearsal([APP], work, 1) as ahead:
            kind, in_worker = ahead.answer(0)
    assert kind == "ok"
    assert not {"tuf", "offtrust", "example.com", "app"} & set(in_worker)
    assert "targets" in in_worker  # the delegations below the generation are opened as ever


def test_a_checked_cache_drops_a_directory_removed_under_it(trust: TrustDir) -> None:
    """In a worker the kept directories are checked before use: one the parent
    removed (and perhaps made again) is opened afresh, never read through."""
    import shutil

    from offtrust.store import _fs

    root = _fs.open_root(trust.root)
    assert root is not None
    with root:
        cache = _fs.DirCache(root, checked=True)
        parts = ("tuf", "example.com", "app")
        with cache.open(parts) as first:
            assert first is not None
            assert "metadata" in dict(first.entries())
        app = trust.path / "tuf" / "example.com" / "app"
        shutil.rmtree(app)
        app.mkdir()
        (app / "made-again").write_bytes(b"")
        with cache.open(parts) as again:
            assert again is not None
            assert dict(again.entries()) == {"made-again": _fs.FILE}
        cache.close()
