"""Offline means offline: no offline command opens a socket.

Every offline command runs on its own copy of the same trust data (made by
the real Docker tools, plus a new GUN whose server keys ``fetch`` recorded
beforehand), three ways:

- baseline: in process through typer's ``CliRunner``, network untouched;
- each command in its own process inside ``unshare -n``: a new network
  namespace with no interface up, not even loopback, so any connection or DNS
  lookup fails. (To keep this fast, one Python process in the namespace imports
  offtrust once and forks a child per command: each child runs the real entry
  point with its own argv, stdout, stderr and exit status.);
- in process through ``CliRunner`` with ``socket.socket.connect``,
  ``socket.create_connection`` and ``socket.getaddrinfo`` replaced by traps
  that raise ``AssertionError`` (an error offtrust does not catch).

The last two must give the baseline's exit codes and, for commands whose output
does not depend on fresh keys or signatures, its output. The negative: ``fetch``
under ``unshare -n`` (a fresh ``python -m offtrust``) fails with one line.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from realtools import (
    DOCKER_PASSPHRASES,
    NotaryServer,
    TrustRepo,
    copy_trust_dir,
    tool_env,
    unique_gun,
)

pytestmark = pytest.mark.interop

DIGEST = "sha256:" + "cd" * 32


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def offtrust_env(home: Path | None = None) -> dict[str, str]:
    """A hermetic environment with the TEST Docker passphrases and no OFFTRUST_* setting."""
    env = tool_env(home, DOCKER_PASSPHRASES.docker_env())
    return {k: v for k, v in env.items() if not k.startswith("OFFTRUST_")}


def run_offtrust(
    trust_dir: Path, *args: str, prefix: Sequence[str] = (), home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``[PREFIX...] python -m offtrust -d TRUST_DIR ARGS...`` as a real process."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "offtrust", "-d", str(trust_dir), *args],
        capture_output=True,
        text=True,
        env=offtrust_env(home),
        timeout=120,
        check=False,
    )


def describe(args: Sequence[str], code: int, out: str, err: str) -> str:
    return f"offtrust {' '.join(args)} -> {code}\n--- stdout\n{out}--- stderr\n{err}"


def require_unshare() -> list[str]:
    """``["unshare", "-n"]`` if a new network namespace can be made here.

    Skips otherwise, except under ``CI=true`` (CI runs as root and must run this).
    """
    reason = ""
    if shutil.which("unshare") is None:
        reason = "unshare is not on PATH"
    else:
        probe = subprocess.run(
            ["unshare", "-n", "true"], capture_output=True, text=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return ["unshare", "-n"]
        reason = f"`unshare -n true` failed ({probe.returncode}): {probe.stderr.strip()}"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true: the network-namespace test must run)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- #
# The offline command list
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Step:
    """One offline command. ``{T}`` is the run's directory, ``{G}`` the Docker-made
    GUN, ``{N}`` the new GUN; ``same_output``: stdout is identical in every run."""

    args: tuple[str, ...]
    same_output: bool = False

    def render(self, run_dir: Path, gun: str, new_gun: str) -> list[str]:
        return [a.format(T=run_dir, G=gun, N=new_gun) for a in self.args]


def step(*args: str, same_output: bool = False) -> Step:
    return Step(tuple(args), same_output)


STEPS: tuple[Step, ...] = (
    step("key", "list", same_output=True),
    step("key", "list", "--json", same_output=True),
    step("key", "generate", "erin", "--dir", "{T}/keys"),
    step("inspect", "{G}", same_output=True),
    step("verify", "{G}", same_output=True),
    step("delegation", "list", "{G}", same_output=True),
    step("signer", "add", "dave", "{G}", "--key", "{T}/keys/dave.pub"),
    step("signer", "add", "erin", "{N}", "--key", "{T}/keys/erin.pub"),
    step("delegation", "add", "{G}", "targets/qa", "--key", "{T}/keys/dave.pub", "--all-paths"),
    step("target", "add", "{G}", "v9", "--digest", DIGEST, "--size", "99"),
    step("target", "remove", "{G}", "v1"),
    step("signer", "remove", "alice", "{G}", "--yes"),
    step("witness", "{G}", "targets/releases"),
    step("delegation", "remove", "{G}", "targets/qa", "--yes"),
    step("delegation", "list", "{G}", same_output=True),
    step("inspect", "{G}", same_output=True),
    step("status"),
    step("diff", "{G}"),
    step("verify", "{G}", "{N}", same_output=True),
    step("stage", "--output", "{T}/ceremony.bundle"),
    step("bundle", "show", "{T}/ceremony.bundle"),
    step("bundle", "verify", "{T}/ceremony.bundle"),
    step("reset", "{G}", "{N}"),
    step("status", same_output=True),
)


@dataclass(frozen=True)
class Outcome:
    args: list[str]
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return describe(self.args, self.code, self.stdout, self.stderr)


#: Runs offline commands in order, each ``["-d", TRUST, ...]``; returns
#: (exit code, stdout, stderr) per command.
Runner = Callable[[list[list[str]]], list[tuple[int, str, str]]]


@dataclass
class Prepared:
    """Trust data to copy for each run: a Docker-made GUN, a fetched new GUN, keys."""

    root: Path
    gun: str
    new_gun: str
    server: NotaryServer

    def fresh_run_dir(self, directory: Path) -> Path:
        """``directory`` with ``trust/`` and ``keys/`` copied from the prepared state."""
        directory.mkdir(parents=True)
        copy_trust_dir(self.root / "trust", directory / "trust")
        shutil.copytree(self.root / "keys", directory / "keys")
        return directory


def run_steps(prepared: Prepared, run_dir: Path, runner: Runner) -> list[Outcome]:
    """Every step in a fresh copy, each run's own paths replaced by ``<run>``."""
    prepared.fresh_run_dir(run_dir)
    commands = [
        ["-d", str(run_dir / "trust"), *s.render(run_dir, prepared.gun, prepared.new_gun)]
        for s in STEPS
    ]
    results = runner(commands)
    assert len(results) == len(commands)

    def norm(text: str) -> str:
        return text.replace(str(run_dir), "<run>")

    return [
        Outcome([norm(a) for a in args[2:]], code, norm(out), norm(err))
        for args, (code, out, err) in zip(commands, results, strict=True)
    ]


