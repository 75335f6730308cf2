"""Files the user names: written only as regular files, atomically, never read first.

Issue 7 finding 1: ``stage --output`` onto a character device replaced the
device with a regular file, onto a FIFO it hung, ``-o -`` wrote a file named
``-``, ``-o /nonexistent/dir/x`` created the directory and ``-o /tmp`` said
"cannot read". The command-level tests are in tests/unit/cli/test_bad_input.py.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from offtrust.errors import StoreError, UnreadableInputError, UsageError
from offtrust.store import output
from offtrust.store.output import check_output, is_stdout, read_user_file, write_output

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_writes_a_new_file_with_the_exact_mode_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_output(tmp_path / "a.bundle", b"data", mode=0o644)
    finally:
        os.umask(old)
    path = tmp_path / "a.bundle"
    assert path.read_bytes() == b"data"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert leftovers(tmp_path) == []


def test_replaces_a_regular_file_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.bundle"
    path.write_bytes(b"old")
    path.chmod(0o200)  # write-only: reading it would fail
    inode = path.stat().st_ino
    write_output(path, b"new", mode=0o600)
    assert path.read_bytes() == b"new"
    assert path.stat().st_ino != inode  # a new file renamed over the name


def test_refuses_to_replace_when_asked_not_to(tmp_path: Path) -> None:
    path = tmp_path / "alice.pub"
    path.write_bytes(b"mine")
    with pytest.raises(UsageError, match="already exists"):
        write_output(path, b"theirs", replace=False)
    assert path.read_bytes() == b"mine"
    assert leftovers(tmp_path) == []


def test_a_file_appearing_meanwhile_is_not_overwritten_without_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "alice.pub"
    real_link = os.link

    def racing_link(src: str, dst: str, **kw: object) -> None:
        Path(dst).write_bytes(b"raced")
        real_link(src, dst, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(output.os, "link", racing_link)
    with pytest.raises(UsageError, match="already exists"):
        write_output(path, b"new", replace=False)
    assert path.read_bytes() == b"raced"
    assert leftovers(tmp_path) == []


def test_refuses_a_directory_naming_it(tmp_path: Path) -> None:
    for name in (str(tmp_path), f"{tmp_path}/", f"{tmp_path}/.", "/tmp"):
        with pytest.raises(UsageError, match="is a directory") as caught:
            check_output(name)
        assert caught.value.exit_code == 2
        assert "cannot read" not in caught.value.message


def test_refuses_a_missing_parent_and_does_not_create_it(tmp_path: Path) -> None:
    target = tmp_path / "nonexistent" / "dir" / "x"
    with pytest.raises(UsageError, match="does not exist"):
        write_output(target, b"data")
    assert not (tmp_path / "nonexistent").exists()


def test_refuses_a_parent_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(UsageError, match="(?i)not a directory"):
        check_output(tmp_path / "file" / "x")


def test_refuses_a_fifo_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    # Opening a FIFO for writing blocks until a reader comes: run in a thread
    # so that a regression fails the test instead of hanging it.
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            write_output(fifo, b"data")
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            errors.append(e)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "write_output blocked on a FIFO"
    assert len(errors) == 1, errors
    assert isinstance(errors[0], UsageError), errors
    assert "FIFO" in str(errors[0])
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_refuses_dev_null_before_writing() -> None:
    """Non-destructive on any machine: the check refuses, nothing is written."""
    before = os.lstat("/dev/null")
    with pytest.raises(UsageError, match="character device") as caught:
        check_output("/dev/null")
    assert caught.value.hint is not None
    assert "-o -" in caught.value.hint
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


@needs_root
def test_a_character_device_is_left_a_device(tmp_path: Path) -> None:
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    with pytest.raises(UsageError, match="character device"):
        write_output(device, b"data")
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_refuses_a_symlink_to_a_special_file(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "target"
    if kind == "directory":
        target.mkdir()
    else:
        os.mkfifo(target)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(UsageError, match="directory" if kind == "directory" else "FIFO"):
        write_output(link, b"data")
    assert link.is_symlink()


def test_a_symlink_to_a_regular_file_writes_the_target(tmp_path: Path) -> None:
    (tmp_path / "usb").mkdir()
    target = tmp_path / "usb" / "ceremony.bundle"
    target.write_bytes(b"old")
    link = tmp_path / "link.bundle"
    link.symlink_to(target)
    write_output(link, b"new")
    assert link.is_symlink()
    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path / "usb") == []


def test_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(UsageError):
        write_output(tmp_path / "a", b"data")


def test_a_planted_temp_name_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary file is opened O_EXCL|O_NOFOLLOW: a link at its name is not written through."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    monkeypatch.setattr(output.secrets, "token_hex", lambda n: "fixed")
    (tmp_path / ".out.fixed.tmp").symlink_to(victim)
    with pytest.raises(StoreError, match="cannot write"):
        write_output(tmp_path / "out", b"data")
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "out").exists()


def test_a_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.bundle"
    path.write_bytes(b"old")

    def full(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.os, "write", full)
    with pytest.raises(StoreError, match="No space left"):
        write_output(path, b"new")
    assert path.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_dash_is_stdout_and_not_a_file_name(tmp_path: Path) -> None:
    assert is_stdout("-")
    assert is_stdout(Path("-"))
    assert not is_stdout("./-")
    with pytest.raises(UsageError, match="standard output"):
        check_output("-")


def test_read_user_file_refuses_special_files_and_big_files(tmp_path: Path) -> None:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableInputError, match="FIFO"):
        read_user_file(fifo, limit=10)
    with pytest.raises(UnreadableInputError, match="character device"):
        read_user_file("/dev/zero", limit=10)
    with pytest.raises(UnreadableInputError, match="directory"):
        read_user_file(tmp_path, limit=10)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 11)
    with pytest.raises(UnreadableInputError, match="over the limit of 10 bytes"):
        read_user_file(big, limit=10)
    (tmp_path / "ok").write_bytes(b"x" * 10)
    assert read_user_file(tmp_path / "ok", limit=10) == b"x" * 10
    with pytest.raises(UnreadableInputError, match="cannot read"):
        read_user_file(tmp_path / "missing", limit=10)
