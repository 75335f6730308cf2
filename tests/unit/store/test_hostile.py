"""The trust directory is hostile ground: links, special files, umask, crashes, odd names.

Each finding of the issue "The trust directory is hostile ground" that concerns
the store has its tests here (the CLI-level ones are in
``tests/unit/cli/test_hostile_cli.py``). They run on a real file system:
links, FIFOs, modes and the umask are what they are about.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from builders import (
    EXAMPLE_NOW,
    REPOSITORY_PASSPHRASE,
    ROOT_PASSPHRASE,
    SCHEMAS,
    copy_example,
    deadline,
    ed25519_key,
    read_tree,
)
from pyfakefs.fake_filesystem_unittest import Patcher

from offtrust.errors import ConflictError, OfftrustError, StoreError, UnreadableInputError
from offtrust.ops import staging
from offtrust.ops.context import Context
from offtrust.ops.keys import list_keys
from offtrust.ops.targets import target_add
from offtrust.ops.verify import load_and_verify
from offtrust.passphrase import Passphrases
from offtrust.store import _atomic, _fs
from offtrust.store.keystore import KeyStore
from offtrust.store.layout import STAGED, TUF, TrustDir
from offtrust.store.lock import recover, trust_lock
from offtrust.store.repo import RepoStore, StagedInfo, read_server_keys, write_server_keys

APP = "example.com/app"
TOOLS = "example.com/tools"
RELEASES = "targets/releases"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def trust(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "trust")


@pytest.fixture
def repos(trust: Path) -> RepoStore:
    return RepoStore(TrustDir(trust))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the trust dir that links point into; nothing may change it."""
    path = tmp_path / "outside"
    (path / "app" / "metadata").mkdir(parents=True)
    (path / "app" / "metadata" / "targets.json").write_bytes(b"precious")
    (path / "app" / "state.json").write_bytes(b"precious")
    (path / "victim").write_bytes(b"precious")
    return path


@pytest.fixture
def passphrases(monkeypatch: pytest.MonkeyPatch) -> Passphrases:
    monkeypatch.setenv("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", ROOT_PASSPHRASE)
    monkeypatch.setenv("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", REPOSITORY_PASSPHRASE)
    return Passphrases(interactive=False)


def context(trust: Path) -> Context:
    return Context(TrustDir(trust), clock=lambda: EXAMPLE_NOW)


