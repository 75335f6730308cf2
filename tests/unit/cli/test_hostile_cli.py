"""The trust directory is hostile ground, seen from the command line.

Findings 2, 4, 5, 6, 7 and 9 of the issue "The trust directory is hostile
ground" as users meet them: one ``offtrust: error:`` line and nothing changed
where the old code followed a link, hung or lost an edit. The store-level
tests are in ``tests/unit/store/test_hostile.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, copy_example, deadline, read_tree
from typer.testing import CliRunner, Result

from offtrust.cli import app
from offtrust.ops.context import Context
from offtrust.store.layout import TrustDir
from offtrust.store.repo import RepoStore, StagedInfo

HEX64 = re.compile(r"[0-9a-f]{64}")
APP = "example.com/app"
TOOLS = "example.com/tools"
RELEASES = "targets/releases"
DIGEST = "sha256:" + "ab" * 32
PASSPHRASES = {
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": ROOT_PASSPHRASE,
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": REPOSITORY_PASSPHRASE,
}


@pytest.fixture
def trust(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "trust")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside"
    (path / "app" / "metadata").mkdir(parents=True)
    (path / "app" / "metadata" / "targets.json").write_bytes(b"precious")
    (path / "app" / "state.json").write_bytes(b"precious")
    return path


def run(trust: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["-d", str(trust), *args], env=PASSPHRASES)


def error_line(result: Result) -> str:
    """The one error line of a failed command (no traceback)."""
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("offtrust: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def staged_tags(trust: Path) -> set[str]:
    state = RepoStore(TrustDir(trust)).load(APP)
    return set(state.roles[RELEASES].signed.targets) if RELEASES in state.staged else set()


def add_tag(trust: Path, tag: str) -> Result:
    return run(trust, "target", "add", APP, tag, "--digest", DIGEST, "--size", "42")


@contextlib.contextmanager
def held_by_another_process(trust: Path) -> Iterator[int]:
    """The lock of *trust*, held by a child process until the block ends; yields its pid."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only holds the lock
        code = 1
        try:
            os.close(ready_r)
            os.close(done_w)
            with Context(TrustDir(trust)).locked():
                os.write(ready_w, b"x")
                os.read(done_r, 1)
            code = 0
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(done_r)
    try:
        assert os.read(ready_r, 1) == b"x"
        yield pid
    finally:
        os.close(done_w)
        os.close(ready_r)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


# -- finding 2: links -----------------------------------------------------------------------


def test_reset_refuses_a_linked_staged_host_directory(trust: Path, outside: Path) -> None:
    """With ``offtrust/staged/<host>`` a link, reset deleted files there and then crashed."""
    (trust / "offtrust" / "staged").mkdir(parents=True)
    (trust / "offtrust" / "staged" / "example.com").symlink_to(outside)
    before = read_tree(outside)
    result = run(trust, "reset", APP)
    assert result.exit_code == 2
    assert "offtrust/staged/example.com: is a symbolic link" in error_line(result)
    assert read_tree(outside) == before


def test_target_add_refuses_a_linked_staged_directory(trust: Path, outside: Path) -> None:
    (trust / "offtrust").mkdir()
    (trust / "offtrust" / "staged").symlink_to(outside)
    before = read_tree(outside)
    result = add_tag(trust, "v2")
    assert result.exit_code == 2
    assert "offtrust/staged: is a symbolic link" in error_line(result)
    assert read_tree(outside) == before


def test_inspect_refuses_a_linked_role_file(trust: Path, outside: Path) -> None:
    path = trust / "tuf" / APP / "metadata" / "targets" / "releases.json"
    path.unlink()
    path.symlink_to(outside / "app" / "metadata" / "targets.json")
    result = run(trust, "inspect", APP)
    assert result.exit_code == 2
    assert "releases.json: is a symbolic link" in error_line(result)


def test_a_linked_trust_dir_is_used(trust: Path, tmp_path: Path) -> None:
    link = tmp_path / "trust-link"
    link.symlink_to(trust)
    result = add_tag(link, "v2")
    assert result.exit_code == 0, result.stderr
    assert "v2" in staged_tags(trust)


# -- finding 4: nested GUNs -------------------------------------------------------------


