"""Bulk edits (issue 10, item 3): --gun GUN (repeatable), --all and several GUN:TAG.

Each GUN is edited in its own session: one failing does not stop the others,
is reported at the end and leaves its own published and staged state byte for
byte unchanged; the exit status comes from the one batch rule.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from builders import REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, copy_example
from typer.testing import CliRunner, Result

from offtrust.cli import app

APP, TOOLS = "example.com/app", "example.com/tools"
ENV = {
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": ROOT_PASSPHRASE,
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": REPOSITORY_PASSPHRASE,
}
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def trust(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "trust")


def run(trust: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["-d", str(trust), *args], env=ENV)


def state_of(trust: Path, gun: str) -> dict[str, bytes]:
    """Every byte of *gun*'s published and staged metadata, by relative path."""
    files: dict[str, bytes] = {}
    for top in (trust / "tuf" / gun, trust / "offtrust" / "staged" / gun):
        for folder, _, names in os.walk(top, followlinks=True):
            for name in names:
                path = Path(folder) / name
                files[str(path.relative_to(top.parent.parent))] = path.read_bytes()
    return files


def is_staged(trust: Path, gun: str) -> bool:
    status = json.loads(run(trust, "status", "--json").stdout)
    return gun in [row["gun"] for row in status["guns"]]


def stage_something(trust: Path, gun: str) -> None:
    """A staged edit on *gun*, so that "unchanged" covers a staged layer too."""
    added = run(
        trust, "target", "add", f"{gun}:v8", "--digest", "sha256:" + "ef" * 32, "--size", "8"
    )
    assert added.exit_code == 0, added.output


def forge(trust: Path, gun: str) -> None:
    """Change *gun*'s published timestamp without re-signing it: the GUN fails verification."""
    path = trust / "tuf" / gun / "metadata" / "timestamp.json"
    document = json.loads(path.read_bytes())
    document["signed"]["version"] += 1
    path.write_bytes(json.dumps(document, separators=(",", ":")).encode())


def assert_one_failed(result: Result, failed: str, total: int, exit_code: int) -> None:
    assert result.exit_code == exit_code, result.output
    assert f"done: {total - 1} changed, 0 skipped, 1 failed" in result.stderr
    assert f"offtrust: error: 1 of {total} GUNs failed: {failed}" in result.stderr
    assert "Traceback" not in result.output


def assert_verifies(trust: Path, gun: str) -> None:
    verified = run(trust, "verify", gun)
    assert verified.exit_code == 0, verified.output


# -- resign -----------------------------------------------------------------------------


def test_resign_several_guns_one_forged(trust: Path) -> None:
    stage_something(trust, TOOLS)
    forge(trust, TOOLS)
    before = state_of(trust, TOOLS)
    result = run(trust, "resign", "--gun", APP, "--gun", TOOLS, "targets", "--expires", "2y")
    assert_one_failed(result, TOOLS, 2, 1)
    assert f"{APP}: staged" in result.stderr
    assert state_of(trust, TOOLS) == before
    assert is_staged(trust, APP)
    assert_verifies(trust, APP)


def test_resign_all_skips_guns_without_the_role(trust: Path) -> None:
    before = state_of(trust, TOOLS)
    result = run(trust, "resign", "--all", "targets/alice")
    assert result.exit_code == 0, result.output
    assert f"{TOOLS}: skipped: " in result.stderr
    assert "done: 1 changed, 1 skipped, 0 failed" in result.stderr
    assert state_of(trust, TOOLS) == before
    assert_verifies(trust, APP)


def test_resign_all_without_roles_resigns_every_gun(trust: Path) -> None:
    result = run(trust, "resign", "--all", "--expires", "1y")
    assert result.exit_code == 0, result.output
    assert "done: 2 changed, 0 skipped, 0 failed" in result.stderr
    assert is_staged(trust, APP)
    assert is_staged(trust, TOOLS)


def test_resign_named_gun_without_the_role_fails_and_others_are_edited(trust: Path) -> None:
    result = run(trust, "resign", "--gun", TOOLS, "--gun", APP, "targets/alice")
    assert_one_failed(result, TOOLS, 2, 2)
    assert is_staged(trust, APP)
    assert not is_staged(trust, TOOLS)


def test_resign_positional_form_is_unchanged(trust: Path) -> None:
    result = run(trust, "resign", APP, "targets", "--expires", "2y")
    assert result.exit_code == 0, result.output
    assert "done:" not in result.stderr
    assert is_staged(trust, APP)
    assert not is_staged(trust, TOOLS)