def leftovers(root: Path) -> list[str]:
    """Temporary files and generations below *root* (``.tmp+…``, ``.gen+…``, ``*.tmp``)."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if "+" in p.name or p.name.endswith(".tmp")
    )


def staged_tags(ctx: Context, gun: str = APP) -> set[str]:
    state = ctx.repos.load(gun)
    if RELEASES not in state.staged:
        return set()
    return set(state.roles[RELEASES].signed.targets)


# -- finding 2: links inside the trust dir are never followed ---------------------------


def test_reset_refuses_a_linked_staged_host_directory(
    trust: Path, repos: RepoStore, outside: Path
) -> None:
    """``offtrust/staged/<host>`` links elsewhere: reset deleted files there, then crashed."""
    (trust / "offtrust" / "staged").mkdir(parents=True)
    (trust / "offtrust" / "staged" / "example.com").symlink_to(outside)
    before = read_tree(outside)
    with pytest.raises(UnreadableInputError, match="offtrust/staged/example.com: is a symbolic"):
        repos.reset(APP)
    assert read_tree(outside) == before


def test_write_staged_refuses_a_linked_staged_directory(
    trust: Path, repos: RepoStore, outside: Path
) -> None:
    """``target add`` wrote through a linked ``offtrust/staged``."""
    (trust / "offtrust").mkdir()
    (trust / "offtrust" / "staged").symlink_to(outside)
    before = read_tree(outside)
    with pytest.raises(StoreError, match="symbolic link"):
        repos.write_staged(APP, {"targets": b"T"}, StagedInfo({}, []))
    assert read_tree(outside) == before
    assert sorted(p.name for p in outside.iterdir()) == ["app", "victim"]


def test_target_add_refuses_a_linked_staged_directory(
    trust: Path, outside: Path, passphrases: Passphrases
) -> None:
    (trust / "offtrust").mkdir()
    (trust / "offtrust" / "staged").symlink_to(outside)
    before = read_tree(outside)
    with pytest.raises(StoreError, match="symbolic link"):
        target_add(context(trust), APP, "v2", DIGEST, 42, passphrases)
    assert read_tree(outside) == before


def test_write_published_refuses_a_linked_metadata_directory(
    trust: Path, repos: RepoStore, outside: Path
) -> None:
    """``fetch`` wrote through a linked ``tuf/<gun>/metadata``."""
    gun_dir = trust / "tuf" / "example.com" / "new"
    gun_dir.mkdir()
    (gun_dir / "metadata").symlink_to(outside / "app" / "metadata")
    before = read_tree(outside)
    with pytest.raises(StoreError, match="tuf/example.com/new/metadata: is a symbolic link"):
        repos.write_published("example.com/new", {"targets": b"T", "root": b"R"})
    assert read_tree(outside) == before


def test_write_published_refuses_a_linked_gun_directory(
    trust: Path, repos: RepoStore, outside: Path
) -> None:
    (trust / "tuf" / "evil.example").symlink_to(outside)
    before = read_tree(outside)
    with pytest.raises(StoreError, match="tuf/evil.example: is a symbolic link"):
        repos.write_published("evil.example/app", {"targets": b"T"})
    assert read_tree(outside) == before


def test_fetch_refuses_to_write_through_a_linked_metadata_directory(
    tmp_path: Path, outside: Path
) -> None:
    from builders import RepoBuilder
    from fakes.fake_notary import FakeNotary

    from offtrust.model.metadata import SNAPSHOT, TIMESTAMP
    from offtrust.ops.online import fetch_gun

    gun = "example.com/hosted"
    fake = FakeNotary(now=EXAMPLE_NOW)
    repo = RepoBuilder(gun=gun, now=EXAMPLE_NOW)
    state = repo.build()
    fake.host(
        gun,
        {role: md.to_bytes() for role, md in state.roles.items()},
        keys=[repo.keys[TIMESTAMP], repo.keys[SNAPSHOT]],
    )
    trust = tmp_path / "trust"
    (trust / "tuf" / gun).mkdir(parents=True)
    (trust / "tuf" / gun / "metadata").symlink_to(outside / "app" / "metadata")
    before = read_tree(outside)
    ctx = Context(TrustDir(trust), clock=lambda: fake.now)
    with pytest.raises(StoreError, match="metadata: is a symbolic link"):
        fetch_gun(ctx, gun, fake)
    assert read_tree(outside) == before


def test_load_refuses_a_linked_role_file(trust: Path, repos: RepoStore, outside: Path) -> None:
    path = trust / "tuf" / APP / "metadata" / "targets.json"
    path.unlink()
    path.symlink_to(outside / "app" / "metadata" / "targets.json")
    with pytest.raises(UnreadableInputError, match="metadata/targets.json: is a symbolic link"):
        repos.load(APP)


def test_a_linked_trust_root_is_followed(trust: Path, tmp_path: Path) -> None:
    """``-d`` may name a link on purpose: the root is resolved, nothing below it."""
    link = tmp_path / "link-to-trust"
    link.symlink_to(trust)
    linked = RepoStore(TrustDir(link))
    assert linked.load(APP).roles
    linked.write_staged(APP, {"targets": b"T"}, StagedInfo({}, []))
    assert (trust / "offtrust" / "staged" / APP / "metadata" / "targets.json").read_bytes() == b"T"


def test_a_linked_trust_root_is_resolved_once(trust: Path, tmp_path: Path) -> None:
    link = tmp_path / "link-to-trust"
    link.symlink_to(trust)
    repos = RepoStore(TrustDir(link))
    assert repos.has_published(APP)
    other = tmp_path / "other"
    other.mkdir()
    link.unlink()
    link.symlink_to(other)  # re-pointed while the command runs
    repos.write_staged(APP, {"targets": b"T"}, StagedInfo({}, []))
    assert (trust / "offtrust" / "staged" / APP / "metadata" / "targets.json").is_file()
    assert list(other.iterdir()) == []


def test_linked_gun_directories_are_not_listed(trust: Path, outside: Path) -> None:
    (trust / "tuf" / "linked.example").symlink_to(outside)
    assert TrustDir(trust).all_guns() == [APP, TOOLS]


# -- finding 3: modes whatever the umask; temporary files nobody can predict ------------


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): oct(stat.S_IMODE(p.lstat().st_mode))
        for p in [root, *root.rglob("*")]
    }


@pytest.mark.usefixtures("umask_000")
def test_directories_and_files_are_private_under_umask_000(tmp_path: Path) -> None:
    """``mkdir(parents=True)`` gave the mode to the last directory only: the rest were 0777."""
    trust = tmp_path / "fresh" / "trust"
    repos = RepoStore(TrustDir(trust))
    repos.write_staged("registry:5000/team/app", {"targets/a": b"T"}, StagedInfo({}, []))
    repos.write_published("registry:5000/team/app", {"root": b"R"})
    write_server_keys(TrustDir(trust), "registry:5000/team/app", {"snapshot": {}, "timestamp": {}})
    KeyStore(TrustDir(trust)).save(ed25519_key(7), role="alice", passphrase=None)
    found = modes(tmp_path / "fresh")
    dirs = {p: m for p, m in found.items() if (tmp_path / "fresh" / p).is_dir()}
    files = {p: m for p, m in found.items() if (tmp_path / "fresh" / p).is_file()}
    assert set(dirs.values()) == {"0o700"}, dirs
    assert set(files.values()) == {"0o600"}, files
    assert "trust/offtrust/staged/registry:5000/team/app/metadata/targets/a.json" in files


@pytest.mark.usefixtures("umask_000")
def test_the_lock_makes_private_directories_under_umask_000(tmp_path: Path) -> None:
    trust = tmp_path / "trust"
    with trust_lock(TrustDir(trust), create=True):
        assert modes(trust) == {".": "0o700", "offtrust": "0o700", "offtrust/lock": "0o600"}


def test_a_directory_made_under_a_strict_umask_is_still_usable(tmp_path: Path) -> None:
    """A umask that takes the owner's bits away must not leave unusable 0500 directories."""
    old = os.umask(0o277)
    try:
        repos = RepoStore(TrustDir(tmp_path / "trust"))
        repos.write_staged(APP, {"targets": b"T"}, StagedInfo({}, []))
    finally:
        os.umask(old)
    assert repos.staged_files(APP) == {"targets": repos.trust.staged_dir(APP) / "targets.json"}
    assert set(modes(tmp_path / "trust").values()) <= {"0o700", "0o600"}