def test_reset_of_a_gun_keeps_the_staged_edits_of_guns_nested_in_it(trust: Path) -> None:
    assert add_tag(trust, "v2").exit_code == 0
    RepoStore(TrustDir(trust)).write_staged(
        "example.com", {"targets": b"{}"}, StagedInfo({}, ["outer edit"])
    )
    result = run(trust, "reset", "example.com")
    assert result.exit_code == 0, result.stderr
    assert "example.com: staged edits dropped" in result.stderr
    assert staged_tags(trust) == {"v1.0", "v2"}
    status = run(trust, "status")
    assert status.exit_code == 0, status.stderr
    assert status.stdout.startswith(f"{APP}:")


# -- finding 5: the lock ----------------------------------------------------------------


def test_a_writer_fails_at_once_naming_the_holder(trust: Path) -> None:
    before = read_tree(trust / "tuf")
    with held_by_another_process(trust) as pid:
        result = add_tag(trust, "v2")
        assert result.exit_code == 1
        line = error_line(result)
        assert f"is busy: offtrust (pid {pid}) is using it" in line
        assert "hint: wait for that command to finish" in result.stderr
        for command in (["reset", APP], ["key", "generate", "zed", "--dir", str(trust.parent)]):
            assert run(trust, *command).exit_code == 1
    assert read_tree(trust / "tuf") == before
    assert not (trust / "offtrust").exists()
    assert not (trust.parent / "zed.pub").exists()
    assert add_tag(trust, "v2").exit_code == 0


def test_reading_commands_take_no_lock(trust: Path) -> None:
    assert add_tag(trust, "v2").exit_code == 0
    with held_by_another_process(trust):
        for command in (
            ["verify", "--all"],
            ["status"],
            ["diff", APP],
            ["inspect", APP],
            ["key", "list", "--json"],
            ["delegation", "list", APP],
        ):
            result = run(trust, *command)
            assert result.exit_code == 0, (command, result.stderr)


def test_stage_waits_for_no_reader_but_excludes_writers(trust: Path) -> None:
    assert add_tag(trust, "v2").exit_code == 0
    bundle = trust.parent / "out.bundle"
    with held_by_another_process(trust) as pid:
        result = run(trust, "stage", "--output", str(bundle))
        assert result.exit_code == 1
        assert f"pid {pid}" in error_line(result)
    result = run(trust, "stage", "--output", str(bundle))
    assert result.exit_code == 0, result.stderr
    assert not (trust / "offtrust" / "lock").exists()


def _offtrust(trust: Path, *args: str, memory: int | None = None) -> subprocess.Popen[str]:
    """``python3 -m offtrust -d TRUST ARGS`` as a separate process (at most *memory* MiB more)."""
    import offtrust

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(trust.parent),
        "PYTHONPATH": str(Path(offtrust.__file__).resolve().parent.parent),
        **PASSPHRASES,
    }
    prefix = []
    if memory is not None:
        # ulimit -v counts the whole address space: the interpreter needs some.
        prefix = ["sh", "-c", f'ulimit -v {(memory + 1024) * 1024} && exec "$@"', "sh"]
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "offtrust", "-d", str(trust), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_concurrent_target_adds_never_lose_an_edit(trust: Path) -> None:
    """Two concurrent ``target add`` on one GUN both exited 0 and one edit was lost."""
    expected = {"v1.0"}
    for round_ in range(3):
        tags = [f"r{round_}a", f"r{round_}b"]
        procs = [
            _offtrust(trust, "target", "add", APP, tag, "--digest", DIGEST, "--size", "42")
            for tag in tags
        ]
        for tag, proc in zip(tags, procs, strict=True):
            out, err = proc.communicate(timeout=60)
            assert "Traceback" not in out + err
            if proc.returncode == 0:
                expected.add(tag)
            else:
                # The only way to lose: at once, saying who holds the lock.
                assert proc.returncode == 1, err
                assert "is busy: offtrust (pid " in err, err
        assert staged_tags(trust) == expected
    assert len(expected) > 3  # at least one edit of each round went through


# -- finding 6: crashes -------------------------------------------------------------------