def test_keys_are_decrypted_once_for_the_whole_batch(
    trust: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from offtrust.store import keyring

    made: list[object] = []
    original = keyring.Keyring.__init__

    def counting(self: object, *args: object, **kwargs: object) -> None:
        made.append(self)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(keyring.Keyring, "__init__", counting)
    result = run(trust, "resign", "--all", "targets")
    assert result.exit_code == 0, result.output
    assert len(made) == 1


# -- witness ----------------------------------------------------------------------------


def test_witness_several_guns_one_lacking_the_role(trust: Path) -> None:
    stage_something(trust, TOOLS)
    before = state_of(trust, TOOLS)
    result = run(trust, "witness", "--gun", APP, "--gun", TOOLS, "targets/alice")
    assert_one_failed(result, TOOLS, 2, 2)
    assert f"offtrust: error: no delegation targets/alice in {TOOLS}" in result.stderr
    assert state_of(trust, TOOLS) == before
    assert_verifies(trust, APP)


def test_witness_several_guns_one_forged(trust: Path) -> None:
    forge(trust, APP)
    before = state_of(trust, APP)
    result = run(trust, "witness", "--gun", APP, "--gun", TOOLS, "targets/releases")
    assert_one_failed(result, APP, 2, 1)
    assert state_of(trust, APP) == before
    assert is_staged(trust, TOOLS)


def test_witness_all(trust: Path) -> None:
    result = run(trust, "witness", "--all", "targets/alice")
    assert result.exit_code == 0, result.output
    assert "done: 1 changed, 1 skipped, 0 failed" in result.stderr
    assert is_staged(trust, APP)
    assert not is_staged(trust, TOOLS)
    result = run(trust, "witness", "--all", "targets/releases")
    assert result.exit_code == 0, result.output
    assert "done: 2 changed, 0 skipped, 0 failed" in result.stderr


# -- target add / remove ----------------------------------------------------------------


def test_target_add_several_references_one_forged(trust: Path) -> None:
    stage_something(trust, TOOLS)
    forge(trust, TOOLS)
    before = state_of(trust, TOOLS)
    result = run(
        trust, "target", "add", f"{APP}:v9", f"{TOOLS}:v9", "--digest", DIGEST, "--size", "9"
    )
    assert_one_failed(result, TOOLS, 2, 1)
    assert state_of(trust, TOOLS) == before
    shown = json.loads(run(trust, "inspect", f"{APP}:v9").stdout)
    assert [t["SignedTag"] for t in shown[0]["SignedTags"]] == ["v9"]


def test_target_add_all_and_gun(trust: Path) -> None:
    result = run(trust, "target", "add", "--all", "v9", "--digest", DIGEST, "--size", "9")
    assert result.exit_code == 0, result.output
    assert "done: 2 changed, 0 skipped, 0 failed" in result.stderr
    for gun in (APP, TOOLS):
        shown = json.loads(run(trust, "inspect", f"{gun}:v9").stdout)
        assert [t["SignedTag"] for t in shown[0]["SignedTags"]] == ["v9"], gun
    result = run(trust, "target", "add", "--gun", TOOLS, "v10", "--digest", DIGEST, "--size", "9")
    assert result.exit_code == 0, result.output
    assert "done:" not in result.stderr


def test_target_remove_all_skips_guns_without_the_tag(trust: Path) -> None:
    added = run(trust, "target", "add", f"{APP}:v9", "--digest", DIGEST, "--size", "9")
    assert added.exit_code == 0, added.output
    before = state_of(trust, TOOLS)
    result = run(trust, "target", "remove", "--all", "v9")
    assert result.exit_code == 0, result.output
    assert f"{TOOLS}: skipped: " in result.stderr
    assert "done: 1 changed, 1 skipped, 0 failed" in result.stderr
    assert state_of(trust, TOOLS) == before
    shown = json.loads(run(trust, "inspect", APP).stdout)
    assert "v9" not in [t["SignedTag"] for t in shown[0]["SignedTags"]]


def test_target_remove_several_references_one_forged(trust: Path) -> None:
    forge(trust, APP)
    before = state_of(trust, APP)
    result = run(trust, "target", "remove", f"{APP}:v1.0", f"{TOOLS}:v1.0")
    assert_one_failed(result, APP, 2, 1)
    assert state_of(trust, APP) == before
    shown = json.loads(run(trust, "inspect", TOOLS).stdout)
    assert "v1.0" not in [t["SignedTag"] for t in shown[0]["SignedTags"]]


@pytest.mark.parametrize(
    "args",
    [
        ("target", "add", "--all", f"{APP}:v1", "--digest", DIGEST, "--size", "1"),
        ("target", "add", "--gun", APP, APP, "v1", "--digest", DIGEST, "--size", "1"),
        ("target", "add", f"{APP}:v1", "v2", "--digest", DIGEST, "--size", "1"),
        ("target", "add", APP, "v1", "v2", "--digest", DIGEST, "--size", "1"),
        ("target", "remove", "--all"),
        ("witness", "--all"),
        ("witness", "--all", "--gun", APP, "targets/releases"),
        ("resign", "--gun", APP, "--all"),
        ("delegation", "add", "--all", "--all-paths"),
        ("delegation", "remove", "--gun", APP, "--yes"),
        ("witness",),
    ],
)
def test_ambiguous_or_incomplete_bulk_forms_are_usage_errors(
    trust: Path, args: tuple[str, ...]
) -> None:
    result = run(trust, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("offtrust: error: "), result.stderr
    assert not is_staged(trust, APP)
    assert not is_staged(trust, TOOLS)


# -- delegation add / remove ------------------------------------------------------------


@pytest.fixture
def ci_pub(trust: Path, tmp_path: Path) -> Path:
    generated = run(trust, "key", "generate", "ci", "--dir", str(tmp_path))
    assert generated.exit_code == 0, generated.output
    return tmp_path / "ci.pub"


def delegations(trust: Path, gun: str) -> list[str]:
    listed = run(trust, "delegation", "list", gun, "--json")
    assert listed.exit_code == 0, listed.output
    document = json.loads(listed.stdout)
    return [row["role"] for row in document["delegations"]]


def test_delegation_add_all(trust: Path, ci_pub: Path) -> None:
    result = run(
        trust, "delegation", "add", "--all", "targets/ci", "--key", str(ci_pub), "--all-paths"
    )
    assert result.exit_code == 0, result.output
    assert "done: 2 changed, 0 skipped, 0 failed" in result.stderr
    for gun in (APP, TOOLS):
        assert "targets/ci" in delegations(trust, gun)
        assert_verifies(trust, gun)


def test_delegation_add_several_guns_one_forged(trust: Path, ci_pub: Path) -> None:
    stage_something(trust, TOOLS)
    forge(trust, TOOLS)
    before = state_of(trust, TOOLS)
    result = run(
        trust,
        "delegation",
        "add",
        "--gun",
        APP,
        "--gun",
        TOOLS,
        "targets/ci",
        "--key",
        str(ci_pub),
        "--all-paths",
    )
    assert_one_failed(result, TOOLS, 2, 1)
    assert state_of(trust, TOOLS) == before
    assert "targets/ci" in delegations(trust, APP)


def test_delegation_add_positional_form_is_unchanged(trust: Path, ci_pub: Path) -> None:
    result = run(trust, "delegation", "add", APP, "targets/ci", "--key", str(ci_pub), "--all-paths")
    assert result.exit_code == 0, result.output
    assert "targets/ci" in delegations(trust, APP)
    assert not is_staged(trust, TOOLS)


def test_delegation_remove_all_skips_guns_without_it(trust: Path) -> None:
    before = state_of(trust, TOOLS)
    result = run(trust, "delegation", "remove", "--all", "targets/alice", "--yes")
    assert result.exit_code == 0, result.output
    assert f"{TOOLS}: skipped: no delegation targets/alice" in result.stderr
    assert "done: 1 changed, 1 skipped, 0 failed" in result.stderr
    assert state_of(trust, TOOLS) == before
    assert "targets/alice" not in delegations(trust, APP)


def test_delegation_remove_several_guns_one_forged(trust: Path) -> None:
    stage_something(trust, APP)
    forge(trust, APP)
    before = state_of(trust, APP)
    result = run(
        trust, "delegation", "remove", "--gun", APP, "--gun", TOOLS, "targets/releases", "--yes"
    )
    assert_one_failed(result, APP, 2, 1)
    assert state_of(trust, APP) == before
    assert "targets/releases" not in delegations(trust, TOOLS)


def test_delegation_remove_of_several_guns_asks_once_without_a_terminal(trust: Path) -> None:
    result = run(trust, "delegation", "remove", "--all", "targets/releases")
    assert result.exit_code == 2, result.output
    assert "every GUN" in result.stderr
    assert not is_staged(trust, APP)
    assert not is_staged(trust, TOOLS)