class Spy:
    """Records the flags of every file offtrust's store creates."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.created: list[tuple[str, int]] = []
        self.chmods: list[Any] = []
        real_open = os.open

        def spy_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & os.O_CREAT:
                self.created.append((os.fsdecode(path), flags))
            return real_open(path, flags, *args, **kwargs)

        def spy_chmod(path: Any, *args: Any, **kwargs: Any) -> None:
            self.chmods.append(path)

        monkeypatch.setattr(_fs, "os", _Proxy(open=spy_open))
        monkeypatch.setattr(_atomic, "os", _Proxy(open=spy_open, chmod=spy_chmod))


class _Proxy:
    """The os module with some functions replaced (for one module of offtrust only)."""

    def __init__(self, **replaced: Callable[..., Any]) -> None:
        self._replaced = replaced

    def __getattr__(self, name: str) -> Any:
        return self._replaced.get(name) or getattr(os, name)


def test_temporary_files_are_unpredictable_and_created_exclusively(
    repos: RepoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Temporary names were ``.<name>.<pid>.tmp``, opened without O_EXCL or O_NOFOLLOW."""
    spy = Spy(monkeypatch)
    repos.write_staged(APP, {"targets": b"T", "targets/releases": b"R"}, StagedInfo({}, []))
    repos.write_published(APP, {"timestamp": b"TS"})
    write_server_keys(repos.trust, "example.com/new", {"snapshot": {}, "timestamp": {}})
    KeyStore(repos.trust).save(ed25519_key(7), role="alice", passphrase=None)
    assert spy.created
    for name, flags in spy.created:
        assert flags & os.O_EXCL, name
        assert flags & os.O_NOFOLLOW, name
        assert f".{os.getpid()}." not in name  # (random hex may hold the pid's digits)
        if name not in ("lock",):
            assert re.fullmatch(r"\.tmp\+[0-9a-f]{32}|[a-z]+(\.key)?(\.json)?|state\.json", name)
    temporary = {name for name, _ in spy.created if name.startswith(".tmp+")}
    assert len(temporary) == len([n for n, _ in spy.created if n.startswith(".tmp+")])


def test_a_link_planted_at_the_old_temporary_name_is_never_written_through(
    trust: Path, repos: RepoStore, outside: Path
) -> None:
    """A link at ``.<name>.<pid>.tmp`` made the old code overwrite a file outside the trust dir."""
    metadata = trust / "tuf" / APP / "metadata"
    for name in ("targets.json", "timestamp.json", "root.json"):
        (metadata / f".{name}.{os.getpid()}.tmp").symlink_to(outside / "victim")
    repos.write_published(APP, {"timestamp": b"TS"})
    write_server_keys(repos.trust, "example.com/new", {"snapshot": {}, "timestamp": {}})
    assert (outside / "victim").read_bytes() == b"precious"
    assert (metadata / "timestamp.json").read_bytes() == b"TS"


