"""--all across GUNs: a GUN with nothing to change is skipped, not failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders import EXAMPLE, REPOSITORY_PASSPHRASE, ROOT_PASSPHRASE, copy_example
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


def test_warns_when_the_removed_key_was_the_one_that_signed_releases(trust: Path) -> None:
    # Keep only alice's signature on targets/releases, as if she alone had signed it.
    path = trust / "tuf" / APP / "metadata" / "targets" / "releases.json"
    alice = EXAMPLE["guns"][APP]["signers"]["alice"][0]["key_id"]
    document = json.loads(path.read_bytes())
    document["signatures"] = [s for s in document["signatures"] if s["keyid"] == alice]
    assert document["signatures"]
    path.write_bytes(json.dumps(document, separators=(",", ":")).encode())
    result = run(trust, "signer", "remove", "alice", APP)
    assert result.exit_code == 0, result.output
    assert f"offtrust witness {APP} targets/releases" in result.stderr
