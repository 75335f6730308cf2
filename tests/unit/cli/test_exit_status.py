"""One exit-status rule for per-GUN work: the same broken file, the same status everywhere.

``verify`` and ``fetch`` used to decide their status each in its own way: a
malformed metadata file was exit 2 from ``verify`` and 1 from ``fetch``. Both
now run through offtrust.ops.batch, where a failure keeps its own status and
unreadable input (2) outranks a failed operation (1).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
from builders import copy_example, read_tree
from typer.testing import CliRunner, Result

from offtrust.cli import app
from offtrust.errors import NetworkError

APP, TOOLS = "example.com/app", "example.com/tools"
SERVER = "https://notary.invalid:4443"


class _UnreachableServer:
    """A client stub: every request fails as if the server were down."""

    server = SERVER

    def deadline(self, seconds: float) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def __getattr__(self, name: str) -> Callable[..., NoReturn]:
        def request(*args: Any, **kwargs: Any) -> NoReturn:
            raise NetworkError(f"{SERVER}: the network is unreachable")

        return request


@pytest.fixture
def trust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("offtrust.cli.bundle._client", lambda *args, **kwargs: _UnreachableServer())
    copy: Path = copy_example(tmp_path / "trust")
    return copy


def run(trust: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["-d", str(trust), *args])


def error_lines(result: Result) -> list[str]:
    assert "Traceback" not in result.stdout + result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("offtrust: error:")]


def break_root(trust: Path, gun: str = APP) -> None:
    (trust / "tuf" / gun / "metadata" / "root.json").write_bytes(b'{"signed": {')


def test_a_malformed_file_is_exit_2_from_verify_and_from_fetch(trust: Path) -> None:
    break_root(trust)
    before = read_tree(trust)

    verified = run(trust, "verify", APP)
    fetched = run(trust, "fetch", APP, "--server", SERVER)

    assert verified.exit_code == fetched.exit_code == 2, (verified.stderr, fetched.stderr)
    for result in (verified, fetched):
        (line,) = error_lines(result)
        assert "root.json: malformed JSON" in line, line
    assert fetched.stdout == ""  # one GUN: its failure is the command's one error line
    assert read_tree(trust) == before


def test_among_other_failures_the_malformed_file_still_decides(trust: Path) -> None:
    # APP's file is malformed (2); TOOLS is fine offline but its fetch fails (1).
    break_root(trust)

    verified = run(trust, "verify", "--all")
    fetched = run(trust, "fetch", "--all", "--server", SERVER)

    assert verified.exit_code == fetched.exit_code == 2, (verified.stderr, fetched.stderr)
    assert f"{TOOLS}: OK" in verified.stdout
    # Each failed GUN is one stderr line naming it once; the summary comes last.
    lines = error_lines(fetched)
    assert lines[-1] == "offtrust: error: fetch failed for 2 of 2 GUN(s)"
    assert f"offtrust: error: {TOOLS}: {SERVER}: the network is unreachable" in lines
    assert "done: 0 changed, 0 skipped, 2 failed" in fetched.stderr


def test_a_failed_operation_alone_is_exit_1(trust: Path) -> None:
    fetched = run(trust, "fetch", TOOLS, "--server", SERVER)
    assert fetched.exit_code == 1
    (line,) = error_lines(fetched)
    assert line == (
        f"offtrust: error: fetch failed for 1 of 1 GUN(s): {SERVER}: the network is unreachable"
    )
