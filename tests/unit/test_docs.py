"""The command contract ships in the repo (docs/cli.md) and stays in step with the team's copy."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "docs" / "cli.md"


def test_the_contract_ships_in_the_repo() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    assert text.startswith("# offtrust command-line contract")


def test_the_contract_is_the_teams_copy() -> None:
    if not SHARED.is_file():
        pytest.skip("no shared/docs/cli.md beside this checkout")
    assert (ROOT / "docs" / "cli.md").read_text() == SHARED.read_text(), (
        "docs/cli.md differs from the team's shared/docs/cli.md: copy it over"
    )


def test_the_license_ships() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text()