def assert_same_as_baseline(baseline: list[Outcome], runs: list[Outcome]) -> None:
    for s, base, got in zip(STEPS, baseline, runs, strict=True):
        assert got.code == base.code, f"exit code differs from the baseline\n{got}\n{base}"
        assert "Traceback" not in got.stderr, str(got)
        if s.same_output:
            assert got.stdout == base.stdout, f"output differs from the baseline\n{got}\n{base}"


def cli_runner(commands: list[list[str]]) -> list[tuple[int, str, str]]:
    """In process, through typer's CliRunner; an uncaught exception fails the test."""
    from typer.testing import CliRunner

    from offtrust.cli import app

    unset: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("OFFTRUST_", "DOCKER_", "NOTARY_"))
    }
    env = {**unset, **DOCKER_PASSPHRASES.docker_env()}
    results = []
    for args in commands:
        result = CliRunner().invoke(app, args, env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        results.append((result.exit_code, result.stdout, result.stderr))
    return results


#: Run in ``python -c``: import all of offtrust once, then fork one child per
#: command (JSON list of argv on stdin); each child runs the console-script entry
#: point with stdout/stderr on files of its own. Prints a JSON list of
#: {code, stdout, stderr}.
FORK_RUNNER = r"""
import importlib, json, os, pkgutil, sys, tempfile, traceback
import offtrust, offtrust.cli
for info in pkgutil.walk_packages(offtrust.__path__, "offtrust."):
    if info.name != "offtrust.__main__":
        importlib.import_module(info.name)
results = []
for argv in json.load(sys.stdin):
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.dup2(out.fileno(), 1); os.dup2(err.fileno(), 2)
            sys.argv = ["offtrust", *argv]
            try:
                offtrust.cli.main()
                code = 0
            except SystemExit as e:
                if isinstance(e.code, str):
                    sys.stderr.write(e.code + "\n")
                code = e.code if isinstance(e.code, int) else int(e.code is not None)
            except BaseException:
                traceback.print_exc()
            sys.stdout.flush(); sys.stderr.flush()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    out.seek(0); err.seek(0)
    results.append({
        "code": os.waitstatus_to_exitcode(status),
        "stdout": out.read().decode(),
        "stderr": err.read().decode(),
    })
json.dump(results, sys.stdout)
"""


def forking_runner(prefix: Sequence[str], home: Path) -> Runner:
    """Each command in its own process (forked from one that imported offtrust)."""

    def run(commands: list[list[str]]) -> list[tuple[int, str, str]]:
        proc = subprocess.run(
            [*prefix, sys.executable, "-c", FORK_RUNNER],
            input=json.dumps(commands),
            capture_output=True,
            text=True,
            env=offtrust_env(home),
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, f"fork runner failed\n{proc.stdout}\n{proc.stderr}"
        return [(r["code"], r["stdout"], r["stderr"]) for r in json.loads(proc.stdout)]

    return run


# --------------------------------------------------------------------------- #
# Fixtures
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def prepared(
    make_docker_repo: Callable[..., TrustRepo],
    notary_server: NotaryServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Prepared:
    """A small Docker repo (signer alice, tag v1), a new GUN fetched, dave's key pair."""
    repo = make_docker_repo(
        "offline-net", signers=(("alice", "ecdsa"),), tags=(("v1", ("targets/releases",)),)
    )
    root = tmp_path_factory.mktemp("offline-net")
    trust = copy_trust_dir(repo.trust_dir, root / "trust")
    (root / "keys").mkdir()
    new_gun = unique_gun("offline-new")
    for args in (
        ("fetch", new_gun, "--server", notary_server.url, "--tls-ca", str(notary_server.ca_file)),
        ("key", "generate", "dave", "--dir", str(root / "keys")),
    ):
        proc = run_offtrust(trust, *args)
        assert proc.returncode == 0, describe(args, proc.returncode, proc.stdout, proc.stderr)
    return Prepared(root=root, gun=repo.gun, new_gun=new_gun, server=notary_server)


@pytest.fixture(scope="module")
def baseline(prepared: Prepared, tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    """The steps in process with the network untouched: every one succeeds."""
    outcomes = run_steps(prepared, tmp_path_factory.mktemp("baseline") / "run", cli_runner)
    for outcome in outcomes:
        assert outcome.code == 0, str(outcome)
    return outcomes


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Trap every way to open a connection or resolve a name; returns the attempts seen."""
    attempts: list[str] = []

    def trap(name: str) -> Callable[..., object]:
        def refuse(*args: object, **kwargs: object) -> object:
            attempts.append(f"{name}{args[1:] if name.startswith('socket.') else args}")
            raise AssertionError(f"offline command called {name}{args!r}")

        return refuse

    monkeypatch.setattr(socket.socket, "connect", trap("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", trap("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", trap("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", trap("getaddrinfo"))
    return attempts


# --------------------------------------------------------------------------- #
# Tests
# --------------------------------------------------------------------------- #


def test_offline_commands_in_a_network_namespace(
    prepared: Prepared, baseline: list[Outcome], tmp_path: Path
) -> None:
    prefix = require_unshare()

    outcomes = run_steps(prepared, tmp_path / "run", forking_runner(prefix, tmp_path / "home"))

    assert_same_as_baseline(baseline, outcomes)


def test_offline_commands_open_no_socket(
    prepared: Prepared, baseline: list[Outcome], tmp_path: Path, no_sockets: list[str]
) -> None:
    outcomes = run_steps(prepared, tmp_path / "run", cli_runner)

    assert no_sockets == []
    assert_same_as_baseline(baseline, outcomes)


def test_socket_traps_catch_an_online_command(
    prepared: Prepared, tmp_path: Path, no_sockets: list[str]
) -> None:
    # The traps are real: fetch, run the same way, trips them (and fails with
    # one line: the last-resort handler turns the trap into an error).
    trust = prepared.fresh_run_dir(tmp_path / "run") / "trust"
    args = ["fetch", prepared.gun, "--server", prepared.server.url]
    [(code, _, stderr)] = cli_runner(
        [["-d", str(trust), *args, "--tls-ca", str(prepared.server.ca_file)]]
    )
    assert code == 1, stderr
    assert no_sockets, "fetch opened no connection through the trapped functions"


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        # No interface is up: connect() fails at once (ENETUNREACH), no timeout.
        ("server", "the network is unreachable"),
        ("hostname", "the host name could not be resolved"),
    ],
)
def test_fetch_without_network_fails_cleanly(
    prepared: Prepared, tmp_path: Path, where: str, reason: str
) -> None:
    prefix = require_unshare()
    trust = prepared.fresh_run_dir(tmp_path / "run") / "trust"
    before = {
        str(p.relative_to(trust)): p.read_bytes() for p in sorted(trust.rglob("*")) if p.is_file()
    }
    url = prepared.server.url if where == "server" else "https://notary.example.com:4443"
    args = ["fetch", prepared.gun, "--server", url, "--tls-ca", str(prepared.server.ca_file)]

    proc = run_offtrust(trust, *args, prefix=prefix, home=tmp_path / "home")

    text = describe(args, proc.returncode, proc.stdout, proc.stderr)
    assert proc.returncode == 1, text
    assert "Traceback" not in proc.stderr, text
    errors = [line for line in proc.stderr.splitlines() if line.startswith("offtrust: error:")]
    assert len(errors) == 1, text
    assert reason in errors[0], text
    assert "within" not in errors[0], text  # not reported as a timeout
    assert proc.stdout == "", text  # one GUN: its failure is the one error line
    assert all(
        line.startswith(("offtrust: error:", "hint:")) for line in proc.stderr.splitlines()
    ), text
    after = {
        str(p.relative_to(trust)): p.read_bytes() for p in sorted(trust.rglob("*")) if p.is_file()
    }
    assert after == before
