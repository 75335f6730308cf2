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


def _security_references() -> list[tuple[str, str | None]]:
    """Every test docs/security.md names: (file, function or None), resolving ``::name``
    after a bare ``::name`` to the file named last in the same cell."""
    import re

    text = (ROOT / "docs" / "security.md").read_text()
    found: list[tuple[str, str | None]] = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        last = None
        for match in re.finditer(r"`(tests/[^`:]+)?(?:::([A-Za-z_0-9]+))?`", line):
            path, name = match.group(1), match.group(2)
            if path:
                last = path
            if last is None or (path is None and name is None):
                continue
            found.append((last, name))
    return found


def test_security_md_names_tests_that_exist() -> None:
    references = _security_references()
    assert len(references) > 60
    for path, name in references:
        target = ROOT / path
        assert target.exists(), f"docs/security.md names a missing {path}"
        if name is not None:
            assert f"def {name}(" in target.read_text(), f"docs/security.md: no {path}::{name}"
