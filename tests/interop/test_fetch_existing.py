"""``offtrust fetch`` of a GUN this trust directory already trusts, against a real notary-server.

Each test builds a repo with the real tools, copies its trust directory (the
"exported" copy offtrust works on), then changes the server behind the copy's
back with the real ``notary`` / ``docker`` on the ORIGINAL directory:

- new tags, a new Docker signer, the last delegation removed: fetch brings
  the copy to exactly the bytes the server serves, and ``inspect`` then
  agrees with ``docker trust inspect`` and ``notary list``;
- staged edits built on versions the server moved past: fetch still refreshes
  and warns to ``offtrust reset``;
- root rotation (``notary key rotate GUN root``, once and twice): fetch walks
  the root chain from the trusted version;
- a GUN deleted and re-created with a new root key: refused, nothing written
  (the trust directory stays byte-identical);
- a rollback (the GUN deleted and re-uploaded at older, validly signed
  versions): refused, nothing written.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from offtrust_helpers import ROLES, notary_targets, run_offtrust
from realtools import (
    NOTARY_PASSPHRASES,
    NotaryServer,
    Passphrases,
    TrustRepo,
    copy_trust_dir,
    run_docker,
    run_notary,
    run_tool,
    tag_content,
    tool_env,
)

pytestmark = pytest.mark.interop


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{proc.args!r} -> {proc.returncode}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"


def fetch(
    repo: TrustRepo, trust_dir: Path, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``offtrust -d TRUST_DIR fetch GUN`` against the test server (no passphrase needed)."""
    server = repo.server
    return run_offtrust(
        trust_dir,
        "fetch",
        repo.gun,
        "--server",
        server.url,
        "--tls-ca",
        str(server.ca_file),
        check=check,
        passphrases=None,
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single ``offtrust: error:`` line of a failed run."""
    errors = [line for line in proc.stderr.splitlines() if line.startswith("offtrust: error:")]
    assert len(errors) == 1, describe(proc)
    return errors[0]


def tree(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory`` (to show that nothing changed)."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def metadata_files(trust_dir: Path, gun: str) -> dict[str, bytes]:
    """Role name -> bytes of every file in ``tuf/<gun>/metadata/``."""
    directory = trust_dir / "tuf" / gun / "metadata"
    return {
        str(p.relative_to(directory)).removesuffix(".json"): p.read_bytes()
        for p in sorted(directory.rglob("*.json"))
    }


def version(data: bytes) -> int:
    return int(json.loads(data)["signed"]["version"])


def assert_matches_server(server: NotaryServer, trust_dir: Path, gun: str) -> dict[str, bytes]:
    """Every metadata file of ``gun`` in ``trust_dir`` is byte-for-byte what the server serves."""
    files = metadata_files(trust_dir, gun)
    assert set(ROLES) <= set(files), sorted(files)
    for role, data in files.items():
        assert data == server.metadata(gun, role), f"{gun} {role}.json differs from the server's"
    return files


def sign_into_releases(repo: TrustRepo, *tags: str) -> None:
    """Move the server with the real notary: sign ``tags`` into targets/releases, publish."""
    for tag in tags:
        content = tag_content(repo.gun, tag)
        digest = hashlib.sha256(content).hexdigest()
        size = str(len(content))
        repo.notary("addhash", repo.gun, tag, size, "--sha256", digest, "-r", "targets/releases")
    repo.notary("publish", repo.gun)


def notary_confirmed(
    server: NotaryServer, trust_dir: Path, passphrases: Passphrases, home: Path, *args: str
) -> None:
    """Run the real notary on a command that asks "(yes/no)" on stdin, answering yes.

    (``run_notary`` sends an empty stdin, which notary takes as "no".)
    """
    cmd = ["notary", "-d", str(trust_dir), "-s", server.url, "--tlscacert", str(server.ca_file)]
    proc = run_tool([*cmd, *args], env=tool_env(home, passphrases.notary_env()), input="yes\n")
    assert "Aborting" not in proc.stdout, proc.stdout


def rotate_root(
    server: NotaryServer, trust_dir: Path, gun: str, passphrases: Passphrases, home: Path
) -> None:
    """The real ``notary key rotate GUN root``: publishes a new root signed by old and new keys."""
    notary_confirmed(server, trust_dir, passphrases, home, "key", "rotate", gun, "root")


def offtrust_inspect(trust_dir: Path, gun: str) -> list[dict[str, Any]]:
    doc = json.loads(run_offtrust(trust_dir, "inspect", gun, passphrases=None).stdout)
    assert isinstance(doc, list)
    return doc


def docker_inspect(server: NotaryServer, config_dir: Path, gun: str) -> list[dict[str, Any]]:
    """``docker trust inspect GUN`` from a fresh DOCKER_CONFIG (it downloads from the server)."""
    proc = run_docker(config_dir, "trust", "inspect", gun, server=server)
    assert "using cached" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    assert isinstance(doc, list)
    return doc


def post_metadata(server: NotaryServer, gun: str, files: Mapping[str, bytes]) -> None:
    """Upload ``files`` (role -> exact bytes) as one update, the way notary's client does."""
    status, reply = server.upload(gun, files)
    assert status == 200, f"POST {gun}: {status} {reply[:300]!r}"


# --------------------------------------------------------------------------- #
# 1. The server moved: fetch brings the copy to exactly what the server serves
# --------------------------------------------------------------------------- #


def test_fetch_after_notary_moved_the_server(
    make_notary_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_notary_repo("fetch-moved")
    copy = copy_trust_dir(repo.trust_dir, tmp_path / "exported")
    before = metadata_files(copy, repo.gun)

    sign_into_releases(repo, "v2", "v3")

    proc = fetch(repo, copy)
    assert f"{repo.gun}: fetched" in proc.stdout, describe(proc)
    files = assert_matches_server(repo.server, copy, repo.gun)
    assert version(files["targets/releases"]) > version(before["targets/releases"])
    assert version(files["snapshot"]) > version(before["snapshot"])
    run_offtrust(copy, "verify", repo.gun, passphrases=None)

    # offtrust reads the new state as notary and docker do.
    ours = offtrust_inspect(copy, repo.gun)
    assert ours == docker_inspect(repo.server, tmp_path / "cfg", repo.gun)
    listed = notary_targets(repo.notary("list", repo.gun).stdout)
    assert set(listed) == {"v1", "v2", "v3"}
    (doc,) = ours
    assert {t["SignedTag"]: t["Digest"] for t in doc["SignedTags"]} == {
        name: row["digest"] for name, row in listed.items()
    }

    # A second fetch of an unchanged server changes nothing.
    snapshot = tree(copy)
    fetch(repo, copy)
    assert tree(copy) == snapshot


def test_fetch_after_docker_added_a_signer(
    make_docker_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_docker_repo(
        "fetch-signer", signers=(("alice", "ecdsa"),), tags=(("v1", ("targets/releases",)),)
    )
    copy = copy_trust_dir(repo.trust_dir, tmp_path / "exported")

    # The real Docker CLI adds signer dave (targets/dave, dave's key in releases),
    # then a tag is signed into releases.
    repo.docker("trust", "key", "generate", "dave", "--dir", str(repo.keys_dir))
    repo.docker(
        "trust", "signer", "add", "dave", repo.gun, "--key", str(repo.keys_dir / "dave.pub")
    )
    sign_into_releases(repo, "v2")

    fetch(repo, copy)
    assert_matches_server(repo.server, copy, repo.gun)
    run_offtrust(copy, "verify", repo.gun, passphrases=None)
    ours = offtrust_inspect(copy, repo.gun)
    assert ours == docker_inspect(repo.server, tmp_path / "cfg", repo.gun)
    (doc,) = ours
    assert sorted(s["Name"] for s in doc["Signers"]) == ["alice", "dave"]
    assert [t["SignedTag"] for t in doc["SignedTags"]] == ["v1", "v2"]


def test_fetch_after_notary_removed_the_last_delegation(
    make_notary_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    # notary then writes targets.json with `"delegations":{"keys":{},"roles":null}`
    # (a nil Go slice), signed over those canonical bytes.
    repo = make_notary_repo("fetch-undelegated")
    copy = copy_trust_dir(repo.trust_dir, tmp_path / "exported")
    notary_confirmed(
        repo.server,
        repo.trust_dir,
        repo.passphrases,
        tmp_path,
        "delegation",
        "remove",
        repo.gun,
        "targets/releases",
    )
    repo.notary("publish", repo.gun)
    served_targets = json.loads(repo.server.metadata(repo.gun, "targets"))
    assert served_targets["signed"]["delegations"]["roles"] is None

    proc = fetch(repo, copy)
    assert f"{repo.gun}: fetched" in proc.stdout, describe(proc)
    files = assert_matches_server(repo.server, copy, repo.gun)
    assert b'"roles":null' in files["targets"]
    run_offtrust(copy, "verify", repo.gun, passphrases=None)
    ours = offtrust_inspect(copy, repo.gun)
    assert ours == docker_inspect(repo.server, tmp_path / "cfg", repo.gun)
    assert ours[0]["SignedTags"] == []

    # offtrust can sign on top of it: a tag straight into targets, re-signed.
    run_offtrust(
        copy,
        "target",
        "add",
        repo.gun,
        "v5",
        "--digest",
        "sha256:" + "cd" * 32,
        "--size",
        "5",
        "--role",
        "targets",
        passphrases=repo.passphrases,
    )
    run_offtrust(copy, "verify", repo.gun, passphrases=None)


# --------------------------------------------------------------------------- #
# 2. Staged edits built on versions the server moved past
# --------------------------------------------------------------------------- #


def test_fetch_with_staged_edits_on_a_moved_base_warns(
    make_notary_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_notary_repo("fetch-staged")
    copy = copy_trust_dir(repo.trust_dir, tmp_path / "exported")
    run_offtrust(
        copy,
        "target",
        "add",
        repo.gun,
        "v9",
        "--digest",
        "sha256:" + "ab" * 32,
        "--size",
        "77",
        passphrases=repo.passphrases,
    )

    sign_into_releases(repo, "v2")

    proc = fetch(repo, copy)
    assert f"{repo.gun}: fetched" in proc.stdout, describe(proc)
    warnings = [line for line in proc.stderr.splitlines() if "staged edits" in line]
    assert len(warnings) == 1, describe(proc)
    assert "built on older versions" in warnings[0]
    assert "targets/releases" in warnings[0]
    # The pasteable command that replays the staged edits on the new state.
    assert f"`offtrust -d {copy} rebase {repo.gun}`" in warnings[0]
    # The published state is refreshed all the same.
    assert_matches_server(repo.server, copy, repo.gun)

    # After the advised reset, the copy reads as the server's state, with v2.
    run_offtrust(copy, "reset", repo.gun, passphrases=None)
    run_offtrust(copy, "verify", repo.gun, passphrases=None)
    (doc,) = offtrust_inspect(copy, repo.gun)
    assert [t["SignedTag"] for t in doc["SignedTags"]] == ["v1", "v2"]


# --------------------------------------------------------------------------- #
# 3. Root rotation
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("rotations", [1, 2])
def test_fetch_follows_root_rotation(
    rotations: int, make_notary_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_notary_repo("fetch-rotate")
    copy = copy_trust_dir(repo.trust_dir, tmp_path / "exported")
    trusted = json.loads((copy / "tuf" / repo.gun / "metadata" / "root.json").read_bytes())
    assert trusted["signed"]["version"] == 1

    for _ in range(rotations):
        rotate_root(repo.server, repo.trust_dir, repo.gun, repo.passphrases, tmp_path)
    served_root = repo.server.metadata(repo.gun, "root")
    assert version(served_root) == 1 + rotations
    new_keys = json.loads(served_root)["signed"]["roles"]["root"]["keyids"]
    assert new_keys != trusted["signed"]["roles"]["root"]["keyids"]

    proc = fetch(repo, copy)
    assert f"{repo.gun}: fetched" in proc.stdout, describe(proc)
    files = assert_matches_server(repo.server, copy, repo.gun)
    assert files["root"] == served_root
    assert version(files["root"]) == 1 + rotations
    run_offtrust(copy, "verify", repo.gun, passphrases=None)


# --------------------------------------------------------------------------- #
# 4. A root not chained to the trusted one
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("impostor_rotations", [0, 1])
def test_fetch_refuses_a_gun_recreated_with_a_new_root_key(
    impostor_rotations: int, make_notary_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    repo = make_notary_repo("fetch-recreated", tags=())
    copy = copy_trust_dir(repo.trust_dir, tmp_path / "exported")
    before = tree(copy)

    # The GUN is deleted and re-created from another trust dir: a new root key,
    # at the trusted version (v1) or past it (v2, so fetch walks the chain).
    repo.notary("delete", repo.gun, "--remote")
    assert repo.server.get(f"/v2/{repo.gun}/_trust/tuf/root.json")[0] == 404
    impostor = tmp_path / "impostor"
    run_notary(impostor, "init", repo.gun, "-p", server=repo.server, passphrases=NOTARY_PASSPHRASES)
    for _ in range(impostor_rotations):
        rotate_root(repo.server, impostor, repo.gun, NOTARY_PASSPHRASES, tmp_path)
    served = json.loads(repo.server.metadata(repo.gun, "root"))
    assert served["signed"]["version"] == 1 + impostor_rotations
    assert repo.root_key_id not in served["signed"]["roles"]["root"]["keyids"]

    proc = fetch(repo, copy, check=False)
    assert proc.returncode == 1, describe(proc)
    error = one_error_line(proc)
    assert repo.gun in error, error
    assert "is not signed by the trusted root keys" in error, error
    assert tree(copy) == before


# --------------------------------------------------------------------------- #
# 5. Rollback: older, validly signed metadata
# --------------------------------------------------------------------------- #


def test_fetch_refuses_a_rollback(
    make_notary_repo: Callable[..., TrustRepo], tmp_path: Path
) -> None:
    # A client-managed snapshot, so the old root/targets/snapshot/releases can
    # be uploaded again as they are; the server makes a fresh timestamp.
    repo = make_notary_repo("fetch-rollback")
    old = {role: repo.server.metadata(repo.gun, role) for role in ROLES if role != "timestamp"}
    sign_into_releases(repo, "v2")
    copy = copy_trust_dir(repo.trust_dir, tmp_path / "exported")
    fetch(repo, copy)
    before = tree(copy)
    assert version(metadata_files(copy, repo.gun)["targets/releases"]) == 2

    repo.notary("delete", repo.gun, "--remote")
    post_metadata(repo.server, repo.gun, old)
    assert repo.server.metadata(repo.gun, "targets/releases") == old["targets/releases"]

    proc = fetch(repo, copy, check=False)
    assert proc.returncode == 1, describe(proc)
    error = one_error_line(proc)
    assert repo.gun in error, error
    assert "older than the local" in error, error
    assert tree(copy) == before