def test_stage_and_verify_work_after_a_switch_killed_midway(trust: Path) -> None:
    assert add_tag(trust, "v2").exit_code == 0
    gun_dir = trust / "offtrust" / "staged" / APP
    # Killed between "metadata → .old+" and ".gen+ → metadata" of a second edit.
    (gun_dir / "metadata").rename(gun_dir / (".old+" + "1" * 32))
    shutil.copytree(gun_dir / (".old+" + "1" * 32), gun_dir / (".gen+" + "2" * 32))
    (gun_dir / (".gen+" + "2" * 32) / "targets" / "releases.json").write_bytes(b"{half")
    for command in (["verify", APP], ["status"], ["stage", "-o", str(trust.parent / "b")]):
        result = run(trust, *command)
        assert result.exit_code == 0, (command, result.stderr)
    assert staged_tags(trust) == {"v1.0", "v2"}
    # The next writer puts the old generation back and cleans up.
    assert add_tag(trust, "v3").exit_code == 0
    assert staged_tags(trust) == {"v1.0", "v2", "v3"}
    assert sorted(p.name for p in gun_dir.iterdir()) == ["metadata"]


def test_crash_leftovers_go_at_the_next_writing_command(trust: Path) -> None:
    leftover = trust / "tuf" / APP / "metadata" / f".targets.json.{os.getpid()}.tmp"
    leftover.write_bytes(b"debris")
    assert run(trust, "verify", APP).exit_code == 0
    assert leftover.exists()  # readers ignore it
    assert add_tag(trust, "v2").exit_code == 0
    assert not leftover.exists()


def test_a_failed_edit_leaves_no_trace(trust: Path) -> None:
    before = read_tree(trust)
    result = run(
        trust,
        "target",
        "add",
        APP,
        "v2",
        "--digest",
        DIGEST,
        "--size",
        "42",
        "--role",
        "targets/nobody",
    )
    assert result.exit_code != 0
    assert read_tree(trust) == before
    assert not (trust / "offtrust").exists()


def test_a_failed_command_on_a_new_trust_dir_creates_nothing(tmp_path: Path) -> None:
    trust = tmp_path / "new" / "trust"
    result = run(trust, "key", "generate", "Not_Valid", "--dir", str(tmp_path))
    assert result.exit_code == 2
    error_line(result)
    assert list(tmp_path.iterdir()) == []
    result = run(trust, "key", "generate", "alice", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in trust.iterdir()) == ["private"]


# -- finding 7: special files ---------------------------------------------------------------


def test_key_list_skips_fifos_and_links_to_devices(trust: Path) -> None:
    """A FIFO named like a key hung ``key list``; a link to /dev/zero raised MemoryError."""
    os.mkfifo(trust / "private" / ("0" * 64 + ".key"))
    (trust / "private" / ("1" * 64 + ".key")).symlink_to("/dev/zero")
    os.mkfifo(trust / "tuf" / APP / "metadata" / "fifo.json")
    for command in (["key", "list"], ["key", "list", "--json"]):
        # In a child with little memory: the old code read /dev/zero without bound.
        proc = _offtrust(trust, *command, memory=512)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "0" * 64 not in out
        assert "1" * 64 not in out
        assert len(HEX64.findall(out)) >= 7


def test_key_list_names_a_linked_private_directory(trust: Path, tmp_path: Path) -> None:
    """A linked ``private/`` was never followed, but key list said "No signing
    keys found": it now says why, in one line, through both entries."""
    (trust / "private").rename(tmp_path / "elsewhere")
    (trust / "private").symlink_to(tmp_path / "elsewhere")
    for command in (["key", "list"], ["key", "list", "--json"]):
        result = run(trust, *command)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.startswith("offtrust: error: private: is a symbolic link")
        proc = _offtrust(trust, *command)
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, out) == (2, "")
        assert err.startswith("offtrust: error: private: is a symbolic link"), err


def test_verify_refuses_a_fifo_role_file_without_hanging(trust: Path) -> None:
    path = trust / "tuf" / APP / "metadata" / "snapshot.json"
    path.unlink()
    os.mkfifo(path)
    with deadline(10.0):
        result = run(trust, "verify", APP)
    assert result.exit_code == 2
    assert "snapshot.json: is a FIFO" in result.stdout + result.stderr


# -- finding 9: names found on disk ---------------------------------------------------------


def test_verify_all_prints_no_line_of_a_gun_named_with_a_newline(trust: Path) -> None:
    """A GUN directory whose name held a newline injected a false line into ``verify --all``."""
    shutil.copytree(trust / "tuf" / APP, trust / "tuf" / "evil\nexample.com: OK" / "app")
    result = run(trust, "verify", "--all")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"{APP}: OK", f"{TOOLS}: OK"]
    assert "evil" not in result.stdout + result.stderr
