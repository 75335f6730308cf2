"""Every problem verify can report names its fix, and every fix can be pasted as is."""

from __future__ import annotations

import ast
import json
import shlex
from pathlib import Path

import pytest
from builders import copy_example
from typer.testing import CliRunner

import offtrust
from offtrust.cli import app

PACKAGE = Path(offtrust.__file__).parent
APP = "example.com/app"


def _problem_calls() -> list[tuple[str, int, ast.Call]]:
    """Every place offtrust creates a verification problem: self.add(...), Problem(...)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            is_problem = isinstance(node.func, ast.Name) and node.func.id == "Problem"
            is_add = (
                path.name == "verify.py"
                and path.parent.name == "model"
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "self"
            )
            if is_problem or is_add:
                found.append((str(path.relative_to(PACKAGE)), node.lineno, node))
    return found


def test_the_walk_finds_the_problem_kinds() -> None:
    # Guard: the walk below would pass vacuously if it found nothing.
    assert len(_problem_calls()) > 30


@pytest.mark.parametrize(
    ("where", "line", "call"), _problem_calls(), ids=lambda v: str(v) if isinstance(v, int) else ""
)
def test_every_problem_names_its_fix(where: str, line: int, call: ast.Call) -> None:
    fix = call.args[2] if len(call.args) >= 3 else None
    fix = fix or next((k.value for k in call.keywords if k.arg == "fix"), None)
    assert fix is not None, f"{where}:{line} reports a problem without a fix"
    assert not (isinstance(fix, ast.Constant) and fix.value is None), f"{where}:{line}"


def test_fix_hints_carry_the_trust_dir_the_user_gave(tmp_path: Path) -> None:
    trust = copy_example(tmp_path / "my trust")
    releases = trust / "tuf" / APP / "metadata" / "targets" / "releases.json"
    document = json.loads(releases.read_bytes())
    document["signed"]["targets"]["forged"] = {"length": 1, "hashes": {"sha256": "AA=="}}
    releases.write_bytes(json.dumps(document, separators=(",", ":")).encode())

    result = CliRunner().invoke(app, ["-d", str(trust), "verify", APP])
    assert result.exit_code == 1
    fixes = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("fix:")]
    assert fixes, result.stdout
    expected = f"offtrust -d {shlex.quote(str(trust))} "
    for line in fixes:
        assert line.startswith(f"fix: {expected}"), line

    result = CliRunner().invoke(app, ["-d", str(trust), "verify", "--json", APP])
    (report,) = json.loads(result.stdout)["guns"]
    assert all(p["hint"].startswith(expected) for p in report["problems"] if p["hint"])
    assert result.stderr.count(expected) >= 1, result.stderr


def test_a_usage_error_hint_carries_the_trust_dir_the_user_gave(tmp_path: Path) -> None:
    trust = copy_example(tmp_path / "my trust")
    result = CliRunner().invoke(app, ["-d", str(trust), "delegation", "add", "--bogus"])
    assert result.exit_code == 2
    assert f"hint: offtrust -d {shlex.quote(str(trust))} delegation add --help" in result.stderr


def test_without_d_hints_name_no_trust_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trust = copy_example(tmp_path / "trust")
    monkeypatch.setenv("OFFTRUST_TRUST_DIR", str(trust))
    (trust / "tuf" / APP / "metadata" / "targets.json").write_bytes(b"{")
    result = CliRunner().invoke(app, ["verify", APP])
    assert result.exit_code == 2
    assert "fix: offtrust fetch" in result.stdout
    assert " -d " not in result.stdout


def test_a_command_another_key_holder_runs_keeps_no_trust_dir() -> None:
    from offtrust.cli._common import GIVEN_TRUST_DIR, pasteable

    GIVEN_TRUST_DIR[0] = Path("/media/usb/trust")
    try:
        text = pasteable(
            "fix: offtrust resign g targets; or a holder of key bob runs `offtrust witness g r`"
        )
    finally:
        GIVEN_TRUST_DIR[0] = None
    assert text == (
        "fix: offtrust -d /media/usb/trust resign g targets; "
        "or a holder of key bob runs `offtrust witness g r`"
    )


def test_a_missing_trust_dir_is_an_error_not_an_empty_success(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["-d", str(tmp_path / "nowhere"), "verify", "--all"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"offtrust: error: no trust directory at {tmp_path}")
    result = CliRunner().invoke(app, ["-d", str(tmp_path / "nowhere"), "key", "list"])
    assert result.exit_code == 2
    assert not (tmp_path / "nowhere").exists()


def test_a_docker_config_dir_points_at_its_trust_dir(tmp_path: Path) -> None:
    copy_example(tmp_path / "docker" / "trust")
    result = CliRunner().invoke(app, ["-d", str(tmp_path / "docker"), "verify", "--all"])
    assert result.exit_code == 2
    assert "is a docker config directory" in result.stderr
    assert f"hint: use -d {tmp_path / 'docker' / 'trust'}" in result.stderr


def test_an_unknown_gun_gets_a_did_you_mean(tmp_path: Path) -> None:
    trust = copy_example(tmp_path / "trust")
    result = CliRunner().invoke(app, ["-d", str(trust), "inspect", "example.com/ap"])
    assert result.exit_code == 2
    assert "hint: did you mean example.com/app" in result.stderr
