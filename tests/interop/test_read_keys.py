"""offtrust ``key list`` against ``notary key list`` on key stores the real tools wrote.

Covers the flat store of a Docker and a notary trust dir, and the legacy
(pre-0.4) ``root_keys/`` + ``tuf_keys/<gun>/`` layout built from real notary
key files, which notary migrates in place on its next run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from offtrust_helpers import parse_table, run_offtrust
from realtools import TrustRepo, copy_trust_dir, read_key_headers

KeyRow = tuple[str, str, str]  # (role, gun, key id)

# notary key list shows at most 25 characters of a GUN, cutting on the left
# (cmd/notary/prettyprint.go: maxGUNWidth, truncateWithEllipsis).
NOTARY_MAX_GUN_WIDTH = 25


def offtrust_keys(trust_dir: Path, *args: str) -> list[dict[str, Any]]:
    """``offtrust key list --json ARGS...`` (no passphrases; must exit 0) -> its key rows."""
    proc = run_offtrust(trust_dir, "key", "list", "--json", *args, passphrases=None)
    rows = json.loads(proc.stdout)["keys"]
    assert isinstance(rows, list)
    # A key with no GUN says so with null (as every JSON output does); notary's
    # table shows an empty column: compare them as "".
    assert all(r["gun"] is None or r["gun"] for r in rows), rows
    for row in rows:
        row["gun"] = row["gun"] or ""
    return rows


def notary_gun(gun: str) -> str:
    if len(gun) <= NOTARY_MAX_GUN_WIDTH:
        return gun
    return "..." + gun[len(gun) - (NOTARY_MAX_GUN_WIDTH - 3) :]


def as_notary_rows(rows: list[dict[str, Any]]) -> set[KeyRow]:
    return {(r["role"], notary_gun(r["gun"]), r["keyid"]) for r in rows}


def notary_key_rows(stdout: str) -> set[KeyRow]:
    """``notary key list`` -> {(role, gun as printed, key id)}."""
    rows = parse_table(stdout, ["ROLE", "GUN", "KEY ID", "LOCATION"])
    assert rows, stdout
    return {(role, gun, keyid) for role, gun, keyid, _ in rows}


# --------------------------------------------------------------------------- #
# Flat store
# --------------------------------------------------------------------------- #


@pytest.mark.interop
def test_key_list_docker_trust_dir_matches_notary(docker_repo: TrustRepo) -> None:
    ours = offtrust_keys(docker_repo.trust_dir)
    theirs = notary_key_rows(docker_repo.notary("key", "list").stdout)
    assert as_notary_rows(ours) == theirs
    # What the Docker repo holds: root, targets (with gun) and one per signer key.
    by_id = {r["keyid"]: r for r in ours}
    assert len(by_id) == len(ours) == 6
    root = by_id[docker_repo.root_canonical_id]
    assert (root["role"], root["gun"]) == ("root", "")
    assert by_id[docker_repo.targets_key_id]["gun"] == docker_repo.gun
    for keys in docker_repo.signers.values():
        for key in keys:
            assert (by_id[key.canonical_id]["role"], by_id[key.canonical_id]["gun"]) == (
                key.key_name,
                "",
            )
    (carol,) = docker_repo.signers["carol"]
    assert by_id[carol.canonical_id]["algorithm"] == "rsa"
    assert all(r["encrypted"] for r in ours)
    assert not any(r["legacy_layout"] for r in ours)


@pytest.mark.interop
def test_key_list_notary_trust_dir_matches_notary(notary_repo: TrustRepo) -> None:
    ours = offtrust_keys(notary_repo.trust_dir)
    theirs = notary_key_rows(notary_repo.notary("key", "list").stdout)
    assert as_notary_rows(ours) == theirs
    roles = {r["role"]: r["gun"] for r in ours}
    assert roles == {
        "root": "",
        "targets": notary_repo.gun,
        "snapshot": notary_repo.gun,
        "targets/releases": "",
    }


@pytest.mark.interop
def test_key_list_gun_filter(
    docker_repo: TrustRepo, notary_repo: TrustRepo, tmp_path: Path
) -> None:
    # Both stores in one trust dir: --gun keeps that GUN's keys plus the
    # GUN-less ones (root, Docker signers, delegations), which any GUN may use.
    trust = copy_trust_dir(docker_repo.trust_dir, tmp_path / "trust")
    for key in notary_repo.private_dir.glob("*.key"):
        shutil.copy2(key, trust / "private" / key.name)
    every = offtrust_keys(trust)
    assert len(every) == 6 + 4
    only = offtrust_keys(trust, "--gun", notary_repo.gun)
    assert {r["keyid"] for r in only} == {
        r["keyid"] for r in every if r["gun"] in ("", notary_repo.gun)
    }
    assert {r["gun"] for r in only} == {"", notary_repo.gun}


# --------------------------------------------------------------------------- #
# Legacy layout
# --------------------------------------------------------------------------- #


def strip_pem_headers(pem: str) -> str:
    """Drop the ``name: value`` header lines (and the blank line after them)."""
    lines = pem.splitlines(keepends=True)
    out = [lines[0]]
    i = 1
    while i < len(lines) and ":" in lines[i]:
        i += 1
    if i > 1 and i < len(lines) and not lines[i].strip():
        i += 1
    out.extend(lines[i:])
    return "".join(out)


def build_legacy_store(repo: TrustRepo, trust: Path) -> set[KeyRow]:
    """``private/root_keys/<id>_root.key`` + ``private/tuf_keys/<gun>/<id>_<role>.key``.

    Made from the repo's real notary key files with their role/gun headers
    removed, as pre-0.4 notary wrote them; ``tuf/`` (the metadata) is copied
    as is. Returns the expected (role, gun, id).
    """
    copy_trust_dir(repo.trust_dir / "tuf", trust / "tuf")
    private = trust / "private"
    expected: set[KeyRow] = set()
    for key in sorted(repo.private_dir.glob("*.key")):
        headers = read_key_headers(key)
        role, gun, keyid = headers["role"], headers.get("gun", ""), key.stem
        if role == "root":
            dest = private / "root_keys" / f"{keyid}_root.key"
        elif role in ("targets", "snapshot"):
            assert gun == repo.gun
            dest = private / "tuf_keys" / gun / f"{keyid}_{role}.key"
        else:
            continue  # delegation keys were not in the legacy layout this way
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        dest.write_text(strip_pem_headers(key.read_text()))
        dest.chmod(0o600)
        assert read_key_headers(dest) == {}
        expected.add((role, gun, keyid))
    for d in [trust, *trust.rglob("*")]:
        if d.is_dir():
            d.chmod(0o700)
    assert {r for r, _, _ in expected} == {"root", "targets", "snapshot"}
    return expected


@pytest.mark.interop
def test_key_list_legacy_layout_and_notary_migration(
    notary_repo: TrustRepo, notary_cli: Callable[..., Any], tmp_path: Path
) -> None:
    legacy = tmp_path / "legacy"
    expected = build_legacy_store(notary_repo, legacy)

    ours = offtrust_keys(legacy)
    assert {(r["role"], r["gun"], r["keyid"]) for r in ours} == expected
    assert all(r["legacy_layout"] for r in ours)
    assert all(r["encrypted"] and r["algorithm"] == "ecdsa" for r in ours)
    # --gun works on the gun taken from the legacy path.
    assert {r["role"] for r in offtrust_keys(legacy, "--gun", notary_repo.gun)} == {
        "root",
        "targets",
        "snapshot",
    }
    assert {r["role"] for r in offtrust_keys(legacy, "--gun", "example.com/other")} == {"root"}
    # offtrust only read the legacy store.
    assert (legacy / "private" / "root_keys").is_dir()
    assert not list((legacy / "private").glob("*.key"))

    # notary migrates a copy in place and then lists the same keys.
    migrated = copy_trust_dir(legacy, tmp_path / "migrated")
    proc = notary_cli(migrated, "key", "list", passphrases=notary_repo.passphrases)
    assert notary_key_rows(proc.stdout) == as_notary_rows(ours)
    assert not (migrated / "private" / "root_keys").exists()
    assert not (migrated / "private" / "tuf_keys").exists()
    for role, gun, keyid in expected:
        headers = read_key_headers(migrated / "private" / f"{keyid}.key")
        assert headers == ({"role": role, "gun": gun} if gun else {"role": role})

    # offtrust reads the migrated (flat) store the same way.
    after = offtrust_keys(migrated)
    assert {(r["role"], r["gun"], r["keyid"]) for r in after} == expected
    assert not any(r["legacy_layout"] for r in after)
