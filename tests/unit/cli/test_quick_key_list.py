"""``python -m offtrust`` answers plain ``key list`` command lines without typer.

Every form is run both ways, through :mod:`offtrust._entry` (``python -m
offtrust``) and through :func:`offtrust.cli.main` (the full command line):
the output, the error messages and the exit status must be the same bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from builders import REPOSITORY_PASSPHRASE, copy_example, ed25519_key

from offtrust import crypto
from offtrust._entry import key_list_argv

#: Runs ``python -m offtrust`` with the quick path switched off: the full
#: command line, under the same program name.
FULL = textwrap.dedent(
    """
    import runpy
    import offtrust._entry
    offtrust._entry.quick = lambda argv: False
    runpy.run_module("offtrust", run_name="__main__", alter_sys=True)
    """
)
#: ``python -m offtrust``, printing on stderr the modules imported at exit.
QUICK = textwrap.dedent(
    """
    import atexit, sys, runpy
    atexit.register(lambda: sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules))))
    runpy.run_module("offtrust", run_name="__main__", alter_sys=True)
    """
)


def _run(code: str, argv: list[str], cwd: Path) -> tuple[str, str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFTRUST_")}
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=cwd, env=env
    )
    return proc.stdout, proc.stderr, proc.returncode


def _quick(argv: list[str], cwd: Path) -> tuple[str, str, int, set[str]]:
    out, err, rc = _run(QUICK, argv, cwd)
    err, _, modules = err.rpartition("\nMODULES ")
    return out, err, rc, set(modules.split())


@pytest.fixture(scope="module")
def trust(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = copy_example(tmp_path_factory.mktemp("quick") / "trust")
    private = path / "private"
    for n, headers in enumerate(
        [
            {"role": "alice"},
            {"role": "targets", "gun": "example.com/<other>&"},
            {"role": "bob\u00e9\x1b"},
            {},
        ]
    ):
        key = ed25519_key(20 + n)
        (private / f"{key.keyid}.key").write_bytes(crypto.encode_private_key(key, "pass", headers))
    (private / ("ab" * 32 + ".key")).write_bytes(b"not a key")
    (private / ("cd" * 32 + ".key")).symlink_to(private / ("ab" * 32 + ".key"))
    return Path(path)


QUICK_FORMS = [
    ["key", "list"],
    ["key", "list", "--json"],
    ["key", "list", "--gun", "example.com/<other>&"],
    ["key", "list", "--json", "--gun", "example.com/<other>&"],
    ["key", "list", "--gun=nothing/here", "--json"],
]


@pytest.mark.parametrize("args", QUICK_FORMS)
@pytest.mark.parametrize("option", ["-d", "--trust-dir", "--trust-dir="])
def test_plain_key_list_is_answered_without_typer_and_as_typer_answers(
    trust: Path, tmp_path: Path, option: str, args: list[str]
) -> None:
    given = [option + str(trust)] if option.endswith("=") else [option, str(trust)]
    out, err, rc, modules = _quick([*given, *args], tmp_path)
    assert (out, err, rc) == _run(FULL, [*given, *args], tmp_path)
    assert rc == 0
    assert out
    assert "offtrust._entry" in modules
    assert not {m for m in modules if m.split(".")[0] in ("typer", "click")}
    assert "offtrust.cli" not in modules
    if "--json" not in args:  # (--json reads metadata for the algorithm of some keys)
        # Start-up: no dataclasses (and inspect), no datetime, no worker
        # machinery (pickle) for a store of a few keys.
        slow = {"dataclasses", "inspect", "datetime", "pickle", "offtrust.store.workers"}
        assert not slow & modules


@pytest.mark.parametrize(
    "argv",
    [
        ["{trust}/nowhere", "key", "list"],
        ["{tmp}/docker-config", "key", "list", "--json"],
        ["{tmp}/empty", "key", "list"],
        ["{tmp}/empty", "key", "list", "--json"],
        ["{trust}", "key", "list", "--gun"],
        ["{trust}", "key", "list", "--json", "--json"],
        ["{trust}", "key", "list", "--bogus"],
        ["{trust}", "key", "list", "extra"],
        ["{trust}", "key", "list", "--help"],
        ["{trust}", "key", "list", "--gun", "--json"],
        ["{trust}/private/" + "ab" * 32 + ".key", "key", "list"],
    ],
)
def test_other_forms_and_failures_answer_as_typer(
    trust: Path, tmp_path: Path, argv: list[str]
) -> None:
    (tmp_path / "docker-config" / "trust").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    argv = ["-d", argv[0].format(trust=trust, tmp=tmp_path), *argv[1:]]
    out, err, rc, _ = _quick(argv, tmp_path)
    assert (out, err, rc) == _run(FULL, argv, tmp_path)


@pytest.mark.parametrize(
    "argv",
    [
        ["key", "list"],
        ["--help", "--debug"],
        ["key", "--help"],
        ["--debug", "-d", "{trust}", "key", "list"],
        ["-d{trust}", "key", "list"],
        ["-d", "{trust}", "key", "list", "--", "--json"],
        ["-d", "{trust}", "verify", "--all"],
    ],
)
def test_the_full_command_line_takes_everything_else(
    trust: Path, tmp_path: Path, argv: list[str]
) -> None:
    argv = [a.format(trust=trust) for a in argv]
    assert key_list_argv(argv) is None
    out, err, rc, modules = _quick(argv, tmp_path)
    assert (out, err, rc) == _run(FULL, argv, tmp_path)
    assert "typer" in modules


def test_the_plain_forms() -> None:
    assert key_list_argv(["-d", "t", "key", "list"]) == ("t", None, False)
    assert key_list_argv(["--trust-dir=t", "key", "list", "--gun=g", "--json"]) == ("t", "g", True)
    assert key_list_argv(["--trust-dir", "t", "key", "list", "--json", "--gun", "g"]) == (
        "t",
        "g",
        True,
    )
    for argv in (
        ["-d", "-t", "key", "list"],
        ["-d", "", "key", "list"],
        ["--trust-dir=", "key", "list"],
        ["-d", "t", "key", "list", "--gun="],
        ["-d", "t", "key", "list", "--gun", "g", "--gun", "h"],
        ["-d", "t", "key", "list", "--gun", "-g"],
        ["-d", "t", "key", "lis"],
        ["-d", "t", "keys", "list"],
        ["-d", "t", "-d", "u", "key", "list"],
        ["-d", "t", "key", "list", "-h"],
    ):
        assert key_list_argv(argv) is None, argv


def test_shell_completion_takes_the_full_command_line(
    trust: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from offtrust._entry import quick

    monkeypatch.setenv("_OFFTRUST_COMPLETE", "bash_complete")
    assert quick(["-d", str(trust), "key", "list"]) is False
    monkeypatch.delenv("_OFFTRUST_COMPLETE")
    assert quick(["-d", str(trust), "key", "list"]) is True
    assert "ROLE" in capsys.readouterr().out


# -- the top-level help ------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--help"], ["-h"]])
def test_the_top_help_is_answered_without_typer_as_typer_answers_it(
    tmp_path: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Piped (80 columns): byte for byte the full command line's help, from
    offtrust/_top_help.py (stale when this fails: see its docstring)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    out, err, rc, modules = _quick(argv, tmp_path)
    assert (out, err, rc) == _run(FULL, argv, tmp_path)
    assert out.startswith("Usage: python -m offtrust [OPTIONS] COMMAND [ARGS]...")
    assert "typer" not in modules


def test_the_top_help_of_the_console_script(tmp_path: Path) -> None:
    """Named as the console script names it (``offtrust``), as click would."""
    script = tmp_path / "offtrust"
    script.write_text("import sys\nfrom offtrust._entry import main\nsys.exit(main())\n")
    full = tmp_path / "full"
    full.mkdir()
    (full / "offtrust").write_text("import sys\nfrom offtrust.cli import main\nsys.exit(main())\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFTRUST_") and k != "COLUMNS"}
    quick = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                           text=True, cwd=tmp_path, env=env, check=False)  # fmt: skip
    slow = subprocess.run([sys.executable, str(full / "offtrust"), "--help"], capture_output=True,
                          text=True, cwd=tmp_path, env=env, check=False)  # fmt: skip
    assert quick.returncode == slow.returncode == 0
    assert quick.stdout == slow.stdout
    assert quick.stdout.startswith("Usage: offtrust [OPTIONS]")


def test_another_width_is_left_to_click(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    out, _, rc, modules = _quick(["--help"], tmp_path)
    assert rc == 0
    assert "typer" in modules
    assert max(len(line) for line in out.splitlines()) > 80


# -- inspect -------------------------------------------------------------------------------


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "example")


@pytest.mark.parametrize(
    ("argv", "quick"),
    [
        (["inspect", "example.com/app"], True),
        (["inspect", "example.com/app", "--pretty"], True),
        (["inspect", "--pretty", "example.com/tools"], True),
        (["inspect", "example.com/app:v1"], True),
        (["inspect", "example.com/app:nosuchtag"], True),
        (["inspect", "example.com/nosuch"], False),  # an error: typer's words
        (["inspect", "Example.com/app"], False),  # an invalid GUN
        (["inspect", "example.com/app", "example.com/tools"], False),  # several GUNs
        (["inspect", "--all"], False),
    ],
)
def test_inspect_answers_as_typer_answers_it(
    example: Path, tmp_path: Path, argv: list[str], quick: bool
) -> None:
    argv = ["-d", str(example), *argv]
    out, err, rc, modules = _quick(argv, tmp_path)
    assert (out, err, rc) == _run(FULL, argv, tmp_path)
    assert ("typer" not in modules) is quick


def test_inspect_of_a_gun_with_something_to_say_takes_the_full_path(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staged edits, a verification problem or a hidden role are typer's path's to report."""
    monkeypatch.setenv("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", REPOSITORY_PASSPHRASE)
    staged = _run(FULL, ["-d", str(example), "target", "add", "example.com/app:v9", "--digest",
                         "sha256:" + "ab" * 32, "--size", "9"], tmp_path)  # fmt: skip
    assert staged[2] == 0, staged[1]
    releases = example / "tuf" / "example.com" / "tools" / "metadata" / "targets" / "releases.json"
    releases.write_bytes(releases.read_bytes().replace(b'"version":', b'"version": ', 1))
    for gun in ("example.com/app", "example.com/tools"):
        argv = ["-d", str(example), "inspect", gun]
        out, err, rc, modules = _quick(argv, tmp_path)
        assert (out, err, rc) == _run(FULL, argv, tmp_path)
        assert err
        assert "typer" in modules
