"""--all across GUNs: a GUN with nothing to change is skipped, not failed."""

from __future__ import annotations

import json
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


@pytest.fixture
def trust(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "trust")


def run(trust: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["-d", str(trust), *args], env=ENV)


def test_signer_remove_all_skips_guns_without_the_signer(trust: Path) -> None:
    result = run(trust, "signer", "remove", "alice", "--all")
    assert result.exit_code == 0, result.output
    assert f"{TOOLS}: skipped: no signer alice" in result.stderr
    status = json.loads(run(trust, "status", "--json").stdout)
    assert [g["gun"] for g in status["guns"]] == [APP]


def test_signer_remove_all_fails_when_no_gun_has_the_signer(trust: Path) -> None:
    result = run(trust, "signer", "remove", "zed", "--all")
    assert result.exit_code == 2
    assert "nothing to change in any of the 2 GUN(s)" in result.stderr
    assert not (trust / "offtrust").exists()


def test_named_gun_without_the_signer_is_an_error(trust: Path) -> None:
    result = run(trust, "signer", "remove", "alice", TOOLS)
    assert result.exit_code == 2
    assert result.stderr.startswith("offtrust: error: no signer alice in example.com/tools")


def test_removing_every_signer_of_releases_re_signs_it_with_the_local_one_left(
    trust: Path, tmp_path: Path
) -> None:
    # alice and bob signed targets/releases; dave's key (local) is added, then
    # alice and bob leave: releases is re-signed by dave in the same edit.
    generated = run(trust, "key", "generate", "dave", "--dir", str(tmp_path))
    assert generated.exit_code == 0, generated.output
    assert (
        run(trust, "signer", "add", "dave", APP, "--key", str(tmp_path / "dave.pub")).exit_code == 0
    )
    assert run(trust, "signer", "remove", "alice", APP).exit_code == 0
    result = run(trust, "signer", "remove", "bob", APP)
    assert result.exit_code == 0, result.output
    assert "targets/releases: re-signed with the remaining local keys" in result.stderr
    verified = run(trust, "verify", APP)
    assert verified.exit_code == 0, verified.output
    staged = run(trust, "stage", "--output", str(tmp_path / "b.bundle"))
    assert staged.exit_code == 0, staged.output


def test_inspect_says_when_it_shows_staged_edits(trust: Path) -> None:
    clean = run(trust, "inspect", APP)
    assert clean.exit_code == 0, clean.output
    assert "staged" not in clean.stderr
    added = run(trust, "target", "add", APP, "v9", "--digest", "sha256:" + "cd" * 32, "--size", "9")
    assert added.exit_code == 0, added.output
    result = run(trust, "inspect", APP)
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.stderr.splitlines() if "showing staged edits" in x]
    assert line.startswith(f"{APP}: showing staged edits, not yet published (")
    assert "targets/releases" in line
    assert "v9" in {t["SignedTag"] for t in json.loads(result.stdout)[0]["SignedTags"]}


@pytest.mark.parametrize("form", ["GUN TAG", "GUN:TAG"])
def test_target_add_and_remove_take_docker_references(trust: Path, form: str) -> None:
    where = [f"{APP}:v7"] if form == "GUN:TAG" else [APP, "v7"]
    added = run(trust, "target", "add", *where, "--digest", "sha256:" + "ab" * 32, "--size", "7")
    assert added.exit_code == 0, added.output
    shown = json.loads(run(trust, "inspect", f"{APP}:v7").stdout)
    assert [t["SignedTag"] for t in shown[0]["SignedTags"]] == ["v7"]
    assert sorted(shown[0]["SignedTags"][0]["Signers"]) == ["alice", "bob"]
    removed = run(trust, "target", "remove", *where)
    assert removed.exit_code == 0, removed.output
    shown = json.loads(run(trust, "inspect", APP).stdout)
    assert "v7" not in [t["SignedTag"] for t in shown[0]["SignedTags"]]


def test_target_add_without_a_tag_is_a_usage_error(trust: Path) -> None:
    result = run(trust, "target", "add", APP, "--digest", "sha256:" + "ab" * 32, "--size", "7")
    assert result.exit_code == 2
    assert "name the tag" in result.stderr


def test_reset_all_ends_with_a_done_line(trust: Path) -> None:
    for gun in (APP, TOOLS):
        added = run(
            trust, "target", "add", f"{gun}:v8", "--digest", "sha256:" + "ef" * 32, "--size", "8"
        )
        assert added.exit_code == 0, added.output
    result = run(trust, "reset", "--all")
    assert result.exit_code == 0, result.output
    assert "done: 2 reset, 0 skipped, 0 failed" in result.stderr
    assert json.loads(run(trust, "status", "--json").stdout)["guns"] == []


def test_rebase_of_edits_built_on_the_current_state_changes_nothing(trust: Path) -> None:
    added = run(
        trust, "target", "add", f"{APP}:v8", "--digest", "sha256:" + "ef" * 32, "--size", "8"
    )
    assert added.exit_code == 0, added.output
    before = run(trust, "diff", APP).stdout
    result = run(trust, "rebase", APP, "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["guns"]
    assert (row["gun"], row["status"]) == (APP, "up-to-date")
    assert run(trust, "diff", APP).stdout == before


@pytest.mark.parametrize(
    "args",
    [
        ("signer", "remove", "alice", APP, "--force"),
        ("signer", "remove", "alice", APP, "-f"),
        ("delegation", "remove", APP, "targets/alice", "-f"),
        ("delegation", "remove", APP, "targets/alice", "--force"),
    ],
)
def test_force_is_yes_as_docker_and_notary_users_type_it(
    trust: Path, args: tuple[str, ...]
) -> None:
    """The contract's aliases: `--force`/`-f` for `--yes` (they were refused as unknown options)."""
    result = run(trust, *args)
    assert result.exit_code == 0, result.output
    status = json.loads(run(trust, "status", "--json").stdout)
    assert [g["gun"] for g in status["guns"]] == [APP]