def test_atomic_writes_by_path_never_follow_a_planted_link(
    tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_atomic.write_atomic`` (writes by path, outside the store) has the same temp files."""
    target = tmp_path / "out" / "bundle"
    target.parent.mkdir()
    (target.parent / f".bundle.{os.getpid()}.tmp").symlink_to(outside / "victim")
    spy = Spy(monkeypatch)
    _atomic.write_atomic(target, b"data", mode=0o644)
    assert target.read_bytes() == b"data"
    assert oct(stat.S_IMODE(target.stat().st_mode)) == "0o644"
    assert (outside / "victim").read_bytes() == b"precious"
    assert spy.chmods == []  # the mode is given on creation (and by fchmod), never by path
    (created,) = spy.created
    assert created[1] & os.O_EXCL
    assert created[1] & os.O_NOFOLLOW


# -- finding 4: nested GUNs -------------------------------------------------------------


def test_reset_of_a_gun_keeps_the_guns_nested_in_it(repos: RepoStore) -> None:
    """``reset example.com`` dropped the staged edits of ``example.com/app`` too."""
    repos.write_staged("example.com", {"targets": b"outer"}, StagedInfo({}, ["outer"]))
    repos.write_staged(APP, {"targets": b"inner"}, StagedInfo({}, ["inner"]))
    assert repos.reset("example.com") is True
    assert repos.staged_files("example.com") == {}
    assert repos.staged_info("example.com") is None
    assert list(repos.staged_files(APP)) == ["targets"]
    info = repos.staged_info(APP)
    assert info is not None
    assert info.edits == ["inner"]
    assert repos.trust.staged_guns() == [APP]
    assert repos.reset(APP) is True
    assert not (repos.trust.offtrust / "staged" / "example.com").exists()


def test_reset_of_a_nested_gun_keeps_the_outer_one(repos: RepoStore) -> None:
    repos.write_staged("example.com", {"targets": b"outer"}, StagedInfo({}, ["outer"]))
    repos.write_staged(APP, {"targets": b"inner"}, StagedInfo({}, ["inner"]))
    assert repos.reset(APP) is True
    assert repos.trust.staged_guns() == ["example.com"]
    assert not (repos.trust.staged_root(APP)).exists()


# -- finding 5: the lock --------------------------------------------------------------


def test_a_second_writer_fails_at_once_naming_the_holder(trust: Path) -> None:
    ctx = context(trust)
    with ctx.locked():
        assert (trust / "offtrust" / "lock").read_text() == f"{os.getpid()}\n"
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports by its exit status
            code = 3
            try:
                with context(trust).locked():
                    code = 4
            except ConflictError as e:
                code = 0 if f"pid {os.getppid()}" in e.message and "busy" in e.message else 5
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


def test_the_lock_is_reentrant_and_leaves_nothing_behind(trust: Path) -> None:
    before = read_tree(trust)
    ctx = context(trust)
    with ctx.locked(), context(trust).locked():
        assert (trust / "offtrust" / "lock").is_file()
    assert read_tree(trust) == before
    assert not (trust / "offtrust").exists()


def test_the_lock_of_a_missing_trust_dir_creates_nothing(tmp_path: Path) -> None:
    with context(tmp_path / "typo").locked():
        pass
    assert not (tmp_path / "typo").exists()


def test_a_trust_dir_made_for_a_command_that_wrote_nothing_goes_again(tmp_path: Path) -> None:
    with context(tmp_path / "new" / "trust").locked(create=True):
        assert (tmp_path / "new" / "trust" / "offtrust" / "lock").is_file()
    assert list(tmp_path.iterdir()) == []
    with context(tmp_path / "kept").locked(create=True):
        KeyStore(TrustDir(tmp_path / "kept")).save(ed25519_key(7), role="a", passphrase=None)
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["private"]


def test_the_lock_refuses_a_planted_lock_link(trust: Path, outside: Path) -> None:
    (trust / "offtrust").mkdir()
    (trust / "offtrust" / "lock").symlink_to(outside / "victim")
    with pytest.raises(UnreadableInputError, match="offtrust/lock: is a symbolic link"):
        context(trust).locked().__enter__()
    assert (outside / "victim").read_bytes() == b"precious"


def test_a_stale_lock_file_of_a_killed_writer_is_taken_over(trust: Path) -> None:
    (trust / "offtrust").mkdir(mode=0o700)
    (trust / "offtrust" / "lock").write_text("999999999\n")
    with context(trust).locked():
        assert (trust / "offtrust" / "lock").read_text() == f"{os.getpid()}\n"


def test_a_command_refused_before_the_holder_wrote_its_pid_still_names_it(trust: Path) -> None:
    """CI: a writer refused between the holder's flock and its pid write said "another command"."""
    import fcntl
    import threading

    (trust / "offtrust").mkdir(mode=0o700)
    lock_file = trust / "offtrust" / "lock"
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # locked, still empty: the holder is about to write
        writer = threading.Timer(0.05, lambda: os.pwrite(fd, f"{os.getpid()}\n".encode(), 0))
        writer.start()
        with pytest.raises(ConflictError, match=rf"is busy: offtrust \(pid {os.getpid()}\)"):
            context(trust).locked().__enter__()
        writer.join()
    finally:
        os.close(fd)


# -- finding 6: crash-safe commits ------------------------------------------------------


class Killed(BaseException):
    """What a SIGKILL does to the command, as seen from the file system."""


class Injector:
    """Fails the *n*-th call that changes the disk in ``offtrust.store._fs``.

    With *error* (an errno), that one call fails with it and the command goes
    on (ENOSPC); without, it raises :class:`Killed` and so does every later
    call: a killed process does nothing more, not even its clean-up.
    """

    CHANGING = ("mkdir", "open", "write", "fsync", "fchmod", "rename", "unlink", "rmdir")

    def __init__(self, n: int, error: int | None = None) -> None:
        self.n = n
        self.error = error
        self.calls = 0
        self.fired = False

    def wrap(self, name: str) -> Callable[..., Any]:
        real = getattr(os, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if name == "open" and not args[1] & (os.O_CREAT | os.O_WRONLY | os.O_RDWR):
                return real(*args, **kwargs)  # reading changes nothing
            if self.fired and self.error is None:
                raise Killed()
            if self.error is not None and name in ("unlink", "rmdir", "fsync", "fchmod", "rename"):
                # Not simulated: removing frees space, and a rename within one
                # directory (all offtrust does) reuses the directory's blocks.
                return real(*args, **kwargs)
            self.calls += 1
            if self.calls == self.n:
                self.fired = True
                if self.error is None:
                    raise Killed()
                raise OSError(self.error, os.strerror(self.error))
            return real(*args, **kwargs)

        return call

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(_fs, "os", _Proxy(**{n: self.wrap(n) for n in self.CHANGING}))


def run_with(
    injector: Injector, action: Callable[[], object], monkeypatch: pytest.MonkeyPatch
) -> bool:
    """Run *action* under *injector*; True when the injected failure happened."""
    with monkeypatch.context() as patch:
        injector.install(patch)
        try:
            action()
        except Killed:
            return True
        except OfftrustError:
            assert injector.error is not None
            return True
    return injector.fired


def test_a_kill_at_any_moment_of_an_edit_leaves_the_old_or_the_new_state(
    tmp_path: Path, passphrases: Passphrases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGKILL between renames left a staged state that stage and verify rejected."""
    pristine = copy_example(tmp_path / "pristine")
    target_add(context(pristine), APP, "v2", DIGEST, 42, passphrases)
    old = staged_tags(context(pristine))
    new = old | {"v3"}
    seen = set()
    n = 0
    while True:
        n += 1
        trust = tmp_path / f"run{n}"
        shutil.copytree(pristine, trust)
        ctx = context(trust)
        killed = run_with(
            Injector(n),
            lambda ctx=ctx: target_add(ctx, APP, "v3", DIGEST, 43, passphrases),
            monkeypatch,
        )
        for phase in ("after the kill", "after recovery"):
            tags = staged_tags(context(trust))
            assert tags in (old, new), (n, phase, tags)
            seen.add(frozenset(tags))
            report = load_and_verify(context(trust), APP)
            assert report.ok, (n, phase, [str(p) for p in report.problems])
            assert staging.build_bundle(context(trust))[1] == [APP]
            info = context(trust).repos.staged_info(APP)
            assert info is not None
            assert len(info.edits) == (1 if tags == old else 2), (n, phase)
            recover(TrustDir(trust))
        assert leftovers(trust) == [], n
        shutil.rmtree(trust)
        if not killed:
            break
    assert seen == {frozenset(old), frozenset(new)}
    assert n > 20  # every write, rename and removal was a kill point


def snapshot(repos: RepoStore, gun: str) -> dict[str, Any]:
    """What readers see of *gun*, published and staged: every file's bytes, the staged state."""
    seen: dict[str, Any] = {"info": None}
    info = repos.staged_info(gun)
    if info is not None:
        seen["info"] = info.to_dict()
    for base in (TUF, STAGED):
        with repos._generation(base, gun) as generation:  # noqa: SLF001
            if generation is None:
                continue
            for rel, directory, leaf in generation.files():
                seen["/".join((*base, rel))] = directory.read(leaf, _fs.METADATA_LIMIT)
    return seen


def crash_points(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prepare: Callable[[RepoStore], None],
    action: Callable[[RepoStore], None],
    gun: str = APP,
    error: int | None = None,
) -> int:
    """Fail *action* at every changing call in turn; readers must see the old or new state."""
    pristine = copy_example(tmp_path / "pristine")
    prepare(RepoStore(TrustDir(pristine)))
    old = snapshot(RepoStore(TrustDir(pristine)), gun)
    done = tmp_path / "done"
    shutil.copytree(pristine, done)
    action(RepoStore(TrustDir(done)))
    new = snapshot(RepoStore(TrustDir(done)), gun)
    assert old != new
    n = 0
    while True:
        n += 1
        trust = tmp_path / f"run{n}"
        shutil.copytree(pristine, trust)
        repos = RepoStore(TrustDir(trust))
        failed = run_with(Injector(n, error), lambda repos=repos: action(repos), monkeypatch)
        seen = snapshot(RepoStore(TrustDir(trust)), gun)
        assert seen in (old, new), n
        if error is not None:
            # A failed command leaves no debris and the old state.
            assert leftovers(trust) == [], n
            if failed:
                assert seen == old, n
        recover(TrustDir(trust))
        assert snapshot(RepoStore(TrustDir(trust)), gun) == seen, n
        assert leftovers(trust) == [], n
        shutil.rmtree(trust)
        if not failed:
            return n


def _stage_some(repos: RepoStore) -> None:
    repos.write_staged(
        APP, {"targets": b"old-T", "targets/alice": b"old-A"}, StagedInfo({"targets": 1}, ["one"])
    )


def _stage_more(repos: RepoStore) -> None:
    repos.write_staged(
        APP,
        {"targets": b"new-T", "targets/releases": b"new-R"},
        StagedInfo({"targets": 1}, ["one", "two"]),
        remove=["targets/alice"],
    )


def test_a_kill_at_any_moment_of_write_staged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert crash_points(tmp_path, monkeypatch, _stage_some, _stage_more) > 15


def test_a_kill_at_any_moment_of_a_first_write_staged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert crash_points(tmp_path, monkeypatch, lambda r: None, _stage_some) > 10


def test_a_kill_at_any_moment_of_reset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert crash_points(tmp_path, monkeypatch, _stage_some, lambda r: r.reset(APP) and None) > 3


def test_a_kill_at_any_moment_of_write_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fetch(repos: RepoStore) -> None:
        published = repos.load(APP, staged=False)
        docs = {role: md.to_bytes() + b" " for role, md in published.roles.items()}
        repos.write_published(APP, docs)

    assert crash_points(tmp_path, monkeypatch, lambda r: None, fetch) > 20


def test_enospc_at_any_moment_of_write_staged_leaves_the_old_state_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC left an empty staged directory, after which ``stage`` failed for every GUN."""
    crash_points(tmp_path, monkeypatch, _stage_some, _stage_more, error=errno.ENOSPC)
    crash_points(tmp_path / "first", monkeypatch, lambda r: None, _stage_some, error=errno.ENOSPC)


def test_enospc_during_a_first_edit_leaves_stage_working_for_the_other_guns(
    trust: Path, passphrases: Passphrases, monkeypatch: pytest.MonkeyPatch
) -> None:
    target_add(context(trust), TOOLS, "v2", DIGEST, 42, passphrases)
    before = read_tree(trust)
    failed = run_with(
        Injector(3, errno.ENOSPC),
        lambda: target_add(context(trust), APP, "v2", DIGEST, 42, passphrases),
        monkeypatch,
    )
    assert failed
    assert read_tree(trust) == before
    assert not (trust / "offtrust" / "staged" / "example.com" / "app").exists()
    assert staging.build_bundle(context(trust))[1] == [TOOLS]


def test_an_interrupted_switch_reads_as_the_old_state_until_recovered(repos: RepoStore) -> None:
    _stage_some(repos)
    old = snapshot(repos, APP)
    gun_dir = repos.trust.staged_root(APP)
    # Killed between "metadata → .old+" and ".gen+ → metadata".
    (gun_dir / "metadata").rename(gun_dir / (".old+" + "1" * 32))
    (gun_dir / (".gen+" + "2" * 32)).mkdir()
    (gun_dir / (".gen+" + "2" * 32) / "targets.json").write_bytes(b"half-written")
    assert snapshot(repos, APP) == old
    assert repos.trust.staged_guns() == [APP]
    recover(repos.trust)
    assert snapshot(repos, APP) == old
    assert sorted(p.name for p in gun_dir.iterdir()) == ["metadata"]


def test_a_fetch_killed_midway_still_has_its_trusted_root(repos: RepoStore) -> None:
    """Between its two renames, ``tuf/<gun>/metadata`` is missing: never trust on first use then."""
    gun_dir = repos.trust.path / "tuf" / APP
    root = (gun_dir / "metadata" / "root.json").read_bytes()
    (gun_dir / "metadata").rename(gun_dir / (".old+" + "3" * 32))
    assert repos.has_published(APP)
    assert repos.load(APP, staged=False).published["root"].to_bytes() == root


def test_crash_leftovers_are_cleaned_by_the_next_writer(trust: Path, repos: RepoStore) -> None:
    """Crash leftovers (``*.tmp``) were never cleaned."""
    _stage_some(repos)
    planted = [
        trust / "tuf" / APP / "metadata" / f".targets.json.{os.getpid() + 1}.tmp",
        trust / "tuf" / APP / "metadata" / (".tmp+" + "a" * 32),
        trust / "tuf" / APP / (".gen+" + "b" * 32) / "root.json",
        trust / "offtrust" / "staged" / APP / (".del+" + "c" * 32) / "targets" / "x.json",
        trust / "offtrust" / "staged" / APP / (".old+" + "d" * 32) / "targets.json",
        trust / "offtrust" / "server" / "example.com" / "new" / (".tmp+" + "e" * 32),
        trust / "private" / (".tmp+" + "f" * 32),
    ]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"debris")
    # Readers ignore them.
    assert list(repos.staged_files(APP)) == ["targets", "targets/alice"]
    assert len(KeyStore(repos.trust).list()) == 7
    with context(trust).locked():
        pass
    assert leftovers(trust) == []
    assert list(repos.staged_files(APP)) == ["targets", "targets/alice"]
    # Files of the user that only look alike stay.
    assert (trust / "tuf" / APP / "metadata" / "targets.json").is_file()


def test_a_read_only_trust_dir_is_read_by_stage_without_a_lock(
    trust: Path, passphrases: Passphrases
) -> None:
    """``stage`` takes a shared lock, or none where nothing can write (read-only media)."""
    target_add(context(trust), APP, "v2", DIGEST, 42, passphrases)
    expected = staging.build_bundle(context(trust))
    tree = read_tree(trust)
    fake = Path("/ro/trust")
    with Patcher(allow_root_user=False) as patcher:
        patcher.fs.add_real_directory(SCHEMAS)
        for name, data in tree.items():
            patcher.fs.create_file(fake / name, contents=data)
        for path in [fake, *fake.rglob("*")]:
            if path.is_dir():
                path.chmod(0o500)
        with context(fake).locked(shared=True):
            data, guns = staging.build_bundle(context(fake))
        assert guns == [APP]
        assert data == expected[0]
        assert not (fake / "offtrust" / "lock").exists()
        with pytest.raises(StoreError, match="cannot lock"):
            context(fake).locked().__enter__()


# -- finding 7: special files -----------------------------------------------------------


def test_a_fifo_named_like_a_key_does_not_hang_the_key_listing(trust: Path) -> None:
    """A FIFO named like a key in ``private/`` hung ``key list``."""
    os.mkfifo(trust / "private" / ("0" * 64 + ".key"))
    (trust / "private" / "root_keys").mkdir()
    os.mkfifo(trust / "private" / "root_keys" / ("1" * 64 + "_root.key"))
    with deadline():
        keys = KeyStore(TrustDir(trust)).list()
        assert len(keys) == 7
        with pytest.raises(UnreadableInputError, match="is a FIFO"):
            KeyStore(TrustDir(trust)).read_private("0" * 64)


def test_a_json_fifo_under_tuf_does_not_hang_key_list_json(trust: Path) -> None:
    os.mkfifo(trust / "tuf" / APP / "metadata" / "targets" / "fifo.json")
    with deadline():
        rows = list_keys(context(trust), with_algorithm=True)
    assert len(rows) == 7
    assert all(row["algorithm"] for row in rows)


def test_a_fifo_role_file_is_refused_without_blocking(trust: Path, repos: RepoStore) -> None:
    path = trust / "tuf" / APP / "metadata" / "targets" / "releases.json"
    path.unlink()
    os.mkfifo(path)
    with deadline(), pytest.raises(UnreadableInputError, match="releases.json: is a FIFO"):
        repos.load(APP)


def in_child(action: Callable[[], None], *, memory: int = 512 * 1024 * 1024) -> None:
    """Run *action* in a forked child allowed *memory* more bytes and 10 s of CPU.

    A read without bound (the old code read a link to /dev/zero) then fails
    with MemoryError there instead of taking the machine's memory.
    """
    import resource
    import traceback

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports by its exit status
        code = 1
        try:
            pages = int(Path("/proc/self/statm").read_text().split()[0])
            size = pages * os.sysconf("SC_PAGE_SIZE")
            resource.setrlimit(resource.RLIMIT_AS, (size + memory, size + memory))
            resource.setrlimit(resource.RLIMIT_CPU, (10, 10))
            action()
            code = 0
        except BaseException:  # noqa: BLE001 - reported on stderr
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child failed (see stderr)"


def test_a_key_linked_to_dev_zero_is_never_read(trust: Path) -> None:
    """A key file linked to /dev/zero was read without bound (MemoryError)."""
    keyid = "2" * 64
    (trust / "private" / f"{keyid}.key").symlink_to("/dev/zero")

    def read() -> None:
        with deadline():
            store = KeyStore(TrustDir(trust))
            assert keyid not in {k.keyid for k in store.list()}
            with pytest.raises(UnreadableInputError, match="is a symbolic link"):
                store.read_private(keyid)

    in_child(read)


def test_an_oversized_key_file_is_refused(trust: Path) -> None:
    keyid = next(p.name[:-4] for p in (trust / "private").iterdir())
    path = trust / "private" / f"{keyid}.key"
    with path.open("r+b") as f:
        f.truncate(2 * 1024 * 1024)  # sparse: costs nothing on disk
    store = KeyStore(TrustDir(trust))
    assert keyid not in {k.keyid for k in store.list()}
    with pytest.raises(UnreadableInputError, match="larger than the limit of 1 MiB"):
        store.read_private(keyid)


def test_an_oversized_metadata_file_is_refused(trust: Path, repos: RepoStore) -> None:
    path = trust / "tuf" / APP / "metadata" / "targets.json"
    with path.open("r+b") as f:
        f.truncate(_fs.METADATA_LIMIT + 1)
    with pytest.raises(UnreadableInputError, match="larger than the limit of 100 MiB"):
        repos.load(APP)


def test_a_fifo_in_the_server_keys_is_refused(trust: Path) -> None:
    directory = trust / "offtrust" / "server" / "example.com" / "new"
    directory.mkdir(parents=True)
    os.mkfifo(directory / "timestamp.key.json")
    with deadline(), pytest.raises(UnreadableInputError, match="is a FIFO"):
        read_server_keys(TrustDir(trust), "example.com/new")


def test_the_read_limits_fit_the_largest_real_documents() -> None:
    # A targets file with 100,000 tags is about 15 MB; a fetched document may be
    # up to the online client's limit, which must be readable back.
    from offtrust.online.notary import MAX_METADATA_SIZE

    assert _fs.METADATA_LIMIT >= MAX_METADATA_SIZE
    assert _fs.KEY_LIMIT == 1024 * 1024


# -- finding 9: names found on disk ------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["evil\nexample.com: OK", "tab\there", "sp ace", "bad%", "é.example"]
)
def test_gun_directories_with_invalid_names_are_skipped(trust: Path, name: str) -> None:
    """A GUN directory named with a newline injected a false line into ``verify --all``."""
    shutil.copytree(trust / "tuf" / APP, trust / "tuf" / name / "app")
    (trust / "offtrust" / "staged" / name / "app" / "metadata").mkdir(parents=True)
    assert TrustDir(trust).all_guns() == [APP, TOOLS]


def test_valid_nested_and_staged_only_guns_are_still_found(trust: Path, repos: RepoStore) -> None:
    repos.write_staged("registry:5000/a/b", {"targets": b"T"}, StagedInfo({}, []))
    assert TrustDir(trust).all_guns() == [APP, TOOLS, "registry:5000/a/b"]


def test_names_in_messages_are_printable(trust: Path) -> None:
    path = trust / "tuf" / APP / "metadata" / "targets.json"
    path.unlink()
    path.mkdir()
    (trust / "tuf" / APP / "metadata" / "targets" / "releases.json").unlink()
    os.mkfifo(trust / "tuf" / APP / "metadata" / "targets" / "releases.json")
    with pytest.raises(UnreadableInputError) as info:
        RepoStore(TrustDir(trust)).load(APP)
    assert "\n" not in info.value.message
    assert _fs.show("a\nb\x1b[31m") == "a\\nb\\x1b[31m"


def test_key_names_from_headers_and_paths_are_printable(trust: Path) -> None:
    keyid = "3" * 64
    evil = (
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: evil\x1b[2J\n\nAAAA\n"
        "-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    legacy = trust / "private" / "tuf_keys" / "bad\nexample.com" / "app"
    legacy.mkdir(parents=True)
    # Notary 0.3's naming: the role comes from the header.
    (legacy / f"{keyid}.key").write_text(evil)
    rows = {k.keyid: k for k in KeyStore(TrustDir(trust)).list()}
    assert rows[keyid].gun == "bad\\nexample.com/app"
    assert rows[keyid].role == "evil\\x1b[2J"


def test_staged_state_json_is_bounded_and_checked(trust: Path, repos: RepoStore) -> None:
    _stage_some(repos)
    state = trust / "offtrust" / "staged" / APP / "metadata" / "state.json"
    state.write_text(json.dumps({"base": {"targets": "x"}}))
    with pytest.raises(OfftrustError, match="unreadable staged state"):
        repos.staged_info(APP)
