"""Notary 0.1's and 0.3's key layouts, on notary's own compatibility fixtures.

``offtrust key list`` must list what the real ``notary key list`` lists once it
has migrated (and deleted) the legacy directories of another copy, and leave
its own copy byte for byte as it was; offtrust then signs with those keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from notary_fixtures import FIXTURES, compatibility_dir, copy_fixture, tree_bytes
from offtrust_helpers import run_offtrust
from realtools import Passphrases, run_tool, tool_env
from test_read_keys import as_notary_rows, notary_key_rows, offtrust_keys


@pytest.fixture(params=sorted(FIXTURES))
def fixture_name(request: pytest.FixtureRequest) -> str:
    found = compatibility_dir()
    if not isinstance(found, Path):
        # Like a missing tool: CI must run these (the README's command installs the package).
        import os

        reason = f"notary's compatibility fixtures: {found}"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{reason} (CI=true: interop tests must run in CI)", pytrace=False)
        pytest.skip(reason)
    name: str = request.param
    return name


def passphrases_for(name: str) -> Passphrases:
    _, passphrase = FIXTURES[name]
    return Passphrases(passphrase, passphrase, passphrase, passphrase)  # TEST ONLY


@pytest.mark.interop
def test_key_list_equals_notary_and_changes_nothing(
    fixture_name: str, tmp_path: Path, interop_home: Path
) -> None:
    ours = copy_fixture(fixture_name, tmp_path / "ours")
    theirs = copy_fixture(fixture_name, tmp_path / "theirs")
    before = tree_bytes(ours)

    rows = offtrust_keys(ours)
    assert rows, "offtrust lists no key on this layout"
    assert all(r["legacy_layout"] for r in rows)
    assert len({r["keyid"] for r in rows}) == len(rows)

    proc = run_tool(["notary", "-d", str(theirs), "key", "list"], env=tool_env(interop_home))
    # notary migrated its copy: what it lists is what it reads from now on.
    assert not (theirs / "private" / "root_keys").exists()
    assert not (theirs / "private" / "tuf_keys").exists()
    assert notary_key_rows(proc.stdout) == as_notary_rows(rows)
    assert {p.stem for p in (theirs / "private").glob("*.key")} == {r["keyid"] for r in rows}

    # Every lookup of a legacy key, with --gun too, by ID and by prefix.
    gun, _ = FIXTURES[fixture_name]
    assert {r["keyid"] for r in offtrust_keys(ours, "--gun", gun)} == {r["keyid"] for r in rows}
    assert tree_bytes(ours) == before


@pytest.mark.interop
def test_sign_with_legacy_keys(fixture_name: str, tmp_path: Path) -> None:
    trust = copy_fixture(fixture_name, tmp_path / "trust")
    gun, _ = FIXTURES[fixture_name]
    before = tree_bytes(trust)
    pw = passphrases_for(fixture_name)
    legacy = {r["keyid"]: r for r in offtrust_keys(trust)}

    run_offtrust(trust, "inspect", gun, passphrases=None)
    run_offtrust(trust, "resign", gun, "targets", passphrases=pw)
    roles = ["targets"]
    if fixture_name == "notary0.3":
        # The delegation key is the RSA PKCS#1 / DEK-Info one of tuf_keys/.
        run_offtrust(trust, "witness", gun, "targets/releases", passphrases=pw)
        roles.append("targets/releases")

    staged = trust / "offtrust" / "staged" / gun / "metadata"
    published = trust / "tuf" / gun / "metadata"
    for role in roles:
        new = json.loads((staged / f"{role}.json").read_text())
        old = json.loads((published / f"{role}.json").read_text())
        assert new["signed"]["version"] == old["signed"]["version"] + 1
        assert new["signatures"], role
    # The staged state verifies where the published one did (0.1; 0.3's root and
    # delegation certificates have expired since the fixture was made).
    if fixture_name == "notary0.1":
        out = run_offtrust(trust, "verify", gun, passphrases=None).stdout
        assert "OK" in out
    else:
        proc = run_offtrust(trust, "verify", gun, passphrases=None, check=False)
        assert "signature" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    # Signing read the legacy keys in place: private/ and tuf/ are untouched.
    assert tree_bytes(trust, skip=("offtrust",)) == before
    assert {r["keyid"] for r in offtrust_keys(trust)} == set(legacy)
