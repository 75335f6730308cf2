"""The CLI's error contract: exit status, one ``offtrust: error:`` line, no traceback."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from builders import EXAMPLE, REPOSITORY_PASSPHRASE, copy_example, read_tree
from typer.testing import CliRunner, Result

from offtrust import crypto
from offtrust.cli import app

APP = "example.com/app"
DIGEST = "sha256:" + "ab" * 32
WRONG = "not-the-passphrase-xyzzy"  # must never be echoed


@pytest.fixture
def trust(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "trust")


def run(trust: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["-d", str(trust), *args], env=env)


def error_line(result: Result) -> str:
    """The one error line; anything else on stderr may only be its hint."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("offtrust: error:")]
    assert len(errors) == 1, result.stderr
    assert lines[0] == errors[0], result.stderr
    assert all(line.startswith("hint: ") for line in lines[1:]), result.stderr
    return errors[0]


def metadata(trust: Path, role: str, gun: str = APP) -> Path:
    return trust / "tuf" / gun / "metadata" / f"{role}.json"


def rewrite(path: Path, change: Any) -> None:
    document = json.loads(path.read_bytes())
    change(document)
    path.write_bytes(json.dumps(document, separators=(",", ":")).encode())


# -- unreadable input: exit 2 -----------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["inspect", APP], ["delegation", "list", APP], ["verify", APP]], ids=" ".join
)
def test_malformed_json(trust: Path, command: list[str]) -> None:
    metadata(trust, "targets").write_bytes(b'{"signed": {"_type": "Targets", "version": 1,')
    result = run(trust, *command)
    line = error_line(result)
    assert result.exit_code == 2
    assert "tuf/example.com/app/metadata/targets.json" in line


@pytest.mark.parametrize("command", [["inspect", APP], ["verify", APP]], ids=" ".join)
def test_schema_violation(trust: Path, command: list[str]) -> None:
    rewrite(metadata(trust, "targets"), lambda d: d["signed"].__setitem__("version", 0))
    result = run(trust, *command)
    line = error_line(result)
    assert result.exit_code == 2
    assert "tuf/example.com/app/metadata/targets.json" in line
    assert "$.signed.version" in line


@pytest.mark.parametrize(
    "command",
    [["inspect", "example.com/nope"], ["verify", "example.com/nope"], ["diff", "example.com/nope"]],
    ids=" ".join,
)
def test_missing_gun(trust: Path, command: list[str]) -> None:
    result = run(trust, *command)
    line = error_line(result)
    assert result.exit_code == 2
    assert "example.com/nope" in line


def test_key_load_of_a_file_that_is_not_a_key(trust: Path, tmp_path: Path) -> None:
    path = tmp_path / "notakey.pem"
    path.write_bytes(b"hello, I am not a key\n")
    path.chmod(0o600)
    result = run(trust, "key", "load", str(path), "--name", "carol")
    line = error_line(result)
    assert result.exit_code == 2
    assert str(path) in line


def test_key_load_of_a_key_readable_by_others(trust: Path, tmp_path: Path) -> None:
    path = tmp_path / "carol.key"
    path.write_bytes(crypto.encode_private_key(crypto.generate_private_key("ecdsa"), None, {}))
    path.chmod(0o644)
    before = read_tree(trust)
    result = run(trust, "key", "load", str(path), "--name", "carol")
    line = error_line(result)
    assert result.exit_code == 2
    assert str(path) in line
    assert f"hint: chmod 600 {path}" in result.stderr
    assert read_tree(trust) == before


# -- the operation failed: exit 1 -------------------------------------------------------


def target_add(trust: Path, env: dict[str, str] | None = None) -> Result:
    return run(trust, "target", "add", APP, "v2", "--digest", DIGEST, "--size", "42", env=env)


def test_wrong_passphrase_when_signing(trust: Path) -> None:
    before = read_tree(trust)
    result = target_add(trust, env={"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": WRONG})
    line = error_line(result)
    assert result.exit_code == 1
    assert "wrong passphrase" in line
    assert WRONG not in result.stdout + result.stderr
    # Nothing on disk changed: no staged file, no key, no temp file.
    assert read_tree(trust) == before
    assert sorted(p.name for p in trust.iterdir()) == ["private", "tuf"]


def test_signing_works_with_the_right_passphrase(trust: Path) -> None:
    # The counterpart of the test above: the same command with the right passphrase.
    result = target_add(
        trust, env={"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": REPOSITORY_PASSPHRASE}
    )
    assert result.exit_code == 0, result.stderr
    assert (trust / "offtrust" / "staged" / APP / "metadata" / "targets" / "releases.json").exists()


def test_no_passphrase_and_no_terminal(trust: Path) -> None:
    before = read_tree(trust)
    result = target_add(trust)
    error_line(result)
    assert result.exit_code == 1
    assert "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE" in result.stderr
    assert read_tree(trust) == before


