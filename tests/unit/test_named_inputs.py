"""Hostile inputs the user names, and signed dates out of Python's range.

1. Public key files named with ``--key`` (``signer add``, ``delegation add``)
   are read bounded and without blocking, as every other user-named input
   (``offtrust.store.output.read_user_file``): a FIFO does not hang the
   command (which holds the trust directory's lock), ``/dev/zero`` is not read
   without bound.
2. Expiry dates beyond Python's range once in UTC, on properly signed
   documents (so only the date is unusual): one line, never a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from builders import REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, RepoBuilder, copy_example, read_tree
from typer.testing import CliRunner

from offtrust.cli import app
from offtrust.store.layout import TrustDir
from offtrust.store.repo import RepoStore

APP = "example.com/app"
FAR = "example.com/far"
PASSPHRASES = {
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": ROOT_PASSPHRASE,
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": REPOSITORY_PASSPHRASE,
}


@pytest.fixture
def trust(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "trust")


def offtrust(trust: Path, *args: str, memory_mib: int = 512) -> subprocess.CompletedProcess[str]:
    """``python3 -m offtrust -d TRUST ARGS`` in a process with little memory and 20 s."""
    import offtrust as package

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(trust.parent),
        "PYTHONPATH": str(Path(package.__file__).resolve().parent.parent),
        **PASSPHRASES,
    }
    limit = (memory_mib + 1024) * 1024
    argv = ["sh", "-c", f'ulimit -v {limit} && exec "$@"', "sh"]
    argv += [sys.executable, "-m", "offtrust", "-d", str(trust), *args]
    try:
        return subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=20, check=False
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"`offtrust {' '.join(args)}` hung: {e}", pytrace=False)


KEY_COMMANDS = {
    "signer-add": ("signer", "add", "dave", APP, "--key"),
    "delegation-add": ("delegation", "add", APP, "targets/qa", "--key"),
}


@pytest.mark.parametrize("command", KEY_COMMANDS.values(), ids=KEY_COMMANDS.keys())
def test_a_public_key_fifo_is_refused_without_hanging(
    trust: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    fifo = tmp_path / "dave.pub"
    os.mkfifo(fifo)
    before = read_tree(trust)
    done = offtrust(trust, *command, str(fifo))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("offtrust: error: "), done.stderr
    assert "FIFO" in done.stderr
    assert read_tree(trust) == before


@pytest.mark.parametrize("command", KEY_COMMANDS.values(), ids=KEY_COMMANDS.keys())
def test_a_public_key_of_dev_zero_is_never_read(trust: Path, command: tuple[str, ...]) -> None:
    before = read_tree(trust)
    done = offtrust(trust, *command, "/dev/zero")
    assert "MemoryError" not in done.stderr
    assert done.returncode == 2, done.stderr
    assert "character device" in done.stderr
    assert read_tree(trust) == before


def _signed_repo_expiring(trust: Path, expires: str) -> None:
    builder = RepoBuilder(gun=FAR, now=datetime.now(timezone.utc))
    builder.signed["targets"].expires = expires
    state = builder.build()
    RepoStore(TrustDir(trust)).write_published(
        FAR, {role: md.to_bytes() for role, md in state.roles.items()}
    )


def _no_traceback(result: object) -> None:
    exception = getattr(result, "exception", None)
    assert exception is None or isinstance(exception, SystemExit), repr(exception)
    assert "Traceback" not in getattr(result, "output", "")


def test_a_signed_expiry_past_the_year_9999_in_utc_verifies(tmp_path: Path) -> None:
    trust = tmp_path / "trust"
    _signed_repo_expiring(trust, "9999-12-31T23:59:59-01:00")
    for command in (["verify", FAR], ["verify", "--json", FAR], ["inspect", FAR]):
        result = CliRunner().invoke(app, ["-d", str(trust), *command])
        _no_traceback(result)
        assert result.exit_code == 0, (command, result.stderr)


def test_a_signed_expiry_before_the_year_1_in_utc_is_expired_in_one_line(tmp_path: Path) -> None:
    trust = tmp_path / "trust"
    _signed_repo_expiring(trust, "0001-01-01T00:00:00+01:00")
    result = CliRunner().invoke(app, ["-d", str(trust), "verify", FAR])
    _no_traceback(result)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("offtrust: error:")]
    assert errors == [f"offtrust: error: {FAR}: targets: expired at 0001-01-01T00:00:00+01:00"]
    inspect = CliRunner().invoke(app, ["-d", str(trust), "inspect", FAR])
    _no_traceback(inspect)
    assert "expired" in inspect.stderr