def _tamper_signature(document: dict[str, Any]) -> None:
    sig = bytearray(base64.b64decode(document["signatures"][0]["sig"]))
    sig[0] ^= 0x01
    document["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()


@pytest.mark.parametrize("role", ["targets", "targets/alice"])
def test_tampered_signature(trust: Path, role: str) -> None:
    rewrite(metadata(trust, role), _tamper_signature)
    result = run(trust, "verify", APP)
    line = error_line(result)
    assert result.exit_code == 1
    assert f"{APP}: {role}: " in line
    assert "signature" in line
    assert f"{APP}: FAILED" in result.stdout


def test_untampered_example_verifies(trust: Path) -> None:
    result = run(trust, "verify", "--all")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"{APP}: OK"


def test_debug_re_raises(trust: Path) -> None:
    result = run(trust, "--debug", "inspect", "example.com/nope")
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "NotFoundError"


# -- help -------------------------------------------------------------------------------


def _commands(command: Any, path: list[str]) -> Iterator[list[str]]:
    if hasattr(command, "list_commands"):
        ctx = typer.Context(command)
        for name in command.list_commands(ctx):
            yield from _commands(command.get_command(ctx, name), [*path, name])
    else:
        yield path


COMMANDS = list(_commands(typer.main.get_command(app), []))


def test_the_contract_commands_are_there() -> None:
    # Guard for the parametrization below, with the commands that must exist.
    names = {" ".join(c) for c in COMMANDS}
    for required in ("key list", "key load", "signer add", "target add", "verify", "status"):
        assert required in names


@pytest.mark.parametrize("command", [[], *COMMANDS], ids=lambda c: " ".join(c) or "offtrust")
def test_help_has_an_example(command: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.stderr
    assert "Example" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", [[], *COMMANDS], ids=lambda c: " ".join(c) or "offtrust")
def test_help_renders_cleanly(command: list[str]) -> None:
    """No framework artefacts in any --help: typer's metavars, escapes, bogus defaults."""
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    for artefact in ("{", "}", "<list[", "<str>", "<path>", "\\[", "[default: -1]"):
        assert artefact not in text, (artefact, text)
    # Options are either required by the command or say their default in words.
    assert "[default:" not in text, text
    assert any(line.strip().startswith("Example: offtrust") for line in text.splitlines())


def _command_list(text: str) -> dict[str, str]:
    """The Commands: section of a group's help: name -> its summary, lines joined."""
    lines = text.split("Commands:", 1)[1].splitlines()[1:]
    summaries: dict[str, str] = {}
    name = ""
    for line in lines:
        if line.startswith("  ") and not line.startswith("   "):
            name, _, summary = line.strip().partition(" ")
            summaries[name] = summary.strip()
        elif line.strip() and name:
            summaries[name] += " " + line.strip()
    return summaries


@pytest.mark.parametrize("group", [[], ["key"], ["signer"], ["target"], ["delegation"]], ids=str)
def test_summaries_are_whole_at_80_columns(group: list[str]) -> None:
    result = CliRunner().invoke(app, [*group, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    summaries = _command_list(result.stdout)
    assert summaries
    root = typer.main.get_command(app)
    for path in (c for c in COMMANDS if c[: len(group)] == group and len(c) == len(group) + 1):
        command = root
        for name in path:
            command = command.get_command(typer.Context(command), name)  # type: ignore[attr-defined]
        first = " ".join((command.help or "").strip().split("\n\n")[0].split())
        assert summaries[path[-1]] == first, path
        assert not summaries[path[-1]].endswith("...")


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["signer", "add"], "missing argument NAME", "offtrust signer add --help"),
        (
            ["signer", "add", "x", "--bogus"],
            "no such option: --bogus",
            "offtrust signer add --help",
        ),
        (
            ["target", "add", "a", "b", "--size", "x"],
            "invalid value for --size: 'x' is not a valid integer",
            "offtrust target add --help",
        ),
        (["--bogus"], "no such option: --bogus", "offtrust --help"),
        (["nosuch"], "no such command 'nosuch'", "offtrust --help"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_usage_errors_are_one_line_and_a_hint(
    args: list[str], message: str, hint: str, trust: Path
) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"offtrust: error: {message}", f"hint: {hint}"]


def test_example_facts_match_the_fixture(trust: Path) -> None:
    # The tests above rely on the example's app GUN having releases signed by
    # alice and bob, whose keys are local.
    assert set(EXAMPLE["guns"][APP]["delegations"]) >= {"targets/releases", "targets/alice"}
    for signer in ("alice", "bob"):
        keyid = EXAMPLE["guns"][APP]["signers"][signer][0]["canonical_id"]
        assert (trust / "private" / f"{keyid}.key").exists()
